//! AsyncChat on real loopback sockets: every behaviour of CPython's test_asynchat.py,
//! and what the crate promises beyond it.

mod util;

use std::cell::RefCell;
use std::io::{self, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use asyncore::chat::{Splitter, producer_fn};
use asyncore::{
    AsyncChat, AsyncChatHandler, Channel, Dispatcher, Domain, Error, Handle, Map, Producer,
    ReadProducer, Result, SockAddr, Socket, Terminator, Type, find_prefix_at_end, simple_producer,
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

struct EchoClient {
    chat: AsyncChat,
    contents: Vec<Vec<u8>>,
    buffer: Vec<u8>,
    errors: Vec<String>,
}

impl EchoClient {
    fn connect(term: impl Into<Terminator>, addr: SocketAddr) -> EchoClient {
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        chan.connect(addr).unwrap();
        let mut chat = AsyncChat::new(chan);
        chat.set_terminator(term).unwrap();
        EchoClient {
            chat,
            contents: Vec::new(),
            buffer: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl AsyncChatHandler for EchoClient {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.buffer.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        self.contents.push(std::mem::take(&mut self.buffer));
        Ok(())
    }
    fn handle_connect(&mut self) -> Result<()> {
        Ok(())
    }
    fn handle_error(&mut self, err: Error) {
        self.errors.push(err.to_string());
        self.chat.close();
    }
}

/// Runs `client` in a map of its own until it has closed (the server closes after
/// echoing), and hands it back for inspection.
fn run_client(client: EchoClient) -> Handle<EchoClient> {
    let map = Map::new().unwrap();
    let h = map.add(client).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(h.borrow().errors.is_empty(), "{:?}", h.borrow().errors);
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
    let mut c = EchoClient::connect(term, s.addr);
    c.chat.ac_in_buffer_size = in_size;
    c.chat.push(b"hello ");
    c.chat.push([&b"world"[..], term].concat());
    c.chat.push([&b"I'm not dead yet!"[..], term].concat());
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().contents,
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
    let mut c = EchoClient::connect(count, s.addr);
    let data = b"hello world, I'm not dead yet!\n";
    c.chat.push(data);
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    let c = h.borrow();
    assert_eq!(c.contents, lines(&[&data[..count]]));
    // The count was used up; then everything is collected.
    assert_eq!(c.chat.get_terminator(), &Terminator::Count(0));
    assert_eq!(c.buffer, &data[count..]);
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
    let mut c = EchoClient::connect(10usize, s.addr);
    c.chat.ac_in_buffer_size = 4;
    c.chat.push(b"0123456789abc");
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(h.borrow().contents, lines(&[b"0123456789"]));
    assert_eq!(h.borrow().buffer, b"abc");
}

#[test]
fn no_terminator_collects_everything() {
    let s = EchoServer::start(1, false);
    let mut c = EchoClient::connect(None::<&str>, s.addr);
    let data = b"hello world, I'm not dead yet!\n";
    c.chat.push(data);
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert!(h.borrow().contents.is_empty());
    assert_eq!(h.borrow().buffer, data);
}

#[test]
fn simple_producer_is_sent_in_full() {
    let s = EchoServer::start(1, false);
    let mut c = EchoClient::connect(b"\n", s.addr);
    let data = [&b"hello world\nI'm not dead yet!\n"[..], SERVER_QUIT].concat();
    c.chat.push_with_producer(simple_producer(data, 8));
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().contents,
        lines(&[b"hello world", b"I'm not dead yet!"])
    );
}

/// Python pushes a plain byte string as a producer; here, a producer that hands out
/// all of it as one chunk, larger than `ac_out_buffer_size` (sent in slices).
#[test]
fn string_producer_is_sent_in_full() {
    let s = EchoServer::start(1, false);
    let mut c = EchoClient::connect(b"\n", s.addr);
    c.chat.ac_out_buffer_size = 7;
    let mut once = Some([&b"hello world\nI'm not dead yet!\n"[..], SERVER_QUIT].concat());
    c.chat
        .push_with_producer(producer_fn(move || once.take().unwrap_or_default()));
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().contents,
        lines(&[b"hello world", b"I'm not dead yet!"])
    );
}

#[test]
fn empty_lines_are_found() {
    let s = EchoServer::start(1, false);
    let mut c = EchoClient::connect(b"\n", s.addr);
    c.chat.push(b"hello world\n\nI'm not dead yet!\n");
    c.chat.push(SERVER_QUIT);
    let h = run_client(c);
    s.join();
    assert_eq!(
        h.borrow().contents,
        lines(&[b"hello world", b"", b"I'm not dead yet!"])
    );
}

#[test]
fn close_when_done_sends_everything_then_closes() {
    let s = EchoServer::start(1, true);
    let mut c = EchoClient::connect(b"\n", s.addr);
    c.chat.push(b"hello world\nI'm not dead yet!\n");
    c.chat.push(SERVER_QUIT);
    c.chat.close_when_done();
    // The client closes itself once it has sent everything, before any echo.
    let h = run_client(c);
    s.resend.send(()).unwrap();
    let received = s.join();
    assert!(h.borrow().contents.is_empty());
    assert_eq!(received, b"hello world\nI'm not dead yet!\n");
}

#[test]
fn push_takes_any_bytes() {
    let s = EchoServer::start(1, false);
    let mut c = EchoClient::connect(b"\n", s.addr);
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
    assert_eq!(h.borrow().contents, vec![b"bytes".to_vec(); 5]);
}

// CPython's TestAsynchatMocked: a read that would block is not an error.
#[test]
fn would_block_on_recv_is_not_an_error() {
    let (chan, _peer) = channel_pair();
    let mut chat = AsyncChat::new(chan);
    chat.set_terminator(b"\n").unwrap();
    let mut c = EchoClient {
        chat,
        contents: Vec::new(),
        buffer: Vec::new(),
        errors: Vec::new(),
    };
    // Nothing was sent: the read would block.
    Dispatcher::handle_read(&mut c).unwrap();
    assert!(c.errors.is_empty());
    assert!(c.buffer.is_empty());
    assert!(c.chat.channel().is_open());
}

// CPython's TestHelperFunctions.
#[test]
fn find_prefix_at_end_finds_a_cut_terminator() {
    assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"abc\r\n.", b"\r\n.\r\n"), 3);
}

