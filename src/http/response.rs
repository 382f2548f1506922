//! [`ResponseParser`]: an incremental HTTP/1.x response parser with no socket.
//!
//! Bytes go in as they arrive, split anywhere; a [`Response`] comes out once it is
//! complete. The parser never looks at a byte twice: it searches for line ends only
//! in data it has not seen, and keeps at most one partial line (bounded by
//! [`Limits::max_head`]) between calls.

use memchr::memchr;

use super::HttpError;
use super::error::shown;

/// Bounds on what a server may make the client hold in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes in the status line and headers together, and in the trailers of a
    /// chunked body. Default 64 KiB.
    pub max_head: usize,
    /// Most header fields (and, separately, trailer fields). Default 100.
    pub max_headers: usize,
    /// Most body bytes kept in memory. Default 64 MiB. Not checked when bodies are
    /// counted but not kept ([`ResponseParser::set_keep_body`]).
    pub max_body: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 64 * 1024,
            max_headers: 100,
            max_body: 64 * 1024 * 1024,
        }
    }
}

/// Longest chunk-size line accepted (size plus extensions).
const MAX_CHUNK_LINE: usize = 1024;

/// A complete HTTP response.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Response {
    /// `(1, 1)` for HTTP/1.1, `(1, 0)` for HTTP/1.0.
    pub version: (u8, u8),
    /// The status code, such as 200.
    pub status: u16,
    /// The reason phrase, such as `OK` (may be empty).
    pub reason: String,
    /// The header fields in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, decoded from chunked transfer coding; empty when bodies are not kept.
    pub body: Vec<u8>,
    /// The body's length in bytes, kept or not.
    pub body_len: u64,
    /// Trailer fields of a chunked body.
    pub trailers: Vec<(String, String)>,
    /// True when the connection may carry another request after this response (not
    /// HTTP/1.0 without `keep-alive`, no `Connection: close`, body not delimited by
    /// the close).
    pub keep_alive: bool,
}

impl Response {
    /// The value of the first header field called `name` (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut r = asyncore::http::Response::default();
    /// r.headers.push(("Content-Type".into(), "text/plain".into()));
    /// assert_eq!(r.header("content-type"), Some("text/plain"));
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The values of every header field called `name` (case-insensitive), split at
    /// commas and trimmed.
    fn tokens<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Status line and header lines.
    Head,
    /// A body of known length: this many bytes to go.
    Length(u64),
    /// A chunk-size line.
    ChunkSize,
    /// Chunk data: this many bytes to go.
    ChunkData(u64),
    /// After chunk data: CR or LF expected.
    ChunkCr,
    /// After chunk data and CR: LF expected.
    ChunkLf,
    /// Trailer lines after the last chunk.
    Trailers,
    /// A body that ends when the connection does.
    UntilClose,
}

/// An incremental HTTP/1.x response parser: feed it bytes, get [`Response`]s.
///
/// It handles bodies delimited by `Content-Length`, by chunked transfer coding (chunk
/// extensions ignored, trailers kept) and by the close of the connection (call
/// [`finish`](ResponseParser::finish) at end of stream); responses to `HEAD` and
/// `1xx`, `204` and `304` responses have no body, and interim `1xx` responses (`100
/// Continue`, ...) are skipped. Anything malformed, or over the [`Limits`], is an
/// [`HttpError`]; the parser then starts afresh.
///
/// # Examples
///
/// ```
/// use asyncore::http::ResponseParser;
///
/// let mut parser = ResponseParser::new();
/// let wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
/// // Split anywhere: here one byte at a time.
/// let mut done = None;
/// for byte in wire.chunks(1) {
///     let (used, response) = parser.feed(byte)?;
///     assert_eq!(used, 1);
///     done = done.or(response);
/// }
/// let response = done.expect("complete");
/// assert_eq!((response.status, response.body.as_slice()), (200, &b"hello"[..]));
/// assert!(response.keep_alive);
/// # Ok::<(), asyncore::http::HttpError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ResponseParser {
    limits: Limits,
    keep_body: bool,
    head_request: bool,
    state: State,
    /// The partial line of the head, a chunk-size line or the trailers.
    line: Vec<u8>,
    /// Bytes of the head (or of the trailers) so far.
    head_len: usize,
    have_status: bool,
    started: bool,
    close_delimited: bool,
    response: Response,
}

