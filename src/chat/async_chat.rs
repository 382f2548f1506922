//! [`AsyncChat`] and [`AsyncChatHandler`]: Python's `asynchat.async_chat`.
//!
//! Python's `async_chat` is a class you subclass. Here it is two pieces:
//!
//! * [`AsyncChat`] is the state the subclass inherits: the [`Channel`], the
//!   [`Splitter`] (terminator), the bytes kept between reads, the output FIFO and the
//!   buffer sizes, with the methods that work on them (`push`, `set_terminator`,
//!   `close_when_done`, ...).
//! * [`AsyncChatHandler`] is the subclass's methods: you implement
//!   `collect_incoming_data` and `found_terminator`, and may override any of the
//!   others. Every type implementing it is a [`Dispatcher`], so it goes into a
//!   [`Map`](crate::Map) next to plain dispatchers.

use std::cell::Cell;
use std::fmt;
use std::io;

use socket2::{SockAddr, Socket};

use crate::channel::{Channel, DisplayAddr};
use crate::chat::fifo::{Fifo, Outcome};
use crate::chat::{Producer, Splitter, Terminator};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};

/// Python 3's default for `ac_in_buffer_size` and `ac_out_buffer_size`.
const DEFAULT_BUFFER_SIZE: usize = 65536;

/// A write pass started by `initiate_send` stops after this many times
/// `ac_out_buffer_size` bytes, so one fast channel cannot starve the others.
const BUDGET_BUFFERS: usize = 16;

thread_local! {
    /// How many `handle_read`s of chat channels are running on this thread.
    static READING: Cell<u32> = const { Cell::new(0) };
}

/// Marks a chat `handle_read` as running: pushes are queued, not sent, until it ends.
struct Reading;

impl Reading {
    fn enter() -> Reading {
        READING.with(|r| r.set(r.get() + 1));
        Reading
    }
}

impl Drop for Reading {
    fn drop(&mut self) {
        let _ = READING.try_with(|r| r.set(r.get().saturating_sub(1)));
    }
}

fn reading() -> bool {
    READING.with(Cell::get) > 0
}

/// The state of an `asynchat.async_chat`: a channel, its terminator, and its output
/// FIFO.
///
/// Hold one in your handler type and implement [`AsyncChatHandler`] for it (see there
/// for a complete example, next to the Python it ports). The methods here are the ones
/// a Python subclass calls on `self`: [`push`](AsyncChat::push),
/// [`push_with_producer`](AsyncChat::push_with_producer),
/// [`close_when_done`](AsyncChat::close_when_done),
/// [`set_terminator`](AsyncChat::set_terminator) and so on.
///
/// # Input
///
/// Each read takes up to [`ac_in_buffer_size`](AsyncChat::ac_in_buffer_size) bytes
/// and hands them to the handler in pieces: `collect_incoming_data` with the data
/// before the terminator, `found_terminator` when the terminator is reached. The
/// terminator may be cut between reads anywhere; the bytes that may begin it are kept
/// in the channel (fewer than the terminator's length) and searched again with the next
/// read, so no byte is searched twice beyond those. See [`Terminator`] for the kinds of
/// terminators, and [`set_input_limit`](AsyncChat::set_input_limit) to bound a message.
///
/// # Output
///
/// [`push`](AsyncChat::push) queues bytes and
/// [`push_with_producer`](AsyncChat::push_with_producer) queues a [`Producer`]; both
/// try to send at once, as in Python, except while a `handle_read` of a chat channel
/// is running on this thread: then the channel sends once that read has been handled,
/// so a read of a hundred pipelined requests costs one write for all the answers, not
/// a hundred. (A push into *another* channel during a read — a chat server's broadcast
/// — is sent by that channel's `handle_write` on the loop's next pass.) A write sends
/// until the socket would block or the FIFO is empty, gathering up to 64 queued
/// buffers into each vectored write.
///
/// # Memory
///
/// An idle channel holds no buffer: reads go through one buffer per thread, sent
/// output buffers return to a small per-thread pool, and [`close`](AsyncChat::close)
/// drops whatever is still queued.
///
/// # Examples
///
/// A client that sends a request and collects the answer up to a blank line:
///
/// ```
/// use asyncore::{AsyncChat, Channel, Domain, Type};
///
/// let mut chan = Channel::new();
/// chan.create_socket(Domain::IPV4, Type::STREAM)?;
/// let mut chat = AsyncChat::new(chan);
/// chat.set_terminator("\r\n\r\n")?;
/// chat.set_input_limit(Some(64 * 1024));
/// chat.push(b"GET / HTTP/1.0\r\n\r\n"); // queued until connected
/// assert!(chat.writable());
/// assert_eq!(chat.pending_bytes(), 18);
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct AsyncChat {
    chan: Channel,
    splitter: Splitter,
    /// Bytes read but not handled yet: a possible start of the terminator (or the
    /// rest of a read whose handling failed). Python's `ac_in_buffer`.
    kept: Vec<u8>,
    fifo: Fifo,
    /// How many bytes one read asks the socket for. Python's `ac_in_buffer_size`
    /// (default 65536).
    pub ac_in_buffer_size: usize,
    /// Python's `ac_out_buffer_size` (default 65536): pushed bytes are gathered into
    /// buffers of about this size, and a write asks producers for this many bytes
    /// ahead.
    pub ac_out_buffer_size: usize,
    /// Bumped by `discard_buffers`, so `handle_read` knows to drop the rest of a read.
    discards: u64,
    /// Something was pushed while sending was deferred.
    send_due: bool,
    /// A failure of a send started by `push`, delivered to `handle_error` by the loop.
    error: Option<Error>,
}

