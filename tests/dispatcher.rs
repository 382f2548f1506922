//! The handlers and their defaults, on real loopback sockets.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{
    AddError, Channel, Cx, Dispatcher, Domain, Error, Handle, Map, Result, Type, WeakHandle,
};
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

fn connecting_channel(addr: std::net::SocketAddr) -> Channel {
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(addr).unwrap();
    assert!(chan.connecting);
    assert!(!chan.connected);
    chan
}

#[test]
fn handle_connect_is_called_once_and_then_connected() {
    let (listener, addr) = std_listener();
    let map = Map::new().unwrap();
    let chan = connecting_channel(addr);
    let (rec, log) = Recorder::new();
    let h = map.add(chan, rec).unwrap();
    run_until(&map, LIMIT, || log.borrow().count("connect") == 1);
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    assert_eq!(log.borrow().count("connect"), 1);
    let c = h.channel();
    assert!(c.connected);
    assert!(!c.connecting);
    assert_eq!(c.addr().unwrap().as_socket(), Some(addr));
    drop(listener);
}

#[test]
fn refused_connect_goes_to_handle_error_never_handle_connect() {
    let addr = refused_address();
    let map = Map::new().unwrap();
    let (rec, log) = Recorder::new();
    map.add(connecting_channel(addr), rec).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.count("connect"), 0, "{:?}", log.events);
    assert_eq!(log.count("error"), 1, "{:?}", log.events);
    assert!(log.errors[0].contains("refused"), "{:?}", log.errors);
}

#[test]
fn default_handle_error_closes_the_refused_channel() {
    struct Plain {
        connected: Rc<RefCell<bool>>,
    }
    impl Dispatcher for Plain {
        fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            *self.connected.borrow_mut() = true;
            Ok(())
        }
    }
    let map = Map::new().unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(refused_address()).unwrap();
    let connected = Rc::new(RefCell::new(false));
    let h = map
        .add(
            chan,
            Plain {
                connected: connected.clone(),
            },
        )
        .unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(!*connected.borrow());
    assert!(!h.is_open());
}

#[test]
fn accept_adds_connections_while_the_loop_runs() {
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    let (server, log) = Recorder::new();
    map.add(chan, server).unwrap();
    let mut clients: Vec<TcpStream> = (0..5).map(|_| TcpStream::connect(addr).unwrap()).collect();
    run_until(&map, LIMIT, || log.borrow().count("accepted") == 5);
    assert_eq!(map.len(), 6);
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("<{i}>").as_bytes()).unwrap();
    }
    run_until(&map, LIMIT, || log.borrow().data.len() == 15);
    drop(clients);
    run_until(&map, LIMIT, || map.len() == 1);
    assert_eq!(log.borrow().count("close"), 5);
}

#[test]
fn a_listening_channel_never_gets_write_events() {
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    let (mut server, log) = Recorder::new();
    server.writable = true;
    map.add(chan, server).unwrap();
    let _c = TcpStream::connect(addr).unwrap();
    run_until(&map, LIMIT, || log.borrow().count("accepted") == 1);
    map.run(Some(Duration::from_millis(5)), Some(5)).unwrap();
    assert!(
        log.borrow().events.iter().all(|e| e != "write") || map.len() == 2,
        "{:?}",
        log.borrow().events
    );
}

#[test]
fn handle_read_gets_the_data_and_handle_close_the_end() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    assert!(chan.connected);
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    peer.write_all(b"hello").unwrap();
    run_until(&map, LIMIT, || log.borrow().data == b"hello");
    drop(peer);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(log.borrow().count("close"), 1);
}

#[test]
fn handle_close_after_the_connection_is_reset() {
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    // Linger 0: close sends a reset instead of a FIN.
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    run_until(&map, LIMIT, || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert_eq!(log.count("error"), 0, "{:?}", log.errors);
}

#[test]
fn send_to_a_closed_peer_reports_close_not_error() {
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let (mut rec, log) = Recorder::new();
    rec.readable = false;
    rec.out = vec![7; 4 << 20];
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    map.add(chan, rec).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert!(log.errors.is_empty(), "{:?}", log.errors);
}

#[test]
fn handle_write_sends_everything_queued() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, _log) = Recorder::new();
    let payload: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
    rec.out = payload.clone();
    rec.readable = false;
    let h = map.add(chan, rec).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0; 2_000_000];
        peer.read_exact(&mut got).unwrap();
        got
    });
    run_until(&map, LIMIT, || h.borrow().out.is_empty());
    assert_eq!(reader.join().unwrap(), payload);
}

