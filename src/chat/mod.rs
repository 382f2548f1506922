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
//!   [`std::io::Read`].
//! * [`AsyncChat`] is the state of a channel: its [`Channel`](crate::Channel), its
//!   splitter, the few bytes kept between reads and the output FIFO of pushed bytes,
//!   producers and close markers.
//! * [`AsyncChatHandler`] is what a Python subclass writes: `collect_incoming_data`,
//!   `found_terminator` and any overrides. Every implementor is a
//!   [`Dispatcher`](crate::Dispatcher), so it goes into a [`Map`](crate::Map) like any
//!   other channel.
//!
//! When the loop sees the socket readable it calls `handle_read`, whose default
//! ([`default_handle_read`]) reads up to `ac_in_buffer_size` bytes into a buffer
//! shared by all channels of the thread, lets the splitter cut them up, and calls
//! `collect_incoming_data` and `found_terminator` in turn. Whatever those push is
//! queued and sent in one go when the read has been handled. When the socket can take
//! more, `handle_write` ([`AsyncChat::initiate_send`]) sends from the FIFO in vectored
//! writes until the socket would block.
//!
//! # Examples
//!
//! See [`AsyncChatHandler`] for a complete handler next to the Python it ports, and
//! the `chat_server` and `smtp_server` examples in the repository.

mod async_chat;
mod fifo;
mod producer;
mod terminator;

pub use async_chat::*;
pub use producer::*;
pub use terminator::*;
