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
pub mod loop_handle;
mod map;
pub mod tasks;
mod with_send;

pub use channel::Channel;
pub use dispatcher::Dispatcher;
pub use error::{Error, Result};
pub use event_loop::{close_all, loop_, loop_with_tasks};
pub use file::FileWrapper;
pub use loop_handle::LoopHandle;
pub use map::{ChannelId, Handle, Map, add};
pub use socket2::{Domain, SockAddr, Socket, Type};
pub use tasks::{TaskHandle, Tasks, call_every, call_later};
pub use with_send::DispatcherWithSend;
