//! Pipes and other file descriptors on the loop (Unix): Python's `file_wrapper` and
//! `file_dispatcher`.
//!
//! [`Channel::from_file`](crate::Channel::from_file) is `file_dispatcher`: it wraps a
//! descriptor in a [`FileWrapper`], makes it non-blocking and marks the channel
//! connected. Its `recv` reads and its `send` writes, so a dispatcher written for a
//! socket works on a pipe unchanged.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// A file descriptor with socket-like `recv` / `send`: Python's `file_wrapper`.
///
/// # Examples
///
/// ```
/// use std::io::Write;
/// use asyncore::FileWrapper;
///
/// let (reader, mut writer) = std::io::pipe()?;
/// let w = FileWrapper::new(reader)?;
/// writer.write_all(b"hi")?;
/// assert_eq!(w.recv(16)?, b"hi");
/// // Nothing more waiting: a non-blocking read would block.
/// assert_eq!(w.recv(16).unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FileWrapper {
    file: File,
}

impl FileWrapper {
    /// Takes ownership of `fd` and makes it non-blocking.
    ///
    /// # Errors
    ///
    /// The descriptor cannot be made non-blocking.
    pub fn new(fd: impl Into<OwnedFd>) -> io::Result<FileWrapper> {
        let fd: OwnedFd = fd.into();
        // O_NONBLOCK (fcntl) works on any descriptor, not only sockets.
        socket2::SockRef::from(&fd).set_nonblocking(true)?;
        Ok(FileWrapper {
            file: File::from(fd),
        })
    }

    /// Reads up to `n` bytes; empty at end of file.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when nothing is waiting; other read failures.
    pub fn recv(&self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0; n];
        let got = (&self.file).read(&mut buf)?;
        buf.truncate(got);
        Ok(buf)
    }

    /// Writes what the descriptor takes now; returns how much that was.
    ///
    /// # Errors
    ///
    /// `WouldBlock` when it takes nothing; other write failures.
    pub fn send(&self, data: &[u8]) -> io::Result<usize> {
        (&self.file).write(data)
    }

    /// The file descriptor.
    pub fn fileno(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Closes the descriptor.
    pub fn close(self) {
        drop(self)
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }
}