#[test]
fn handle_expt_gets_out_of_band_data() {
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let (mut rec, log) = Recorder::new();
    rec.readable = true;
    map.add(chan, rec).unwrap();
    socket2::SockRef::from(&peer)
        .send_out_of_band(b"!")
        .unwrap();
    run_until(&map, LIMIT, || log.borrow().count("expt") >= 1);
}

/// Runs `map.poll(20 ms)` for 200 ms and returns how many passes that was: about 10
/// for a loop that sleeps when nothing is to be done, thousands for one that spins.
fn passes_in_200_ms(map: &Map) -> usize {
    let start = Instant::now();
    let mut passes = 0;
    while start.elapsed() < Duration::from_millis(200) {
        map.poll(Duration::from_millis(20)).unwrap();
        passes += 1;
    }
    passes
}

#[test]
fn out_of_band_data_fires_only_handle_expt_and_the_loop_sleeps_after() {
    // One urgent byte and nothing else: handle_expt alone (Python's poll loop), and
    // then the loop has nothing to do and sleeps.
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    socket2::SockRef::from(&peer)
        .send_out_of_band(b"!")
        .unwrap();
    run_until(&map, LIMIT, || log.borrow().count("expt") >= 1);
    let passes = passes_in_200_ms(&map);
    assert!(
        passes <= 15,
        "{passes} passes in 200 ms of 20 ms polls: the loop spins after priority data"
    );
    {
        let log = log.borrow();
        assert_eq!(log.count("read"), 0, "{:?}", log.events);
        assert!(log.data.is_empty(), "{:?}", log.data);
        assert!(log.errors.is_empty(), "{:?}", log.errors);
    }
    assert_eq!(map.len(), 1);

    // Ordinary data around an urgent byte: handle_expt for the byte, handle_read for
    // the data, and every ordinary byte arrives.
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    let peer: asyncore::Socket = peer.into();
    peer.send(b"hello ").unwrap();
    peer.send_out_of_band(b"!").unwrap();
    peer.send(b"world").unwrap();
    let start = Instant::now();
    while !{
        let log = log.borrow();
        log.data.len() >= 11 && log.count("expt") >= 1
    } {
        assert!(
            start.elapsed() < LIMIT,
            "ordinary data after the urgent byte never arrived: {:?}, data {:?}",
            log.borrow().events,
            String::from_utf8_lossy(&log.borrow().data)
        );
        map.poll(Duration::from_millis(10)).unwrap();
    }
    {
        let log = log.borrow();
        assert_eq!(log.data, b"hello world", "{:?}", log.events);
        assert!(log.count("read") >= 1, "{:?}", log.events);
        assert!(log.count("expt") >= 1, "{:?}", log.events);
        assert!(log.errors.is_empty(), "{:?}", log.errors);
    }
    let passes = passes_in_200_ms(&map);
    assert!(passes <= 15, "{passes} passes in 200 ms: the loop spins");
    assert_eq!(log.borrow().data, b"hello world");
    drop(peer);
}

#[test]
fn an_error_from_a_handler_reaches_handle_error() {
    struct Failing {
        seen: Rc<RefCell<Vec<String>>>,
    }
    impl Dispatcher for Failing {
        fn handle_read(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            Err(Error::other("bad greeting"))
        }
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
            self.seen.borrow_mut().push(err.to_string());
            cx.close();
        }
    }
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let seen = Rc::new(RefCell::new(Vec::new()));
    map.add(chan, Failing { seen: seen.clone() }).unwrap();
    peer.write_all(b"x").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(*seen.borrow(), vec!["bad greeting".to_string()]);
}

#[test]
fn a_panicking_handler_closes_only_its_channel() {
    struct Panicky;
    impl Dispatcher for Panicky {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_read(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            panic!("boom");
        }
    }
    let map = Map::new().unwrap();
    let (bad, mut bad_peer) = channel_pair();
    let (good, mut good_peer) = channel_pair();
    let bad = map.add(bad, Panicky).unwrap();
    let (rec, log) = Recorder::new();
    let good = map.add(good, rec).unwrap();
    bad_peer.write_all(b"x").unwrap();
    run_until(&map, LIMIT, || !bad.is_open());
    good_peer.write_all(b"still here").unwrap();
    run_until(&map, LIMIT, || log.borrow().data == b"still here");
    assert!(good.is_open());
    assert_eq!(map.len(), 1);
    // The peer of the panicked channel sees the close.
    let mut buf = [0; 8];
    bad_peer
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    // Closed with its input unread: a reset rather than a FIN, either is a close.
    match bad_peer.read(&mut buf) {
        Ok(n) => assert_eq!(n, 0),
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
    }
}

