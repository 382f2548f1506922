//! [`AcceptingSocket`]: a listening dispatcher that hands connections to a factory.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use socket2::{SockAddr, Socket};

use super::{listen_tcp, server_accept};
use crate::{Channel, Cx, Dispatcher, Handle, Map, Result};

/// At most this many connections are accepted per `handle_accept`, so a flood of
/// clients cannot starve the other channels; the loop calls again while more wait.
const ACCEPTS_PER_EVENT: usize = 32;

/// A minimalist listening dispatcher: every accepted connection (already non-blocking)
/// goes to a factory together with the listener's [`Map`], and the factory does the
/// rest, typically wrapping the socket in a [`Channel`] and adding it to the map with
/// a dispatcher of its own. asycamore's `AcceptingSocket`.
///
/// [`AcceptingSocket::listen`] makes the listening channel and adds it to a map in one
/// call. To listen on a channel of your own (a Unix socket, other socket options), add
/// it with [`AcceptingSocket::new`]: `map.add(listening_channel, AcceptingSocket::new(factory))`.
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
/// use asyncore::{Channel, Cx, Dispatcher, Map, Result};
///
/// struct Greeter;
/// impl Dispatcher for Greeter {
///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         cx.send(b"hello\n")?;
///         cx.close();
///         Ok(())
///     }
/// }
///
/// let map = Map::new()?;
/// let server = AcceptingSocket::listen(&map, Ipv4Addr::LOCALHOST.into(), 0, 16, |sock, _peer, map: &Map| {
///     map.add(Channel::from_socket(sock)?, Greeter)?;
///     Ok(())
/// })?;
/// let addr = server.borrow().local_addr().expect("bound by listen");
///
/// let mut client = TcpStream::connect(addr)?;
/// for _ in 0..100 {
///     map.poll(Duration::from_millis(10))?;
/// }
/// let mut greeting = String::new();
/// client.read_to_string(&mut greeting)?;
/// assert_eq!(greeting, "hello\n");
/// assert_eq!(server.borrow().accepted(), 1);
/// server.close();
/// assert!(map.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AcceptingSocket<F> {
    factory: F,
    accepted: u64,
    local_addr: Option<SocketAddr>,
}

impl<F> AcceptingSocket<F>
where
    F: FnMut(Socket, SockAddr, &Map) -> Result<()> + 'static,
{
    /// The dispatcher for a channel that is listening already (see [`listen_tcp`]):
    /// add the two to a map with `map.add(chan, AcceptingSocket::new(factory))`.
    pub fn new(factory: F) -> AcceptingSocket<F> {
        AcceptingSocket {
            factory,
            accepted: 0,
            local_addr: None,
        }
    }

    /// Listens on `ip:port` with [`listen_tcp`] and adds the listener to `map`, where
    /// it starts accepting when the loop runs. Returns its [`Handle`]; close that to
    /// stop listening.
    ///
    /// # Errors
    ///
    /// As for [`listen_tcp`], or the map refused the channel.
    pub fn listen(
        map: &Map,
        ip: IpAddr,
        port: u16,
        backlog: i32,
        factory: F,
    ) -> Result<Handle<AcceptingSocket<F>>> {
        let mut chan = Channel::new();
        let addr = listen_tcp(&mut chan, ip, port, backlog)?;
        let mut server = AcceptingSocket::new(factory);
        server.local_addr = Some(addr);
        Ok(map.add(chan, server)?)
    }

    /// The address the listener was bound to by [`listen`](AcceptingSocket::listen)
    /// (with the port the OS chose for port 0). `None` for one made with
    /// [`new`](AcceptingSocket::new): ask its channel, `handle.channel().local_addr()`.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.local_addr
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
    fn handle_accept(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        for _ in 0..ACCEPTS_PER_EVENT {
            let Some((sock, addr)) =
                server_accept(cx.channel_mut(), |sock, addr| Ok((sock, addr)))?
            else {
                break;
            };
            self.accepted += 1;
            let peer = addr.as_socket(); // shown only if the factory fails
            if let Err(e) = (self.factory)(sock, addr, cx.map()) {
                let peer = peer.map_or_else(|| "an unnamed peer".into(), |a| a.to_string());
                cx.log_info(
                    &format!("connection from {peer} dropped: the factory failed: {e}"),
                    log::Level::Error,
                );
            }
        }
        Ok(())
    }
}

impl<F> fmt::Debug for AcceptingSocket<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcceptingSocket")
            .field("local_addr", &self.local_addr)
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}
