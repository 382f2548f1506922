//! Hostile peers and careless handlers cost one channel, never the loop: a reset ends
//! a connection once, whatever its handler does; a handler can tell a reset from an
//! orderly end of stream; a nested loop sleeps when only the outer handler's channel
//! has work; a dispatcher that panics while being dropped does not take the loop down.

mod util;

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{Cx, Disconnect, Dispatcher, Map, Result};
use socket2::SockRef;
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

fn reset(peer: std::net::TcpStream) {
    SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
}

/// Always has something to send, and keeps its channel open in `handle_close`: the
/// echo server of 0.1, which spun at 100 % CPU after a reset.
struct Stubborn {
    closes: Rc<Cell<usize>>,
    seen: Rc<RefCell<Vec<Option<Disconnect>>>>,
}

impl Dispatcher for Stubborn {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        true
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let mut buf = [0u8; 4096];
        cx.recv_into(&mut buf)?;
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.send(&[b'x'; 65536])?;
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.closes.set(self.closes.get() + 1);
        self.seen.borrow_mut().push(cx.disconnect());
        Ok(()) // does not close
    }
}

#[test]
fn a_reset_calls_handle_close_once_and_nothing_spins_whatever_the_handler_does() {
    let (chan, peer) = channel_pair();
    let map = Map::new().unwrap();
    let closes = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));
    let h = map
        .add(
            chan,
            Stubborn {
                closes: closes.clone(),
                seen: seen.clone(),
            },
        )
        .unwrap();
    // Let the socket's buffers fill (the peer never reads), then reset.
    for _ in 0..20 {
        map.poll(Duration::from_millis(5)).unwrap();
    }
    reset(peer);
    let passes = passes_over(&map, Duration::from_millis(400), Duration::from_millis(20));
    assert_eq!(
        closes.get(),
        1,
        "handle_close ran once: {:?}",
        seen.borrow()
    );
    assert!(
        matches!(seen.borrow()[0], Some(Disconnect::Reset(_))),
        "the handler was told it was a reset: {:?}",
        seen.borrow()
    );
    assert!(!h.is_open(), "the loop closed the reset channel it kept");
    assert!(map.is_empty());
    assert!(passes < 40, "{passes} passes in 400 ms: the loop spun");
}

/// How the peer left, and whether the channel was still `connected` then.
type Seen = Rc<RefCell<Vec<(Option<Disconnect>, bool)>>>;

/// Records how the peer left.
struct Watcher {
    seen: Seen,
}

impl Dispatcher for Watcher {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let mut buf = [0u8; 4096];
        cx.recv_into(&mut buf)?;
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.seen.borrow_mut().push((cx.disconnect(), cx.connected));
        cx.close();
        Ok(())
    }
}

#[test]
fn a_handler_tells_an_orderly_end_of_stream_from_a_reset() {
    for resets in [false, true] {
        let (chan, mut peer) = channel_pair();
        let map = Map::new().unwrap();
        let seen = Rc::new(RefCell::new(Vec::new()));
        map.add(chan, Watcher { seen: seen.clone() }).unwrap();
        peer.write_all(b"bye").unwrap();
        if resets {
            // Unread data on the server's side makes its own close a reset; here the
            // peer resets: the server's next read fails with ECONNRESET.
            reset(peer);
        } else {
            peer.shutdown(std::net::Shutdown::Write).unwrap();
        }
        run_until(&map, LIMIT, || map.is_empty());
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1, "{seen:?}");
        match (resets, seen[0]) {
            (false, (Some(Disconnect::Eof), true)) => {}
            (true, (Some(Disconnect::Reset(_)), false)) => {}
            other => panic!("resets {resets}: saw {other:?}"),
        }
    }
}

/// Runs a nested loop from its read handler, without reading: its own channel keeps
/// unread data the whole time.
struct Nester {
    map: Map,
    nested_passes: Rc<Cell<usize>>,
    done: Rc<Cell<bool>>,
}

impl Dispatcher for Nester {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if !self.done.replace(true) {
            self.nested_passes.set(passes_over(
                &self.map,
                Duration::from_millis(300),
                Duration::from_millis(20),
            ));
        }
        let mut buf = [0u8; 64];
        cx.recv_into(&mut buf)?;
        Ok(())
    }
}

#[test]
fn a_nested_loop_sleeps_when_only_the_outer_handlers_channel_has_work() {
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let nested_passes = Rc::new(Cell::new(0));
    let done = Rc::new(Cell::new(false));
    map.add(
        chan,
        Nester {
            map: map.clone(),
            nested_passes: nested_passes.clone(),
            done: done.clone(),
        },
    )
    .unwrap();
    peer.write_all(&[b'a'; 1000]).unwrap();
    // More data keeps arriving while the nested loop runs: events for a channel whose
    // handler is busy, which the nested loop cannot serve.
    let writer = std::thread::spawn(move || {
        for _ in 0..20 {
            std::thread::sleep(Duration::from_millis(15));
            peer.write_all(b"more").unwrap();
        }
        peer
    });
    run_until(&map, LIMIT, || done.get());
    let peer = writer.join().unwrap();
    assert!(
        nested_passes.get() < 30,
        "{} nested passes in 300 ms: the nested loop spun",
        nested_passes.get()
    );
    // The outer loop then serves the data the nested one left alone.
    drop(peer);
    run_until(&map, LIMIT, || map.is_empty());
}

/// Closes itself on its first read and panics when dropped.
struct PanicsOnDrop;

impl Dispatcher for PanicsOnDrop {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
}

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("boom in Drop");
    }
}

#[test]
fn a_panic_in_a_dispatchers_drop_does_not_escape_the_loop() {
    let (chan, mut peer) = channel_pair();
    let (other, mut other_peer) = channel_pair();
    let map = Map::new().unwrap();
    // No handle kept: the map holds the last reference, so the drop happens in the loop.
    drop(map.add(chan, PanicsOnDrop).unwrap());
    let (rec, log) = Recorder::new();
    map.add(other, rec).unwrap();
    peer.write_all(b"x").unwrap();
    other_peer.write_all(b"still served").unwrap();
    run_until(&map, LIMIT, || {
        map.len() == 1 && log.borrow().data.len() == 12
    });
    assert_eq!(log.borrow().data, b"still served");
}
