//! The loop: passes, counts, level-triggered delivery, and a map that changes while
//! the loop runs.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{Channel, Dispatcher, Handle, Map, Result};
use util::*;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn an_empty_map_returns_at_once() {
    let map = Map::new().unwrap();
    let start = Instant::now();
    asyncore::loop_(Some(Duration::from_secs(30)), false, Some(&map), None).unwrap();
    asyncore::loop_(None, true, Some(&map), None).unwrap();
    // The global map of this test thread is empty too.
    asyncore::loop_(None, false, None, None).unwrap();
    assert!(start.elapsed() < Duration::from_secs(5));
}

/// Writable forever, counting handle_write calls: one per pass.
struct Counter {
    chan: Channel,
    writes: Rc<Cell<usize>>,
}

impl Dispatcher for Counter {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn readable(&mut self) -> bool {
        false
    }
    fn handle_write(&mut self) -> Result<()> {
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }
}

#[test]
fn count_bounds_the_number_of_passes() {
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    let writes = Rc::new(Cell::new(0));
    map.add(Counter {
        chan,
        writes: writes.clone(),
    })
    .unwrap();
    asyncore::loop_(Some(Duration::from_secs(5)), false, Some(&map), Some(7)).unwrap();
    assert_eq!(writes.get(), 7);
    map.run(Some(Duration::from_secs(5)), Some(3)).unwrap();
    assert_eq!(writes.get(), 10);
}

#[test]
fn the_global_map_is_used_by_default() {
    let (chan, _peer) = channel_pair();
    let writes = Rc::new(Cell::new(0));
    let h = asyncore::add(Counter {
        chan,
        writes: writes.clone(),
    })
    .unwrap();
    assert_eq!(Map::global().len(), 1);
    asyncore::loop_(Some(Duration::from_secs(5)), false, None, Some(2)).unwrap();
    assert_eq!(writes.get(), 2);
    asyncore::close_all(None, false).unwrap();
    assert!(Map::global().is_empty());
    assert!(!h.is_open());
}

#[test]
fn close_all_empties_an_explicit_map() {
    let map = Map::new().unwrap();
    let mut peers = Vec::new();
    let mut handles = Vec::new();
    for _ in 0..4 {
        let (chan, peer) = channel_pair();
        let (rec, _) = Recorder::new(chan);
        handles.push(map.add(rec).unwrap());
        peers.push(peer);
    }
    asyncore::close_all(Some(&map), false).unwrap();
    assert!(map.is_empty());
    assert!(handles.iter().all(|h| !h.is_open()));
    for mut p in peers {
        p.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert_eq!(p.read(&mut [0; 4]).unwrap(), 0);
    }
}

#[test]
fn a_one_byte_reader_receives_all_of_a_10_mb_stream() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, log) = Recorder::new(chan);
    rec.read_size = 1;
    map.add(rec).unwrap();
    const SIZE: usize = 10 << 20;
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        peer.write_all(&data).unwrap();
        // Keep the connection open until the reader is done with it.
        peer.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let _ = peer.read(&mut [0; 1]);
    });
    run_until(&map, Duration::from_secs(120), || {
        log.borrow().data.len() == SIZE
    });
    let log = log.borrow();
    assert!(
        log.data
            .iter()
            .enumerate()
            .all(|(i, &b)| b == (i % 251) as u8),
        "stream corrupted"
    );
    drop(log);
    asyncore::close_all(Some(&map), false).unwrap();
    writer.join().unwrap();
}

#[test]
fn a_one_byte_writer_finishes() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, _log) = Recorder::new(chan);
    const SIZE: usize = 200_000;
    rec.out = (0..SIZE).map(|i| (i % 13) as u8).collect();
    rec.write_size = 1;
    rec.readable = false;
    let h = map.add(rec).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0; SIZE];
        peer.read_exact(&mut got).unwrap();
        got
    });
    run_until(&map, LIMIT, || h.borrow().out.is_empty());
    let got = reader.join().unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 13) as u8));
}

#[test]
fn readable_false_holds_data_until_it_turns_true() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, log) = Recorder::new(chan);
    rec.readable = false;
    let h = map.add(rec).unwrap();
    peer.write_all(b"later").unwrap();
    map.run(Some(Duration::from_millis(20)), Some(5)).unwrap();
    assert_eq!(log.borrow().count("read"), 0);
    // Through the handle: the loop consults the predicates again.
    h.borrow_mut().readable = true;
    run_until(&map, LIMIT, || log.borrow().data == b"later");
}

#[test]
fn the_loop_does_not_sleep_while_wanted_readiness_remains() {
    // A 1-byte reader with 64 KiB waiting, and a long timeout: if the loop slept
    // between passes this would take 65536 x 30 s.
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, log) = Recorder::new(chan);
    rec.read_size = 1;
    map.add(rec).unwrap();
    peer.write_all(&[1; 65536]).unwrap();
    let start = Instant::now();
    while log.borrow().data.len() < 65536 {
        map.poll(Some(Duration::from_secs(30))).unwrap();
        assert!(start.elapsed() < LIMIT, "the loop slept with data pending");
    }
}

