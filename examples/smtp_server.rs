//! An SMTP sink in the manner of Python's `smtpd.DebuggingServer`:
//! `cargo run --example smtp_server -- [ADDR]` (default 127.0.0.1:8025; port 0 picks a
//! free port).
//!
//! Prints `listening on IP:PORT` once listening, then accepts mail until killed and
//! prints each message to stdout:
//!
//! ```text
//! ---------- MESSAGE FOLLOWS ----------
//! mail from: sender@example.org
//! rcpt to: one@example.org
//! rcpt to: two@example.org
//!
//! Subject: hello
//!
//! the body, with "\n" line endings and leading dots unstuffed
//! ------------ END MESSAGE ------------
//! ```
//!
//! Commands: HELO, EHLO (with SIZE and 8BITMIME), MAIL FROM, RCPT TO (several), DATA,
//! RSET, NOOP, QUIT, VRFY, HELP; anything else gets 500, and a command out of
//! sequence (RCPT before MAIL, DATA before RCPT, MAIL during a transaction) gets 503.
//!
//! Limits, so one connection's memory stays bounded: a command line of more than
//! `MAX_COMMAND` bytes is answered `500 5.5.2 Line too long`, a text line of more
//! than `MAX_TEXT_LINE` bytes inside DATA makes the message fail with
//! `552 5.3.4 Line too long`, a message over `MAX_MESSAGE` with `552` too, and past
//! `MAX_RECIPIENTS` recipients (RFC 5321 asks for at least 100) `RCPT` gets
//! `452 4.5.3 Too many recipients`. An over-long line is read to its end and skipped,
//! never kept, so the commands after it are still served. While more than
//! `MAX_UNSENT_REPLIES` bytes of replies are unsent (a client that pipelines and never
//! reads), the server stops reading from that client.
//!
//! Warnings and errors are logged to stderr (`RUST_LOG=debug` for more).
//!
//! Like Python's `SMTPChannel` this is one `AsyncChat` per connection whose terminator
//! is `"\r\n"`. Python reads the message body with the terminator `"\r\n.\r\n"`, which
//! misses the end of a message whose body is empty (the `"\r\n"` before the dot was
//! eaten by the `DATA` line); this server reads the body line by line instead, so the
//! line `"."` ends it wherever it comes.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;

use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, Domain, Error, Map, Result, SockAddr,
    Socket, Type,
};

/// Longest text line inside DATA (without its CRLF); a longer one fails the message
/// with 552. RFC 5321 asks for 998; this is generous.
const MAX_TEXT_LINE: usize = 64 * 1024;
/// Longest command line (without its CRLF) answered other than with 500. RFC 5321
/// asks for 510.
const MAX_COMMAND: usize = 1024;
/// Recipients accepted per message; `RCPT` past them gets 452 (RFC 5321 4.5.3.1.8).
const MAX_RECIPIENTS: usize = 100;
/// Stop reading commands while this many reply bytes are unsent.
const MAX_UNSENT_REPLIES: usize = 64 * 1024;
/// Largest message accepted (Python's `DATA_SIZE_DEFAULT`).
const MAX_MESSAGE: usize = 32 * 1024 * 1024;
const DEFAULT_ADDR: &str = "127.0.0.1:8025";
const HOSTNAME: &str = "localhost";
const USAGE: &str = "usage: smtp_server [ADDR]";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Command,
    Data,
}

/// One SMTP session's state; the chat state around it is in its [`AsyncChat`].
struct Session {
    state: State,
    /// The line being collected.
    line: Vec<u8>,
    mail_from: Option<Vec<u8>>,
    rcpt_to: Vec<Vec<u8>>,
    /// The message so far: dot-unstuffed lines joined by "\n".
    body: Vec<u8>,
    body_lines: usize,
    too_big: bool,
    /// A text line of the message went past `MAX_TEXT_LINE`: the message fails.
    line_too_long: bool,
    /// The current line went past its limit: the rest of it is skipped up to the
    /// next CRLF, then answered.
    skipping: bool,
    quitting: bool,
}

