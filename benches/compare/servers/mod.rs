//! The servers under comparison, one file each, and the list the scenarios run.
//!
//! # The baselines
//!
//! - `mio` ([`mio_echo`]): raw mio as most hand-written mio servers are written,
//!   edge-triggered, one shared 64 KiB read buffer, a short read taken as drained
//!   and a short write as full: 3 syscalls per ping-pong round trip (`epoll_wait`,
//!   `recvfrom`, `sendto`), the floor for a readiness-based server.
//! - `tokio` ([`tokio_echo`]): a `current_thread` runtime, a task per connection,
//!   `read` into an 8 KiB buffer then `write_all`, as a good tokio user writes it
//!   (tokio's I/O types take the same short-read shortcut).
//! - `tokio-lines` ([`tokio_lines`]): tokio_util's `LinesCodec` for the lines scenario.
//!
//! The file scenario compares two of the crate's own servers ([`asyncore_file`]):
//! `asyncore-sendfile` pushes a `FileProducer`, `asyncore-read` a `ReadProducer`.
//!
//! The crate's `asyncore` server is the shipped `echo_server` example's handlers
//! ([`asyncore_echo`]); `asyncore-chat` is the bench's own `AsyncChat` line echo.
//! [`BASELINE_NOTES`] says the same under the tables.
//!
//! # Adding a server
//!
//! Write `fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats` in a
//! new file here and add one line to [`SERVERS`]. The harness calls it on a thread
//! of its own (or in a child process, for the idle scenario) and expects it to:
//!
//! - serve on `listener`: bound to 127.0.0.1 port 0, backlog 1024, already
//!   **non-blocking**, with `TCP_NODELAY` set (accepted sockets inherit it on
//!   Linux, so every server gets the same socket options);
//! - run single-threaded on the calling thread (the harness samples that thread's
//!   CPU time, so work moved to another thread goes unmeasured);
//! - echo every byte it receives ([`Protocol::Echo`]) or every `\n`-terminated line
//!   with its `\n` ([`Protocol::Lines`]), on any number of connections, closing a
//!   connection when the peer does (or send a file and close, [`Protocol::File`]);
//! - return soon after `stop` is given, dropping its connections: poll
//!   [`Stop::is_stopped`] with a bounded poll timeout, or register a wake-up with
//!   [`Stop::on_stop`]. A server still running 5 s after the stop is reported as
//!   failed and left behind.
//!
//! Panicking is fine for setup failures: the harness reports that server as failed
//! and goes on with the others.

mod asyncore_chat;
mod asyncore_echo;
pub mod asyncore_file;
mod mio_echo;
mod tokio_accept;
mod tokio_echo;
mod tokio_lines;

use std::net::TcpListener;

pub use crate::stop::Stop;

/// What a server reports when it stops.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerStats {
    /// Connections accepted.
    pub accepted: u64,
}

/// A server's entry point: serve `listener` on the calling thread until `stop`.
pub type ServeFn = fn(TcpListener, Stop) -> ServerStats;

/// What a server does with the bytes it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Echoes every byte (ping-pong, bulk and idle scenarios).
    Echo,
    /// Echoes every `\n`-terminated line (lines scenario).
    Lines,
    /// Sends a file to every connection, then closes it (file scenario).
    File,
}

/// One server under comparison.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// Its name in tables and on the command line.
    pub name: &'static str,
    /// Which scenarios it can run.
    pub protocol: Protocol,
    /// Its entry point.
    pub serve: ServeFn,
    /// The scenarios it runs in (empty: all of its protocol's); it runs in others
    /// only when named on the command line.
    pub only_in: &'static [&'static str],
}

