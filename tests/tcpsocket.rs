//! The asycamore-style helpers of `asyncore::tcpsocket`, on loopback sockets.

mod util;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::tcpsocket::{
    AcceptingSocket, Connect, DataReader, ReadEnd, ReadStep, Sent, WriteIterable, WriteStep,
    Writing, connect_tcp, data_reader, getsockerr, listen_tcp, server_accept, socket_reader,
    socket_writer, write_iterable,
};
use asyncore::{Channel, Cx, Dispatcher, Error, Map, Result, SockAddr, Socket};
use socket2::SockRef;
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

/// Calls `f` until it gives a value, sleeping a little between tries; fails the test
/// after [`LIMIT`].
fn wait_for<T>(mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < LIMIT,
            "condition not reached within {LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Closes `stream` with SO_LINGER 0: the peer gets a reset (ECONNRESET), not a FIN.
fn reset(stream: TcpStream) {
    SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

// ---------------------------------------------------------------------------------
// connect_tcp

type ErrorKinds = Rc<RefCell<Vec<io::ErrorKind>>>;

/// Records connect events and errors; wants write events until connected.
struct ConnectProbe {
    connects: Rc<Cell<usize>>,
    errors: ErrorKinds,
}

impl ConnectProbe {
    fn new() -> (ConnectProbe, Rc<Cell<usize>>, ErrorKinds) {
        let connects = Rc::new(Cell::new(0));
        let errors = Rc::new(RefCell::new(Vec::new()));
        let probe = ConnectProbe {
            connects: connects.clone(),
            errors: errors.clone(),
        };
        (probe, connects, errors)
    }
}

impl Dispatcher for ConnectProbe {
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected
    }
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected
    }
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.connects.set(self.connects.get() + 1);
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        match err {
            Error::Io(e) => self.errors.borrow_mut().push(e.kind()),
            other => panic!("unexpected error {other}"),
        }
        cx.close();
    }
}

#[test]
fn connect_tcp_is_reported_once_by_the_loop_however_it_started() {
    let (listener, addr) = std_listener();
    let map = Map::new().unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        let mut chan = Channel::new();
        let how = connect_tcp(&mut chan, addr).unwrap();
        seen.push(how);
        assert!(chan.connecting && !chan.connected);
        let (probe, connects, errors) = ConnectProbe::new();
        let handle = map.add(chan, probe).unwrap();
        run_until(&map, LIMIT, || connects.get() > 0);
        for _ in 0..3 {
            map.poll(Some(Duration::from_millis(1))).unwrap();
        }
        assert_eq!(connects.get(), 1, "one connect event for {how:?}");
        assert!(errors.borrow().is_empty());
        let c = handle.channel();
        assert!(c.connected && !c.connecting);
        drop(c);
        handle.close();
        listener.accept().unwrap();
    }
    eprintln!("connect_tcp on loopback TCP: {seen:?}");
}

