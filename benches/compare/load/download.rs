//! Download client, for the file scenario: one connection at a time connects, reads
//! until the server closes, and checks that the whole file came; then the next.
//!
//! Two ways to take the bytes ([`Sink`]): `read` into a 256 KiB user buffer, which
//! makes the kernel copy every byte out of the socket, or `recv` with `MSG_TRUNC`,
//! which has Linux drop received TCP data without copying it, so that the client
//! costs little beside the server and the server's own cost sets the pace.
//!
//! The first download of every run is also compared byte for byte with the file
//! (read into the buffer whatever the sink); the others are checked by length.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rustix::net::RecvFlags;

use crate::harness::{Measured, Phase, Running, Timing, Window};

/// Bytes asked of the socket per read.
pub const READ_BUF: usize = 256 * 1024;

/// A read that waits this long for data fails the run.
const STALL: Duration = Duration::from_secs(10);

/// How the client takes the bytes it receives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `read` into a [`READ_BUF`] user buffer: the kernel copies every byte out.
    Copy,
    /// `recv(MSG_TRUNC)` of up to [`READ_BUF`]: the kernel drops the bytes uncopied.
    Discard,
}

/// What one measured run saw.
#[derive(Clone, Copy, Debug)]
pub struct Downloaded {
    /// Bytes received in the window.
    pub bytes: u64,
    /// Downloads completed (in the warm-up and the window).
    pub downloads: u64,
    /// The server's use of the window.
    pub measured: Measured,
}

/// Downloads `file` from `server` again and again through one warm-up and window.
pub fn run(server: &Running, sink: Sink, file: &[u8], timing: Timing) -> io::Result<Downloaded> {
    let mut window = Window::new(server, timing);
    let mut buf = vec![0u8; READ_BUF];
    let mut result = Downloaded {
        bytes: 0,
        downloads: 0,
        measured: Measured::default(),
    };
    'downloads: while window.at(Instant::now()) != Phase::Done {
        let stream = connect(server.addr)?;
        let first = result.downloads == 0;
        let sink = if first { Sink::Copy } else { sink };
        let mut got = 0;
        loop {
            let n = take(&stream, sink, &mut buf)?;
            if n == 0 {
                break;
            }
            if first {
                check_bytes(file, got, &buf[..n])?;
            }
            got += n;
            match window.at(Instant::now()) {
                Phase::Warmup => {}
                Phase::Measure => result.bytes += n as u64,
                Phase::Done => break 'downloads,
            }
        }
        check_len(got, file.len())?;
        result.downloads += 1;
    }
    result.measured = window.measured();
    Ok(result)
}

/// Downloads a file of `len` bytes from `addr` `count` times, one after the other,
/// checking each one's length: for a server under a counting tool, where only the
/// amount of work matters (no window, no CPU sampling).
pub fn run_count(addr: SocketAddr, sink: Sink, len: usize, count: u64) -> io::Result<()> {
    let mut buf = vec![0u8; READ_BUF];
    for _ in 0..count {
        let stream = connect(addr)?;
        let mut got = 0;
        loop {
            match take(&stream, sink, &mut buf)? {
                0 => break,
                n => got += n,
            }
        }
        check_len(got, len)?;
    }
    Ok(())
}

/// A blocking connection whose reads give up after [`STALL`].
fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = super::connect(addr)?;
    stream.set_read_timeout(Some(STALL))?;
    Ok(stream)
}

/// One read as `sink` takes it: the bytes received, 0 at the end of the stream.
fn take(stream: &TcpStream, sink: Sink, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        let res = match sink {
            Sink::Copy => (&*stream).read(buf),
            // For TCP, Linux returns the bytes dropped, at most the length asked.
            Sink::Discard => rustix::net::recv(stream, &mut *buf, RecvFlags::TRUNC)
                .map(|(_, received)| received)
                .map_err(io::Error::from),
        };
        match res {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                let secs = STALL.as_secs();
                return Err(io::Error::new(e.kind(), format!("no data for {secs} s")));
            }
            other => return other,
        }
    }
}

/// Whether `data`, received at offset `at`, is what the file has there.
fn check_bytes(file: &[u8], at: usize, data: &[u8]) -> io::Result<()> {
    let want = file.get(at..at + data.len());
    if want != Some(data) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bytes {at}..{} differ from the file", at + data.len()),
        ));
    }
    Ok(())
}

fn check_len(got: usize, len: usize) -> io::Result<()> {
    if got != len {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a download brought {got} bytes, the file has {len}"),
        ));
    }
    Ok(())
}
