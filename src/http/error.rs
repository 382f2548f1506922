//! [`HttpError`]: why a request got no response.

use std::io;

/// Why an HTTP request failed. The malformed-response cases end the connection they
/// came on; the request gets the error and the client goes on with its other
/// requests on a new connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The status line is not `HTTP/1.x NNN reason`.
    #[error("malformed status line: {0:?}")]
    BadStatusLine(String),
    /// A header line has no colon, a bad field name, or is a folded continuation line.
    #[error("malformed header line: {0:?}")]
    BadHeader(String),
    /// The status line and headers (or the trailers) exceed
    /// [`Limits::max_head`](crate::http::Limits::max_head).
    #[error("response head larger than {limit} bytes")]
    HeadTooLarge {
        /// The limit that was passed.
        limit: usize,
    },
    /// More header (or trailer) fields than
    /// [`Limits::max_headers`](crate::http::Limits::max_headers).
    #[error("more than {limit} header fields")]
    TooManyHeaders {
        /// The limit that was passed.
        limit: usize,
    },
    /// `Content-Length` is not a number, or several disagree.
    #[error("invalid Content-Length: {0:?}")]
    BadContentLength(String),
    /// A chunk-size line of a chunked body is not hexadecimal (or too long).
    #[error("malformed chunk size line: {0:?}")]
    BadChunkSize(String),
    /// Chunk data was not followed by CRLF.
    #[error("chunk data not followed by CRLF")]
    BadChunkEnd,
    /// The body exceeds [`Limits::max_body`](crate::http::Limits::max_body).
    #[error("response body larger than {limit} bytes")]
    BodyTooLarge {
        /// The limit that was passed.
        limit: u64,
    },
    /// The connection closed before the `Content-Length` bytes of the body came.
    #[error("connection closed after {received} of {expected} body bytes")]
    IncompleteBody {
        /// The announced length.
        expected: u64,
        /// What arrived.
        received: u64,
    },
    /// The connection closed inside a chunked body.
    #[error("connection closed inside a chunked body")]
    IncompleteChunked,
    /// The connection closed inside the status line or headers.
    #[error("connection closed inside the response head")]
    IncompleteHead,
    /// The connection closed before any byte of the response came.
    #[error("connection closed before the response")]
    ConnectionClosed,
    /// The server sent bytes while no request was waiting for a response.
    #[error("the server sent data while no request was outstanding")]
    UnexpectedData,
    /// More bytes came after a complete response, before the next request was sent:
    /// the server answered one request twice, or framed its response wrongly. Which of
    /// the answers was meant cannot be told, so the request gets this error instead of
    /// its response, and the connection is closed; the extra bytes are never read as
    /// the next request's response.
    #[error("{bytes} unsolicited bytes after the complete {status} response")]
    UnsolicitedData {
        /// The status of the complete response they followed.
        status: u16,
        /// How many extra bytes were seen (at least; the connection is dropped at once).
        bytes: usize,
    },
    /// The request cannot be sent as it is (a space or control character in the
    /// method or path, a line break in a header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// Connecting, sending or receiving failed (refused, reset, ...).
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl Clone for HttpError {
    /// An I/O error is rebuilt from its OS error code (or kind and message), so every
    /// request failed by one connection error can be given its own copy.
    fn clone(&self) -> Self {
        use HttpError::*;
        match self {
            BadStatusLine(s) => BadStatusLine(s.clone()),
            BadHeader(s) => BadHeader(s.clone()),
            HeadTooLarge { limit } => HeadTooLarge { limit: *limit },
            TooManyHeaders { limit } => TooManyHeaders { limit: *limit },
            BadContentLength(s) => BadContentLength(s.clone()),
            BadChunkSize(s) => BadChunkSize(s.clone()),
            BadChunkEnd => BadChunkEnd,
            BodyTooLarge { limit } => BodyTooLarge { limit: *limit },
            IncompleteBody { expected, received } => IncompleteBody {
                expected: *expected,
                received: *received,
            },
            IncompleteChunked => IncompleteChunked,
            IncompleteHead => IncompleteHead,
            ConnectionClosed => ConnectionClosed,
            UnexpectedData => UnexpectedData,
            UnsolicitedData { status, bytes } => UnsolicitedData {
                status: *status,
                bytes: *bytes,
            },
            InvalidRequest(s) => InvalidRequest(s.clone()),
            Io(e) => Io(match e.raw_os_error() {
                Some(code) => io::Error::from_raw_os_error(code),
                None => io::Error::new(e.kind(), e.to_string()),
            }),
        }
    }
}

/// Shows at most this much of an offending line in an error.
const SHOWN: usize = 80;

/// The start of an offending line, for an error message.
pub(crate) fn shown(line: &[u8]) -> String {
    let cut = &line[..line.len().min(SHOWN)];
    let mut s = String::from_utf8_lossy(cut).into_owned();
    if line.len() > SHOWN {
        s.push_str("...");
    }
    s
}
