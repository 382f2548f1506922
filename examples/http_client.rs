//! The basic HTTP client from Python's asyncore docs, ported.
//!
//! `cargo run --example http_client -- HOST[:PORT] PATH [--timeout SECS]`
//!
//! Sends `GET PATH HTTP/1.0` with a `Host` header, writes the raw response (status
//! line, headers, body) to stdout unchanged, and exits 0 once the response is complete
//! (when the server closes, or at the end of a response whose length is known).
//!
//! Exits 1 with one line on stderr when the connect fails, no byte arrives for
//! `--timeout SECS` (default 30; a timer of the loop's, re-armed by every read), the
//! response is malformed or cut short (the connection closed or was reset before the
//! end of the body), or the server sends bytes after the complete response. Exits 2
//! for a bad command line.

use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use asyncore::http::ResponseParser;
use asyncore::{
    Channel, Cx, Disconnect, Dispatcher, Domain, Error, Map, Result, TaskHandle, Tasks, Type,
};

const USAGE: &str = "usage: http_client HOST[:PORT] PATH [--timeout SECS]";

/// Why the run failed, set once: the first failure is the one reported.
type Failure = Rc<RefCell<Option<String>>>;

fn fail(failure: &Failure, msg: String) {
    failure.borrow_mut().get_or_insert(msg);
}

/// The client's state; the socket is the channel it was added with.
struct HttpClient {
    /// The request, as far as it is not sent yet.
    buffer: Vec<u8>,
    out: std::io::Stdout,
    /// Follows the response as it is copied out, to know where it ends.
    parser: ResponseParser,
    /// The response is complete.
    done: bool,
    /// The read timeout, re-armed by every read.
    timer: Option<TaskHandle>,
    failure: Failure,
}

impl HttpClient {
    /// A channel connecting to `addr`, and the client that drives it.
    fn new(addr: SocketAddr, host: &str, path: &str) -> std::io::Result<(Channel, HttpClient)> {
        let mut chan = Channel::new();
        chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
        chan.connect(addr)?;
        let mut parser = ResponseParser::new();
        parser.set_request_method("GET");
        let client = HttpClient {
            buffer: format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").into_bytes(),
            out: std::io::stdout(),
            parser,
            done: false,
            timer: None,
            failure: Rc::default(),
        };
        Ok((chan, client))
    }

    fn fail(&self, msg: String) {
        fail(&self.failure, msg);
    }
}

impl Dispatcher for HttpClient {
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Ok(())
    }

    /// The end of the stream or a reset: the end of the response if it was complete
    /// or delimited by the close, a failure otherwise.
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if !self.done {
            match cx.disconnect() {
                Some(Disconnect::Reset(kind)) => {
                    let e = std::io::Error::from(kind);
                    self.fail(format!(
                        "connection reset before the response was complete: {e}"
                    ));
                }
                _ => match self.parser.finish() {
                    Ok(Some(_)) => {} // a body delimited by the close
                    Ok(None) => self.fail("connection closed before any response".into()),
                    Err(e) => self.fail(format!("truncated response: {e}")),
                },
            }
        }
        self.out.flush()?;
        cx.close();
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv(8192)?;
        if data.is_empty() {
            return Ok(()); // the end of the stream: handle_close follows
        }
        if let Some(timer) = &self.timer {
            timer.reset();
        }
        if self.done {
            self.fail(format!(
                "{} unsolicited bytes after the complete response",
                data.len()
            ));
            cx.close();
            return Ok(());
        }
        match self.parser.feed(&data) {
            Ok((used, complete)) => {
                self.out.write_all(&data[..used])?;
                if let Some(response) = complete {
                    self.done = true;
                    if used < data.len() {
                        self.fail(format!(
                            "{} unsolicited bytes after the complete response",
                            data.len() - used
                        ));
                        cx.close();
                    } else if response.keep_alive {
                        // The server keeps the connection open: the response is all.
                        self.out.flush()?;
                        cx.close();
                    }
                }
            }
            Err(e) => {
                self.out.write_all(&data)?;
                self.fail(format!("malformed response: {e}"));
                cx.close();
            }
        }
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
        self.fail(err.to_string());
        cx.close();
    }

    /// Whoever closed the channel, the timer has nothing left to guard.
    fn on_close(&mut self, _cx: &mut Cx<'_>) {
        if let Some(timer) = self.timer.take() {
            timer.cancel();
        }
        let _ = self.out.flush();
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
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let (target, path, timeout) = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("http_client: {msg}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    if let Err(msg) = run(&target, &path, timeout) {
        eprintln!("http_client: {msg}");
        std::process::exit(1);
    }
}

/// `HOST[:PORT] PATH`, with `--timeout SECS` (or `--timeout=SECS`) anywhere.
fn parse_args(
    args: impl IntoIterator<Item = String>,
) -> std::result::Result<(String, String, Duration), String> {
    let mut positional = Vec::new();
    let mut timeout = Duration::from_secs(30);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let value = match arg.split_once('=') {
            Some(("--timeout", v)) => Some(v.to_string()),
            _ if arg == "--timeout" => Some(args.next().ok_or("--timeout needs a number")?),
            _ => None,
        };
        match value {
            Some(v) => {
                let secs: f64 = v
                    .parse()
                    .ok()
                    .filter(|s: &f64| *s > 0.0 && s.is_finite())
                    .ok_or("--timeout needs a positive number of seconds")?;
                timeout = Duration::from_secs_f64(secs);
            }
            None if arg == "--" => {}
            None if arg == "-h" || arg == "--help" => return Err(String::new()),
            None if arg.starts_with("--") => return Err(format!("unknown option {arg}")),
            None => positional.push(arg),
        }
    }
    match <[String; 2]>::try_from(positional) {
        Ok([target, path]) => Ok((target, path, timeout)),
        Err(_) => Err(String::new()),
    }
}

fn run(target: &str, path: &str, timeout: Duration) -> std::result::Result<(), String> {
    let addr = resolve(target)?;
    let (chan, client) = HttpClient::new(addr, target, path).map_err(|e| format!("{addr}: {e}"))?;
    let failure = client.failure.clone();
    let (map, tasks) = (Map::new().map_err(|e| e.to_string())?, Tasks::new());
    let handle = map.add(chan, client).map_err(|e| e.to_string())?;
    // The read timeout: due `timeout` after the start, pushed back by every read.
    let weak = handle.downgrade();
    let f = failure.clone();
    let timer = tasks.call_later(timeout, move || {
        fail(&f, format!("no data for {timeout:?}: timed out"));
        if let Some(h) = weak.upgrade() {
            h.close();
        }
    });
    handle.borrow_mut().timer = Some(timer);
    drop(handle);
    // Runs until the channel has closed and the timer is gone.
    asyncore::loop_with_tasks(None, Some(&map), Some(&tasks), None).map_err(|e| e.to_string())?;
    if let Some(msg) = failure.borrow_mut().take() {
        return Err(format!("{addr}: {msg}"));
    }
    Ok(())
}
