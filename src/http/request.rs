//! [`Request`]: what the client sends.

use super::HttpError;

/// An HTTP/1.1 request for [`HttpClient`](super::HttpClient): method, path, extra
/// headers, body, and a `tag` of yours that comes back with the response.
///
/// The client adds `Host` and, when there is a body (or the method is one that
/// expects one), `Content-Length`.
///
/// # Examples
///
/// ```
/// use asyncore::http::Request;
///
/// let req = Request::get("/index.html").with_tag(7).with_header("Accept", "text/html");
/// assert_eq!(
///     req.to_bytes("example.org").unwrap(),
///     b"GET /index.html HTTP/1.1\r\nHost: example.org\r\nAccept: text/html\r\n\r\n"
/// );
/// assert_eq!(req.tag, 7);
/// ```
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, `POST`, ...
    pub method: String,
    /// The request target, such as `/index.html?q=1`.
    pub path: String,
    /// Header fields to send besides `Host` and `Content-Length`.
    pub headers: Vec<(String, String)>,
    /// The body (empty for none).
    pub body: Vec<u8>,
    /// Yours: comes back with the response, to tell requests apart.
    pub tag: usize,
    pub(crate) retried: bool,
}

/// Equal when everything the caller set is equal (a retry by the client does not
/// change what the request is).
impl PartialEq for Request {
    fn eq(&self, other: &Request) -> bool {
        self.method == other.method
            && self.path == other.path
            && self.headers == other.headers
            && self.body == other.body
            && self.tag == other.tag
    }
}

impl Eq for Request {}

impl Request {
    /// A request with this method and path, no headers and no body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            headers: Vec::new(),
            body: Vec::new(),
            tag: 0,
            retried: false,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Request {
        Request::new("GET", path)
    }

    /// `HEAD path`: the response has no body.
    pub fn head(path: impl Into<String>) -> Request {
        Request::new("HEAD", path)
    }

    /// Sets the tag.
    pub fn with_tag(mut self, tag: usize) -> Request {
        self.tag = tag;
        self
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Request {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Request {
        self.body = body.into();
        self
    }

    /// True for `HEAD`, whose response never has a body.
    pub fn is_head(&self) -> bool {
        self.method.eq_ignore_ascii_case("HEAD")
    }

    /// True for the methods RFC 9110 calls idempotent (`GET`, `HEAD`, `PUT`, `DELETE`,
    /// `OPTIONS`, `TRACE`): the client sends such a request again, once, when a
    /// reused connection closes before any of its response came.
    pub fn is_idempotent(&self) -> bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]
            .iter()
            .any(|m| self.method.eq_ignore_ascii_case(m))
    }

    /// The request as sent on the wire, with `host` as the `Host` header.
    ///
    /// # Errors
    ///
    /// [`HttpError::InvalidRequest`] when the method or path is empty or contains a
    /// space or control character, or a header contains a line break: sent as is,
    /// they would change the meaning of the request.
    pub fn to_bytes(&self, host: &str) -> Result<Vec<u8>, HttpError> {
        let bad = |what: &str, v: &str| HttpError::InvalidRequest(format!("{what} {v:?}"));
        let is_token = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic());
        if !is_token(&self.method) {
            return Err(bad("method", &self.method));
        }
        if !is_token(&self.path) {
            return Err(bad("path", &self.path));
        }
        let field_ok = |s: &str| !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
        for (name, value) in &self.headers {
            if !is_token(name) || name.contains(':') || !field_ok(value) {
                return Err(bad("header", &format!("{name}: {value}")));
            }
        }
        if !field_ok(host) {
            return Err(bad("host", host));
        }
        let mut out = Vec::with_capacity(64 + self.path.len() + host.len() + self.body.len());
        out.extend_from_slice(self.method.as_bytes());
        out.push(b' ');
        out.extend_from_slice(self.path.as_bytes());
        out.extend_from_slice(b" HTTP/1.1\r\n");
        // A Host header of the request's own replaces the connection's.
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            out.extend_from_slice(b"Host: ");
            out.extend_from_slice(host.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let mut has_length = false;
        for (name, value) in &self.headers {
            has_length |= name.eq_ignore_ascii_case("content-length")
                || name.eq_ignore_ascii_case("transfer-encoding");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        let expects_body = ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| self.method.eq_ignore_ascii_case(m));
        if !has_length && (!self.body.is_empty() || expects_body) {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        Ok(out)
    }
}