// CPython's TestNotConnected.
#[test]
fn negative_terminator_is_refused() {
    assert!(matches!(
        Terminator::count(-1),
        Err(Error::NegativeTerminator(-1))
    ));
    let mut chat = AsyncChat::default();
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
    chat: AsyncChat,
    line: Vec<u8>,
    seen: Shared<Seen>,
}

impl Upper {
    fn new(chan: Channel, seen: Shared<Seen>, limit: Option<usize>) -> Upper {
        let mut chat = AsyncChat::new(chan);
        chat.set_terminator(b"\n").unwrap();
        chat.set_input_limit(limit);
        Upper {
            chat,
            line: Vec::new(),
            seen,
        }
    }
}

impl AsyncChatHandler for Upper {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        self.chat.push(line.to_ascii_uppercase());
        self.chat.push(b"\n");
        self.seen.borrow_mut().lines.push(line);
        Ok(())
    }
    fn handle_error(&mut self, err: Error) {
        self.seen.borrow_mut().errors.push(err.to_string());
        // The default: close.
        self.chat.close();
    }
}

/// A listener (a plain dispatcher) that serves every connection with `Upper`.
struct UpperServer {
    chan: Channel,
    seen: Shared<Seen>,
    limit: Option<usize>,
}

impl Dispatcher for UpperServer {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
        let conn = Upper::new(Channel::from_socket(sock)?, self.seen.clone(), self.limit);
        self.chan.map().unwrap().add(conn)?;
        Ok(())
    }
}