impl Default for AsyncChat {
    fn default() -> Self {
        AsyncChat::new(Channel::new())
    }
}

impl AsyncChat {
    /// Wraps a channel (connected, connecting, or still without a socket). No
    /// terminator is set ([`Terminator::None`]: all input is data), and there is no
    /// input limit, as in Python.
    pub fn new(chan: Channel) -> AsyncChat {
        AsyncChat {
            chan,
            splitter: Splitter::new(),
            kept: Vec::new(),
            fifo: Fifo::default(),
            ac_in_buffer_size: DEFAULT_BUFFER_SIZE,
            ac_out_buffer_size: DEFAULT_BUFFER_SIZE,
            discards: 0,
            send_due: false,
            error: None,
        }
    }

    /// Wraps a socket, such as an accepted connection: Python's `async_chat(sock)`.
    ///
    /// # Errors
    ///
    /// As for [`Channel::from_socket`].
    pub fn from_socket(sock: impl Into<Socket>) -> io::Result<AsyncChat> {
        Ok(AsyncChat::new(Channel::from_socket(sock)?))
    }

    /// The channel: socket, state flags and socket calls.
    pub fn channel(&self) -> &Channel {
        &self.chan
    }

    /// The channel, mutably.
    pub fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    /// Sets what ends the next message: Python's `set_terminator`. A byte string
    /// (`"\r\n"`, `b"\r\n.\r\n"`), a count of bytes ([`Terminator::Count`]), or
    /// `None::<&str>` / [`Terminator::None`] to collect everything.
    ///
    /// Called from `found_terminator`, it applies to the rest of the data already
    /// read. A negative count cannot be expressed here; convert a signed one with
    /// [`Terminator::count`], which refuses it as Python does.
    ///
    /// # Errors
    ///
    /// [`Error::EmptyTerminator`] for an empty byte string; the terminator is then
    /// unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{AsyncChat, Error, Terminator};
    ///
    /// let mut chat = AsyncChat::default();
    /// chat.set_terminator(b"\r\n")?;
    /// chat.set_terminator(Terminator::Count(512))?;
    /// assert_eq!(chat.get_terminator(), &Terminator::Count(512));
    /// assert!(matches!(Terminator::count(-1), Err(Error::NegativeTerminator(-1))));
    /// # Ok::<(), Error>(())
    /// ```
    pub fn set_terminator(&mut self, term: impl Into<Terminator>) -> Result<()> {
        self.splitter.set_terminator(term)
    }

    /// The current terminator: Python's `get_terminator`. A count reports the bytes
    /// still to collect, `Count(0)` once it was reached.
    pub fn get_terminator(&self) -> &Terminator {
        self.splitter.terminator()
    }