impl Session {
    /// A new session, greeting queued, ready to be added to the map.
    fn new() -> Result<AsyncChat<Session>> {
        let mut chat = AsyncChat::new(Session {
            state: State::Command,
            line: Vec::new(),
            mail_from: None,
            rcpt_to: Vec::new(),
            body: Vec::new(),
            body_lines: 0,
            too_big: false,
            line_too_long: false,
            skipping: false,
            quitting: false,
        });
        chat.set_terminator(b"\r\n")?;
        // No input limit (past it the splitter fails the read and the channel closes):
        // `collect_incoming_data` caps the line instead and the session goes on.
        // Queued: sent once the channel is in the map and writable.
        chat.push(format!("220 {HOSTNAME} asyncore SMTP sink\r\n"));
        Ok(chat)
    }

    /// Forgets the current transaction (RSET, HELO/EHLO, end of DATA).
    fn reset(&mut self) {
        self.state = State::Command;
        self.mail_from = None;
        self.rcpt_to.clear();
        self.body = Vec::new();
        self.body_lines = 0;
        self.too_big = false;
        self.line_too_long = false;
    }

    /// The longest line accepted in the current state.
    fn line_limit(&self) -> usize {
        match self.state {
            State::Command => MAX_COMMAND,
            State::Data => MAX_TEXT_LINE,
        }
    }

    /// A line went past its limit and was skipped to its end.
    fn over_long_line(&mut self, chat: &mut Chat<'_, '_>) {
        match self.state {
            State::Command => reply(chat, "500 5.5.2 Line too long"),
            // Answered at the end of the message, which goes on until the "." line.
            State::Data => {
                self.line_too_long = true;
                self.body = Vec::new();
            }
        }
    }