#[test]
fn a_panic_in_a_predicate_goes_to_handle_error() {
    struct BadPredicate;
    impl Dispatcher for BadPredicate {
        fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
            panic!("predicate")
        }
    }
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    map.add(chan, BadPredicate).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
}

#[test]
fn exit_now_ends_the_loop_and_reaches_the_caller() {
    struct Quitter;
    impl Dispatcher for Quitter {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_read(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            Err(Error::ExitNow)
        }
    }
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    map.add(chan, Quitter).unwrap();
    peer.write_all(b"q").unwrap();
    let r = asyncore::loop_(
        Some(Duration::from_millis(50)),
        false,
        Some(&map),
        Some(1000),
    );
    assert!(matches!(r, Err(Error::ExitNow)), "{r:?}");
    // The channel is untouched and still in the map.
    assert_eq!(map.len(), 1);
}

#[test]
fn close_twice_is_harmless() {
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    let (rec, _log) = Recorder::new();
    let h = map.add(chan, rec).unwrap();
    h.close();
    h.close();
    // The closed channel's own close, and the context's, once more.
    assert_eq!(h.with(|_, cx| cx.channel_mut().close()), Some(()));
    assert_eq!(h.with(|_, cx| cx.close()), Some(()));
    assert!(map.is_empty());
    assert!(!h.is_open());
    assert!(!h.channel().is_open());
}

#[test]
fn debug_shows_state_and_address() {
    let (chan, addr) = listening_channel();
    let s = format!("{chan:?}");
    assert!(s.contains("listening"), "{s}");
    assert!(s.contains(&addr.to_string()), "{s}");
    let (chan, _peer) = channel_pair();
    let s = format!("{chan:?}");
    assert!(s.contains("connected"), "{s}");
    let mut chan = Channel::new();
    assert_eq!(format!("{chan:?}"), "Channel(closed)");
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    assert!(format!("{chan:?}").starts_with("Channel(open"));
}

#[test]
fn socket_attributes_and_calls() {
    let mut chan = Channel::new();
    assert!(!chan.is_open());
    assert!(matches!(chan.listen(5), Err(e) if e.kind() == std::io::ErrorKind::NotConnected));
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.set_reuse_addr();
    assert!(chan.socket().unwrap().reuse_address().unwrap());
    assert!(chan.socket().unwrap().nonblocking().unwrap());
    chan.bind(any_local_address()).unwrap();
    assert!(!chan.accepting);
    chan.listen(5).unwrap();
    assert!(chan.accepting);
    assert!(!chan.connected);
    // Nothing waiting: accept is None, not an error.
    assert!(chan.accept().unwrap().is_none());
    chan.close();
    assert!(!chan.accepting);
    assert!(!chan.is_open());
}

#[test]
fn recv_would_block_is_not_a_close() {
    let (mut chan, _peer) = channel_pair();
    let e = chan.recv(10).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::WouldBlock);
    assert!(chan.is_open());
}

#[test]
fn adding_a_channel_without_a_socket_is_refused() {
    let map = Map::new().unwrap();
    let (rec, _log) = Recorder::new();
    assert!(matches!(
        map.add(Channel::new(), rec),
        Err(AddError {
            error: Error::NoSocket,
            ..
        })
    ));
    assert!(map.is_empty());
}