    /// Bounds the data of one message waiting for a byte-string terminator (see the
    /// [`Splitter`'s limit](Splitter#limit)); `None`, the default, means no bound, as
    /// in Python.
    ///
    /// Past the limit, `handle_read` fails with [`Error::InputTooLong`], which goes to
    /// `handle_error`; the default `handle_error` closes the channel. An override that
    /// keeps the channel open should call [`discard_buffers`](AsyncChat::discard_buffers),
    /// or every later read fails the same way.
    pub fn set_input_limit(&mut self, limit: Option<usize>) {
        self.splitter.set_limit(limit);
    }

    /// The limit set with [`set_input_limit`](AsyncChat::set_input_limit).
    pub fn input_limit(&self) -> Option<usize> {
        self.splitter.limit()
    }

    /// The splitter, for what the methods above do not cover (such as
    /// [`collected`](Splitter::collected)).
    pub fn splitter(&self) -> &Splitter {
        &self.splitter
    }

    /// Queues `data` for sending and sends what the socket takes now: Python's `push`.
    ///
    /// Accepts any bytes: `&[u8]`, `Vec<u8>`, `&str`, `String`, arrays. (Not numbers:
    /// where Python raises `TypeError`, this does not compile.) Empty data queues
    /// nothing.
    ///
    /// While a chat channel's `handle_read` runs on this thread, the data is only
    /// queued; it is sent when that read has been handled (for this channel) or on the
    /// loop's next pass (for another channel). Nothing is sent before the channel is
    /// connected.
    ///
    /// A failure to send is not returned here: the loop hands it to the channel's
    /// `handle_error` once the current handler returns, as Python's `initiate_send`
    /// calls `handle_error`.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut chat = asyncore::AsyncChat::default();
    /// chat.push(b"220 ready\r\n");
    /// chat.push(String::from("250 OK\r\n"));
    /// chat.push(vec![b'.'; 3]);
    /// assert_eq!(chat.pending_bytes(), 22);
    /// ```
    ///
    /// ```compile_fail
    /// let mut chat = asyncore::AsyncChat::default();
    /// chat.push(10); // Python: TypeError
    /// ```
    pub fn push(&mut self, data: impl AsRef<[u8]>) {
        let data = data.as_ref();
        if data.is_empty() {
            return;
        }
        self.fifo.push_bytes(data, self.ac_out_buffer_size.max(1));
        self.queued();
    }

