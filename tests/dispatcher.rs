//! The handlers and their defaults, on real loopback sockets.

mod util;

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{Channel, Dispatcher, Domain, Error, Map, Result, Type};
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

fn connecting_recorder(addr: std::net::SocketAddr) -> (Recorder, SharedLog) {
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(addr).unwrap();
    assert!(chan.connecting);
    assert!(!chan.connected);
    Recorder::new(chan)
}

#[test]
fn handle_connect_is_called_once_and_then_connected() {
    let (listener, addr) = std_listener();
    let map = Map::new().unwrap();
    let (rec, log) = connecting_recorder(addr);
    let h = map.add(rec).unwrap();
    run_until(&map, LIMIT, || log.borrow().count("connect") == 1);
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    assert_eq!(log.borrow().count("connect"), 1);
    let c = h.borrow();
    assert!(c.chan.connected);
    assert!(!c.chan.connecting);
    assert_eq!(c.chan.addr.as_ref().unwrap().as_socket(), Some(addr));
    drop(listener);
}

#[test]
fn refused_connect_goes_to_handle_error_never_handle_connect() {
    let addr = refused_address();
    let map = Map::new().unwrap();
    let (rec, log) = connecting_recorder(addr);
    map.add(rec).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.count("connect"), 0, "{:?}", log.events);
    assert_eq!(log.count("error"), 1, "{:?}", log.events);
    assert!(log.errors[0].contains("refused"), "{:?}", log.errors);
}

#[test]
fn default_handle_error_closes_the_refused_channel() {
    struct Plain {
        chan: Channel,
        connected: Rc<RefCell<bool>>,
    }
    impl Dispatcher for Plain {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn handle_connect(&mut self) -> Result<()> {
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
        .add(Plain {
            chan,
            connected: connected.clone(),
        })
        .unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(!*connected.borrow());
    assert!(!h.is_open());
}

#[test]
fn accept_adds_connections_while_the_loop_runs() {
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    let (server, log) = Recorder::new(chan);
    map.add(server).unwrap();
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
    let (mut server, log) = Recorder::new(chan);
    server.writable = true;
    map.add(server).unwrap();
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
    let (rec, log) = Recorder::new(chan);
    map.add(rec).unwrap();
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
    let (rec, log) = Recorder::new(chan);
    map.add(rec).unwrap();
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
    let (mut rec, log) = Recorder::new(chan);
    rec.readable = false;
    rec.out = vec![7; 4 << 20];
    socket2::SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    map.add(rec).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.count("close"), 1, "{:?}", log.events);
    assert!(log.errors.is_empty(), "{:?}", log.errors);
}

#[test]
fn handle_write_sends_everything_queued() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let (mut rec, _log) = Recorder::new(chan);
    let payload: Vec<u8> = (0..2_000_000u32).map(|i| i as u8).collect();
    rec.out = payload.clone();
    rec.readable = false;
    let h = map.add(rec).unwrap();
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
    let (mut rec, log) = Recorder::new(chan);
    rec.readable = true;
    map.add(rec).unwrap();
    socket2::SockRef::from(&peer)
        .send_out_of_band(b"!")
        .unwrap();
    run_until(&map, LIMIT, || log.borrow().count("expt") >= 1);
}

#[test]
fn an_error_from_a_handler_reaches_handle_error() {
    struct Failing {
        chan: Channel,
        seen: Rc<RefCell<Vec<String>>>,
    }
    impl Dispatcher for Failing {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn handle_read(&mut self) -> Result<()> {
            Err(Error::other("bad greeting"))
        }
        fn writable(&mut self) -> bool {
            false
        }
        fn handle_error(&mut self, err: Error) {
            self.seen.borrow_mut().push(err.to_string());
            self.chan.close();
        }
    }
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let seen = Rc::new(RefCell::new(Vec::new()));
    map.add(Failing {
        chan,
        seen: seen.clone(),
    })
    .unwrap();
    peer.write_all(b"x").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(*seen.borrow(), vec!["bad greeting".to_string()]);
}

#[test]
fn a_panicking_handler_closes_only_its_channel() {
    struct Panicky {
        chan: Channel,
    }
    impl Dispatcher for Panicky {
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
            panic!("boom");
        }
    }
    let map = Map::new().unwrap();
    let (bad, mut bad_peer) = channel_pair();
    let (good, mut good_peer) = channel_pair();
    let bad = map.add(Panicky { chan: bad }).unwrap();
    let (rec, log) = Recorder::new(good);
    let good = map.add(rec).unwrap();
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
    struct BadPredicate {
        chan: Channel,
    }
    impl Dispatcher for BadPredicate {
        fn channel(&self) -> &Channel {
            &self.chan
        }
        fn channel_mut(&mut self) -> &mut Channel {
            &mut self.chan
        }
        fn readable(&mut self) -> bool {
            panic!("predicate")
        }
    }
    let map = Map::new().unwrap();
    let (chan, _peer) = channel_pair();
    map.add(BadPredicate { chan }).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
}

#[test]
fn exit_now_ends_the_loop_and_reaches_the_caller() {
    struct Quitter {
        chan: Channel,
    }
    impl Dispatcher for Quitter {
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
            Err(Error::ExitNow)
        }
    }
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    map.add(Quitter { chan }).unwrap();
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
    let (rec, _log) = Recorder::new(chan);
    let h = map.add(rec).unwrap();
    h.close();
    h.close();
    h.borrow_mut().chan.close();
    assert!(map.is_empty());
    assert!(!h.is_open());
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
    let (rec, _log) = Recorder::new(Channel::new());
    assert!(matches!(map.add(rec), Err(Error::NoSocket)));
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
    let (rec, log) = Recorder::new(chan);
    map.add(rec).unwrap();
    run_until(&map, LIMIT, || log.borrow().count("connect") == 1);
}