#[test]
fn a_failed_add_hands_back_dispatcher_and_channel() {
    struct Tagged {
        tag: u32,
        state: Vec<u8>,
    }
    impl Dispatcher for Tagged {}

    let map = Map::new().unwrap();
    // No socket.
    let err = map
        .add(
            Channel::new(),
            Tagged {
                tag: 7,
                state: b"kept".to_vec(),
            },
        )
        .unwrap_err();
    assert!(matches!(err.error, Error::NoSocket), "{err:?}");
    assert!(err.to_string().contains("no socket"), "{err}");
    assert!(format!("{err:?}").contains("Tagged"), "{err:?}");
    assert_eq!(err.dispatcher.tag, 7);
    assert_eq!(err.dispatcher.state, b"kept");
    assert!(!err.channel.is_open());
    assert!(map.is_empty());

    // The poller refuses the descriptor (epoll takes no /dev/null): the channel comes
    // back still open, with its flags, and can be used elsewhere.
    let null = std::fs::File::open("/dev/null").unwrap();
    let chan = Channel::from_file(null).unwrap();
    let fd = chan.fileno();
    match map.add(
        chan,
        Tagged {
            tag: 8,
            state: Vec::new(),
        },
    ) {
        Ok(_) => eprintln!("this poller takes /dev/null: the poller-refusal case is skipped"),
        Err(err) => {
            assert!(matches!(err.error, Error::Io(_)), "{err:?}");
            assert_eq!(err.dispatcher.tag, 8);
            assert!(err.channel.is_open());
            assert!(err.channel.connected);
            assert_eq!(err.channel.fileno(), fd);
            assert!(map.is_empty());
            assert!(!map.contains_fd(fd.unwrap()));
        }
    }
    asyncore::close_all(Some(&map), false).unwrap();

    // A good channel after a refused one: the map is unharmed; and `?` turns an
    // AddError into the crate's Error.
    fn add_bare(map: &Map, chan: Channel) -> Result<Handle<Tagged>> {
        Ok(map.add(
            chan,
            Tagged {
                tag: 9,
                state: Vec::new(),
            },
        )?)
    }
    assert!(matches!(
        add_bare(&map, Channel::new()),
        Err(Error::NoSocket)
    ));
    let (chan, _peer) = channel_pair();
    let h = add_bare(&map, chan).unwrap();
    assert_eq!(map.len(), 1);
    assert_eq!(h.borrow().tag, 9);
    h.close();
    assert!(map.is_empty());
}

#[test]
fn ipv6_loopback_works_when_available() {
    let Ok(l) = std::net::TcpListener::bind("[::1]:0") else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let addr = l.local_addr().unwrap();
    let map = Map::new().unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV6, Type::STREAM).unwrap();
    chan.connect(addr).unwrap();
    let (rec, log) = Recorder::new();
    map.add(chan, rec).unwrap();
    run_until(&map, LIMIT, || log.borrow().count("connect") == 1);
}

// ---------------------------------------------------------------------------
// on_close, whoever closes.

/// How a [`Closable`] closes itself when it reads.
#[derive(Clone, Copy, PartialEq, Debug)]
enum SelfClose {
    /// It does not: someone else closes it.
    No,
    /// `cx.close()`.
    Cx,
    /// `Handle::close` on a handle to itself, while its own handler runs.
    OwnHandle,
    /// Both, the handle first.
    OwnHandleThenCx,
}

struct Closable {
    how: SelfClose,
    /// (on_close calls, whether the channel was still open in one).
    closes: Rc<Cell<usize>>,
    open_in_on_close: Rc<Cell<bool>>,
    reads: usize,
}

impl Closable {
    fn new(how: SelfClose) -> (Closable, Rc<Cell<usize>>, Rc<Cell<bool>>) {
        let closes = Rc::new(Cell::new(0));
        let open = Rc::new(Cell::new(false));
        (
            Closable {
                how,
                closes: closes.clone(),
                open_in_on_close: open.clone(),
                reads: 0,
            },
            closes,
            open,
        )
    }
}

impl Dispatcher for Closable {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.reads += 1;
        let _ = cx.recv(100)?;
        match self.how {
            SelfClose::No => {}
            SelfClose::Cx => cx.close(),
            SelfClose::OwnHandle | SelfClose::OwnHandleThenCx => {
                let me = cx.handle::<Closable>().expect("a handle to itself");
                assert!(me.is_open());
                me.close(); // deferred: its handler is running
                me.close();
                assert!(!me.is_open(), "it has left the map");
                if self.how == SelfClose::OwnHandleThenCx {
                    cx.close();
                }
            }
        }
        // Nothing ran yet: on_close comes after this handler.
        assert_eq!(self.closes.get(), 0);
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
    fn on_close(&mut self, cx: &mut Cx<'_>) {
        self.closes.set(self.closes.get() + 1);
        self.open_in_on_close
            .set(self.open_in_on_close.get() || cx.is_open());
    }
}

/// Closes another channel through its handle when it reads.
struct Killer {
    target: Handle<Closable>,
}

impl Dispatcher for Killer {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let _ = cx.recv(100)?;
        self.target.close();
        self.target.close();
        Ok(())
    }
}