    /// Queues a producer, whose chunks are sent in turn once everything queued before
    /// it has been: Python's `push_with_producer`. Tries to send at once, like
    /// [`push`](AsyncChat::push).
    ///
    /// An error from the producer's [`more`](Producer::more) goes to `handle_error`;
    /// the producer stays queued.
    ///
    /// # Examples
    ///
    /// Streaming a file without reading it into memory:
    ///
    /// ```no_run
    /// use asyncore::{AsyncChat, ReadProducer};
    ///
    /// # let mut chat = AsyncChat::default();
    /// let file = std::fs::File::open("/var/log/big.log")?;
    /// chat.push(b"200 OK\r\n\r\n");
    /// chat.push_with_producer(ReadProducer::with_default_chunk_size(file));
    /// chat.close_when_done();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn push_with_producer(&mut self, producer: impl Producer + 'static) {
        self.fifo.push_producer(Box::new(producer));
        self.queued();
    }

    /// Closes the channel once everything queued before this call has been sent:
    /// Python's `close_when_done`. The channel's `handle_close` is called then (the
    /// default closes the channel).
    pub fn close_when_done(&mut self) {
        self.fifo.push_close();
        self.chan.touch();
    }

    /// Sends from the output FIFO until the socket would block or the FIFO is empty
    /// (or, so that other channels get their turn, until 16 times
    /// `ac_out_buffer_size` bytes have been sent; the loop calls `handle_write` again
    /// for the rest). Python's `initiate_send`; the default `handle_write`.
    ///
    /// Reaching a [`close_when_done`](AsyncChat::close_when_done) marker makes the
    /// loop call `handle_close` when the current handler returns.
    ///
    /// # Errors
    ///
    /// A socket failure other than would-block or a disconnect (a disconnect makes
    /// the loop call `handle_close`), or a producer's error.
    pub fn initiate_send(&mut self) -> Result<()> {
        let budget = self
            .ac_out_buffer_size
            .max(1)
            .saturating_mul(BUDGET_BUFFERS);
        self.write(budget)
    }

    /// Sends what is queued as far as the socket takes it now, without blocking and
    /// without the fairness limit of [`initiate_send`](AsyncChat::initiate_send):
    /// `astm.asynclib`'s `flush`.
    ///
    /// # Errors
    ///
    /// As for [`initiate_send`](AsyncChat::initiate_send).
    pub fn flush(&mut self) -> Result<()> {
        self.write(usize::MAX)
    }

    fn write(&mut self, budget: usize) -> Result<()> {
        self.send_due = false;
        let pull_ahead = self.ac_out_buffer_size.max(1);
        match self.fifo.write(&mut self.chan, pull_ahead, budget)? {
            Outcome::Close => self.schedule_close(),
            Outcome::Budget => self.chan.touch(),
            Outcome::Drained | Outcome::Blocked => {}
        }
        Ok(())
    }

    /// After queueing: send now, or later if a read is being handled.
    fn queued(&mut self) {
        if reading() {
            self.send_due = true;
            self.chan.touch();
        } else if let Err(err) = self.initiate_send() {
            self.fail(err);
        }
    }

    /// Keeps a send failure for `handle_error` and has the loop deliver it.
    fn fail(&mut self, err: Error) {
        if err.is_would_block() {
            return;
        }
        self.error.get_or_insert(err);
        self.schedule_close();
    }

    /// Has the loop call the handler's `handle_close` (or `handle_error`, if a failure
    /// is waiting) once the current handler returns.
    fn schedule_close(&mut self) {
        self.chan.close_due = true;
        self.chan.touch();
    }

    /// True while anything is queued for output (bytes, a producer or a close marker)
    /// or the channel is still connecting: Python's `writable` for `async_chat`, and
    /// the default [`AsyncChatHandler::writable`].
    pub fn writable(&self) -> bool {
        !self.fifo.is_empty() || self.chan.connecting
    }

    /// True while anything is queued for output: bytes, a producer or a close marker.
    pub fn has_output(&self) -> bool {
        !self.fifo.is_empty()
    }

    /// Bytes queued as data and not sent yet (what producers still hold is not
    /// counted). Useful to stop reading from a peer that does not read its answers.
    pub fn pending_bytes(&self) -> usize {
        self.fifo.pending_bytes()
    }

    /// Drops the input kept between reads, the output FIFO (producers and close
    /// marker included) and the splitter's count toward the input limit: Python's
    /// `discard_buffers` ("emergencies only"). Called from `found_terminator`, it also
    /// drops the rest of the current read.
    pub fn discard_buffers(&mut self) {
        self.kept = Vec::new();
        self.fifo.clear();
        self.splitter.reset();
        self.discards = self.discards.wrapping_add(1);
        self.send_due = false;
    }

    /// Closes the channel and drops what was queued for it: the default
    /// [`AsyncChatHandler::close`]. Safe to call more than once.
    pub fn close(&mut self) {
        self.chan.close();
        self.fifo.clear();
        self.kept = Vec::new();
        self.send_due = false;
    }

    /// Takes the failure of a send started by `push`, if one is waiting for
    /// `handle_error`.
    fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }
}

impl fmt::Debug for AsyncChat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncChat")
            .field("channel", &self.chan)
            .field("terminator", self.splitter.terminator())
            .field("input_limit", &self.splitter.limit())
            .field("kept", &self.kept.len())
            .field("output", &self.fifo)
            .field("ac_in_buffer_size", &self.ac_in_buffer_size)
            .field("ac_out_buffer_size", &self.ac_out_buffer_size)
            .finish()
    }
}

