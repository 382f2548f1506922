//! The echo server's handlers: [`EchoServer`] for the listening socket and
//! [`EchoHandler`] for each connection, with the limits they keep. `main.rs` beside
//! this file creates the listener and runs the loop. The comparison bench
//! (`benches/compare/servers/asyncore_echo.rs`) includes this file too, so the
//! figures it reports are those of the code shipped here.

use asyncore::{Channel, Cx, Disconnect, Dispatcher, Result, SockAddr, Socket};

/// Stop reading from a connection while this much of its echo is unsent.
const MAX_PENDING: usize = 256 * 1024;

/// One connection. An idle one holds 8 bytes here: the backlog exists only while the
/// socket has refused part of the echo.
#[derive(Default)]
struct EchoHandler {
    backlog: Option<Box<Backlog>>,
}

/// Echo bytes the socket did not take yet: `buf[sent..]` is still owed.
#[derive(Default)]
struct Backlog {
    buf: Vec<u8>,
    sent: usize,
}

impl EchoHandler {
    fn unsent(&self) -> usize {
        self.backlog.as_ref().map_or(0, |b| b.buf.len() - b.sent)
    }

    /// Offers the backlog to the socket once: a short write means it is full, and the
    /// loop calls `handle_write` again when it has room. Frees it once it is sent;
    /// closes then if the peer has closed its side.
    fn flush(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if let Some(b) = self.backlog.as_mut() {
            b.sent += cx.send(&b.buf[b.sent..])?;
            if b.sent < b.buf.len() {
                return Ok(());
            }
            self.backlog = None;
        }
        if cx.disconnect().is_some() {
            cx.close(); // a half-closed peer has all its echo
        }
        Ok(())
    }
}

impl Dispatcher for EchoHandler {
    /// Not once the peer has closed its side, nor while the backlog is full.
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        cx.disconnect().is_none() && self.unsent() < MAX_PENDING
    }

    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        self.backlog.is_some()
    }

    /// The fast way: read into the thread's shared buffer (no allocation, no copy),
    /// send straight from it, and keep only what the socket did not take.
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv_buf()?;
        if data.is_empty() {
            return Ok(()); // the peer closed: handle_close is due
        }
        // Echo in order: behind a backlog, the new bytes queue up after it.
        let sent = if self.backlog.is_none() {
            cx.send(&data)?
        } else {
            0
        };
        if sent < data.len() {
            let backlog = self.backlog.get_or_insert_with(Default::default);
            backlog.buf.extend_from_slice(&data[sent..]);
        }
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.flush(cx)
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        match cx.disconnect() {
            // Half-close: the peer still reads. Keep sending the echo of what
            // arrived (`handle_write`; `readable` is false from now on), then close.
            Some(Disconnect::Eof) if self.backlog.is_some() && cx.connected => {}
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
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        // `accepted`: the socket and address `accept` returned, with no system call.
        cx.add(Channel::accepted(sock, addr)?, EchoHandler::default())?;
        Ok(())
    }
}
