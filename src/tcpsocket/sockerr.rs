//! [`getsockerr`]: the pending socket error, readably.

use std::os::fd::AsFd;

use socket2::SockRef;

/// The error pending on a socket (`SO_ERROR`) as a readable string, for instance
/// `"Connection refused (os error 111)"`, or `"no error"`: asycamore's `getsockerr(s)`.
///
/// Reading `SO_ERROR` clears it, as in asycamore; a second call says `"no error"`.
/// Takes anything with a file descriptor: `&Socket` (from
/// [`Channel::socket`](crate::Channel::socket)), `&TcpStream`, ...
///
/// # Examples
///
/// ```
/// use asyncore::tcpsocket::getsockerr;
///
/// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// assert_eq!(getsockerr(&sock), "no error");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn getsockerr(sock: impl AsFd) -> String {
    match SockRef::from(&sock).take_error() {
        Ok(None) => "no error".to_string(),
        Ok(Some(e)) => e.to_string(),
        Err(e) => format!("cannot read the socket error: {e}"),
    }
}