/// The methods of a Python `async_chat` subclass.
///
/// Implement [`chat`](AsyncChatHandler::chat) and
/// [`chat_mut`](AsyncChatHandler::chat_mut) (where your type keeps its [`AsyncChat`]),
/// [`collect_incoming_data`](AsyncChatHandler::collect_incoming_data) and
/// [`found_terminator`](AsyncChatHandler::found_terminator). Every other method has
/// `async_chat`'s behaviour and may be overridden. Every type implementing this trait
/// is a [`Dispatcher`]: put it in a [`Map`](crate::Map) with
/// [`Map::add`](crate::Map::add) or [`asyncore::add`](crate::add), next to plain
/// dispatchers.
///
/// # Examples
///
/// A line server, in Python:
///
/// ```python
/// class Shout(asynchat.async_chat):
///     def __init__(self, sock, map):
///         super().__init__(sock, map)
///         self.set_terminator(b"\r\n")
///         self.buffer = []
///
///     def collect_incoming_data(self, data):
///         self.buffer.append(data)
///
///     def found_terminator(self):
///         line = b"".join(self.buffer)
///         self.buffer = []
///         if line == b"QUIT":
///             self.push(b"bye\r\n")
///             self.close_when_done()
///         else:
///             self.push(line.upper() + b"\r\n")
/// ```
///
/// and in Rust:
///
/// ```
/// use asyncore::{AsyncChat, AsyncChatHandler, Map, Result};
///
/// struct Shout {
///     chat: AsyncChat,
///     buffer: Vec<u8>,
/// }
///
/// impl Shout {
///     fn new(sock: std::net::TcpStream) -> Result<Shout> {
///         let mut chat = AsyncChat::from_socket(sock)?;
///         chat.set_terminator(b"\r\n")?;
///         chat.set_input_limit(Some(4096)); // Python has no limit
///         Ok(Shout { chat, buffer: Vec::new() })
///     }
/// }
///
/// impl AsyncChatHandler for Shout {
///     fn chat(&self) -> &AsyncChat { &self.chat }
///     fn chat_mut(&mut self) -> &mut AsyncChat { &mut self.chat }
///
///     fn collect_incoming_data(&mut self, data: &[u8]) {
///         self.buffer.extend_from_slice(data);
///     }
///
///     fn found_terminator(&mut self) -> Result<()> {
///         let line = std::mem::take(&mut self.buffer);
///         if line == b"QUIT" {
///             self.chat.push(b"bye\r\n");
///             self.chat.close_when_done();
///         } else {
///             self.chat.push(line.to_ascii_uppercase());
///             self.chat.push(b"\r\n");
///         }
///         Ok(())
///     }
/// }
///
/// // Drive it with a plain blocking client.
/// use std::io::{Read, Write};
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let map = Map::new()?;
/// map.add(Shout::new(listener.accept()?.0)?)?;
///
/// client.write_all(b"hello\r\nQUIT\r\n")?;
/// // The handler closes itself after "bye", which empties the map and ends the loop.
/// map.run(Some(std::time::Duration::from_millis(10)), Some(500))?;
/// let mut answer = String::new();
/// client.read_to_string(&mut answer)?;
/// assert_eq!(answer, "HELLO\r\nbye\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Notes
///
/// * Python calls `self.push(...)`; here the state lives in the [`AsyncChat`] field:
///   `self.chat.push(...)` (or `self.chat_mut().push(...)`).
/// * Bytes passed to `collect_incoming_data` are borrowed from a buffer reused for
///   the next read: copy what you keep.
/// * A Python override that calls the base method (`async_chat.handle_read(self)`)
///   calls the default here: [`default_handle_read`] for `handle_read`,
///   [`AsyncChat::initiate_send`] for `handle_write`, [`AsyncChat::writable`] for
///   `writable`, [`AsyncChat::close`] for `close`.
/// * Since the type is also a [`Dispatcher`], the two traits share method names. In a
///   module that imports both, call the handler methods as
///   `AsyncChatHandler::close(self)` (or import only this trait there).
/// * Differences from Python: bytes only (no `use_encoding`); once the channel is
///   closed, the rest of a read is not handed to the handler; an error while sending
///   reaches `handle_error` when the current handler returns rather than inside
///   `push`.
pub trait AsyncChatHandler: 'static {
    /// The chat state this handler drives.
    fn chat(&self) -> &AsyncChat;

    /// The chat state, mutably.
    fn chat_mut(&mut self) -> &mut AsyncChat;

    /// Data that precedes the terminator (never empty; possibly only part of it, the
    /// rest comes in later calls). Python requires subclasses to define it.
    fn collect_incoming_data(&mut self, data: &[u8]);

    /// The terminator was reached: the message collected so far is complete. A
    /// [`set_terminator`](AsyncChat::set_terminator) here applies to the rest of the
    /// data already read. An `Err` goes to [`handle_error`](AsyncChatHandler::handle_error);
    /// the rest of the read is kept for the next one.
    fn found_terminator(&mut self) -> Result<()>;

    /// `astm.asynclib`'s name for [`collect_incoming_data`](AsyncChatHandler::collect_incoming_data),
    /// which it calls. The loop calls `collect_incoming_data`, not this.
    fn pull(&mut self, data: &[u8]) {
        self.collect_incoming_data(data);
    }

    /// Whether the channel wants to read now. Default: `true`.
    fn readable(&mut self) -> bool {
        true
    }

    /// Whether the channel wants to write now. Default: anything is queued or the
    /// channel is still connecting ([`AsyncChat::writable`]).
    fn writable(&mut self) -> bool {
        self.chat().writable()
    }

    /// Data arrived. Default: [`default_handle_read`], which reads up to
    /// `ac_in_buffer_size` bytes and splits them by the terminator.
    fn handle_read(&mut self) -> Result<()> {
        default_handle_read(self)
    }

    /// The socket can take data. Default: [`AsyncChat::initiate_send`].
    fn handle_write(&mut self) -> Result<()> {
        self.chat_mut().initiate_send()
    }

    /// Priority data or an exceptional condition. Default: log "unhandled incoming
    /// priority event".
    fn handle_expt(&mut self) -> Result<()> {
        AsyncChatHandler::log_info(self, "unhandled incoming priority event", log::Level::Warn);
        Ok(())
    }

    /// A connect succeeded. Default: log "unhandled connect event".
    fn handle_connect(&mut self) -> Result<()> {
        AsyncChatHandler::log_info(self, "unhandled connect event", log::Level::Warn);
        Ok(())
    }

    /// A listening channel has a connection waiting. Default: accept it and pass it
    /// to [`handle_accepted`](AsyncChatHandler::handle_accepted).
    fn handle_accept(&mut self) -> Result<()> {
        if let Some((sock, addr)) = self.chat_mut().channel_mut().accept()? {
            AsyncChatHandler::handle_accepted(self, sock, addr)?;
        }
        Ok(())
    }

    /// A connection was accepted. Default: log "unhandled accepted event" and close it.
    fn handle_accepted(&mut self, sock: Socket, addr: SockAddr) -> Result<()> {
        drop(sock);
        AsyncChatHandler::log_info(
            self,
            &format!("unhandled accepted event from {}", DisplayAddr(&addr)),
            log::Level::Warn,
        );
        Ok(())
    }

    /// The peer closed the connection, or a
    /// [`close_when_done`](AsyncChat::close_when_done) marker was reached. Default:
    /// [`close`](AsyncChatHandler::close) (`async_chat` logs nothing here).
    fn handle_close(&mut self) -> Result<()> {
        AsyncChatHandler::close(self);
        Ok(())
    }

    /// A handler failed or panicked, or the input went past its limit
    /// ([`Error::InputTooLong`]). Default: log the failure at error level, then
    /// [`handle_close`](AsyncChatHandler::handle_close) (and close the channel if that
    /// fails too).
    fn handle_error(&mut self, err: Error) {
        log::error!(
            "uncaptured error, closing channel {:?} of {}: {}",
            self.chat().channel(),
            AsyncChatHandler::type_name(self),
            err
        );
        if let Err(e) = AsyncChatHandler::handle_close(self) {
            log::error!("handle_close failed after an error: {e}");
            AsyncChatHandler::close(self);
        }
    }

    /// Closes the channel. Default: [`AsyncChat::close`].
    fn close(&mut self) {
        self.chat_mut().close();
    }

    /// Logs a message at the given level, tagged with the handler's type.
    fn log_info(&self, message: &str, level: log::Level) {
        log::log!(level, "{}: {}", AsyncChatHandler::type_name(self), message);
    }

    /// Logs a message at debug level.
    fn log(&self, message: &str) {
        log::debug!("{}: {}", AsyncChatHandler::type_name(self), message);
    }

    /// The name of the implementing type, for logs.
    fn type_name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

