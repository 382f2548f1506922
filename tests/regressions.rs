//! Tests named after the bugs they pin.

mod util;

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use asyncore::Map;
use util::*;

/// Data and the peer's FIN arrived before the first poll, so the poller reported a
/// single edge. A short read used to clear the read readiness, and the end of stream
/// (which brings no new edge) was never read: the channel stayed open forever.
#[test]
fn eof_behind_data_is_seen_after_a_short_read() {
    for read_size in [8192, 6] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[b'x'; 200]).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // both are queued
        let (mut rec, log) = Recorder::new();
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(chan, rec).unwrap();
        run_until(&map, Duration::from_secs(10), || map.is_empty());
        let log = log.borrow();
        assert_eq!(log.data.len(), 200, "read size {read_size}");
        assert_eq!(log.count("close"), 1, "read size {read_size}");
    }
}

/// The same with a half-close (the peer only shuts down its writing side) and reads
/// smaller than the data, so several full reads come before the short one. Found by
/// the asynchat property test.
#[test]
fn eof_behind_data_is_seen_after_a_half_close_and_small_reads() {
    for read_size in [8192, 6] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[b'x'; 200]).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // both are queued
        let (mut rec, log) = Recorder::new();
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(chan, rec).unwrap();
        run_until(&map, Duration::from_secs(10), || map.is_empty());
        let log = log.borrow();
        assert_eq!(log.data.len(), 200, "read size {read_size}");
        assert_eq!(log.count("close"), 1, "read size {read_size}");
    }
}

/// Reads one byte per `handle_read`, slowly, so new data arrives mid-drain.
struct SlowReader {
    got: std::rc::Rc<std::cell::Cell<usize>>,
}

impl asyncore::Dispatcher for SlowReader {
    fn writable(&mut self, _cx: &mut asyncore::Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut asyncore::Cx<'_>) -> asyncore::Result<()> {
        let d = cx.recv(1)?;
        self.got.set(self.got.get() + d.len());
        std::thread::sleep(Duration::from_millis(1));
        Ok(())
    }
}

fn slow_reader_gets_everything(before: &[u8], later: &[u8]) {
    let (chan, mut peer) = channel_pair();
    let total = before.len() + later.len();
    peer.write_all(before).unwrap();
    let map = Map::new().unwrap();
    let got = std::rc::Rc::new(std::cell::Cell::new(0));
    map.add(chan, SlowReader { got: got.clone() }).unwrap();
    let later = later.to_vec();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        peer.write_all(&later).unwrap();
        peer
    });
    run_until(&map, Duration::from_secs(20), || got.get() == total);
    drop(writer.join().unwrap());
}

/// A channel queued for the next pass that also got an event was served, re-queued
/// (skipped: its "queued" flag was still set) and then dropped from the queue: data
/// arriving while a slow reader drained its buffer stalled it for good.
#[test]
fn a_slow_reader_does_not_stall_when_data_arrives_mid_drain() {
    slow_reader_gets_everything(&[b'a'; 100], &[b'b'; 100]);
    slow_reader_gets_everything(b"hello\n", b"");
}

/// A handler that runs a nested pass: events for its own channel (borrowed while it
/// runs) used to be dropped by the inner pass.
#[test]
fn events_for_the_running_channel_survive_a_nested_pass() {
    use asyncore::{Cx, Dispatcher, Result};
    use std::cell::Cell;
    use std::rc::Rc;
    struct Nested {
        got: Rc<Cell<usize>>,
        nested: bool,
    }
    impl Dispatcher for Nested {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let d = cx.recv(4096)?;
            self.got.set(self.got.get() + d.len());
            if !self.nested {
                self.nested = true;
                let map = cx.map().clone();
                let end = std::time::Instant::now() + Duration::from_millis(300);
                while std::time::Instant::now() < end {
                    map.poll(Some(Duration::from_millis(20)))?;
                }
            }
            Ok(())
        }
    }
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let got = Rc::new(Cell::new(0));
    map.add(
        chan,
        Nested {
            got: got.clone(),
            nested: false,
        },
    )
    .unwrap();
    let writer = std::thread::spawn(move || {
        peer.write_all(&[b'a'; 10]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        peer.write_all(&[b'b'; 10]).unwrap();
        peer
    });
    run_until(&map, Duration::from_secs(10), || got.get() == 20);
    drop(writer.join().unwrap());
    asyncore::close_all(Some(&map), true).unwrap();
}

/// A read stops short at TCP's urgent mark; treating that short read as "drained"
/// left the data after the mark unread.
#[test]
fn data_after_urgent_data_is_read() {
    let (chan, peer) = channel_pair();
    let peer: asyncore::Socket = peer.into();
    peer.send(b"abc").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    peer.send_out_of_band(b"X").unwrap();
    std::thread::sleep(Duration::from_millis(20));
    peer.send(b"def").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let map = Map::new().unwrap();
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    run_until(&map, Duration::from_secs(10), || {
        log.borrow().data.len() >= 6
    });
    assert_eq!(log.borrow().data, b"abcdef");
    // The urgent byte went to handle_expt, never into the data.
    assert!(log.borrow().count("expt") >= 1, "{:?}", log.borrow().events);
}

