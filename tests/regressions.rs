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
        let (mut rec, log) = Recorder::new(chan);
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(rec).unwrap();
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
        let (mut rec, log) = Recorder::new(chan);
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(rec).unwrap();
        run_until(&map, Duration::from_secs(10), || map.is_empty());
        let log = log.borrow();
        assert_eq!(log.data.len(), 200, "read size {read_size}");
        assert_eq!(log.count("close"), 1, "read size {read_size}");
    }
}

/// Reads one byte per `handle_read`, slowly, so new data arrives mid-drain.
struct SlowReader {
    chan: asyncore::Channel,
    got: std::rc::Rc<std::cell::Cell<usize>>,
}

impl asyncore::Dispatcher for SlowReader {
    fn channel(&self) -> &asyncore::Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut asyncore::Channel {
        &mut self.chan
    }
    fn writable(&mut self) -> bool {
        false
    }
    fn handle_read(&mut self) -> asyncore::Result<()> {
        let d = self.chan.recv(1)?;
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
    map.add(SlowReader {
        chan,
        got: got.clone(),
    })
    .unwrap();
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
    use asyncore::{Channel, Dispatcher, Result};
    use std::cell::Cell;
    use std::rc::Rc;
    struct Nested {
        chan: Channel,
        map: Map,
        got: Rc<Cell<usize>>,
        nested: bool,
    }
    impl Dispatcher for Nested {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn writable(&mut self) -> bool {
            false
        }
        fn handle_read(&mut self) -> Result<()> {
            let d = self.chan.recv(4096)?;
            self.got.set(self.got.get() + d.len());
            if !self.nested {
                self.nested = true;
                let end = std::time::Instant::now() + Duration::from_millis(300);
                while std::time::Instant::now() < end {
                    self.map.poll(Some(Duration::from_millis(20)))?;
                }
            }
            Ok(())
        }
    }
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let got = Rc::new(Cell::new(0));
    map.add(Nested {
        chan,
        map: map.clone(),
        got: got.clone(),
        nested: false,
    })
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
    let (rec, log) = Recorder::new(chan);
    map.add(rec).unwrap();
    run_until(&map, Duration::from_secs(10), || {
        log.borrow().data.len() >= 6
    });
    assert_eq!(log.borrow().data, b"abcdef");
}

/// Python's reconnect idiom, `close(); create_socket(); connect(addr)` inside a
/// handler, used to leave the dispatcher out of the map for good.
#[test]
fn a_handler_can_close_and_reconnect() {
    use asyncore::{Channel, Dispatcher, Domain, Result, Type};
    struct Redialer {
        chan: Channel,
        addr: std::net::SocketAddr,
        connects: usize,
    }
    impl Dispatcher for Redialer {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn writable(&mut self) -> bool {
            !self.chan.connected
        }
        fn handle_connect(&mut self) -> Result<()> {
            self.connects += 1;
            Ok(())
        }
        fn handle_read(&mut self) -> Result<()> {
            self.chan.recv(100)?;
            Ok(())
        }
        fn handle_close(&mut self) -> Result<()> {
            self.chan.close();
            if self.connects < 3 {
                self.chan.create_socket(Domain::IPV4, Type::STREAM)?;
                self.chan.connect(self.addr)?;
            }
            Ok(())
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
        .add(Redialer {
            chan,
            addr,
            connects: 0,
        })
        .unwrap();
    run_until(&map, Duration::from_secs(10), || map.is_empty());
    assert_eq!(h.borrow().connects, 3);
    server.join().unwrap();
}

/// A refused connect whose `handle_error` keeps the channel open must not be
/// reported as a connect later (`SO_ERROR` reads 0 the second time).
#[test]
fn a_refused_connect_is_never_reported_as_a_connect() {
    use asyncore::{Channel, Dispatcher, Domain, Error, Result, Type};
    struct Stubborn {
        chan: Channel,
        connects: usize,
        errors: usize,
    }
    impl Dispatcher for Stubborn {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn handle_connect(&mut self) -> Result<()> {
            self.connects += 1;
            Ok(())
        }
        fn handle_read(&mut self) -> Result<()> {
            let _ = self.chan.recv(10);
            Ok(())
        }
        fn handle_write(&mut self) -> Result<()> {
            Ok(())
        }
        fn handle_error(&mut self, _err: Error) {
            self.errors += 1; // and stays open
        }
    }
    let map = Map::new().unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(refused_address()).unwrap();
    let h = map
        .add(Stubborn {
            chan,
            connects: 0,
            errors: 0,
        })
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
    let (chan, _peer) = channel_pair();
    let mut d = asyncore::DispatcherWithSend::new(chan);
    d.out_buffer.extend_from_slice(&[1; 100]);
    d.out_buffer.clear();
    assert_eq!(d.pending(), 0);
    d.send(b"after").unwrap();
    assert_eq!(d.pending(), 0, "sent at once on an idle socket");
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
