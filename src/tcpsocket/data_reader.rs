//! [`data_reader`]: "just call me with the data".

use std::fmt;

use super::raw::{self, Outcome};
use crate::read_buf::ReadBuf;
use crate::{Channel, Result};

/// Reads per call of [`DataReader::handle_read`] at most, so one busy connection cannot
/// starve the others; the loop calls again while data is waiting.
const READS_PER_EVENT: usize = 16;

/// Calls a closure with the data arriving on a channel: see [`data_reader`].
pub struct DataReader<F> {
    for_each: F,
    /// How much one read takes at most (into the thread's shared read buffer).
    buffer_size: usize,
}

/// A reader that calls `for_each` with the data of every non-empty read and closes the
/// channel on a zero-byte read (the peer closed): asycamore's
/// `data_reader(o, for_each, sentinel)`. Call its
/// [`handle_read`](DataReader::handle_read) from your dispatcher's `handle_read`, with
/// the running channel: `reader.handle_read(cx.channel_mut())`.
///
/// An error returned by `for_each` stops the reading and is returned from
/// `handle_read`, so it reaches `handle_error` (which by default closes the channel).
///
/// # Examples
///
/// A client that prints what the server says until the server hangs up:
///
/// ```
/// use asyncore::tcpsocket::{data_reader, DataReader};
/// use asyncore::{Cx, Dispatcher, Result};
///
/// fn print_it(data: &[u8]) -> Result<()> {
///     print!("{}", String::from_utf8_lossy(data));
///     Ok(())
/// }
///
/// struct Listener {
///     reader: DataReader<fn(&[u8]) -> Result<()>>,
/// }
///
/// impl Dispatcher for Listener {
///     fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
///         !cx.connected // only for the connect event
///     }
///     fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
///         Ok(())
///     }
///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         self.reader.handle_read(cx.channel_mut())
///     }
/// }
///
/// let reader = data_reader(print_it as fn(&[u8]) -> Result<()>);
/// let listener = Listener { reader };
/// // map.add(chan, listener)?, with `chan` connecting to the server (see connect_tcp).
/// # let _ = listener;
/// ```
///
/// A complete run: the peer's data reaches the closure, and the peer's close closes
/// the channel, which leaves the map.
///
/// ```
/// use std::cell::RefCell;
/// use std::io::Write;
/// use std::net::{TcpListener, TcpStream};
/// use std::rc::Rc;
/// use std::time::Duration;
/// use asyncore::tcpsocket::{data_reader, DataReader};
/// use asyncore::{Channel, Cx, Dispatcher, Map, Result};
///
/// struct Reader<F>(DataReader<F>);
/// impl<F: FnMut(&[u8]) -> Result<()> + 'static> Dispatcher for Reader<F> {
///     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { false }
///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         self.0.handle_read(cx.channel_mut())
///     }
/// }
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let mut peer = TcpStream::connect(listener.local_addr()?)?;
/// let chan = Channel::from_socket(listener.accept()?.0)?;
///
/// let got = Rc::new(RefCell::new(Vec::new()));
/// let sink = got.clone();
/// let map = Map::new()?;
/// map.add(chan, Reader(data_reader(move |data: &[u8]| {
///     sink.borrow_mut().extend_from_slice(data);
///     Ok(())
/// })))?;
///
/// peer.write_all(b"hello")?;
/// drop(peer);
/// for _ in 0..100 {
///     if map.is_empty() {
///         break;
///     }
///     map.poll(Duration::from_millis(10))?;
/// }
/// assert!(map.is_empty(), "closed at the end of the stream");
/// assert_eq!(*got.borrow(), b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn data_reader<F>(for_each: F) -> DataReader<F>
where
    F: FnMut(&[u8]) -> Result<()>,
{
    DataReader {
        for_each,
        buffer_size: DataReader::<F>::DEFAULT_BUFFER_SIZE,
    }
}

impl<F> DataReader<F>
where
    F: FnMut(&[u8]) -> Result<()>,
{
    /// The read buffer's size unless [`with_buffer_size`](DataReader::with_buffer_size)
    /// says otherwise.
    pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

    /// Sets how much one read takes at most.
    ///
    /// # Panics
    ///
    /// If `size` is 0.
    pub fn with_buffer_size(mut self, size: usize) -> DataReader<F> {
        assert!(size > 0, "data_reader: buffer size must not be 0");
        self.buffer_size = size;
        self
    }

    /// Reads what is waiting and passes each non-empty read to `for_each`; closes
    /// `chan` if the peer closed (a zero-byte read). Called from a handler with
    /// `cx.channel_mut()`, that close is as [`Cx::close`](crate::Cx::close): the
    /// channel leaves its map when the handler returns, and its dispatcher's
    /// [`on_close`](crate::Dispatcher::on_close) runs then (the place to release
    /// resources of your own). [`Channel::is_open`] tells the handler it happened.
    ///
    /// # Errors
    ///
    /// A socket error other than would-block (a reset: `ConnectionReset`), or the
    /// error `for_each` returned.
    pub fn handle_read(&mut self, chan: &mut Channel) -> Result<()> {
        let mut buf = ReadBuf::take(self.buffer_size);
        let buf = &mut buf.0[..self.buffer_size];
        for _ in 0..READS_PER_EVENT {
            match raw::recv(chan, buf) {
                Outcome::Done(0) => {
                    chan.close();
                    break;
                }
                Outcome::Done(n) => (self.for_each)(&buf[..n])?,
                Outcome::Blocked => break,
                Outcome::Failed(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

impl<F> fmt::Debug for DataReader<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataReader")
            .field("buffer_size", &self.buffer_size)
            .finish_non_exhaustive()
    }
}