#[test]
fn on_close_runs_once_whoever_closes() {
    // By its own handler: cx.close(), Handle::close on itself (deferred, no panic),
    // or both.
    for how in [
        SelfClose::Cx,
        SelfClose::OwnHandle,
        SelfClose::OwnHandleThenCx,
    ] {
        let map = Map::new().unwrap();
        let (chan, mut peer) = channel_pair();
        let (d, closes, open) = Closable::new(how);
        let h = map.add(chan, d).unwrap();
        peer.write_all(b"x").unwrap();
        run_until(&map, LIMIT, || map.is_empty());
        assert_eq!(closes.get(), 1, "{how:?}");
        // Nothing more: not from the loop, nor from closing it again, nor from the
        // peer going away.
        drop(peer);
        map.run(Duration::from_millis(5), 3).unwrap();
        h.close();
        asyncore::close_all(Some(&map), false).unwrap();
        assert_eq!(closes.get(), 1, "{how:?}");
        assert!(!open.get(), "{how:?}: on_close saw an open channel");
        assert_eq!(h.borrow().reads, 1, "{how:?}");
        assert!(!h.is_open());
    }

    // By another channel's handler, through a Handle.
    {
        let map = Map::new().unwrap();
        let (chan, _peer) = channel_pair();
        let (d, closes, open) = Closable::new(SelfClose::No);
        let target = map.add(chan, d).unwrap();
        let (kchan, mut kpeer) = channel_pair();
        map.add(
            kchan,
            Killer {
                target: target.clone(),
            },
        )
        .unwrap();
        kpeer.write_all(b"x").unwrap();
        run_until(&map, LIMIT, || !target.is_open());
        assert_eq!(closes.get(), 1);
        assert_eq!(map.len(), 1);
        target.close();
        asyncore::close_all(Some(&map), false).unwrap();
        assert_eq!(closes.get(), 1);
        assert!(!open.get());
        assert!(map.is_empty());
    }

    // From outside any handler: Handle::close, Map::close_channel.
    {
        let map = Map::new().unwrap();
        let (chan, _peer) = channel_pair();
        let (d, closes, _) = Closable::new(SelfClose::No);
        let h = map.add(chan, d).unwrap();
        h.close();
        assert_eq!(closes.get(), 1, "on_close runs at once when nothing runs");
        h.close();
        assert_eq!(closes.get(), 1);

        let (chan, _peer) = channel_pair();
        let (d, closes, _) = Closable::new(SelfClose::No);
        let h = map.add(chan, d).unwrap();
        let id = h.id();
        assert!(map.close_channel(id));
        assert!(!map.close_channel(id));
        assert_eq!(closes.get(), 1);
        assert!(map.is_empty());
    }

    // Through a Handle while code outside the loop holds a borrow of the dispatcher,
    // or of its channel: no panic; on_close waits for the borrow, then runs once.
    for hold_channel in [false, true] {
        let map = Map::new().unwrap();
        let (chan, _peer) = channel_pair();
        let (d, closes, open) = Closable::new(SelfClose::No);
        let h = map.add(chan, d).unwrap();
        {
            let _held_d = (!hold_channel).then(|| h.borrow());
            let _held_c = hold_channel.then(|| h.channel());
            h.clone().close();
            assert!(!h.is_open());
            assert_eq!(map.len(), 0);
        }
        if !hold_channel {
            assert!(!h.channel().is_open(), "the socket closes at once");
        }
        map.poll(Duration::from_millis(5)).unwrap();
        map.poll(Duration::from_millis(5)).unwrap();
        assert!(!h.channel().is_open(), "hold channel: {hold_channel}");
        assert_eq!(closes.get(), 1, "hold channel: {hold_channel}");
        assert!(!open.get(), "hold channel: {hold_channel}");
        h.close();
        map.poll(Duration::from_millis(5)).unwrap();
        assert_eq!(closes.get(), 1, "hold channel: {hold_channel}");
    }

    // By close_all, twice.
    {
        let map = Map::new().unwrap();
        let mut all = Vec::new();
        for _ in 0..3 {
            let (chan, peer) = channel_pair();
            let (d, closes, open) = Closable::new(SelfClose::No);
            let h = map.add(chan, d).unwrap();
            all.push((h, closes, open, peer));
        }
        asyncore::close_all(Some(&map), false).unwrap();
        asyncore::close_all(Some(&map), false).unwrap();
        assert!(map.is_empty());
        for (h, closes, open, _peer) in &all {
            assert_eq!(closes.get(), 1);
            assert!(!open.get());
            assert!(!h.is_open());
        }
        map.run(Duration::from_millis(5), 3).unwrap();
        assert!(all.iter().all(|(_, closes, _, _)| closes.get() == 1));
    }
}

