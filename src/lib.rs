//! Python's `asyncore` and `asynchat`, ported to Rust.
//!
//! A program is a map of channels, each a [`Channel`] (the socket) driven by a
//! [`Dispatcher`] (your handlers, such as `handle_read`), run by [`loop_`], Python's
//! `asyncore.loop`, over mio's poller. Each handler gets a [`Cx`]: the channel
//! (`cx.send`, `cx.recv`, `cx.connected`) and the loop (`cx.add`, `cx.close`,
//! `cx.handle`). Line- and length-framed protocols use the [`chat`] layer, Python's
//! `asynchat`: input split by terminators, output sent from a FIFO of producers. The
//! names are Python's, so a porter finds `handle_accepted`, `push_with_producer` or
//! `close_when_done` where they expect them; the [`guide`] maps every name.
//!
//! # Example
//!
//! An echo server and a client in one loop, on loopback:
//!
//! ```
//! use std::time::Duration;
//! use asyncore::{Channel, Cx, Dispatcher, Domain, Map, Result, SockAddr, Socket, Type};
//!
//! struct Echo {
//!     pending: Vec<u8>,
//! }
//!
//! impl Dispatcher for Echo {
//!     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
//!         !self.pending.is_empty()
//!     }
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let data = cx.recv(8192)?;
//!         self.pending.extend_from_slice(&data);
//!         Ok(())
//!     }
//!     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let n = cx.send(&self.pending)?;
//!         self.pending.drain(..n);
//!         Ok(())
//!     }
//! }
//!
//! struct Server;
//!
//! impl Dispatcher for Server {
//!     fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
//!         cx.add(Channel::accepted(sock, addr)?, Echo { pending: Vec::new() })?;
//!         Ok(())
//!     }
//! }
//!
//! struct Client {
//!     out: Vec<u8>,
//!     got: Vec<u8>,
//! }
//!
//! impl Dispatcher for Client {
//!     fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
//!         !cx.connected || !self.out.is_empty()
//!     }
//!     fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
//!         Ok(())
//!     }
//!     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let n = cx.send(&self.out)?;
//!         self.out.drain(..n);
//!         Ok(())
//!     }
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let data = cx.recv(8192)?;
//!         self.got.extend_from_slice(&data);
//!         if self.got == b"ping" {
//!             cx.close();
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let map = Map::new()?;
//! let mut listener = Channel::new();
//! listener.create_socket(Domain::IPV4, Type::STREAM)?;
//! listener.bind("127.0.0.1:0".parse::<std::net::SocketAddr>()?)?;
//! listener.listen(5)?;
//! let addr = listener.local_addr()?;
//! let server = map.add(listener, Server)?;
//!
//! let mut chan = Channel::new();
//! chan.create_socket(Domain::IPV4, Type::STREAM)?;
//! chan.connect(addr)?;
//! let client = map.add(chan, Client { out: b"ping".to_vec(), got: Vec::new() })?;
//!
//! while client.is_open() {
//!     asyncore::loop_(Duration::from_secs(1), false, Some(&map), 1)?;
//! }
//! assert_eq!(client.borrow().got, b"ping");
//! server.close();
//! # Ok(())
//! # }
//! ```
//!
//! # How the pieces fit
//!
//! - [`Channel`] (`channel.rs`): the non-blocking socket or pipe and asyncore's state
//!   flags (`connected`, `accepting`, `connecting`) and its `addr()`.
//! - [`Dispatcher`] (`dispatcher.rs`): the handlers, each with Python's default.
//! - [`Cx`] (`cx.rs`): what a handler is given, its channel and the loop.
//! - [`Map`] (`map.rs`), [`Handle`] and [`WeakHandle`] (`handle.rs`): the channel
//!   map, global per thread or explicit, and references into it.
//! - [`event_loop`]: [`loop_`] and what one pass promises: how asyncore's
//!   level-triggered behaviour is kept on an edge-triggered poller, and when
//!   predicates are consulted. Inside, one type owns the loop's state (`core.rs`); a
//!   pass is `pass.rs`, serving one channel `dispatch.rs`, the slot storage
//!   `slab.rs`.
//! - [`chat`]: asynchat's terminator splitter, producers, output FIFO, and
//!   [`AsyncChat`], which wraps your [`ChatHandler`].
//! - [`DispatcherWithSend`] and [`FileWrapper`]: `dispatcher_with_send`,
//!   `file_wrapper` / `file_dispatcher` ([`Channel::from_file`]).
//! - [`tasks`] (timers), [`loop_handle`] (other threads), [`tcpsocket`]
//!   (asycamore's helpers), [`http`] (a client).
//!
//! # Platforms
//!
//! Unix only (Linux, Android, macOS, iOS, the BSDs): the crate drives file
//! descriptors through mio's Unix poller; other targets fail to compile with a
//! message saying so.
//!
//! The crate has no `unsafe` code. Handlers run on the loop's thread; maps and handles
//! are `!Send`.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod addr;
mod channel;
pub mod chat;
mod core;
mod cx;
mod dispatch;
mod dispatcher;
mod error;
pub mod event_loop;
mod file;
pub mod guide;
mod handle;
pub mod http;
mod logging;
pub mod loop_handle;
mod map;
mod node;
mod panic;
mod pass;
mod read_buf;
mod ready;
mod slab;
mod sys;
pub mod tasks;
pub mod tcpsocket;
mod with_send;

pub use channel::{Channel, Disconnect};
pub use chat::{
    AsyncChat, Chat, ChatHandler, ChatState, FileProducer, Producer, ReadProducer, SimpleProducer,
    Terminator, default_handle_read, find_prefix_at_end, producer_fn, simple_producer,
};
pub use cx::Cx;
pub use dispatcher::Dispatcher;
pub use error::{AddError, Error, Result};
pub use event_loop::{close_all, loop_, loop_with_tasks};
pub use file::FileWrapper;
pub use handle::{ChannelId, Handle, WeakHandle};
pub use logging::log_unhandled_events;
pub use loop_handle::LoopHandle;
pub use map::{Map, add};
pub use read_buf::RecvBuf;
pub use socket2::{Domain, SockAddr, Socket, Type};
pub use tasks::{TaskHandle, Tasks, call_every, call_later};
pub use with_send::DispatcherWithSend;

/// The README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