/// The channel put in the map on a freed descriptor, and that descriptor.
type Replacement = (i32, Handle<Recorder>);

/// On its first read, closes the other channel of the pair (whichever runs first
/// wins) and at once puts a new channel in the map, reusing the freed descriptor.
struct Closer {
    chan: Channel,
    name: &'static str,
    pair: Rc<RefCell<Vec<Handle<Closer>>>>,
    log: Rc<RefCell<Vec<String>>>,
    replacement: Rc<RefCell<Option<Replacement>>>,
}

impl Dispatcher for Closer {
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
        self.log.borrow_mut().push(format!("read {}", self.name));
        let _ = self.chan.recv(100)?;
        let pair = std::mem::take(&mut *self.pair.borrow_mut());
        // Our own handle cannot be borrowed while we run: the other one can.
        for h in pair {
            if let Some(mut other) = h.try_borrow_mut() {
                let fd = other.chan.fileno().unwrap();
                other.chan.close();
                let udp = socket_on_fd(fd);
                let (rec, _) = Recorder::new(Channel::from_socket(udp).unwrap());
                let h = self.chan.map().unwrap().add(rec).unwrap();
                *self.replacement.borrow_mut() = Some((fd, h));
            }
        }
        Ok(())
    }
}

/// A new socket that gets descriptor `fd` (just freed) if the OS hands it out within
/// a few tries; other tests in this process open descriptors too.
fn socket_on_fd(fd: i32) -> UdpSocket {
    use std::os::fd::AsRawFd;
    let mut spare = Vec::new();
    for _ in 0..256 {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        if s.as_raw_fd() == fd {
            return s;
        }
        spare.push(s);
    }
    spare.pop().unwrap()
}

#[test]
fn a_channel_closed_by_another_in_the_same_pass_gets_no_event_even_if_its_fd_is_reused() {
    let map = Map::new().unwrap();
    let (a, mut pa) = channel_pair();
    let (b, mut pb) = channel_pair();
    let pair = Rc::new(RefCell::new(Vec::new()));
    let log = Rc::new(RefCell::new(Vec::new()));
    let replacement = Rc::new(RefCell::new(None));
    let mk = |chan, name| Closer {
        chan,
        name,
        pair: pair.clone(),
        log: log.clone(),
        replacement: replacement.clone(),
    };
    let ha = map.add(mk(a, "a")).unwrap();
    let hb = map.add(mk(b, "b")).unwrap();
    pair.borrow_mut().extend([ha.clone(), hb.clone()]);
    // Both get data before the pass, so both have events in the same poll.
    pa.write_all(b"x").unwrap();
    pb.write_all(b"x").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    map.poll(Some(Duration::from_secs(5))).unwrap();
    let events = log.borrow().clone();
    assert_eq!(
        events.len(),
        1,
        "the closed channel got its event: {events:?}"
    );
    let (survivor, closed) = if events[0] == "read a" {
        (&ha, &hb)
    } else {
        (&hb, &ha)
    };
    assert!(survivor.is_open());
    assert!(!closed.is_open());
    let (fd, rep) = replacement
        .borrow_mut()
        .take()
        .expect("a replacement channel");
    assert_eq!(rep.borrow().chan.fileno(), Some(fd), "the fd was reused");
    // The replacement gets nothing meant for the closed channel.
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    assert_eq!(rep.borrow().log.borrow().count("read"), 0);
    assert_eq!(log.borrow().len(), 1);
}

/// Closes itself from its own handler, then is never called again.
struct SelfCloser {
    chan: Channel,
    calls: Rc<Cell<usize>>,
}

impl Dispatcher for SelfCloser {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn handle_read(&mut self) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        self.chan.close();
        Ok(())
    }
    fn handle_write(&mut self) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        Ok(())
    }
}

#[test]
fn a_handler_closing_itself_gets_nothing_after() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let calls = Rc::new(Cell::new(0));
    map.add(SelfCloser {
        chan,
        calls: calls.clone(),
    })
    .unwrap();
    peer.write_all(b"bye").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let after = calls.get();
    map.run(Some(Duration::from_millis(5)), Some(3)).unwrap();
    assert_eq!(calls.get(), after);
}

