//! What the crate takes from the platform: errno values and socket flags, by name
//! from `libc`, and the list of platforms it supports.

#[cfg(not(unix))]
compile_error!(
    "asyncore supports Unix only (Linux, Android, macOS, iOS, the BSDs): it drives \
     file descriptors through mio's Unix poller"
);

use std::io;

/// `send` flags: on Linux and Android `MSG_NOSIGNAL`, so a dead peer is `EPIPE`,
/// never `SIGPIPE`. Elsewhere the flag does not exist (Rust's runtime ignores
/// SIGPIPE for the process).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) const SEND_FLAGS: libc::c_int = libc::MSG_NOSIGNAL;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) const SEND_FLAGS: libc::c_int = 0;

/// Accepts a connection, non-blocking and close-on-exec from the start where the
/// platform has `accept4` (one system call instead of three).
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
mod accepting {
    /// [`accept`] makes the socket non-blocking itself.
    pub(crate) const ACCEPT_SETS_NONBLOCKING: bool = true;

    pub(crate) fn accept(
        sock: &socket2::Socket,
    ) -> std::io::Result<(socket2::Socket, socket2::SockAddr)> {
        sock.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
    }
}

/// Accepts a connection (close-on-exec; `Channel::from_socket` and
/// `Channel::accepted` make it non-blocking).
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
)))]
mod accepting {
    /// [`accept`] leaves the socket blocking: the caller makes it non-blocking.
    pub(crate) const ACCEPT_SETS_NONBLOCKING: bool = false;

    pub(crate) fn accept(
        sock: &socket2::Socket,
    ) -> std::io::Result<(socket2::Socket, socket2::SockAddr)> {
        sock.accept()
    }
}

pub(crate) use accepting::{ACCEPT_SETS_NONBLOCKING, accept};

/// One `sendfile(2)` of up to `len` (> 0) bytes of `file` from `offset` to a
/// stream socket, where the crate uses it: Linux and Android. `None` where it does
/// not (other platforms, or an offset `off_t` cannot hold): the caller copies instead.
///
/// Not on macOS, iOS or FreeBSD although socket2 has it there: their `sendfile`
/// reports EAGAIN on a non-blocking socket even when part of the file was sent, and
/// socket2 then returns the error and loses the count, so the caller could not know
/// where to resume.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn sendfile(
    sock: &socket2::Socket,
    file: &std::fs::File,
    offset: u64,
    len: usize,
) -> Option<io::Result<usize>> {
    let len = std::num::NonZeroUsize::new(len)?;
    let end = offset.checked_add(len.get() as u64)?;
    // socket2 converts the offset with `as off_t`: past its range it would wrap.
    if end > libc::off_t::MAX as u64 {
        return None;
    }
    let offset = usize::try_from(offset).ok()?;
    Some(sock.sendfile(file, offset, Some(len)))
}

/// No `sendfile` here (see the Linux version for why): the caller copies.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn sendfile(
    _sock: &socket2::Socket,
    _file: &std::fs::File,
    _offset: u64,
    _len: usize,
) -> Option<io::Result<usize>> {
    None
}

/// `sendfile` cannot serve this file or socket (EINVAL: the file has no page cache
/// to splice from, as some special and FUSE files; ENOSYS, EOPNOTSUPP): copy instead.
pub(crate) fn sendfile_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    )
}

/// True for a connect that was started and goes on in the background.
pub(crate) fn in_progress(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || matches!(e.raw_os_error(), Some(libc::EINPROGRESS | libc::EALREADY))
}

/// Out of descriptors or buffer memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): an accept
/// that fails so is retried after a pause, not fatal to the listener.
pub(crate) fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// The errors Python's asyncore treats as "the peer is gone" (`_DISCONNECTED`):
/// ECONNRESET, ENOTCONN, ESHUTDOWN, ECONNABORTED, EPIPE, EBADF.
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(
            libc::ECONNRESET
                | libc::ENOTCONN
                | libc::ESHUTDOWN
                | libc::ECONNABORTED
                | libc::EPIPE
                | libc::EBADF
        )
    ) || matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::NotConnected
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}
