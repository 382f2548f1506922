//! An FTP server over an in-memory file store: `cargo run --example ftp_server -- [ADDR]`
//! (default 127.0.0.1:2121). Prints `listening on IP:PORT` once listening. Python's
//! `ftplib` talks to it:
//!
//! ```python
//! from ftplib import FTP
//! ftp = FTP(); ftp.connect("127.0.0.1", 2121); ftp.login()
//! ftp.storbinary("STOR hello.txt", io.BytesIO(b"hello"))
//! ftp.retrbinary("RETR hello.txt", print); ftp.quit()
//! ```
//!
//! A port of the dummy server in CPython's `test_ftplib.py`, and the porting patterns
//! it needs in one place:
//!
//! - a **control channel** ([`Control`], an `async_chat` on CRLF lines) that opens
//!   **data channels** ([`Data`]): outgoing for `PORT` (`chat.add` of a connecting
//!   channel), or through a **helper listener** ([`PasvListener`]) for `PASV` / `EPSV`,
//!   which accepts one connection and closes itself;
//! - **weak handles back** to the control channel, so the pair never keeps itself
//!   alive: the control holds its data channel and listener strongly, they hold it
//!   weakly;
//! - **push, then close**: `QUIT` pushes `221` and closes, and the reply arrives, as
//!   in Python;
//! - **cleanup in `on_close`**: a control channel that goes away takes its data
//!   channel and listener with it, whoever closed it.
//!
//! Commands: USER, PASS, ACCT, SYST, TYPE, MODE, STRU, PWD, CWD, NOOP, PASV, EPSV,
//! PORT, EPRT, LIST, NLST, RETR, STOR, SIZE, DELE, QUIT. Files live in memory, shared
//! by every session, at most `MAX_FILE` bytes each.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;

use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, Domain, Error, Handle, Map, Result,
    SockAddr, Socket, Terminator, Type, WeakHandle,
};

/// The largest file STOR accepts (552 past it).
const MAX_FILE: usize = 64 * 1024 * 1024;
/// The longest command line (500 past it).
const MAX_LINE: usize = 4096;
/// Stop reading commands while this many reply bytes are unsent (a client that
/// pipelines commands and never reads).
const MAX_UNSENT_REPLIES: usize = 64 * 1024;

/// The files, shared by every session.
type Store = Rc<RefCell<BTreeMap<String, Rc<Vec<u8>>>>>;

/// What a data connection is for.
enum Transfer {
    /// Send these bytes (a file, or a listing), then close.
    Send(Rc<Vec<u8>>),
    /// Receive a file under this name until the client closes.
    Receive(String),
}

/// The control connection: Python's `DummyFTPHandler(asynchat.async_chat)`.
struct Control {
    store: Store,
    line: Vec<u8>,
    /// The data channel (connected or connecting) and the listener of `PASV`.
    data: Option<Handle<AsyncChat<Data>>>,
    pasv: Option<Handle<PasvListener>>,
    /// A transfer command that came before its data connection.
    pending: Option<Transfer>,
    /// A transfer was handed to the data channel: its close ends it with a 226.
    transferring: bool,
    /// The current line went past `MAX_LINE`: its rest is skipped up to the next
    /// CRLF, then answered with a 500.
    skipping: bool,
}

impl Control {
    fn new(store: Store) -> Control {
        Control {
            store,
            line: Vec::new(),
            data: None,
            pasv: None,
            pending: None,
            transferring: false,
            skipping: false,
        }
    }

    /// Closes any data channel or listener from an earlier command.
    fn drop_data(&mut self) {
        if let Some(data) = self.data.take() {
            data.close();
        }
        if let Some(pasv) = self.pasv.take() {
            pasv.close();
        }
        self.pending = None;
        self.transferring = false;
    }

    /// A new data channel for this control channel.
    fn data_handler(chat: &Chat<'_, '_>) -> AsyncChat<Data> {
        let control = chat
            .handle::<AsyncChat<Control>>()
            .map(|h| h.downgrade())
            .unwrap_or_default();
        let mut data = AsyncChat::new(Data {
            control,
            received: Vec::new(),
            receiving: None,
        });
        // A data connection has no framing: all input is file content.
        let _ = data.set_terminator(Terminator::None);
        data
    }