#[test]
fn many_connections_echo_through_one_loop() {
    // An echo server built from the Recorder's accept, with 50 clients at once.
    struct Echo {
        chan: Channel,
        pending: Vec<u8>,
    }
    impl Dispatcher for Echo {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn writable(&mut self) -> bool {
            !self.pending.is_empty()
        }
        fn handle_read(&mut self) -> Result<()> {
            let d = self.chan.recv(4096)?;
            self.pending.extend_from_slice(&d);
            Ok(())
        }
        fn handle_write(&mut self) -> Result<()> {
            let n = self.chan.send(&self.pending)?;
            self.pending.drain(..n);
            Ok(())
        }
        fn handle_close(&mut self) -> Result<()> {
            self.chan.close();
            Ok(())
        }
    }
    struct Server {
        chan: Channel,
    }
    impl Dispatcher for Server {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn handle_accepted(&mut self, sock: asyncore::Socket, _: asyncore::SockAddr) -> Result<()> {
            let chan = Channel::from_socket(sock)?;
            self.chan.map().unwrap().add(Echo {
                chan,
                pending: Vec::new(),
            })?;
            Ok(())
        }
    }
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    map.add(Server { chan }).unwrap();
    let clients = std::thread::spawn(move || {
        let mut conns: Vec<TcpStream> =
            (0..50).map(|_| TcpStream::connect(addr).unwrap()).collect();
        for round in 0..20u8 {
            for (i, c) in conns.iter_mut().enumerate() {
                c.write_all(&[round, i as u8, 1, 2, 3]).unwrap();
            }
            for (i, c) in conns.iter_mut().enumerate() {
                let mut buf = [0; 5];
                c.read_exact(&mut buf).unwrap();
                assert_eq!(buf, [round, i as u8, 1, 2, 3]);
            }
        }
    });
    let start = Instant::now();
    while !clients.is_finished() {
        assert!(start.elapsed() < LIMIT);
        map.poll(Some(Duration::from_millis(10))).unwrap();
    }
    clients.join().unwrap();
    run_until(&map, LIMIT, || map.len() == 1);
}

#[test]
fn a_stepped_pass_serves_a_channel_once_unless_given_a_budget() {
    for (budget, expected) in [(None, 1), (Some(4), 4), (Some(0), 1)] {
        let map = Map::new().unwrap();
        map.set_dispatch_budget(budget);
        let (chan, mut peer) = channel_pair();
        peer.write_all(b"0123456789").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let (mut rec, log) = Recorder::new(chan);
        rec.read_size = 1;
        map.add(rec).unwrap();
        map.run(Some(Duration::from_secs(5)), Some(1)).unwrap();
        assert_eq!(log.borrow().data.len(), expected, "budget {budget:?}");
        // The rest follows in later passes, whatever the budget.
        run_until(&map, LIMIT, || log.borrow().data.len() == 10);
        assert_eq!(log.borrow().data, b"0123456789");
    }
}

/// Two channels with 10 bytes each, read a byte per `handle_read`, driven to the end
/// by a free-running loop (`stepped == false`) or by `Map::poll`: the bytes in the
/// order the handlers read them.
fn interleaving(budget: Option<u32>, stepped: bool) -> Vec<u8> {
    let map = Map::new().unwrap();
    map.set_dispatch_budget(budget);
    let log = SharedLog::default();
    for byte in [b'a', b'b'] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[byte; 10]).unwrap();
        drop(peer); // then end of stream: the reader closes
        let (rec, _) = Recorder::new(chan);
        map.add(Recorder {
            read_size: 1,
            log: log.clone(),
            ..rec
        })
        .unwrap();
    }
    std::thread::sleep(Duration::from_millis(30));
    if stepped {
        run_until(&map, LIMIT, || map.is_empty());
    } else {
        let watchdog = map.loop_handle().unwrap();
        std::thread::spawn(move || {
            std::thread::sleep(LIMIT);
            watchdog.exit(); // bounds the test if the loop never empties
        });
        map.run(Some(LIMIT), None).unwrap();
        assert!(map.is_empty(), "the loop ran out of time: {map:?}");
    }
    let data = log.borrow().data.clone();
    assert_eq!(data.len(), 20);
    data
}

#[test]
fn a_free_running_loop_serves_a_busy_channel_in_runs() {
    // Up to 16 dispatches per pass: each channel's 10 reads (and its close) in one run.
    let data = interleaving(None, false);
    assert!(
        data == b"aaaaaaaaaabbbbbbbbbb" || data == b"bbbbbbbbbbaaaaaaaaaa",
        "{:?}",
        String::from_utf8_lossy(&data)
    );
    // Runs of 4 with a budget of 4.
    let data = interleaving(Some(4), false);
    for run in data.chunks(4).take(4) {
        assert!(
            run.iter().all(|&b| b == run[0]),
            "{:?}",
            String::from_utf8_lossy(&data)
        );
    }
}

#[test]
fn a_stepped_loop_or_a_budget_of_one_alternates_like_python() {
    for (budget, stepped) in [(None, true), (Some(1), false), (Some(1), true)] {
        let data = interleaving(budget, stepped);
        for pair in data.chunks(2) {
            assert!(
                pair.contains(&b'a') && pair.contains(&b'b'),
                "budget {budget:?}, stepped {stepped}: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}
