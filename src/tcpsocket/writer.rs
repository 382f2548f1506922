//! [`socket_writer`]: sending a buffer step by step.

use std::fmt;
use std::io;

use super::raw::{self, Outcome};
use crate::Channel;

/// One step of a [`SocketWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteStep {
    /// The socket took this many bytes (never 0).
    Sent(usize),
    /// The socket takes nothing now (EAGAIN / EWOULDBLOCK, or ENOBUFS): come back on
    /// the next write event.
    WouldBlock,
}

/// An iterator sending a buffer to a channel's socket: see [`socket_writer`].
pub struct SocketWriter<'a> {
    chan: &'a mut Channel,
    data: &'a [u8],
    sent: usize,
    error: Option<io::Error>,
}

/// Sends `data` to `chan`'s socket one `send` per step: asycamore's
/// `socket_writer(sock, sentinel)`, the driver under [`write_iterable`](super::write_iterable).
///
/// Each step yields [`WriteStep::Sent`] with how much the socket took, or
/// [`WriteStep::WouldBlock`] when it takes nothing now (EAGAIN / EWOULDBLOCK, or the
/// transient ENOBUFS); EINTR is retried. The iterator ends once all of `data` is sent
/// ([`SocketWriter::is_complete`]) or on any other error ([`SocketWriter::error`]),
/// such as `BrokenPipe` or `ConnectionReset` from a peer that went away. SIGPIPE is
/// never raised where the OS allows (`MSG_NOSIGNAL`).
///
/// As with [`socket_reader`](super::socket_reader), a `WouldBlock` step does not end
/// the iterator; inside a handler, stop there, remember [`sent`](SocketWriter::sent),
/// and go on from that offset on the next write event.
///
/// # Examples
///
/// ```
/// use std::io::Read;
/// use std::net::{TcpListener, TcpStream};
/// use asyncore::tcpsocket::{socket_writer, WriteStep};
/// use asyncore::Channel;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut chan = Channel::from_socket(TcpStream::connect(listener.local_addr()?)?)?;
/// let (mut peer, _) = listener.accept()?;
///
/// let mut writer = socket_writer(&mut chan, b"hello");
/// assert_eq!(writer.next(), Some(WriteStep::Sent(5)));
/// assert_eq!(writer.next(), None);
/// assert!(writer.is_complete() && writer.error().is_none());
/// drop(chan);
///
/// let mut got = String::new();
/// peer.read_to_string(&mut got)?;
/// assert_eq!(got, "hello");
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "the writer sends nothing until iterated"]
pub fn socket_writer<'a>(chan: &'a mut Channel, data: &'a [u8]) -> SocketWriter<'a> {
    SocketWriter {
        chan,
        data,
        sent: 0,
        error: None,
    }
}

impl SocketWriter<'_> {
    /// How many bytes of the buffer have been sent so far.
    pub fn sent(&self) -> usize {
        self.sent
    }

    /// True once the whole buffer has been sent.
    pub fn is_complete(&self) -> bool {
        self.sent == self.data.len()
    }

    /// The error the iterator ended on, if it ended on one.
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// Takes the error the iterator ended on, leaving `None`.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }
}

impl Iterator for SocketWriter<'_> {
    type Item = WriteStep;

    fn next(&mut self) -> Option<WriteStep> {
        if self.error.is_some() || self.is_complete() {
            return None;
        }
        match raw::send(self.chan, &self.data[self.sent..]) {
            Outcome::Done(n) => {
                self.sent += n;
                Some(WriteStep::Sent(n))
            }
            Outcome::Blocked => Some(WriteStep::WouldBlock),
            Outcome::Failed(e) => {
                self.error = Some(e);
                None
            }
        }
    }
}

impl fmt::Debug for SocketWriter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SocketWriter")
            .field("channel", &self.chan)
            .field("len", &self.data.len())
            .field("sent", &self.sent)
            .field("error", &self.error)
            .finish()
    }
}
