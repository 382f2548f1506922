//! The crate's file servers, for the file scenario: a listening `Dispatcher` whose
//! `handle_accepted` opens the file, adds an `AsyncChat` for the connection, pushes
//! the file as one producer and then `close_when_done`, as a Python FTP server's
//! `RETR` does (`push_with_producer(file_producer(f))`, `close_when_done()`).
//!
//! - `asyncore-sendfile` pushes `FileProducer::new(file)`: the chat FIFO hands it to
//!   `Channel::send_file`, one `sendfile(2)` per writable socket on Linux.
//! - `asyncore-read` pushes `ReadProducer::new(file, 64 KiB)`: each chunk is read
//!   into a fresh `Vec` and sent from it, Python's `file_producer`.
//!
//! The client sends nothing; the chat handler's input side is never used. The loop
//! runs free with the dispatch budget a server sets,
//! [`SERVER_BUDGET`](super::SERVER_BUDGET), as the other asyncore servers do.
//!
//! Which file: the scenario names it with [`set_file`] for a server on a thread of
//! this process; a server in a child process (under strace) reads it from the
//! environment variable [`FILE_ENV`], which the scenario has strace set (`-E`).

use std::fs::File;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Mutex;

use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, FileProducer, Map, ReadProducer, Result,
    SockAddr, Socket,
};

use super::{ServerStats, Stop};

/// The environment variable naming the file for a server in a child process.
pub const FILE_ENV: &str = "ASYNCORE_BENCH_FILE";

/// The chunk `asyncore-read` reads and sends: 64 KiB, asynchat's buffer size.
pub const READ_CHUNK: usize = 64 * 1024;

/// The file to serve, when the scenario runs the server in this process.
static FILE: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Names the file the servers of this process serve (`None`: none).
pub fn set_file(path: Option<PathBuf>) {
    *FILE.lock().unwrap() = path;
}

/// The file to serve: [`set_file`]'s, else [`FILE_ENV`]'s.
fn file_path() -> PathBuf {
    let set = FILE.lock().unwrap().clone();
    set.or_else(|| std::env::var_os(FILE_ENV).map(PathBuf::from))
        .expect("no file to serve: set_file() or ASYNCORE_BENCH_FILE")
}

/// How the file goes out.
#[derive(Clone, Copy, Debug)]
enum Way {
    /// `FileProducer`: `sendfile(2)`.
    Sendfile,
    /// `ReadProducer`: read into a `Vec`, then send.
    Read,
}

/// A download: nothing to do but send what was pushed.
struct Download;

impl ChatHandler for Download {
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
}

struct FileServer {
    path: PathBuf,
    way: Way,
    accepted: u64,
}

impl Dispatcher for FileServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        let file = File::open(&self.path)?;
        let mut chat = AsyncChat::new(Download);
        match self.way {
            Way::Sendfile => chat.push_with_producer(FileProducer::new(file)?),
            Way::Read => chat.push_with_producer(ReadProducer::new(file, READ_CHUNK)),
        }
        chat.close_when_done();
        cx.add(Channel::from_socket(sock)?, chat)?;
        Ok(())
    }
}

fn serve_by(way: Way, listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    map.set_dispatch_budget(super::SERVER_BUDGET);
    let chan = Channel::from_socket(listener).expect("listener");
    let server = FileServer {
        path: file_path(),
        way,
        accepted: 0,
    };
    let server = map.add(chan, server).expect("add");
    super::run_until_stopped(&map, &stop);
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(&map), true).expect("close_all");
    ServerStats { accepted }
}

/// Serves the file with `FileProducer` (`sendfile`) on `listener` until `stop`.
pub fn serve_sendfile(listener: TcpListener, stop: Stop) -> ServerStats {
    serve_by(Way::Sendfile, listener, stop)
}

/// Serves the file with `ReadProducer` (read + send) on `listener` until `stop`.
pub fn serve_read(listener: TcpListener, stop: Stop) -> ServerStats {
    serve_by(Way::Read, listener, stop)
}
