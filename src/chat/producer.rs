//! Producers: sources of output that are asked for one chunk at a time.
//!
//! asynchat keeps a FIFO of producers and, whenever the socket can take more, asks the
//! first one for its next chunk with `more()`; an empty chunk means that producer is
//! exhausted and the next one is asked. [`Producer`] is that protocol. (A
//! [`FileProducer`] is the exception: the FIFO recognises it and sends the file with
//! `sendfile(2)` where it can, without asking for chunks.)

use std::fmt;
use std::io::{self, Read};

use crate::chat::FileProducer;

/// Python's producer protocol: something that hands out its output piece by piece.
///
/// Each call of [`more`](Producer::more) returns the next chunk; an empty `Vec`
/// means the producer is exhausted (and it should keep returning empty after that).
/// An error is reported to the channel like a failed send.
///
/// The trait is object-safe: a channel stores producers as `Box<dyn Producer>`, and
/// such a box is itself a producer. Implementors need not be `Debug`; `dyn Producer`
/// prints as an opaque placeholder so that structures holding one can still be.
///
/// # Examples
///
/// ```
/// use asyncore::chat::Producer;
///
/// /// Counts down from `n`, one line per chunk.
/// struct Countdown(u32);
///
/// impl Producer for Countdown {
///     fn more(&mut self) -> std::io::Result<Vec<u8>> {
///         if self.0 == 0 {
///             return Ok(Vec::new());
///         }
///         self.0 -= 1;
///         Ok(format!("{}\r\n", self.0 + 1).into_bytes())
///     }
/// }
///
/// let mut producer: Box<dyn Producer> = Box::new(Countdown(2));
/// assert_eq!(producer.more()?, b"2\r\n");
/// assert_eq!(producer.more()?, b"1\r\n");
/// assert!(producer.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Producer {
    /// The next chunk of output; empty when there is no more.
    fn more(&mut self) -> io::Result<Vec<u8>>;

    /// The [`FileProducer`] this producer is, if it is one: then a chat channel's
    /// output sends it with [`Channel::send_file`](crate::Channel::send_file)
    /// (`sendfile(2)` where it can) instead of asking [`more`](Producer::more).
    ///
    /// Default `None`. Only [`FileProducer`] and the forwarding impls (`Box<P>`,
    /// `&mut P`) return `Some`; a wrapper of your own around a `FileProducer` may
    /// forward it too, knowing its `more` is then bypassed.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::chat::{FileProducer, Producer, SimpleProducer};
    ///
    /// let file = std::fs::File::open(std::env::current_exe()?)?;
    /// let mut boxed: Box<dyn Producer> = Box::new(FileProducer::new(file)?);
    /// assert!(boxed.as_file_producer().is_some());
    /// assert!(SimpleProducer::new("x").as_file_producer().is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn as_file_producer(&mut self) -> Option<&mut FileProducer> {
        None
    }
}

impl<P: Producer + ?Sized> Producer for Box<P> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        (**self).more()
    }

    fn as_file_producer(&mut self) -> Option<&mut FileProducer> {
        (**self).as_file_producer()
    }
}

/// Bytes given whole produce themselves once: `push_with_producer(b"...".to_vec())`.
impl Producer for Vec<u8> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Ok(std::mem::take(self))
    }
}

/// A static byte string produces itself once.
impl Producer for &'static [u8] {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Ok(std::mem::take(self).to_vec())
    }
}

/// A string produces its bytes once.
impl Producer for String {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Ok(std::mem::take(self).into_bytes())
    }
}

impl<P: Producer + ?Sized> Producer for &mut P {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        (**self).more()
    }

    fn as_file_producer(&mut self) -> Option<&mut FileProducer> {
        (**self).as_file_producer()
    }
}

impl fmt::Debug for dyn Producer + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<dyn Producer>")
    }
}

impl fmt::Debug for dyn Producer + Send + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<dyn Producer + Send>")
    }
}