// ---------------------------------------------------------------------------
// Handles between two channels: a control channel and its data channel.

struct Control {
    data: Option<Handle<Data>>,
    weak_data: WeakHandle<Data>,
    dropped: Rc<Cell<usize>>,
    _token: Rc<()>,
}

struct Data {
    control: Option<Handle<Control>>,
    weak_control: WeakHandle<Control>,
    dropped: Rc<Cell<usize>>,
    _token: Rc<()>,
}

impl Drop for Control {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        self.dropped.set(self.dropped.get() + 1);
    }
}

impl Dispatcher for Control {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let _ = cx.recv(100)?;
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
    /// The data channel belongs to this one: it closes with it.
    fn on_close(&mut self, _cx: &mut Cx<'_>) {
        if let Some(d) = self.data.clone().or_else(|| self.weak_data.upgrade()) {
            d.close();
        }
    }
}

impl Dispatcher for Data {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let _ = cx.recv(100)?;
        Ok(())
    }
}

/// A control and a data channel in `map`, linked strongly or weakly each way; the
/// peers of their sockets; the drop counter; a token each dispatcher holds a clone of.
#[allow(clippy::type_complexity)]
fn linked_pair(
    map: &Map,
    control_strong: bool,
    data_strong: bool,
) -> (
    WeakHandle<Control>,
    WeakHandle<Data>,
    (TcpStream, TcpStream),
    Rc<Cell<usize>>,
    Rc<()>,
) {
    let dropped = Rc::new(Cell::new(0));
    let token = Rc::new(());
    let (dchan, dpeer) = channel_pair();
    let data = map
        .add(
            dchan,
            Data {
                control: None,
                weak_control: WeakHandle::default(),
                dropped: dropped.clone(),
                _token: token.clone(),
            },
        )
        .unwrap();
    let (cchan, cpeer) = channel_pair();
    let control = map
        .add(
            cchan,
            Control {
                data: control_strong.then(|| data.clone()),
                weak_data: data.downgrade(),
                dropped: dropped.clone(),
                _token: token.clone(),
            },
        )
        .unwrap();
    {
        let mut d = data.borrow_mut();
        if data_strong {
            d.control = Some(control.clone());
        }
        d.weak_control = control.downgrade();
    }
    assert!(data.borrow().weak_control.is_open());
    assert!(control.borrow().weak_data.is_open());
    (
        control.downgrade(),
        data.downgrade(),
        (cpeer, dpeer),
        dropped,
        token,
    )
}

#[test]
fn a_control_and_data_pair_holding_weak_handles_are_both_dropped() {
    // Control -> data strong, data -> control weak (the docs' advice); then weak
    // both ways.
    for control_strong in [true, false] {
        let map = Map::new().unwrap();
        let (control, data, (cpeer, _dpeer), dropped, token) =
            linked_pair(&map, control_strong, false);
        assert_eq!(map.len(), 2);
        // The control connection ends; its on_close closes the data channel.
        drop(cpeer);
        run_until(&map, LIMIT, || map.is_empty());
        assert_eq!(
            dropped.get(),
            2,
            "control strong: {control_strong}: a dispatcher was kept alive"
        );
        assert!(control.upgrade().is_none());
        assert!(data.upgrade().is_none());
        assert!(!control.is_open() && !data.is_open());
        assert_eq!(Rc::strong_count(&token), 1);
    }
}

#[test]
fn strong_handles_both_ways_leak() {
    let map = Map::new().unwrap();
    let (control, data, (cpeer, _dpeer), dropped, token) = linked_pair(&map, true, true);
    drop(cpeer);
    run_until(&map, LIMIT, || map.is_empty());
    // Both channels closed and left the map, but each dispatcher keeps the other
    // alive: a reference cycle, as the docs warn.
    assert_eq!(dropped.get(), 0, "the cycle was broken");
    assert_eq!(Rc::strong_count(&token), 3);
    let (c, d) = (control.upgrade().unwrap(), data.upgrade().unwrap());
    assert!(!c.is_open() && !d.is_open());
    drop((c, d));
    // Breaking one link frees both.
    control.upgrade().unwrap().borrow_mut().data = None;
    assert_eq!(dropped.get(), 2);
    assert_eq!(Rc::strong_count(&token), 1);
    assert!(control.upgrade().is_none() && data.upgrade().is_none());
}

