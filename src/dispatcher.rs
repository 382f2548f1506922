//! The [`Dispatcher`] trait: asyncore's event handlers, each with Python's default.

use socket2::{SockAddr, Socket};

use crate::channel::DisplayAddr;
use crate::cx::Cx;
use crate::error::{Error, Result};

/// A channel's event handlers: Python's `asyncore.dispatcher`, minus the socket,
/// which is the [`Channel`](crate::Channel) given to [`Map::add`](crate::Map::add)
/// beside it.
///
/// Every method has the default Python's `dispatcher` has; implement the ones your
/// protocol needs. Each receives a [`Cx`], the handler's context: it dereferences to
/// the channel (`cx.send(..)`, `cx.recv(..)`, `cx.connected`) and reaches the loop
/// (`cx.add(..)`, `cx.close()`, `cx.handle::<Self>()`, `cx.exit()`). Your type holds
/// only its own state.
///
/// The loop calls [`readable`](Dispatcher::readable) and
/// [`writable`](Dispatcher::writable) to learn what the channel wants, then the
/// `handle_*` methods for what happened.
///
/// Handlers return [`Result`]: an `Err` goes to [`handle_error`](Dispatcher::handle_error)
/// (default: log it and close the channel), and so does a panic, converted to
/// [`Error::Panic`]. The loop and the other channels go on. [`Error::ExitNow`] instead
/// ends the loop and reaches its caller. A `WouldBlock` I/O error is ignored, so
/// `cx.recv(n)?` is fine in `handle_read`.
///
/// The trait is object safe; the map stores its dispatchers as trait objects.
///
/// # Examples
///
/// An echo handler (Python's `EchoHandler(asyncore.dispatcher_with_send)`):
///
/// ```
/// use asyncore::{Cx, Dispatcher, Result};
///
/// struct EchoHandler {
///     pending: Vec<u8>,
/// }
///
/// impl Dispatcher for EchoHandler {
///     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
///         !self.pending.is_empty()
///     }
///
///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         let data = cx.recv(8192)?;
///         self.pending.extend_from_slice(&data);
///         Ok(())
///     }
///
///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         let sent = cx.send(&self.pending)?;
///         self.pending.drain(..sent);
///         Ok(())
///     }
/// }
/// # let _ = EchoHandler { pending: Vec::new() };
/// ```
pub trait Dispatcher: 'static {
    /// Whether the channel wants read events now. Consulted before anything is
    /// dispatched to the channel in a pass. Default: `true`.
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        let _ = cx;
        true
    }

    /// Whether the channel wants write events now. Never consulted for a listening
    /// channel. Default: `true`.
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        let _ = cx;
        true
    }

    /// Data can be read (or the peer closed). Default: log "unhandled read event".
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.log_unhandled("read event");
        Ok(())
    }

    /// The socket can take data. Default: log "unhandled write event".
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.log_unhandled("write event");
        Ok(())
    }

    /// Priority (out-of-band) data or an exceptional condition arrived; called alone
    /// for it, never together with `handle_read` for the same event, as in Python.
    /// Default: log "unhandled incoming priority event".
    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.log_unhandled("incoming priority event");
        Ok(())
    }

    /// A connect started with [`Channel::connect`](crate::Channel::connect) succeeded
    /// (never called for a refused one: that goes to `handle_error`). Default: log
    /// "unhandled connect event".
    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.log_unhandled("connect event");
        Ok(())
    }

    /// A listening channel has a connection waiting. Default: accept it and, if one
    /// came, pass it to [`handle_accepted`](Dispatcher::handle_accepted).
    fn handle_accept(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if let Some((sock, addr)) = cx.accept()? {
            self.handle_accepted(cx, sock, addr)?;
        }
        Ok(())
    }

    /// A connection was accepted. Wrap it with
    /// [`Channel::from_socket`](crate::Channel::from_socket) and
    /// [`add`](Cx::add) it with a dispatcher of its own. Default: log "unhandled
    /// accepted event" and close the connection.
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
        drop(sock);
        cx.log_unhandled(&format!("accepted event from {}", DisplayAddr(&addr)));
        Ok(())
    }

    /// The peer closed the connection (a read of 0 bytes, a reset, a hang-up).
    /// Default: log "unhandled close event" and [`close`](Cx::close).
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.log_unhandled("close event");
        cx.close();
        Ok(())
    }

    /// A handler failed or panicked. Default: log a compact description of the failure
    /// at error level, then [`handle_close`](Dispatcher::handle_close) (and close the
    /// channel if that fails too).
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        log_uncaptured(cx, &err);
        if let Err(e) = self.handle_close(cx) {
            log::error!("handle_close failed after an error: {e}");
            cx.close();
        }
    }

    /// The channel has left its map, whoever closed it (its own handler, another
    /// channel through a [`Handle`](crate::Handle), [`close_all`](crate::close_all)).
    /// Called once, after the socket is closed. The place for what a Python subclass
    /// does in its `close()` override before calling the base: close a data channel
    /// that belongs to this one, cancel a timer. Default: nothing.
    fn on_close(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }
}

/// The default `handle_error`'s log line: Python's "uncaptured python exception",
/// with the channel and the dispatcher's type.
pub(crate) fn log_uncaptured(cx: &Cx<'_>, err: &Error) {
    log::error!(
        "uncaptured error, closing channel {:?} of {}: {}",
        cx.channel(),
        cx.type_name(),
        err
    );
}
