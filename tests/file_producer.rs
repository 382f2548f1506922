//! FileProducer and Channel::send_file on real sockets: files arrive byte-exact and in
//! order with what is pushed around them, through a chat channel's FIFO and from a
//! plain dispatcher, to fast, slow and vanishing readers, by `sendfile` (TCP and Unix
//! stream sockets on Linux) and by read + send (pipes), and a file that shrinks ends
//! its producer instead of hanging or spinning.

mod util;

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use asyncore::chat::FileProducer;
use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, Error, Map, Producer, Result, SockAddr,
    Socket,
};
use socket2::SockRef;
use util::*;

const LIMIT: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Files

/// A file in the temp directory, removed when dropped.
struct TempFile {
    path: PathBuf,
}

impl TempFile {
    fn with(data: &[u8]) -> TempFile {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "asyncore-file-producer-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, data).unwrap();
        TempFile { path }
    }

    fn open(&self) -> File {
        File::open(&self.path).unwrap()
    }

    fn producer(&self) -> FileProducer {
        FileProducer::new(self.open()).unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// `len` bytes in which no 8-byte word repeats (each is a hash of its index), so a
/// chunk sent twice, skipped or misplaced shows.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut i: u64 = 0;
    while out.len() < len {
        let mut z = i
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// Where `got` first differs from `want`, for a readable failure.
fn check_same(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let at = got.iter().zip(want).position(|(a, b)| a != b);
        panic!(
            "{what}: got {} bytes, want {}; first difference at {at:?}",
            got.len(),
            want.len()
        );
    }
}

// ---------------------------------------------------------------------------
// Peers

fn read_all_in_a_thread(mut peer: impl Read + Send + 'static) -> JoinHandle<io::Result<Vec<u8>>> {
    thread::spawn(move || {
        let mut got = Vec::new();
        peer.read_to_end(&mut got)?;
        Ok(got)
    })
}

fn with_timeout(peer: TcpStream) -> TcpStream {
    peer.set_read_timeout(Some(LIMIT)).unwrap();
    peer
}

// ---------------------------------------------------------------------------
// The server side: a chat handler that counts what the loop asks of it.

#[derive(Default, Clone)]
struct Counts {
    writes: Rc<Cell<usize>>,
    closes: Rc<Cell<usize>>,
    errors: Rc<RefCell<Vec<String>>>,
}

struct Serve {
    counts: Counts,
}

impl ChatHandler for Serve {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
    fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        Ok(())
    }
    fn handle_write(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        self.counts.writes.set(self.counts.writes.get() + 1);
        chat.initiate_send()
    }
    fn handle_close(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        self.counts.closes.set(self.counts.closes.get() + 1);
        chat.close();
        Ok(())
    }
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        self.counts.errors.borrow_mut().push(err.to_string());
        chat.close();
    }
}

fn serve(counts: &Counts) -> AsyncChat<Serve> {
    AsyncChat::new(Serve {
        counts: counts.clone(),
    })
}

// ---------------------------------------------------------------------------
// Through a chat channel's FIFO

#[test]
fn a_multi_mib_file_arrives_byte_exact_then_the_connection_closes() {
    let data = pattern(6 * MIB + 13);
    let file = TempFile::with(&data);
    let (chan, peer) = channel_pair();
    let reader = read_all_in_a_thread(with_timeout(peer));

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push_with_producer(file.producer());
    chat.close_when_done();
    chat.push(b"never sent");
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    // read_to_end returned: the server closed after the whole file.
    let got = reader.join().unwrap().unwrap();
    check_same(&got, &data, "the file");
    assert_eq!(counts.closes.get(), 1, "close_when_done closed once");
    assert!(counts.errors.borrow().is_empty(), "{:?}", counts.errors);
}