#[test]
fn an_immediate_connect_is_reported_by_the_loop_like_any_other() {
    // A Unix stream connect to a listening socket completes during the call: the
    // "immediate" case asycamore left to its caller.
    let path = std::env::temp_dir().join(format!("asyncore-tcpsocket-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let mut chan = Channel::new();
    let how = connect_tcp(&mut chan, SockAddr::unix(&path).unwrap()).unwrap();
    assert_eq!(how, Connect::Immediate);
    assert!(how.is_immediate());
    assert!(
        chan.connecting && !chan.connected,
        "the loop reports it, not the call"
    );

    let map = Map::new().unwrap();
    let (probe, connects, errors) = ConnectProbe::new();
    let handle = map.add(chan, probe).unwrap();
    run_until(&map, LIMIT, || connects.get() > 0);
    for _ in 0..3 {
        map.poll(Some(Duration::from_millis(1))).unwrap();
    }
    assert_eq!(connects.get(), 1);
    assert!(errors.borrow().is_empty());
    assert!(handle.channel().connected);
    handle.close();
    drop(listener);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_refused_connect_is_an_error_not_a_connect() {
    let mut chan = Channel::new();
    match connect_tcp(&mut chan, refused_address()) {
        // Some systems refuse a local connect during the call.
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused),
        Ok(how) => {
            assert_eq!(how, Connect::InProgress);
            let map = Map::new().unwrap();
            let (probe, connects, errors) = ConnectProbe::new();
            map.add(chan, probe).unwrap();
            run_until(&map, LIMIT, || map.is_empty());
            assert_eq!(connects.get(), 0);
            assert_eq!(*errors.borrow(), [io::ErrorKind::ConnectionRefused]);
        }
    }
}

// ---------------------------------------------------------------------------------
// getsockerr

#[test]
fn getsockerr_reads_and_clears_the_pending_error() {
    let sock = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    assert_eq!(getsockerr(&sock), "no error");
    sock.set_nonblocking(true).unwrap();
    let addr = refused_address();
    match sock.connect(&addr.into()) {
        Err(e) if e.raw_os_error() == Some(115) || e.kind() == io::ErrorKind::WouldBlock => {
            // Wait for the outcome without reading SO_ERROR.
            let mut poll = mio::Poll::new().unwrap();
            let mut events = mio::Events::with_capacity(4);
            let fd = std::os::fd::AsRawFd::as_raw_fd(&sock);
            poll.registry()
                .register(
                    &mut mio::unix::SourceFd(&fd),
                    mio::Token(0),
                    mio::Interest::WRITABLE,
                )
                .unwrap();
            poll.poll(&mut events, Some(LIMIT)).unwrap();
            assert!(!events.is_empty(), "the connect did not finish");
            let text = getsockerr(&sock);
            let expected = io::Error::from(io::ErrorKind::ConnectionRefused);
            assert!(
                text.contains("refused"),
                "{text:?} should read like {expected}"
            );
            assert!(text.contains("os error"), "{text:?}");
            assert_eq!(getsockerr(&sock), "no error", "reading it clears it");
        }
        Err(e) => {
            // Refused during the call: the error was reported then, and nothing is
            // left pending.
            assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
            assert_eq!(getsockerr(&sock), "no error");
        }
        Ok(()) => panic!("connected to a closed port"),
    }
}

// ---------------------------------------------------------------------------------
// listen_tcp, server_accept, AcceptingSocket

#[test]
fn listen_tcp_makes_a_non_blocking_reusable_listener() {
    let mut chan = Channel::new();
    let addr = listen_tcp(&mut chan, Ipv4Addr::LOCALHOST.into(), 0, 8).unwrap();
    assert_ne!(addr.port(), 0);
    assert_eq!(chan.local_addr().unwrap().as_socket(), Some(addr));
    assert!(chan.accepting);
    let sock = chan.socket().unwrap();
    assert!(sock.reuse_address().unwrap());
    assert!(sock.nonblocking().unwrap());

    // Nothing waiting: the accept would block, and the factory is not called.
    let called = Cell::new(false);
    let none = server_accept(&mut chan, |_, _| {
        called.set(true);
        Ok(())
    })
    .unwrap();
    assert!(none.is_none() && !called.get());

    let client = TcpStream::connect(addr).unwrap();
    let client_addr = client.local_addr().unwrap();
    let (sock, peer) =
        wait_for(|| server_accept(&mut chan, |sock, peer| Ok((sock, peer))).unwrap());
    assert_eq!(peer.as_socket(), Some(client_addr));
    assert!(
        sock.nonblocking().unwrap(),
        "accepted sockets are non-blocking"
    );
    let mut buf = [0u8; 4];
    assert_eq!(
        (&sock).read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock
    );
}

#[test]
fn listen_tcp_on_a_port_in_use_fails() {
    let (_listener, addr) = std_listener();
    let mut chan = Channel::new();
    let err = listen_tcp(&mut chan, addr.ip(), addr.port(), 8).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    assert!(!chan.accepting);
}

#[test]
fn server_accept_returns_the_factorys_error() {
    let mut chan = Channel::new();
    let addr = listen_tcp(&mut chan, Ipv4Addr::LOCALHOST.into(), 0, 8).unwrap();
    let _client = TcpStream::connect(addr).unwrap();
    let err = wait_for(|| {
        match server_accept(&mut chan, |_, _| -> Result<()> {
            Err(Error::other("no thanks"))
        }) {
            Ok(None) => None,
            Ok(Some(())) => panic!("the factory failed"),
            Err(e) => Some(e),
        }
    });
    assert_eq!(err.to_string(), "no thanks");
}

#[test]
fn accepting_socket_hands_each_connection_to_the_factory_and_outlives_its_failures() {
    let map = Map::new().unwrap();
    let kept: Rc<RefCell<Vec<Socket>>> = Rc::default();
    let calls = Rc::new(Cell::new(0usize));
    let (k, c) = (kept.clone(), calls.clone());
    let server = AcceptingSocket::listen(
        &map,
        Ipv4Addr::LOCALHOST.into(),
        0,
        16,
        move |sock: Socket, _peer: SockAddr, _map: &Map| {
            c.set(c.get() + 1);
            assert!(sock.nonblocking().unwrap());
            if c.get() % 2 == 0 {
                return Err(Error::other("refusing every second connection"));
            }
            k.borrow_mut().push(sock);
            Ok(())
        },
    )
    .unwrap();
    let addr = server.borrow().local_addr().unwrap();

    let clients: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(addr).unwrap()).collect();
    run_until(&map, LIMIT, || calls.get() == 6);
    assert!(
        server.is_open(),
        "a failing factory does not close the listener"
    );
    assert_eq!(server.borrow().accepted(), 6);
    assert_eq!(kept.borrow().len(), 3);

    // The refused connections were dropped: their clients read the end of the stream.
    let mut ended = 0;
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if let Ok(0) = c.read(&mut [0u8; 1]) {
            ended += 1;
        }
    }
    assert_eq!(ended, 3);
    server.close();
}