/// `async_chat.handle_read`: the default [`AsyncChatHandler::handle_read`], for
/// overrides that do something and then call the base method.
///
/// Reads up to `ac_in_buffer_size` bytes (after the bytes kept from the last read)
/// and splits them by the terminator, calling `collect_incoming_data` and
/// `found_terminator`; a terminator set in `found_terminator` applies to the rest. It
/// stops early if the handler closes the channel or calls
/// [`discard_buffers`](AsyncChat::discard_buffers). Output pushed meanwhile is sent
/// once, at the end.
///
/// A read that would block does nothing; a read of 0 bytes (the peer closed) leaves
/// the rest to the loop, which calls `handle_close`.
///
/// # Errors
///
/// A failed read; [`Error::InputTooLong`] past the input limit (the rest of the read is
/// dropped); the first error of `found_terminator` (the rest of the read is kept); a
/// failed send.
pub fn default_handle_read<T: AsyncChatHandler + ?Sized>(handler: &mut T) -> Result<()> {
    let chat = handler.chat_mut();
    let want = chat.ac_in_buffer_size.max(1);
    let kept = chat.kept.len();
    let mut buf = crate::read_buf::ReadBuf::take(kept + want);
    buf.0[..kept].copy_from_slice(&chat.kept);
    let n = match chat.chan.recv_into(&mut buf.0[kept..kept + want]) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if n == 0 {
        return Ok(()); // the peer closed; handle_close is due
    }
    chat.kept.clear();
    let end = kept + n;
    let epoch = chat.discards;

    let reading = Reading::enter();
    let mut pos = 0;
    let mut keep_rest = true;
    let result = loop {
        let chat = handler.chat_mut();
        if pos == end {
            break Ok(());
        }
        if chat.discards != epoch || !chat.chan.is_open() {
            keep_rest = false;
            break Ok(());
        }
        let step = match chat.splitter.scan(&buf.0[pos..end]) {
            Ok(step) => step,
            Err(err) => {
                keep_rest = false;
                break Err(err);
            }
        };
        let data = &buf.0[pos..pos + step.data];
        pos += step.consumed;
        if !data.is_empty() {
            handler.collect_incoming_data(data);
        }
        if !step.found {
            break Ok(());
        }
        if let Err(err) = handler.found_terminator() {
            break Err(err);
        }
    };
    drop(reading);

    let chat = handler.chat_mut();
    if chat.discards != epoch || !chat.chan.is_open() {
        keep_rest = false;
    }
    if keep_rest {
        chat.kept.extend_from_slice(&buf.0[pos..end]);
    }
    if chat.kept.is_empty() && chat.kept.capacity() > 256 {
        chat.kept = Vec::new();
    }
    drop(buf);
    if chat.send_due && chat.chan.is_open() {
        let sent = chat.initiate_send();
        return result.and(sent);
    }
    result
}

