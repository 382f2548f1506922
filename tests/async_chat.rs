//! AsyncChat on real loopback sockets: every behaviour of CPython's test_asynchat.py,
//! and what the crate promises beyond it.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use asyncore::chat::{Splitter, producer_fn};
use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, ChatState, Cx, Dispatcher, Domain, Error, Handle, Map,
    Producer, ReadProducer, Result, SockAddr, Socket, Terminator, Type, find_prefix_at_end,
    simple_producer,
};
use util::*;

const LIMIT: Duration = Duration::from_secs(20);
const SERVER_QUIT: &[u8] = b"QUIT\n";

// ---------------------------------------------------------------------------
// The peer of CPython's tests: a thread that reads one byte at a time until it has
// seen QUIT, then sends back everything else it received, `chunk` bytes at a time.

struct EchoServer {
    addr: SocketAddr,
    /// Lets a held server start sending back.
    resend: mpsc::Sender<()>,
    thread: JoinHandle<Vec<u8>>,
}

impl EchoServer {
    fn start(chunk: usize, hold: bool) -> EchoServer {
        let listener = TcpListener::bind(any_local_address()).unwrap();
        let addr = listener.local_addr().unwrap();
        let (resend, go) = mpsc::channel::<()>();
        let thread = thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(LIMIT)).unwrap();
            conn.set_nodelay(true).unwrap();
            let mut buffer = Vec::new();
            let mut byte = [0u8];
            while !contains(&buffer, SERVER_QUIT) {
                match conn.read(&mut byte) {
                    Ok(1) => buffer.push(byte[0]),
                    _ => break,
                }
            }
            let received = remove_all(&buffer, SERVER_QUIT);
            if hold {
                let _ = go.recv_timeout(LIMIT);
            }
            for piece in received.chunks(chunk) {
                if conn.write_all(piece).is_err() {
                    break;
                }
                // Give the client a chance to read each piece on its own.
                thread::sleep(Duration::from_micros(500));
            }
            received
        });
        EchoServer {
            addr,
            resend,
            thread,
        }
    }

    fn join(self) -> Vec<u8> {
        self.thread.join().unwrap()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn remove_all(haystack: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The client of CPython's tests: collects lines into `contents`.

#[derive(Default)]
struct EchoClient {
    contents: Vec<Vec<u8>>,
    buffer: Vec<u8>,
    errors: Vec<String>,
}

/// A chat client connecting to `addr`, with the channel it goes into the map with.
struct Client {
    chan: Channel,
    chat: AsyncChat<EchoClient>,
}

impl Client {
    fn connect(term: impl Into<Terminator>, addr: SocketAddr) -> Client {
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        chan.connect(addr).unwrap();
        let mut chat = AsyncChat::new(EchoClient::default());
        chat.set_terminator(term).unwrap();
        Client { chan, chat }
    }
}

impl ChatHandler for EchoClient {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }
    fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        self.contents.push(std::mem::take(&mut self.buffer));
        Ok(())
    }
    fn handle_connect(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        Ok(())
    }
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        self.errors.push(err.to_string());
        chat.close();
    }
}

/// Runs `client` in a map of its own until it has closed (the server closes after
/// echoing), and hands it back for inspection.
fn run_client(client: Client) -> Handle<AsyncChat<EchoClient>> {
    let map = Map::new().unwrap();
    let h = map.add(client.chan, client.chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(
        h.borrow().handler.errors.is_empty(),
        "{:?}",
        h.borrow().handler.errors
    );
    h
}

fn lines(list: &[&[u8]]) -> Vec<Vec<u8>> {
    list.iter().map(|l| l.to_vec()).collect()
}

// ---------------------------------------------------------------------------
// CPython's TestAsynchat.

/// The server sends back `server_chunk` bytes at a time and the client reads
/// `in_size` bytes at a time, so the terminator is cut at every possible place.
fn line_terminator_check(term: &[u8], server_chunk: usize, in_size: usize) {
    let s = EchoServer::start(server_chunk, false);
    let mut c = Client::connect(term, s.addr);
    c.chat.state_mut().ac_in_buffer_size = in_size;
    c.chat.push(b"hello ");
    c.chat.push([&b"world"[..], term].concat());
    c.chat.push([&b"I'm not dead yet!"[..], term].concat());
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().handler.contents,
        lines(&[b"hello world", b"I'm not dead yet!"]),
        "terminator {term:?}, server chunk {server_chunk}, read size {in_size}"
    );
}

const SERVER_CHUNKS: [usize; 5] = [1, 2, 3, 4, 7];
const READ_SIZES: [usize; 5] = [65536, 1, 2, 3, 5];

#[test]
fn line_terminator_of_one_byte() {
    for chunk in SERVER_CHUNKS {
        for size in READ_SIZES {
            line_terminator_check(b"\n", chunk, size);
        }
    }
}

#[test]
fn line_terminator_of_two_bytes() {
    for chunk in SERVER_CHUNKS {
        for size in READ_SIZES {
            line_terminator_check(b"\r\n", chunk, size);
        }
    }
}

#[test]
fn line_terminator_of_three_bytes() {
    for chunk in SERVER_CHUNKS {
        for size in READ_SIZES {
            line_terminator_check(b"qqq", chunk, size);
        }
    }
}

fn numeric_terminator_check(count: usize) {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(count, s.addr);
    let data = b"hello world, I'm not dead yet!\n";
    c.chat.push(data);
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    let c = h.borrow();
    assert_eq!(c.handler.contents, lines(&[&data[..count]]));
    // The count was used up; then everything is collected.
    assert_eq!(c.get_terminator(), &Terminator::Count(0));
    assert_eq!(c.handler.buffer, &data[count..]);
}

#[test]
fn numeric_terminator_of_one_byte() {
    numeric_terminator_check(1);
}

#[test]
fn numeric_terminator_of_six_bytes() {
    numeric_terminator_check(6);
}

#[test]
fn numeric_terminator_counts_down_across_reads() {
    let s = EchoServer::start(3, false);
    let mut c = Client::connect(10usize, s.addr);
    c.chat.state_mut().ac_in_buffer_size = 4;
    c.chat.push(b"0123456789abc");
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(h.borrow().handler.contents, lines(&[b"0123456789"]));
    assert_eq!(h.borrow().handler.buffer, b"abc");
}

