//! An echo server: `cargo run --example echo_server -- [ADDR]` (default 127.0.0.1:8007).
//!
//! Prints `listening on IP:PORT` once listening, then echoes every byte of every
//! connection until killed. A client that half-closes still gets back everything it
//! sent before the server closes. A client that never reads cannot grow the server's
//! memory without bound: past `MAX_PENDING` unsent bytes the server stops reading from
//! it until the backlog drains.

use std::io::Write;
use std::net::SocketAddr;

use asyncore::{Channel, Dispatcher, Domain, Result, SockAddr, Socket, Type};

/// Stop reading from a connection while this much of its echo is unsent.
const MAX_PENDING: usize = 256 * 1024;

struct EchoHandler {
    chan: Channel,
    pending: Vec<u8>,
    sent: usize,
    /// The peer closed its side: send what is left, then close.
    draining: bool,
}

impl EchoHandler {
    fn unsent(&self) -> usize {
        self.pending.len() - self.sent
    }

    fn flush(&mut self) -> Result<()> {
        while self.unsent() > 0 {
            let n = self.chan.send(&self.pending[self.sent..])?;
            if n == 0 {
                break;
            }
            self.sent += n;
        }
        if self.unsent() == 0 {
            self.pending.clear();
            self.sent = 0;
            if self.draining {
                self.chan.close();
            }
        }
        Ok(())
    }
}

impl Dispatcher for EchoHandler {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    fn readable(&mut self) -> bool {
        !self.draining && self.unsent() < MAX_PENDING
    }

    fn writable(&mut self) -> bool {
        self.unsent() > 0
    }

    fn handle_read(&mut self) -> Result<()> {
        let mut buf = [0u8; 16 * 1024];
        let n = self.chan.recv_into(&mut buf)?;
        if n > 0 {
            self.pending.extend_from_slice(&buf[..n]);
            self.flush()?;
        }
        Ok(())
    }

    fn handle_write(&mut self) -> Result<()> {
        self.flush()
    }

    fn handle_close(&mut self) -> Result<()> {
        // Half-close: keep sending the echo of what arrived, then close.
        self.draining = true;
        if self.unsent() == 0 || !self.chan.connected {
            self.chan.close();
        }
        Ok(())
    }
}

struct EchoServer {
    chan: Channel,
}

impl Dispatcher for EchoServer {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
        let handler = EchoHandler {
            chan: Channel::from_socket(sock)?,
            pending: Vec::new(),
            sent: 0,
            draining: false,
        };
        let map = self.chan.map().expect("the server is in a map");
        map.add(handler)?;
        Ok(())
    }
}

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8007".into())
        .parse()?;
    let mut chan = Channel::new();
    chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind(addr)?;
    chan.listen(128)?;
    let bound = chan.local_addr()?.as_socket().expect("an IP address");
    asyncore::add(EchoServer { chan })?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {bound}")?;
    out.flush()?;
    drop(out);
    asyncore::loop_(None, false, None, None)?;
    Ok(())
}
