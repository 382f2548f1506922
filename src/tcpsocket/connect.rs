//! [`connect_tcp`]: start a non-blocking connect.

use std::io;

use socket2::{SockAddr, Type};

use crate::Channel;
use crate::sys::in_progress;

/// How a connect started by [`connect_tcp`] went at first.
///
/// Either way the loop reports the connection the same way, with
/// [`handle_connect`](crate::Dispatcher::handle_connect) on its next pass (after it has
/// checked `SO_ERROR`), so most dispatchers can ignore which one it was. asycamore
/// returned `0` or `EINPROGRESS` here and left the immediate case to its caller; this
/// crate's loop treats both alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connect {
    /// The connection was established during the call (common for Unix sockets, and
    /// for TCP on some systems when the server is on the same host).
    Immediate,
    /// The connection is being established (`EINPROGRESS`).
    InProgress,
}

impl Connect {
    /// True for [`Connect::Immediate`].
    pub fn is_immediate(self) -> bool {
        self == Connect::Immediate
    }
}

/// Starts a non-blocking connect to `address` from `chan`: creates a stream socket of
/// the address's family (closing any socket the channel had), sets the channel
/// `connecting`, and connects. asycamore's `connect_tcp(o, address)`.
///
/// `address` is an IP socket address (TCP), or a Unix socket path made with
/// [`SockAddr::unix`]. Resolve host names first (`ToSocketAddrs` blocks).
///
/// The loop reports the outcome on its next pass: `handle_connect` once the connection
/// is up, or `handle_error` with the failure (for example `ConnectionRefused`). That
/// holds for a connection that completed during the call too ([`Connect::Immediate`]),
/// so the caller need do nothing special about it; a dispatcher must only ask for the
/// event by being [`writable`](crate::Dispatcher::writable) (or readable) while
/// `connecting`.
///
/// Add a new channel to a map with its dispatcher afterwards (`map.add(chan, d)`).
/// Inside a handler, `connect_tcp(cx.channel_mut(), address)` reconnects: the channel
/// gets the new socket and stays in its map, as with Python's `create_socket` and
/// `connect` after `close()` (the old socket is closed, and `on_close` does not run).
///
/// # Errors
///
/// The socket could not be created, or the connect failed at once (on some systems a
/// refused connection to the local host fails here; a Unix path that does not exist
/// does).
///
/// # Examples
///
/// ```
/// use std::net::TcpListener;
/// use asyncore::tcpsocket::{connect_tcp, Connect};
/// use asyncore::Channel;
///
/// let server = TcpListener::bind("127.0.0.1:0")?;
/// let mut chan = Channel::new();
/// let how = connect_tcp(&mut chan, server.local_addr()?)?;
/// assert!(matches!(how, Connect::Immediate | Connect::InProgress));
/// assert!(chan.connecting && !chan.connected);
/// // map.add(chan, dispatcher)?: its handle_connect comes next.
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_tcp(chan: &mut Channel, address: impl Into<SockAddr>) -> io::Result<Connect> {
    let address = address.into();
    chan.create_socket(address.domain(), Type::STREAM)?;
    // Channel::connect, telling whether the connection completed during the call.
    chan.connected = false;
    chan.connecting = true;
    let started = match chan.socket() {
        Some(sock) => sock.connect(&address),
        None => Err(io::Error::new(
            io::ErrorKind::NotConnected,
            "channel has no socket",
        )),
    };
    let how = match started {
        Ok(()) => Connect::Immediate,
        Err(e) if in_progress(&e) => Connect::InProgress,
        Err(e) => {
            chan.connecting = false;
            return Err(e);
        }
    };
    chan.set_addr(address);
    Ok(how)
}