#[test]
fn no_terminator_collects_everything() {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(None::<&str>, s.addr);
    let data = b"hello world, I'm not dead yet!\n";
    c.chat.push(data);
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert!(h.borrow().handler.contents.is_empty());
    assert_eq!(h.borrow().handler.buffer, data);
}

#[test]
fn simple_producer_is_sent_in_full() {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(b"\n", s.addr);
    let data = [&b"hello world\nI'm not dead yet!\n"[..], SERVER_QUIT].concat();
    c.chat.push_with_producer(simple_producer(data, 8));
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().handler.contents,
        lines(&[b"hello world", b"I'm not dead yet!"])
    );
}

/// Python pushes a plain byte string as a producer; here, a producer that hands out
/// all of it as one chunk, larger than `ac_out_buffer_size` (sent in slices).
#[test]
fn string_producer_is_sent_in_full() {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(b"\n", s.addr);
    c.chat.state_mut().ac_out_buffer_size = 7;
    let mut once = Some([&b"hello world\nI'm not dead yet!\n"[..], SERVER_QUIT].concat());
    c.chat
        .push_with_producer(producer_fn(move || once.take().unwrap_or_default()));
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().handler.contents,
        lines(&[b"hello world", b"I'm not dead yet!"])
    );
}

#[test]
fn empty_lines_are_found() {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(b"\n", s.addr);
    c.chat.push(b"hello world\n\nI'm not dead yet!\n");
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().handler.contents,
        lines(&[b"hello world", b"", b"I'm not dead yet!"])
    );
}

#[test]
fn close_when_done_sends_everything_then_closes() {
    let s = EchoServer::start(1, true);
    let mut c = Client::connect(b"\n", s.addr);
    c.chat.push(b"hello world\nI'm not dead yet!\n");
    c.chat.push(SERVER_QUIT);
    c.chat.close_when_done();
    // The client closes itself once it has sent everything, before any echo.
    let h = run_client(c);
    s.resend.send(()).unwrap();
    let received = s.join();
    assert!(h.borrow().handler.contents.is_empty());
    assert_eq!(received, b"hello world\nI'm not dead yet!\n");
}

#[test]
fn push_takes_any_bytes() {
    let s = EchoServer::start(1, false);
    let mut c = Client::connect(b"\n", s.addr);
    let data = b"bytes\n";
    c.chat.push(data);
    c.chat.push(Vec::from(&data[..]));
    c.chat.push(&data[..]);
    c.chat.push("bytes\n");
    c.chat.push(String::from("bytes\n"));
    c.chat.push(b""); // nothing
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(h.borrow().handler.contents, vec![b"bytes".to_vec(); 5]);
}

// CPython's TestAsynchatMocked: a read that would block is not an error.
#[test]
fn would_block_on_recv_is_not_an_error() {
    let (chan, _peer) = channel_pair();
    let mut chat = AsyncChat::new(EchoClient::default());
    chat.set_terminator(b"\n").unwrap();
    let map = Map::new().unwrap();
    let h = map.add(chan, chat).unwrap();
    // Nothing was sent: the read would block. A handler needs a context: run it
    // through the handle, as the loop would.
    h.with(Dispatcher::handle_read)
        .expect("the channel is idle")
        .unwrap();
    let c = h.borrow();
    assert!(c.handler.errors.is_empty());
    assert!(c.handler.buffer.is_empty());
    assert!(h.channel().is_open());
    assert_eq!(map.len(), 1);
}

// CPython's TestHelperFunctions.
#[test]
fn find_prefix_at_end_finds_a_cut_terminator() {
    assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"abc\r\n.", b"\r\n.\r\n"), 3);
}

// CPython's TestNotConnected: no socket at all.
#[test]
fn negative_terminator_is_refused() {
    assert!(matches!(
        Terminator::count(-1),
        Err(Error::NegativeTerminator(-1))
    ));
    let mut state = ChatState::default();
    state.set_terminator(b"\n").unwrap();
    assert!(matches!(
        state.set_terminator(""),
        Err(Error::EmptyTerminator)
    ));
    assert_eq!(state.get_terminator(), &Terminator::from("\n"));
    // The same through the wrapper, still without a channel.
    let mut chat = AsyncChat::new(EchoClient::default());
    chat.set_terminator(b"\n").unwrap();
    assert!(matches!(
        chat.set_terminator(""),
        Err(Error::EmptyTerminator)
    ));
    assert_eq!(chat.get_terminator(), &Terminator::from("\n"));
}

// ---------------------------------------------------------------------------
// Servers made of AsyncChat handlers, for the tests below.

type Shared<T> = Rc<RefCell<T>>;

/// What the line servers saw.
#[derive(Default, Debug)]
struct Seen {
    lines: Vec<Vec<u8>>,
    errors: Vec<String>,
}

/// Answers each line with the line upper-cased.
struct Upper {
    line: Vec<u8>,
    seen: Shared<Seen>,
}

impl Upper {
    fn new(seen: Shared<Seen>, limit: Option<usize>) -> AsyncChat<Upper> {
        let mut chat = AsyncChat::new(Upper {
            line: Vec::new(),
            seen,
        });
        chat.set_terminator(b"\n").unwrap();
        chat.set_input_limit(limit);
        chat
    }
}

impl ChatHandler for Upper {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        chat.push(line.to_ascii_uppercase());
        chat.push(b"\n");
        self.seen.borrow_mut().lines.push(line);
        Ok(())
    }
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        self.seen.borrow_mut().errors.push(err.to_string());
        // The default: close.
        chat.close();
    }
}

/// A listener (a plain dispatcher) that serves every connection with `Upper`.
struct UpperServer {
    seen: Shared<Seen>,
    limit: Option<usize>,
}

impl Dispatcher for UpperServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        let conn = Upper::new(self.seen.clone(), self.limit);
        cx.add(Channel::from_socket(sock)?, conn)?;
        Ok(())
    }
}

fn upper_server(map: &Map, limit: Option<usize>) -> (SocketAddr, Shared<Seen>) {
    let (chan, addr) = listening_channel();
    let seen = Shared::default();
    map.add(
        chan,
        UpperServer {
            seen: seen.clone(),
            limit,
        },
    )
    .unwrap();
    (addr, seen)
}

fn blocking_client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s
}

fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// True when nothing is waiting to be read on `s` (which is left blocking).
fn nothing_to_read(s: &TcpStream) -> bool {
    s.set_nonblocking(true).unwrap();
    let r = s.peek(&mut [0; 1]);
    s.set_nonblocking(false).unwrap();
    matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

// ---------------------------------------------------------------------------
// Beyond CPython's tests.

#[test]
fn input_limit_closes_only_that_channel() {
    let map = Map::new().unwrap();
    let (addr, seen) = upper_server(&map, Some(1024));
    let mut flooder = blocking_client(addr);
    let mut polite = blocking_client(addr);

    // Exactly the limit is fine; one byte more is not.
    flooder.write_all(&[b'x'; 1024]).unwrap();
    flooder.write_all(b"\n").unwrap();
    run_until(&map, LIMIT, || seen.borrow().lines.len() == 1);
    assert_eq!(read_exactly(&mut flooder, 1025)[..4], *b"XXXX");

    flooder.write_all(&[b'y'; 3000]).unwrap();
    polite.write_all(b"ping\n").unwrap();
    run_until(&map, LIMIT, || {
        seen.borrow().errors.len() == 1 && seen.borrow().lines.len() == 2
    });
    assert!(
        seen.borrow().errors[0].contains("input too long"),
        "{:?}",
        seen.borrow().errors
    );
    assert_eq!(
        map.len(),
        2,
        "listener and the polite client remain: {map:?}"
    );
    assert_eq!(read_exactly(&mut polite, 5), b"PING\n");

    // The flooder sees its connection end.
    let mut rest = Vec::new();
    match flooder.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
    }

    // The polite one goes on.
    polite.write_all(b"again\n").unwrap();
    run_until(&map, LIMIT, || seen.borrow().lines.len() == 3);
    assert_eq!(read_exactly(&mut polite, 6), b"AGAIN\n");
}

/// Sends `header`, the producer's stream and `trailer`, then closes.
struct Streamer;

impl ChatHandler for Streamer {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
    fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        Ok(())
    }
}

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            (x >> 16) as u8
        })
        .collect()
}

fn read_all_in_a_thread(mut peer: TcpStream) -> JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    })
}

#[test]
fn read_producer_streams_megabytes_then_close_when_done() {
    let (chan, peer) = channel_pair();
    let data = pattern(5 * 1024 * 1024 + 17);
    let reader = read_all_in_a_thread(peer);

    let map = Map::new().unwrap();
    let mut chat = AsyncChat::new(Streamer);
    chat.push(b"header\n");
    chat.push_with_producer(ReadProducer::new(Cursor::new(data.clone()), 64 * 1024));
    chat.push(b"trailer\n");
    chat.close_when_done();
    chat.push(b"never sent");
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let got = reader.join().unwrap();
    assert_eq!(got.len(), data.len() + 15);
    assert_eq!(&got[..7], b"header\n");
    assert!(got[7..7 + data.len()] == data[..], "stream corrupted");
    assert_eq!(&got[7 + data.len()..], b"trailer\n");
}

/// "LEN n" switches to a count of n bytes; after that block, back to lines.
struct Framed {
    current: Vec<u8>,
    messages: Shared<Vec<Vec<u8>>>,
}

impl ChatHandler for Framed {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.current.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let msg = std::mem::take(&mut self.current);
        match msg.strip_prefix(b"LEN ") {
            Some(n) => {
                let n: usize = std::str::from_utf8(n).unwrap().parse().unwrap();
                chat.set_terminator(n)?;
            }
            None => chat.set_terminator("\r\n")?,
        }
        self.messages.borrow_mut().push(msg);
        Ok(())
    }
}

#[test]
fn set_terminator_in_found_terminator_applies_to_the_rest_of_the_read() {
    let input = b"LEN 5\r\nhe\r\noLEN 3\r\n\r\n\rEND\r\nLEN 1\r\nxlast\r\n";
    let expected = lines(&[
        b"LEN 5", b"he\r\no", b"LEN 3", b"\r\n\r", b"END", b"LEN 1", b"x", b"last",
    ]);
    for in_size in [65536, 1, 2, 3, 4, 6] {
        let (chan, mut peer) = channel_pair();
        // All of it is in the socket before the first read.
        peer.write_all(input).unwrap();
        let map = Map::new().unwrap();
        let messages = Shared::default();
        let mut chat = AsyncChat::new(Framed {
            current: Vec::new(),
            messages: messages.clone(),
        });
        chat.set_terminator("\r\n").unwrap();
        chat.state_mut().ac_in_buffer_size = in_size;
        map.add(chan, chat).unwrap();
        run_until(&map, LIMIT, || messages.borrow().len() == expected.len());
        assert_eq!(*messages.borrow(), expected, "read size {in_size}");
    }
}

/// A plain dispatcher (util's Recorder) and an AsyncChat serve side by side.
#[test]
fn async_chat_and_plain_dispatcher_share_a_map() {
    let map = Map::new().unwrap();
    let (chat_chan, mut chat_peer) = channel_pair();
    let (plain_chan, mut plain_peer) = channel_pair();
    let seen = Shared::default();
    let chat = map
        .add(chat_chan, Upper::new(seen.clone(), Some(100)))
        .unwrap();
    let (rec, log) = Recorder::new();
    map.add(plain_chan, rec).unwrap();
    assert_eq!(map.len(), 2);

    chat_peer.write_all(b"one\ntwo\n").unwrap();
    plain_peer.write_all(b"raw bytes").unwrap();
    run_until(&map, LIMIT, || {
        seen.borrow().lines.len() == 2 && log.borrow().data == b"raw bytes"
    });
    chat_peer.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(read_exactly(&mut chat_peer, 8), b"ONE\nTWO\n");
    // AsyncChat<H> is a Dispatcher like any other.
    assert!(chat.channel().connected);
    assert!(!chat.with(Dispatcher::writable).unwrap());

    drop(chat_peer);
    drop(plain_peer);
    run_until(&map, LIMIT, || map.is_empty());
}

