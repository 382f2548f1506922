//! asycamore's `tcpsocket`: the socket primitives most servers and clients need, fitted
//! to this crate's [`Channel`](crate::Channel), [`Dispatcher`](crate::Dispatcher) and
//! loop.
//!
//! asycamore drove its helpers with a generator per connection that its dispatcher fed
//! events. Here each helper is a function or a small state machine that a dispatcher
//! calls from the matching handler, passing it the running channel
//! (`cx.channel_mut()`): a reader from `handle_read`, a writer from `handle_write`.
//! They all keep the loop's level-triggered promise: a call that would block clears
//! the channel's readiness, so the loop waits for the next edge, and one that did not
//! is simply called again.
//!
//! # Names
//!
//! | asycamore.tcpsocket | here |
//! |---|---|
//! | `connect_tcp(o, address)` | [`connect_tcp`]`(&mut chan, addr)` → [`Connect`] |
//! | `listen_tcp(o, ip, port, backlog)` | [`listen_tcp`]`(&mut chan, ip, port, backlog)` → bound address |
//! | `server_accept(serverstate, connection_factory, connection_closer)` | [`server_accept`]`(&mut chan, \|sock, addr\| ...)` |
//! | `AcceptingSocket` | [`AcceptingSocket::listen`]`(&map, ip, port, backlog, factory)` → its [`Handle`](crate::Handle) (factory gets the socket, peer address and map) |
//! | `socket_reader(sock, sentinel, buffer_size)` | [`socket_reader`]`(&mut chan, buffer_size)`: [`ReadStep`]s, then [`ReadEnd`] |
//! | `socket_writer(sock, sentinel)` | [`socket_writer`]`(&mut chan, data)`: [`WriteStep`]s |
//! | the `sentinel` (would block) | [`ReadStep::WouldBlock`], [`WriteStep::WouldBlock`] |
//! | `write_iterable(o, iterable, for_each, sentinel, before_and_after)` | [`write_iterable`]`(iterable, for_each, before_and_after)` → [`WriteIterable`] |
//! | `for_each(d, before_send=, after_send=)` | `for_each(&item, `[`Sent`]`::Before / AfterFirst / Done)` |
//! | `data_reader(o, for_each, sentinel)` | [`data_reader`]`(for_each)` → [`DataReader`] |
//! | `getsockerr(s)` | [`getsockerr`]`(&sock)` |
//! | `asycamore.httpclientsocket.HTTPClientSocket` | [`http::HttpClient`](crate::http::HttpClient) |
//!
//! The readers and writers take the [`Channel`](crate::Channel) rather than the bare
//! socket so that the loop's readiness bookkeeping sees a would-block. Unlike the
//! channel's own [`recv`](crate::Channel::recv) and [`send`](crate::Channel::send),
//! they report a reset or a broken pipe as the error it is (asycamore's generators
//! returned on it) instead of turning it into a close.
//!
//! # Examples
//!
//! A server made with [`AcceptingSocket`] answers every chunk it reads with `ok\n`,
//! reading with [`socket_reader`]; a blocking std client on a thread talks to it.
//!
//! ```
//! use std::io::{BufRead, BufReader, Write};
//! use std::net::{Ipv4Addr, TcpStream};
//! use std::time::Duration;
//! use asyncore::tcpsocket::{socket_reader, AcceptingSocket, ReadStep};
//! use asyncore::{Channel, Cx, Dispatcher, Map, Result};
//!
//! struct Answer { owed: usize }
//! impl Dispatcher for Answer {
//!     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { self.owed > 0 }
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let mut reader = socket_reader(cx.channel_mut(), 4096);
//!         while let Some(ReadStep::Data(_)) = reader.next() {
//!             self.owed += 1;
//!         }
//!         if reader.end().is_some() {
//!             cx.close(); // end of stream, or an error
//!         }
//!         Ok(())
//!     }
//!     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         while self.owed > 0 && cx.send(b"ok\n")? == 3 {
//!             self.owed -= 1;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let map = Map::new()?;
//! let server = AcceptingSocket::listen(&map, Ipv4Addr::LOCALHOST.into(), 0, 8, |sock, _, map: &Map| {
//!     map.add(Channel::from_socket(sock)?, Answer { owed: 0 })?;
//!     Ok(())
//! })?;
//! let addr = server.borrow().local_addr().expect("bound by listen");
//!
//! let client = std::thread::spawn(move || -> std::io::Result<String> {
//!     let mut conn = TcpStream::connect(addr)?;
//!     conn.write_all(b"hello\n")?;
//!     let mut line = String::new();
//!     BufReader::new(conn).read_line(&mut line)?;
//!     Ok(line)
//! });
//! while !client.is_finished() {
//!     map.poll(Duration::from_millis(10))?;
//! }
//! assert_eq!(client.join().unwrap()?, "ok\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod accepting;
mod connect;
mod data_reader;
mod listen;
pub(crate) mod raw;
mod reader;
mod sockerr;
mod write_iterable;
mod writer;

pub use accepting::AcceptingSocket;
pub use connect::{Connect, connect_tcp};
pub use data_reader::{DataReader, data_reader};
pub use listen::{listen_tcp, server_accept};
pub use reader::{ReadEnd, ReadStep, SocketReader, socket_reader};
pub use sockerr::getsockerr;
pub use write_iterable::{Sent, WriteIterable, Writing, write_iterable};
pub use writer::{SocketWriter, WriteStep, socket_writer};
