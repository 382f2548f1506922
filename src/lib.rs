//! Python's `asyncore` and `asynchat`, ported to Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

mod channel;
pub mod chat;
mod dispatcher;
mod error;
pub mod event_loop;
mod file;
mod map;
mod with_send;

pub use channel::Channel;
pub use chat::{
    AsyncChat, AsyncChatHandler, Producer, ReadProducer, SimpleProducer, Terminator,
    default_handle_read, find_prefix_at_end, simple_producer,
};
pub use dispatcher::Dispatcher;
pub use error::{Error, Result};
pub use event_loop::{close_all, loop_};
pub use file::FileWrapper;
pub use map::{Handle, Map, add};
pub use socket2::{Domain, SockAddr, Socket, Type};
pub use with_send::DispatcherWithSend;