    /// Starts a transfer on the data channel, or keeps it until one connects.
    fn start(&mut self, chat: &mut Chat<'_, '_>, transfer: Transfer) {
        chat.push("150 here comes the data\r\n");
        match &self.data {
            Some(data) => self.hand_over(chat, data.clone(), transfer),
            None => self.pending = Some(transfer),
        }
    }

    /// Gives the data channel its transfer.
    fn hand_over(
        &mut self,
        chat: &mut Chat<'_, '_>,
        data: Handle<AsyncChat<Data>>,
        transfer: Transfer,
    ) {
        self.transferring = true;
        match transfer {
            Transfer::Send(bytes) => {
                // Pushed into the data channel and sent at once, as its socket takes it.
                let pushed = data.with(|d, cx| {
                    let (_, mut out) = d.chat(cx);
                    out.push_with_producer(Shared(bytes, 0));
                    out.close_when_done();
                });
                if pushed.is_none() {
                    self.transferring = false;
                    chat.push("425 data connection unavailable\r\n");
                }
            }
            Transfer::Receive(name) => data.borrow_mut().handler.receiving = Some(name),
        }
    }

    /// The data connection of `PASV` arrived.
    fn data_connected(&mut self, chat: &mut Chat<'_, '_>, data: Handle<AsyncChat<Data>>) {
        self.pasv = None;
        self.data = Some(data.clone());
        if let Some(transfer) = self.pending.take() {
            self.hand_over(chat, data, transfer);
        }
    }

    /// The data channel closed: a transfer ended.
    fn data_closed(&mut self, chat: &mut Chat<'_, '_>, stored: Option<(String, Vec<u8>)>) {
        self.data = None;
        if !std::mem::take(&mut self.transferring) {
            return; // closed before any transfer (ftplib connects before RETR)
        }
        match stored {
            Some((_, body)) if body.len() > MAX_FILE => {
                chat.push("552 file too large\r\n");
            }
            Some((name, body)) => {
                self.store.borrow_mut().insert(name, Rc::new(body));
                chat.push("226 transfer complete\r\n");
            }
            None => chat.push("226 transfer complete\r\n"),
        }
    }

    fn command(&mut self, chat: &mut Chat<'_, '_>, line: &str) -> Result<()> {
        let (cmd, arg) = match line.split_once(' ') {
            Some((c, a)) => (c.to_ascii_uppercase(), a.trim()),
            None => (line.trim().to_ascii_uppercase(), ""),
        };
        match cmd.as_str() {
            "USER" => chat.push("331 username ok\r\n"),
            "PASS" => chat.push("230 password ok\r\n"),
            "ACCT" => chat.push("230 acct ok\r\n"),
            "SYST" => chat.push("215 UNIX Type: L8\r\n"),
            "TYPE" | "MODE" | "STRU" | "NOOP" => chat.push("200 ok\r\n"),
            "PWD" => chat.push("257 \"/\" is the current directory\r\n"),
            "CWD" => chat.push("250 ok\r\n"),
            "QUIT" => {
                chat.push("221 goodbye\r\n");
                chat.close(); // the reply is on the wire already, as in Python
            }
            "PASV" | "EPSV" => self.passive(chat, cmd == "EPSV")?,
            "PORT" | "EPRT" => match parse_port(&cmd, arg) {
                Some(addr) => {
                    self.drop_data();
                    let mut chan = Channel::new();
                    chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
                    chan.connect(addr)?;
                    let data = Self::data_handler(chat);
                    self.data = Some(chat.add(chan, data)?);
                    chat.push("200 active data connection established\r\n");
                }
                None => chat.push("501 bad address\r\n"),
            },
            "LIST" | "NLST" => {
                let mut listing = Vec::new();
                for (name, body) in self.store.borrow().iter() {
                    if cmd == "LIST" {
                        let _ = write!(
                            listing,
                            "-rw-r--r-- 1 ftp ftp {:>10} Jan 01 00:00 {name}\r\n",
                            body.len()
                        );
                    } else {
                        let _ = write!(listing, "{name}\r\n");
                    }
                }
                self.start(chat, Transfer::Send(Rc::new(listing)));
            }
            "RETR" => {
                let file = self.store.borrow().get(arg).cloned();
                match file {
                    Some(body) => self.start(chat, Transfer::Send(body)),
                    None => chat.push("550 no such file\r\n"),
                }
            }
            "STOR" if !arg.is_empty() && !arg.contains('/') => {
                self.start(chat, Transfer::Receive(arg.to_string()))
            }
            "SIZE" => match self.store.borrow().get(arg) {
                Some(body) => chat.push(format!("213 {}\r\n", body.len())),
                None => chat.push("550 no such file\r\n"),
            },
            "DELE" => match self.store.borrow_mut().remove(arg) {
                Some(_) => chat.push("250 deleted\r\n"),
                None => chat.push("550 no such file\r\n"),
            },
            _ => chat.push("500 command not recognized\r\n"),
        }
        Ok(())
    }