#[test]
fn bytes_pushed_before_between_and_after_files_keep_their_order() {
    let first = pattern(3 * MIB + 5);
    let second = pattern(MIB + 77)[..]
        .iter()
        .map(|b| !b)
        .collect::<Vec<u8>>();
    let (f1, f2) = (TempFile::with(&first), TempFile::with(&second));
    let (chan, peer) = channel_pair();
    let reader = read_all_in_a_thread(with_timeout(peer));

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push(b"150 here it comes\r\n");
    chat.push_with_producer(f1.producer());
    chat.push(b"--between--");
    chat.push_with_producer(b"a producer's bytes".to_vec());
    // Boxed, as a producer chosen at run time would be: still sent as a file.
    let boxed: Box<dyn Producer> = Box::new(f2.producer());
    chat.push_with_producer(boxed);
    chat.push_with_producer(FileProducer::with_range(f1.open(), 10, 0)); // empty
    chat.push(b"226 done\r\n");
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let mut want = b"150 here it comes\r\n".to_vec();
    want.extend_from_slice(&first);
    want.extend_from_slice(b"--between--a producer's bytes");
    want.extend_from_slice(&second);
    want.extend_from_slice(b"226 done\r\n");
    check_same(&reader.join().unwrap().unwrap(), &want, "the stream");
    assert_eq!(counts.closes.get(), 1);
}

#[test]
fn with_range_sends_only_the_slice() {
    let data = pattern(2 * MIB);
    let file = TempFile::with(&data);
    let (chan, peer) = channel_pair();
    let reader = read_all_in_a_thread(with_timeout(peer));

    let (start, len) = (123_457, MIB + 999);
    let mut opened = file.open();
    opened.seek(SeekFrom::Start(42)).unwrap();
    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push_with_producer(FileProducer::with_range(opened, start as u64, len as u64));
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    check_same(
        &reader.join().unwrap().unwrap(),
        &data[start..start + len],
        "the slice",
    );
}

#[test]
fn file_producer_new_starts_at_the_files_position_and_never_moves_it() {
    let data = pattern(300_000);
    let file = TempFile::with(&data);
    let mut opened = file.open();
    opened.seek(SeekFrom::Start(1000)).unwrap();
    let mut producer = FileProducer::new(opened).unwrap();
    assert_eq!(producer.offset(), 1000);
    assert_eq!(producer.remaining(), 299_000);

    // The Producer side: 64 KiB chunks, read where the producer is.
    let mut chunks = Vec::new();
    loop {
        let chunk = producer.more().unwrap();
        if chunk.is_empty() {
            break;
        }
        chunks.push(chunk);
    }
    assert_eq!(
        chunks.iter().map(Vec::len).collect::<Vec<_>>(),
        [65536, 65536, 65536, 65536, 36856]
    );
    check_same(&chunks.concat(), &data[1000..], "more()");
    assert!(producer.is_done());
    assert!(producer.more().unwrap().is_empty());
    let mut opened = producer.into_inner();
    assert_eq!(
        opened.stream_position().unwrap(),
        1000,
        "position untouched"
    );
}

#[test]
fn a_file_that_ends_before_its_range_ends_the_producer_and_the_rest_follows() {
    let data = pattern(100_000);
    let file = TempFile::with(&data);
    let (chan, peer) = channel_pair();
    let reader = read_all_in_a_thread(with_timeout(peer));

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    // A range 10 times what the file holds: the producer ends where the file does.
    chat.push_with_producer(FileProducer::with_range(file.open(), 0, 1_000_000));
    chat.push(b"trailer");
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let mut want = data.clone();
    want.extend_from_slice(b"trailer");
    check_same(&reader.join().unwrap().unwrap(), &want, "the short file");
    assert!(counts.errors.borrow().is_empty(), "{:?}", counts.errors);
}

/// A server socket and a client whose buffers are small, so that the file goes out
/// in many small pieces.
fn small_buffer_pair() -> (Channel, TcpStream) {
    let (listener, addr) = std_listener();
    let client = Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    client.set_recv_buffer_size(8 * 1024).unwrap();
    client.connect(&SockAddr::from(addr)).unwrap();
    let (server, _) = listener.accept().unwrap();
    SockRef::from(&server)
        .set_send_buffer_size(16 * 1024)
        .unwrap();
    (
        Channel::from_socket(server).unwrap(),
        with_timeout(client.into()),
    )
}

