//! asynchat: splitting input by terminators and sending output from a FIFO of producers.
//!
//! # How the pieces fit
//!
//! Python's `asynchat.async_chat` is an `asyncore.dispatcher` that parses its input
//! into messages and queues its output. Here it is built from parts that can each be
//! used and tested alone:
//!
//! * [`Splitter`] (with [`Terminator`]) is the input parser, with no socket: shown the
//!   bytes that arrived, it says which are data for the current message and where the
//!   terminator is. It never searches a byte twice (beyond the few that may begin a
//!   terminator cut between reads) and can refuse a message longer than a limit.
//! * [`Producer`] is the output protocol: `more()` hands out the next chunk, empty when
//!   done. [`SimpleProducer`] serves a byte string, [`ReadProducer`] streams any
//!   [`std::io::Read`], and [`FileProducer`] a file (or a range of one), which the
//!   output FIFO sends with `sendfile(2)` on Linux and Android instead of asking it
//!   for chunks.
//! * [`ChatHandler`] is what a Python subclass writes: `collect_incoming_data`,
//!   `found_terminator` and any overrides, on a type that holds only its own state.
//! * [`AsyncChat`] wraps a handler with what the subclass inherits ([`ChatState`]:
//!   the splitter, the few bytes kept between reads, the output FIFO of pushed bytes,
//!   producers and close markers). It is the [`Dispatcher`](crate::Dispatcher) that
//!   goes into a [`Map`](crate::Map) with its channel.
//! * [`Chat`] is what each handler method receives: the chat state and the
//!   [`Cx`](crate::Cx) together, with `push`, `close_when_done`, `set_terminator` and
//!   the rest.
//!
//! When the loop sees the socket readable it calls `handle_read`, whose default
//! ([`default_handle_read`]) reads up to `ac_in_buffer_size` bytes into a buffer
//! shared by all channels of the thread, lets the splitter cut them up, and calls
//! `collect_incoming_data` and `found_terminator` in turn. Whatever those push is
//! sent at once, as in Python (replies to several pipelined messages of one read are
//! sent together: see [`ChatState::set_coalesce`]). When the socket can take more, `handle_write`
//! ([`Chat::initiate_send`]) sends from the FIFO in vectored writes until the socket
//! would block.
//!
//! # Examples
//!
//! See [`ChatHandler`] for a complete handler next to the Python it ports, and
//! the `chat_server` and `smtp_server` examples in the repository.

mod async_chat;
mod fifo;
mod file_producer;
mod output;
mod producer;
mod search;
mod terminator;

pub use async_chat::*;
pub use file_producer::FileProducer;
pub use output::Output;
pub use producer::*;
pub use terminator::*;
