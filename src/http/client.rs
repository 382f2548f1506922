//! [`HttpClient`]: a dispatcher sending a sequence of requests to one origin.

use std::collections::VecDeque;
use std::fmt;
use std::io;

use socket2::SockAddr;

use super::{HttpError, Limits, Request, Response, ResponseParser};
use crate::read_buf::ReadBuf;
use crate::tcpsocket::raw::{self, Outcome};
use crate::tcpsocket::{Sent, WriteIterable, connect_tcp, write_iterable};
use crate::{Channel, Cx, Disconnect, Dispatcher, Error, Handle, Map, Result};

/// Reads per `handle_read` at most, so one fast server cannot starve other channels.
const READS_PER_EVENT: usize = 16;
const READ_BUFFER: usize = 64 * 1024;

/// A request on the wire, with the tag its send callbacks report.
struct Wire {
    tag: usize,
    bytes: Vec<u8>,
}

impl AsRef<[u8]> for Wire {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// The queue the writer sends from; the client fills it one request at a time.
#[derive(Default)]
struct Outbox(VecDeque<Wire>);

impl Iterator for Outbox {
    type Item = Wire;
    fn next(&mut self) -> Option<Wire> {
        self.0.pop_front()
    }
}

type OnSend = Box<dyn FnMut(&Wire, Sent)>;
type OnResponse = Box<dyn FnMut(Request, std::result::Result<Response, HttpError>)>;

/// The request sent (or being sent) and waiting for its response.
struct InFlight {
    request: Request,
    /// Sent on a connection that had answered a request before.
    reused: bool,
}

/// An HTTP/1.1 client channel: sends a sequence of requests to one origin over a
/// keep-alive connection and hands each response, or the reason there is none, to a
/// callback. In the manner of asycamore's `HTTPClientSocket`; many of them in one map
/// make many concurrent clients.
///
/// # Behaviour
///
/// - Requests come from any iterator, pulled one at a time; the next is sent when the
///   previous response is complete (no pipelining). Requests go out through a
///   [`WriteIterable`]; [`on_send`](HttpClient::on_send) observes its callbacks.
/// - Responses are parsed by a [`ResponseParser`]: bodies by `Content-Length`, chunked
///   coding (with trailers) or the close of the connection; no body for `HEAD`, `1xx`,
///   `204`, `304`.
/// - When a response ends the connection (HTTP/1.0 without keep-alive,
///   `Connection: close`, a body delimited by the close), the client connects again
///   for the remaining requests.
/// - A malformed response (or one over the [`Limits`]) ends that connection: its
///   request gets the [`HttpError`], and the rest go on over a new connection.
/// - If a reused connection closes (or is reset) before any byte of the response came
///   — the server dropped an idle keep-alive connection just as the request went out
///   — an idempotent request is sent once more on a new connection. Otherwise it fails
///   with [`HttpError::ConnectionClosed`] or the I/O error.
/// - A response is handed over once the socket has nothing more to read: bytes that
///   came after a complete response, before the next request was sent (a server
///   answering one request twice), fail that request with
///   [`HttpError::UnsolicitedData`] and end the connection; they are never read as
///   the next request's response. (Bytes that arrive only after the next request went
///   out cannot be told from its response: there is no pipelining to number them.)
/// - A body cut short — the end of the stream or a reset before the `Content-Length`
///   bytes, or before the last chunk, or a reset inside a body delimited by the close
///   — fails its request ([`HttpError::IncompleteBody`], [`HttpError::IncompleteChunked`]
///   or the reset as [`HttpError::Io`]); a truncated body is never a response.
/// - If a connect fails (refused, unreachable, out of file descriptors), only the
///   request that connection was for fails with that error (the request waiting to
///   be sent, or sent again, on it; for the first connection, which holds none yet,
///   the next request from the source). The client then stops: it takes nothing more
///   from the source, closes its channel and leaves the map, and
///   [`connect_error`](HttpClient::connect_error) tells why. Requests still in the
///   source stay there, for the other clients sharing it to send; a lone client
///   leaves them unreported, so look at `connect_error` (or at the source) after the
///   loop.
/// - Once the source is exhausted and the last response is in, the client closes its
///   channel and leaves the map.
///
/// # Starting
///
/// A client is made with [`new`](HttpClient::new) and set up with the builder methods
/// ([`with_host`](HttpClient::with_host), [`on_send`](HttpClient::on_send), ...);
/// [`start`](HttpClient::start) then opens its first connection and adds it to a map.
/// To add it yourself, [`connect`](HttpClient::connect) gives the channel:
/// `map.add(client.connect()?, client)`. Later connections reuse that channel, which
/// stays in the map with a new socket.
///
/// # Examples
///
/// Two requests over one connection to a tiny server on a thread:
///
/// ```
/// use std::io::{BufRead, BufReader, Write};
/// use std::net::TcpListener;
/// use std::time::Duration;
/// use asyncore::http::{HttpClient, Request};
/// use asyncore::Map;
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let origin = listener.local_addr()?;
/// std::thread::spawn(move || -> std::io::Result<()> {
///     let (conn, _) = listener.accept()?;
///     let mut reader = BufReader::new(conn.try_clone()?);
///     let mut line = String::new();
///     while reader.read_line(&mut line)? > 0 {
///         if line == "\r\n" {
///             (&conn).write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")?;
///         }
///         line.clear();
///     }
///     Ok(())
/// });
///
/// let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
/// let sink = results.clone();
/// let requests = vec![Request::get("/a"), Request::get("/b")];
/// let map = Map::new()?;
/// let client = HttpClient::new(origin, requests, move |req, res| {
///     let res = res.expect("a response");
///     sink.borrow_mut().push((req.path, res.status, res.body));
/// })
/// .start(&map)?;
/// map.run(Duration::from_secs(5), 1000)?;
///
/// assert!(map.is_empty(), "the client closes when done");
/// assert_eq!(results.borrow()[1], ("/b".to_string(), 200, b"hi".to_vec()));
/// assert_eq!(client.borrow().connections(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct HttpClient {
    origin: SockAddr,
    host: String,
    source: Box<dyn Iterator<Item = Request>>,
    source_done: bool,
    /// Requests taken from the source (or to send again), not sent yet.
    queued: VecDeque<Request>,
    on_response: OnResponse,
    writer: WriteIterable<Outbox, OnSend>,
    parser: ResponseParser,
    in_flight: Option<InFlight>,
    /// Counts connections; a handler notices when the connection it read from is gone.
    connections: usize,
    /// The current connection got through (`handle_connect` ran): a failure after
    /// that is a lost connection, before it a failed connect.
    established: bool,
    served_on_connection: usize,
    completed: usize,
    /// A connect that failed inside [`HttpClient::connect`], reported on the first
    /// event.
    failed_connect: Option<HttpError>,
    /// The connect failure that stopped the client.
    connect_error: Option<HttpError>,
    /// A complete response, handed over once the socket has been read dry (so bytes
    /// after it can be caught).
    pending: Option<Response>,
    finished: bool,
}

