//! [`AsyncChat`], [`ChatHandler`] and [`Chat`]: Python's `asynchat.async_chat`.
//!
//! Python's `async_chat` is a class you subclass. Here it is three pieces:
//!
//! * [`ChatHandler`] is what the subclass writes: `collect_incoming_data`,
//!   `found_terminator`, and any override (`handle_close`, `writable`, ...). Your type
//!   holds only your state.
//! * [`AsyncChat<H>`](AsyncChat) wraps your handler with what the subclass inherits
//!   ([`ChatState`]: the terminator, the bytes kept between reads, the output FIFO,
//!   the buffer sizes). It is the [`Dispatcher`]: put it in a map with its channel,
//!   `map.add(chan, AsyncChat::new(handler))`.
//! * [`Chat`] is what each handler method receives: the chat state and the handler's
//!   [`Cx`] together. It has `async_chat`'s methods (`push`, `close_when_done`,
//!   `set_terminator`, ...) and dereferences to the `Cx`, so `chat.close()`,
//!   `chat.add(..)` and `chat.connected` work too.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};

use crate::chat::fifo::{Fifo, Outcome};
use crate::chat::{Output, Producer, Splitter, Terminator};
use crate::cx::Cx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};

/// Python 3's default for `ac_in_buffer_size` and `ac_out_buffer_size`.
const DEFAULT_BUFFER_SIZE: usize = 65536;

/// A write started by `initiate_send` stops after this many times
/// `ac_out_buffer_size` bytes, so one fast channel cannot starve the others.
const BUDGET_BUFFERS: usize = 16;

/// What a Python `async_chat` subclass inherits: the terminator, the bytes kept
/// between reads, the output FIFO and the buffer sizes.
///
/// Reach it through [`AsyncChat::state_mut`] before the channel is added, or through
/// [`Chat`] inside handlers.
///
/// # Memory
///
/// An idle channel holds no buffer: reads go through one buffer per thread, and
/// closing the channel drops whatever is still queued.
pub struct ChatState {
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
    /// Bumped by `discard_buffers`, so a read knows to drop the rest of its data.
    discards: u64,
    /// A failure of a send started by `push` (or a missing handler method), delivered
    /// to `handle_error` when the current handler returns.
    error: Option<Error>,
    /// A `close_when_done` marker was reached: `handle_close` is due, and nothing
    /// queued after the marker is sent (Python closes the socket right there).
    closing: bool,
    /// While a read is handled and more whole messages of it follow the current one,
    /// pushes are queued and sent together (see [`ChatState::set_coalesce`]).
    coalesce: bool,
    /// Pushes are being held (more whole messages of this read follow).
    corked: bool,
    /// Something pushed while corked has not been offered to the socket yet.
    held: bool,
}

impl Default for ChatState {
    fn default() -> Self {
        ChatState::new()
    }
}

impl ChatState {
    /// No terminator ([`Terminator::None`]: all input is data), no input limit, empty
    /// FIFO, Python's buffer sizes.
    pub fn new() -> ChatState {
        ChatState {
            splitter: Splitter::new(),
            kept: Vec::new(),
            fifo: Fifo::default(),
            ac_in_buffer_size: DEFAULT_BUFFER_SIZE,
            ac_out_buffer_size: DEFAULT_BUFFER_SIZE,
            discards: 0,
            error: None,
            closing: false,
            coalesce: true,
            corked: false,
            held: false,
        }
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
    /// use asyncore::{ChatState, Error, Terminator};
    ///
    /// let mut chat = ChatState::new();
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
    /// in Python. Recommended for any peer you do not trust.
    ///
    /// Past the limit, `handle_read` fails with [`Error::InputTooLong`], which goes to
    /// `handle_error`, and the rest of that read is dropped; the default `handle_error`
    /// closes the channel. An override that keeps the channel open must call
    /// [`discard_buffers`](ChatState::discard_buffers) (which drops queued output too),
    /// or every later read fails the same way. A line protocol that answers an
    /// over-long line and goes on is better served by capping the line in
    /// `collect_incoming_data` and answering in `found_terminator`, as the
    /// `ftp_server` example does: nothing after the line is lost.
    pub fn set_input_limit(&mut self, limit: Option<usize>) {
        self.splitter.set_limit(limit);
    }

    /// The limit set with [`set_input_limit`](ChatState::set_input_limit).
    pub fn input_limit(&self) -> Option<usize> {
        self.splitter.limit()
    }

    /// The splitter, for what the methods above do not cover (such as
    /// [`collected`](Splitter::collected)).
    pub fn splitter(&self) -> &Splitter {
        &self.splitter
    }

    /// Queues `data` without sending it (there is no socket at hand): sent when the
    /// channel is next writable. Inside a handler, [`Chat::push`] queues and sends at
    /// once, as Python's `push` does. Empty data queues nothing.
    pub fn push<'d>(&mut self, data: impl Into<Output<'d>>) {
        self.fifo
            .push_output(data.into(), self.ac_out_buffer_size.max(1));
    }

