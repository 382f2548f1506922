//! The [`Dispatcher`] trait: asyncore's event handlers, each with Python's default.

use socket2::{SockAddr, Socket};

use crate::channel::{Channel, DisplayAddr};
use crate::error::{Error, Result};

/// A channel's event handlers: Python's `asyncore.dispatcher`, minus the socket, which
/// lives in the [`Channel`] the type holds.
///
/// Implement [`channel`](Dispatcher::channel) and [`channel_mut`](Dispatcher::channel_mut);
/// every other method has the default Python's `dispatcher` has. The loop calls
/// [`readable`](Dispatcher::readable) and [`writable`](Dispatcher::writable) to learn
/// what the channel wants, then the `handle_*` methods for what happened.
///
/// Handlers return [`Result`]: an `Err` goes to [`handle_error`](Dispatcher::handle_error)
/// (default: log it and close the channel), and so does a panic, converted to
/// [`Error::Panic`]. The loop and the other channels go on. [`Error::ExitNow`] instead
/// ends the loop and reaches its caller. A `WouldBlock` I/O error is ignored, so
/// `self.chan.recv(n)?` is fine in `handle_read`.
///
/// The trait is object safe; the map stores `Rc<RefCell<dyn Dispatcher>>`.
///
/// # Examples
///
/// An echo handler (Python's `EchoHandler(asyncore.dispatcher_with_send)` in full):
///
/// ```
/// use asyncore::{Channel, Dispatcher, Result};
///
/// struct EchoHandler {
///     chan: Channel,
///     pending: Vec<u8>,
/// }
///
/// impl Dispatcher for EchoHandler {
///     fn channel(&self) -> &Channel { &self.chan }
///     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
///
///     fn writable(&mut self) -> bool { !self.pending.is_empty() }
///
///     fn handle_read(&mut self) -> Result<()> {
///         let data = self.chan.recv(8192)?;
///         self.pending.extend_from_slice(&data);
///         Ok(())
///     }
///
///     fn handle_write(&mut self) -> Result<()> {
///         let sent = self.chan.send(&self.pending)?;
///         self.pending.drain(..sent);
///         Ok(())
///     }
/// }
/// # let _ = EchoHandler { chan: Channel::new(), pending: Vec::new() };
/// ```
pub trait Dispatcher: 'static {
    /// The channel (socket and state flags) this dispatcher drives.
    fn channel(&self) -> &Channel;

    /// The channel, mutably.
    fn channel_mut(&mut self) -> &mut Channel;

    /// Whether the channel wants read events now. Consulted before anything is
    /// dispatched to the channel in a pass. Default: `true`.
    fn readable(&mut self) -> bool {
        true
    }

    /// Whether the channel wants write events now. Never consulted for a listening
    /// channel. Default: `true`.
    fn writable(&mut self) -> bool {
        true
    }

    /// Data can be read (or the peer closed). Default: log "unhandled read event".
    fn handle_read(&mut self) -> Result<()> {
        self.log_info("unhandled read event", log::Level::Warn);
        Ok(())
    }

    /// The socket can take data. Default: log "unhandled write event".
    fn handle_write(&mut self) -> Result<()> {
        self.log_info("unhandled write event", log::Level::Warn);
        Ok(())
    }

    /// Priority (out-of-band) data or an exceptional condition arrived.
    /// Default: log "unhandled incoming priority event".
    fn handle_expt(&mut self) -> Result<()> {
        self.log_info("unhandled incoming priority event", log::Level::Warn);
        Ok(())
    }

    /// A connect started with [`Channel::connect`] succeeded (never called for a
    /// refused one: that goes to `handle_error`). Default: log "unhandled connect event".
    fn handle_connect(&mut self) -> Result<()> {
        self.log_info("unhandled connect event", log::Level::Warn);
        Ok(())
    }

    /// A listening channel has a connection waiting. Default: accept it and, if one
    /// came, pass it to [`handle_accepted`](Dispatcher::handle_accepted).
    fn handle_accept(&mut self) -> Result<()> {
        if let Some((sock, addr)) = self.channel_mut().accept()? {
            self.handle_accepted(sock, addr)?;
        }
        Ok(())
    }

    /// A connection was accepted. Wrap it with [`Channel::from_socket`] in a new
    /// dispatcher and [`add`](crate::Map::add) that to a map. Default: log
    /// "unhandled accepted event" and close the connection.
    fn handle_accepted(&mut self, sock: Socket, addr: SockAddr) -> Result<()> {
        drop(sock);
        self.log_info(
            &format!("unhandled accepted event from {}", DisplayAddr(&addr)),
            log::Level::Warn,
        );
        Ok(())
    }

    /// The peer closed the connection (a read of 0 bytes, a reset, a hang-up).
    /// Default: log "unhandled close event" and [`close`](Dispatcher::close).
    fn handle_close(&mut self) -> Result<()> {
        self.log_info("unhandled close event", log::Level::Warn);
        self.close();
        Ok(())
    }

    /// A handler failed or panicked. Default: log a compact description of the failure
    /// at error level, then [`handle_close`](Dispatcher::handle_close) (and close the
    /// channel if that fails too).
    fn handle_error(&mut self, err: Error) {
        log::error!(
            "uncaptured error, closing channel {:?} of {}: {}",
            self.channel(),
            self.type_name(),
            err
        );
        if let Err(e) = self.handle_close() {
            log::error!("handle_close failed after an error: {e}");
            self.close();
        }
    }

    /// Closes the channel: Python's `dispatcher.close()`. Override to release
    /// resources of your own, and call [`Channel::close`] from it.
    fn close(&mut self) {
        self.channel_mut().close();
    }

    /// Logs a message at the given level, tagged with the dispatcher's type:
    /// Python's `log_info(message, type)`.
    fn log_info(&self, message: &str, level: log::Level) {
        log::log!(level, "{}: {}", self.type_name(), message);
    }

    /// Logs a message at debug level: Python's `dispatcher.log(message)`.
    fn log(&self, message: &str) {
        log::debug!("{}: {}", self.type_name(), message);
    }

    /// The name of the implementing type, for logs and error descriptions.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}
