//! Raw mio echo server: the "close to the metal" line every other server is held to.
//!
//! Single-threaded, edge-triggered: each connection is registered once for
//! `READABLE | WRITABLE`. On any event it first sends what is still pending, then
//! reads into one shared 64 KiB buffer until `WouldBlock` and writes each chunk
//! straight back until `WouldBlock`. Only bytes the socket would not take are
//! copied into the connection's own buffer, and it stops reading until they are
//! sent (the next writable edge resumes it), so memory per connection stays a
//! stream and an empty `Vec` unless the peer outruns its own reading.

use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use super::{ServerStats, Stop};

const LISTENER: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    /// Echo bytes the socket has not taken yet; `pending[sent..]` is still owed.
    pending: Vec<u8>,
    sent: usize,
}

/// Serves echo on `listener` until `stop`.
pub fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats {
    let mut poll = Poll::new().expect("mio poll");
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).expect("mio waker"));
    stop.on_stop(move || {
        let _ = waker.wake();
    });
    let mut listener = TcpListener::from_std(listener);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .expect("register listener");

    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut scratch = vec![0u8; 64 * 1024];
    let mut events = Events::with_capacity(1024);
    let mut stats = ServerStats::default();

    while !stop.is_stopped() {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            panic!("mio poll: {e}");
        }
        for event in events.iter() {
            match event.token() {
                WAKER => {}
                LISTENER => loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            poll.registry()
                                .register(
                                    &mut stream,
                                    Token(slot),
                                    Interest::READABLE | Interest::WRITABLE,
                                )
                                .expect("register connection");
                            conns[slot] = Some(Conn {
                                stream,
                                pending: Vec::new(),
                                sent: 0,
                            });
                            stats.accepted += 1;
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        // WouldBlock: drained. Anything else (EMFILE, ECONNABORTED):
                        // give up on this edge; the next connection brings another.
                        Err(_) => break,
                    }
                },
                Token(slot) => {
                    let open = match conns.get_mut(slot) {
                        Some(Some(conn)) => matches!(conn.drive(&mut scratch), Ok(true)),
                        _ => continue,
                    };
                    if !open {
                        if let Some(mut conn) = conns[slot].take() {
                            let _ = poll.registry().deregister(&mut conn.stream);
                        }
                        free.push(slot);
                    }
                }
            }
        }
    }
    stats
}

impl Conn {
    /// Echoes until the socket would block either way; `Ok(false)` once the peer
    /// has closed.
    fn drive(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        loop {
            if !self.flush()? {
                return Ok(true); // wait for the writable edge
            }
            let n = match self.stream.read(scratch) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let mut off = 0;
            while off < n {
                match self.stream.write(&scratch[off..n]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(k) => off += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.pending.extend_from_slice(&scratch[off..n]);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }

    /// Sends pending bytes; `Ok(true)` when none are left.
    fn flush(&mut self) -> io::Result<bool> {
        while self.sent < self.pending.len() {
            match self.stream.write(&self.pending[self.sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(k) => self.sent += k,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pending.clear();
        self.sent = 0;
        Ok(true)
    }
}