impl HttpClient {
    /// A client for `origin` (an IP socket address, or a Unix socket path made with
    /// [`SockAddr::unix`]) that will send `requests` in order and call `on_response`
    /// once per request, with the request and its response or error. Nothing is
    /// opened yet: [`start`](HttpClient::start) it on a map and run the loop.
    ///
    /// The `Host` header is `origin` as `IP:PORT` unless [`with_host`](HttpClient::with_host)
    /// says otherwise.
    pub fn new<R, F>(origin: impl Into<SockAddr>, requests: R, on_response: F) -> HttpClient
    where
        R: IntoIterator<Item = Request>,
        R::IntoIter: 'static,
        F: FnMut(Request, std::result::Result<Response, HttpError>) + 'static,
    {
        let origin = origin.into();
        let host = match origin.as_socket() {
            Some(a) => a.to_string(),
            None => "localhost".to_string(),
        };
        HttpClient {
            origin,
            host,
            source: Box::new(requests.into_iter()),
            source_done: false,
            queued: VecDeque::new(),
            on_response: Box::new(on_response),
            writer: write_iterable(
                Outbox::default(),
                Box::new(|_: &Wire, _| {}) as OnSend,
                false,
            ),
            parser: ResponseParser::new(),
            in_flight: None,
            connections: 0,
            established: false,
            served_on_connection: 0,
            completed: 0,
            failed_connect: None,
            connect_error: None,
            pending: None,
            finished: false,
        }
    }

    /// Opens the first connection (a non-blocking connect to the origin) and adds the
    /// client to `map` with it; returns the client's [`Handle`]. Run the loop to send
    /// the requests.
    ///
    /// # Errors
    ///
    /// As for [`connect`](HttpClient::connect), or the map refused the channel (the
    /// client is then dropped). A connect that fails at once is no error: it is
    /// reported through `on_response`, like a later failure, once the loop runs.
    pub fn start(mut self, map: &Map) -> Result<Handle<HttpClient>> {
        let chan = self.connect()?;
        Ok(map.add(chan, self)?)
    }