#[test]
fn pipelined_lines_are_all_answered() {
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let seen = Shared::default();
    map.add(chan, Upper::new(seen.clone(), Some(100))).unwrap();
    let mut input = Vec::new();
    let mut expected = Vec::new();
    for i in 0..2000 {
        input.extend_from_slice(format!("line {i}\n").as_bytes());
        expected.extend_from_slice(format!("LINE {i}\n").as_bytes());
    }
    let writer = {
        let mut peer = peer.try_clone().unwrap();
        thread::spawn(move || peer.write_all(&input).unwrap())
    };
    run_until(&map, LIMIT, || seen.borrow().lines.len() == 2000);
    writer.join().unwrap();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(read_exactly(&mut peer, expected.len()), expected);
}

/// Pushes each line into the other channels, found through their handles.
struct Relay {
    line: Vec<u8>,
    others: Shared<Vec<Handle<AsyncChat<Relay>>>>,
}

impl ChatHandler for Relay {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        for other in self.others.borrow().iter() {
            // The channel whose handler is running cannot be borrowed: skipped. The
            // others queue the line; the loop sends it on its next pass.
            if let Some(mut other) = other.try_borrow_mut() {
                other.push(&line);
                other.push(b"\n");
            }
        }
        Ok(())
    }
}

#[test]
fn push_into_another_channel_during_a_read_is_sent() {
    let map = Map::new().unwrap();
    let others = Shared::default();
    let mut peers = Vec::new();
    for _ in 0..3 {
        let (chan, peer) = channel_pair();
        let mut chat = AsyncChat::new(Relay {
            line: Vec::new(),
            others: others.clone(),
        });
        chat.set_terminator(b"\n").unwrap();
        let h = map.add(chan, chat).unwrap();
        others.borrow_mut().push(h);
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        peers.push(peer);
    }
    peers[0].write_all(b"hi\nthere\n").unwrap();
    run_until(&map, LIMIT, || peers_have(&peers[1..], 9));
    for peer in &mut peers[1..] {
        assert_eq!(read_exactly(peer, 9), b"hi\nthere\n");
    }
    peers[0].set_nonblocking(true).unwrap();
    let mut buf = [0; 16];
    assert_eq!(
        peers[0].read(&mut buf).unwrap_err().kind(),
        io::ErrorKind::WouldBlock,
        "nothing goes back to the sender"
    );
    // The handles form a cycle through `others`: break it.
    others.borrow_mut().clear();
}

fn peers_have(peers: &[TcpStream], n: usize) -> bool {
    let mut buf = vec![0; n];
    peers.iter().all(|p| {
        p.set_nonblocking(true).unwrap();
        let r = p.peek(&mut buf);
        p.set_nonblocking(false).unwrap();
        matches!(r, Ok(got) if got == n)
    })
}

/// A producer that fails.
struct Broken;

impl Producer for Broken {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Err(io::Error::other("disk on fire"))
    }
}

#[test]
fn a_failing_producer_reaches_handle_error() {
    // Through `with`: push sends at once, as from a handler, and keeps the failure
    // for the loop, which hands it to handle_error.
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let seen = Shared::default();
    let h = map.add(chan, Upper::new(seen.clone(), None)).unwrap();
    h.with(|c, cx| {
        let (_, mut chat) = c.chat(cx);
        chat.push(b"before\n");
        chat.push_with_producer(Broken);
    })
    .expect("the channel is idle");
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(seen.borrow().errors, ["disk on fire"]);
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"before\n", "what came before the producer was sent");

    // Through `borrow_mut`: queued, and the failure comes from the loop's write.
    let (chan, _peer) = channel_pair();
    let seen = Shared::default();
    let h = map.add(chan, Upper::new(seen.clone(), None)).unwrap();
    h.borrow_mut().push(b"before\n");
    h.borrow_mut().push_with_producer(Broken);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(seen.borrow().errors, ["disk on fire"]);
}

/// Drops everything when it sees "DISCARD".
struct Discarder {
    line: Vec<u8>,
    lines: Vec<Vec<u8>>,
}

impl ChatHandler for Discarder {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        // Sent at once (or, coalescing, held back and sent before the discard).
        chat.push(b"queued\n");
        if line == b"DISCARD" {
            if !chat.state().coalesce() {
                // Queued without sending: the discard drops it.
                chat.state_mut().push(b"held back\n");
                assert!(chat.has_output());
            }
            chat.discard_buffers();
        }
        self.lines.push(line);
        Ok(())
    }
}

#[test]
fn discard_buffers_in_found_terminator_drops_the_rest() {
    discard_buffers_drops_the_rest(false);
}

/// With replies to pipelined lines coalesced, what was pushed before the discard is
/// still delivered, as Python's immediate pushes were.
#[test]
fn discard_buffers_delivers_coalesced_pushes_first() {
    discard_buffers_drops_the_rest(true);
}

fn discard_buffers_drops_the_rest(coalesce: bool) {
    let (chan, mut peer) = channel_pair();
    peer.write_all(b"a\nDISCARD\nb\nc\n").unwrap();
    let map = Map::new().unwrap();
    let mut chat = AsyncChat::new(Discarder {
        line: Vec::new(),
        lines: Vec::new(),
    });
    chat.state_mut().set_coalesce(coalesce);
    chat.set_terminator(b"\n").unwrap();
    let h = map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || !h.borrow().handler.lines.is_empty());
    map.run(Some(Duration::from_millis(10)), Some(5)).unwrap();
    let d = h.borrow();
    assert_eq!(d.handler.lines, lines(&[b"a", b"DISCARD"]));
    assert!(!d.state().has_output(), "output was discarded too");
    drop(d);
    // Later input is handled again.
    peer.write_all(b"d\n").unwrap();
    run_until(&map, LIMIT, || h.borrow().handler.lines.len() == 3);
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    // 0.2: push sends at once, so the replies to "a" and "DISCARD" went out before
    // the discard; nothing for "b" and "c" (the rest of that read was dropped), nor
    // what was only queued; then the reply to "d".
    assert_eq!(read_exactly(&mut peer, 21), b"queued\nqueued\nqueued\n");
    assert!(nothing_to_read(&peer), "the held-back output was dropped");
}

#[test]
fn writable_while_connecting_or_queued() {
    let (listener, addr) = std_listener();
    let c = Client::connect(b"\n", addr);
    let map = Map::new().unwrap();
    let h = map.add(c.chan, c.chat).unwrap();
    // The predicates need a context: ask through the handle, before the loop ran.
    assert!(h.with(Dispatcher::writable).unwrap(), "connecting");
    let (_conn, _) = listener.accept().unwrap();
    run_until(&map, LIMIT, || h.channel().connected);
    assert!(!h.with(Dispatcher::writable).unwrap(), "idle");
    h.borrow_mut().close_when_done();
    assert!(h.with(Dispatcher::writable).unwrap(), "close marker queued");
    run_until(&map, LIMIT, || map.is_empty());
}

