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
//! 1. **A class becomes a struct holding a [`Channel`]**, the socket half of Python's
//!    `dispatcher`, and an `impl` [`Dispatcher`] with the two accessors. Python's
//!    `self.send(...)` becomes `self.chan.send(...)`.
//! 2. **`__init__` becomes a constructor** that creates the socket on the channel; the
//!    object joins the map when you [`add`](crate::Map::add) it (Python's constructor
//!    did both).
//! 3. **Handlers return [`Result`](crate::Result)**: `?` passes failures to
//!    `handle_error`, as an exception would. Override only what the Python class did.
//! 4. **`handle_accepted(sock, addr)`** wraps the socket with
//!    [`Channel::from_socket`] (Python's `dispatcher(sock)`) and adds the handler to the
//!    listener's map.
//! 5. **`asyncore.loop()`** is [`loop_`](crate::loop_)`(timeout, use_poll, map, count)`.
//!
//! ```
//! use std::net::SocketAddr;
//! use asyncore::{Channel, Dispatcher, DispatcherWithSend, Domain, Result, SockAddr, Socket, Type};
//!
//! struct EchoHandler {
//!     out: DispatcherWithSend,
//! }
//!
//! impl Dispatcher for EchoHandler {
//!     fn channel(&self) -> &Channel { self.out.channel() }
//!     fn channel_mut(&mut self) -> &mut Channel { self.out.channel_mut() }
//!     fn writable(&mut self) -> bool { self.out.writable() }
//!     fn handle_write(&mut self) -> Result<()> { self.out.handle_write() }
//!
//!     fn handle_read(&mut self) -> Result<()> {
//!         let data = self.out.channel_mut().recv(8192)?;
//!         if !data.is_empty() {
//!             self.out.send(&data)?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! struct EchoServer {
//!     chan: Channel,
//! }
//!
//! impl EchoServer {
//!     fn new(addr: SocketAddr) -> std::io::Result<EchoServer> {
//!         let mut chan = Channel::new();
//!         chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
//!         chan.set_reuse_addr();
//!         chan.bind(addr)?;
//!         chan.listen(5)?;
//!         Ok(EchoServer { chan })
//!     }
//! }
//!
//! impl Dispatcher for EchoServer {
//!     fn channel(&self) -> &Channel { &self.chan }
//!     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
//!
//!     fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
//!         let handler = EchoHandler { out: DispatcherWithSend::new(Channel::from_socket(sock)?) };
//!         self.chan.map().expect("in a map").add(handler)?;
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let server = asyncore::add(EchoServer::new("127.0.0.1:0".parse()?)?)?;
//! // asyncore::loop_(Some(std::time::Duration::from_secs(30)), false, None, None)?;
//! # server.close();
//! # Ok(())
//! # }
//! ```
//!
//! # Python names, Rust names
//!
//! ## asyncore
//!
//! | Python | Rust |
//! |---|---|
//! | `asyncore.loop(timeout, use_poll, map, count)` | [`loop_`](crate::loop_)`(Option<Duration>, bool, Option<&Map>, Option<usize>)`; [`Map::run`](crate::Map::run) |
//! | `asyncore.poll(timeout, map)`, `poll2` | [`Map::poll`](crate::Map::poll) (one pass) |
//! | `asyncore.socket_map` | [`Map::global`](crate::Map::global) |
//! | a map `{}` passed as `map=` | [`Map::new`](crate::Map::new) |
//! | `asyncore.close_all(map, ignore_all)` | [`close_all`](crate::close_all) |
//! | `asyncore.ExitNow` | [`Error::ExitNow`](crate::Error::ExitNow), returned from a handler |
//! | `class X(asyncore.dispatcher)` | a struct holding a [`Channel`], `impl Dispatcher for X` |
//! | `dispatcher(sock, map)` | [`Channel::from_socket`] then [`Map::add`](crate::Map::add) |
//! | `dispatcher.add_channel(map)` | [`Map::add`](crate::Map::add), [`add`](crate::add) (global map) |
//! | `dispatcher.del_channel()` | [`Channel::del_channel`] |
//! | `create_socket(family, type)` | [`Channel::create_socket`]`(Domain, Type)` |
//! | `set_socket(sock)` | [`Channel::set_socket`] |
//! | `set_reuse_addr()` | [`Channel::set_reuse_addr`] |
//! | `bind(addr)`, `listen(n)` | [`Channel::bind`], [`Channel::listen`] |
//! | `connect(addr)` | [`Channel::connect`] |
//! | `accept()` | [`Channel::accept`] (`Ok(None)` when nothing waits) |
//! | `send(data)` | [`Channel::send`] (0 when it would block), [`Channel::send_vectored`] |
//! | `recv(n)` | [`Channel::recv`], [`Channel::recv_into`] (empty / 0: closed) |
//! | `close()` | [`Dispatcher::close`], [`Channel::close`], [`Handle::close`](crate::Handle::close) |
//! | `connected`, `accepting`, `connecting`, `addr` | the same fields of [`Channel`] |
//! | `readable()`, `writable()` | [`Dispatcher::readable`], [`Dispatcher::writable`] |
//! | `handle_read/write/expt/connect/close/accept` | the same methods of [`Dispatcher`] |
//! | `handle_accepted(sock, addr)` | [`Dispatcher::handle_accepted`]`(Socket, SockAddr)` |
//! | `handle_error()` | [`Dispatcher::handle_error`]`(Error)` |
//! | `log(msg)`, `log_info(msg, type)` | [`Dispatcher::log`], [`Dispatcher::log_info`] (the `log` crate) |
//! | `compact_traceback()` | the description `handle_error` logs: type, channel, failure and, for a panic, the handler it happened in |
//! | `dispatcher_with_send` | [`DispatcherWithSend`](crate::DispatcherWithSend) |
//! | `file_wrapper`, `file_dispatcher(fd)` | [`FileWrapper`](crate::FileWrapper), [`Channel::from_file`] |
//! | `repr(dispatcher)` | `{:?}` of a [`Channel`]: `Channel(listening 127.0.0.1:8080, fd 5)` |
//!
//!
//! ## asynchat
//!
//! | Python | Rust |
//! |---|---|
//! | `class X(asynchat.async_chat)` | a struct holding an [`AsyncChat`](crate::AsyncChat), `impl` [`AsyncChatHandler`](crate::AsyncChatHandler) (every `AsyncChatHandler` is a [`Dispatcher`]) |
//! | `async_chat(sock, map)` | [`AsyncChat::from_socket`](crate::AsyncChat::from_socket), then [`Map::add`](crate::Map::add) |
//! | `collect_incoming_data(data)`, `found_terminator()` | the same methods of [`AsyncChatHandler`](crate::AsyncChatHandler) |
//! | `set_terminator(t)`, `get_terminator()` | [`AsyncChat::set_terminator`](crate::AsyncChat::set_terminator) (`b"\r\n"`, a `usize` count, or [`Terminator::None`](crate::Terminator::None); a negative count is [`Error::NegativeTerminator`](crate::Error::NegativeTerminator)), [`AsyncChat::get_terminator`](crate::AsyncChat::get_terminator) |
//! | `push(data)`, `push_with_producer(p)` | [`AsyncChat::push`](crate::AsyncChat::push), [`AsyncChat::push_with_producer`](crate::AsyncChat::push_with_producer) |
//! | `close_when_done()`, `initiate_send()`, `discard_buffers()` | the same methods of [`AsyncChat`](crate::AsyncChat) |
//! | `ac_in_buffer_size`, `ac_out_buffer_size` | the same fields of [`AsyncChat`](crate::AsyncChat) (65536) |
//! | `simple_producer(data, buffer_size=512)` | [`simple_producer`](crate::simple_producer), [`SimpleProducer`](crate::SimpleProducer) |
//! | a producer class with `more()` | `impl` [`Producer`](crate::Producer); a file: [`ReadProducer`](crate::ReadProducer) |
//! | `find_prefix_at_end(haystack, needle)` | [`find_prefix_at_end`](crate::find_prefix_at_end) |
//! | `async_chat.handle_read(self)` from an override | [`default_handle_read`](crate::default_handle_read) |
//! | astm's `flush()`, `pull(data)` | [`AsyncChat::flush`](crate::AsyncChat::flush), [`AsyncChatHandler::pull`](crate::AsyncChatHandler::pull) |
//! | (none: unbounded) | [`AsyncChat::set_input_limit`](crate::AsyncChat::set_input_limit): past it, [`Error::InputTooLong`](crate::Error::InputTooLong) and the channel closes |
//!
//! The terminator splitter alone, with no socket, is [`chat::Splitter`](crate::chat::Splitter).
//!
//! ## astm.asynclib: scheduled tasks
//!
//! | Python | Rust |
//! |---|---|
//! | `loop(timeout, map, tasks, count)` | [`loop_with_tasks`](crate::loop_with_tasks); [`loop_`](crate::loop_) runs the global tasks too |
//! | `call_later(delay, cb)` | [`call_later`](crate::call_later), [`Tasks::call_later`](crate::Tasks::call_later); repeating: [`call_every`](crate::call_every) |
//! | a delayed call's `call()`, `reset()`, `delay(s)`, `cancel()`, `active()` | [`TaskHandle::call_now`](crate::TaskHandle::call_now), [`reset`](crate::TaskHandle::reset), [`delay`](crate::TaskHandle::delay) (pushes the deadline later by `s`), [`cancel`](crate::TaskHandle::cancel), [`active`](crate::TaskHandle::active) |
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
//!   handler returns, not inside the call: the handler is borrowed while it runs.
//! - **An immediate connect** is reported by the loop's next pass, the same way as one
//!   that completes later.
//! - **Predicates** are consulted for the channels whose answer can matter each pass
//!   (see [`event_loop`](crate::event_loop)); [`Map::set_consult_all`](crate::Map::set_consult_all)
//!   restores Python's "every channel, every pass".
//! - **One dispatch per channel per pass** when you step the loop (`loop_` with a
//!   `count`, [`Map::poll`](crate::Map::poll)), as in Python. A free-running loop
//!   (no `count`) serves a busy channel up to 16 times per pass before polling
//!   again, for throughput; only the interleaving of busy channels differs.
//!   [`Map::set_dispatch_budget`](crate::Map::set_dispatch_budget)`(Some(1))` gives
//!   Python's interleaving everywhere.
//! - **Threads**: maps and handles are `!Send`; a handler's state cannot be touched
//!   from another thread by mistake.
//! - **Reconnecting** with `close(); create_socket(); connect(addr)` works inside a
//!   handler (the dispatcher goes back in its map when the handler returns); outside
//!   the loop, add a new dispatcher instead.
//! - **A dispatcher that stores its own [`Map`](crate::Map)** keeps the map alive, and
//!   the map keeps it: use [`Channel::map`] when you need the map.

#[allow(unused_imports)]
use crate::{Channel, Dispatcher};
