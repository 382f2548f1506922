//! [`socket_reader`]: reading a socket step by step.

use std::fmt;
use std::io;

use super::raw::{self, Outcome};
use crate::Channel;

/// One step of a [`SocketReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadStep {
    /// Up to `buffer_size` bytes that arrived (never empty).
    Data(Vec<u8>),
    /// Nothing to read now (EAGAIN / EWOULDBLOCK, or ENOBUFS): come back on the next
    /// read event. asycamore yielded its `sentinel` here.
    WouldBlock,
}

/// Why a [`SocketReader`] stopped.
#[derive(Debug)]
pub enum ReadEnd {
    /// The peer closed its side: a read returned 0 bytes.
    Eof,
    /// A read failed, for example with `ConnectionReset`.
    Error(io::Error),
}

impl ReadEnd {
    /// `Ok(())` for [`ReadEnd::Eof`], the error otherwise.
    ///
    /// # Errors
    ///
    /// The error the reader stopped on.
    pub fn into_result(self) -> io::Result<()> {
        match self {
            ReadEnd::Eof => Ok(()),
            ReadEnd::Error(e) => Err(e),
        }
    }
}

/// An iterator reading a channel's socket: see [`socket_reader`].
pub struct SocketReader<'a> {
    chan: &'a mut Channel,
    buffer_size: usize,
    spare: Vec<u8>,
    end: Option<ReadEnd>,
}

/// Reads `chan`'s socket one `recv` per step, up to `buffer_size` bytes each:
/// asycamore's `socket_reader(sock, sentinel, buffer_size)`.
///
/// Each step yields [`ReadStep::Data`] with what arrived, or [`ReadStep::WouldBlock`]
/// when nothing is waiting (EAGAIN / EWOULDBLOCK, or the transient ENOBUFS); an
/// interrupted call (EINTR) is retried. The iterator ends at the end of the stream or
/// on any other error; [`SocketReader::end`] then tells which, so a reset
/// (`ConnectionReset`) is not mistaken for an orderly close.
///
/// A `WouldBlock` step does not end the iterator: asking again reads again, which is
/// what asycamore did when the loop resumed it. Inside a handler, stop at
/// `WouldBlock` and return; the loop calls again when data comes. Reading through the
/// reader keeps the loop's readiness bookkeeping, like [`Channel::recv`]; unlike it, a
/// disconnect is reported as the error it is and does not schedule `handle_close`.
///
/// # Panics
///
/// If `buffer_size` is 0.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use std::net::{TcpListener, TcpStream};
/// use asyncore::tcpsocket::{socket_reader, ReadEnd, ReadStep};
/// use asyncore::Channel;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = TcpStream::connect(listener.local_addr()?)?;
/// let mut chan = Channel::from_socket(listener.accept()?.0)?;
///
/// // Nothing sent yet: the first step says so.
/// assert_eq!(socket_reader(&mut chan, 8192).next(), Some(ReadStep::WouldBlock));
///
/// peer.write_all(b"hello")?;
/// drop(peer);
/// let mut reader = socket_reader(&mut chan, 8192);
/// let mut got = Vec::new();
/// for step in reader.by_ref() {
///     match step {
///         ReadStep::Data(d) => got.extend(d),
///         ReadStep::WouldBlock => std::thread::yield_now(), // a handler would return
///     }
/// }
/// assert_eq!(got, b"hello");
/// assert!(matches!(reader.end(), Some(ReadEnd::Eof)));
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the reader reads nothing until iterated"]
pub fn socket_reader(chan: &mut Channel, buffer_size: usize) -> SocketReader<'_> {
    assert!(buffer_size > 0, "socket_reader: buffer_size must not be 0");
    SocketReader {
        chan,
        buffer_size,
        spare: Vec::new(),
        end: None,
    }
}

impl SocketReader<'_> {
    /// asycamore's default buffer size.
    pub const DEFAULT_BUFFER_SIZE: usize = 8192;

    /// Why the iterator ended; `None` while it has not.
    pub fn end(&self) -> Option<&ReadEnd> {
        self.end.as_ref()
    }

    /// Takes the reason the iterator ended, leaving `None`.
    pub fn take_end(&mut self) -> Option<ReadEnd> {
        self.end.take()
    }
}

impl Iterator for SocketReader<'_> {
    type Item = ReadStep;

    fn next(&mut self) -> Option<ReadStep> {
        if self.end.is_some() {
            return None;
        }
        let mut buf = std::mem::take(&mut self.spare);
        buf.resize(self.buffer_size, 0);
        match raw::recv(self.chan, &mut buf) {
            Outcome::Done(0) => {
                self.end = Some(ReadEnd::Eof);
                None
            }
            Outcome::Done(n) => {
                buf.truncate(n);
                Some(ReadStep::Data(buf))
            }
            Outcome::Blocked => {
                self.spare = buf;
                Some(ReadStep::WouldBlock)
            }
            Outcome::Failed(e) => {
                self.end = Some(ReadEnd::Error(e));
                None
            }
        }
    }
}

impl fmt::Debug for SocketReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketReader")
            .field("channel", &self.chan)
            .field("buffer_size", &self.buffer_size)
            .field("end", &self.end)
            .finish()
    }
}
