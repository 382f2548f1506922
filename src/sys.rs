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

/// True where [`accept`] makes the socket non-blocking itself.
pub(crate) const ACCEPT_SETS_NONBLOCKING: bool = cfg!(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
));

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
pub(crate) fn accept(sock: &socket2::Socket) -> io::Result<(socket2::Socket, socket2::SockAddr)> {
    sock.accept4(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC)
}

/// Accepts a connection (close-on-exec; `Channel::from_socket` makes it
/// non-blocking).
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
)))]
pub(crate) fn accept(sock: &socket2::Socket) -> io::Result<(socket2::Socket, socket2::SockAddr)> {
    sock.accept()
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
