//! asynchat: splitting input by terminators and sending output from a FIFO of producers.

mod producer;
mod terminator;

pub use producer::*;
pub use terminator::*;
