//! Python's `asyncore` and `asynchat`, ported to Rust.
//!
//! A program is a map of channels, each a [`Dispatcher`] — a type that holds a
//! [`Channel`] (the socket) and supplies handlers such as `handle_read` — driven by
//! [`loop_`], Python's `asyncore.loop`, over mio's poller. Line- and length-framed
//! protocols use the [`chat`] layer, Python's `asynchat`: input split by terminators,
//! output sent from a FIFO of producers. The names are Python's, so a porter finds
//! `handle_accepted`, `push_with_producer` or `close_when_done` where they expect
//! them; the [`guide`] maps every name.
//!
//! # Example
//!
//! An echo server and a client in one loop, on loopback:
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::Duration;
//! use asyncore::{Channel, Dispatcher, Domain, Map, Result, SockAddr, Socket, Type};
//!
//! struct Echo { chan: Channel, pending: Vec<u8> }
//!
//! impl Dispatcher for Echo {
//!     fn channel(&self) -> &Channel { &self.chan }
//!     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
//!     fn writable(&mut self) -> bool { !self.pending.is_empty() }
//!     fn handle_read(&mut self) -> Result<()> {
//!         let data = self.chan.recv(8192)?;
//!         self.pending.extend_from_slice(&data);
//!         Ok(())
//!     }
//!     fn handle_write(&mut self) -> Result<()> {
//!         let n = self.chan.send(&self.pending)?;
//!         self.pending.drain(..n);
//!         Ok(())
//!     }
//! }
//!
//! struct Server { chan: Channel }
//!
//! impl Dispatcher for Server {
//!     fn channel(&self) -> &Channel { &self.chan }
//!     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
//!     fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
//!         let chan = Channel::from_socket(sock)?;
//!         self.chan.map().unwrap().add(Echo { chan, pending: Vec::new() })?;
//!         Ok(())
//!     }
//! }
//!
//! struct Client { chan: Channel, out: Vec<u8>, got: Vec<u8> }
//!
//! impl Dispatcher for Client {
//!     fn channel(&self) -> &Channel { &self.chan }
//!     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
//!     fn writable(&mut self) -> bool { !self.chan.connected || !self.out.is_empty() }
//!     fn handle_connect(&mut self) -> Result<()> { Ok(()) }
//!     fn handle_write(&mut self) -> Result<()> {
//!         let n = self.chan.send(&self.out)?;
//!         self.out.drain(..n);
//!         Ok(())
//!     }
//!     fn handle_read(&mut self) -> Result<()> {
//!         let data = self.chan.recv(8192)?;
//!         self.got.extend_from_slice(&data);
//!         if self.got == b"ping" {
//!             self.chan.close();
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
//! let map = Map::new()?;
//! let mut chan = Channel::new();
//! chan.create_socket(Domain::IPV4, Type::STREAM)?;
//! chan.bind("127.0.0.1:0".parse::<SocketAddr>()?)?;
//! chan.listen(5)?;
//! let addr = chan.local_addr()?;
//! let server = map.add(Server { chan })?;
//!
//! let mut chan = Channel::new();
//! chan.create_socket(Domain::IPV4, Type::STREAM)?;
//! chan.connect(addr)?;
//! let client = map.add(Client { chan, out: b"ping".to_vec(), got: Vec::new() })?;
//!
//! while client.is_open() {
//!     asyncore::loop_(Some(Duration::from_secs(1)), false, Some(&map), Some(1))?;
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
//!   flags (`connected`, `accepting`, `connecting`, `addr`).
//! - [`Dispatcher`] (`dispatcher.rs`): the handlers, each with Python's default.
//! - [`Map`] and [`Handle`] (`map.rs`): the channel map, global per thread or
//!   explicit, with generation-tagged slots.
//! - [`event_loop`]: [`loop_`] and one pass of it: how asyncore's level-triggered
//!   promises are kept on an edge-triggered poller, and when predicates are consulted.
//! - [`chat`]: asynchat's terminator splitter, producers and output FIFO.
//! - [`DispatcherWithSend`] and [`FileWrapper`]: `dispatcher_with_send`,
//!   `file_wrapper` / `file_dispatcher` ([`Channel::from_file`]).
//!
//! The crate has no `unsafe` code. Handlers run on the loop's thread; maps and handles
//! are `!Send`.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings), allow(dead_code))))]

mod channel;
pub mod chat;
mod dispatcher;
mod error;
pub mod event_loop;
mod file;
pub mod guide;
pub mod http;
pub mod loop_handle;
mod map;
mod read_buf;
pub mod tasks;
pub mod tcpsocket;
mod with_send;

pub use channel::Channel;
pub use chat::{
    AsyncChat, AsyncChatHandler, Producer, ReadProducer, SimpleProducer, Terminator,
    default_handle_read, find_prefix_at_end, producer_fn, simple_producer,
};
pub use dispatcher::Dispatcher;
pub use error::{Error, Result};
pub use event_loop::{close_all, loop_, loop_with_tasks};
pub use file::FileWrapper;
pub use loop_handle::LoopHandle;
pub use map::{ChannelId, Handle, Map, add};
pub use socket2::{Domain, SockAddr, Socket, Type};
pub use tasks::{TaskHandle, Tasks, call_every, call_later};
pub use with_send::DispatcherWithSend;

/// The README's example, compiled as a doctest so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