#[test]
fn a_slow_reader_gets_everything_and_the_server_loop_does_not_spin() {
    let data = pattern(MIB + 1);
    let file = TempFile::with(&data);
    let (chan, mut peer) = small_buffer_pair();
    let reader = thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let mut reads = 0;
        loop {
            thread::sleep(Duration::from_millis(1));
            match peer.read(&mut buf) {
                Ok(0) => return (got, reads),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!("read: {e}"),
            }
            reads += 1;
        }
    });

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push(b"start:");
    chat.push_with_producer(file.producer());
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    let start = Instant::now();
    let mut passes = 0;
    while !map.is_empty() {
        assert!(start.elapsed() < LIMIT, "not done within {LIMIT:?}");
        map.poll(Duration::from_millis(50)).unwrap();
        passes += 1;
    }
    let (got, reads) = reader.join().unwrap();

    let mut want = b"start:".to_vec();
    want.extend_from_slice(&data);
    check_same(&got, &want, "the slow stream");
    // Each pass is woken by the reader making room; a loop that spun on a full
    // socket would make thousands of passes per read.
    let writes = counts.writes.get();
    assert!(
        writes <= 3 * reads + 50 && passes <= 3 * reads + 50,
        "{writes} handle_write calls and {passes} passes for {reads} client reads: the loop spun"
    );
    assert!(
        writes > 10,
        "{writes} handle_writes: the socket was never full?"
    );
}

/// Serves every connection the same file, then closes when done.
struct FileServer {
    file: Rc<TempFile>,
    counts: Counts,
}

impl Dispatcher for FileServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        let mut chat = serve(&self.counts);
        chat.push_with_producer(self.file.producer());
        chat.close_when_done();
        cx.add(Channel::from_socket(sock)?, chat)?;
        Ok(())
    }
}

#[test]
fn a_client_that_resets_mid_transfer_is_closed_once_and_the_next_is_served() {
    let data = pattern(16 * MIB);
    let file = Rc::new(TempFile::with(&data));
    let (listener, addr) = listening_channel();
    let map = Map::new().unwrap();
    let counts = Counts::default();
    map.add(
        listener,
        FileServer {
            file: file.clone(),
            counts: counts.clone(),
        },
    )
    .unwrap();

    // The first client reads a little, then resets the connection.
    let mut first = with_timeout(TcpStream::connect(addr).unwrap());
    run_until(&map, LIMIT, || map.len() == 2);
    let mut head = vec![0; 200_000];
    let peer = thread::spawn(move || {
        first.read_exact(&mut head).unwrap();
        SockRef::from(&first)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(first);
        head
    });
    run_until(&map, LIMIT, || peer.is_finished());
    check_same(&peer.join().unwrap(), &data[..200_000], "the first bytes");
    run_until(&map, LIMIT, || map.len() == 1);
    assert_eq!(counts.closes.get(), 1, "handle_close ran once");
    assert!(counts.errors.borrow().is_empty(), "{:?}", counts.errors);

    let passes = passes_over(&map, Duration::from_millis(300), Duration::from_millis(20));
    assert!(passes < 30, "{passes} passes in 300 ms: the loop spun");
    assert_eq!(counts.closes.get(), 1, "and only once");

    // The server goes on: a second client gets the whole file.
    let second = with_timeout(TcpStream::connect(addr).unwrap());
    let reader = read_all_in_a_thread(second);
    run_until(&map, LIMIT, || reader.is_finished());
    check_same(&reader.join().unwrap().unwrap(), &data, "the second client");
    run_until(&map, LIMIT, || map.len() == 1);
    assert_eq!(counts.closes.get(), 2);
}

#[test]
fn the_write_pass_budget_holds_for_a_file() {
    let data = pattern(4 * MIB);
    let file = TempFile::with(&data);
    let (chan, peer) = channel_pair();
    let reader = read_all_in_a_thread(with_timeout(peer));

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    // A pass sends at most 16 × 4 KiB = 64 KiB, so other channels get their turn.
    chat.state_mut().ac_out_buffer_size = 4096;
    chat.push_with_producer(file.producer());
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    check_same(&reader.join().unwrap().unwrap(), &data, "the file");
    let writes = counts.writes.get();
    assert!(
        writes >= 4 * MIB / (64 * 1024) - 1,
        "{writes} handle_writes for 4 MiB: a pass sent more than its budget"
    );
}