/// Python's reconnect idiom, `close(); create_socket(); connect(addr)` inside a
/// handler, used to leave the dispatcher out of the map for good.
#[test]
fn a_handler_can_close_and_reconnect() {
    use asyncore::{Channel, Cx, Dispatcher, Domain, Result, Type};
    struct Redialer {
        addr: std::net::SocketAddr,
        connects: usize,
        closes: usize,
    }
    impl Dispatcher for Redialer {
        fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
            !cx.connected
        }
        fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            self.connects += 1;
            Ok(())
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            cx.recv(100)?;
            Ok(())
        }
        fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            cx.close();
            if self.connects < 3 {
                cx.create_socket(Domain::IPV4, Type::STREAM)?;
                cx.connect(self.addr)?;
            }
            Ok(())
        }
        fn on_close(&mut self, _cx: &mut Cx<'_>) {
            self.closes += 1;
        }
    }
    let (listener, addr) = std_listener();
    let server = std::thread::spawn(move || {
        // Accept three connections, closing each at once.
        for _ in 0..3 {
            drop(listener.accept().unwrap());
        }
    });
    let map = Map::new().unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(addr).unwrap();
    let h = map
        .add(
            chan,
            Redialer {
                addr,
                connects: 0,
                closes: 0,
            },
        )
        .unwrap();
    run_until(&map, Duration::from_secs(10), || map.is_empty());
    assert_eq!(h.borrow().connects, 3);
    // The two reconnects were not closes: on_close ran once, at the end.
    assert_eq!(h.borrow().closes, 1);
    server.join().unwrap();
}

/// A refused connect whose `handle_error` keeps the channel open must not be
/// reported as a connect later (`SO_ERROR` reads 0 the second time).
#[test]
fn a_refused_connect_is_never_reported_as_a_connect() {
    use asyncore::{Channel, Cx, Dispatcher, Domain, Error, Result, Type};
    struct Stubborn {
        connects: usize,
        errors: usize,
    }
    impl Dispatcher for Stubborn {
        fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            self.connects += 1;
            Ok(())
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let _ = cx.recv(10);
            Ok(())
        }
        fn handle_write(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            Ok(())
        }
        fn handle_error(&mut self, _cx: &mut Cx<'_>, _err: Error) {
            self.errors += 1; // and stays open
        }
    }
    let map = Map::new().unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(refused_address()).unwrap();
    let h = map
        .add(
            chan,
            Stubborn {
                connects: 0,
                errors: 0,
            },
        )
        .unwrap();
    run_until(&map, Duration::from_secs(10), || h.borrow().errors >= 1);
    map.run(Some(Duration::from_millis(5)), Some(20)).unwrap();
    assert_eq!(h.borrow().connects, 0);
    h.close();
}

/// `out_buffer` is Python's public attribute; clearing it used to underflow a
/// private "already sent" offset.
#[test]
fn dispatcher_with_send_survives_its_out_buffer_being_cleared() {
    use asyncore::{Cx, Dispatcher, DispatcherWithSend, Result};
    use std::io::Read;
    /// Answers each read with `cx.send(b"after")`, noting what send returned.
    struct Answer {
        returned: Vec<usize>,
    }
    impl Dispatcher for Answer {
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            cx.recv(100)?;
            let n = cx.send(b"after")?;
            self.returned.push(n);
            Ok(())
        }
    }
    let (chan, mut peer) = channel_pair();
    let mut d = DispatcherWithSend::new(Answer {
        returned: Vec::new(),
    });
    d.out_buffer.extend_from_slice(&[1; 100]);
    d.out_buffer.clear();
    assert_eq!(d.pending(), 0);
    let map = Map::new().unwrap();
    let h = map.add(chan, d).unwrap();
    // Cleared again from outside, between passes.
    h.borrow_mut().out_buffer.extend_from_slice(&[2; 100]);
    h.borrow_mut().out_buffer.clear();
    peer.write_all(b"?").unwrap();
    run_until(&map, Duration::from_secs(10), || {
        !h.borrow().handler.returned.is_empty()
    });
    assert_eq!(h.borrow().handler.returned, [5]);
    assert_eq!(h.borrow().pending(), 0, "sent at once on an idle socket");
    let mut got = [0; 5];
    peer.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"after", "none of the cleared bytes went out");
    h.close();
}

/// A request's own Host header used to be sent beside the connection's.
#[test]
fn a_request_with_its_own_host_header_sends_one() {
    let req = asyncore::http::Request::get("/").with_header("Host", "example.test");
    let bytes = String::from_utf8(req.to_bytes("127.0.0.1:80").unwrap()).unwrap();
    assert_eq!(bytes.matches("Host:").count(), 1, "{bytes}");
    assert!(bytes.contains("Host: example.test\r\n"), "{bytes}");
}

/// Byte strings are producers, as Python's `push_with_producer` takes any object
/// with `more()`.
#[test]
fn byte_strings_are_producers_that_produce_once() {
    use asyncore::Producer;
    let mut v = b"abc".to_vec();
    assert_eq!(v.more().unwrap(), b"abc");
    assert!(v.more().unwrap().is_empty());
    let mut s: &'static [u8] = b"xyz";
    assert_eq!(s.more().unwrap(), b"xyz");
    assert!(s.more().unwrap().is_empty());
    let mut t = String::from("hi");
    assert_eq!(t.more().unwrap(), b"hi");
    assert!(t.more().unwrap().is_empty());
}

/// 0.2 review: after a send found the peer reset, every later push in the same read
/// tried to send everything queued again (one failing `sendto` per pushed line).
/// A disconnect errno now clears `connected`, as Python's `handle_close` -> `close`
/// would, and a chat sends nothing more on that channel.
#[test]
fn a_disconnect_clears_connected() {
    let (mut chan, peer) = channel_pair();
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer); // a reset
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // The first send after the reset arrives fails with ECONNRESET or EPIPE.
    while chan.connected {
        assert!(
            std::time::Instant::now() < deadline,
            "the reset never showed"
        );
        let _ = chan.send(b"x");
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(chan.is_open(), "still open: closing is handle_close's call");
    assert_eq!(
        chan.send(b"more").unwrap(),
        0,
        "nothing is sent once disconnected"
    );
}