// ---------------------------------------------------------------------------------
// socket_reader

#[test]
fn socket_reader_yields_would_block_then_data_then_ends_at_eof() {
    let (mut chan, mut peer) = channel_pair();
    assert_eq!(
        socket_reader(&mut chan, 4).next(),
        Some(ReadStep::WouldBlock)
    );

    peer.write_all(b"0123456789").unwrap();
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    wait_for(|| {
        let mut reader = socket_reader(&mut chan, 4);
        while let Some(ReadStep::Data(d)) = reader.next() {
            sizes.push(d.len());
            got.extend(d);
        }
        assert!(reader.end().is_none());
        (got.len() == 10).then_some(())
    });
    assert_eq!(got, b"0123456789");
    assert!(sizes.iter().all(|&n| n <= 4), "{sizes:?}");

    peer.shutdown(Shutdown::Write).unwrap();
    let end = wait_for(|| {
        let mut reader = socket_reader(&mut chan, 4);
        match reader.next() {
            Some(ReadStep::WouldBlock) => None,
            Some(ReadStep::Data(d)) => panic!("unexpected data {d:?}"),
            None => Some(reader.take_end().unwrap()),
        }
    });
    assert!(matches!(end, ReadEnd::Eof));
    end.into_result().unwrap();
}

#[test]
fn socket_reader_ends_with_connection_reset_when_the_peer_aborts() {
    let (mut chan, peer) = channel_pair();
    reset(peer);
    let end = wait_for(|| {
        let mut reader = socket_reader(&mut chan, 8192);
        match reader.next() {
            Some(ReadStep::WouldBlock) => None,
            Some(ReadStep::Data(d)) => panic!("unexpected data {d:?}"),
            None => reader.take_end(),
        }
    });
    match end {
        ReadEnd::Error(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
        ReadEnd::Eof => panic!("a reset read as an orderly close"),
    }
}

/// Reads one step of one byte per `handle_read`: the loop must keep calling while data
/// waits (the reader keeps the readiness bookkeeping) and stop when it would block.
struct ByteReader {
    got: Rc<RefCell<Vec<u8>>>,
    end: Rc<RefCell<Option<ReadEnd>>>,
}

impl Dispatcher for ByteReader {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let mut reader = socket_reader(cx.channel_mut(), 1);
        match reader.next() {
            Some(ReadStep::Data(d)) => self.got.borrow_mut().extend(d),
            Some(ReadStep::WouldBlock) => {}
            None => {
                *self.end.borrow_mut() = reader.take_end();
                cx.close();
            }
        }
        Ok(())
    }
}