    /// `PASV` / `EPSV`: a helper listener on the control connection's address, which
    /// accepts the data connection and closes itself.
    fn passive(&mut self, chat: &mut Chat<'_, '_>, extended: bool) -> Result<()> {
        self.drop_data();
        let local = chat
            .local_addr()?
            .as_socket()
            .ok_or_else(|| Error::other("control channel has no IP address"))?;
        let mut listener = Channel::new();
        listener.create_socket(Domain::for_address(local), Type::STREAM)?;
        listener.bind(SocketAddr::new(local.ip(), 0))?;
        listener.listen(1)?;
        let port = listener.local_addr()?.as_socket().map_or(0, |a| a.port());
        let control = chat
            .handle::<AsyncChat<Control>>()
            .map(|h| h.downgrade())
            .unwrap_or_default();
        self.pasv = Some(chat.add(listener, PasvListener { control })?);
        match (extended, local.ip()) {
            (false, IpAddr::V4(ip)) => {
                let [a, b, c, d] = ip.octets();
                let (p1, p2) = (port >> 8, port & 0xff);
                chat.push(format!(
                    "227 entering passive mode ({a},{b},{c},{d},{p1},{p2})\r\n"
                ));
            }
            (false, IpAddr::V6(_)) => chat.push("425 use EPSV on IPv6\r\n"),
            (true, _) => chat.push(format!(
                "229 entering extended passive mode (|||{port}|)\r\n"
            )),
        }
        Ok(())
    }
}

impl ChatHandler for Control {
    /// Keeps at most `MAX_LINE` bytes of a line; the rest of a longer one is skipped
    /// (and answered with a 500 at its end), so memory stays bounded and the commands
    /// after it are still read.
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        if self.skipping || self.line.len() + data.len() > MAX_LINE {
            self.skipping = true;
            self.line = Vec::new();
            return;
        }
        self.line.extend_from_slice(data);
    }

    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        if std::mem::take(&mut self.skipping) {
            chat.push("500 line too long\r\n");
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        let line = String::from_utf8_lossy(&line);
        self.command(chat, &line)
    }

    /// Do not read more commands while the replies to earlier ones are unsent.
    fn readable(&mut self, chat: &mut Chat<'_, '_>) -> bool {
        chat.pending_bytes() < MAX_UNSENT_REPLIES
    }

    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        chat.log_info(&format!("closing: {err}"), log::Level::Warn);
        chat.close();
    }

    /// The session is over, whoever ended it: its data channel and listener go too.
    fn on_close(&mut self, _chat: &mut Chat<'_, '_>) {
        self.drop_data();
    }
}

/// A data connection: Python's `DummyDTPHandler`.
struct Data {
    /// Weak: the control channel owns this one, not the other way round.
    control: WeakHandle<AsyncChat<Control>>,
    received: Vec<u8>,
    /// STOR's file name, once the command came.
    receiving: Option<String>,
}

impl ChatHandler for Data {
    fn collect_incoming_data(&mut self, chat: &mut Chat<'_, '_>, data: &[u8]) {
        if self.received.len() + data.len() > MAX_FILE + 1 {
            // Keep one byte past the limit so the control channel can say 552.
            self.received.truncate(MAX_FILE + 1);
            chat.close();
            return;
        }
        self.received.extend_from_slice(data);
    }

