//! [`FileProducer`]: a file (or a range of one) sent with `sendfile(2)` where it can be.
//!
//! Serving a file is what FTP's `RETR` and HTTP's `GET` do most. Through a
//! [`ReadProducer`](crate::ReadProducer) each 64 KiB costs a `read` into a fresh
//! buffer and a `send` that copies it again into the socket. A `FileProducer` is
//! recognised by the chat output FIFO ([`Chat::push_with_producer`](crate::Chat::push_with_producer)),
//! which hands it to [`Channel::send_file`]: on a stream socket on Linux and Android
//! one `sendfile` moves as much as the socket takes, straight from the page cache.
//! Elsewhere it falls back to a positioned read into the thread's shared read
//! buffer and a send. A plain dispatcher drives it with
//! [`send_to`](FileProducer::send_to); anything else that speaks the [`Producer`]
//! protocol gets its bytes from [`more`](Producer::more), 64 KiB at a time.
//!
//! The file's position is never used or moved (every read and `sendfile` names its
//! offset), and its length is taken once, when the producer is made. A file that
//! shrinks while it is sent ends the producer where its data ends (logged at warning
//! level: the peer gets fewer bytes than a length sent ahead may have promised); one
//! that grows is sent up to the length taken.

use std::fs::File;
use std::io::{self, Seek};
use std::os::unix::fs::FileExt;

use crate::channel::Channel;
use crate::chat::Producer;

/// A file, or a range of one, to send: zero-copy with `sendfile(2)` on Linux and
/// Android, by reading and sending elsewhere.
///
/// Push it with [`Chat::push_with_producer`](crate::Chat::push_with_producer): the
/// chat channel sends it with [`Channel::send_file`], after what was pushed before it
/// and before what is pushed after it, and a
/// [`close_when_done`](crate::Chat::close_when_done) after it closes the channel once
/// the whole file is out. From a plain [`Dispatcher`](crate::Dispatcher), call
/// [`send_to`](FileProducer::send_to) in `handle_write` while it is not
/// [done](FileProducer::is_done). As a [`Producer`] anywhere else, `more()` returns
/// the next 64 KiB, read with a positioned read.
///
/// # Examples
///
/// Python's `push_with_producer(file_producer(f))`, as an FTP server's `RETR` does:
///
/// ```no_run
/// use asyncore::{Chat, chat::FileProducer};
///
/// fn retr(chat: &mut Chat<'_, '_>, path: &str) -> std::io::Result<()> {
///     let file = FileProducer::new(std::fs::File::open(path)?)?;
///     chat.push(format!("150 {} bytes\r\n", file.remaining()));
///     chat.push_with_producer(file);
///     chat.close_when_done();
///     Ok(())
/// }
/// ```
///
/// # Portability
///
/// `sendfile` is used on Linux and Android for stream sockets (TCP and Unix). On
/// macOS, iOS and FreeBSD the bytes are copied: their `sendfile` reports "would
/// block" on a non-blocking socket even when part of the file was sent, and the count
/// of what was sent is then lost. See [`Channel::send_file`].
#[derive(Debug)]
pub struct FileProducer {
    file: File,
    /// The next byte to send.
    offset: u64,
    /// Bytes left to send.
    remaining: u64,
}

impl FileProducer {
    /// The bytes [`more`](Producer::more) reads per chunk: 64 KiB, asynchat's output
    /// buffer size.
    pub const CHUNK_SIZE: usize = 64 * 1024;

    /// Sends `file` from its current position to its end (its length now).
    ///
    /// # Errors
    ///
    /// The file's position or length could not be read.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::{Seek, SeekFrom, Write};
    /// use asyncore::chat::FileProducer;
    ///
    /// # let path = std::env::temp_dir().join(format!("asyncore-fp-new-{}", std::process::id()));
    /// let mut file = std::fs::File::options().read(true).write(true).create(true).truncate(true).open(&path)?;
    /// file.write_all(b"header:body")?;
    /// file.seek(SeekFrom::Start(7))?;
    /// let producer = FileProducer::new(file)?;
    /// assert_eq!((producer.offset(), producer.remaining()), (7, 4));
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn new(file: File) -> io::Result<FileProducer> {
        let offset = (&file).stream_position()?;
        let len = file.metadata()?.len();
        Ok(FileProducer::with_range(
            file,
            offset,
            len.saturating_sub(offset),
        ))
    }

