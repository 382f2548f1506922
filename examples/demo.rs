//! The crate in one loop: `cargo run --example demo`.
//!
//! One map holds a listening echo server and several clients, all on loopback. The
//! clients connect, send a greeting, read the echo and close; one client connects to
//! a port where nothing listens and its refusal reaches `handle_error`. Every event
//! is printed as it happens, then a summary in words: how many clients were served,
//! how many bytes echoed, how the refused connect was reported, and whether every
//! channel closed. Exits 0 within seconds.
//!
//! Each type holds only its own state; every handler gets a [`Cx`], which reaches the
//! channel (`cx.send`, `cx.recv_buf`, `cx.connected`) and the loop (`cx.add` for an
//! accepted connection, `cx.close`). A client's `on_close` runs once it has left the
//! map, whether it closed after its echo or after its refusal.

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{Channel, Cx, Dispatcher, Domain, Error, Map, Result, SockAddr, Socket, Type};

/// What happened, counted for the summary; shared by every channel.
#[derive(Default)]
struct Account {
    /// Clients that got their whole echo back.
    echoed: usize,
    /// Bytes the server's handlers echoed.
    echoed_bytes: usize,
    refused: usize,
    closed: usize,
}

type Shared = Rc<RefCell<Account>>;

/// Prints one event: who, and what happened.
fn say(who: &str, what: String) {
    println!("{who:>10} | {what}");
}

/// The server side of one connection: echoes what it reads.
struct EchoHandler {
    name: String,
    pending: Vec<u8>,
    account: Shared,
}

/// An echo handler stops reading while this much of its echo is unsent, so a peer
/// that sends without reading cannot make it grow without bound.
const MAX_PENDING: usize = 64 * 1024;

impl Dispatcher for EchoHandler {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        self.pending.len() < MAX_PENDING
    }
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.pending.is_empty()
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        // Python's `recv(n)` without allocating: up to 256 KiB, read into the
        // thread's shared buffer, where they stay until `data` is dropped.
        let data = cx.recv_buf()?;
        if !data.is_empty() {
            say(&self.name, format!("read {} bytes", data.len()));
            self.pending.extend_from_slice(&data);
        }
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let n = cx.send(&self.pending)?;
        self.pending.drain(..n);
        self.account.borrow_mut().echoed_bytes += n;
        say(&self.name, format!("echoed {n} bytes"));
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        say(&self.name, "peer closed; cx.close()".into());
        cx.close();
        Ok(())
    }
}

/// The listening channel: each accepted connection joins the map as an EchoHandler.
struct EchoServer {
    accepted: usize,
    account: Shared,
}

impl Dispatcher for EchoServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        let name = format!("echo #{}", self.accepted);
        let peer = addr.as_socket().map(|a| a.to_string()).unwrap_or_default();
        say("server", format!("accepted {peer}; cx.add as {name}"));
        let handler = EchoHandler {
            name,
            pending: Vec::new(),
            account: self.account.clone(),
        };
        cx.add(Channel::accepted(sock, addr)?, handler)?;
        Ok(())
    }
}

/// A client: connects, sends its greeting, waits for the echo, closes.
struct Client {
    name: String,
    out: Vec<u8>,
    expected: usize,
    got: Vec<u8>,
    account: Shared,
}

impl Client {
    /// A channel connecting to `addr`, and the client that drives it.
    fn start(
        name: &str,
        addr: SocketAddr,
        greeting: &str,
        account: &Shared,
    ) -> Result<(Channel, Client)> {
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM)?;
        chan.connect(addr)?;
        say(name, format!("connecting to {addr}"));
        let client = Client {
            name: name.into(),
            out: greeting.as_bytes().to_vec(),
            expected: greeting.len(),
            got: Vec::new(),
            account: account.clone(),
        };
        Ok((chan, client))
    }
}

impl Dispatcher for Client {
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected || !self.out.is_empty()
    }
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        say(&self.name, "connected".into());
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let n = cx.send(&self.out)?;
        let sent = String::from_utf8_lossy(&self.out[..n]).into_owned();
        self.out.drain(..n);
        say(&self.name, format!("sent {sent:?}"));
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv_buf()?;
        self.got.extend_from_slice(&data);
        if self.got.len() >= self.expected {
            let echo = String::from_utf8_lossy(&self.got).into_owned();
            say(&self.name, format!("got the echo {echo:?}; cx.close()"));
            self.account.borrow_mut().echoed += 1;
            cx.close();
        }
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        say(&self.name, format!("handle_error: {err}"));
        self.account.borrow_mut().refused += 1;
        cx.close();
    }
    /// Runs once the channel has left the map, however it was closed.
    fn on_close(&mut self, _cx: &mut Cx<'_>) {
        say(&self.name, "on_close: out of the map".into());
        self.account.borrow_mut().closed += 1;
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Warnings and errors (a listener closed by an error, say) on stderr; RUST_LOG
    // overrides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let account = Shared::default();
    let map = Map::new()?;

    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind("127.0.0.1:0".parse::<SocketAddr>()?)?;
    chan.listen(16)?;
    let addr = chan.local_addr()?.as_socket().ok_or("not an IP address")?;
    say("server", format!("listening on {addr}"));
    let server = map.add(
        chan,
        EchoServer {
            accepted: 0,
            account: account.clone(),
        },
    )?;

    let greetings = ["hello", "bonjour", "hallo"];
    for (i, g) in greetings.iter().enumerate() {
        let (chan, client) = Client::start(&format!("client {}", i + 1), addr, g, &account)?;
        map.add(chan, client)?;
    }
    // A port where nothing listens: bound, then released.
    let refused = TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let (chan, client) = Client::start("refused", refused, "anyone?", &account)?;
    map.add(chan, client)?;

    let deadline = Instant::now() + Duration::from_secs(10);
    let done = |a: &Account| a.closed == greetings.len() + 1;
    while !done(&account.borrow()) || map.len() > 1 {
        if Instant::now() > deadline {
            return Err(format!("demo did not finish: {map:?}").into());
        }
        asyncore::loop_(Duration::from_millis(100), false, Some(&map), 1)?;
    }
    say("server", "all clients done; server.close()".into());
    server.close();
    asyncore::loop_(Duration::from_millis(100), false, Some(&map), None)?;

    let a = account.borrow();
    let clients = |n: usize| if n == 1 { "client" } else { "clients" };
    let open = map.len();
    let channels = if open == 0 {
        "all channels closed".to_string()
    } else {
        format!("{open} channels still open")
    };
    println!();
    println!(
        "summary: served {} {}, echoed {} bytes, {} connect refused and reported, {channels}",
        a.echoed,
        clients(a.echoed),
        a.echoed_bytes,
        a.refused,
    );
    Ok(())
}