#[test]
fn socket_reader_one_byte_per_event_still_gets_the_whole_stream() {
    let (chan, mut peer) = channel_pair();
    let data = pattern(100_000, 7);
    let map = Map::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let end = Rc::new(RefCell::new(None));
    map.add(
        chan,
        ByteReader {
            got: got.clone(),
            end: end.clone(),
        },
    )
    .unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        peer.write_all(&sent).unwrap();
    });
    run_until(&map, LIMIT * 3, || map.is_empty());
    writer.join().unwrap();
    assert_eq!(got.borrow().len(), data.len());
    assert!(*got.borrow() == data);
    assert!(matches!(*end.borrow(), Some(ReadEnd::Eof)));
}

// ---------------------------------------------------------------------------------
// socket_writer

#[test]
fn socket_writer_would_block_on_a_full_socket_and_resumes_from_its_offset() {
    let (mut chan, mut peer) = channel_pair();
    let data = pattern(16 * 1024 * 1024, 3);
    let mut offset = 0;
    let mut blocked = false;
    {
        let mut writer = socket_writer(&mut chan, &data);
        for step in writer.by_ref() {
            match step {
                WriteStep::Sent(n) => assert!(n > 0),
                WriteStep::WouldBlock => {
                    blocked = true;
                    break;
                }
            }
        }
        assert!(writer.error().is_none());
        offset += writer.sent();
    }
    assert!(blocked, "a peer that does not read fills the socket");
    assert!(offset > 0 && offset < data.len());

    let expected = data.clone();
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert!(got == expected, "the peer got the data in order");
    });
    wait_for(|| {
        let mut writer = socket_writer(&mut chan, &data[offset..]);
        while let Some(WriteStep::Sent(_)) = writer.next() {}
        assert!(writer.error().is_none(), "{:?}", writer.error());
        offset += writer.sent();
        writer.is_complete().then_some(())
    });
    assert_eq!(offset, data.len());
    drop(chan);
    reader.join().unwrap();
}

#[test]
fn socket_writer_ends_with_the_error_when_the_peer_resets() {
    let (mut chan, peer) = channel_pair();
    reset(peer);
    let data = vec![1u8; 64 * 1024];
    let err = wait_for(|| {
        let mut writer = socket_writer(&mut chan, &data);
        for _ in writer.by_ref() {}
        writer.take_error()
    });
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
}

#[test]
fn socket_writer_of_nothing_is_complete_at_once() {
    let (mut chan, _peer) = channel_pair();
    let mut writer = socket_writer(&mut chan, b"");
    assert_eq!(writer.next(), None);
    assert!(writer.is_complete());
}

// ---------------------------------------------------------------------------------
// write_iterable

type Calls = Rc<RefCell<Vec<(u8, Sent)>>>;
type Recorded = Box<dyn FnMut(&Vec<u8>, Sent)>;

/// Records `(first byte or b'-' for an empty item, when)` for every callback.
fn recorder(calls: &Calls) -> Recorded {
    let calls = calls.clone();
    Box::new(move |item: &Vec<u8>, when| {
        calls
            .borrow_mut()
            .push((item.first().copied().unwrap_or(b'-'), when))
    })
}

struct Sender {
    out: WriteIterable<std::vec::IntoIter<Vec<u8>>, Recorded>,
    writes: Rc<Cell<usize>>,
    blocked: Rc<Cell<usize>>,
}