/// A client whose connect is refused gets handle_error, and nothing it pushed is
/// sent anywhere.
#[test]
fn refused_connect_goes_to_handle_error() {
    let mut c = Client::connect(b"\n", refused_address());
    c.chat.push(b"hello\n");
    let map = Map::new().unwrap();
    let h = map.add(c.chan, c.chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(
        h.borrow().handler.errors.len(),
        1,
        "{:?}",
        h.borrow().handler.errors
    );
    assert!(!h.borrow().state().has_output(), "close drops the queue");
}

// ---------------------------------------------------------------------------
// Property: over a socket, however the input is cut into reads, the handler sees
// what the splitter reports for the whole input at once.

#[derive(Debug, Clone, PartialEq)]
enum Ev {
    Data(Vec<u8>),
    Found,
}

fn note_data(events: &mut Vec<Ev>, data: &[u8]) {
    if let Some(Ev::Data(last)) = events.last_mut() {
        last.extend_from_slice(data);
    } else {
        events.push(Ev::Data(data.to_vec()));
    }
}

struct Recording {
    events: Vec<Ev>,
    script: Vec<Terminator>,
    found: usize,
}

impl ChatHandler for Recording {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        note_data(&mut self.events, data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        self.events.push(Ev::Found);
        self.found += 1;
        let next = self.script[self.found % self.script.len()].clone();
        chat.set_terminator(next)
    }
}

fn reference(input: &[u8], script: &[Terminator]) -> Vec<Ev> {
    let mut splitter = Splitter::with_terminator(script[0].clone()).unwrap();
    let mut events = Vec::new();
    let mut found = 0;
    let mut buf = input.to_vec();
    splitter
        .feed(&mut buf, |s, ev| {
            match ev {
                asyncore::chat::SplitEvent::Data(d) => note_data(&mut events, d),
                asyncore::chat::SplitEvent::Terminator => {
                    events.push(Ev::Found);
                    found += 1;
                    s.set_terminator(script[found % script.len()].clone())?;
                }
            }
            Ok(())
        })
        .unwrap();
    events
}

mod property {
    use super::*;
    use proptest::prelude::*;

    fn terminator() -> impl Strategy<Value = Terminator> {
        prop_oneof![
            proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b')], 1..4)
                .prop_map(Terminator::Bytes),
            (0usize..6).prop_map(Terminator::Count),
            Just(Terminator::None),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn reads_of_any_size_give_the_same_events(
            input in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'c')], 0..300),
            script in proptest::collection::vec(terminator(), 1..4),
            in_size in 1usize..9,
        ) {
            let (chan, mut peer) = channel_pair();
            peer.write_all(&input).unwrap();
            peer.shutdown(Shutdown::Write).unwrap();
            let mut chat = AsyncChat::new(Recording { events: Vec::new(), script: script.clone(), found: 0 });
            chat.set_terminator(script[0].clone()).unwrap();
            chat.state_mut().ac_in_buffer_size = in_size;
            let map = Map::new().unwrap();
            let h = map.add(chan, chat).unwrap();
            // The peer's end of stream closes the channel once everything was read.
            run_until(&map, LIMIT, || map.is_empty());
            prop_assert_eq!(&h.borrow().handler.events, &reference(&input, &script));
        }
    }
}

/// Runs a script on its channel when a line arrives (inside the read, where 0.2's
/// `push` sends at once).
struct Scripted {
    script: Option<Script>,
}

type Script = Box<dyn FnOnce(&mut Chat<'_, '_>)>;

impl ChatHandler for Scripted {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        if let Some(script) = self.script.take() {
            script(chat);
        }
        Ok(())
    }
}

/// Bytes, producers (empty ones too) and the close marker keep their order, however
/// small the buffers: with `ac_out_buffer_size` 1 every push is its own buffer and
/// a write gathers many of them.
#[test]
fn output_keeps_fifo_order_across_buffers_and_producers() {
    for out_size in [1, 3, 65536] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(b"go\n").unwrap();
        let reader = read_all_in_a_thread(peer);
        let mut expected = Vec::new();
        for i in 0..300 {
            expected.extend_from_slice(format!("<{i}>").as_bytes());
            if i % 7 == 0 {
                expected.extend_from_slice(format!("p{i}").as_bytes());
            }
            if i % 11 == 0 {
                expected.extend_from_slice(format!("r{i}").as_bytes());
            }
        }
        let script = move |chat: &mut Chat<'_, '_>| {
            chat.state_mut().ac_out_buffer_size = out_size;
            let mut pushed = 0;
            for i in 0..300 {
                let item = format!("<{i}>");
                pushed += item.len();
                chat.push(item);
                if i % 7 == 0 {
                    chat.push_with_producer(simple_producer(format!("p{i}"), 1));
                }
                if i % 11 == 0 {
                    chat.push_with_producer(simple_producer(Vec::new(), 4));
                    chat.push_with_producer(ReadProducer::new(Cursor::new(format!("r{i}")), 2));
                }
            }
            // 0.1 sent nothing during the read; 0.2's push sends at once.
            assert!(
                chat.pending_bytes() < pushed,
                "push sends during the read: {} of {pushed} bytes still queued",
                chat.pending_bytes()
            );
            chat.close_when_done();
            chat.push(b"after the close marker: never sent");
        };
        let mut chat = AsyncChat::new(Scripted {
            script: Some(Box::new(script)),
        });
        chat.set_terminator(b"\n").unwrap();
        let map = Map::new().unwrap();
        map.add(chan, chat).unwrap();
        run_until(&map, LIMIT, || map.is_empty());
        assert_eq!(
            String::from_utf8(reader.join().unwrap()).unwrap(),
            String::from_utf8(expected).unwrap(),
            "ac_out_buffer_size {out_size}"
        );
    }
}

// ---------------------------------------------------------------------------
// Python's timing of push: it sends at once (push calls initiate_send), so a reply
// is on the wire before whatever the handler does next.

