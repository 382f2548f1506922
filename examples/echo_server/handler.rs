//! The echo server's handlers: [`EchoServer`] for the listening socket and
//! [`EchoHandler`] for each connection, with the limits they keep. `main.rs` beside
//! this file creates the listener and runs the loop. The comparison bench
//! (`benches/compare/servers/asyncore_echo.rs`) includes this file too, so the
//! figures it reports are those of the code shipped here.

use asyncore::{Channel, Cx, Disconnect, Dispatcher, Result, SockAddr, Socket};

/// Stop reading from a connection while this much of its echo is unsent.
const MAX_PENDING: usize = 256 * 1024;

/// A backlog buffer larger than this is freed once it drains, so an idle connection
/// that once had a burst holds no memory.
const KEEP_AT_MOST: usize = 64 * 1024;

/// One connection: the part of its echo the socket has not taken yet.
#[derive(Default)]
struct EchoHandler {
    pending: Vec<u8>,
    sent: usize,
    /// The peer closed its side: send what is left, then close.
    draining: bool,
}

impl EchoHandler {
    fn unsent(&self) -> usize {
        self.pending.len() - self.sent
    }

    /// Offers the backlog to the socket once: a short write means it is full, and the
    /// loop calls `handle_write` again when it has room. Closes once a draining
    /// channel is done.
    fn flush(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if self.unsent() > 0 {
            self.sent += cx.send(&self.pending[self.sent..])?;
        }
        if self.unsent() == 0 {
            self.pending.clear();
            self.sent = 0;
            if self.pending.capacity() > KEEP_AT_MOST {
                self.pending = Vec::new();
            }
            if self.draining {
                cx.close();
            }
        }
        Ok(())
    }
}

impl Dispatcher for EchoHandler {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.draining && self.unsent() < MAX_PENDING
    }

    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        self.unsent() > 0
    }

    /// The fast way: read into the thread's shared buffer (no allocation, no copy),
    /// send straight from it, and keep only what the socket did not take.
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv_buf()?;
        if data.is_empty() {
            return Ok(()); // the peer closed: handle_close is due
        }
        // Echo in order: behind a backlog, the new bytes queue up after it.
        let sent = if self.unsent() == 0 {
            cx.send(&data)?
        } else {
            0
        };
        self.pending.extend_from_slice(&data[sent..]);
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.flush(cx)
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        match cx.disconnect() {
            // Half-close: the peer still reads. Keep sending the echo of what
            // arrived (`handle_write`), then close; read nothing more.
            Some(Disconnect::Eof) if self.unsent() > 0 && cx.connected => self.draining = true,
            // A reset (nothing can be sent any more), a hang-up or error the poller
            // reported before any socket call saw it, or nothing left to send:
            // close now. Keeping such a channel open would leak its descriptor and
            // have the loop call this again and again.
            _ => cx.close(),
        }
        Ok(())
    }
}

/// The listening socket: each connection joins the map with an [`EchoHandler`].
pub(crate) struct EchoServer;

impl Dispatcher for EchoServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        cx.add(Channel::from_socket(sock)?, EchoHandler::default())?;
        Ok(())
    }
}
