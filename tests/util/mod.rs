//! Helpers shared by the integration tests: loopback addresses, bounded loops and a
//! recording dispatcher.
#![allow(dead_code)]

use std::cell::RefCell;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::{Channel, Cx, Dispatcher, Domain, Error, Map, Result, SockAddr, Socket, Type};

/// 127.0.0.1 with port 0: the OS picks a free port.
pub fn any_local_address() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Counts passes of `map.poll(each)` over `window`: a loop that sleeps runs about
/// one per `each`, one that spins thousands.
pub fn passes_over(map: &Map, window: Duration, each: Duration) -> usize {
    let start = Instant::now();
    let mut passes = 0;
    while start.elapsed() < window {
        map.poll(each).unwrap();
        passes += 1;
    }
    passes
}

/// Runs passes of `map` until `done()` holds, failing the test after `limit`.
pub fn run_until(map: &Map, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "condition not reached within {limit:?}; map: {map:?}"
        );
        map.poll(Some(Duration::from_millis(10))).unwrap();
    }
}

/// A listening channel on loopback, and its address.
pub fn listening_channel() -> (Channel, SocketAddr) {
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.set_reuse_addr();
    chan.bind(any_local_address()).unwrap();
    chan.listen(128).unwrap();
    let addr = chan.local_addr().unwrap().as_socket().unwrap();
    (chan, addr)
}

/// A std listener on loopback (a plain blocking peer for the crate's clients).
pub fn std_listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind(any_local_address()).unwrap();
    let a = l.local_addr().unwrap();
    (l, a)
}

/// A connected pair: a channel (not yet in a map) and the std socket at the other end.
pub fn channel_pair() -> (Channel, TcpStream) {
    let (l, a) = std_listener();
    let client = TcpStream::connect(a).unwrap();
    let (server, _) = l.accept().unwrap();
    (Channel::from_socket(server).unwrap(), client)
}

/// A port on loopback where nothing listens (bound then released).
pub fn refused_address() -> SocketAddr {
    let (l, a) = std_listener();
    drop(l);
    a
}

/// What happened to a [`Recorder`], in order.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<String>,
    pub data: Vec<u8>,
    pub errors: Vec<String>,
}

impl Log {
    pub fn count(&self, name: &str) -> usize {
        self.events.iter().filter(|e| *e == name).count()
    }
}

pub type SharedLog = Rc<RefCell<Log>>;

/// A dispatcher that records every call and can be told what to do.
pub struct Recorder {
    pub log: SharedLog,
    pub readable: bool,
    pub writable: bool,
    /// Bytes to read per handle_read.
    pub read_size: usize,
    /// Data to send from handle_write, and how much per call.
    pub out: Vec<u8>,
    pub write_size: usize,
}

impl Recorder {
    /// A recorder and its log; add it to a map with its channel:
    /// `map.add(chan, recorder)`.
    pub fn new() -> (Recorder, SharedLog) {
        let log = SharedLog::default();
        (
            Recorder {
                log: log.clone(),
                readable: true,
                writable: false,
                read_size: 8192,
                out: Vec::new(),
                write_size: usize::MAX,
            },
            log,
        )
    }

    fn note(&self, what: &str) {
        self.log.borrow_mut().events.push(what.to_string());
    }
}

impl Dispatcher for Recorder {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        self.readable
    }
    /// Like Python's `dispatcher_with_send`: also while connecting, so the connect
    /// event (a write event) gets through.
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        self.writable || !self.out.is_empty() || !cx.connected
    }
    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.note("connect");
        Ok(())
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.note("read");
        let data = cx.recv(self.read_size)?;
        self.log.borrow_mut().data.extend_from_slice(&data);
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.note("write");
        let n = self.out.len().min(self.write_size);
        let sent = cx.send(&self.out[..n])?;
        self.out.drain(..sent);
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.note("close");
        cx.close();
        Ok(())
    }
    fn handle_expt(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.note("expt");
        Ok(())
    }
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.note("accepted");
        let (r, _) = Recorder::new();
        let r = Recorder {
            log: self.log.clone(),
            ..r
        };
        cx.add(Channel::from_socket(sock)?, r)?;
        Ok(())
    }
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        self.note("error");
        self.log.borrow_mut().errors.push(err.to_string());
        cx.close();
    }
}
