//! Python's `asyncore` and `asynchat`, ported to Rust.
#![forbid(unsafe_code)]
#![deny(missing_docs, missing_debug_implementations)]
#![doc(test(attr(deny(warnings))))]

pub mod chat;
mod error;

pub use error::{Error, Result};
