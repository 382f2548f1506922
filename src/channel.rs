//! [`Channel`]: the socket a dispatcher drives, with asyncore's state flags.
//!
//! Python's `asyncore.dispatcher` is one object that is both a socket wrapper and a
//! set of event handlers. Here the two halves are split: a [`Channel`] owns the socket
//! (or pipe), the `connected` / `accepting` / `connecting` flags and the `addr`, and a
//! [`Dispatcher`](crate::Dispatcher) supplies the handlers. [`Map::add`](crate::Map::add)
//! takes one of each; inside a handler the [`Cx`](crate::Cx) dereferences to the
//! channel, so `cx.send(..)`, `cx.recv(..)` and `cx.connected` read as Python's
//! `self.send(..)`, `self.recv(..)` and `self.connected`.
//!
//! The socket calls keep Python's contracts: [`send`](Channel::send) returns 0 when
//! the socket would block, [`recv`](Channel::recv) returns an empty buffer when the
//! peer closed, and a disconnect makes the loop call `handle_close` once the current
//! handler returns. A channel knows nothing of maps: the loop keeps its own
//! bookkeeping beside it.

use std::fmt;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;

use socket2::{Domain, SockAddr, Socket, Type};

use crate::addr::StoredAddr;
use crate::file::FileWrapper;
use crate::ready::Ready;
use crate::sys::{SEND_FLAGS, in_progress, is_disconnect, is_exhaustion};

/// How the peer left, as the channel's socket calls saw it: see
/// [`Channel::disconnect`].
///
/// Python's asyncore calls `handle_close` for both and cannot tell them apart; here a
/// `handle_close` can: an orderly end of stream (the peer may still read what is sent
/// to it, as after a half-close) or a reset (nothing more can be sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// A read returned end of stream: the peer closed or shut down its side. The
    /// channel stays `connected`; sending may still work.
    Eof,
    /// A send or receive failed with a disconnect error (ECONNRESET, EPIPE, ENOTCONN,
    /// ESHUTDOWN, ECONNABORTED, EBADF): the connection is over and the channel is no
    /// longer `connected`.
    Reset(io::ErrorKind),
}

/// The OS object behind a channel.
#[derive(Debug)]
pub(crate) enum Io {
    Socket(Socket),
    File(FileWrapper),
}

impl Io {
    pub(crate) fn fd(&self) -> RawFd {
        match self {
            Io::Socket(s) => s.as_raw_fd(),
            Io::File(f) => f.fileno(),
        }
    }
}

/// A non-blocking socket (or pipe, or file) with asyncore's state flags.
///
/// Create one empty with [`Channel::new`] and give it a socket with
/// [`create_socket`](Channel::create_socket) (a client or a server), or wrap a socket
/// you already have with [`Channel::from_socket`] (an accepted connection, like
/// Python's `dispatcher(sock)`). Then hand it to [`Map::add`](crate::Map::add) (or
/// [`Cx::add`](crate::Cx::add) inside a handler) with the dispatcher that drives it.
///
/// # Examples
///
/// ```
/// use asyncore::{Channel, Domain, Type};
///
/// let mut server = Channel::new();
/// server.create_socket(Domain::IPV4, Type::STREAM)?;
/// server.set_reuse_addr();
/// server.bind("127.0.0.1:0".parse::<std::net::SocketAddr>()?)?;
/// server.listen(5)?;
/// assert!(server.accepting);
/// println!("{server:?}"); // Channel(listening 127.0.0.1:PORT, fd N)
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Channel {
    io: Option<Io>,
    /// True once a connection is established (or for a channel made from a connected
    /// socket). Python's `dispatcher.connected`.
    pub connected: bool,
    /// True after [`listen`](Channel::listen). Python's `dispatcher.accepting`.
    pub accepting: bool,
    /// True between [`connect`](Channel::connect) and the connect event.
    pub connecting: bool,
    /// See [`addr`](Channel::addr).
    addr: StoredAddr,
    stream: bool,
    /// A regular file: always ready, as Python's `select` loop sees it, and never
    /// registered with the poller (epoll refuses regular files).
    always_ready: bool,
    /// Bumped whenever the channel gets a new OS object, so the loop knows to
    /// register it.
    pub(crate) epoch: u16,
    /// The `epoch` whose OS object is registered with the poller. The two are
    /// compared after each handler call, and no handler replaces a socket 65,536
    /// times in one call, so 16 bits cannot alias.
    pub(crate) registered: u16,
    /// Readiness reported by the poller and not yet consumed.
    pub(crate) ready: Ready,
    /// The loop calls `handle_close` once the current handler returns: a socket call
    /// found the peer gone, or a `close_when_done` marker was reached.
    pub(crate) close_due: bool,
    disconnect: Option<Disconnect>,
    /// `accept` ran out of descriptors: the loop pauses accepting on this channel.
    pub(crate) accept_paused: bool,
    /// In an episode of failed accepts (logged once, when it starts).
    accept_failing: bool,
}

