//! The loop: passes, counts, level-triggered delivery, and a map that changes while
//! the loop runs.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{Channel, Cx, Dispatcher, Handle, Map, Result};
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
    writes: Rc<Cell<usize>>,
}

impl Dispatcher for Counter {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_write(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }
}

#[test]
fn count_bounds_the_number_of_passes() {
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    let writes = Rc::new(Cell::new(0));
    map.add(
        chan,
        Counter {
            writes: writes.clone(),
        },
    )
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
    let h = asyncore::add(
        chan,
        Counter {
            writes: writes.clone(),
        },
    )
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
        let (rec, _) = Recorder::new();
        handles.push(map.add(chan, rec).unwrap());
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

/// Reads one byte per `handle_read` and checks it against the pattern sent, without
/// allocating (10 million calls: the recorder's per-call log would dominate).
struct OneByteReader {
    got: Rc<Cell<usize>>,
    corrupt: Rc<Cell<bool>>,
}

impl Dispatcher for OneByteReader {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let mut byte = [0u8; 1];
        if cx.recv_into(&mut byte)? == 1 {
            let i = self.got.get();
            if byte[0] != (i % 251) as u8 {
                self.corrupt.set(true);
            }
            self.got.set(i + 1);
        }
        Ok(())
    }
}

#[test]
fn a_one_byte_reader_receives_all_of_a_10_mb_stream() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let got = Rc::new(Cell::new(0));
    let corrupt = Rc::new(Cell::new(false));
    map.add(
        chan,
        OneByteReader {
            got: got.clone(),
            corrupt: corrupt.clone(),
        },
    )
    .unwrap();
    const SIZE: usize = 10 << 20;
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 251) as u8).collect();
        peer.write_all(&data).unwrap();
        // Keep the connection open until the reader is done with it.
        peer.set_read_timeout(Some(Duration::from_secs(300)))
            .unwrap();
        let _ = peer.read(&mut [0; 1]);
    });
    // 10 million dispatches and 20 million system calls: about a minute in a debug
    // build on a loaded 2-core machine, so the bound leaves room.
    run_until(&map, Duration::from_secs(300), || got.get() == SIZE);
    assert!(!corrupt.get(), "stream corrupted");
    asyncore::close_all(Some(&map), false).unwrap();
    writer.join().unwrap();
}

#[test]
fn a_one_byte_writer_finishes() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, _log) = Recorder::new();
    const SIZE: usize = 200_000;
    rec.out = (0..SIZE).map(|i| (i % 13) as u8).collect();
    rec.write_size = 1;
    rec.readable = false;
    let h = map.add(chan, rec).unwrap();
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
    let (mut rec, log) = Recorder::new();
    rec.readable = false;
    let h = map.add(chan, rec).unwrap();
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
    let (mut rec, log) = Recorder::new();
    rec.read_size = 1;
    map.add(chan, rec).unwrap();
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
    name: &'static str,
    pair: Rc<RefCell<Vec<Handle<Closer>>>>,
    log: Rc<RefCell<Vec<String>>>,
    replacement: Rc<RefCell<Option<Replacement>>>,
}

