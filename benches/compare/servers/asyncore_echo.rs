//! The crate's echo server: the shipped example's handlers, included from
//! `examples/echo_server/handler.rs`, so that the bench measures the code users copy
//! and the two cannot drift. A listening `EchoServer` adds an `EchoHandler` per
//! connection; the handler reads into the thread's shared buffer (`recv_buf`),
//! sends from it at once and keeps only what the socket would not take, and stops
//! reading from a peer whose unsent echo passes 256 KiB (see that file).
//!
//! The example counts nothing, so [`Counted`] wraps its listener to count accepts
//! for [`ServerStats`]; every other event goes to the example's code unchanged.
//!
//! `serve` runs the loop as a Python server does (`asyncore.loop()`: free-running,
//! until the harness stops it through a `LoopHandle`), with the dispatch budget a
//! server sets and the example sets, [`SERVER_BUDGET`](super::SERVER_BUDGET): a
//! pass serves a busy channel up to 16 times before polling again. `serve_stepped`
//! keeps the map's default budget, 1 (Python's), and drives it one pass at a time
//! with `Map::poll`, as `while running: asyncore.loop(count=1)` does: one dispatch
//! per channel per pass, Python's interleaving.

use std::net::TcpListener;
use std::time::Duration;

use asyncore::{Channel, Cx, Dispatcher, Error, Handle, Map, Result, SockAddr, Socket};

use super::{ServerStats, Stop};

#[path = "../../../examples/echo_server/handler.rs"]
mod example;

use example::EchoServer;

/// A listener's dispatcher that counts the connections it accepts and hands every
/// event to `inner`. `handle_accept` keeps the trait's default (accept, then
/// `self.handle_accepted`), which is where the count is taken; the example's
/// listener does not override it.
struct Counted<D> {
    inner: D,
    accepted: u64,
}

impl<D: Dispatcher> Dispatcher for Counted<D> {
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        self.inner.readable(cx)
    }
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        self.inner.writable(cx)
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.inner.handle_read(cx)
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.inner.handle_write(cx)
    }
    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.inner.handle_expt(cx)
    }
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.inner.handle_connect(cx)
    }
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        self.inner.handle_accepted(cx, sock, addr)
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.inner.handle_close(cx)
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        self.inner.handle_error(cx, err)
    }
    fn on_close(&mut self, cx: &mut Cx<'_>) {
        self.inner.on_close(cx)
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

fn listen(map: &Map, listener: TcpListener) -> Handle<Counted<EchoServer>> {
    let chan = Channel::from_socket(listener).expect("listener");
    let server = Counted {
        inner: EchoServer,
        accepted: 0,
    };
    map.add(chan, server).expect("add")
}

fn finish(map: &Map, server: &Handle<Counted<EchoServer>>) -> ServerStats {
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(map), true).expect("close_all");
    ServerStats { accepted }
}