impl Default for Channel {
    fn default() -> Self {
        Channel::new()
    }
}

impl Channel {
    /// An empty channel: no socket yet.
    pub fn new() -> Channel {
        Channel {
            io: None,
            connected: false,
            accepting: false,
            connecting: false,
            addr: StoredAddr::None,
            stream: false,
            always_ready: false,
            epoch: 0,
            registered: 0,
            ready: Ready::EMPTY,
            close_due: false,
            disconnect: None,
            accept_paused: false,
            accept_failing: false,
        }
    }

    /// Wraps a socket you already have, such as one from [`accept`](Channel::accept):
    /// Python's `dispatcher(sock)`. The socket is made non-blocking; if it has a peer,
    /// the channel starts out `connected` with [`addr`](Channel::addr) the peer's address.
    /// For a socket [`accept`](Channel::accept) returned, [`Channel::accepted`] is
    /// the same without the system calls.
    ///
    /// Accepts anything convertible to a [`Socket`]: `std::net::TcpStream`,
    /// `TcpListener`, `UdpSocket`, `std::os::unix::net::UnixStream`, ...
    ///
    /// # Errors
    ///
    /// Setting the socket non-blocking failed.
    pub fn from_socket(sock: impl Into<Socket>) -> io::Result<Channel> {
        let mut c = Channel::new();
        c.set_socket(sock)?;
        Ok(c)
    }

    /// Wraps a connection that [`accept`](Channel::accept) returned, with the peer
    /// address that came with it: what a
    /// [`handle_accepted`](crate::Dispatcher::handle_accepted) does with its
    /// arguments. The same channel as [`from_socket`](Channel::from_socket) gives
    /// (`connected`, [`addr`](Channel::addr) the peer's), without its three system
    /// calls: the socket is known to be a connected stream, and `accept` made it
    /// non-blocking already.
    ///
    /// The socket must be non-blocking (as `accept`'s are): a debug build checks, and
    /// panics otherwise. Where `accept` cannot make it non-blocking in the same
    /// system call (macOS, iOS), this does, as `from_socket` would.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Channel, Cx, Dispatcher, Result, SockAddr, Socket};
    ///
    /// struct Echo;
    /// impl Dispatcher for Echo {}
    ///
    /// struct Server;
    /// impl Dispatcher for Server {
    ///     fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
    ///         cx.add(Channel::accepted(sock, addr)?, Echo)?;
    ///         Ok(())
    ///     }
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// Setting the socket non-blocking failed (only where `accept` does not).
    pub fn accepted(sock: Socket, addr: SockAddr) -> io::Result<Channel> {
        if crate::sys::ACCEPT_SETS_NONBLOCKING {
            debug_assert!(
                sock.nonblocking().unwrap_or(true),
                "Channel::accepted: the socket is blocking (use Channel::from_socket)"
            );
        } else {
            sock.set_nonblocking(true)?;
        }
        let mut c = Channel::new();
        c.connected = true;
        c.addr = StoredAddr::new(addr);
        c.install(sock, true);
        Ok(c)
    }