/// Python's `simple_producer`: hands out a byte string in chunks of at most
/// `buffer_size` bytes (512 unless told otherwise).
///
/// As in Python, a remainder of at most `buffer_size` bytes comes out whole. A
/// `buffer_size` of 0 is taken as 1 (Python would return an empty chunk at once and
/// so silently drop the data).
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, SimpleProducer};
///
/// let mut producer = SimpleProducer::with_buffer_size("hello world", 4);
/// assert_eq!(producer.more()?, b"hell");
/// assert_eq!(producer.more()?, b"o wo");
/// assert_eq!(producer.more()?, b"rld");
/// assert!(producer.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimpleProducer {
    data: Vec<u8>,
    /// Start of the bytes not yet handed out.
    pos: usize,
    buffer_size: usize,
}

impl SimpleProducer {
    /// Python's default chunk size.
    pub const DEFAULT_BUFFER_SIZE: usize = 512;

    /// Hands out `data` in chunks of 512 bytes.
    pub fn new(data: impl Into<Vec<u8>>) -> Self {
        Self::with_buffer_size(data, Self::DEFAULT_BUFFER_SIZE)
    }

    /// Hands out `data` in chunks of `buffer_size` bytes (0 is taken as 1).
    pub fn with_buffer_size(data: impl Into<Vec<u8>>, buffer_size: usize) -> Self {
        SimpleProducer {
            data: data.into(),
            pos: 0,
            buffer_size: buffer_size.max(1),
        }
    }

    /// The chunk size.
    pub fn buffer_size(&self) -> usize {
        self.buffer_size
    }

    /// The bytes not yet handed out.
    pub fn remaining(&self) -> &[u8] {
        &self.data[self.pos..]
    }
}

impl Producer for SimpleProducer {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        let left = self.data.len() - self.pos;
        if left > self.buffer_size {
            let chunk = self.data[self.pos..self.pos + self.buffer_size].to_vec();
            self.pos += self.buffer_size;
            return Ok(chunk);
        }
        // The rest comes out whole; hand over the buffer itself when untouched.
        let mut rest = std::mem::take(&mut self.data);
        if self.pos > 0 {
            rest.drain(..self.pos);
        }
        self.pos = 0;
        Ok(rest)
    }
}

/// Python's `simple_producer(data, buffer_size)`, for code ported line by line:
/// the same as [`SimpleProducer::with_buffer_size`].
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, simple_producer};
///
/// let mut producer = simple_producer(b"hello world\n".to_vec(), 8);
/// assert_eq!(producer.more()?, b"hello wo");
/// assert_eq!(producer.more()?, b"rld\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn simple_producer(data: impl Into<Vec<u8>>, buffer_size: usize) -> SimpleProducer {
    SimpleProducer::with_buffer_size(data, buffer_size)
}

/// Streams anything that implements [`Read`] in chunks of at most `chunk_size`
/// bytes, without loading it all. For a regular file pushed to a chat channel,
/// [`FileProducer`] is faster: it is sent with `sendfile(2)` where it can.
///
/// Each [`more`](Producer::more) makes one successful `read` (retrying
/// [`Interrupted`](io::ErrorKind::Interrupted)); a read of 0 bytes is the end, after
/// which the reader is not touched again and every call returns an empty chunk.
/// Other errors are returned as they are. Meant for readers that block only briefly,
/// such as files: a `WouldBlock` error is returned, not waited for.
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, ReadProducer};
///
/// let file = std::io::Cursor::new(b"0123456789".to_vec()); // or a std::fs::File
/// let mut producer = ReadProducer::new(file, 4);
/// assert_eq!(producer.more()?, b"0123");
/// assert_eq!(producer.more()?, b"4567");
/// assert_eq!(producer.more()?, b"89");
/// assert!(producer.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ReadProducer<R> {
    reader: R,
    chunk_size: usize,
    done: bool,
}

impl<R: Read> ReadProducer<R> {
    /// A chunk size that suits files: 64 KiB, asynchat's output buffer size.
    pub const DEFAULT_CHUNK_SIZE: usize = 65536;

