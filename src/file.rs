//! Pipes and other file descriptors on the loop (Unix): Python's `file_wrapper` and
//! `file_dispatcher`.
//!
//! [`Channel::from_file`](crate::Channel::from_file) is `file_dispatcher`: it wraps a
//! descriptor in a [`FileWrapper`], makes it non-blocking and marks the channel
//! connected. Its `recv` reads and its `send` writes, so a dispatcher written for a
//! socket works on a pipe unchanged.
//!
//! A regular file works too: it is always ready, as Python's `select` loop sees it,
//! so the loop calls `handle_read` every pass until a read at the end of the file
//! returns nothing, which calls `handle_close`.
//!
//! # Examples
//!
//! Python's `file_dispatcher` reading a file to its end:
//!
//! ```
//! use std::cell::RefCell;
//! use std::rc::Rc;
//! use std::time::Duration;
//! use asyncore::{Channel, Cx, Dispatcher, Map, Result};
//!
//! struct Cat {
//!     got: Rc<RefCell<Vec<u8>>>,
//! }
//!
//! impl Dispatcher for Cat {
//!     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { false }
//!
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let data = cx.recv(4)?; // small reads: several passes
//!         self.got.borrow_mut().extend_from_slice(&data);
//!         Ok(())
//!     }
//!
//!     fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         cx.close(); // end of file
//!         Ok(())
//!     }
//! }
//!
//! let path = std::env::temp_dir().join(format!("asyncore-file-doc-{}", std::process::id()));
//! std::fs::write(&path, b"hello, file\n")?;
//! let file = std::fs::File::open(&path)?;
//! std::fs::remove_file(&path)?; // the open descriptor keeps the data
//!
//! let map = Map::new()?;
//! let got = Rc::new(RefCell::new(Vec::new()));
//! map.add(Channel::from_file(file)?, Cat { got: got.clone() })?;
//! asyncore::loop_(Duration::from_secs(5), false, Some(&map), None)?;
//! assert_eq!(*got.borrow(), b"hello, file\n");
//! assert!(map.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
