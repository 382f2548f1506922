//! The load generators: one mio-driven client thread, the same for every server
//! (the file scenario's downloads: one blocking connection at a time).

pub mod download;
pub mod pingpong;
pub mod stream;

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A blocking client connection with `TCP_NODELAY` (connect bounded by 5 s).
pub fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// `n` non-blocking client connections for a mio client.
pub fn connect_many(addr: SocketAddr, n: usize) -> io::Result<Vec<mio::net::TcpStream>> {
    (0..n)
        .map(|_| {
            let stream = connect(addr)?;
            stream.set_nonblocking(true)?;
            Ok(mio::net::TcpStream::from_std(stream))
        })
        .collect()
}

/// Maps an unexpected end of stream to an error.
pub fn closed_by_server() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "server closed the connection")
}