    /// A channel over a pipe, terminal, file or other descriptor (Unix): Python's
    /// `file_dispatcher`. The descriptor is made non-blocking and the channel is
    /// `connected`; [`recv`](Channel::recv) reads and [`send`](Channel::send) writes.
    ///
    /// A regular file is always ready, as Python's `select` loop sees it: the loop
    /// calls `handle_read` (and `handle_write`, if `writable()`) every pass, and a
    /// read at the end of the file returns nothing, which calls `handle_close`.
    ///
    /// # Errors
    ///
    /// Setting the descriptor non-blocking failed.
    #[doc(alias = "file_dispatcher")]
    pub fn from_file(fd: impl Into<OwnedFd>) -> io::Result<Channel> {
        let file = FileWrapper::new(fd)?;
        let mut c = Channel::new();
        c.always_ready = file.file().metadata().is_ok_and(|m| m.is_file());
        c.io = Some(Io::File(file));
        c.connected = true;
        c.epoch = c.epoch.wrapping_add(1);
        Ok(c)
    }

    /// Creates a non-blocking socket of the given family and type for this channel,
    /// closing any socket it had: Python's `create_socket(family, type)`. Inside a
    /// handler, after [`Cx::close`](crate::Cx::close), this is Python's reconnect
    /// idiom: the dispatcher stays in the map with its new socket.
    ///
    /// # Errors
    ///
    /// The OS refused to create the socket.
    pub fn create_socket(&mut self, domain: Domain, ty: Type) -> io::Result<()> {
        // The old socket goes first, so a reconnect needs no spare descriptor.
        self.io = None;
        #[cfg(any(target_os = "linux", target_os = "android"))]
        let sock = Socket::new(domain, ty.nonblocking().cloexec(), None)?;
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        let sock = {
            let s = Socket::new(domain, ty, None)?;
            s.set_nonblocking(true)?;
            s
        };
        self.connected = false;
        self.accepting = false;
        self.connecting = false;
        self.install(sock, ty == Type::STREAM);
        Ok(())
    }

    /// Gives the channel an existing socket (made non-blocking): Python's
    /// `set_socket(sock)`. A connected socket makes the channel `connected`, a
    /// listening one `accepting`.
    ///
    /// # Errors
    ///
    /// Setting the socket non-blocking failed.
    pub fn set_socket(&mut self, sock: impl Into<Socket>) -> io::Result<()> {
        let sock = sock.into();
        sock.set_nonblocking(true)?;
        let stream = sock.r#type().map(|t| t == Type::STREAM).unwrap_or(false);
        self.accepting = false;
        self.connecting = false;
        match sock.peer_addr() {
            Ok(peer) => {
                self.connected = true;
                self.addr = StoredAddr::new(peer);
            }
            Err(_) => {
                self.connected = false;
                // A socket with a peer is no listener: ask only the others.
                #[cfg(any(target_os = "linux", target_os = "android"))]
                if sock.is_listener().unwrap_or(false) {
                    self.accepting = true;
                    self.addr = sock.local_addr().map_or(StoredAddr::None, StoredAddr::new);
                }
            }
        }
        self.install(sock, stream);
        Ok(())
    }