impl Dispatcher for Sender {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected || !self.out.is_finished()
    }
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.writes.set(self.writes.get() + 1);
        match self.out.handle_write(cx.channel_mut())? {
            Writing::Blocked => self.blocked.set(self.blocked.get() + 1),
            Writing::Finished => cx.close(),
            Writing::ItemSent => unreachable!("handle_write goes on to the next item"),
        }
        Ok(())
    }
}

#[test]
fn write_iterable_calls_for_each_in_order_while_items_span_several_writes() {
    let (listener, addr) = std_listener();
    let items: Vec<Vec<u8>> = vec![
        vec![b'a'; 300_000],
        vec![b'b'; 10],
        Vec::new(),
        vec![b'c'; 700_000],
    ];
    let expected: Vec<u8> = items.concat();

    // A slow reader: small reads with pauses, so the sender's socket fills up.
    let want = expected.len();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        while got.len() < want {
            let n = conn.read(&mut buf).unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
            if got.len() % 16 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
        got
    });

    let mut chan = Channel::new();
    connect_tcp(&mut chan, addr).unwrap();
    chan.socket()
        .unwrap()
        .set_send_buffer_size(16 * 1024)
        .unwrap();
    let calls = Calls::default();
    let writes = Rc::new(Cell::new(0));
    let blocked = Rc::new(Cell::new(0));
    let map = Map::new().unwrap();
    map.add(
        chan,
        Sender {
            out: write_iterable(items, recorder(&calls), true),
            writes: writes.clone(),
            blocked: blocked.clone(),
        },
    )
    .unwrap();
    run_until(&map, LIMIT * 3, || map.is_empty());
    let got = reader.join().unwrap();
    assert!(got == expected, "the items arrived in order");
    assert!(blocked.get() > 0, "items spanned several writes");
    assert!(writes.get() > blocked.get());

    use Sent::*;
    let want = [
        (b'a', Before),
        (b'a', AfterFirst),
        (b'a', Done),
        (b'b', Before),
        (b'b', AfterFirst),
        (b'b', Done),
        (b'-', Before),
        (b'-', AfterFirst),
        (b'-', Done),
        (b'c', Before),
        (b'c', AfterFirst),
        (b'c', Done),
    ];
    assert_eq!(*calls.borrow(), want);
}

#[test]
fn write_iterable_without_before_and_after_reports_only_done() {
    let (mut chan, mut peer) = channel_pair();
    let calls = Calls::default();
    let mut out = write_iterable(
        vec![b"x1".to_vec(), b"y22".to_vec()],
        recorder(&calls),
        false,
    );
    assert_eq!(out.write_item(&mut chan).unwrap(), Writing::ItemSent);
    assert_eq!(*calls.borrow(), [(b'x', Sent::Done)]);
    assert!(!out.is_finished());
    assert_eq!(out.handle_write(&mut chan).unwrap(), Writing::Finished);
    assert!(out.is_finished() && out.in_progress().is_none());
    assert_eq!(*calls.borrow(), [(b'x', Sent::Done), (b'y', Sent::Done)]);
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"x1y22");
}

/// An iterator over a queue that can be refilled.
#[derive(Default)]
struct Queue(VecDeque<Vec<u8>>);

impl Iterator for Queue {
    type Item = Vec<u8>;
    fn next(&mut self) -> Option<Vec<u8>> {
        self.0.pop_front()
    }
}

#[test]
fn write_iterable_resumes_when_its_queue_is_refilled() {
    let (mut chan, mut peer) = channel_pair();
    let calls = Calls::default();
    let mut out = write_iterable(Queue::default(), recorder(&calls), false);
    assert_eq!(out.handle_write(&mut chan).unwrap(), Writing::Finished);
    out.iter_mut().0.push_back(b"later".to_vec());
    assert_eq!(out.handle_write(&mut chan).unwrap(), Writing::Finished);
    assert_eq!(*calls.borrow(), [(b'l', Sent::Done)]);
    let mut got = [0u8; 5];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"later");
}