    /// Queues a producer without sending (see [`push`](ChatState::push)).
    pub fn push_with_producer(&mut self, producer: impl Producer + 'static) {
        self.fifo.push_producer(Box::new(producer));
    }

    /// Closes the channel once everything queued before this call has been sent:
    /// Python's `close_when_done`. The channel's `handle_close` is called then (the
    /// default closes the channel).
    pub fn close_when_done(&mut self) {
        self.fifo.push_close();
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
    }

    /// Whether replies to pipelined messages are sent together; on by default.
    ///
    /// When one read brings several whole messages (a client that pipelines), what
    /// the handlers of all but the last push is held, and sent once the last has
    /// been handled (with whatever it pushes), in one vectored write instead of one
    /// write per push. Held replies are never lost or reordered: they go out at the
    /// end of the read whatever the last message does (push, close, fail, nothing),
    /// and before anything that could drop or overtake them ([`Chat::close`],
    /// [`Chat::discard_buffers`], any use of the [`Cx`] through the `Chat`). Python's
    /// `push` sends at once every time; the difference shows only in timing, and in
    /// one case: a handler that pushes and then *blocks* waiting for the peer to act
    /// on the reply (an FTP `PASV` that blocks in `accept()`) while more pipelined
    /// messages wait behind it in the same read. Such a handler should call
    /// [`Chat::initiate_send`] before blocking, or turn this off. For the last (or
    /// only) message of a read nothing is held: its pushes are handed to the socket at
    /// once, as in Python.
    ///
    /// `false` sends at every push, exactly as Python does (a lines benchmark of 32
    /// pipelined lines per read runs several times slower that way).
    pub fn set_coalesce(&mut self, on: bool) {
        self.coalesce = on;
    }

    /// The setting of [`set_coalesce`](ChatState::set_coalesce).
    pub fn coalesce(&self) -> bool {
        self.coalesce
    }

    /// Keeps a failure for `handle_error`, which the loop calls (through
    /// `handle_close`) once the current handler returns.
    fn fail(&mut self, cx: &mut Cx<'_>, err: Error) {
        if err.is_would_block() {
            return;
        }
        self.error.get_or_insert(err);
        cx.close_due = true;
    }

    fn write(&mut self, cx: &mut Cx<'_>, budget: usize) -> Result<()> {
        if self.closing {
            return Ok(());
        }
        let pull_ahead = self.ac_out_buffer_size.max(1);
        match self.fifo.write(cx.channel_mut(), pull_ahead, budget)? {
            Outcome::Close => {
                self.closing = true;
                cx.close_due = true;
            }
            Outcome::Budget | Outcome::Drained | Outcome::Blocked => {}
        }
        Ok(())
    }
}

impl fmt::Debug for ChatState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatState")
            .field("terminator", self.splitter.terminator())
            .field("input_limit", &self.splitter.limit())
            .field("kept", &self.kept.len())
            .field("output", &self.fifo)
            .field("ac_in_buffer_size", &self.ac_in_buffer_size)
            .field("ac_out_buffer_size", &self.ac_out_buffer_size)
            .finish()
    }
}