    /// Opens the first connection: a channel connecting to the origin, to add to a map
    /// with this client, `map.add(chan, client)` ([`start`](HttpClient::start) does
    /// both). Later connections reuse that channel.
    ///
    /// # Errors
    ///
    /// The socket could not be created. (A connect that fails at once is reported
    /// through `on_response` like a later failure, from the loop.)
    pub fn connect(&mut self) -> io::Result<Channel> {
        let mut chan = Channel::new();
        if let Err(e) = self.open_connection(&mut chan) {
            if !chan.is_open() {
                return Err(e);
            }
            self.failed_connect = Some(e.into());
        }
        Ok(chan)
    }

    /// Sets the `Host` header sent with every request.
    pub fn with_host(mut self, host: impl Into<String>) -> HttpClient {
        self.host = host.into();
        self
    }

    /// Sets the limits on response heads and bodies.
    pub fn with_limits(mut self, limits: Limits) -> HttpClient {
        let keep = self.parser.keeps_body();
        self.parser = ResponseParser::with_limits(limits);
        self.parser.set_keep_body(keep);
        self
    }

    /// Whether responses carry their body (default), or only its length in
    /// [`Response::body_len`] (for clients that only count).
    pub fn keep_bodies(mut self, keep: bool) -> HttpClient {
        self.parser.set_keep_body(keep);
        self
    }

    /// Calls `f(tag, when)` as each request goes out: [`Sent::Before`] just before its
    /// first byte is sent, [`Sent::AfterFirst`] once the socket took some of it, and
    /// [`Sent::Done`] once all of it was handed to the socket (the callbacks of
    /// [`write_iterable`] with `before_and_after`). `tag` is [`Request::tag`].
    pub fn on_send(mut self, mut f: impl FnMut(usize, Sent) + 'static) -> HttpClient {
        let for_each: OnSend = Box::new(move |wire: &Wire, when| f(wire.tag, when));
        self.writer = write_iterable(Outbox::default(), for_each, true);
        self
    }

    /// How many connections the client has opened so far.
    pub fn connections(&self) -> usize {
        self.connections
    }

    /// How many requests got a response.
    pub fn completed(&self) -> usize {
        self.completed
    }

    /// True once the client is done (the channel is closed): every request taken
    /// from the source has been answered or failed, and either the source is
    /// exhausted or a connect failed ([`connect_error`](HttpClient::connect_error)).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// The connect failure that stopped the client, if one did. The request that
    /// connection was for got it too; requests left in the source were not taken.
    pub fn connect_error(&self) -> Option<&HttpError> {
        self.connect_error.as_ref()
    }

    /// Opens a new connection to the origin on `chan`, replacing its socket (inside a
    /// handler, the channel stays in its map).
    fn open_connection(&mut self, chan: &mut Channel) -> io::Result<()> {
        self.connections += 1;
        self.established = false;
        self.served_on_connection = 0;
        connect_tcp(chan, self.origin.clone())?;
        if let Some(sock) = chan.socket() {
            // Requests go out in one write each; no reason to wait for ACKs. (Fails
            // harmlessly on a Unix socket.)
            let _ = sock.set_nodelay(true);
        }
        Ok(())
    }

    fn pull(&mut self) -> Option<Request> {
        if let Some(r) = self.queued.pop_front() {
            return Some(r);
        }
        if self.source_done {
            return None;
        }
        let next = self.source.next();
        self.source_done = next.is_none();
        next
    }

    /// Puts the next request in the writer. False if there is none (the client is
    /// then finished).
    fn start_next_request(&mut self, cx: &mut Cx<'_>) -> bool {
        loop {
            let Some(request) = self.pull() else {
                self.finish(cx);
                return false;
            };
            match request.to_bytes(&self.host) {
                Ok(bytes) => {
                    self.parser.set_request_method(&request.method);
                    self.writer.iter_mut().0.push_back(Wire {
                        tag: request.tag,
                        bytes,
                    });
                    self.in_flight = Some(InFlight {
                        request,
                        reused: self.served_on_connection > 0,
                    });
                    return true;
                }
                Err(e) => (self.on_response)(request, Err(e)),
            }
        }
    }