/// Pushes "bye", `close_when_done`, then pushes again in the same handler.
struct LateTalker;

impl ChatHandler for LateTalker {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        chat.push(b"bye\r\n");
        chat.close_when_done();
        chat.push(b"late\r\n");
        Ok(())
    }
}

/// Python: `close_when_done` appends the marker; the next `push` calls
/// `initiate_send`, which sends "bye", reaches the marker and calls `handle_close`
/// at once, so "late" is never sent. Nothing queued after the marker may go out.
#[test]
fn push_after_close_when_done_in_the_same_handler_is_never_sent() {
    let (chan, mut peer) = channel_pair();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let mut chat = AsyncChat::new(LateTalker);
    chat.set_terminator(b"\n").unwrap();
    let map = Map::new().unwrap();
    map.add(chan, chat).unwrap();
    peer.write_all(b"QUIT\n").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let mut got = Vec::new();
    peer.read_to_end(&mut got).unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "bye\r\n");
}

/// Python's ftplib test server, `cmd_quit`: `self.push('221 ...'); self.close()`.
/// With `graceful`, `close_when_done` instead of `close`.
struct Quitter {
    line: Vec<u8>,
    reply: Vec<u8>,
    graceful: bool,
    /// How many bytes of the reply the socket had taken when `close` ran.
    taken: Shared<Option<usize>>,
}

impl Quitter {
    fn new(reply: Vec<u8>, graceful: bool) -> (AsyncChat<Quitter>, Shared<Option<usize>>) {
        let taken = Shared::default();
        let mut chat = AsyncChat::new(Quitter {
            line: Vec::new(),
            reply,
            graceful,
            taken: taken.clone(),
        });
        chat.set_terminator(b"\r\n").unwrap();
        (chat, taken)
    }
}

impl ChatHandler for Quitter {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        if line == b"QUIT" {
            chat.push(&self.reply);
            *self.taken.borrow_mut() = Some(self.reply.len() - chat.pending_bytes());
            if self.graceful {
                chat.close_when_done();
            } else {
                chat.close();
            }
        }
        Ok(())
    }
}

#[test]
fn push_then_close_in_found_terminator_delivers_the_reply() {
    let (chan, mut client) = channel_pair();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let (chat, taken) = Quitter::new(b"221 bye\r\n".to_vec(), false);
    let map = Map::new().unwrap();
    map.add(chan, chat).unwrap();
    client.write_all(b"QUIT\r\n").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(*taken.borrow(), Some(9), "the socket took the whole reply");
    let mut line = [0; 9];
    client.read_exact(&mut line).unwrap();
    assert_eq!(&line, b"221 bye\r\n");
    assert_eq!(client.read(&mut [0; 16]).unwrap(), 0, "then end of stream");
}

/// A connected pair whose kernel buffers are small (server's send buffer, client's
/// receive buffer), so a large reply does not fit at once.
fn small_buffer_pair() -> (Channel, TcpStream) {
    let (listener, addr) = std_listener();
    let client = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(4096).unwrap();
    client.connect(&SockAddr::from(addr)).unwrap();
    let (server, _) = listener.accept().unwrap();
    let server = Socket::from(server);
    server.set_send_buffer_size(4096).unwrap();
    (
        Channel::from_socket(server).unwrap(),
        TcpStream::from(client),
    )
}

/// A reply larger than the socket takes at once, then `close`: the peer gets exactly
/// what the socket had taken, and nothing after it. Python does the same: `push`
/// sends what `send` takes, and `close` drops the rest of `producer_fifo`. To have
/// the whole reply delivered, use `close_when_done` (next test).
#[test]
fn push_then_close_delivers_what_the_socket_took() {
    let (chan, client) = small_buffer_pair();
    let reply = pattern(1024 * 1024);
    let (chat, taken) = Quitter::new(reply.clone(), false);
    let map = Map::new().unwrap();
    map.add(chan, chat).unwrap();
    (&client).write_all(b"QUIT\r\n").unwrap();
    // The client does not read until the server has closed: the socket takes only
    // what fits in the kernel's buffers.
    run_until(&map, LIMIT, || map.is_empty());
    let taken = taken.borrow().expect("QUIT was handled");
    assert!(
        taken > 0 && taken < reply.len(),
        "the socket took part of the reply: {taken} of {}",
        reply.len()
    );
    let got = read_all_in_a_thread(client).join().unwrap();
    assert_eq!(
        got.len(),
        taken,
        "exactly what the socket took (of {})",
        reply.len()
    );
    assert!(
        got[..] == reply[..taken],
        "a prefix of the reply, uncorrupted"
    );
}

#[test]
fn push_then_close_when_done_delivers_a_large_reply_whole() {
    let (chan, client) = small_buffer_pair();
    let reply = pattern(1024 * 1024);
    let (chat, _taken) = Quitter::new(reply.clone(), true);
    let map = Map::new().unwrap();
    map.add(chan, chat).unwrap();
    (&client).write_all(b"QUIT\r\n").unwrap();
    let reader = read_all_in_a_thread(client);
    run_until(&map, LIMIT, || map.is_empty());
    let got = reader.join().unwrap();
    assert_eq!(got.len(), reply.len());
    assert!(
        got == reply,
        "the whole reply, uncorrupted, then end of stream"
    );
}

/// What the PASV handler saw of its own accept.
#[derive(Debug)]
struct PasvOutcome {
    accepted: std::result::Result<(), String>,
    waited: Duration,
}

/// Python's ftplib test server, `cmd_pasv`: bind a data listener, push "227 ..." with
/// its port, then block in `accept()` until the client connects. Only works because
/// the reply is on the wire before the accept.
struct Pasv {
    line: Vec<u8>,
    outcome: Shared<Option<PasvOutcome>>,
}

const PASV_GUARD: Duration = Duration::from_secs(5);

