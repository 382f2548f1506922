//! The crate's echo server, written as a porter of a Python asyncore echo server
//! would write it: a listening `Dispatcher` whose `handle_accepted` adds an
//! `EchoHandler` per connection to the map. The handler sends what it reads at once
//! and keeps only what the socket would not take; `writable()` is true while that
//! backlog exists and `readable()` false until it is sent, so a peer that does not
//! read cannot grow the server without bound (the same policy as the raw mio server).
//!
//! `serve` runs the loop as a Python server does (`asyncore.loop()`: free-running,
//! until the harness stops it through a `LoopHandle`), with the dispatch budget a
//! server sets, [`SERVER_BUDGET`](super::SERVER_BUDGET): a pass serves a busy
//! channel up to 16 times before polling again. `serve_stepped` keeps the map's
//! default budget, 1 (Python's), and drives it one pass at a time with `Map::poll`,
//! as `while running: asyncore.loop(count=1)` does: one dispatch per channel per
//! pass, Python's interleaving.

use std::net::TcpListener;
use std::time::Duration;

use asyncore::{Channel, Cx, Dispatcher, Handle, Map, Result, SockAddr, Socket};

use super::{ServerStats, Stop};

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = std::cell::RefCell::new(vec![0; 64 * 1024]);
}

struct EchoHandler {
    pending: Vec<u8>,
}

impl Dispatcher for EchoHandler {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        self.pending.is_empty()
    }
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.pending.is_empty()
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        // One read buffer for every connection of the loop's thread.
        SCRATCH.with_borrow_mut(|buf| {
            let n = cx.recv_into(buf)?;
            let sent = cx.send(&buf[..n])?;
            self.pending.extend_from_slice(&buf[sent..n]);
            Ok(())
        })
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let n = cx.send(&self.pending)?;
        self.pending.drain(..n);
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
}

struct EchoServer {
    accepted: u64,
}

impl Dispatcher for EchoServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        cx.add(
            Channel::from_socket(sock)?,
            EchoHandler {
                pending: Vec::new(),
            },
        )?;
        Ok(())
    }
}

/// Serves echo on `listener` until `stop`, in a free-running loop with a dispatch
/// budget of [`SERVER_BUDGET`](super::SERVER_BUDGET).
pub fn serve(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    map.set_dispatch_budget(super::SERVER_BUDGET);
    let server = listen(&map, listener);
    super::run_until_stopped(&map, &stop);
    finish(&map, &server)
}

/// The same, with the default budget (1, Python's), stepping the loop with
/// `Map::poll` until `stop`.
pub fn serve_stepped(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    debug_assert_eq!(map.dispatch_budget(), 1);
    let server = listen(&map, listener);
    while !stop.is_stopped() {
        map.poll(Duration::from_millis(20)).expect("poll");
    }
    finish(&map, &server)
}

fn listen(map: &Map, listener: TcpListener) -> Handle<EchoServer> {
    let chan = Channel::from_socket(listener).expect("listener");
    map.add(chan, EchoServer { accepted: 0 }).expect("add")
}

fn finish(map: &Map, server: &Handle<EchoServer>) -> ServerStats {
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(map), true).expect("close_all");
    ServerStats { accepted }
}