    fn command(&mut self, chat: &mut Chat<'_, '_>, line: &[u8]) {
        if line.is_empty() {
            return reply(chat, "500 Error: bad syntax");
        }
        let text = String::from_utf8_lossy(line);
        let (verb, arg) = match text.split_once(' ') {
            Some((verb, arg)) => (verb.to_ascii_uppercase(), arg.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "HELO" | "EHLO" if arg.is_empty() => {
                reply(chat, &format!("501 Syntax: {verb} hostname"))
            }
            "HELO" => {
                self.reset();
                reply(chat, &format!("250 {HOSTNAME}"));
            }
            "EHLO" => {
                self.reset();
                // One push for the whole multi-line reply: one write.
                reply(
                    chat,
                    &format!(
                        "250-{HOSTNAME}\r\n250-SIZE {MAX_MESSAGE}\r\n250-8BITMIME\r\n250 HELP"
                    ),
                );
            }
            "NOOP" => reply(chat, "250 OK"),
            "RSET" if !arg.is_empty() => reply(chat, "501 Syntax: RSET"),
            "RSET" => {
                self.reset();
                reply(chat, "250 OK");
            }
            "QUIT" => {
                self.quitting = true;
                reply(chat, "221 Bye");
                chat.close_when_done();
            }
            "MAIL" => self.mail(chat, arg),
            "RCPT" => self.rcpt(chat, arg),
            "DATA" => {
                if self.rcpt_to.is_empty() {
                    reply(chat, "503 Error: need RCPT command");
                } else if !arg.is_empty() {
                    reply(chat, "501 Syntax: DATA");
                } else {
                    self.state = State::Data;
                    reply(chat, "354 End data with <CR><LF>.<CR><LF>");
                }
            }
            "VRFY" if arg.is_empty() => reply(chat, "501 Syntax: VRFY <address>"),
            "VRFY" => reply(
                chat,
                "252 Cannot VRFY user, but will accept message and attempt delivery",
            ),
            "HELP" => reply(
                chat,
                "250 Supported commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY",
            ),
            _ => reply(
                chat,
                &format!("500 Error: command \"{verb}\" not recognized"),
            ),
        }
    }

    fn mail(&mut self, chat: &mut Chat<'_, '_>, arg: &str) {
        const SYNTAX: &str = "501 Syntax: MAIL FROM: <address> [SP <mail-parameters>]";
        let Some((address, params)) = path_argument(arg, "FROM:") else {
            return reply(chat, SYNTAX);
        };
        if self.mail_from.is_some() {
            return reply(chat, "503 Error: nested MAIL command");
        }
        for param in params.split_whitespace() {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > MAX_MESSAGE as u64 => {
                        return reply(
                            chat,
                            "552 Error: message size exceeds fixed maximum message size",
                        );
                    }
                    Ok(_) => {}
                    Err(_) => return reply(chat, SYNTAX),
                },
                "BODY" if ["7BIT", "8BITMIME"].contains(&value.to_ascii_uppercase().as_str()) => {}
                "BODY" => return reply(chat, "501 Error: BODY can only be one of 7BIT, 8BITMIME"),
                _ => {
                    return reply(
                        chat,
                        "555 MAIL FROM parameters not recognized or not implemented",
                    );
                }
            }
        }
        self.mail_from = Some(address.as_bytes().to_vec());
        reply(chat, "250 OK");
    }

    fn rcpt(&mut self, chat: &mut Chat<'_, '_>, arg: &str) {
        if self.mail_from.is_none() {
            return reply(chat, "503 Error: need MAIL command");
        }
        const SYNTAX: &str = "501 Syntax: RCPT TO: <address> [SP <mail-parameters>]";
        match path_argument(arg, "TO:") {
            Some(("", _)) => reply(chat, SYNTAX),
            Some((_, params)) if !params.trim().is_empty() => reply(
                chat,
                "555 RCPT TO parameters not recognized or not implemented",
            ),
            Some(_) if self.rcpt_to.len() >= MAX_RECIPIENTS => {
                reply(chat, "452 4.5.3 Too many recipients");
            }
            Some((address, _)) => {
                self.rcpt_to.push(address.as_bytes().to_vec());
                reply(chat, "250 OK");
            }
            None => reply(chat, SYNTAX),
        }
    }

    /// One line of the message body: the line "." ends it.
    fn data_line(&mut self, chat: &mut Chat<'_, '_>, line: &[u8]) {
        if line == b"." {
            self.deliver(chat);
            return;
        }
        let line = line.strip_prefix(b".").unwrap_or(line);
        if self.line_too_long {
            return;
        }
        if self.too_big || self.body.len() + line.len() + 1 > MAX_MESSAGE {
            self.too_big = true;
            self.body = Vec::new();
            return;
        }
        if self.body_lines > 0 {
            self.body.push(b'\n');
        }
        self.body.extend_from_slice(line);
        self.body_lines += 1;
    }

    /// The end of DATA: print the message, answer, and start over.
    fn deliver(&mut self, chat: &mut Chat<'_, '_>) {
        if self.line_too_long {
            self.reset();
            return reply(chat, "552 5.3.4 Line too long");
        }
        if self.too_big {
            self.reset();
            return reply(chat, "552 Error: Too much mail data");
        }
        let mut text = Vec::with_capacity(self.body.len() + 256);
        text.extend_from_slice(b"---------- MESSAGE FOLLOWS ----------\nmail from: ");
        text.extend_from_slice(self.mail_from.as_deref().unwrap_or_default());
        text.push(b'\n');
        for rcpt in &self.rcpt_to {
            text.extend_from_slice(b"rcpt to: ");
            text.extend_from_slice(rcpt);
            text.push(b'\n');
        }
        text.push(b'\n');
        if !self.body.is_empty() {
            text.extend_from_slice(&self.body);
            text.push(b'\n');
        }
        text.extend_from_slice(b"------------ END MESSAGE ------------\n");
        let mut out = std::io::stdout().lock();
        let printed = out.write_all(&text).and_then(|()| out.flush());
        drop(out);
        self.reset();
        match printed {
            Ok(()) => reply(chat, "250 OK"),
            Err(_) => reply(chat, "451 Error: cannot record the message"),
        }
    }
}

