//! The basic HTTP client from Python's asyncore docs, ported.
//!
//! `cargo run --example http_client -- HOST[:PORT] PATH`
//!
//! Sends `GET PATH HTTP/1.0` with a `Host` header, writes the raw response (status
//! line, headers, body) to stdout unchanged, and exits 0 when the server closes. A
//! refused or failed connection exits non-zero with one line on stderr.

use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{Channel, Cx, Dispatcher, Domain, Error, Result, Type};

/// Give up on a connection that makes no progress for this long.
const STALL_LIMIT: Duration = Duration::from_secs(30);

/// The client's state; the socket is the channel it was added with.
struct HttpClient {
    /// The request, as far as it is not sent yet.
    buffer: Vec<u8>,
    out: std::io::Stdout,
    failure: Rc<RefCell<Option<String>>>,
}

impl HttpClient {
    /// A channel connecting to `addr`, and the client that drives it.
    fn new(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<(Channel, HttpClient)> {
        let mut chan = Channel::new();
        chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
        chan.connect(addr)?;
        let client = HttpClient {
            buffer: format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(),
            out: std::io::stdout(),
            failure: Rc::default(),
        };
        Ok((chan, client))
    }
}

impl Dispatcher for HttpClient {
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.out.flush()?;
        cx.close();
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv(8192)?;
        self.out.write_all(&data)?;
        Ok(())
    }

    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.buffer.is_empty()
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let sent = cx.send(&self.buffer)?;
        self.buffer.drain(..sent);
        Ok(())
    }

    /// A refused connection, or any other failure: remembered for `run`, which
    /// reports it once the channel has closed.
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        *self.failure.borrow_mut() = Some(err.to_string());
        cx.close();
    }
}

/// "HOST", "HOST:PORT", "[V6]" or "[V6]:PORT" to a socket address (port 80 unless
/// given).
fn resolve(target: &str) -> std::result::Result<SocketAddr, String> {
    let has_port = if target.starts_with('[') {
        target.contains("]:")
    } else {
        target.matches(':').count() == 1
    };
    let with_port = if has_port {
        target.to_string()
    } else if target.contains(':') && !target.starts_with('[') {
        format!("[{target}]:80")
    } else {
        format!("{target}:80")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {target}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {target}: no address"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, path] = args.as_slice() else {
        eprintln!("usage: http_client HOST[:PORT] PATH");
        std::process::exit(2);
    };
    if let Err(msg) = run(target, path) {
        eprintln!("http_client: {msg}");
        std::process::exit(1);
    }
}

fn run(target: &str, path: &str) -> std::result::Result<(), String> {
    let addr = resolve(target)?;
    let (chan, client) = HttpClient::new(addr, target, path).map_err(|e| format!("{addr}: {e}"))?;
    let failure = client.failure.clone();
    let handle = asyncore::add(chan, client).map_err(|e| e.to_string())?;
    let mut last_progress = Instant::now();
    let mut last_state = String::new();
    while handle.is_open() {
        asyncore::loop_(Duration::from_millis(200), false, None, 1).map_err(|e| e.to_string())?;
        // Outside the loop's handlers, the handle reaches the channel's state.
        let chan = handle.channel();
        let state = format!("{:?}", *chan);
        if state != last_state {
            last_state = state;
            last_progress = Instant::now();
        } else if chan.connecting && last_progress.elapsed() > STALL_LIMIT {
            return Err(format!("{addr}: connect timed out"));
        }
    }
    if let Some(msg) = failure.borrow_mut().take() {
        return Err(format!("{addr}: {msg}"));
    }
    Ok(())
}
