//! The crate's error type.
//!
//! Every fallible call returns [`Result`]. Handlers return it too: an `Err` from a
//! handler reaches that channel's [`handle_error`](crate::Dispatcher::handle_error),
//! except [`Error::ExitNow`], which ends [`loop_`](crate::loop_) and reaches its caller.

use std::io;

/// What can go wrong in this crate, and what a handler may report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket or file call failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// Python's `asyncore.ExitNow`: returned from a handler, it ends the loop at once
    /// and reaches the caller of [`loop_`](crate::loop_).
    #[error("exit now")]
    ExitNow,
    /// A handler panicked; the payload's message, if it had one.
    #[error("handler panicked: {0}")]
    Panic(String),
    /// A peer sent more than the configured limit without a terminator.
    #[error("input too long: more than {limit} bytes without a terminator")]
    InputTooLong {
        /// The limit that was passed.
        limit: usize,
    },
    /// A numeric terminator below zero (Python raises `ValueError`).
    #[error("terminator count must not be negative (got {0})")]
    NegativeTerminator(i64),
    /// An empty byte-string terminator would match everywhere.
    #[error("terminator must not be an empty byte string")]
    EmptyTerminator,
    /// The channel has no socket: create or set one first.
    #[error("channel has no socket")]
    NoSocket,
    /// An HTTP request failed (see [`http`](crate::http)).
    #[error("{0}")]
    Http(#[from] crate::http::HttpError),
    /// Any other failure a handler wants to report.
    #[error("{0}")]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// Wraps any error (or message) as [`Error::Other`].
    ///
    /// # Examples
    ///
    /// ```
    /// let e = asyncore::Error::other("bad greeting");
    /// assert_eq!(e.to_string(), "bad greeting");
    /// ```
    pub fn other<E: Into<Box<dyn std::error::Error + Send + Sync>>>(err: E) -> Self {
        Error::Other(err.into())
    }

    /// True for an I/O error of kind `WouldBlock`: not a failure, only "try later".
    pub fn is_would_block(&self) -> bool {
        matches!(self, Error::Io(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