    fn handle_connect(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
        Ok(())
    }

    /// A refused `PORT` connection: tell the client on the control channel.
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        chat.log_info(&format!("data connection failed: {err}"), log::Level::Warn);
        self.receiving = None;
        chat.close();
    }

    /// The transfer is over: report it on the control channel.
    fn on_close(&mut self, _chat: &mut Chat<'_, '_>) {
        let stored = self
            .receiving
            .take()
            .map(|name| (name, std::mem::take(&mut self.received)));
        if let Some(control) = self.control.upgrade() {
            control.with(|c, cx| {
                let (handler, mut chat) = c.chat(cx);
                handler.data_closed(&mut chat, stored);
            });
        }
    }
}

/// The helper listener of `PASV`: accepts one data connection, then closes.
struct PasvListener {
    control: WeakHandle<AsyncChat<Control>>,
}

impl Dispatcher for PasvListener {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        cx.close(); // one connection per PASV
        let Some(control) = self.control.upgrade() else {
            return Ok(()); // the session is gone; the socket closes here
        };
        let mut data = AsyncChat::new(Data {
            control: self.control.clone(),
            received: Vec::new(),
            receiving: None,
        });
        data.set_terminator(Terminator::None)?;
        let data = cx.add(Channel::accepted(sock, addr)?, data)?;
        control.with(|c, ccx| {
            let (handler, mut chat) = c.chat(ccx);
            handler.data_connected(&mut chat, data);
        });
        Ok(())
    }
}

/// A file shared with the store, sent in 64 KiB chunks without copying it first.
struct Shared(Rc<Vec<u8>>, usize);

impl asyncore::Producer for Shared {
    fn more(&mut self) -> std::io::Result<Vec<u8>> {
        let end = (self.1 + 64 * 1024).min(self.0.len());
        let chunk = self.0[self.1..end].to_vec();
        self.1 = end;
        Ok(chunk)
    }
}

/// The listening socket: a control channel per connection.
struct Server {
    store: Store,
}

impl Dispatcher for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        let mut chat = AsyncChat::new(Control::new(self.store.clone()));
        chat.set_terminator("\r\n")?;
        chat.push("220 asyncore FTP server ready\r\n");
        cx.add(Channel::accepted(sock, addr)?, chat)?;
        Ok(())
    }
}

/// `PORT a,b,c,d,p1,p2` or `EPRT |1|a.b.c.d|port|`.
fn parse_port(cmd: &str, arg: &str) -> Option<SocketAddr> {
    if cmd == "PORT" {
        let n: Vec<u16> = arg
            .split(',')
            .map(|p| p.trim().parse().ok())
            .collect::<Option<_>>()?;
        let [a, b, c, d, p1, p2] = n[..] else {
            return None;
        };
        let ip = std::net::Ipv4Addr::new(
            u8::try_from(a).ok()?,
            u8::try_from(b).ok()?,
            u8::try_from(c).ok()?,
            u8::try_from(d).ok()?,
        );
        let port = p1.checked_mul(256)?.checked_add(p2)?;
        return Some(SocketAddr::new(IpAddr::V4(ip), port));
    }
    let sep = arg.chars().next()?;
    let parts: Vec<&str> = arg.split(sep).collect();
    let (ip, port) = (parts.get(2)?, parts.get(3)?);
    Some(SocketAddr::new(ip.parse().ok()?, port.parse().ok()?))
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Warnings and errors (a listener closed by an error, say) on stderr; RUST_LOG
    // overrides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:2121".into())
        .parse()?;
    let map = Map::new()?;
    map.set_dispatch_budget(16); // serve busy transfers in runs
    let mut listener = Channel::new();
    listener.create_socket(Domain::for_address(addr), Type::STREAM)?;
    listener.set_reuse_addr();
    listener.bind(addr)?;
    listener.listen(128)?;
    let local = listener
        .local_addr()?
        .as_socket()
        .ok_or("not an IP address")?;
    let store = Store::default();
    map.add(listener, Server { store })?;
    println!("listening on {local}");
    std::io::stdout().flush()?;
    asyncore::loop_(None, false, Some(&map), None)?;
    Ok(())
}