#[test]
fn write_iterable_returns_a_reset_and_keeps_the_item_in_progress() {
    let (mut chan, peer) = channel_pair();
    reset(peer);
    let calls = Calls::default();
    let big = vec![b'z'; 4 * 1024 * 1024];
    let mut out = write_iterable(vec![big], recorder(&calls), true);
    let err = wait_for(|| match out.handle_write(&mut chan) {
        Ok(Writing::Blocked) => None,
        Ok(other) => panic!("{other:?} after a reset"),
        Err(e) => Some(e),
    });
    assert!(
        matches!(
            err.kind(),
            io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
        ),
        "{err:?}"
    );
    assert!(out.in_progress().is_some());
    assert!(!calls.borrow().contains(&(b'z', Sent::Done)));
    assert!(out.discard_in_progress().is_some());
    assert!(out.in_progress().is_none());
}

// ---------------------------------------------------------------------------------
// data_reader

type Collect = Box<dyn FnMut(&[u8]) -> Result<()>>;
type Reads = Rc<RefCell<Vec<Vec<u8>>>>;
type Errors = Rc<RefCell<Vec<String>>>;

struct Collector {
    reader: DataReader<Collect>,
    errors: Rc<RefCell<Vec<String>>>,
}

impl Dispatcher for Collector {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.reader.handle_read(cx.channel_mut())
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        self.errors.borrow_mut().push(err.to_string());
        cx.close();
    }
}

fn collector(buffer: usize) -> (Collector, Reads, Errors) {
    let reads: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let errors: Rc<RefCell<Vec<String>>> = Rc::default();
    let r = reads.clone();
    let for_each: Collect = Box::new(move |data: &[u8]| {
        assert!(!data.is_empty(), "for_each gets only non-empty reads");
        r.borrow_mut().push(data.to_vec());
        Ok(())
    });
    let c = Collector {
        reader: data_reader(for_each).with_buffer_size(buffer),
        errors: errors.clone(),
    };
    (c, reads, errors)
}

#[test]
fn data_reader_passes_every_read_on_and_closes_at_eof() {
    let (chan, mut peer) = channel_pair();
    let data = pattern(300_000, 11);
    let (c, reads, errors) = collector(4096);
    let map = Map::new().unwrap();
    map.add(chan, c).unwrap();
    let sent = data.clone();
    let writer = std::thread::spawn(move || {
        peer.write_all(&sent).unwrap();
        // Dropped here: the end of the stream.
    });
    run_until(&map, LIMIT, || map.is_empty());
    writer.join().unwrap();
    assert!(errors.borrow().is_empty(), "{:?}", errors.borrow());
    assert!(reads.borrow().iter().all(|r| r.len() <= 4096));
    assert!(reads.borrow().concat() == data);
}

#[test]
fn data_reader_reports_a_reset_as_an_error() {
    let (chan, mut peer) = channel_pair();
    let (c, reads, errors) = collector(4096);
    let map = Map::new().unwrap();
    map.add(chan, c).unwrap();
    peer.write_all(b"before").unwrap();
    run_until(&map, LIMIT, || !reads.borrow().is_empty());
    reset(peer);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(reads.borrow().concat(), b"before");
    let errors = errors.borrow();
    assert_eq!(errors.len(), 1);
    let reset_text = io::Error::from(io::ErrorKind::ConnectionReset).to_string();
    assert!(
        errors[0].contains("reset") || errors[0].contains(&reset_text),
        "{errors:?}"
    );
}

#[test]
fn an_error_from_for_each_stops_the_reading_and_reaches_handle_error() {
    let (chan, mut peer) = channel_pair();
    let errors: Rc<RefCell<Vec<String>>> = Rc::default();
    let for_each: Collect = Box::new(|_: &[u8]| Err(Error::other("bad data")));
    let map = Map::new().unwrap();
    map.add(
        chan,
        Collector {
            reader: data_reader(for_each),
            errors: errors.clone(),
        },
    )
    .unwrap();
    peer.write_all(b"anything").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(*errors.borrow(), ["bad data"]);
}