/// Every [`AsyncChatHandler`] is a [`Dispatcher`]: each handler forwards to the
/// `AsyncChatHandler` method of the same name.
impl<T: AsyncChatHandler> Dispatcher for T {
    fn channel(&self) -> &Channel {
        self.chat().channel()
    }

    fn channel_mut(&mut self) -> &mut Channel {
        self.chat_mut().channel_mut()
    }

    fn readable(&mut self) -> bool {
        AsyncChatHandler::readable(self)
    }

    fn writable(&mut self) -> bool {
        AsyncChatHandler::writable(self)
    }

    fn handle_read(&mut self) -> Result<()> {
        AsyncChatHandler::handle_read(self)
    }

    fn handle_write(&mut self) -> Result<()> {
        AsyncChatHandler::handle_write(self)
    }

    fn handle_expt(&mut self) -> Result<()> {
        AsyncChatHandler::handle_expt(self)
    }

    fn handle_connect(&mut self) -> Result<()> {
        AsyncChatHandler::handle_connect(self)
    }

    fn handle_accept(&mut self) -> Result<()> {
        AsyncChatHandler::handle_accept(self)
    }

    fn handle_accepted(&mut self, sock: Socket, addr: SockAddr) -> Result<()> {
        AsyncChatHandler::handle_accepted(self, sock, addr)
    }

    /// A send failure waiting from `push` goes to `handle_error` instead.
    fn handle_close(&mut self) -> Result<()> {
        if let Some(err) = self.chat_mut().take_error() {
            return Err(err);
        }
        AsyncChatHandler::handle_close(self)
    }

    fn handle_error(&mut self, err: Error) {
        AsyncChatHandler::handle_error(self, err);
    }

    fn close(&mut self) {
        AsyncChatHandler::close(self);
    }

    fn log_info(&self, message: &str, level: log::Level) {
        AsyncChatHandler::log_info(self, message, level);
    }

    fn log(&self, message: &str) {
        AsyncChatHandler::log(self, message);
    }

    fn type_name(&self) -> &'static str {
        AsyncChatHandler::type_name(self)
    }
}
