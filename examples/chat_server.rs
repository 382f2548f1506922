//! A line-based chat server built on `AsyncChat`:
//! `cargo run --example chat_server -- [--idle-timeout SECS] [ADDR]` (default
//! 127.0.0.1:6667; port 0 picks a free port; the option may also follow ADDR).
//!
//! Prints `listening on IP:PORT` once listening, then runs until killed.
//!
//! The protocol: lines end with `"\n"` (a `"\r"` before it is dropped). A client's
//! first line is its nickname, answered with `welcome NICK`. Every later line `L` goes
//! to every other client that has a nickname as `NICK: L`. The line `/quit` is
//! answered with `bye` and the connection closes once that is sent. A client that
//! sends a line of more than 64 KiB (not counting the `"\r\n"` or `"\n"` that ends
//! it) is closed; the others are not affected.
//!
//! With `--idle-timeout SECS` (fractional seconds, such as `0.5`), a client that sends
//! nothing for SECS seconds, nickname or not, is sent `idle timeout` and the connection
//! closes once that is sent. Without it, clients may stay silent for ever.
//!
//! Each client is a [`ChatHandler`] holding only its own state, wrapped in an
//! [`AsyncChat`] when the listener adds it to the map. Replies to the client itself
//! go out with `chat.push`, which sends at once. The broadcast goes through a shared
//! registry of the clients' [`Handle`]s: `handle.borrow_mut().push(..)` queues the
//! line in another client and has the loop look at it on its next pass, where its
//! `handle_write` sends, in one write per client, all the lines of the sender's read.
//! A client that lets [`MAX_BACKLOG`] bytes pile up unread is closed.
//!
//! The idle timeout is one task per client among the loop's tasks
//! ([`Cx::call_later`]; `Map::run` runs the thread's global tasks along with the
//! channels). It is scheduled when the client is accepted, restarted with
//! [`TaskHandle::reset`] on every read, and dropped with [`TaskHandle::cancel`] in
//! [`on_close`](ChatHandler::on_close), which runs whoever closed the client. When it
//! runs, it borrows the client through its handle (tasks run between handlers, never
//! inside one, so the borrow succeeds), queues the notice and asks for the close once
//! that is sent.

use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, Domain, Error, Handle, Map, Result,
    SockAddr, Socket, TaskHandle, Type,
};

/// Longest line (without its `"\r\n"` or `"\n"`) a client may send; longer ones
/// close it.
const MAX_LINE: usize = 64 * 1024;
/// A client that lets this much output pile up unread is closed.
const MAX_BACKLOG: usize = 16 * 1024 * 1024;
const DEFAULT_ADDR: &str = "127.0.0.1:6667";
const USAGE: &str = "usage: chat_server [--idle-timeout SECS] [ADDR]";

/// Command-line settings. Options go here (and in [`Config::from_args`]), and reach
/// the server through [`run`].
#[derive(Debug)]
struct Config {
    addr: SocketAddr,
    /// Close a client after this long without a byte from it.
    idle_timeout: Option<Duration>,
}

impl Config {
    fn from_args(args: impl IntoIterator<Item = String>) -> std::result::Result<Config, String> {
        let mut addr = None;
        let mut idle_timeout = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Err(USAGE.to_string()),
                "--idle-timeout" => {
                    let secs = args.next().ok_or("--idle-timeout needs SECS")?;
                    idle_timeout = Some(parse_secs(&secs)?);
                }
                opt if opt.starts_with('-') => return Err(format!("unknown option {opt}")),
                _ if addr.is_none() => addr = Some(parse_addr(&arg)?),
                _ => return Err(format!("unexpected argument {arg}")),
            }
        }
        Ok(Config {
            addr: match addr {
                Some(a) => a,
                None => parse_addr(DEFAULT_ADDR)?,
            },
            idle_timeout,
        })
    }
}

/// A positive number of seconds, possibly fractional (`0.3`).
fn parse_secs(text: &str) -> std::result::Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("bad idle timeout {text}: want a positive number of seconds"))
}

/// `IP:PORT`, `HOST:PORT`, or a bare port on 127.0.0.1.
fn parse_addr(text: &str) -> std::result::Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.to_socket_addrs()
        .map_err(|e| format!("bad address {text}: {e}"))?
        .next()
        .ok_or_else(|| format!("no address for {text}"))
}

/// Every connected client, by id. Shared by the listener and all clients. (A client
/// holds the registry and the registry a handle to the client: each client leaves it
/// in `on_close`, and the listener drops any left behind, so none is kept.)
type Registry = Rc<RefCell<Vec<(u64, Handle<AsyncChat<Client>>)>>>;

/// One connection's state; the chat state around it is in its [`AsyncChat`].
struct Client {
    id: u64,
    registry: Registry,
    /// The line being collected.
    line: Vec<u8>,
    nick: Option<Vec<u8>>,
    /// `/quit` was received or the client was idle too long: ignore the rest, send
    /// nothing more, close once the last message (`bye`, `idle timeout`) is out.
    closing: bool,
    /// The idle-timeout task, with `--idle-timeout`, while it is pending.
    idle: Option<TaskHandle>,
}

impl Client {
    /// A new client, ready to be added to the map.
    fn new(id: u64, registry: Registry) -> Result<AsyncChat<Client>> {
        let mut chat = AsyncChat::new(Client {
            id,
            registry,
            line: Vec::new(),
            nick: None,
            closing: false,
            idle: None,
        });
        chat.set_terminator(b"\n")?;
        // No input limit: with the terminator "\n", the "\r" of a CRLF is data to the
        // splitter and would count toward it. `collect_incoming_data` bounds the line.
        Ok(chat)
    }