impl Dispatcher for Closer {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.log.borrow_mut().push(format!("read {}", self.name));
        let _ = cx.recv(100)?;
        let pair = std::mem::take(&mut *self.pair.borrow_mut());
        // Our own channel is busy while we run (`with` declines it): the other is not.
        for h in pair {
            let closed = h.with(|_, other| {
                let fd = other.fileno().unwrap();
                other.close();
                fd
            });
            if let Some(fd) = closed {
                let udp = socket_on_fd(fd);
                let (rec, _) = Recorder::new();
                let h = cx.add(Channel::from_socket(udp)?, rec)?;
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
    let mk = |name| Closer {
        name,
        pair: pair.clone(),
        log: log.clone(),
        replacement: replacement.clone(),
    };
    let ha = map.add(a, mk("a")).unwrap();
    let hb = map.add(b, mk("b")).unwrap();
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
    assert_eq!(rep.channel().fileno(), Some(fd), "the fd was reused");
    // The replacement gets nothing meant for the closed channel.
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    assert_eq!(rep.borrow().log.borrow().count("read"), 0);
    assert_eq!(log.borrow().len(), 1);
}

/// Closes itself from its own handler, then is never called again.
struct SelfCloser {
    calls: Rc<Cell<usize>>,
}

impl Dispatcher for SelfCloser {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        cx.close();
        Ok(())
    }
    fn handle_write(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.calls.set(self.calls.get() + 1);
        Ok(())
    }
}

#[test]
fn a_handler_closing_itself_gets_nothing_after() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let calls = Rc::new(Cell::new(0));
    map.add(
        chan,
        SelfCloser {
            calls: calls.clone(),
        },
    )
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
        pending: Vec<u8>,
    }
    impl Dispatcher for Echo {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            !self.pending.is_empty()
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let d = cx.recv(4096)?;
            self.pending.extend_from_slice(&d);
            Ok(())
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
    struct Server;
    impl Dispatcher for Server {
        fn handle_accepted(
            &mut self,
            cx: &mut Cx<'_>,
            sock: asyncore::Socket,
            _: asyncore::SockAddr,
        ) -> Result<()> {
            let chan = Channel::from_socket(sock)?;
            cx.add(
                chan,
                Echo {
                    pending: Vec::new(),
                },
            )?;
            Ok(())
        }
    }
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    map.add(chan, Server).unwrap();
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
fn the_dispatch_budget_defaults_to_one_and_zero_counts_as_one() {
    let map = Map::new().unwrap();
    assert_eq!(map.dispatch_budget(), 1, "Python's: one dispatch per pass");
    map.set_dispatch_budget(16);
    assert_eq!(map.dispatch_budget(), 16);
    map.set_dispatch_budget(0);
    assert_eq!(map.dispatch_budget(), 1);
    // Driving the map does not change it.
    map.run(Duration::from_millis(1), 2).unwrap();
    assert_eq!(map.dispatch_budget(), 1);
}

#[test]
fn a_stepped_pass_serves_a_channel_once_unless_given_a_budget() {
    for (budget, expected) in [(None, 1), (Some(4), 4), (Some(0), 1), (Some(16), 10)] {
        let map = Map::new().unwrap();
        if let Some(b) = budget {
            map.set_dispatch_budget(b);
        }
        let (chan, mut peer) = channel_pair();
        peer.write_all(b"0123456789").unwrap();
        std::thread::sleep(Duration::from_millis(30));
        let (mut rec, log) = Recorder::new();
        rec.read_size = 1;
        map.add(chan, rec).unwrap();
        map.run(Some(Duration::from_secs(5)), Some(1)).unwrap();
        assert_eq!(log.borrow().data.len(), expected, "budget {budget:?}");
        // The rest follows in later passes, whatever the budget.
        run_until(&map, LIMIT, || log.borrow().data.len() == 10);
        assert_eq!(log.borrow().data, b"0123456789");
    }
}

/// Two channels with 10 bytes each, read a byte per `handle_read`, driven to the end
/// by a free-running loop (`stepped == false`) or by `Map::poll`, with the budget set
/// by `set_dispatch_budget` (`None`: the default): the bytes in the order the
/// handlers read them.
fn interleaving(budget: Option<u32>, stepped: bool) -> Vec<u8> {
    let map = Map::new().unwrap();
    if let Some(b) = budget {
        map.set_dispatch_budget(b);
    }
    let log = SharedLog::default();
    for byte in [b'a', b'b'] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[byte; 10]).unwrap();
        drop(peer); // then end of stream: the reader closes
        let (rec, _) = Recorder::new();
        map.add(
            chan,
            Recorder {
                read_size: 1,
                log: log.clone(),
                ..rec
            },
        )
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

/// 0.1 gave a free-running loop a budget of 16 by itself; 0.2 serves in runs only
/// with `set_dispatch_budget`, whoever drives the map.
#[test]
fn a_dispatch_budget_serves_a_busy_channel_in_runs() {
    for stepped in [false, true] {
        // Up to 16 dispatches per pass: each channel's 10 reads (and its close) in
        // one run.
        let data = interleaving(Some(16), stepped);
        assert!(
            data == b"aaaaaaaaaabbbbbbbbbb" || data == b"bbbbbbbbbbaaaaaaaaaa",
            "stepped {stepped}: {:?}",
            String::from_utf8_lossy(&data)
        );
        // Runs of 4 with a budget of 4.
        let data = interleaving(Some(4), stepped);
        for run in data.chunks(4).take(4) {
            assert!(
                run.iter().all(|&b| b == run[0]),
                "stepped {stepped}: {:?}",
                String::from_utf8_lossy(&data)
            );
        }
    }
}

#[test]
fn a_stepped_loop_or_a_budget_of_one_alternates_like_python() {
    // `(None, false)`: a free-running loop with the default budget alternates too
    // (0.1 gave it runs of 16).
    for (budget, stepped) in [
        (None, true),
        (None, false),
        (Some(1), false),
        (Some(1), true),
    ] {
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

/// Writable forever; asks the loop to exit on its `exit_at`th `handle_write`.
struct Exiter {
    writes: usize,
    exit_at: usize,
}

impl Dispatcher for Exiter {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.writes += 1;
        if self.writes == self.exit_at {
            cx.exit();
        }
        Ok(())
    }
}

#[test]
fn cx_exit_ends_the_loop_with_ok() {
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    let h = map
        .add(
            chan,
            Exiter {
                writes: 0,
                exit_at: 5,
            },
        )
        .unwrap();
    // One write per pass: the loop stops after the fifth pass, not the 100,000th.
    let r = asyncore::loop_(Duration::from_secs(5), false, Some(&map), 100_000);
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(h.borrow().writes, 5);
    // The channel is untouched and still in the map.
    assert!(h.is_open());
    assert_eq!(map.len(), 1);
    // The request was consumed: the next loop runs its passes.
    map.run(Duration::from_secs(5), 3).unwrap();
    assert_eq!(h.borrow().writes, 8);
    // Also with no count at all, and from the free-running loop of `Map::run`.
    h.borrow_mut().exit_at = 10;
    map.run(Duration::from_secs(5), None).unwrap();
    assert_eq!(h.borrow().writes, 10);
    // An exit asked in a single `Map::poll` ends the next loop before any pass.
    h.borrow_mut().exit_at = 11;
    map.poll(Duration::from_secs(5)).unwrap();
    assert_eq!(h.borrow().writes, 11);
    asyncore::loop_(Duration::from_secs(5), false, Some(&map), 100).unwrap();
    assert_eq!(h.borrow().writes, 11);
    h.close();
    assert!(map.is_empty());
}