/// Python's `asynchat.async_chat`: your [`ChatHandler`] wrapped with the chat state
/// it inherits. This is the [`Dispatcher`] that goes in the map.
///
/// # Input
///
/// Each read takes up to `ac_in_buffer_size` bytes and hands them to the handler in
/// pieces: `collect_incoming_data` with the data before the terminator,
/// `found_terminator` when the terminator is reached. The terminator may be cut
/// between reads anywhere; the bytes that may begin it are kept (fewer than the
/// terminator's length) and searched again with the next read, so no byte is searched
/// twice beyond those. See [`Terminator`], and
/// [`set_input_limit`](ChatState::set_input_limit) to bound a message.
///
/// # Output
///
/// [`Chat::push`] queues bytes and [`Chat::push_with_producer`] a [`Producer`]; both
/// start sending at once, as Python's do (they call `initiate_send`): `push` then
/// `close` delivers what the socket took, and `push` then a blocking call has the
/// reply on the wire already. One exception, which only timing shows: when a read
/// brings several whole messages (a pipelining client), the replies to all but the
/// last are sent together with the last one's, in one write instead of one per push
/// ([`ChatState::set_coalesce`] explains, and turns it off). A write sends until the
/// socket would block or the FIFO is empty, gathering up to 64 queued buffers into
/// each vectored write.
///
/// # Examples
///
/// ```
/// use asyncore::{AsyncChat, Chat, ChatHandler, Result};
///
/// struct Lines;
/// impl ChatHandler for Lines {
///     fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, _data: &[u8]) {}
///     fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
///         chat.push(b"ok\r\n");
///         Ok(())
///     }
/// }
///
/// let mut chat = AsyncChat::new(Lines);
/// chat.set_terminator("\r\n")?;
/// chat.set_input_limit(Some(64 * 1024));
/// chat.push(b"220 ready\r\n"); // queued: sent once the channel is in a map
/// assert_eq!(chat.state().pending_bytes(), 11);
/// // map.add(Channel::from_socket(sock)?, chat)?;
/// # Ok::<(), asyncore::Error>(())
/// ```
pub struct AsyncChat<H> {
    state: ChatState,
    /// Your handler.
    pub handler: H,
}

impl<H: ChatHandler> AsyncChat<H> {
    /// Wraps `handler` with a fresh [`ChatState`] (no terminator, no input limit).
    pub fn new(handler: H) -> AsyncChat<H> {
        AsyncChat {
            state: ChatState::new(),
            handler,
        }
    }

    /// The chat state.
    pub fn state(&self) -> &ChatState {
        &self.state
    }

    /// The chat state, mutably (buffer sizes, terminator, ...).
    pub fn state_mut(&mut self) -> &mut ChatState {
        &mut self.state
    }

    /// [`ChatState::set_terminator`].
    ///
    /// # Errors
    ///
    /// As there.
    pub fn set_terminator(&mut self, term: impl Into<Terminator>) -> Result<()> {
        self.state.set_terminator(term)
    }

    /// [`ChatState::get_terminator`].
    pub fn get_terminator(&self) -> &Terminator {
        self.state.get_terminator()
    }

    /// [`ChatState::set_input_limit`].
    pub fn set_input_limit(&mut self, limit: Option<usize>) {
        self.state.set_input_limit(limit);
    }

    /// Queues `data`, to be sent when the channel is next writable: for pushing
    /// through a [`Handle`](crate::Handle) from outside the channel's handlers
    /// (`handle.borrow_mut().push(..)`, which also has the loop look at the channel
    /// on its next pass). To send at once from another handler, as Python's `push`
    /// would, use `handle.with(|c, cx| c.chat(cx).push(..))`.
    pub fn push<'d>(&mut self, data: impl Into<Output<'d>>) {
        self.state.push(data);
    }

    /// Queues a producer (see [`push`](AsyncChat::push)).
    pub fn push_with_producer(&mut self, producer: impl Producer + 'static) {
        self.state.push_with_producer(producer);
    }

    /// [`ChatState::close_when_done`].
    pub fn close_when_done(&mut self) {
        self.state.close_when_done();
    }

    /// The handler and a [`Chat`] over this state and `cx`: what a handler method
    /// receives, for code holding the chat and a context (inside
    /// [`Handle::with`](crate::Handle::with)).
    pub fn chat<'c, 'a>(&'c mut self, cx: &'c mut Cx<'a>) -> (&'c mut H, Chat<'c, 'a>) {
        let mut chat = Chat {
            state: &mut self.state,
            cx,
        };
        // A read that panicked mid-way left its pushes held: send them now.
        if chat.state.corked {
            chat.release();
        }
        (&mut self.handler, chat)
    }
}

