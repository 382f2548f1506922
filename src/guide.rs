//! Porting a Python asyncore program: a step-by-step guide and a name-by-name map.
//!
//! # Step by step
//!
//! Take the echo server from Python's asyncore docs:
//!
//! ```python
//! class EchoHandler(asyncore.dispatcher_with_send):
//!     def handle_read(self):
//!         data = self.recv(8192)
//!         if data:
//!             self.send(data)
//!
//! class EchoServer(asyncore.dispatcher):
//!     def __init__(self, host, port):
//!         asyncore.dispatcher.__init__(self)
//!         self.create_socket()
//!         self.set_reuse_addr()
//!         self.bind((host, port))
//!         self.listen(5)
//!
//!     def handle_accepted(self, sock, addr):
//!         handler = EchoHandler(sock)
//!
//! server = EchoServer('localhost', 8080)
//! asyncore.loop()
//! ```
//!
//! 1. **A class becomes a struct holding only its own state**, and an `impl`
//!    [`Dispatcher`] with the handlers the Python class defined. The socket half of
//!    Python's `dispatcher` is a [`Channel`], which the map keeps beside it.
//! 2. **`self` becomes `cx`** for everything that was inherited: every handler gets a
//!    [`Cx`], which dereferences to the channel, so `self.send(data)` is
//!    `cx.send(data)`, `self.connected` is `cx.connected`, `self.close()` is
//!    [`cx.close()`](Cx::close). Your own attributes stay on `self`.
//! 3. **`__init__` becomes a constructor** that creates the socket on a channel; the
//!    pair joins the map with [`Map::add`](crate::Map::add)`(channel, dispatcher)`
//!    (Python's constructor did both).
//! 4. **Handlers return [`Result`](crate::Result)**: `?` passes failures to
//!    `handle_error`, as an exception would.
//! 5. **`handle_accepted(sock, addr)`** wraps the socket with
//!    [`Channel::accepted`]`(sock, addr)` (Python's `dispatcher(sock)`; for any other
//!    socket [`Channel::from_socket`]) and adds it with its handler:
//!    [`cx.add(channel, handler)?`](Cx::add).
//! 6. **`asyncore.loop()`** is [`loop_`](crate::loop_)`(timeout, use_poll, map, count)`.
//!
//! ```
//! use std::net::SocketAddr;
//! use asyncore::{Channel, Cx, Dispatcher, DispatcherWithSend, Domain, Result, SockAddr, Socket, Type};
//!
//! struct EchoHandler;
//!
//! impl Dispatcher for EchoHandler {
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let data = cx.recv(8192)?;
//!         if !data.is_empty() {
//!             cx.send(&data)?; // dispatcher_with_send: queued, sent as the socket takes it
//!         }
//!         Ok(())
//!     }
//! }
//!
//! struct EchoServer;
//!
//! impl EchoServer {
//!     fn listen(addr: SocketAddr) -> std::io::Result<Channel> {
//!         let mut chan = Channel::new();
//!         chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
//!         chan.set_reuse_addr();
//!         chan.bind(addr)?;
//!         chan.listen(5)?;
//!         Ok(chan)
//!     }
//! }
//!
//! impl Dispatcher for EchoServer {
//!     fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
//!         cx.add(Channel::accepted(sock, addr)?, DispatcherWithSend::new(EchoHandler))?;
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let server = asyncore::add(EchoServer::listen("127.0.0.1:0".parse()?)?, EchoServer)?;
//! // asyncore::loop_(std::time::Duration::from_secs(30), false, None, None)?;
//! # server.close();
//! # Ok(())
//! # }
//! ```
//!
//! # Patterns a real port needs
//!
//! - **Push, then close.** Python's `push(reply); close()` delivers the reply, because
//!   `push` sends at once. So does [`Chat::push`](crate::Chat::push) here: what the
//!   socket takes is on the wire before `close()`. To have *everything* delivered
//!   however slow the peer, use [`close_when_done`](crate::Chat::close_when_done).
//! - **Push, then block.** Python's FTP `cmd_pasv` pushes `227 ...` and then blocks in
//!   `accept()` on a helper listener; the reply is already sent, so the client can
//!   connect. The same holds here, unless more commands were pipelined behind it in
//!   the same read (their replies are sent together, see
//!   [`ChatState::set_coalesce`](crate::ChatState::set_coalesce)): call
//!   [`chat.initiate_send()`](crate::Chat::initiate_send) before blocking to be sure.
//! - **A channel that opens another** (an FTP data connection, a proxy's upstream):
//!   create a [`Channel`], `connect` it, and [`cx.add(chan, handler)`](Cx::add) from
//!   the handler; keep the returned [`Handle`](crate::Handle).
//! - **Two channels that refer to each other** (control and data): the longer-lived
//!   side holds a strong [`Handle`](crate::Handle), the other a
//!   [`WeakHandle`](crate::WeakHandle) ([`Handle::downgrade`](crate::Handle::downgrade));
//!   strong handles both ways form a cycle and neither is ever freed. A handle to the
//!   running dispatcher itself is [`cx.handle::<Self>()`](Cx::handle).
//! - **Cleanup on close.** Python overrides `close()` to close a data channel too;
//!   here [`on_close`](Dispatcher::on_close) runs once the channel has closed,
//!   whoever closed it.
//! - **Calling into another channel.** `handle.borrow_mut()` gives its state (and has
//!   the loop look at it again); [`Handle::with`](crate::Handle::with) also gives its
//!   `Cx`, to send or push to it at once.