#[test]
fn a_unix_stream_socket_gets_the_file() {
    let data = pattern(3 * MIB + 1);
    let file = TempFile::with(&data);
    let (server, client) = UnixStream::pair().unwrap();
    client.set_read_timeout(Some(LIMIT)).unwrap();
    let reader = read_all_in_a_thread(client);

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push(b"<");
    chat.push_with_producer(file.producer());
    chat.push(b">");
    chat.close_when_done();
    map.add(Channel::from_socket(server).unwrap(), chat)
        .unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let mut want = b"<".to_vec();
    want.extend_from_slice(&data);
    want.push(b'>');
    check_same(
        &reader.join().unwrap().unwrap(),
        &want,
        "over a Unix socket",
    );
}

/// A chat channel on a pipe: `sendfile` is not used there, the file is read and sent.
#[test]
fn a_pipe_gets_the_file_by_read_and_send() {
    struct PipeOut {
        counts: Counts,
    }
    impl ChatHandler for PipeOut {
        fn readable(&mut self, _chat: &mut Chat<'_, '_>) -> bool {
            false // the write end of a pipe
        }
        fn handle_close(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
            self.counts.closes.set(self.counts.closes.get() + 1);
            chat.close();
            Ok(())
        }
    }
    let data = pattern(2 * MIB + 3);
    let file = TempFile::with(&data);
    let (pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    let reader = read_all_in_a_thread(pipe_reader);

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = AsyncChat::new(PipeOut {
        counts: counts.clone(),
    });
    chat.push(b"<");
    chat.push_with_producer(FileProducer::with_range(
        file.open(),
        1,
        data.len() as u64 - 1,
    ));
    chat.push(b">");
    chat.close_when_done();
    map.add(Channel::from_file(pipe_writer).unwrap(), chat)
        .unwrap();
    run_until(&map, LIMIT, || map.is_empty());

    let mut want = b"<".to_vec();
    want.extend_from_slice(&data[1..]);
    want.push(b'>');
    check_same(&reader.join().unwrap().unwrap(), &want, "through a pipe");
    assert_eq!(counts.closes.get(), 1);
}

/// The file is cut to `keep` bytes while the first of it waits in the socket: the
/// peer gets those `keep` bytes, then what was pushed after the file.
fn shrink_mid_way(chan: Channel, peer: impl Read + Send + 'static) {
    let data = pattern(4 * MIB);
    let file = TempFile::with(&data);
    let keep = MIB;

    let map = Map::new().unwrap();
    let counts = Counts::default();
    let mut chat = serve(&counts);
    chat.push_with_producer(file.producer());
    chat.push(b"after");
    chat.close_when_done();
    map.add(chan, chat).unwrap();
    // The peer does not read yet: the socket fills with the start of the file.
    for _ in 0..20 {
        map.poll(Duration::from_millis(1)).unwrap();
    }
    assert_eq!(map.len(), 1, "not finished before the file shrank");
    File::options()
        .write(true)
        .open(&file.path)
        .unwrap()
        .set_len(keep as u64)
        .unwrap();
    let reader = read_all_in_a_thread(peer);
    run_until(&map, LIMIT, || map.is_empty());

    let mut want = data[..keep].to_vec();
    want.extend_from_slice(b"after");
    check_same(&reader.join().unwrap().unwrap(), &want, "the shrunk file");
    assert_eq!(counts.closes.get(), 1);
    assert!(counts.errors.borrow().is_empty(), "{:?}", counts.errors);
}

#[test]
fn a_file_that_shrinks_mid_way_ends_its_producer_over_tcp() {
    let (chan, peer) = small_buffer_pair();
    shrink_mid_way(chan, peer);
}

#[test]
fn a_file_that_shrinks_mid_way_ends_its_producer_over_a_pipe() {
    let (pipe_reader, pipe_writer) = std::io::pipe().unwrap();
    shrink_mid_way(Channel::from_file(pipe_writer).unwrap(), pipe_reader);
}

// ---------------------------------------------------------------------------
// From a plain dispatcher

/// Python's plain `dispatcher` serving a file from `handle_write`.
struct Download {
    file: FileProducer,
    writes: Rc<Cell<usize>>,
}

impl Dispatcher for Download {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.file.is_done()
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.writes.set(self.writes.get() + 1);
        self.file.send_to(cx)?;
        if self.file.is_done() {
            cx.close();
        }
        Ok(())
    }
}

