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
//! sends more than 64 KiB without a newline is closed; the others are not affected.
//!
//! With `--idle-timeout SECS` (fractional seconds, such as `0.5`), a client that sends
//! nothing for SECS seconds, nickname or not, is sent `idle timeout` and the connection
//! closes once that is sent. Without it, clients may stay silent for ever.
//!
//! The broadcast uses a shared registry of the clients' [`Handle`]s. While a client's
//! `found_terminator` runs, its own handler is borrowed by the loop, so
//! `try_borrow_mut` on its handle fails and the sender is skipped for free. What is
//! pushed into the other clients is sent by their `handle_write` on the next pass, one
//! write per client for all the lines of the sender's read.
//!
//! The idle timeout is one task per client among the thread's global tasks
//! ([`asyncore::call_later`]; `Map::run` runs them along with the channels). It is
//! scheduled when the client is accepted, restarted with [`TaskHandle::reset`] on
//! every read, and dropped with [`TaskHandle::cancel`] when the client closes for any
//! reason. When it runs, it borrows the client through its [`Handle`] (tasks run
//! between handlers, never inside one, so the borrow succeeds), queues the notice and
//! asks for the close once that is sent.

use std::cell::RefCell;
use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use asyncore::{
    AsyncChat, AsyncChatHandler, Channel, Dispatcher, Domain, Error, Handle, Map, Result, SockAddr,
    Socket, TaskHandle, Type,
};

/// Longest line (without its newline) a client may send; longer ones close it.
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

/// Every connected client, by id. Shared by the listener and all clients.
type Registry = Rc<RefCell<Vec<(u64, Handle<Client>)>>>;

/// One connection.
struct Client {
    chat: AsyncChat,
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
    fn new(sock: Socket, id: u64, registry: Registry) -> Result<Client> {
        let mut chat = AsyncChat::from_socket(sock)?;
        chat.set_terminator(b"\n")?;
        chat.set_input_limit(Some(MAX_LINE));
        Ok(Client {
            chat,
            id,
            registry,
            line: Vec::new(),
            nick: None,
            closing: false,
            idle: None,
        })
    }

    /// The idle task ran: the client sent nothing for the whole timeout.
    fn time_out(&mut self) {
        self.idle = None;
        if !self.closing {
            self.closing = true;
            self.chat.push(b"idle timeout\n");
            self.chat.close_when_done();
        }
    }

    /// Sends `NICK: line` to every other client with a nickname.
    fn broadcast(&self, nick: &[u8], line: &[u8]) {
        let mut message = Vec::with_capacity(nick.len() + line.len() + 3);
        message.extend_from_slice(nick);
        message.extend_from_slice(b": ");
        message.extend_from_slice(line);
        message.push(b'\n');
        for (_, handle) in self.registry.borrow().iter() {
            // None for the sender: its handler is the one running.
            let Some(mut other) = handle.try_borrow_mut() else {
                continue;
            };
            if other.nick.is_none() || other.closing || !other.chat.channel().is_open() {
                continue;
            }
            if other.chat.pending_bytes() > MAX_BACKLOG {
                // It does not read what it is sent. (`Dispatcher` is imported too, so
                // the handler method is named with its trait.)
                AsyncChatHandler::close(&mut *other);
                continue;
            }
            other.chat.push(&message);
        }
    }
}

impl AsyncChatHandler for Client {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }

    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }

    /// Any bytes from the client, even part of a line, restart its idle countdown.
    fn handle_read(&mut self) -> Result<()> {
        if let Some(idle) = &self.idle {
            idle.reset();
        }
        asyncore::default_handle_read(self)
    }

    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.line.extend_from_slice(data);
    }

    fn found_terminator(&mut self) -> Result<()> {
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
            self.chat.push(b"bye\n");
            self.chat.close_when_done();
        } else if let Some(nick) = &self.nick {
            self.broadcast(nick, &line);
        } else {
            self.chat.push(b"welcome ");
            self.chat.push(&line);
            self.chat.push(b"\n");
            self.nick = Some(std::mem::take(&mut line));
        }
        // Reuse the line's buffer for the next one.
        line.clear();
        self.line = line;
        Ok(())
    }

    /// Stops the idle countdown and leaves the registry as well. (`close`, not
    /// `handle_close`: a client closed for its backlog or a failure gets here too.)
    fn close(&mut self) {
        if let Some(idle) = self.idle.take() {
            idle.cancel();
        }
        self.chat.close();
        if let Ok(mut registry) = self.registry.try_borrow_mut() {
            registry.retain(|(id, _)| *id != self.id);
        }
    }
}

/// The listening socket: wraps each connection in a [`Client`].
struct Server {
    chan: Channel,
    registry: Registry,
    next_id: u64,
    idle_timeout: Option<Duration>,
}

impl Dispatcher for Server {
    fn channel(&self) -> &Channel {
        &self.chan
    }

    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let client = Client::new(sock, id, self.registry.clone())?;
        let map = self.chan.map().expect("the server is in a map");
        let handle = map.add(client)?;
        if let Some(timeout) = self.idle_timeout {
            let target = handle.clone();
            let idle = asyncore::call_later(timeout, move || target.borrow_mut().time_out());
            handle.borrow_mut().idle = Some(idle);
        }
        let mut registry = self.registry.borrow_mut();
        // Clients closed while the registry was borrowed are dropped here.
        registry.retain(|(_, h)| h.is_open());
        registry.push((id, handle));
        Ok(())
    }

    /// A failed accept (out of file descriptors, say) must not stop the server.
    fn handle_error(&mut self, err: Error) {
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
    map.add(Server {
        chan,
        registry: Registry::default(),
        next_id: 0,
        idle_timeout: config.idle_timeout,
    })?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {bound}")?;
    out.flush()?;
    drop(out);

    map.run(None, None)?;
    Ok(())
}

fn main() -> ExitCode {
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