//! # Porting an asynchat server
//!
//! The `ftp_server` example (`examples/ftp_server.rs`) is CPython's `test_ftplib`
//! dummy server ported, and `tests/ftp_server.rs` drives it with Python's own
//! `ftplib`: every pattern below runs in CI against the real client. Here is how its
//! pieces map from the Python.
//!
//! **The control channel** is an `async_chat` on CRLF lines. Its state is a struct;
//! its methods are a [`ChatHandler`](crate::ChatHandler); the server's accept handler
//! wraps it in an [`AsyncChat`](crate::AsyncChat), sets the terminator, pushes the
//! greeting and adds it:
//!
//! ```rust,ignore
//! fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
//!     let mut chat = AsyncChat::new(Control::new(self.store.clone()));
//!     chat.set_terminator("\r\n")?;
//!     chat.push("220 asyncore FTP server ready\r\n"); // sent once the channel is added
//!     cx.add(Channel::accepted(sock, addr)?, chat)?;
//!     Ok(())
//! }
//! ```
//!
//! **Commands** arrive in `found_terminator`, with a [`Chat`](crate::Chat) where Python
//! had `self`: `chat.push(..)`, `chat.close()`. `QUIT` is Python's push-then-close,
//! and the reply arrives, because `push` hands it to the socket at once:
//!
//! ```rust,ignore
//! "QUIT" => {
//!     chat.push("221 goodbye\r\n");
//!     chat.close();
//! }
//! ```
//!
//! **An outgoing data connection** (`PORT`): create a channel, connect it, and add it
//! with its own chat handler from inside the control channel's handler. Keep the
//! returned handle; the data channel gets a *weak* handle back, so the pair does not
//! keep itself alive:
//!
//! ```rust,ignore
//! let mut chan = Channel::new();
//! chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
//! chan.connect(addr)?;
//! let control = chat.handle::<AsyncChat<Control>>().map(|h| h.downgrade()).unwrap_or_default();
//! self.data = Some(chat.add(chan, AsyncChat::new(Data { control, .. }))?);
//! ```
//!
//! **A helper listener** (`PASV`): Python's dummy blocks in `accept()`; the example
//! adds a small listening dispatcher instead, which accepts one connection, closes
//! itself, and hands the new data channel to the control channel through
//! [`Handle::with`](crate::Handle::with), which runs a method of the control channel
//! with its own context (so what it pushes is sent at once):
//!
//! ```rust,ignore
//! fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
//!     cx.close(); // one connection per PASV
//!     let Some(control) = self.control.upgrade() else { return Ok(()) };
//!     let data = cx.add(Channel::accepted(sock, addr)?, AsyncChat::new(Data { .. }))?;
//!     control.with(|c, ccx| {
//!         let (handler, mut chat) = c.chat(ccx);
//!         handler.data_connected(&mut chat, data);
//!     });
//!     Ok(())
//! }
//! ```
//!
//! (Blocking in `accept()` as Python does also works, since the `227` reply is on the
//! wire before the block, `tests/async_chat.rs` pins it, unless commands are
//! pipelined behind `PASV`: see "Push, then block" above. It stalls the whole loop,
//! though, so a port is better off with the listener.)
//!
//! **Sending a file** on the data channel: push it as a producer, then
//! `close_when_done()`, which closes once everything queued before it has gone out.
//! **Cleanup** that Python does in a `close()` override goes in
//! [`on_close`](Dispatcher::on_close): the control channel closes its data channel and
//! listener there, whoever ended the session; the data channel reports "226" to the
//! control channel from its own `on_close`.
//!
//! **Untrusted input**: cap the line in `collect_incoming_data` and answer an
//! over-long one in `found_terminator`, so the session goes on and nothing after the
//! line is lost; stop reading (`readable` false) while unsent replies pile up.
//!
//! # Python names, Rust names
//!
//! ## asyncore
//!
//! | Python | Rust |
//! |---|---|
//! | `asyncore.loop(timeout, use_poll, map, count)` | [`loop_`](crate::loop_)`(timeout, use_poll, map, count)`, timeout a `Duration` or `None`, count a number or `None`; [`Map::run`](crate::Map::run) |
//! | `asyncore.poll(timeout, map)`, `poll2` | [`Map::poll`](crate::Map::poll) (one pass) |
//! | `asyncore.socket_map` | [`Map::global`](crate::Map::global) |
//! | a map `{}` passed as `map=` | [`Map::new`](crate::Map::new) |
//! | `asyncore.close_all(map, ignore_all)` | [`close_all`](crate::close_all) |
//! | `asyncore.ExitNow` | [`Error::ExitNow`](crate::Error::ExitNow), returned from a handler; or [`Cx::exit`] |
//! | `class X(asyncore.dispatcher)` | a struct with your state, `impl Dispatcher for X` |
//! | `self` (the inherited part) | the [`Cx`] each handler receives |
//! | `dispatcher(sock, map)` | [`Channel::from_socket`] then [`Map::add`](crate::Map::add)`(chan, x)`, or [`Cx::add`] in a handler |
//! | `dispatcher.add_channel(map)` | [`Map::add`](crate::Map::add), [`add`](crate::add) (global map) |
//! | `dispatcher.del_channel()` | [`Cx::del_channel`] |
//! | `self._map` | [`Cx::map`] |
//! | `create_socket(family, type)` | [`Channel::create_socket`]`(Domain, Type)` |
//! | `set_socket(sock)` | [`Channel::set_socket`] |
//! | `set_reuse_addr()` | [`Channel::set_reuse_addr`] |
//! | `bind(addr)`, `listen(n)` | [`Channel::bind`], [`Channel::listen`] |
//! | `connect(addr)` | [`Channel::connect`] |
//! | `accept()` | [`Channel::accept`] (`Ok(None)` when nothing waits) |
//! | `send(data)` | [`Channel::send`] (0 when it would block), [`Channel::send_vectored`] |
//! | `recv(n)` | [`Channel::recv`] (allocates), [`Channel::recv_into`] (your buffer); empty / 0: closed |
//! | `close()` | [`Cx::close`] in a handler, [`Handle::close`](crate::Handle::close) elsewhere |
//! | overriding `close()` for cleanup | [`Dispatcher::on_close`] |
//! | `connected`, `accepting`, `connecting` | the same fields of [`Channel`] (`cx.connected`) |
//! | `addr` | [`Channel::addr`] (`cx.addr()`) |
//! | `readable()`, `writable()` | [`Dispatcher::readable`], [`Dispatcher::writable`] |
//! | `handle_read/write/expt/connect/close/accept` | the same methods of [`Dispatcher`] |
//! | `handle_accepted(sock, addr)` | [`Dispatcher::handle_accepted`]`(cx, Socket, SockAddr)` |
//! | `handle_error()` | [`Dispatcher::handle_error`]`(cx, Error)` |
//! | `log(msg)`, `log_info(msg, type)` | [`Cx::log`], [`Cx::log_info`] (the `log` crate) |
//! | `ignore_log_types` | [`log_unhandled_events`](crate::log_unhandled_events) (off by default, as in Python) |
//! | `compact_traceback()` | the description `handle_error` logs: type, channel, failure and, for a panic, the handler it happened in |
//! | `dispatcher_with_send` | [`DispatcherWithSend`](crate::DispatcherWithSend)`::new(handler)`: `cx.send` then buffers |
//! | `file_wrapper`, `file_dispatcher(fd)` | [`FileWrapper`](crate::FileWrapper), [`Channel::from_file`] (pipes, terminals, regular files) |
//! | `repr(dispatcher)` | `{:?}` of a [`Channel`]: `Channel(listening 127.0.0.1:8080, fd 5)` |
//!
//!
//! ## asynchat
//!
//! | Python | Rust |
//! |---|---|
//! | `class X(asynchat.async_chat)` | a struct with your state, `impl` [`ChatHandler`](crate::ChatHandler); add [`AsyncChat::new(x)`](crate::AsyncChat::new) with its channel |
//! | `async_chat(sock, map)` | `map.add(Channel::from_socket(sock)?, AsyncChat::new(x))` |
//! | `self` (the inherited part) | the [`Chat`](crate::Chat) each method receives (it dereferences to the [`Cx`]) |
//! | `collect_incoming_data(data)`, `found_terminator()` | the same methods of [`ChatHandler`](crate::ChatHandler) |
//! | `set_terminator(t)`, `get_terminator()` | [`Chat::set_terminator`](crate::Chat::set_terminator) (`b"\r\n"`, a `usize` count, or [`Terminator::None`](crate::Terminator::None); a negative count is [`Error::NegativeTerminator`](crate::Error::NegativeTerminator)), [`Chat::get_terminator`](crate::Chat::get_terminator); before adding: [`AsyncChat::set_terminator`](crate::AsyncChat::set_terminator) |
//! | `push(data)`, `push_with_producer(p)` | [`Chat::push`](crate::Chat::push), [`Chat::push_with_producer`](crate::Chat::push_with_producer): both send at once (replies to pipelined messages together) |
//! | `close_when_done()`, `initiate_send()`, `discard_buffers()` | the same methods of [`Chat`](crate::Chat) |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | the same fields of [`ChatState`](crate::ChatState) (65536) |
//! | `simple_producer(data, buffer_size=512)` | [`simple_producer`](crate::simple_producer), [`SimpleProducer`](crate::SimpleProducer) |
//! | a producer class with `more()` | `impl` [`Producer`](crate::Producer); any reader: [`ReadProducer`](crate::ReadProducer) |
//! | pyftpdlib's `FileProducer` / `sendfile` for `RETR` | [`FileProducer`](crate::FileProducer) (`sendfile(2)` on Linux and Android); from a plain dispatcher [`FileProducer::send_to`](crate::FileProducer::send_to) or [`Channel::send_file`](crate::Channel::send_file) |
//! | `find_prefix_at_end(haystack, needle)` | [`find_prefix_at_end`](crate::find_prefix_at_end) |
//! | `async_chat.handle_read(self)` from an override | [`default_handle_read`](crate::default_handle_read)`(self, chat)` |
//! | astm's `flush()`, `pull(data)` | [`Chat::flush`](crate::Chat::flush), [`collect_incoming_data`](crate::ChatHandler::collect_incoming_data) |
//! | (none: unbounded) | [`ChatState::set_input_limit`](crate::ChatState::set_input_limit): past it, [`Error::InputTooLong`](crate::Error::InputTooLong) and the channel closes |
//!
//! The terminator splitter alone, with no socket, is [`chat::Splitter`](crate::chat::Splitter).
//!
//! ## astm.asynclib: scheduled tasks
//!
//! | Python | Rust |
//! |---|---|
//! | `loop(timeout, map, tasks, count)` | [`loop_with_tasks`](crate::loop_with_tasks); [`loop_`](crate::loop_) runs the global tasks too |
//! | `call_later(delay, cb)` | [`call_later`](crate::call_later), [`Tasks::call_later`](crate::Tasks::call_later); repeating: [`call_every`](crate::call_every) |
//! | a delayed call's `call()`, `reset()`, `delay(s)`, `cancel()`, `active()` | [`TaskHandle::call_now`](crate::TaskHandle::call_now), [`reset`](crate::TaskHandle::reset), [`delay`](crate::TaskHandle::delay) (pushes the deadline later by `s`), [`cancel`](crate::TaskHandle::cancel), [`is_pending`](crate::TaskHandle::is_pending) |
//! | (another thread calling `push()`: a data race) | [`Map::loop_handle`](crate::Map::loop_handle): [`LoopHandle::call`](crate::LoopHandle::call), [`wake`](crate::LoopHandle::wake), [`exit`](crate::LoopHandle::exit) |
//!
//! ## asycamore.tcpsocket
//!
//! | Python | Rust |
//! |---|---|
//! | `connect_tcp(o, address)` | [`tcpsocket::connect_tcp`](crate::tcpsocket::connect_tcp) |
//! | `listen_tcp(o, ip, port, backlog)` | [`tcpsocket::listen_tcp`](crate::tcpsocket::listen_tcp) |
//! | `server_accept(state, factory, closer)`, `AcceptingSocket` | [`tcpsocket::server_accept`](crate::tcpsocket::server_accept), [`tcpsocket::AcceptingSocket`](crate::tcpsocket::AcceptingSocket) |
//! | `socket_reader(sock, sentinel, buffer_size)`, `socket_writer` | [`tcpsocket::socket_reader`](crate::tcpsocket::socket_reader), [`tcpsocket::socket_writer`](crate::tcpsocket::socket_writer) |
//! | `write_iterable(o, iterable, for_each, before_and_after)` | [`tcpsocket::write_iterable`](crate::tcpsocket::write_iterable) |
//! | `data_reader(o, for_each)` | [`tcpsocket::data_reader`](crate::tcpsocket::data_reader) |
//! | `getsockerr(s)` | [`tcpsocket::getsockerr`](crate::tcpsocket::getsockerr) |
//! | `HTTPClientSocket` | [`http::HttpClient`](crate::http::HttpClient) |
//!
//! # What differs from Python, and why
//!
//! - **Handlers return `Result`** instead of raising; a panic is caught and treated as
//!   an exception would be (`handle_error`), so one channel's bug costs that channel.
//! - **`handle_close` after `send`/`recv` finds the peer gone** runs when the current
//!   handler returns, not inside the call: the handler is borrowed while it runs. The
//!   same holds for a failure inside `push` (it reaches `handle_error` then) and for
//!   [`on_close`](Dispatcher::on_close) after `cx.close()`.
//! - **An immediate connect** is reported by the loop's next pass, the same way as one
//!   that completes later.
//! - **Predicates** are consulted for the channels whose answer can matter each pass
//!   (see [`event_loop`](crate::event_loop)); [`Map::set_consult_all`](crate::Map::set_consult_all)
//!   restores Python's "every channel, every pass".
//! - **One dispatch per channel per pass**, as in Python, unless you raise
//!   [`Map::set_dispatch_budget`](crate::Map::set_dispatch_budget) (servers: 16, for
//!   throughput; only the interleaving of busy channels differs).
//! - **Replies to pipelined messages** of one read are sent together, once the read's
//!   last message is handled, instead of one write per `push`
//!   ([`ChatState::set_coalesce`](crate::ChatState::set_coalesce)`(false)` for
//!   Python's timing). Only timing shows it, or a handler that blocks after a push.
//! - **Once a chat channel is closed**, the rest of the read is not handed to its
//!   handler (Python goes on calling `found_terminator` on a closed channel).
//! - **A reset is not an orderly close**: [`Channel::disconnect`] tells them apart,
//!   and a reset channel that `handle_close` keeps open is closed by the loop.
//! - **Out of descriptors, `accept` returns `Ok(None)`** and accepting pauses
//!   briefly; Python's raises and its default `handle_error` closes the listener.
//! - **Priority data** reaches `handle_expt` once per arrival, where Python's
//!   level-triggered `select` would call it on every pass until the byte is read.
//! - **Threads**: maps and handles are `!Send`; a handler's state cannot be touched
//!   from another thread by mistake. Use a [`LoopHandle`](crate::LoopHandle).
//! - **Reconnecting** with `cx.close(); cx.create_socket(..); cx.connect(addr)` works
//!   inside a handler (the dispatcher stays in its map); outside the loop, add a new
//!   channel instead.
//! - **Strong references both ways leak**, as cycles do in Python without its cycle
//!   collector: hold a [`WeakHandle`](crate::WeakHandle) on one side.

#[allow(unused_imports)]
use crate::{Channel, Cx, Dispatcher};