    fn install(&mut self, sock: Socket, stream: bool) {
        self.io = Some(Io::Socket(sock));
        self.stream = stream;
        self.always_ready = false;
        self.ready = Ready::EMPTY;
        self.close_due = false;
        self.disconnect = None;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The socket, if the channel has one (and it is not a file channel).
    pub fn socket(&self) -> Option<&Socket> {
        match &self.io {
            Some(Io::Socket(s)) => Some(s),
            _ => None,
        }
    }

    /// The file descriptor, if the channel has a socket or file.
    pub fn fileno(&self) -> Option<RawFd> {
        self.io.as_ref().map(Io::fd)
    }

    /// True while the channel has a socket (it was not closed).
    pub fn is_open(&self) -> bool {
        self.io.is_some()
    }

    pub(crate) fn io(&self) -> Option<&Io> {
        self.io.as_ref()
    }

    pub(crate) fn is_always_ready(&self) -> bool {
        self.always_ready
    }

    fn sock(&self) -> io::Result<&Socket> {
        match &self.io {
            Some(Io::Socket(s)) => Ok(s),
            Some(Io::File(_)) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "not a socket: this channel wraps a file",
            )),
            None => Err(not_open()),
        }
    }

    /// Sets `SO_REUSEADDR`, so a server can rebind a recently used port. Errors are
    /// ignored, as in Python.
    pub fn set_reuse_addr(&mut self) {
        if let Ok(s) = self.sock() {
            let _ = s.set_reuse_address(true);
        }
    }

    /// Binds the socket to `addr` (port 0 picks a free port; see
    /// [`local_addr`](Channel::local_addr) for the one chosen).
    ///
    /// # Errors
    ///
    /// No socket, or the OS refused the address.
    pub fn bind(&mut self, addr: impl Into<SockAddr>) -> io::Result<()> {
        let addr = addr.into();
        self.sock()?.bind(&addr)?;
        self.addr = StoredAddr::new(addr);
        Ok(())
    }

    /// Listens for connections with the given backlog and marks the channel
    /// `accepting`. A listening channel never gets write events.
    ///
    /// # Errors
    ///
    /// No socket, or the OS refused.
    pub fn listen(&mut self, backlog: i32) -> io::Result<()> {
        self.sock()?.listen(backlog)?;
        self.accepting = true;
        Ok(())
    }

    /// Starts a non-blocking connect. The channel is `connecting` until the loop sees
    /// the socket become ready; then it checks `SO_ERROR` and calls `handle_connect`
    /// (or `handle_error` with the failure, e.g. connection refused). A connect that
    /// completes at once (common on the same host) is reported the same way, by the
    /// loop, on its next pass.
    ///
    /// # Errors
    ///
    /// No socket, or the connect failed at once (for example a Unix socket path that
    /// does not exist).
    pub fn connect(&mut self, addr: impl Into<SockAddr>) -> io::Result<()> {
        let addr = addr.into();
        self.connected = false;
        self.connecting = true;
        match self.sock()?.connect(&addr) {
            Ok(()) => {}
            Err(e) if in_progress(&e) => {}
            Err(e) => {
                self.connecting = false;
                return Err(e);
            }
        }
        self.addr = StoredAddr::new(addr);
        Ok(())
    }

    /// Accepts one connection: `Ok(None)` when none is waiting (would block) or the
    /// connection was aborted before it could be accepted, as in Python. The socket
    /// returned is already non-blocking and close-on-exec (on Linux, Android and the
    /// BSDs, in the same system call); hand it to [`Channel::from_socket`].
    ///
    /// Out of file descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM) is not an
    /// error either: the listener stays open, the failure is logged once per episode,
    /// and the loop stops offering this channel accept events for a short pause
    /// (100 ms, or until a channel of its map closes and frees a descriptor), then
    /// resumes by itself. Python's `accept` raises, and its default `handle_error`
    /// closes the listener; a server then stops serving for good.
    ///
    /// # Errors
    ///
    /// Any other failure.
    pub fn accept(&mut self) -> io::Result<Option<(Socket, SockAddr)>> {
        match crate::sys::accept(self.sock()?) {
            Ok(pair) => {
                if std::mem::take(&mut self.accept_failing) {
                    log::warn!("{self:?}: accepting connections again");
                }
                Ok(Some(pair))
            }
            Err(e) if is_exhaustion(&e) => {
                self.ready.remove(Ready::READ);
                self.accept_paused = true;
                if !std::mem::replace(&mut self.accept_failing, true) {
                    log::error!(
                        "{self:?}: accept failed ({e}); pausing accepts until a descriptor \
                         is freed (logged once until accepting works again)"
                    );
                }
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.remove(Ready::READ);
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sends as much of `data` as the socket takes now and returns how much that was:
    /// 0 when the socket would block. If the peer is gone (reset, broken pipe, not
    /// connected), returns 0 and the loop calls `handle_close` once the current handler
    /// returns, as Python's `send` calls it.
    ///
    /// # Errors
    ///
    /// Any other failure.
    #[inline]
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        let res = self.write_raw(data);
        self.python_send(res)
    }

    /// Like [`send`](Channel::send) for several buffers at once (one `sendmsg`).
    ///
    /// # Errors
    ///
    /// As for [`send`](Channel::send).
    pub fn send_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        let res = match &self.io {
            Some(Io::Socket(s)) => s.send_vectored_with_flags(bufs, SEND_FLAGS),
            Some(Io::File(f)) => f.file().write_vectored(bufs),
            None => Err(not_open()),
        };
        let res = self.sent(res, want);
        self.python_send(res)
    }

    /// Sends up to `len` bytes of `file`, starting at byte `offset`, as far as the
    /// socket takes them now, and returns how many that was: [`send`](Channel::send)
    /// for the contents of a file. The file's own position is neither used nor
    /// changed, so one open file can serve several channels at once.
    ///
    /// On a stream socket (TCP or Unix) on Linux and Android this is `sendfile(2)`:
    /// the kernel moves the bytes from the page cache to the socket without copying
    /// them through this process. Elsewhere (pipes and other file channels, datagram
    /// sockets, other platforms, files `sendfile` refuses) it reads 64 KiB at a time
    /// with a positioned read into the thread's shared read buffer and sends that,
    /// until the socket takes less than it was offered.
    ///
    /// The results are [`send`](Channel::send)'s: 0 when the socket would block; a
    /// disconnect returns 0 (or what was sent before it) and the loop calls
    /// `handle_close` once the current handler returns. A count short of `len` means
    /// the socket is full or the file ended; the next call tells which. `len` 0 sends
    /// nothing and makes no system call.
    ///
    /// [`FileProducer`](crate::chat::FileProducer) keeps the offset for you, and
    /// queues a file in a chat channel's output.
    ///
    /// # Errors
    ///
    /// [`UnexpectedEof`](io::ErrorKind::UnexpectedEof) when the file has no byte at
    /// `offset` (it is shorter, or shrank since its length was taken): nothing more
    /// will come from there. A failed read of the file, or another socket failure.
    ///
    /// # Examples
    ///
    /// A plain dispatcher serving a file, keeping its own offset:
    ///
    /// ```
    /// use std::fs::File;
    /// use asyncore::{Cx, Dispatcher, Result};
    ///
    /// struct Serve { file: File, sent: u64, len: u64 }
    /// impl Dispatcher for Serve {
    ///     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { self.sent < self.len }
    ///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
    ///         let want = usize::try_from(self.len - self.sent).unwrap_or(usize::MAX);
    ///         self.sent += cx.send_file(&self.file, self.sent, want)? as u64;
    ///         if self.sent == self.len {
    ///             cx.close();
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = |file: File| Serve { file, sent: 0, len: 0 };
    /// ```
    ///
    /// # Notes
    ///
    /// Under [`DispatcherWithSend`](crate::DispatcherWithSend), bytes that
    /// `cx.send` queued are not sent before the file: flush them first (send the
    /// file only while the buffer is empty).
    ///
    /// # Portability
    ///
    /// `sendfile` is used on Linux and Android only. macOS, iOS and FreeBSD have one,
    /// but on a non-blocking socket it reports "would block" even when it sent part
    /// of the file, and socket2 then loses the count; there the bytes are copied.
    pub fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        if len == 0 {
            return Ok(0);
        }
        if let Some(res) = self.sendfile(file, offset, len) {
            return res;
        }
        // The copying way: positioned reads into the thread's read buffer, each sent,
        // until the socket is full. A short send is "full", as for `send`: what was
        // read is all there is to offer.
        let mut buf = crate::read_buf::ReadBuf::take(len.min(COPY_CHUNK));
        let mut total = 0;
        while total < len {
            let want = (len - total).min(COPY_CHUNK);
            let got = match read_at(file, &mut buf.0[..want], offset + total as u64) {
                Ok(0) if total == 0 => return Err(file_ended()),
                Ok(0) => break, // the file ended: the next call says so
                Ok(got) => got,
                Err(e) if total == 0 => return Err(e),
                Err(_) => break, // it comes again with the next call
            };
            let res = self.write_raw(&buf.0[..got]);
            match self.python_send(res) {
                Ok(n) => {
                    total += n;
                    if n < got {
                        break; // full, or the peer is gone
                    }
                }
                Err(e) if total == 0 => return Err(e),
                Err(_) => break,
            }
            if got < want {
                break; // a short read of a file: its end
            }
        }
        Ok(total)
    }

    /// `sendfile` until `len` bytes are sent, the socket is full, the file ends or a
    /// call fails; `None` if it cannot be used here (then the caller copies).
    ///
    /// A short count from `sendfile` means the socket is full *or* the file ended
    /// (it shrank), so unlike `send` it is not taken as "the socket is full": the
    /// call is made again for the rest, and that one says which (would block, 0 for
    /// the end of the file, or more bytes). Clearing the write readiness on a short
    /// count could leave a writable socket waiting for an edge that never comes.
    fn sendfile(&mut self, file: &File, offset: u64, len: usize) -> Option<io::Result<usize>> {
        let sock = match &self.io {
            Some(Io::Socket(s)) if self.stream => s,
            _ => return None,
        };
        let len = len.min(SENDFILE_MAX);
        let mut total = 0;
        let stop = loop {
            match crate::sys::sendfile(sock, file, offset + total as u64, len - total)? {
                Ok(0) if total == 0 => return Some(Err(file_ended())),
                Ok(0) => return Some(Ok(total)), // the file ended: the next call says so
                Ok(n) => {
                    total += n;
                    if total == len {
                        return Some(Ok(total));
                    }
                }
                Err(e) if total == 0 && crate::sys::sendfile_unsupported(&e) => return None,
                Err(e) => break e,
            }
        };
        // The same bookkeeping and contract as `send`: would-block clears the write
        // readiness and is 0, a disconnect is 0 and `handle_close` due.
        let res = self.sent(Err(stop), len);
        let res = self.python_send(res);
        Some(if total > 0 { Ok(total) } else { res })
    }

    /// One write, with the loop's readiness bookkeeping; errors as they come (the
    /// tcpsocket helpers need to see a reset as a reset).
    #[inline]
    pub(crate) fn write_raw(&mut self, data: &[u8]) -> io::Result<usize> {
        let res = match &self.io {
            Some(Io::Socket(s)) => s.send_with_flags(data, SEND_FLAGS),
            Some(Io::File(f)) => f.send(data),
            None => Err(not_open()),
        };
        self.sent(res, data.len())
    }

    /// Readiness after a write: a short write on a stream means its send buffer is
    /// full, and the poller reports the next edge when there is room again.
    #[inline]
    fn sent(&mut self, res: io::Result<usize>, want: usize) -> io::Result<usize> {
        match &res {
            Ok(n) if *n < want && self.stream => self.ready.remove(Ready::WRITE),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.ready.remove(Ready::WRITE),
            _ => {}
        }
        res
    }

    /// Python's `send` contract over a raw result: would-block is 0, a disconnect is
    /// 0 and a `handle_close` due.
    #[inline]
    fn python_send(&mut self, res: io::Result<usize>) -> io::Result<usize> {
        match res {
            Ok(n) => Ok(n),
            Err(e) => self.python_send_error(e),
        }
    }

    /// The error side of [`python_send`](Channel::python_send), out of the way of
    /// the common case.
    #[cold]
    fn python_send_error(&mut self, e: io::Error) -> io::Result<usize> {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(0),
            _ if is_disconnect(&e) => {
                self.peer_gone(&e);
                Ok(0)
            }
            _ => Err(e),
        }
    }

    /// A disconnect errno from `send` or `recv`: the connection is over (Python's
    /// `handle_close` would close it), so nothing more is sent, and `handle_close`
    /// is due.
    fn peer_gone(&mut self, e: &io::Error) {
        self.connected = false;
        self.close_due = true;
        self.disconnect = Some(Disconnect::Reset(e.kind()));
    }

    /// How the peer left, once a socket call has seen it: [`Disconnect::Eof`] after a
    /// read returned end of stream, [`Disconnect::Reset`] after a reset or broken
    /// connection. `None` while the connection is up. Ask it in `handle_close` to tell
    /// a half-close (keep sending what is left, then close) from a reset (close now).
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Cx, Disconnect, Dispatcher, Result};
    ///
    /// struct Echo { unsent: Vec<u8> }
    /// impl Dispatcher for Echo {
    ///     fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
    ///         match cx.disconnect() {
    ///             // Half-closed: finish sending, handle_write closes when done.
    ///             Some(Disconnect::Eof) if !self.unsent.is_empty() => {}
    ///             _ => cx.close(),
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Echo { unsent: Vec::new() };
    /// ```
    pub fn disconnect(&self) -> Option<Disconnect> {
        self.disconnect
    }

    /// Reads up to `n` bytes into a new buffer: Python's `recv(n)`. An empty result
    /// means the peer closed the connection (and `handle_close` is due, as in Python).
    ///
    /// The convenient, slower form: it allocates (and zeroes) `n` bytes per call.
    /// [`recv_buf`](Channel::recv_buf) lends the thread's read buffer instead, and
    /// [`recv_into`](Channel::recv_into) reads into a buffer you keep.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing is waiting: not a close, and a handler may pass it
    /// on with `?` (the loop ignores it). Other failures as they come.
    pub fn recv(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let got = self.recv_into(&mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Reads what is waiting, up to 256 KiB, into the thread's shared read buffer and
    /// lends it: the fast way to read in a handler. No allocation and no zeroing per
    /// call (the buffer is reused by every channel of the thread), and one system call
    /// takes up to 256 KiB, so a bulk stream costs few reads, and an echo of it few,
    /// large writes. Empty means the peer closed (and `handle_close` is due), as for
    /// [`recv`](Channel::recv).
    ///
    /// The bytes are valid while the returned [`RecvBuf`](crate::RecvBuf) lives; send
    /// from it directly and copy only what you must keep:
    ///
    /// ```
    /// use asyncore::{Cx, Dispatcher, Result};
    ///
    /// struct Echo { unsent: Vec<u8> }
    /// impl Dispatcher for Echo {
    ///     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { !self.unsent.is_empty() }
    ///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
    ///         let data = cx.recv_buf()?;
    ///         let sent = if self.unsent.is_empty() { cx.send(&data)? } else { 0 };
    ///         self.unsent.extend_from_slice(&data[sent..]); // only what the socket refused
    ///         Ok(())
    ///     }
    ///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
    ///         let sent = cx.send(&self.unsent)?;
    ///         self.unsent.drain(..sent);
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = Echo { unsent: Vec::new() };
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`recv`](Channel::recv): `WouldBlock` when nothing is waiting.
    pub fn recv_buf(&mut self) -> io::Result<crate::RecvBuf> {
        // 256 KiB, not 64: on loopback (MSS 65,483) an echo sending each 64 KiB
        // read at once put a full segment and a 53-byte one on the wire per write,
        // and the bench's bulk echo ran at 0.93x raw mio; with 256 KiB, 1.10x
        // (medians of five full runs).
        const SIZE: usize = 256 * 1024;
        let mut buf = crate::read_buf::ReadBuf::take(SIZE);
        let n = self.recv_into(&mut buf.0[..SIZE])?;
        Ok(crate::RecvBuf::new(buf, n))
    }

    /// Reads into `buf` and returns how many bytes came; 0 means the peer closed (and
    /// `handle_close` is due). The allocation-free form of [`recv`](Channel::recv).
    ///
    /// # Errors
    ///
    /// As for [`recv`](Channel::recv).
    #[inline(always)]
    pub fn recv_into(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.read_raw(buf) {
            Ok(0) if !buf.is_empty() => {
                self.close_due = true;
                self.disconnect.get_or_insert(Disconnect::Eof);
                Ok(0)
            }
            Err(e) if is_disconnect(&e) => {
                self.ready.remove(Ready::READ);
                self.peer_gone(&e);
                Ok(0)
            }
            other => other,
        }
    }

    /// One read, with the loop's readiness bookkeeping; errors as they come (the
    /// tcpsocket helpers need to see a reset as a reset).
    #[inline]
    pub(crate) fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let res = match &self.io {
            Some(Io::Socket(s)) => {
                let mut s: &Socket = s;
                s.read(buf)
            }
            Some(Io::File(f)) => f.file().read(buf),
            None => Err(not_open()),
        };
        match &res {
            // End of stream: nothing more will come.
            Ok(0) if !buf.is_empty() => self.ready.remove(Ready::READ | Ready::URGENT),
            // A short read on a stream drained the receive queue; new data brings a
            // new edge. Not for datagrams or terminals (one message per read), nor
            // once the peer has closed (the end of stream must still be read, and
            // brings no edge), nor after priority data (a read stops short at the
            // urgent mark; see `Ready::URGENT`).
            Ok(n)
                if *n < buf.len()
                    && self.stream
                    && !self
                        .ready
                        .intersects(Ready::READ_CLOSED | Ready::PRIORITY | Ready::URGENT) =>
            {
                self.ready.remove(Ready::READ)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.ready.remove(Ready::READ | Ready::URGENT)
            }
            _ => {}
        }
        res
    }

    /// True if ordinary data is waiting (a one-byte `MSG_PEEK`). The loop asks after
    /// priority data, whose event does not say whether ordinary data came too.
    pub(crate) fn has_data(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit(); 1];
        matches!(self.socket().map(|s| s.peek(&mut byte)), Some(Ok(n)) if n > 0)
    }

    /// Shuts down one or both directions of the connection.
    ///
    /// # Errors
    ///
    /// No socket, or the OS refused.
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        self.sock()?.shutdown(how)
    }

    /// The address given to [`bind`](Channel::bind) or [`connect`](Channel::connect),
    /// or the peer of a wrapped or accepted socket: Python's `dispatcher.addr`.
    /// `None` before any of these.
    ///
    /// ```
    /// use asyncore::Channel;
    /// use std::net::SocketAddr;
    ///
    /// let mut chan = Channel::new();
    /// assert!(chan.addr().is_none());
    /// chan.create_socket(asyncore::Domain::IPV4, asyncore::Type::STREAM)?;
    /// let here: SocketAddr = "127.0.0.1:0".parse()?;
    /// chan.bind(here)?;
    /// assert_eq!(chan.addr().and_then(|a| a.as_socket()), Some(here));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn addr(&self) -> Option<SockAddr> {
        self.addr.get()
    }

    pub(crate) fn set_addr(&mut self, addr: SockAddr) {
        self.addr = StoredAddr::new(addr);
    }

    /// The socket's own address (the port the OS picked after binding port 0).
    ///
    /// # Errors
    ///
    /// No socket, or the OS refused.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.sock()?.local_addr()
    }

    /// The pending socket error (`SO_ERROR`), cleared by reading it.
    ///
    /// # Errors
    ///
    /// No socket, or the OS refused.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock()?.take_error()
    }

    /// Closes the socket. Safe to call more than once. Inside a handler, call
    /// [`Cx::close`](crate::Cx::close) instead (the context dereferences to the
    /// channel, and its `close` takes precedence): it also removes the channel from
    /// its map. A channel closed this way is removed when its handler returns.
    pub fn close(&mut self) {
        self.connected = false;
        self.accepting = false;
        self.connecting = false;
        self.io = None;
        self.ready = Ready::EMPTY;
        self.close_due = false;
    }
}
impl fmt::Debug for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.io.is_none() {
            "closed"
        } else if self.accepting {
            "listening"
        } else if self.connected {
            "connected"
        } else if self.connecting {
            "connecting"
        } else {
            "open"
        };
        write!(f, "Channel({state}")?;
        let shown = match &self.io {
            Some(Io::Socket(s)) if self.accepting => s.local_addr().ok(),
            _ => None,
        };
        if let Some(a) = shown.or_else(|| self.addr()) {
            write!(f, " {}", DisplayAddr(&a))?;
        }
        if let Some(fd) = self.fileno() {
            write!(f, ", fd {fd}")?;
        }
        f.write_str(")")
    }
}

/// Shows a socket address readably: `127.0.0.1:80`, `[::1]:80`, a path, or `unnamed`.
pub(crate) struct DisplayAddr<'a>(pub(crate) &'a SockAddr);

impl fmt::Display for DisplayAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(a) = self.0.as_socket() {
            write!(f, "{a}")
        } else if let Some(p) = self.0.as_pathname() {
            write!(f, "{}", p.display())
        } else {
            f.write_str("unnamed")
        }
    }
}

/// Bytes a copying [`send_file`](Channel::send_file) reads per call: a short send
/// wastes the rest of the read, so no more than a socket usually takes at once.
const COPY_CHUNK: usize = 64 * 1024;

/// The most Linux moves in one `sendfile` (`MAX_RW_COUNT`).
const SENDFILE_MAX: usize = 0x7fff_f000;

/// One positioned read, retried if interrupted.
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            res => return res,
        }
    }
}

/// `send_file`'s error for a range the file does not reach.
fn file_ended() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "send_file: the file has no bytes at this offset",
    )
}

fn not_open() -> io::Error {
    io::Error::new(io::ErrorKind::NotConnected, "channel has no socket")
}
