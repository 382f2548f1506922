//! Socket calls for the helpers: like [`Channel::recv_into`] and [`Channel::send`], but
//! a reset or a broken pipe comes back as the error it is instead of "closed".
//!
//! asycamore's readers and writers end on "any error other than EAGAIN, EWOULDBLOCK,
//! ENOBUFS, EINTR" and let the caller see which one. The channel's own calls turn a
//! disconnect into an empty read and a scheduled `handle_close`, as Python's asyncore
//! does, which hides the error. So these go to the socket directly, and keep the
//! loop's readiness bookkeeping themselves (see the `event_loop` module): a call that
//! would block clears the readiness bit, so the loop waits for the next edge.

use std::io::{self, Read};

use crate::Channel;
use crate::channel::{READ, READ_CLOSED, WRITE};

/// What one socket call came to.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// This many bytes moved (0 from a read: end of stream).
    Done(usize),
    /// EAGAIN / EWOULDBLOCK, or ENOBUFS: try again later.
    Blocked,
    /// Anything else.
    Failed(io::Error),
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod errno {
    pub(super) const ENOBUFS: i32 = 105;
    pub(super) const EINPROGRESS: i32 = 115;
    pub(super) const MSG_NOSIGNAL: i32 = 0x4000;
}
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod errno {
    pub(super) const ENOBUFS: i32 = 55;
    pub(super) const EINPROGRESS: i32 = 36;
    pub(super) const MSG_NOSIGNAL: i32 = 0;
}

/// True for a connect that was started and goes on in the background.
pub(crate) fn in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(errno::EINPROGRESS)
}

fn no_socket() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "channel has no socket")
}

/// Reads once into `buf` (retrying EINTR).
pub(crate) fn recv(chan: &mut Channel, buf: &mut [u8]) -> Outcome {
    let res = loop {
        let Some(mut sock) = chan.socket() else {
            break Err(no_socket());
        };
        match sock.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match res {
        Ok(0) if !buf.is_empty() => {
            chan.ready &= !(READ | READ_CLOSED);
            Outcome::Done(0)
        }
        Ok(n) => Outcome::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            chan.ready &= !READ;
            Outcome::Blocked
        }
        // Out of buffer space: transient, and no edge will announce its end, so the
        // readiness bit stays and the loop calls again.
        Err(e) if e.raw_os_error() == Some(errno::ENOBUFS) => Outcome::Blocked,
        Err(e) => {
            chan.ready &= !(READ | READ_CLOSED);
            Outcome::Failed(e)
        }
    }
}

/// Sends once from `data` (retrying EINTR; never raising SIGPIPE where the OS allows).
pub(crate) fn send(chan: &mut Channel, data: &[u8]) -> Outcome {
    let res = loop {
        let Some(sock) = chan.socket() else {
            break Err(no_socket());
        };
        match sock.send_with_flags(data, errno::MSG_NOSIGNAL) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match res {
        // Nothing taken from a non-empty buffer: as good as would-block.
        Ok(0) if !data.is_empty() => {
            chan.ready &= !WRITE;
            Outcome::Blocked
        }
        Ok(n) => Outcome::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
            chan.ready &= !WRITE;
            Outcome::Blocked
        }
        Err(e) if e.raw_os_error() == Some(errno::ENOBUFS) => Outcome::Blocked,
        Err(e) => {
            chan.ready &= !WRITE;
            Outcome::Failed(e)
        }
    }
}