    /// Sends `NICK: line` to every other client with a nickname.
    fn broadcast(&self, nick: &[u8], line: &[u8]) {
        let mut message = Vec::with_capacity(nick.len() + line.len() + 3);
        message.extend_from_slice(nick);
        message.extend_from_slice(b": ");
        message.extend_from_slice(line);
        message.push(b'\n');
        let mut overflowing = Vec::new();
        for (id, handle) in self.registry.borrow().iter() {
            if *id == self.id || !handle.is_open() {
                continue; // the sender (its own handler is the one running), or gone
            }
            let mut other = handle.borrow_mut();
            if other.handler.nick.is_none() || other.handler.closing {
                continue;
            }
            if other.state().pending_bytes() > MAX_BACKLOG {
                // It does not read what it is sent. Closed below, once the registry
                // is free for its `on_close`.
                overflowing.push(handle.clone());
                continue;
            }
            // Queued: sent by its own `handle_write` on the next pass.
            other.push(&message);
        }
        for handle in overflowing {
            handle.close();
        }
    }
}

/// The idle task ran: the client sent nothing for the whole timeout.
fn time_out(chat: &mut AsyncChat<Client>) {
    let client = &mut chat.handler;
    client.idle = None;
    if !client.closing {
        client.closing = true;
        chat.push(b"idle timeout\n");
        chat.close_when_done();
    }
}

impl ChatHandler for Client {
    /// Any bytes from the client, even part of a line, restart its idle countdown.
    fn handle_read(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        if let Some(idle) = &self.idle {
            idle.reset();
        }
        asyncore::default_handle_read(self, chat)
    }

    /// Closes a client whose line goes past `MAX_LINE`. One byte more is allowed if it
    /// is a `"\r"`, which may be the first half of a CRLF: if anything but the `"\n"`
    /// follows it, the next call closes the client.
    fn collect_incoming_data(&mut self, chat: &mut Chat<'_, '_>, data: &[u8]) {
        let len = self.line.len() + data.len();
        if len > MAX_LINE + 1 || (len == MAX_LINE + 1 && data.last() != Some(&b'\r')) {
            chat.log_info(
                &format!("closing client {}: line over {MAX_LINE} bytes", self.id),
                log::Level::Info,
            );
            self.line = Vec::new();
            // `found_terminator` may still be called for this read: it ignores it.
            self.closing = true;
            chat.close();
            return;
        }
        self.line.extend_from_slice(data);
    }

    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        if self.closing {
            self.line.clear();
            return Ok(());
        }
        let mut line = std::mem::take(&mut self.line);
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line == b"/quit" {
            self.closing = true;
            chat.push(b"bye\n");
            chat.close_when_done();
        } else if let Some(nick) = &self.nick {
            self.broadcast(nick, &line);
        } else {
            let mut welcome = Vec::with_capacity(line.len() + 9);
            welcome.extend_from_slice(b"welcome ");
            welcome.extend_from_slice(&line);
            welcome.push(b'\n');
            chat.push(welcome);
            self.nick = Some(std::mem::take(&mut line));
        }
        // Reuse the line's buffer for the next one.
        line.clear();
        self.line = line;
        Ok(())
    }

    /// Stops the idle countdown and leaves the registry. (`on_close`, not
    /// `handle_close`: a client closed for its backlog or a failure gets here too.)
    fn on_close(&mut self, _chat: &mut Chat<'_, '_>) {
        if let Some(idle) = self.idle.take() {
            idle.cancel();
        }
        // Never busy as written (a broadcast closes clients only once it has let go
        // of the registry); if it were, the listener would drop the entry instead.
        if let Ok(mut registry) = self.registry.try_borrow_mut() {
            registry.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The listening socket: wraps each connection in a [`Client`].
struct Server {
    registry: Registry,
    next_id: u64,
    idle_timeout: Option<Duration>,
}

impl Dispatcher for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let client = Client::new(id, self.registry.clone())?;
        let handle = cx.add(Channel::accepted(sock, addr)?, client)?;
        if let Some(timeout) = self.idle_timeout {
            // Weak: the task is not what keeps a client alive (`on_close` cancels it).
            let target = handle.downgrade();
            let idle = cx.call_later(timeout, move || {
                if let Some(handle) = target.upgrade() {
                    time_out(&mut handle.borrow_mut());
                }
            });
            handle.borrow_mut().handler.idle = Some(idle);
        }
        let mut registry = self.registry.borrow_mut();
        // Clients closed while the registry was borrowed are dropped here.
        registry.retain(|(_, h)| h.is_open());
        registry.push((id, handle));
        Ok(())
    }

    /// A failed accept (out of file descriptors, say) must not stop the server.
    fn handle_error(&mut self, _cx: &mut Cx<'_>, err: Error) {
        eprintln!("chat_server: accept failed: {err}");
    }
}

/// Listens on `config.addr`, announces the address, and serves until killed.
fn run(config: Config) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let map = Map::new()?;
    let mut chan = Channel::new();
    chan.create_socket(Domain::for_address(config.addr), Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind(config.addr)?;
    chan.listen(128)?;
    let bound = chan.local_addr()?.as_socket().ok_or("not an IP address")?;
    map.set_dispatch_budget(16); // a server: serve busy clients in runs (default 1)
    map.add(
        chan,
        Server {
            registry: Registry::default(),
            next_id: 0,
            idle_timeout: config.idle_timeout,
        },
    )?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {bound}")?;
    out.flush()?;
    drop(out);

    map.run(None, None)?;
    Ok(())
}

fn main() -> ExitCode {
    // Warnings and errors (a listener closed by an error, say) on stderr; RUST_LOG
    // overrides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(config) => config,
        Err(msg) => {
            eprintln!("chat_server: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chat_server: {e}");
            ExitCode::FAILURE
        }
    }
}
