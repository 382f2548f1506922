//! [`DispatcherWithSend`]: Python's `dispatcher_with_send`, a dispatcher whose `send`
//! buffers.

use std::fmt;
use std::io;

use socket2::{SockAddr, Socket};

use crate::channel::Channel;
use crate::cx::Cx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};

/// Wraps a dispatcher so that `cx.send(data)` in its handlers queues `data` and
/// sends what the socket takes now; the rest goes out from `handle_write`. Python's
/// `asyncore.dispatcher_with_send`.
///
/// As in Python, the wrapper's `writable` (connecting, or data queued) and
/// `handle_write` (send from the buffer) replace the inner dispatcher's; every other
/// handler is the inner one's, with the buffering `send`.
///
/// # Examples
///
/// Python's `EchoHandler(asyncore.dispatcher_with_send)`:
///
/// ```
/// use asyncore::{Cx, Dispatcher, DispatcherWithSend, Result};
///
/// struct EchoHandler;
///
/// impl Dispatcher for EchoHandler {
///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         let data = cx.recv(8192)?;
///         cx.send(&data)?; // queued: never lost to a full socket
///         Ok(())
///     }
/// }
/// # let _ = DispatcherWithSend::new(EchoHandler);
/// // map.add(Channel::from_socket(sock)?, DispatcherWithSend::new(EchoHandler))?;
/// ```
pub struct DispatcherWithSend<H> {
    /// Data queued and not sent yet: Python's `out_buffer`.
    pub out_buffer: Vec<u8>,
    /// The wrapped dispatcher.
    pub handler: H,
}

impl<H: Dispatcher> DispatcherWithSend<H> {
    /// Wraps `handler`, with an empty buffer.
    pub fn new(handler: H) -> DispatcherWithSend<H> {
        DispatcherWithSend {
            out_buffer: Vec::new(),
            handler,
        }
    }

    /// Bytes queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.out_buffer.len()
    }
}

/// Sends from `out` what the socket takes now, and drops what was sent: Python's
/// `dispatcher_with_send.initiate_send`. One `send`: a short write means the socket is
/// full, and the loop calls `handle_write` when it has room again.
pub(crate) fn flush(chan: &mut Channel, out: &mut Vec<u8>) -> io::Result<()> {
    if out.is_empty() {
        return Ok(());
    }
    let sent = chan.send(out)?;
    out.drain(..sent);
    if out.is_empty() && out.capacity() > 64 * 1024 {
        *out = Vec::new(); // an idle channel keeps no large buffer
    }
    Ok(())
}

impl<H: Dispatcher> Dispatcher for DispatcherWithSend<H> {
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        self.handler
            .readable(&mut cx.with_out(&mut self.out_buffer))
    }

    /// True while connecting or while data is queued.
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        !cx.connected || !self.out_buffer.is_empty()
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.handler
            .handle_read(&mut cx.with_out(&mut self.out_buffer))
    }

    /// Sends what the socket takes from the buffer.
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        flush(cx, &mut self.out_buffer)?;
        Ok(())
    }

    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.handler
            .handle_expt(&mut cx.with_out(&mut self.out_buffer))
    }

    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.handler
            .handle_connect(&mut cx.with_out(&mut self.out_buffer))
    }

    fn handle_accept(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.handler
            .handle_accept(&mut cx.with_out(&mut self.out_buffer))
    }

    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        self.handler
            .handle_accepted(&mut cx.with_out(&mut self.out_buffer), sock, addr)
    }

    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.handler
            .handle_close(&mut cx.with_out(&mut self.out_buffer))
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        self.handler
            .handle_error(&mut cx.with_out(&mut self.out_buffer), err)
    }

    fn on_close(&mut self, cx: &mut Cx<'_>) {
        self.out_buffer = Vec::new();
        self.handler.on_close(cx);
    }
}

impl<H> fmt::Debug for DispatcherWithSend<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherWithSend")
            .field("handler", &std::any::type_name::<H>())
            .field("pending", &self.out_buffer.len())
            .finish()
    }
}
