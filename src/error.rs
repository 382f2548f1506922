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
    #[error(transparent)]
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
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    /// A method Python requires subclasses to define was not: for example a chat
    /// handler that reads with the default `handle_read` but has no
    /// `found_terminator` (Python raises `NotImplementedError`).
    #[error("{0} is not implemented")]
    NotImplemented(&'static str),
    /// Any other failure a handler wants to report.
    #[error(transparent)]
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

/// A dispatcher that could not join a map, handed back with its channel and the
/// reason: what [`Map::add`](crate::Map::add) and [`Cx::add`](crate::Cx::add) return
/// on failure, so nothing is lost (calloop's `InsertError`).
///
/// Converts into [`Error`] with `?` (dropping the dispatcher), so a handler can write
/// `cx.add(chan, handler)?`.
///
/// # Examples
///
/// ```
/// use asyncore::{Channel, Dispatcher, Error, Map};
///
/// struct Quiet;
/// impl Dispatcher for Quiet {}
///
/// let map = Map::new()?;
/// // A channel without a socket cannot be polled.
/// let err = map.add(Channel::new(), Quiet).unwrap_err();
/// assert!(matches!(err.error, Error::NoSocket));
/// let (_channel, _quiet) = (err.channel, err.dispatcher); // both handed back
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct AddError<T> {
    /// The dispatcher that was to be added.
    pub dispatcher: T,
    /// Its channel.
    pub channel: crate::Channel,
    /// Why it could not be added.
    pub error: Error,
}

impl<T> std::fmt::Debug for AddError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddError")
            .field("dispatcher", &std::any::type_name::<T>())
            .field("channel", &self.channel)
            .field("error", &self.error)
            .finish()
    }
}

impl<T> std::fmt::Display for AddError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot add the channel to the map: {}", self.error)
    }
}

impl<T> std::error::Error for AddError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl<T> From<AddError<T>> for Error {
    fn from(e: AddError<T>) -> Error {
        e.error
    }
}