    fn flush(&mut self, cx: &mut Cx<'_>) {
        if let Err(e) = self.writer.handle_write(cx.channel_mut()) {
            self.connection_lost(cx, HttpError::Io(e));
        }
    }

    fn received(&mut self, cx: &mut Cx<'_>, mut data: &[u8]) {
        let connection = self.connections;
        while !data.is_empty() && self.connections == connection && !self.finished {
            if let Some(response) = self.pending.take() {
                let err = HttpError::UnsolicitedData {
                    status: response.status,
                    bytes: data.len(),
                };
                self.connection_failed(cx, err);
                return;
            }
            if self.in_flight.is_none() {
                self.connection_failed(cx, HttpError::UnexpectedData);
                return;
            }
            match self.parser.feed(data) {
                Ok((used, Some(response))) => {
                    // Kept until the socket is read dry: see `handle_read`.
                    data = &data[used..];
                    self.pending = Some(response);
                }
                Ok((_, None)) => return,
                Err(e) => {
                    self.connection_failed(cx, e);
                    return;
                }
            }
        }
    }

    /// Hands a complete response to its request; true if the connection may carry
    /// another request.
    fn deliver(&mut self, response: Response) -> bool {
        let flight = self.in_flight.take().expect("a request in flight");
        self.served_on_connection += 1;
        self.completed += 1;
        let keep = response.keep_alive;
        (self.on_response)(flight.request, Ok(response));
        keep
    }

    fn response_done(&mut self, cx: &mut Cx<'_>, response: Response) {
        if !self.deliver(response) {
            self.next_connection(cx);
        } else if cx.connected && self.writer.in_progress().is_none() && self.start_next_request(cx)
        {
            // Send the next request now rather than on the next pass.
            self.flush(cx);
        }
    }

    /// The server closed the connection.
    fn at_eof(&mut self, cx: &mut Cx<'_>) {
        if let Some(response) = self.pending.take() {
            // Complete before the close: the close ends only the connection.
            self.deliver(response);
            self.next_connection(cx);
            return;
        }
        let started = self.parser.is_started();
        match self.parser.finish() {
            Ok(Some(response)) if self.in_flight.is_some() => {
                // Delimited by the close, so not keep-alive: response_done moves on
                // to the next connection.
                self.response_done(cx, response);
                return;
            }
            Ok(_) => {
                if let Some(flight) = self.in_flight.take() {
                    self.unanswered(flight, started, HttpError::ConnectionClosed);
                }
            }
            Err(e) => {
                if let Some(flight) = self.in_flight.take() {
                    (self.on_response)(flight.request, Err(e));
                }
            }
        }
        self.next_connection(cx);
    }

    /// A request got no response: send it again if that is safe, or fail it.
    fn unanswered(&mut self, flight: InFlight, started: bool, err: HttpError) {
        let mut request = flight.request;
        if flight.reused && !started && !request.retried && request.is_idempotent() {
            request.retried = true;
            self.queued.push_front(request);
        } else {
            (self.on_response)(request, Err(err));
        }
    }

    /// Sending or receiving failed (reset, broken pipe, refused).
    fn connection_lost(&mut self, cx: &mut Cx<'_>, err: HttpError) {
        let refused =
            matches!(&err, HttpError::Io(e) if e.kind() == io::ErrorKind::ConnectionRefused);
        // Any failure before the connect got through (refused, unreachable, timed
        // out) is a failed connect: retrying it would go on for ever.
        if refused || !self.established {
            self.give_up(cx, err);
            return;
        }
        if let Some(response) = self.pending.take() {
            // Complete before the reset: only the connection is lost.
            self.deliver(response);
        }
        let started = self.parser.is_started();
        if let Some(flight) = self.in_flight.take() {
            self.unanswered(flight, started, err);
        }
        self.next_connection(cx);
    }

    /// The server broke the protocol: fail the request and drop the connection.
    fn connection_failed(&mut self, cx: &mut Cx<'_>, err: HttpError) {
        if let Some(flight) = self.in_flight.take() {
            (self.on_response)(flight.request, Err(err));
        } else {
            log::warn!("{}: {err}; dropping the connection", cx.type_name());
        }
        self.next_connection(cx);
    }

    /// Ends the current connection and opens another if requests remain (a new socket
    /// on the same channel, which stays in its map).
    fn next_connection(&mut self, cx: &mut Cx<'_>) {
        self.in_flight = None;
        self.pending = None;
        self.writer.discard_in_progress();
        self.writer.iter_mut().0.clear();
        self.parser.reset();
        match self.pull() {
            Some(r) => self.queued.push_front(r),
            None => {
                self.finish(cx);
                return;
            }
        }
        // The old socket goes first, so a reconnect needs no spare file descriptor.
        cx.channel_mut().close();
        if let Err(e) = self.open_connection(cx.channel_mut()) {
            self.give_up(cx, e.into());
        }
    }