    /// Streams `reader` in chunks of at most `chunk_size` bytes (0 is taken as 1).
    pub fn new(reader: R, chunk_size: usize) -> Self {
        ReadProducer {
            reader,
            chunk_size: chunk_size.max(1),
            done: false,
        }
    }

    /// Streams `reader` in chunks of [`DEFAULT_CHUNK_SIZE`](Self::DEFAULT_CHUNK_SIZE).
    pub fn with_default_chunk_size(reader: R) -> Self {
        Self::new(reader, Self::DEFAULT_CHUNK_SIZE)
    }

    /// The chunk size.
    pub fn chunk_size(&self) -> usize {
        self.chunk_size
    }

    /// Whether the end of the reader has been reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The reader.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// Gives the reader back.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R: Read> Producer for ReadProducer<R> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        if self.done {
            return Ok(Vec::new());
        }
        let mut chunk = vec![0; self.chunk_size];
        loop {
            match self.reader.read(&mut chunk) {
                Ok(0) => {
                    self.done = true;
                    return Ok(Vec::new());
                }
                Ok(n) => {
                    chunk.truncate(n);
                    if n < self.chunk_size / 2 {
                        chunk.shrink_to_fit();
                    }
                    return Ok(chunk);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            }
        }
    }
}

/// A producer made from a closure; see [`producer_fn`].
pub struct FnProducer<F>(F);

impl<F> fmt::Debug for FnProducer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnProducer").finish_non_exhaustive()
    }
}

impl<F: FnMut() -> Vec<u8>> Producer for FnProducer<F> {
    fn more(&mut self) -> io::Result<Vec<u8>> {
        Ok((self.0)())
    }
}