impl<H> fmt::Debug for AsyncChat<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncChat")
            .field("handler", &std::any::type_name::<H>())
            .field("state", &self.state)
            .finish()
    }
}

/// What a [`ChatHandler`] method receives: the chat state and the handler's [`Cx`].
///
/// The methods are `async_chat`'s; everything else goes through to the `Cx` (and on
/// to the [`Channel`](crate::Channel)): `chat.close()`, `chat.add(..)`,
/// `chat.handle::<AsyncChat<Me>>()`, `chat.connected`.
pub struct Chat<'c, 'a> {
    state: &'c mut ChatState,
    cx: &'c mut Cx<'a>,
}

impl<'a> Chat<'_, 'a> {
    /// Queues `data` and sends what the socket takes now: Python's `push`. (While
    /// more whole messages of the same read wait to be handled, it is sent with their
    /// replies instead: see [`ChatState::set_coalesce`].)
    ///
    /// Accepts any bytes: `&[u8]`, `Vec<u8>`, `&str`, `String`, `Box<[u8]>`, arrays
    /// (see [`Output`]). Borrowed bytes are copied; an owned buffer is moved, so
    /// pushing a whole file read into a `Vec` copies nothing. (Not numbers: where
    /// Python raises `TypeError`, this does not compile.) Empty data queues nothing.
    /// Nothing is sent before the channel is connected.
    ///
    /// A failure to send is not returned here: the loop hands it to the channel's
    /// `handle_error` once the current handler returns, as Python's `initiate_send`
    /// calls `handle_error`.
    ///
    /// ```compile_fail
    /// # fn f(chat: &mut asyncore::Chat<'_, '_>) {
    /// chat.push(10); // Python: TypeError
    /// # }
    /// ```
    pub fn push<'d>(&mut self, data: impl Into<Output<'d>>) {
        let data = data.into();
        if data.as_bytes().is_empty() {
            return;
        }
        self.state.push(data);
        self.send_now();
    }

    /// Queues a producer, whose chunks are sent in turn once everything queued before
    /// it has been, and starts sending: Python's `push_with_producer`.
    ///
    /// An error from the producer's [`more`](Producer::more) goes to `handle_error`;
    /// the producer stays queued.
    ///
    /// # Examples
    ///
    /// Streaming a file without reading it into memory: a
    /// [`FileProducer`](crate::FileProducer) goes out with `sendfile(2)` where it
    /// can (any other [`std::io::Read`] with a [`ReadProducer`](crate::ReadProducer)):
    ///
    /// ```no_run
    /// use asyncore::{Chat, FileProducer};
    ///
    /// fn send_log(chat: &mut Chat<'_, '_>) -> std::io::Result<()> {
    ///     let file = std::fs::File::open("/var/log/big.log")?;
    ///     chat.push(b"200 OK\r\n\r\n");
    ///     chat.push_with_producer(FileProducer::new(file)?);
    ///     chat.close_when_done();
    ///     Ok(())
    /// }
    /// ```
    pub fn push_with_producer(&mut self, producer: impl Producer + 'static) {
        self.state.push_with_producer(producer);
        self.send_now();
    }

    /// [`ChatState::close_when_done`]; if nothing is queued before it, the channel's
    /// `handle_close` runs when the current handler returns.
    pub fn close_when_done(&mut self) {
        self.state.close_when_done();
        self.send_now();
    }

    /// Sends what is queued, unless more messages of the same read follow (then it is
    /// noted as held, and sent by [`release`](Chat::release)).
    fn send_now(&mut self) {
        if self.state.corked {
            self.state.held = true;
            return;
        }
        self.state.held = false;
        if let Err(err) = self.initiate_send() {
            self.state.fail(self.cx, err);
        }
    }

    /// Stops holding pushes back and offers what was held to the socket: at the end
    /// of a read, and before anything that would drop it (close, discard).
    fn release(&mut self) {
        self.state.corked = false;
        if std::mem::take(&mut self.state.held) && self.cx.is_open() {
            self.send_now();
        }
    }

    /// Closes the channel after handing what is queued to the socket: Python's
    /// `close()` in a chat handler (whose `push` sent already). What the socket does
    /// not take is dropped, as in Python; [`close_when_done`](Chat::close_when_done)
    /// delivers everything.
    pub fn close(&mut self) {
        // What coalescing held back is sent now, as Python's pushes would have been.
        self.release();
        self.cx.close();
    }

    /// Sends from the output FIFO until the socket would block or the FIFO is empty
    /// (or, so that other channels get their turn, until 16 times
    /// `ac_out_buffer_size` bytes have been sent; the loop calls `handle_write` again
    /// for the rest). Python's `initiate_send`; the default `handle_write`.
    ///
    /// Reaching a [`close_when_done`](Chat::close_when_done) marker makes the loop
    /// call `handle_close` when the current handler returns.
    ///
    /// # Errors
    ///
    /// A socket failure other than would-block or a disconnect (a disconnect makes
    /// the loop call `handle_close`), or a producer's error.
    pub fn initiate_send(&mut self) -> Result<()> {
        let budget = self
            .state
            .ac_out_buffer_size
            .max(1)
            .saturating_mul(BUDGET_BUFFERS);
        self.state.write(self.cx, budget)
    }

    /// Sends what is queued as far as the socket takes it now, without blocking and
    /// without the fairness limit of [`initiate_send`](Chat::initiate_send):
    /// `astm.asynclib`'s `flush`.
    ///
    /// # Errors
    ///
    /// As for [`initiate_send`](Chat::initiate_send).
    pub fn flush(&mut self) -> Result<()> {
        self.state.write(self.cx, usize::MAX)
    }

    /// True while anything is queued for output (bytes, a producer or a close marker)
    /// or the channel is still connecting: Python's `writable` for `async_chat`, and
    /// the default [`ChatHandler::writable`].
    pub fn writable(&self) -> bool {
        self.state.has_output() || self.cx.connecting
    }

    /// [`ChatState::set_terminator`].
    ///
    /// # Errors
    ///
    /// As there.
    pub fn set_terminator(&mut self, term: impl Into<Terminator>) -> Result<()> {
        self.state.set_terminator(term)
    }

    /// [`ChatState::get_terminator`].
    pub fn get_terminator(&self) -> &Terminator {
        self.state.get_terminator()
    }

    /// [`ChatState::set_input_limit`].
    pub fn set_input_limit(&mut self, limit: Option<usize>) {
        self.state.set_input_limit(limit);
    }

    /// [`ChatState::discard_buffers`]. Pushes that coalescing held back (see
    /// [`ChatState::set_coalesce`]) are handed to the socket first, as Python's
    /// `push` would have done; what it does not take is dropped with the rest.
    pub fn discard_buffers(&mut self) {
        self.release();
        self.state.discard_buffers();
    }

    /// [`ChatState::has_output`].
    pub fn has_output(&self) -> bool {
        self.state.has_output()
    }

    /// [`ChatState::pending_bytes`].
    pub fn pending_bytes(&self) -> usize {
        self.state.pending_bytes()
    }

    /// The chat state.
    pub fn state(&self) -> &ChatState {
        self.state
    }

    /// The chat state, mutably (buffer sizes, ...).
    pub fn state_mut(&mut self) -> &mut ChatState {
        self.state
    }

    /// The handler's context. Replies held back for pipelined messages are sent
    /// first, so that what is done through it (a `send`, a `close`) comes after them.
    pub fn cx(&mut self) -> &mut Cx<'a> {
        if self.state.held {
            self.release();
        }
        self.cx
    }

    /// Reports `err` to `handle_error` once the current handler returns (for a
    /// method that cannot return an error, such as `collect_incoming_data`).
    pub fn fail(&mut self, err: Error) {
        self.state.fail(self.cx, err);
    }
}