    /// A connect failed: fails the request(s) this connection was for (or, if it held
    /// none yet, the next one from the source), takes nothing more from the source,
    /// and finishes. The rest are left for the clients sharing the source.
    fn give_up(&mut self, cx: &mut Cx<'_>, err: HttpError) {
        log::debug!("{}: connect failed: {err}; stopping", cx.type_name());
        let mut held: Vec<Request> = self
            .in_flight
            .take()
            .map(|f| f.request)
            .into_iter()
            .collect();
        held.extend(self.queued.drain(..));
        if held.is_empty() {
            held.extend(self.pull());
        }
        for request in held {
            (self.on_response)(request, Err(err.clone()));
        }
        self.connect_error = Some(err);
        self.finish(cx);
    }

    /// Every request is answered or failed: close the channel, leaving the map.
    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.finished = true;
        cx.close();
    }

    /// A connect failure from `connect`, reported now. True if there was one.
    fn report_failed_connect(&mut self, cx: &mut Cx<'_>) -> bool {
        match self.failed_connect.take() {
            Some(e) => {
                self.give_up(cx, e);
                true
            }
            None => false,
        }
    }
}

impl Dispatcher for HttpClient {
    /// True while connecting (for the connect event), while a request is partly sent,
    /// and when no response is awaited.
    fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
        (cx.connecting && !cx.connected)
            || self.failed_connect.is_some()
            || self.writer.in_progress().is_some()
            || self.in_flight.is_none()
    }

    fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        self.established = true;
        Ok(())
    }

    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if self.report_failed_connect(cx) || self.finished {
            return Ok(());
        }
        if self.in_flight.is_none()
            && self.writer.in_progress().is_none()
            && !self.start_next_request(cx)
        {
            return Ok(());
        }
        self.flush(cx);
        Ok(())
    }

    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if self.report_failed_connect(cx) {
            return Ok(());
        }
        let connection = self.connections;
        let mut buf = ReadBuf::take(READ_BUFFER);
        let buf = &mut buf.0[..READ_BUFFER];
        for _ in 0..READS_PER_EVENT {
            if self.finished || self.connections != connection {
                break;
            }
            match raw::recv(cx.channel_mut(), buf) {
                Outcome::Done(0) => {
                    self.at_eof(cx);
                    break;
                }
                Outcome::Done(n) => self.received(cx, &buf[..n]),
                Outcome::Blocked => break,
                Outcome::Failed(e) => {
                    self.connection_lost(cx, HttpError::Io(e));
                    break;
                }
            }
        }
        // Read dry (or out of reads for this event) with nothing after the response:
        // hand it over, and send the next request.
        if !self.finished && self.connections == connection {
            if let Some(response) = self.pending.take() {
                self.response_done(cx, response);
            }
        }
        Ok(())
    }

    /// A hang-up from the poller: the same as reading the end of the stream, or the
    /// pending socket error.
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        match cx.take_error() {
            Ok(Some(e)) => self.connection_lost(cx, HttpError::Io(e)),
            // A reset already seen (and its socket error taken) by a send or receive:
            // not an end of stream, which could pass a cut body off as complete.
            _ => match cx.disconnect() {
                Some(Disconnect::Reset(kind)) => {
                    self.connection_lost(cx, HttpError::Io(io::Error::from(kind)))
                }
                _ => self.at_eof(cx),
            },
        }
        Ok(())
    }

    /// A failed connect (reported by the loop), or a panic in a callback: the
    /// connection is given up as if it had been lost.
    fn handle_error(&mut self, cx: &mut Cx<'_>, err: Error) {
        if self.finished {
            return;
        }
        let err = match err {
            Error::Io(e) => HttpError::Io(e),
            Error::Http(e) => e,
            other => {
                log::error!("{}: {other}", cx.type_name());
                HttpError::Io(io::Error::other(other.to_string()))
            }
        };
        self.connection_lost(cx, err);
    }
}

impl fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("host", &self.host)
            .field(
                "in_flight",
                &self.in_flight.as_ref().map(|f| &f.request.path),
            )
            .field("connections", &self.connections)
            .field("completed", &self.completed)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