/// Sends one reply line: pushed, so sent at once (as far as the socket takes it).
fn reply(chat: &mut Chat<'_, '_>, text: &str) {
    let mut line = Vec::with_capacity(text.len() + 2);
    line.extend_from_slice(text.as_bytes());
    line.extend_from_slice(b"\r\n");
    chat.push(line);
}

/// Splits `FROM:<address> params` (the keyword matched without regard to case, spaces
/// allowed after it) into the address without angle brackets and the parameters.
fn path_argument<'a>(arg: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some((inner[..end].trim(), &inner[end + 1..]))
    } else {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        Some((&rest[..end], &rest[end..]))
    }
}

impl ChatHandler for Session {
    /// Keeps at most the state's line limit of a line; the rest of a longer one is
    /// skipped (and answered at its end), so memory stays bounded and what follows
    /// the line is still read.
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        if self.skipping || self.line.len() + data.len() > self.line_limit() {
            self.skipping = true;
            self.line = Vec::new();
            return;
        }
        self.line.extend_from_slice(data);
    }

    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        if std::mem::take(&mut self.skipping) {
            if !self.quitting {
                self.over_long_line(chat);
            }
            return Ok(());
        }
        let line = std::mem::take(&mut self.line);
        if !self.quitting {
            match self.state {
                State::Command => self.command(chat, &line),
                State::Data => self.data_line(chat, &line),
            }
        }
        // Reuse the line's buffer for the next one (unless a long line grew it).
        if line.capacity() <= 4096 {
            self.line = line;
            self.line.clear();
        }
        Ok(())
    }

    /// Do not read more commands while the replies to earlier ones are unsent: a
    /// client that pipelines and never reads cannot grow the server's memory.
    fn readable(&mut self, chat: &mut Chat<'_, '_>) -> bool {
        chat.pending_bytes() <= MAX_UNSENT_REPLIES
    }
}

/// The listening socket: one [`Session`] per connection.
struct Server;

impl Dispatcher for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        cx.add(Channel::accepted(sock, addr)?, Session::new()?)?;
        Ok(())
    }

    /// A failed accept (out of file descriptors, say) must not stop the server.
    fn handle_error(&mut self, _cx: &mut Cx<'_>, err: Error) {
        eprintln!("smtp_server: accept failed: {err}");
    }
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

fn parse_args(args: impl IntoIterator<Item = String>) -> std::result::Result<SocketAddr, String> {
    let mut addr = None;
    for arg in args {
        match arg.as_str() {
            "-h" | "--help" => return Err(USAGE.to_string()),
            opt if opt.starts_with('-') => return Err(format!("unknown option {opt}")),
            _ if addr.is_none() => addr = Some(parse_addr(&arg)?),
            _ => return Err(format!("unexpected argument {arg}")),
        }
    }
    match addr {
        Some(a) => Ok(a),
        None => parse_addr(DEFAULT_ADDR),
    }
}

fn run(addr: SocketAddr) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let map = Map::new()?;
    let mut chan = Channel::new();
    chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind(addr)?;
    chan.listen(128)?;
    let bound = chan.local_addr()?.as_socket().ok_or("not an IP address")?;
    map.set_dispatch_budget(16); // a server: serve busy clients in runs (default 1)
    map.add(chan, Server)?;

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
    let addr = match parse_args(std::env::args().skip(1)) {
        Ok(addr) => addr,
        Err(msg) => {
            eprintln!("smtp_server: {msg}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(addr) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("smtp_server: {e}");
            ExitCode::FAILURE
        }
    }
}