impl Default for ResponseParser {
    fn default() -> Self {
        ResponseParser::new()
    }
}

impl ResponseParser {
    /// A parser with the default [`Limits`], keeping bodies, expecting a response to a
    /// request other than `HEAD`.
    pub fn new() -> ResponseParser {
        ResponseParser::with_limits(Limits::default())
    }

    /// A parser with these limits.
    pub fn with_limits(limits: Limits) -> ResponseParser {
        ResponseParser {
            limits,
            keep_body: true,
            head_request: false,
            state: State::Head,
            line: Vec::new(),
            head_len: 0,
            have_status: false,
            started: false,
            close_delimited: false,
            response: Response::default(),
        }
    }

    /// Whether to keep bodies in [`Response::body`] (default) or only count their
    /// length in [`Response::body_len`].
    pub fn set_keep_body(&mut self, keep: bool) {
        self.keep_body = keep;
    }

    /// True if bodies are kept (see [`set_keep_body`](ResponseParser::set_keep_body)).
    pub fn keeps_body(&self) -> bool {
        self.keep_body
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Tells the parser which request the response being parsed answers; only `HEAD`
    /// matters (its response has no body). Applies to the current response until its
    /// head is complete; afterwards the parser expects a non-`HEAD` response again.
    pub fn set_request_method(&mut self, method: &str) {
        self.head_request = method.eq_ignore_ascii_case("HEAD");
    }

    /// True once any byte of the current response has arrived.
    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Forgets any partial response (for a new connection) and the request method;
    /// the limits and [`set_keep_body`](ResponseParser::set_keep_body) stay.
    pub fn reset(&mut self) {
        let keep_body = self.keep_body;
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        *self = ResponseParser::with_limits(self.limits);
        self.keep_body = keep_body;
        self.line = line;
    }

    /// Parses `data`, the next bytes from the server. Returns how many bytes were used
    /// and the response if they completed one. Bytes after a complete response are not
    /// used: they belong to the next response (feed them again), or, if none was asked
    /// for, are an error of the caller's to report.
    ///
    /// # Errors
    ///
    /// The response is malformed or exceeds the limits. The parser is reset.
    pub fn feed(&mut self, data: &[u8]) -> Result<(usize, Option<Response>), HttpError> {
        match self.parse(data) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    /// The server closed the connection. Completes a body delimited by the close.
    /// `Ok(None)` if no byte of a response had arrived.
    ///
    /// # Errors
    ///
    /// The close cut a response short: [`HttpError::IncompleteHead`],
    /// [`HttpError::IncompleteBody`] (a `Content-Length` mismatch),
    /// [`HttpError::IncompleteChunked`]. The parser is reset either way.
    pub fn finish(&mut self) -> Result<Option<Response>, HttpError> {
        let outcome = match self.state {
            State::Head if !self.started => Ok(None),
            State::Head => Err(HttpError::IncompleteHead),
            State::UntilClose => Ok(Some(self.complete())),
            State::Length(left) => Err(HttpError::IncompleteBody {
                expected: self.response.body_len + left,
                received: self.response.body_len,
            }),
            State::ChunkSize
            | State::ChunkData(_)
            | State::ChunkCr
            | State::ChunkLf
            | State::Trailers => Err(HttpError::IncompleteChunked),
        };
        self.reset();
        outcome
    }

    fn parse(&mut self, data: &[u8]) -> Result<(usize, Option<Response>), HttpError> {
        let mut pos = 0;
        while pos < data.len() {
            self.started = true;
            let rest = &data[pos..];
            match self.state {
                State::Head | State::ChunkSize | State::Trailers => {
                    let (part, used, whole) = match memchr(b'\n', rest) {
                        Some(i) => (&rest[..i], i + 1, true),
                        None => (rest, rest.len(), false),
                    };
                    self.grow_line(part, used)?;
                    pos += used;
                    if whole {
                        let mut line = std::mem::take(&mut self.line);
                        if line.last() == Some(&b'\r') {
                            line.pop();
                        }
                        let done = self.on_line(&line);
                        line.clear();
                        self.line = line;
                        if let Some(r) = done? {
                            return Ok((pos, Some(r)));
                        }
                    }
                }
                State::Length(left) => {
                    let n = left.min(rest.len() as u64) as usize;
                    self.body(&rest[..n])?;
                    pos += n;
                    if left == n as u64 {
                        return Ok((pos, Some(self.complete())));
                    }
                    self.state = State::Length(left - n as u64);
                }
                State::ChunkData(left) => {
                    let n = left.min(rest.len() as u64) as usize;
                    self.body(&rest[..n])?;
                    pos += n;
                    self.state = if left == n as u64 {
                        State::ChunkCr
                    } else {
                        State::ChunkData(left - n as u64)
                    };
                }
                State::ChunkCr | State::ChunkLf => {
                    self.state = match (self.state, rest[0]) {
                        (State::ChunkCr, b'\r') => State::ChunkLf,
                        (_, b'\n') => State::ChunkSize,
                        _ => return Err(HttpError::BadChunkEnd),
                    };
                    pos += 1;
                }
                State::UntilClose => {
                    self.body(rest)?;
                    pos = data.len();
                }
            }
        }
        Ok((pos, None))
    }

    /// Adds part of a line (and counts `used` bytes, its terminator included).
    fn grow_line(&mut self, part: &[u8], used: usize) -> Result<(), HttpError> {
        if self.state == State::ChunkSize {
            if self.line.len() + part.len() > MAX_CHUNK_LINE {
                let mut l = self.line.clone();
                l.extend_from_slice(part);
                return Err(HttpError::BadChunkSize(shown(&l)));
            }
        } else {
            self.head_len += used;
            if self.head_len > self.limits.max_head {
                return Err(HttpError::HeadTooLarge {
                    limit: self.limits.max_head,
                });
            }
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn on_line(&mut self, line: &[u8]) -> Result<Option<Response>, HttpError> {
        match self.state {
            State::Head if !self.have_status => {
                // Tolerate blank lines before the status line.
                if !line.is_empty() {
                    self.status_line(line)?;
                    self.have_status = true;
                }
                Ok(None)
            }
            State::Head if line.is_empty() => self.end_of_head(),
            State::Head => {
                let field = parse_field(line)?;
                if self.response.headers.len() == self.limits.max_headers {
                    return Err(HttpError::TooManyHeaders {
                        limit: self.limits.max_headers,
                    });
                }
                self.response.headers.push(field);
                Ok(None)
            }
            State::ChunkSize => {
                let size = parse_chunk_size(line)?;
                if size == 0 {
                    self.state = State::Trailers;
                    self.head_len = 0;
                } else {
                    self.state = State::ChunkData(size);
                }
                Ok(None)
            }
            State::Trailers if line.is_empty() => Ok(Some(self.complete())),
            State::Trailers => {
                let field = parse_field(line)?;
                if self.response.trailers.len() == self.limits.max_headers {
                    return Err(HttpError::TooManyHeaders {
                        limit: self.limits.max_headers,
                    });
                }
                self.response.trailers.push(field);
                Ok(None)
            }
            _ => unreachable!("on_line in a body state"),
        }
    }

    fn status_line(&mut self, line: &[u8]) -> Result<(), HttpError> {
        let bad = || HttpError::BadStatusLine(shown(line));
        let rest = line.strip_prefix(b"HTTP/").ok_or_else(bad)?;
        let (major, minor) = match rest {
            [a, b'.', b, ..] if a.is_ascii_digit() && b.is_ascii_digit() => (a - b'0', b - b'0'),
            _ => return Err(bad()),
        };
        if major != 1 {
            return Err(bad());
        }
        let rest = rest[3..].strip_prefix(b" ").ok_or_else(bad)?;
        let (code, reason) = match rest {
            [a, b, c] => ([*a, *b, *c], &b""[..]),
            [a, b, c, b' ', reason @ ..] => ([*a, *b, *c], reason),
            _ => return Err(bad()),
        };
        if !code.iter().all(u8::is_ascii_digit) || code[0] == b'0' {
            return Err(bad());
        }
        self.response.version = (major, minor);
        self.response.status = code.iter().fold(0, |n, d| n * 10 + u16::from(d - b'0'));
        self.response.reason = String::from_utf8_lossy(reason).into_owned();
        Ok(())
    }

    fn end_of_head(&mut self) -> Result<Option<Response>, HttpError> {
        let status = self.response.status;
        if (100..200).contains(&status) && status != 101 {
            // An interim response: the real one follows.
            self.response = Response::default();
            self.have_status = false;
            self.head_len = 0;
            return Ok(None);
        }
        if self.head_request || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Some(self.complete()));
        }
        let codings: Vec<String> = self
            .response
            .tokens("transfer-encoding")
            .map(str::to_ascii_lowercase)
            .collect();
        if !codings.is_empty() {
            if codings.last().map(String::as_str) == Some("chunked") {
                // Framed by chunks; a Content-Length beside it is ignored, but such a
                // message is suspect: do not reuse the connection after it.
                self.close_delimited = self.response.header("content-length").is_some();
                self.state = State::ChunkSize;
            } else {
                self.close_delimited = true;
                self.state = State::UntilClose;
            }
            return Ok(None);
        }
        let mut length: Option<u64> = None;
        for value in self.response.tokens("content-length") {
            let n = match value.bytes().all(|b| b.is_ascii_digit()) {
                true => value.parse::<u64>().ok(),
                false => None,
            };
            match (n, length) {
                (Some(n), None) => length = Some(n),
                (Some(n), Some(m)) if n == m => {}
                _ => return Err(HttpError::BadContentLength(value.to_string())),
            }
        }
        if self.response.header("content-length").is_some() && length.is_none() {
            return Err(HttpError::BadContentLength(String::new()));
        }
        match length {
            Some(0) => Ok(Some(self.complete())),
            Some(n) => {
                if self.keep_body && n > self.limits.max_body {
                    return Err(HttpError::BodyTooLarge {
                        limit: self.limits.max_body,
                    });
                }
                self.state = State::Length(n);
                Ok(None)
            }
            None => {
                self.close_delimited = true;
                self.state = State::UntilClose;
                Ok(None)
            }
        }
    }

    fn body(&mut self, data: &[u8]) -> Result<(), HttpError> {
        self.response.body_len += data.len() as u64;
        if self.keep_body {
            if self.response.body_len > self.limits.max_body {
                return Err(HttpError::BodyTooLarge {
                    limit: self.limits.max_body,
                });
            }
            self.response.body.extend_from_slice(data);
        }
        Ok(())
    }

    /// Hands out the response parsed and gets ready for the next one.
    fn complete(&mut self) -> Response {
        let mut r = std::mem::take(&mut self.response);
        let has = |r: &Response, token: &str| {
            r.tokens("connection")
                .any(|t| t.eq_ignore_ascii_case(token))
        };
        let persistent = if r.version >= (1, 1) {
            !has(&r, "close")
        } else {
            has(&r, "keep-alive") && !has(&r, "close")
        };
        r.keep_alive = persistent && !self.close_delimited && r.status != 101;
        self.reset();
        r
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `name: value`, with the value's surrounding whitespace removed.
fn parse_field(line: &[u8]) -> Result<(String, String), HttpError> {
    let bad = || HttpError::BadHeader(shown(line));
    let colon = memchr(b':', line).ok_or_else(bad)?;
    let name = &line[..colon];
    // Also refuses obsolete line folding (a line starting with whitespace).
    if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) {
        return Err(bad());
    }
    let value = line[colon + 1..].trim_ascii();
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        String::from_utf8_lossy(value).into_owned(),
    ))
}

/// A chunk-size line: hex digits, then optional `;extensions`.
fn parse_chunk_size(line: &[u8]) -> Result<u64, HttpError> {
    let bad = || HttpError::BadChunkSize(shown(line));
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 || digits > 16 {
        return Err(bad());
    }
    let rest = line[digits..].trim_ascii_start();
    if !(rest.is_empty() || rest[0] == b';') {
        return Err(bad());
    }
    let text = std::str::from_utf8(&line[..digits]).map_err(|_| bad())?;
    u64::from_str_radix(text, 16).map_err(|_| bad())
}