impl<'a> Deref for Chat<'_, 'a> {
    type Target = Cx<'a>;
    #[inline]
    fn deref(&self) -> &Cx<'a> {
        self.cx
    }
}

impl<'a> DerefMut for Chat<'_, 'a> {
    /// As [`Chat::cx`]: held replies go out before anything done through the `Cx`.
    #[inline]
    fn deref_mut(&mut self) -> &mut Cx<'a> {
        if self.state.held {
            self.release();
        }
        self.cx
    }
}

impl fmt::Debug for Chat<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chat")
            .field("cx", &*self.cx)
            .field("state", &*self.state)
            .finish()
    }
}

/// The methods of a Python `async_chat` subclass.
///
/// Implement [`collect_incoming_data`](ChatHandler::collect_incoming_data) and
/// [`found_terminator`](ChatHandler::found_terminator); every other method has
/// `async_chat`'s behaviour and may be overridden. A handler that overrides
/// `handle_read` needs neither. Wrap it in [`AsyncChat`] and add that to a map.
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
///             self.close()
///         else:
///             self.push(line.upper() + b"\r\n")
/// ```
///
/// and in Rust:
///
/// ```
/// use asyncore::{AsyncChat, Channel, Chat, ChatHandler, Map, Result};
///
/// struct Shout {
///     buffer: Vec<u8>,
/// }
///
/// impl ChatHandler for Shout {
///     fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
///         self.buffer.extend_from_slice(data);
///     }
///
///     fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
///         let line = std::mem::take(&mut self.buffer);
///         if line == b"QUIT" {
///             chat.push(b"bye\r\n");
///             chat.close(); // the reply was handed to the socket first
///         } else {
///             chat.push(line.to_ascii_uppercase());
///             chat.push(b"\r\n");
///         }
///         Ok(())
///     }
/// }
///
/// fn shout(sock: std::net::TcpStream) -> Result<(Channel, AsyncChat<Shout>)> {
///     let mut chat = AsyncChat::new(Shout { buffer: Vec::new() });
///     chat.set_terminator(b"\r\n")?;
///     chat.set_input_limit(Some(4096)); // Python has no limit
///     Ok((Channel::from_socket(sock)?, chat))
/// }
///
/// // Drive it with a plain blocking client.
/// use std::io::{Read, Write};
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let mut client = std::net::TcpStream::connect(listener.local_addr()?)?;
/// let map = Map::new()?;
/// let (chan, chat) = shout(listener.accept()?.0)?;
/// map.add(chan, chat)?;
///
/// client.write_all(b"hello\r\nQUIT\r\n")?;
/// // The handler closes itself after "bye", which empties the map and ends the loop.
/// map.run(std::time::Duration::from_millis(10), 500)?;
/// let mut answer = String::new();
/// client.read_to_string(&mut answer)?;
/// assert_eq!(answer, "HELLO\r\nbye\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Notes
///
/// * Python calls `self.push(...)`; here the methods are on the [`Chat`] each
///   handler method receives: `chat.push(...)`.
/// * Bytes passed to `collect_incoming_data` are borrowed from a buffer reused for
///   the next read: copy what you keep.
/// * A Python override that calls the base method (`async_chat.handle_read(self)`)
///   calls the default here: [`default_handle_read`] for `handle_read`,
///   [`Chat::initiate_send`] for `handle_write`, [`Chat::writable`] for `writable`.
/// * Python's `close()` override becomes [`on_close`](ChatHandler::on_close), which
///   runs once the channel has closed, whoever closed it.
/// * Differences from Python: bytes only (no `use_encoding`); once the channel is
///   closed, the rest of a read is not handed to the handler; an error while sending
///   reaches `handle_error` when the current handler returns rather than inside
///   `push`.
pub trait ChatHandler: 'static {
    /// Data that precedes the terminator (never empty; possibly only part of it, the
    /// rest comes in later calls). Python requires subclasses to define it; the
    /// default reports [`Error::NotImplemented`] to `handle_error`, which closes the
    /// channel.
    #[doc(alias = "pull")]
    fn collect_incoming_data(&mut self, chat: &mut Chat<'_, '_>, data: &[u8]) {
        let _ = data;
        chat.fail(Error::NotImplemented("collect_incoming_data"));
    }

    /// The terminator was reached: the message collected so far is complete. A
    /// [`set_terminator`](Chat::set_terminator) here applies to the rest of the data
    /// already read. An `Err` goes to [`handle_error`](ChatHandler::handle_error); the
    /// rest of the read is kept for the next one. Default: [`Error::NotImplemented`],
    /// as Python raises `NotImplementedError`.
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        let _ = chat;
        Err(Error::NotImplemented("found_terminator"))
    }

    /// Whether the channel wants to read now. Default: `true`.
    fn readable(&mut self, chat: &mut Chat<'_, '_>) -> bool {
        let _ = chat;
        true
    }

    /// Whether the channel wants to write now. Default: anything is queued or the
    /// channel is still connecting ([`Chat::writable`]).
    fn writable(&mut self, chat: &mut Chat<'_, '_>) -> bool {
        chat.writable()
    }

    /// Data arrived. Default: [`default_handle_read`], which reads up to
    /// `ac_in_buffer_size` bytes and splits them by the terminator.
    fn handle_read(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        default_handle_read(self, chat)
    }

    /// The socket can take data. Default: [`Chat::initiate_send`].
    fn handle_write(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        chat.initiate_send()
    }

    /// A connect succeeded. Default: log "unhandled connect event" (when
    /// [shown](crate::log_unhandled_events)).
    fn handle_connect(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        chat.log_unhandled("connect event");
        Ok(())
    }

    /// Priority data or an exceptional condition. Default: log "unhandled incoming
    /// priority event" (when [shown](crate::log_unhandled_events)).
    fn handle_expt(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        chat.log_unhandled("incoming priority event");
        Ok(())
    }

    /// The peer closed the connection, or a
    /// [`close_when_done`](Chat::close_when_done) marker was reached. Default:
    /// [`close`](Cx::close) (`async_chat` logs nothing here).
    fn handle_close(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        chat.close();
        Ok(())
    }

    /// A handler failed or panicked, or the input went past its limit
    /// ([`Error::InputTooLong`]). Default: log the failure at error level, then
    /// [`handle_close`](ChatHandler::handle_close) (and close the channel if that
    /// fails too).
    fn handle_error(&mut self, chat: &mut Chat<'_, '_>, err: Error) {
        crate::dispatcher::log_uncaptured(chat, &err);
        if let Err(e) = self.handle_close(chat) {
            log::error!("handle_close failed after an error: {e}");
            chat.close();
        }
    }

    /// The channel has closed (see [`Dispatcher::on_close`]); what was queued for
    /// it has been dropped. Default: nothing.
    fn on_close(&mut self, chat: &mut Chat<'_, '_>) {
        let _ = chat;
    }
}

