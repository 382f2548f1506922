//! The crate's echo server, written as a porter of a Python asyncore echo server
//! would write it: a listening `Dispatcher` whose `handle_accepted` adds an
//! `EchoHandler` per connection to the map. The handler sends what it reads at once
//! and keeps only what the socket would not take; `writable()` is true while that
//! backlog exists and `readable()` false until it is sent, so a peer that does not
//! read cannot grow the server without bound (the same policy as the raw mio server).
//!
//! `serve` runs the loop as a Python server does (`asyncore.loop()`: free-running,
//! until the harness stops it through a `LoopHandle`); `serve_stepped` drives it one
//! pass at a time with `Map::poll`, as `while running: asyncore.loop(count=1)` does,
//! which keeps Python's one dispatch per channel per pass.

use std::net::TcpListener;
use std::time::Duration;

use asyncore::{Channel, Dispatcher, Handle, Map, Result, SockAddr, Socket};

use super::{ServerStats, Stop};

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 * 1024]);
}

struct EchoHandler {
    chan: Channel,
    pending: Vec<u8>,
}

impl EchoHandler {
    fn send_pending(&mut self) -> Result<()> {
        let n = self.chan.send(&self.pending)?;
        self.pending.drain(..n);
        Ok(())
    }
}

impl Dispatcher for EchoHandler {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn readable(&mut self) -> bool {
        self.pending.is_empty()
    }
    fn writable(&mut self) -> bool {
        !self.pending.is_empty()
    }
    fn handle_read(&mut self) -> Result<()> {
        // One read buffer for every connection of the loop's thread.
        SCRATCH.with_borrow_mut(|buf| {
            let n = self.chan.recv_into(buf)?;
            let sent = self.chan.send(&buf[..n])?;
            self.pending.extend_from_slice(&buf[sent..n]);
            Ok(())
        })
    }
    fn handle_write(&mut self) -> Result<()> {
        self.send_pending()
    }
    fn handle_close(&mut self) -> Result<()> {
        self.chan.close();
        Ok(())
    }
}

struct EchoServer {
    chan: Channel,
    accepted: u64,
}

impl Dispatcher for EchoServer {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        let chan = Channel::from_socket(sock)?;
        self.chan.map().expect("in a map").add(EchoHandler {
            chan,
            pending: Vec::new(),
        })?;
        Ok(())
    }
}

/// Serves echo on `listener` until `stop`, in a free-running loop.
pub fn serve(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    let server = listen(&map, listener);
    super::run_until_stopped(&map, &stop);
    finish(&map, &server)
}

/// The same, stepping the loop with `Map::poll` until `stop`.
pub fn serve_stepped(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    let server = listen(&map, listener);
    while !stop.is_stopped() {
        map.poll(Some(Duration::from_millis(20))).expect("poll");
    }
    finish(&map, &server)
}

fn listen(map: &Map, listener: TcpListener) -> Handle<EchoServer> {
    let chan = Channel::from_socket(listener).expect("listener");
    map.add(EchoServer { chan, accepted: 0 }).expect("add")
}

fn finish(map: &Map, server: &Handle<EchoServer>) -> ServerStats {
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(map), true).expect("close_all");
    ServerStats { accepted }
}