impl ChatHandler for Pasv {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        if line != b"PASV" {
            return Ok(());
        }
        let listener = TcpListener::bind(any_local_address())?;
        let port = listener.local_addr()?.port();
        chat.push(format!("227 port={port}\r\n"));
        // Block in accept, as Python's handler does; polled, so a lost reply fails
        // the test after PASV_GUARD instead of hanging it.
        listener.set_nonblocking(true)?;
        let start = Instant::now();
        let accepted = loop {
            match listener.accept() {
                Ok((mut conn, _)) => {
                    conn.set_nonblocking(false)?;
                    conn.write_all(b"data over the data connection")?;
                    break Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if start.elapsed() > PASV_GUARD {
                        break Err("accept timed out: the 227 reply was not sent".to_string());
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        let waited = start.elapsed();
        chat.push(b"226 done\r\n");
        *self.outcome.borrow_mut() = Some(PasvOutcome { accepted, waited });
        Ok(())
    }
}

#[test]
fn push_then_blocking_accept_in_the_same_handler() {
    let (chan, control) = channel_pair();
    let outcome = Shared::default();
    let mut chat = AsyncChat::new(Pasv {
        line: Vec::new(),
        outcome: outcome.clone(),
    });
    chat.set_terminator(b"\r\n").unwrap();
    let map = Map::new().unwrap();
    map.add(chan, chat).unwrap();

    let client = thread::spawn(move || -> io::Result<(String, Vec<u8>, String)> {
        control.set_read_timeout(Some(LIMIT))?;
        (&control).write_all(b"PASV\r\n")?;
        let mut reader = BufReader::new(&control);
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        let port: u16 = reply
            .trim_end()
            .strip_prefix("227 port=")
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| io::Error::other(format!("bad reply {reply:?}")))?;
        let mut data = TcpStream::connect(("127.0.0.1", port))?;
        data.set_read_timeout(Some(LIMIT))?;
        let mut payload = Vec::new();
        data.read_to_end(&mut payload)?;
        let mut done = String::new();
        reader.read_line(&mut done)?;
        Ok((reply, payload, done))
    });

    let start = Instant::now();
    run_until(&map, LIMIT, || outcome.borrow().is_some());
    let elapsed = start.elapsed();
    let outcome = outcome.borrow_mut().take().unwrap();
    assert_eq!(outcome.accepted, Ok(()), "{outcome:?}");
    assert!(outcome.waited < PASV_GUARD, "{outcome:?}");
    assert!(elapsed < PASV_GUARD, "took {elapsed:?}");

    let (reply, payload, done) = client.join().unwrap().unwrap();
    assert!(
        reply.starts_with("227 port=") && reply.ends_with("\r\n"),
        "{reply:?}"
    );
    assert_eq!(payload, b"data over the data connection");
    assert_eq!(done, "226 done\r\n");
}

/// A chat that does nothing with its input.
struct Sink;

impl ChatHandler for Sink {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
    fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        Ok(())
    }
}

/// What `Forwarder` saw while its own handler was running.
#[derive(Debug, Default, PartialEq)]
struct Forwarded {
    /// `with` on the target ran (it was idle).
    target_ran: bool,
    /// Bytes still queued on the target right after the push.
    target_pending: usize,
    /// `with` on the forwarder's own handle ran: it must not (it is busy).
    own_ran: bool,
    /// What the target's peer read, inside this handler, with the loop not running.
    peer_read: Vec<u8>,
}

/// Pushes each line into another chat channel through `Handle::with`.
struct Forwarder {
    line: Vec<u8>,
    target: Handle<AsyncChat<Sink>>,
    target_peer: TcpStream,
    seen: Shared<Vec<Forwarded>>,
}

impl ChatHandler for Forwarder {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.push(b'\n');
        let pending = self.target.with(|c, cx| {
            let (_, mut chat) = c.chat(cx);
            chat.push(&line);
            chat.pending_bytes()
        });
        let me = chat.handle::<AsyncChat<Forwarder>>().expect("own type");
        let own_ran = me.with(|_, _| ()).is_some();
        // Still inside this handler: the loop cannot have sent anything since.
        let mut peer_read = vec![0; line.len()];
        self.target_peer.read_exact(&mut peer_read)?;
        self.seen.borrow_mut().push(Forwarded {
            target_ran: pending.is_some(),
            target_pending: pending.unwrap_or(usize::MAX),
            own_ran,
            peer_read,
        });
        Ok(())
    }
}

#[test]
fn push_from_another_channel_via_handle_with_sends_at_once() {
    let map = Map::new().unwrap();
    let (target_chan, target_peer) = channel_pair();
    target_peer.set_read_timeout(Some(LIMIT)).unwrap();
    let target = map.add(target_chan, AsyncChat::new(Sink)).unwrap();

    let (chan, mut peer) = channel_pair();
    let seen = Shared::default();
    let mut chat = AsyncChat::new(Forwarder {
        line: Vec::new(),
        target: target.clone(),
        target_peer: target_peer.try_clone().unwrap(),
        seen: seen.clone(),
    });
    chat.set_terminator(b"\n").unwrap();
    map.add(chan, chat).unwrap();

    // From another channel's handler.
    peer.write_all(b"hello\nworld\n").unwrap();
    run_until(&map, LIMIT, || seen.borrow().len() == 2);
    assert_eq!(
        *seen.borrow(),
        [
            Forwarded {
                target_ran: true,
                target_pending: 0,
                own_ran: false,
                peer_read: b"hello\n".to_vec(),
            },
            Forwarded {
                target_ran: true,
                target_pending: 0,
                own_ran: false,
                peer_read: b"world\n".to_vec(),
            },
        ]
    );
    assert!(nothing_to_read(&target_peer));

    // From outside the loop: sent before the loop runs again.
    let mut target_peer = target_peer;
    target
        .with(|c, cx| c.chat(cx).1.push(b"outside\n"))
        .expect("the target is idle");
    assert_eq!(read_exactly(&mut target_peer, 8), b"outside\n");
    assert!(!target.borrow().state().has_output());

    // Whereas `borrow_mut().push` only queues: the loop's next pass sends it.
    target.borrow_mut().push(b"queued\n");
    assert!(
        nothing_to_read(&target_peer),
        "not sent before the loop runs"
    );
    assert_eq!(target.borrow().state().pending_bytes(), 7);
    run_until(&map, LIMIT, || !target.borrow().state().has_output());
    assert_eq!(read_exactly(&mut target_peer, 7), b"queued\n");

    map.close_channel(target.id());
    drop(peer);
    run_until(&map, LIMIT, || map.is_empty());
}

/// Overrides only `handle_read`: no `collect_incoming_data`, no `found_terminator`.
struct RawUpper;

impl ChatHandler for RawUpper {
    fn handle_read(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let data = chat.recv(4096)?;
        chat.push(data.to_ascii_uppercase());
        Ok(())
    }
}