/// `async_chat.handle_read`: the default [`ChatHandler::handle_read`], for overrides
/// that do something and then call the base method.
///
/// Reads up to `ac_in_buffer_size` bytes (after the bytes kept from the last read)
/// and splits them by the terminator, calling `collect_incoming_data` and
/// `found_terminator`; a terminator set in `found_terminator` applies to the rest. It
/// stops early if the handler closes the channel or calls
/// [`discard_buffers`](Chat::discard_buffers).
///
/// A read that would block does nothing; a read of 0 bytes (the peer closed) leaves
/// the rest to the loop, which calls `handle_close`.
///
/// # Errors
///
/// A failed read; [`Error::InputTooLong`] past the input limit (the rest of the read is
/// dropped); the first error of `found_terminator` (the rest of the read is kept).
pub fn default_handle_read<H: ChatHandler + ?Sized>(
    handler: &mut H,
    chat: &mut Chat<'_, '_>,
) -> Result<()> {
    let want = chat.state.ac_in_buffer_size.max(1);
    let kept = chat.state.kept.len();
    let mut buf = crate::read_buf::ReadBuf::take(kept + want);
    buf.0[..kept].copy_from_slice(&chat.state.kept);
    let n = match chat.cx.recv_into(&mut buf.0[kept..kept + want]) {
        Ok(n) => n,
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if n == 0 {
        return Ok(()); // the peer closed; handle_close is due
    }
    chat.state.kept.clear();
    let end = kept + n;
    let epoch = chat.state.discards;

    let mut pos = 0;
    let mut keep_rest = true;
    // Where the look-ahead below found the next terminator: the next scan starts
    // from the same place and need not search again.
    let mut peeked = None;
    let result = loop {
        if pos == end {
            break Ok(());
        }
        if chat.state.discards != epoch || !chat.cx.is_open() || chat.state.error.is_some() {
            keep_rest = false;
            break Ok(());
        }
        let step = match chat
            .state
            .splitter
            .scan_peeked(&buf.0[pos..end], peeked.take())
        {
            Ok(step) => step,
            Err(err) => {
                keep_rest = false;
                break Err(err);
            }
        };
        let data = &buf.0[pos..pos + step.data];
        pos += step.consumed;
        if !data.is_empty() {
            handler.collect_incoming_data(chat, data);
        }
        if !step.found {
            break Ok(());
        }
        // `collect_incoming_data` closed the channel or failed: no `found_terminator`.
        if chat.state.error.is_some() || !chat.cx.is_open() {
            keep_rest = false;
            break Ok(());
        }
        // More whole messages behind this one: its pushes go out with theirs.
        chat.state.corked = chat.state.coalesce && {
            let (more, at) = chat.state.splitter.peek(&buf.0[pos..end]);
            peeked = at;
            more
        };
        if let Err(err) = handler.found_terminator(chat) {
            break Err(err);
        }
    };
    // The replies held for the read's pipelined messages go out now, even if the last
    // message pushed nothing or failed.
    chat.release();

    let state = &mut *chat.state;
    if state.discards != epoch || !chat.cx.is_open() {
        keep_rest = false;
    }
    if keep_rest {
        state.kept.extend_from_slice(&buf.0[pos..end]);
    }
    if state.kept.is_empty() && state.kept.capacity() > 256 {
        state.kept = Vec::new();
    }
    result
}

/// The one [`Dispatcher`] for chat channels: each handler builds a [`Chat`] and calls
/// the [`ChatHandler`] method of the same name.
impl<H: ChatHandler> Dispatcher for AsyncChat<H> {
    fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
        let (h, mut chat) = self.chat(cx);
        h.readable(&mut chat)
    }

    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        let (h, mut chat) = self.chat(cx);
        h.writable(&mut chat)
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let (h, mut chat) = self.chat(cx);
        h.handle_read(&mut chat)
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let (h, mut chat) = self.chat(cx);
        h.handle_write(&mut chat)
    }

    fn handle_expt(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let (h, mut chat) = self.chat(cx);
        h.handle_expt(&mut chat)
    }

    fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let (h, mut chat) = self.chat(cx);
        h.handle_connect(&mut chat)
    }

    /// A failure waiting from `push` (or a missing handler method) goes to
    /// `handle_error` instead.
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if let Some(err) = self.state.error.take() {
            // `handle_error` decides; an override that keeps the channel sends again.
            self.state.closing = false;
            return Err(err);
        }
        let (h, mut chat) = self.chat(cx);
        let r = h.handle_close(&mut chat);
        // An override that keeps the channel open sends again.
        self.state.closing = false;
        r
    }

    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        let (h, mut chat) = self.chat(cx);
        h.handle_error(&mut chat, err);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>) {
        self.state.fifo.clear();
        self.state.kept = Vec::new();
        self.state.error = None;
        let (h, mut chat) = self.chat(cx);
        h.on_close(&mut chat);
    }
}