    /// Sends `len` bytes of `file` starting at byte `offset` (an FTP `REST` then
    /// `RETR`, an HTTP range). No system call: a range past the end of the file
    /// ends where the file does.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::chat::{FileProducer, Producer};
    ///
    /// # let path = std::env::temp_dir().join(format!("asyncore-fp-range-{}", std::process::id()));
    /// std::fs::write(&path, b"0123456789")?;
    /// let mut producer = FileProducer::with_range(std::fs::File::open(&path)?, 2, 5);
    /// assert_eq!(producer.more()?, b"23456");
    /// assert!(producer.is_done());
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_range(file: File, offset: u64, len: u64) -> FileProducer {
        FileProducer {
            file,
            offset,
            remaining: len,
        }
    }

    /// Bytes not sent yet (as far as the file's length, taken when the producer was
    /// made, goes).
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The offset in the file of the next byte to send.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// True once everything has been sent, or the file ended before the range did.
    pub fn is_done(&self) -> bool {
        self.remaining == 0
    }

    /// The file.
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// Gives the file back (its position is where it was).
    pub fn into_inner(self) -> File {
        self.file
    }

    /// Sends as much of the rest as the channel's socket takes now (see
    /// [`Channel::send_file`]) and moves on by what was sent: the way to serve a file
    /// from a plain dispatcher. Returns the bytes sent, 0 when the socket would block,
    /// the peer is gone (the loop then calls `handle_close`), or the producer is done.
    ///
    /// # Errors
    ///
    /// A failed read of the file, or a socket failure other than would-block or a
    /// disconnect. A file that ended early is not an error: the producer is done.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Cx, Dispatcher, Result, chat::FileProducer};
    ///
    /// struct Download { file: FileProducer }
    /// impl Dispatcher for Download {
    ///     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { !self.file.is_done() }
    ///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
    ///         self.file.send_to(cx)?;
    ///         if self.file.is_done() {
    ///             cx.close();
    ///         }
    ///         Ok(())
    ///     }
    /// }
    /// # let _ = |file: FileProducer| Download { file };
    /// ```
    pub fn send_to(&mut self, chan: &mut Channel) -> io::Result<usize> {
        self.send_at_most(chan, usize::MAX)
    }

    /// [`send_to`](FileProducer::send_to), offering the socket at most `max` bytes.
    pub(crate) fn send_at_most(&mut self, chan: &mut Channel, max: usize) -> io::Result<usize> {
        let len = self.next_len(max);
        if len == 0 {
            return Ok(0);
        }
        match chan.send_file(&self.file, self.offset, len) {
            Ok(n) => {
                self.advance(n);
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                self.file_ended();
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }

    /// What the next send offers: the rest, up to `max` bytes.
    pub(crate) fn next_len(&self, max: usize) -> usize {
        usize::try_from(self.remaining).map_or(max, |left| left.min(max))
    }

    fn advance(&mut self, n: usize) {
        let n = n as u64;
        debug_assert!(n <= self.remaining);
        self.offset += n;
        self.remaining -= n.min(self.remaining);
    }

    /// The file has no more bytes where the range goes on: it shrank (or the range
    /// was past its end). Done, rather than asking again and again.
    fn file_ended(&mut self) {
        log::warn!(
            "FileProducer: the file ended at byte {}, {} bytes short of the range to send",
            self.offset,
            self.remaining
        );
        self.remaining = 0;
    }
}

/// The copying way, for consumers other than a chat channel's output: the next
/// [`CHUNK_SIZE`](FileProducer::CHUNK_SIZE) bytes, read with a positioned read.
impl Producer for FileProducer {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        let want = self.next_len(Self::CHUNK_SIZE);
        if want == 0 {
            return Ok(Vec::new());
        }
        let mut chunk = vec![0; want];
        let n = loop {
            match self.file.read_at(&mut chunk, self.offset) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        };
        if n == 0 {
            self.file_ended();
            return Ok(Vec::new());
        }
        chunk.truncate(n);
        self.advance(n);
        Ok(chunk)
    }

    fn as_file_producer(&mut self) -> Option<&mut FileProducer> {
        Some(self)
    }
}