fn upper_server(map: &Map, limit: Option<usize>) -> (SocketAddr, Shared<Seen>) {
    let (chan, addr) = listening_channel();
    let seen = Shared::default();
    map.add(UpperServer {
        chan,
        seen: seen.clone(),
        limit,
    })
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
struct Streamer {
    chat: AsyncChat,
}

impl AsyncChatHandler for Streamer {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, _data: &[u8]) {}
    fn found_terminator(&mut self) -> Result<()> {
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

#[test]
fn read_producer_streams_megabytes_then_close_when_done() {
    let (chan, mut peer) = channel_pair();
    let data = pattern(5 * 1024 * 1024 + 17);
    let reader = thread::spawn(move || {
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        got
    });

    let map = Map::new().unwrap();
    let mut chat = AsyncChat::new(chan);
    chat.push(b"header\n");
    chat.push_with_producer(ReadProducer::new(Cursor::new(data.clone()), 64 * 1024));
    chat.push(b"trailer\n");
    chat.close_when_done();
    chat.push(b"never sent");
    map.add(Streamer { chat }).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let got = reader.join().unwrap();
    assert_eq!(got.len(), data.len() + 15);
    assert_eq!(&got[..7], b"header\n");
    assert!(got[7..7 + data.len()] == data[..], "stream corrupted");
    assert_eq!(&got[7 + data.len()..], b"trailer\n");
}

/// "LEN n" switches to a count of n bytes; after that block, back to lines.
struct Framed {
    chat: AsyncChat,
    current: Vec<u8>,
    messages: Shared<Vec<Vec<u8>>>,
}

impl AsyncChatHandler for Framed {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.current.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        let msg = std::mem::take(&mut self.current);
        match msg.strip_prefix(b"LEN ") {
            Some(n) => {
                let n: usize = std::str::from_utf8(n).unwrap().parse().unwrap();
                self.chat.set_terminator(n)?;
            }
            None => self.chat.set_terminator("\r\n")?,
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
        let mut chat = AsyncChat::new(chan);
        chat.set_terminator("\r\n").unwrap();
        chat.ac_in_buffer_size = in_size;
        let messages = Shared::default();
        map.add(Framed {
            chat,
            current: Vec::new(),
            messages: messages.clone(),
        })
        .unwrap();
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
        .add(Upper::new(chat_chan, seen.clone(), Some(100)))
        .unwrap();
    let (rec, log) = Recorder::new(plain_chan);
    map.add(rec).unwrap();
    assert_eq!(map.len(), 2);

    chat_peer.write_all(b"one\ntwo\n").unwrap();
    plain_peer.write_all(b"raw bytes").unwrap();
    run_until(&map, LIMIT, || {
        seen.borrow().lines.len() == 2 && log.borrow().data == b"raw bytes"
    });
    chat_peer.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(read_exactly(&mut chat_peer, 8), b"ONE\nTWO\n");
    // Through the blanket impl, the chat is a Dispatcher like any other.
    assert!(chat.borrow().channel().connected);
    assert!(!Dispatcher::writable(&mut *chat.borrow_mut()));

    drop(chat_peer);
    drop(plain_peer);
    run_until(&map, LIMIT, || map.is_empty());
}

#[test]
fn pipelined_lines_are_all_answered() {
    let (chan, mut peer) = channel_pair();
    let map = Map::new().unwrap();
    let seen = Shared::default();
    map.add(Upper::new(chan, seen.clone(), Some(100))).unwrap();
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

/// Pushes each line into the other channel, found through its handle.
struct Relay {
    chat: AsyncChat,
    line: Vec<u8>,
    others: Shared<Vec<Handle<Relay>>>,
}

impl AsyncChatHandler for Relay {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        for other in self.others.borrow().iter() {
            // The channel whose handler is running cannot be borrowed: skipped.
            if let Some(mut other) = other.try_borrow_mut() {
                other.chat.push(&line);
                other.chat.push(b"\n");
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
        let mut chat = AsyncChat::new(chan);
        chat.set_terminator(b"\n").unwrap();
        let h = map
            .add(Relay {
                chat,
                line: Vec::new(),
                others: others.clone(),
            })
            .unwrap();
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
    let (chan, _peer) = channel_pair();
    let map = Map::new().unwrap();
    let seen = Shared::default();
    let h = map.add(Upper::new(chan, seen.clone(), None)).unwrap();
    // Outside the loop: push tries to send at once, and keeps the failure for the loop.
    h.borrow_mut().chat.push(b"before\n");
    h.borrow_mut().chat.push_with_producer(Broken);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(seen.borrow().errors, ["disk on fire"]);
}

/// Drops everything when it sees "DISCARD".
struct Discarder {
    chat: AsyncChat,
    line: Vec<u8>,
    lines: Vec<Vec<u8>>,
}

impl AsyncChatHandler for Discarder {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        let line = std::mem::take(&mut self.line);
        self.chat.push(b"queued\n");
        if line == b"DISCARD" {
            self.chat.discard_buffers();
        }
        self.lines.push(line);
        Ok(())
    }
}

#[test]
fn discard_buffers_in_found_terminator_drops_the_rest() {
    let (chan, mut peer) = channel_pair();
    peer.write_all(b"a\nDISCARD\nb\nc\n").unwrap();
    let map = Map::new().unwrap();
    let mut chat = AsyncChat::new(chan);
    chat.set_terminator(b"\n").unwrap();
    let h = map
        .add(Discarder {
            chat,
            line: Vec::new(),
            lines: Vec::new(),
        })
        .unwrap();
    run_until(&map, LIMIT, || !h.borrow().lines.is_empty());
    map.run(Some(Duration::from_millis(10)), Some(5)).unwrap();
    let d = h.borrow();
    assert_eq!(d.lines, lines(&[b"a", b"DISCARD"]));
    assert!(!d.chat.has_output(), "output was discarded too");
    drop(d);
    // Later input is handled again.
    peer.write_all(b"d\n").unwrap();
    run_until(&map, LIMIT, || h.borrow().lines.len() == 3);
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    assert_eq!(read_exactly(&mut peer, 7), b"queued\n");
}

#[test]
fn writable_while_connecting_or_queued() {
    let (listener, addr) = std_listener();
    let mut c = EchoClient::connect(b"\n", addr);
    assert!(AsyncChatHandler::writable(&mut c), "connecting");
    let map = Map::new().unwrap();
    let h = map.add(c).unwrap();
    let (_conn, _) = listener.accept().unwrap();
    run_until(&map, LIMIT, || h.borrow().chat.channel().connected);
    assert!(!Dispatcher::writable(&mut *h.borrow_mut()), "idle");
    h.borrow_mut().chat.close_when_done();
    assert!(
        Dispatcher::writable(&mut *h.borrow_mut()),
        "close marker queued"
    );
    run_until(&map, LIMIT, || map.is_empty());
}

/// A client whose connect is refused gets handle_error, and nothing it pushed is
/// sent anywhere.
#[test]
fn refused_connect_goes_to_handle_error() {
    let mut c = EchoClient::connect(b"\n", refused_address());
    c.chat.push(b"hello\n");
    let map = Map::new().unwrap();
    let h = map.add(c).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(h.borrow().errors.len(), 1, "{:?}", h.borrow().errors);
    assert!(!h.borrow().chat.has_output(), "close drops the queue");
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
    chat: AsyncChat,
    events: Vec<Ev>,
    script: Vec<Terminator>,
    found: usize,
}

impl AsyncChatHandler for Recording {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        note_data(&mut self.events, data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        self.events.push(Ev::Found);
        self.found += 1;
        let next = self.script[self.found % self.script.len()].clone();
        self.chat.set_terminator(next)
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
            let mut chat = AsyncChat::new(chan);
            chat.set_terminator(script[0].clone()).unwrap();
            chat.ac_in_buffer_size = in_size;
            let map = Map::new().unwrap();
            let h = map.add(Recording { chat, events: Vec::new(), script: script.clone(), found: 0 }).unwrap();
            // The peer's end of stream closes the channel once everything was read.
            run_until(&map, LIMIT, || map.is_empty());
            prop_assert_eq!(&h.borrow().events, &reference(&input, &script));
        }
    }
}

/// Runs a script on its channel when a line arrives (so that what the script pushes
/// is queued, not sent, until the read has been handled).
struct Scripted {
    chat: AsyncChat,
    script: Option<Script>,
}

type Script = Box<dyn FnOnce(&mut AsyncChat)>;

impl AsyncChatHandler for Scripted {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn collect_incoming_data(&mut self, _data: &[u8]) {}
    fn found_terminator(&mut self) -> Result<()> {
        if let Some(script) = self.script.take() {
            script(&mut self.chat);
            assert!(self.chat.has_output(), "nothing is sent during the read");
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
        let reader = thread::spawn(move || {
            peer.set_read_timeout(Some(LIMIT)).unwrap();
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
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
        let script = move |chat: &mut AsyncChat| {
            chat.ac_out_buffer_size = out_size;
            for i in 0..300 {
                chat.push(format!("<{i}>"));
                if i % 7 == 0 {
                    chat.push_with_producer(simple_producer(format!("p{i}"), 1));
                }
                if i % 11 == 0 {
                    chat.push_with_producer(simple_producer(Vec::new(), 4));
                    chat.push_with_producer(ReadProducer::new(Cursor::new(format!("r{i}")), 2));
                }
            }
            chat.close_when_done();
            chat.push(b"after the close marker: never sent");
        };
        let mut chat = AsyncChat::new(chan);
        chat.set_terminator(b"\n").unwrap();
        let map = Map::new().unwrap();
        map.add(Scripted {
            chat,
            script: Some(Box::new(script)),
        })
        .unwrap();
        run_until(&map, LIMIT, || map.is_empty());
        assert_eq!(
            String::from_utf8(reader.join().unwrap()).unwrap(),
            String::from_utf8(expected).unwrap(),
            "ac_out_buffer_size {out_size}"
        );
    }
}
