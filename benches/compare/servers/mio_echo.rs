//! Raw mio echo server: the "close to the metal" line every other server is held to,
//! written the way most hand-written mio servers (and tokio's own I/O types) are.
//!
//! Single-threaded, edge-triggered: each connection is registered once for
//! `READABLE | WRITABLE`. On any event it first sends what is still pending, then
//! reads into one shared 64 KiB buffer and writes each chunk straight back. A
//! **short read is taken as drained** and a **short write as full**, the shortcut
//! tokio's `PollEvented` takes ("a partially full buffer is sufficient to show that
//! the socket buffer has been drained"): no further call to learn `WouldBlock`. A
//! 64-byte ping-pong round trip thus costs 3 syscalls (`epoll_wait`, `recvfrom`,
//! `sendto`), not the 4 of reading until `WouldBlock`.
//!
//! Still correct on Linux's edge-triggered epoll:
//! - no lost data: bytes that arrive after a read (short or not) raise a new edge,
//!   and so does room freed after a short write (the kernel marks the socket
//!   "no space" and wakes it when space returns). The one state that raises no new
//!   edge is a FIN already queued behind the data of the event being handled; such
//!   an event reports `is_read_closed`, and then the server reads on until 0;
//! - no spin: nothing is retried but `EINTR`, and reading goes on only after a read
//!   that filled the whole buffer;
//! - bounded memory: only bytes the socket would not take are copied into the
//!   connection's own buffer (at most one 64 KiB chunk), and the server stops
//!   reading from that connection until they are sent (its next writable edge
//!   resumes it), so a connection is a stream and an empty `Vec` unless the peer
//!   outruns its own reading.

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
                        Some(Some(conn)) => {
                            matches!(conn.drive(&mut scratch, event.is_read_closed()), Ok(true))
                        }
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
    /// Serves one readiness event: sends what is pending, then echoes what has
    /// arrived. `read_closed`: the event says the peer has shut its side, so a short
    /// read is not the last one (the 0 behind it raises no new edge). `Ok(false)`
    /// once the peer has closed.
    fn drive(&mut self, scratch: &mut [u8], read_closed: bool) -> io::Result<bool> {
        if !self.flush()? {
            return Ok(true); // still full: wait for the writable edge
        }
        loop {
            let n = match self.stream.read(scratch) {
                Ok(0) => return Ok(false),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let sent = write_once(&mut self.stream, &scratch[..n])?;
            if sent < n {
                // Full: keep the rest and read no more until the writable edge.
                self.pending.extend_from_slice(&scratch[sent..n]);
                return Ok(true);
            }
            if n < scratch.len() && !read_closed {
                return Ok(true); // a short read: drained
            }
        }
    }

    /// Offers the pending bytes to the socket; `Ok(true)` when none are left. A short
    /// write means the socket is full: the next writable edge brings another try.
    fn flush(&mut self) -> io::Result<bool> {
        if self.sent < self.pending.len() {
            self.sent += write_once(&mut self.stream, &self.pending[self.sent..])?;
            if self.sent < self.pending.len() {
                return Ok(false);
            }
        }
        self.pending.clear();
        self.sent = 0;
        Ok(true)
    }
}

/// One write of `buf` (retried only on `EINTR`): how much the socket took, 0 if it
/// would block.
fn write_once(stream: &mut TcpStream, buf: &[u8]) -> io::Result<usize> {
    loop {
        match stream.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(k) => return Ok(k),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