// ---------------------------------------------------------------------------
// Reconnecting inside a handler.

/// Connects to a refused address first; `handle_error` then reconnects, in place, to
/// a listener.
struct Redial {
    good: std::net::SocketAddr,
    errors: Vec<String>,
    connects: usize,
    closes: usize,
    ids: Vec<asyncore::ChannelId>,
    in_map_after_redial: Option<bool>,
}

impl Dispatcher for Redial {
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected
    }
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.connects += 1;
        self.ids.push(cx.id());
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let _ = cx.recv(100)?;
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        self.errors.push(err.to_string());
        self.ids.push(cx.id());
        cx.close();
        cx.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        cx.connect(self.good).unwrap();
        self.in_map_after_redial = Some(cx.is_open() && cx.connecting);
    }
    fn on_close(&mut self, _cx: &mut Cx<'_>) {
        self.closes += 1;
    }
}

#[test]
fn reconnect_inside_a_handler_keeps_the_dispatcher_in_the_map() {
    let (listener, good) = std_listener();
    let map = Map::new().unwrap();
    let h = map
        .add(
            connecting_channel(refused_address()),
            Redial {
                good,
                errors: Vec::new(),
                connects: 0,
                closes: 0,
                ids: Vec::new(),
                in_map_after_redial: None,
            },
        )
        .unwrap();
    run_until(&map, LIMIT, || h.borrow().connects == 1);
    let (mut accepted, _) = listener.accept().unwrap();
    {
        let d = h.borrow();
        assert_eq!(d.errors.len(), 1, "{:?}", d.errors);
        assert!(d.errors[0].contains("refused"), "{:?}", d.errors);
        assert_eq!(d.in_map_after_redial, Some(true));
        assert_eq!(d.closes, 0, "a reconnect is not a close");
        // Back in the map, under a new id the handle follows.
        assert_ne!(d.ids[0], d.ids[1]);
        assert_eq!(h.id(), d.ids[1]);
    }
    assert!(h.is_open());
    assert_eq!(map.len(), 1);
    assert!(map.get::<Redial>(h.id()).is_some());
    {
        let c = h.channel();
        assert!(c.connected && !c.connecting);
        assert_eq!(c.addr().unwrap().as_socket(), Some(good));
    }
    // The new connection works: the listener's end closing reaches handle_close.
    accepted.write_all(b"hi").unwrap();
    drop(accepted);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(h.borrow().closes, 1);
    assert_eq!(h.borrow().errors.len(), 1);
}

/// `recv_buf` lends the thread's read buffer: what is waiting (up to 256 KiB per call),
/// `WouldBlock` when nothing is, empty once the peer closed (and `handle_close` then
/// runs, as after `recv`).
#[test]
fn recv_buf_reads_what_is_waiting_then_eof() {
    use std::io::Write;

    struct Reader {
        got: Rc<RefCell<Vec<u8>>>,
        reads: Rc<Cell<usize>>,
        closed: Rc<Cell<bool>>,
    }
    impl Dispatcher for Reader {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let data = cx.recv_buf()?;
            assert!(data.len() <= 256 * 1024);
            self.reads.set(self.reads.get() + 1);
            self.got.borrow_mut().extend_from_slice(&data);
            Ok(())
        }
        fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            self.closed.set(true);
            cx.close();
            Ok(())
        }
    }

    let (chan, mut peer) = channel_pair();
    let got = Rc::new(RefCell::new(Vec::new()));
    let reads = Rc::new(Cell::new(0));
    let closed = Rc::new(Cell::new(false));
    let map = Map::new().unwrap();
    map.add(
        chan,
        Reader {
            got: got.clone(),
            reads: reads.clone(),
            closed: closed.clone(),
        },
    )
    .unwrap();
    let sent: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    peer.write_all(&sent).unwrap();
    drop(peer);
    run_until(&map, Duration::from_secs(10), || closed.get());
    assert_eq!(*got.borrow(), sent, "every byte, in order");
    assert!(
        reads.get() >= 2,
        "at most 256 KiB per read: {} reads",
        reads.get()
    );
    assert!(map.is_empty());
}