/// Baseline names the ratio columns and goals refer to.
pub const MIO: &str = "mio";
/// The tokio byte-echo baseline.
pub const TOKIO: &str = "tokio";
/// The tokio_util `LinesCodec` baseline.
pub const LINES_CODEC: &str = "tokio-lines";
/// The crate's `Dispatcher` echo server, free-running with a dispatch budget of
/// [`SERVER_BUDGET`] (goals are checked against this name).
pub const ASYNCORE: &str = "asyncore";
/// The same echo server with the map's default dispatch budget (1, Python's),
/// stepped with `Map::poll`: one dispatch per channel per pass, Python's
/// interleaving. Shown beside it in the bulk scenario, where the difference lies;
/// no goal.
pub const ASYNCORE_STEPPED: &str = "asyncore-step";
/// The crate's `AsyncChat` line-echo server (goals are checked against this name).
pub const ASYNCHAT: &str = "asyncore-chat";

/// The crate's `AsyncChat` file server pushing a `FileProducer` (`sendfile`).
pub const ASYNCORE_SENDFILE: &str = "asyncore-sendfile";
/// The same pushing a `ReadProducer` (read + send), the file scenario's baseline.
pub const ASYNCORE_READ: &str = "asyncore-read";

/// What the echo baselines do, printed under the tables that compare with them.
pub const BASELINE_NOTES: &[&str] = &[
    "mio: raw mio, edge-triggered, shared 64 KiB buffer; a short read is taken as drained and a \
     short write as full (3 syscalls per ping-pong round trip: epoll_wait, recvfrom, sendto)",
    "tokio: current_thread runtime, a task per connection, read into 8 KiB then write_all; \
     asyncore: the shipped echo_server example's handlers, dispatch budget 16",
];

/// Every server, in table order.
pub const SERVERS: &[Server] = &[
    Server {
        name: MIO,
        protocol: Protocol::Echo,
        serve: mio_echo::serve,
        only_in: &[],
    },
    Server {
        name: TOKIO,
        protocol: Protocol::Echo,
        serve: tokio_echo::serve,
        only_in: &[],
    },
    Server {
        name: ASYNCORE,
        protocol: Protocol::Echo,
        serve: asyncore_echo::serve,
        only_in: &[],
    },
    Server {
        name: ASYNCORE_STEPPED,
        protocol: Protocol::Echo,
        serve: asyncore_echo::serve_stepped,
        only_in: &["bulk"],
    },
    Server {
        name: LINES_CODEC,
        protocol: Protocol::Lines,
        serve: tokio_lines::serve,
        only_in: &[],
    },
    Server {
        name: ASYNCHAT,
        protocol: Protocol::Lines,
        serve: asyncore_chat::serve,
        only_in: &[],
    },
    Server {
        name: ASYNCORE_SENDFILE,
        protocol: Protocol::File,
        serve: asyncore_file::serve_sendfile,
        only_in: &[],
    },
    Server {
        name: ASYNCORE_READ,
        protocol: Protocol::File,
        serve: asyncore_file::serve_read,
        only_in: &[],
    },
];

/// The dispatch budget the crate's free-running servers (`asyncore`,
/// `asyncore-chat`) set with `Map::set_dispatch_budget`: a pass serves a busy
/// channel up to this many times before polling again (runs of reads on a busy
/// stream; busy channels served `A A B B`). The map's default is 1, Python's one
/// dispatch per channel per pass, which `asyncore-step` keeps.
pub const SERVER_BUDGET: u32 = 16;

/// Runs `map`'s loop as a Python server does (`asyncore.loop()`, no count) until
/// the harness gives `stop`, which reaches the loop through a `LoopHandle`. The
/// loop serves each channel as often per pass as the map's dispatch budget says;
/// the caller sets it.
fn run_until_stopped(map: &asyncore::Map, stop: &Stop) {
    let handle = map.loop_handle().expect("loop handle");
    stop.on_stop(move || {
        handle.exit();
    });
    map.run(None, None).expect("asyncore loop");
}

/// Looks a server up by name.
pub fn by_name(name: &str) -> Option<&'static Server> {
    SERVERS.iter().find(|s| s.name == name)
}