/// Makes a producer of a closure that returns the next chunk, empty at the end.
///
/// (Closures cannot implement [`Producer`] directly: that would clash with the
/// implementation for `Box<dyn Producer>`.)
///
/// # Examples
///
/// ```
/// use asyncore::chat::{Producer, producer_fn};
///
/// let mut lines = vec![b"b\n".to_vec(), b"a\n".to_vec()];
/// let mut producer: Box<dyn Producer> = Box::new(producer_fn(move || lines.pop().unwrap_or_default()));
/// assert_eq!(producer.more()?, b"a\n");
/// assert_eq!(producer.more()?, b"b\n");
/// assert!(producer.more()?.is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn producer_fn<F: FnMut() -> Vec<u8>>(f: F) -> FnProducer<F> {
    FnProducer(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(producer: &mut dyn Producer) -> io::Result<Vec<Vec<u8>>> {
        let mut chunks = Vec::new();
        loop {
            let chunk = producer.more()?;
            if chunk.is_empty() {
                return Ok(chunks);
            }
            chunks.push(chunk);
        }
    }

    #[test]
    fn simple_producer_chunks_like_python() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1300).collect();
        let mut producer = SimpleProducer::new(data.clone());
        let chunks = drain(&mut producer).unwrap();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [512, 512, 276]
        );
        assert_eq!(chunks.concat(), data);
        assert!(producer.more().unwrap().is_empty());
        assert!(producer.remaining().is_empty());
    }

    #[test]
    fn simple_producer_exact_multiple_and_small() {
        // Python: len(data) > buffer_size splits, so 8 bytes with size 4 give 4 + 4.
        let mut producer = simple_producer(b"abcdefgh".to_vec(), 4);
        assert_eq!(
            drain(&mut producer).unwrap(),
            [b"abcd".to_vec(), b"efgh".to_vec()]
        );
        let mut producer = SimpleProducer::with_buffer_size("ab", 4);
        assert_eq!(producer.remaining(), b"ab");
        assert_eq!(drain(&mut producer).unwrap(), [b"ab".to_vec()]);
        let mut producer = SimpleProducer::new(Vec::new());
        assert!(producer.more().unwrap().is_empty());
    }

    #[test]
    fn simple_producer_zero_buffer_size_still_delivers() {
        let mut producer = SimpleProducer::with_buffer_size("abc", 0);
        assert_eq!(producer.buffer_size(), 1);
        assert_eq!(drain(&mut producer).unwrap().concat(), b"abc");
    }

    /// A reader that returns short reads, interrupts, and then fails or ends.
    struct Flaky {
        script: Vec<io::Result<Vec<u8>>>,
        reads_after_end: usize,
    }

    impl Read for Flaky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.script.is_empty() {
                self.reads_after_end += 1;
                return Ok(0);
            }
            match self.script.remove(0) {
                Ok(bytes) => {
                    assert!(bytes.len() <= buf.len());
                    buf[..bytes.len()].copy_from_slice(&bytes);
                    Ok(bytes.len())
                }
                Err(err) => Err(err),
            }
        }
    }

    #[test]
    fn read_producer_streams_in_chunks() {
        let data: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        let mut producer = ReadProducer::new(io::Cursor::new(data.clone()), 4096);
        let chunks = drain(&mut producer).unwrap();
        assert_eq!(
            chunks.iter().map(Vec::len).collect::<Vec<_>>(),
            [4096, 4096, 1808]
        );
        assert_eq!(chunks.concat(), data);
        assert!(producer.is_done());
        assert!(producer.more().unwrap().is_empty());
    }

    #[test]
    fn read_producer_retries_interrupted_and_stops_at_eof() {
        let reader = Flaky {
            script: vec![
                Ok(b"ab".to_vec()),
                Err(io::ErrorKind::Interrupted.into()),
                Ok(b"cd".to_vec()),
            ],
            reads_after_end: 0,
        };
        let mut producer = ReadProducer::new(reader, 8);
        assert_eq!(producer.more().unwrap(), b"ab");
        assert_eq!(producer.more().unwrap(), b"cd");
        assert!(producer.more().unwrap().is_empty());
        assert!(producer.more().unwrap().is_empty());
        // The end is final: the reader is not asked again.
        assert_eq!(producer.into_inner().reads_after_end, 1);
    }

    #[test]
    fn read_producer_returns_other_errors() {
        let reader = Flaky {
            script: vec![
                Ok(b"ab".to_vec()),
                Err(io::Error::other("disk on fire")),
                Ok(b"cd".to_vec()),
            ],
            reads_after_end: 0,
        };
        let mut producer = ReadProducer::new(reader, 8);
        assert_eq!(producer.more().unwrap(), b"ab");
        let err = producer.more().unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
        assert!(!producer.is_done());
        assert_eq!(producer.more().unwrap(), b"cd");
    }

    #[test]
    fn boxed_and_closure_producers() {
        let mut n = 0;
        let counter = producer_fn(move || {
            n += 1;
            if n <= 3 { vec![b'0' + n] } else { Vec::new() }
        });
        let mut boxed: Box<dyn Producer> = Box::new(counter);
        assert_eq!(format!("{boxed:?}"), "<dyn Producer>");
        assert_eq!(drain(&mut boxed).unwrap().concat(), b"123");

        let mut send: Box<dyn Producer + Send> = Box::new(SimpleProducer::new("x"));
        assert_eq!(format!("{send:?}"), "<dyn Producer + Send>");
        assert_eq!(drain(&mut send).unwrap().concat(), b"x");

        let mut fifo: std::collections::VecDeque<Box<dyn Producer>> = Default::default();
        fifo.push_back(Box::new(SimpleProducer::with_buffer_size("ab", 1)));
        fifo.push_back(Box::new(ReadProducer::new(io::Cursor::new(b"cd"), 1)));
        let mut out = Vec::new();
        while let Some(front) = fifo.front_mut() {
            let chunk = front.more().unwrap();
            if chunk.is_empty() {
                fifo.pop_front();
            } else {
                out.extend(chunk);
            }
        }
        assert_eq!(out, b"abcd");
    }
}