#[test]
fn a_plain_dispatcher_serves_a_file_with_send_to() {
    let data = pattern(5 * MIB + 3);
    let file = TempFile::with(&data);
    for (what, (chan, peer)) in [("fast", channel_pair()), ("slow", small_buffer_pair())] {
        let reader = read_all_in_a_thread(peer);
        let map = Map::new().unwrap();
        let writes = Rc::new(Cell::new(0));
        let h = map
            .add(
                chan,
                Download {
                    file: FileProducer::with_range(file.open(), 7, data.len() as u64 - 7),
                    writes: writes.clone(),
                },
            )
            .unwrap();
        run_until(&map, LIMIT, || map.is_empty());
        check_same(&reader.join().unwrap().unwrap(), &data[7..], what);
        assert!(!h.is_open());
        // One `sendfile` takes what the socket has room for: a spinning loop would
        // call handle_write thousands of times more.
        assert!(
            writes.get() < 20_000,
            "{what}: {} handle_writes",
            writes.get()
        );
    }
}

#[test]
fn send_file_reports_the_end_of_the_file_and_keeps_the_position() {
    let data = pattern(1000);
    let file = TempFile::with(&data);
    let opened = file.open();
    let (mut chan, mut peer) = channel_pair();
    assert_eq!(
        chan.send_file(&opened, 0, 0).unwrap(),
        0,
        "len 0 sends nothing"
    );
    assert_eq!(
        chan.send_file(&opened, 990, 100).unwrap(),
        10,
        "up to the end"
    );
    let err = chan.send_file(&opened, 1000, 100).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    let err = chan.send_file(&opened, 5000, 1).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    assert_eq!(chan.send_file(&opened, 0, 5).unwrap(), 5);
    assert_eq!((&opened).stream_position().unwrap(), 0);
    assert!(chan.connected);

    let mut got = vec![0; 15];
    peer.read_exact(&mut got).unwrap();
    assert_eq!(&got[..10], &data[990..]);
    assert_eq!(&got[10..], &data[..5]);
}

#[test]
fn send_file_to_a_reset_peer_returns_0_and_a_close_is_due() {
    let data = pattern(4 * MIB);
    let file = TempFile::with(&data);
    let opened = file.open();
    let (chan, peer) = channel_pair();
    let map = Map::new().unwrap();
    let closes = Rc::new(Cell::new(0));
    let seen = Rc::new(RefCell::new(Vec::new()));

    struct Push {
        file: File,
        sent: u64,
        closes: Rc<Cell<usize>>,
        seen: Rc<RefCell<Vec<(usize, bool)>>>,
    }
    impl Dispatcher for Push {
        fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let n = cx.send_file(&self.file, self.sent % (4 * MIB as u64), MIB)?;
            self.sent += n as u64;
            self.seen.borrow_mut().push((n, cx.connected));
            Ok(())
        }
        fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            self.closes.set(self.closes.get() + 1);
            cx.close();
            Ok(())
        }
    }
    map.add(
        chan,
        Push {
            file: opened,
            sent: 0,
            closes: closes.clone(),
            seen: seen.clone(),
        },
    )
    .unwrap();
    for _ in 0..20 {
        map.poll(Duration::from_millis(5)).unwrap();
    }
    SockRef::from(&peer)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(peer);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(closes.get(), 1);
    let seen = seen.borrow();
    let last = seen.last().unwrap();
    assert!(!last.1, "the channel is no longer connected: {seen:?}");
}
