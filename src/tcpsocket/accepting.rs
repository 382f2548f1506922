//! [`AcceptingSocket`]: a listening dispatcher that hands connections to a factory.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{SockAddr, Socket};

use super::{listen_tcp, server_accept};
use crate::{Channel, Dispatcher, Error, Map, Result};

/// At most this many connections are accepted per `handle_accept`, so a flood of
/// clients cannot starve the other channels; the loop calls again while more wait.
const ACCEPTS_PER_EVENT: usize = 32;

/// A minimalist listening dispatcher: every accepted connection (already non-blocking)
/// goes to a factory together with the listener's [`Map`], and the factory does the
/// rest, typically wrapping the socket in a dispatcher and adding it to the map.
/// asycamore's `AcceptingSocket`.
///
/// A factory that fails costs that connection only: the error is logged and the
/// socket dropped, and the listener goes on. A failure of `accept` itself (out of file
/// descriptors, ...) goes to [`handle_error`](Dispatcher::handle_error), which by
/// default closes the listener, as in Python.
///
/// # Examples
///
/// A server that greets each client and hangs up:
///
/// ```
/// use std::io::Read;
/// use std::net::{Ipv4Addr, TcpStream};
/// use std::time::Duration;
/// use asyncore::tcpsocket::AcceptingSocket;
/// use asyncore::{Channel, Dispatcher, Map, Result};
///
/// struct Greeter { chan: Channel }
/// impl Dispatcher for Greeter {
///     fn channel(&self) -> &Channel { &self.chan }
///     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
///     fn handle_write(&mut self) -> Result<()> {
///         self.chan.send(b"hello\n")?;
///         self.chan.close();
///         Ok(())
///     }
/// }
///
/// let map = Map::new()?;
/// let server = AcceptingSocket::listen(Ipv4Addr::LOCALHOST.into(), 0, 16, |sock, _peer, map: &Map| {
///     map.add(Greeter { chan: Channel::from_socket(sock)? })?;
///     Ok(())
/// })?;
/// let addr = server.local_addr()?;
/// let server = map.add(server)?;
///
/// let mut client = TcpStream::connect(addr)?;
/// for _ in 0..100 {
///     map.poll(Some(Duration::from_millis(10)))?;
/// }
/// let mut greeting = String::new();
/// client.read_to_string(&mut greeting)?;
/// assert_eq!(greeting, "hello\n");
/// assert_eq!(server.borrow().accepted(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AcceptingSocket<F> {
    chan: Channel,
    factory: F,
    accepted: u64,
}

impl<F> AcceptingSocket<F>
where
    F: FnMut(Socket, SockAddr, &Map) -> Result<()> + 'static,
{
    /// Wraps a channel that is listening already (see [`listen_tcp`]).
    pub fn new(chan: Channel, factory: F) -> AcceptingSocket<F> {
        AcceptingSocket {
            chan,
            factory,
            accepted: 0,
        }
    }

    /// Listens on `ip:port` with [`listen_tcp`] and wraps the result. Add it to a map to
    /// start accepting.
    ///
    /// # Errors
    ///
    /// As for [`listen_tcp`].
    pub fn listen(
        ip: IpAddr,
        port: u16,
        backlog: i32,
        factory: F,
    ) -> io::Result<AcceptingSocket<F>> {
        let mut chan = Channel::new();
        listen_tcp(&mut chan, ip, port, backlog)?;
        Ok(AcceptingSocket::new(chan, factory))
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// The channel is closed, or is not an IP socket.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.chan
            .local_addr()?
            .as_socket()
            .ok_or_else(|| io::Error::other("listening socket has no IP address"))
    }

    /// How many connections have been accepted and handed to the factory.
    pub fn accepted(&self) -> u64 {
        self.accepted
    }
}

impl<F> Dispatcher for AcceptingSocket<F>
where
    F: FnMut(Socket, SockAddr, &Map) -> Result<()> + 'static,
{
    fn channel(&self) -> &Channel {
        &self.chan
    }

    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    fn handle_accept(&mut self) -> Result<()> {
        let map = self
            .chan
            .map()
            .ok_or_else(|| Error::other("AcceptingSocket: accepting while in no map"))?;
        for _ in 0..ACCEPTS_PER_EVENT {
            let factory = &mut self.factory;
            let made = server_accept(&mut self.chan, |sock, addr| {
                let peer = addr.as_socket(); // shown only if the factory fails
                Ok(factory(sock, addr, &map).map_err(|e| (e, peer)))
            })?;
            match made {
                None => break,
                Some(Ok(())) => self.accepted += 1,
                Some(Err((e, peer))) => {
                    self.accepted += 1;
                    let peer = peer.map_or_else(|| "an unnamed peer".into(), |a| a.to_string());
                    self.log_info(
                        &format!("connection from {peer} dropped: the factory failed: {e}"),
                        log::Level::Error,
                    );
                }
            }
        }
        Ok(())
    }
}

impl<F> fmt::Debug for AcceptingSocket<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptingSocket")
            .field("channel", &self.chan)
            .field("accepted", &self.accepted)
            .finish()
    }
}
