//! Socket calls for the helpers: like [`Channel::recv_into`] and [`Channel::send`], but
//! a reset or a broken pipe comes back as the error it is instead of "closed".
//!
//! asycamore's readers and writers end on "any error other than EAGAIN, EWOULDBLOCK,
//! ENOBUFS, EINTR" and let the caller see which one. The channel's own calls turn a
//! disconnect into an empty read and a scheduled `handle_close`, as Python's asyncore
//! does, which hides the error. So these use the channel's raw calls, which keep the
//! loop's readiness bookkeeping (see the `event_loop` module) but leave errors as
//! they are.

use std::io;

use crate::Channel;
use crate::ready::Ready;

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

/// Reads once into `buf` (retrying EINTR).
pub(crate) fn recv(chan: &mut Channel, buf: &mut [u8]) -> Outcome {
    let res = loop {
        match chan.read_raw(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match res {
        Ok(n) => Outcome::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::Blocked,
        // Out of buffer space: transient, and no edge will announce its end, so the
        // readiness bit stays and the loop calls again.
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Outcome::Blocked,
        Err(e) => {
            chan.ready.remove(Ready::READ | Ready::READ_CLOSED);
            Outcome::Failed(e)
        }
    }
}

/// Sends once from `data` (retrying EINTR; never raising SIGPIPE where the OS allows).
pub(crate) fn send(chan: &mut Channel, data: &[u8]) -> Outcome {
    let res = loop {
        match chan.write_raw(data) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other,
        }
    };
    match res {
        // Nothing taken from a non-empty buffer: as good as would-block.
        Ok(0) if !data.is_empty() => {
            chan.ready.remove(Ready::WRITE);
            Outcome::Blocked
        }
        Ok(n) => Outcome::Done(n),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Outcome::Blocked,
        Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => Outcome::Blocked,
        Err(e) => {
            chan.ready.remove(Ready::WRITE);
            Outcome::Failed(e)
        }
    }
}