#[test]
fn a_handler_overriding_only_handle_read_works() {
    let (chan, mut peer) = channel_pair();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let mut chat = AsyncChat::new(RawUpper);
    // The terminator is the default handle_read's business: ignored here.
    chat.set_terminator(b"\n").unwrap();
    let map = Map::new().unwrap();
    let h = map.add(chan, chat).unwrap();
    peer.write_all(b"a\nb").unwrap();
    run_until(&map, LIMIT, || {
        !nothing_to_read(&peer) && !h.borrow().state().has_output()
    });
    let mut got = Vec::new();
    while got.len() < 3 {
        let mut buf = [0; 16];
        let n = peer.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
        if got.len() < 3 {
            map.poll(Some(Duration::from_millis(10))).unwrap();
        }
    }
    assert_eq!(got, b"A\nB");
    assert!(h.is_open());
    peer.shutdown(Shutdown::Write).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
}

/// Defines neither `collect_incoming_data` nor `found_terminator`, and keeps the
/// default `handle_read`: only `handle_error`, to see what reaches it.
struct Incomplete {
    errors: Shared<Vec<Error>>,
}

impl ChatHandler for Incomplete {
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        self.errors.borrow_mut().push(err);
        chat.close();
    }
}

/// Defines nothing at all.
struct Bare;

impl ChatHandler for Bare {}

#[test]
fn a_handler_without_the_data_methods_gets_not_implemented_and_is_closed() {
    // Data before the terminator: collect_incoming_data is missing.
    // Only a terminator: found_terminator is missing.
    for (input, missing) in [
        (&b"data\n"[..], "collect_incoming_data"),
        (&b"\n"[..], "found_terminator"),
    ] {
        let (chan, mut peer) = channel_pair();
        let errors = Shared::default();
        let mut chat = AsyncChat::new(Incomplete {
            errors: errors.clone(),
        });
        chat.set_terminator(b"\n").unwrap();
        let map = Map::new().unwrap();
        let h = map.add(chan, chat).unwrap();
        peer.write_all(input).unwrap();
        run_until(&map, LIMIT, || map.is_empty());
        let errors = errors.borrow();
        assert_eq!(errors.len(), 1, "{input:?}: {errors:?}");
        assert!(
            matches!(errors[0], Error::NotImplemented(name) if name == missing),
            "{input:?}: {errors:?}"
        );
        assert!(!h.is_open());
    }

    // With the default handle_error too: closed all the same.
    let (chan, mut peer) = channel_pair();
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    let map = Map::new().unwrap();
    let h = map.add(chan, AsyncChat::new(Bare)).unwrap();
    peer.write_all(b"anything").unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(!h.is_open());
    let mut rest = Vec::new();
    match peer.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
    }
}

/// What the last of a read's pipelined lines does.
#[derive(Clone, Copy, Debug)]
enum LastLine {
    Closes,
    Fails,
    DoesNothing,
    Discards,
}

/// Answers `ok X` to each line `X`; the line `QUIT` does what `last` says instead.
struct Pipelined {
    line: Vec<u8>,
    last: LastLine,
    quit: Rc<Cell<bool>>,
}

impl ChatHandler for Pipelined {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        if line != b"QUIT" {
            chat.push(b"ok ");
            chat.push(line);
            chat.push(b"\r\n");
            return Ok(());
        }
        self.quit.set(true);
        match self.last {
            LastLine::Closes => chat.close(),
            LastLine::Fails => return Err(asyncore::Error::other("QUIT fails")),
            LastLine::DoesNothing => {}
            LastLine::Discards => chat.discard_buffers(),
        }
        Ok(())
    }
}

/// 0.2 review: replies held back for pipelined lines were lost when the read's last
/// line closed, failed or discarded without pushing, and waited for a later pass when
/// it did nothing. Python sends each reply at its push: the client gets them all.
#[test]
fn replies_to_pipelined_lines_survive_whatever_the_last_line_does() {
    for last in [
        LastLine::Closes,
        LastLine::Fails,
        LastLine::DoesNothing,
        LastLine::Discards,
    ] {
        let (chan, mut peer) = channel_pair();
        let quit = Rc::new(Cell::new(false));
        let mut chat = AsyncChat::new(Pipelined {
            line: Vec::new(),
            last,
            quit: quit.clone(),
        });
        chat.set_terminator(b"\r\n").unwrap();
        let map = Map::new().unwrap();
        map.add(chan, chat).unwrap();
        peer.write_all(b"A\r\nB\r\nQUIT\r\n").unwrap();
        // One read handles all three lines; whatever QUIT did, the replies to A and B
        // are on the wire when that read is over (no later pass runs before we read).
        run_until(&map, LIMIT, || quit.get());
        peer.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut got = [0; 14];
        let mut n = 0;
        while n < 14 {
            match peer.read(&mut got[n..]) {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
        }
        assert_eq!(
            String::from_utf8_lossy(&got[..n]),
            "ok A\r\nok B\r\n",
            "{last:?}"
        );
    }
}

/// Owned pushes are moved into the FIFO, borrowed ones copied and gathered: however
/// they mix, the peer gets them in push order.
#[test]
fn owned_and_borrowed_pushes_keep_their_order() {
    struct Mixed;
    impl ChatHandler for Mixed {}
    let (chan, peer) = channel_pair();
    let map = Map::new().unwrap();
    let h = map.add(chan, AsyncChat::new(Mixed)).unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    let mut expected = Vec::new();
    h.with(|c, cx| {
        let (_, mut chat) = c.chat(cx);
        chat.push(b"head:");
        expected.extend_from_slice(b"head:");
        chat.push(big.clone()); // moved
        expected.extend_from_slice(&big);
        chat.push(String::from("tail")); // small owned: copied and gathered
        expected.extend_from_slice(b"tail");
        chat.push(vec![b'!'; 5000].into_boxed_slice()); // moved
        expected.extend_from_slice(&[b'!'; 5000]);
        chat.push(&expected[..3]); // borrowed
        chat.close_when_done();
    })
    .unwrap();
    expected.extend_from_slice(b"hea");
    let reader = read_all_in_a_thread(peer);
    run_until(&map, LIMIT, || map.is_empty());
    let got = reader.join().unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "in push order");
}
