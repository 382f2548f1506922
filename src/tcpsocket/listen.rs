//! The server side: [`listen_tcp`] and [`server_accept`].

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, SockAddr, Socket, Type};

use crate::{Channel, Result};

/// Makes `chan` a listening TCP socket on `ip:port`: creates the socket (closing any
/// the channel had), makes it non-blocking, sets `SO_REUSEADDR`, binds and listens
/// with `backlog`. asycamore's `listen_tcp(o, ip, port, backlog)`.
///
/// Returns the address bound, which tells the port the OS chose when `port` is 0.
/// Pass `&mut Channel::new()` for a new listener (then `map.add(chan, dispatcher)`),
/// or, inside a handler, `cx.channel_mut()` to replace the running channel's socket
/// (it stays in its map).
///
/// # Errors
///
/// Any step failing: no socket, address in use, permission denied.
///
/// # Examples
///
/// ```
/// use std::net::Ipv4Addr;
/// use asyncore::tcpsocket::listen_tcp;
/// use asyncore::Channel;
///
/// let mut chan = Channel::new();
/// let addr = listen_tcp(&mut chan, Ipv4Addr::LOCALHOST.into(), 0, 128)?;
/// assert!(chan.accepting);
/// assert_ne!(addr.port(), 0);
/// std::net::TcpStream::connect(addr)?; // queued until accepted
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn listen_tcp(
    chan: &mut Channel,
    ip: IpAddr,
    port: u16,
    backlog: i32,
) -> io::Result<SocketAddr> {
    let addr = SocketAddr::new(ip, port);
    chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind(addr)?;
    chan.listen(backlog)?;
    chan.local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listening socket has no IP address"))
}

/// Accepts one connection on the listening `chan`, makes it non-blocking and passes
/// it, with the peer's address, to `factory`; returns what the factory returned.
/// `Ok(None)` when no connection was waiting (the accept would block, or the client
/// gave up before it was accepted). asycamore's
/// `server_accept(serverstate, connection_factory, connection_closer)`.
///
/// In asycamore the factory also received the server state and a "closer" to call when
/// the connection ends. Here the factory captures what it needs, and a connection
/// ends when its channel closes ([`Cx::close`](crate::Cx::close)); the map then calls
/// its dispatcher's [`on_close`](crate::Dispatcher::on_close) and drops it.
///
/// # Errors
///
/// The accept failed otherwise (out of file descriptors, ...), making the socket
/// non-blocking failed, or the factory's own error.
///
/// # Examples
///
/// Accept in `handle_accept` (on the running channel, `cx.channel_mut()`) and give
/// each connection a dispatcher of its own:
///
/// ```
/// use std::net::{Ipv4Addr, TcpStream};
/// use std::time::Duration;
/// use asyncore::tcpsocket::{listen_tcp, server_accept};
/// use asyncore::{Channel, Cx, Dispatcher, Map, Result};
///
/// struct Conn;
/// impl Dispatcher for Conn {}
///
/// struct Server;
/// impl Dispatcher for Server {
///     fn handle_accept(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         let made = server_accept(cx.channel_mut(), |sock, _peer| {
///             Ok(Channel::from_socket(sock)?)
///         })?;
///         if let Some(chan) = made {
///             cx.add(chan, Conn)?;
///         }
///         Ok(())
///     }
/// }
///
/// let map = Map::new()?;
/// let mut chan = Channel::new();
/// let addr = listen_tcp(&mut chan, Ipv4Addr::LOCALHOST.into(), 0, 8)?;
/// map.add(chan, Server)?;
///
/// let _client = TcpStream::connect(addr)?;
/// for _ in 0..100 {
///     if map.len() == 2 {
///         break;
///     }
///     map.poll(Duration::from_millis(10))?;
/// }
/// assert_eq!(map.len(), 2, "the listener and the accepted connection");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn server_accept<T>(
    chan: &mut Channel,
    factory: impl FnOnce(Socket, SockAddr) -> Result<T>,
) -> Result<Option<T>> {
    let Some((sock, addr)) = chan.accept()? else {
        return Ok(None);
    };
    sock.set_nonblocking(true)?;
    factory(sock, addr).map(Some)
}
