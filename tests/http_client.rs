//! `asyncore::http::HttpClient` against small scripted HTTP servers on threads.

mod example_process;
mod util;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use asyncore::Map;
use asyncore::http::{HttpClient, HttpError, Limits, Request, Response};
use asyncore::tcpsocket::Sent;
use socket2::SockRef;
use util::*;

const LIMIT: Duration = Duration::from_secs(20);

/// What the scripted server does with one request.
enum Reply {
    /// Send these bytes and wait for the next request.
    Send(Vec<u8>),
    /// Send these bytes in pieces, pausing between them, so they arrive in several reads.
    Pieces(Vec<Vec<u8>>),
    /// Send these bytes, then close the connection.
    SendAndClose(Vec<u8>),
    /// Send these bytes, then reset the connection (SO_LINGER 0).
    SendAndReset(Vec<u8>),
    /// Close the connection without answering.
    Close,
}

/// A request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    connection: usize,
    method: String,
    path: String,
    host: String,
}

type Script = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

/// A threaded HTTP/1.1 server that answers each request as `script(request, nth
/// request on its connection)` says.
struct Server {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl Server {
    fn start(script: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
        let (listener, addr) = std_listener();
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let script: Arc<Script> = Arc::new(script);
        let (c, s, st) = (connections.clone(), seen.clone(), stop.clone());
        std::thread::spawn(move || accept_loop(listener, script, c, s, st));
        Server {
            addr,
            connections,
            seen,
            stop,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    fn paths(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.path.clone())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
    }
}

fn accept_loop(
    listener: TcpListener,
    script: Arc<Script>,
    connections: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let id = connections.fetch_add(1, Ordering::SeqCst);
        let (script, seen) = (script.clone(), seen.clone());
        std::thread::spawn(move || {
            let _ = serve_connection(stream, id, &*script, &seen);
        });
    }
}

fn serve_connection(
    stream: TcpStream,
    id: usize,
    script: &Script,
    seen: &Mutex<Vec<Seen>>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    for nth in 0.. {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut host = String::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (name, value) = h.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("host") {
                host = value.trim().to_string();
            }
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let request = Seen {
            connection: id,
            method,
            path,
            host,
        };
        seen.lock().unwrap().push(request.clone());
        match script(&request, nth) {
            Reply::Send(bytes) => out.write_all(&bytes)?,
            Reply::Pieces(pieces) => {
                for p in pieces {
                    out.write_all(&p)?;
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            Reply::SendAndClose(bytes) => {
                out.write_all(&bytes)?;
                return Ok(());
            }
            Reply::SendAndReset(bytes) => {
                out.write_all(&bytes)?;
                SockRef::from(&out).set_linger(Some(Duration::ZERO))?;
                return Ok(());
            }
            Reply::Close => return Ok(()),
        }
    }
    Ok(())
}

fn ok_response(body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

type Outcome = (Request, Result<Response, HttpError>);

/// Runs one client for `requests` to `origin` until it finishes; returns what it
/// reported, in order, and the client's connection count.
fn fetch(
    origin: SocketAddr,
    requests: Vec<Request>,
    tweak: impl FnOnce(HttpClient) -> HttpClient,
) -> (Vec<Outcome>, usize) {
    let outcomes: Rc<RefCell<Vec<Outcome>>> = Rc::default();
    let sink = outcomes.clone();
    let client = HttpClient::new(origin, requests, move |req, res| {
        sink.borrow_mut().push((req, res))
    });
    let map = Map::new().unwrap();
    let client = tweak(client).start(&map).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    assert!(client.borrow().is_finished());
    let connections = client.borrow().connections();
    let outcomes = outcomes.take();
    (outcomes, connections)
}

fn gets(paths: &[&str]) -> Vec<Request> {
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| Request::get(*p).with_tag(i))
        .collect()
}

fn body_of(outcome: &Outcome) -> &[u8] {
    match &outcome.1 {
        Ok(r) => &r.body,
        Err(e) => panic!("{} failed: {e}", outcome.0.path),
    }
}

fn error_of(outcome: &Outcome) -> &HttpError {
    match &outcome.1 {
        Ok(r) => panic!("{} got {} instead of an error", outcome.0.path, r.status),
        Err(e) => e,
    }
}

#[test]
fn content_length_responses_share_one_keep_alive_connection() {
    let server = Server::start(|req, _| Reply::Send(ok_response(&req.path.repeat(3))));
    let sends: Rc<RefCell<Vec<(usize, Sent)>>> = Rc::default();
    let s = sends.clone();
    let paths = ["/a", "/bb", "/ccc", "/dddd", "/e"];
    let (out, connections) = fetch(server.addr, gets(&paths), |c| {
        c.on_send(move |tag, when| s.borrow_mut().push((tag, when)))
    });
    assert_eq!(out.len(), paths.len());
    for (i, o) in out.iter().enumerate() {
        assert_eq!(o.0.path, paths[i], "responses come in request order");
        assert_eq!(o.0.tag, i);
        assert_eq!(body_of(o), paths[i].repeat(3).as_bytes());
        assert_eq!(o.1.as_ref().unwrap().status, 200);
    }
    assert_eq!(connections, 1);
    assert_eq!(server.connections(), 1);
    let seen = server.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.host == server.addr.to_string()));

    let expected: Vec<(usize, Sent)> = (0..paths.len())
        .flat_map(|i| [(i, Sent::Before), (i, Sent::AfterFirst), (i, Sent::Done)])
        .collect();
    assert_eq!(*sends.borrow(), expected);
}

#[test]
fn chunked_responses_arriving_in_pieces() {
    let server = Server::start(|req, _| {
        Reply::Pieces(vec![
            b"HTTP/1.1 200 OK\r\nTransfer-".to_vec(),
            b"Encoding: chunked\r\n\r\n".to_vec(),
            b"6\r\nchunk \r".to_vec(),
            b"\n".to_vec(),
            format!("{:x}\r\n{}\r\n", req.path.len(), req.path).into_bytes(),
            b"0\r\nX-Checksum: 42\r".to_vec(),
            b"\n\r\n".to_vec(),
        ])
    });
    let (out, connections) = fetch(server.addr, gets(&["/one", "/two"]), |c| c);
    assert_eq!(body_of(&out[0]), b"chunk /one");
    assert_eq!(body_of(&out[1]), b"chunk /two");
    let r = out[1].1.as_ref().unwrap();
    assert_eq!(r.trailers, [("X-Checksum".to_string(), "42".to_string())]);
    assert_eq!(connections, 1);
}

#[test]
fn a_body_delimited_by_the_close_ends_the_connection_and_the_rest_go_on() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/until-close" => {
            Reply::SendAndClose(b"HTTP/1.1 200 OK\r\n\r\neverything until the end".to_vec())
        }
        p => Reply::Send(ok_response(p)),
    });
    let (out, connections) = fetch(server.addr, gets(&["/a", "/until-close", "/b"]), |c| c);
    assert_eq!(body_of(&out[0]), b"/a");
    assert_eq!(body_of(&out[1]), b"everything until the end");
    assert!(!out[1].1.as_ref().unwrap().keep_alive);
    assert_eq!(body_of(&out[2]), b"/b");
    assert_eq!(connections, 2);
    assert_eq!(server.connections(), 2);
}

#[test]
fn an_http_1_0_server_gets_a_connection_per_request() {
    let server = Server::start(|req, _| {
        Reply::SendAndClose(
            format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{}",
                req.path.len(),
                req.path
            )
            .into_bytes(),
        )
    });
    let (out, connections) = fetch(server.addr, gets(&["/x", "/y", "/z"]), |c| c);
    let bodies: Vec<&[u8]> = out.iter().map(body_of).collect();
    assert_eq!(bodies, [&b"/x"[..], b"/y", b"/z"]);
    assert_eq!(connections, 3);
    assert_eq!(server.connections(), 3);
}

#[test]
fn head_204_and_304_responses_have_no_body() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/head" => Reply::Send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n".to_vec()),
        "/204" => Reply::Send(b"HTTP/1.1 204 No Content\r\n\r\n".to_vec()),
        "/304" => Reply::Send(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n".to_vec()),
        p => Reply::Send(ok_response(p)),
    });
    let requests = vec![
        Request::head("/head"),
        Request::get("/204"),
        Request::get("/304"),
        Request::get("/after"),
    ];
    let (out, connections) = fetch(server.addr, requests, |c| c);
    let statuses: Vec<u16> = out.iter().map(|o| o.1.as_ref().unwrap().status).collect();
    assert_eq!(statuses, [200, 204, 304, 200]);
    assert!(
        body_of(&out[0]).is_empty() && body_of(&out[1]).is_empty() && body_of(&out[2]).is_empty()
    );
    assert_eq!(body_of(&out[3]), b"/after");
    assert_eq!(connections, 1, "no body means no reason to reconnect");
    assert_eq!(server.seen.lock().unwrap()[0].method, "HEAD");
}

#[test]
fn a_malformed_status_line_fails_that_request_and_the_rest_go_on() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/bad" => Reply::Send(b"HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".to_vec()),
        p => Reply::Send(ok_response(p)),
    });
    let (out, connections) = fetch(server.addr, gets(&["/a", "/bad", "/c"]), |c| c);
    assert_eq!(body_of(&out[0]), b"/a");
    assert!(
        matches!(error_of(&out[1]), HttpError::BadStatusLine(l) if l.starts_with("HTTX")),
        "{:?}",
        out[1].1
    );
    assert_eq!(body_of(&out[2]), b"/c");
    assert_eq!(connections, 2, "the bad response ended its connection");
}

#[test]
fn a_content_length_mismatch_at_the_close_is_an_incomplete_body() {
    let server = Server::start(|_, _| {
        Reply::SendAndClose(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this".to_vec())
    });
    let (out, _) = fetch(server.addr, gets(&["/short"]), |c| c);
    assert!(
        matches!(
            error_of(&out[0]),
            HttpError::IncompleteBody {
                expected: 100,
                received: 9
            }
        ),
        "{:?}",
        out[0].1
    );
}

#[test]
fn an_oversized_head_and_a_bad_chunk_size_are_typed_errors() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/big" => Reply::Send(
            format!(
                "HTTP/1.1 200 OK\r\nX-Big: {}\r\nContent-Length: 0\r\n\r\n",
                "b".repeat(4096)
            )
            .into_bytes(),
        ),
        "/chunk" => {
            Reply::Send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n".to_vec())
        }
        p => Reply::Send(ok_response(p)),
    });
    let limits = Limits {
        max_head: 1024,
        ..Limits::default()
    };
    let (out, connections) = fetch(server.addr, gets(&["/big", "/chunk", "/fine"]), |c| {
        c.with_limits(limits)
    });
    assert!(
        matches!(error_of(&out[0]), HttpError::HeadTooLarge { limit: 1024 }),
        "{:?}",
        out[0].1
    );
    assert!(
        matches!(error_of(&out[1]), HttpError::BadChunkSize(_)),
        "{:?}",
        out[1].1
    );
    assert_eq!(body_of(&out[2]), b"/fine");
    assert_eq!(connections, 3);
}

#[test]
fn a_request_caught_by_an_idle_close_is_sent_again_once() {
    // The server drops the connection instead of answering its second request, as a
    // server closing an idle keep-alive connection would.
    let server = Server::start(|req, nth| match nth {
        0 => Reply::Send(ok_response(&req.path)),
        _ => Reply::Close,
    });
    let (out, connections) = fetch(server.addr, gets(&["/a", "/b", "/c"]), |c| c);
    let bodies: Vec<&[u8]> = out.iter().map(body_of).collect();
    assert_eq!(bodies, [&b"/a"[..], b"/b", b"/c"]);
    assert_eq!(connections, 3);
    assert_eq!(server.paths(), ["/a", "/b", "/b", "/c", "/c"]);
}

#[test]
fn a_request_the_server_never_answers_fails_after_one_retry() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/never" => Reply::Close,
        p => Reply::Send(ok_response(p)),
    });
    let (out, _) = fetch(server.addr, gets(&["/a", "/never", "/b"]), |c| c);
    assert_eq!(body_of(&out[0]), b"/a");
    assert!(
        matches!(error_of(&out[1]), HttpError::ConnectionClosed),
        "{:?}",
        out[1].1
    );
    assert_eq!(body_of(&out[2]), b"/b");
    assert_eq!(server.paths(), ["/a", "/never", "/never", "/b"]);
}

#[test]
fn a_post_is_not_sent_twice() {
    let server = Server::start(|req, nth| match (req.path.as_str(), nth) {
        ("/post", _) => Reply::Close,
        (p, _) => Reply::Send(ok_response(p)),
    });
    let requests = vec![
        Request::get("/a"),
        Request::new("POST", "/post").with_body("x=1"),
    ];
    let (out, _) = fetch(server.addr, requests, |c| c);
    assert!(matches!(error_of(&out[1]), HttpError::ConnectionClosed));
    assert_eq!(server.paths(), ["/a", "/post"]);
}

#[test]
fn a_reset_inside_a_response_fails_the_request() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/reset" => {
            Reply::SendAndReset(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npart".to_vec())
        }
        p => Reply::Send(ok_response(p)),
    });
    let (out, _) = fetch(server.addr, gets(&["/reset", "/after"]), |c| c);
    match error_of(&out[0]) {
        HttpError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        // The reset may arrive after the data and the end of the stream was read.
        HttpError::IncompleteBody { .. } => {}
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(body_of(&out[1]), b"/after");
}

#[test]
fn a_refused_connection_fails_the_request_it_was_for_and_stops() {
    let outcomes: Rc<RefCell<Vec<Outcome>>> = Rc::default();
    let sink = outcomes.clone();
    let source = Rc::new(RefCell::new(gets(&["/a", "/b", "/c"]).into_iter()));
    let src = source.clone();
    let client = HttpClient::new(
        refused_address(),
        std::iter::from_fn(move || src.borrow_mut().next()),
        move |req, res| sink.borrow_mut().push((req, res)),
    );
    let map = Map::new().unwrap();
    let client = client.start(&map).unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let out = outcomes.take();
    assert_eq!(
        out.len(),
        1,
        "only the request the connection was for fails"
    );
    assert_eq!(out[0].0.path, "/a");
    match error_of(&out[0]) {
        HttpError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused),
        other => panic!("unexpected {other:?}"),
    }
    let client = client.borrow();
    assert!(client.is_finished());
    assert_eq!(client.connections(), 1);
    assert!(
        matches!(client.connect_error(), Some(HttpError::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused),
        "{:?}",
        client.connect_error()
    );
    let left: Vec<String> = source.borrow_mut().by_ref().map(|r| r.path).collect();
    assert_eq!(left, ["/b", "/c"], "the rest stay in the source");
}

/// 0.2 review: an asynchronous connect failure other than "refused" (unreachable,
/// timed out) was taken for a lost connection, and the client reconnected for ever
/// without a callback. Loopback cannot produce EHOSTUNREACH, so it is delivered the
/// way the loop delivers a failed connect: `connecting` cleared, then `handle_error`.
#[test]
fn an_unreachable_host_fails_the_request_and_stops_instead_of_retrying() {
    use asyncore::{Dispatcher, Error};
    let outcomes: Rc<RefCell<Vec<Outcome>>> = Rc::default();
    let sink = outcomes.clone();
    // A listener that never accepts: the client's connect is real but never served.
    let (_listener, addr) = std_listener();
    let client = HttpClient::new(addr, gets(&["/a", "/b"]), move |req, res| {
        sink.borrow_mut().push((req, res))
    });
    let map = Map::new().unwrap();
    let client = client.start(&map).unwrap();
    client
        .with(|c, cx| {
            cx.connecting = false;
            let unreachable = std::io::Error::from(std::io::ErrorKind::HostUnreachable);
            c.handle_error(cx, Error::Io(unreachable));
        })
        .unwrap();
    run_until(&map, LIMIT, || map.is_empty());
    let out = outcomes.take();
    assert_eq!(out.len(), 1, "the request the connection was for fails");
    match error_of(&out[0]) {
        HttpError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::HostUnreachable),
        other => panic!("unexpected {other:?}"),
    }
    let client = client.borrow();
    assert!(client.is_finished());
    assert_eq!(
        client.connections(),
        1,
        "no reconnect after a failed connect"
    );
}

#[test]
fn a_connect_that_fails_during_the_call_fails_one_request_from_the_loop() {
    // A Unix socket path that does not exist: the connect fails inside
    // HttpClient::connect, and the failure is reported like a later one.
    let path = std::env::temp_dir().join(format!("asyncore-no-such-{}.sock", std::process::id()));
    let outcomes: Rc<RefCell<Vec<Outcome>>> = Rc::default();
    let sink = outcomes.clone();
    let client = HttpClient::new(
        asyncore::SockAddr::unix(&path).unwrap(),
        gets(&["/a", "/b"]),
        move |req, res| sink.borrow_mut().push((req, res)),
    );
    let map = Map::new().unwrap();
    let client = client.start(&map).unwrap();
    assert!(
        outcomes.borrow().is_empty(),
        "nothing is reported before the loop runs"
    );
    run_until(&map, LIMIT, || map.is_empty());
    let out = outcomes.take();
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0.path, "/a");
    match error_of(&out[0]) {
        HttpError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::NotFound),
        other => panic!("unexpected {other:?}"),
    }
    assert!(client.borrow().connect_error().is_some());
}

/// What became of each request of a shared source, by tag.
type Slots = Vec<Option<Result<Response, HttpError>>>;

/// Runs one client per origin, all sharing one source of `n` GETs `/0`..; returns
/// each request's outcome by tag, and the clients' handles.
fn shared_source(
    origins: Vec<asyncore::SockAddr>,
    n: usize,
) -> (Slots, Vec<asyncore::Handle<HttpClient>>) {
    let source = Rc::new(RefCell::new(
        (0..n).map(|i| Request::get(format!("/{i}")).with_tag(i)),
    ));
    let results: Rc<RefCell<Slots>> = Rc::new(RefCell::new(vec![None; n]));
    let map = Map::new().unwrap();
    let mut clients = Vec::new();
    for origin in origins {
        let src = source.clone();
        let res = results.clone();
        let client = HttpClient::new(
            origin,
            std::iter::from_fn(move || src.borrow_mut().next()),
            move |req, r| {
                let slot = &mut res.borrow_mut()[req.tag];
                assert!(slot.is_none(), "{} reported twice", req.path);
                *slot = Some(r);
            },
        );
        clients.push(client.start(&map).unwrap());
    }
    run_until(&map, LIMIT, || map.is_empty());
    let results = results.take();
    (results, clients)
}

#[test]
fn a_refused_reconnect_fails_only_its_request_and_the_other_clients_do_the_rest() {
    // One origin answers a single request with `Connection: close` and stops
    // listening first, so the reconnect after it is refused.
    let (listener, closing_origin) = std_listener();
    let t = std::thread::spawn(move || -> std::io::Result<()> {
        let (conn, _) = listener.accept()?;
        drop(listener);
        let mut reader = BufReader::new(conn.try_clone()?);
        let mut line = String::new();
        while reader.read_line(&mut line)? > 0 && line != "\r\n" {
            line.clear();
        }
        (&conn)
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")?;
        Ok(())
    });
    let healthy = Server::start(|req, _| Reply::Send(ok_response(&req.path)));
    let origins = vec![
        closing_origin.into(),
        healthy.addr.into(),
        healthy.addr.into(),
    ];
    let (results, clients) = shared_source(origins, 60);
    t.join().unwrap().unwrap();

    let failed: Vec<usize> = (0..60)
        .filter(|&i| !matches!(results[i], Some(Ok(_))))
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "one failure, not the whole queue: {failed:?}"
    );
    match &results[failed[0]] {
        Some(Err(HttpError::Io(e))) => {
            assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("unexpected {other:?}"),
    }
    for (i, r) in results.iter().enumerate() {
        if let Some(Ok(r)) = r {
            let expected = if r.body == b"ok" {
                "ok".to_string()
            } else {
                format!("/{i}")
            };
            assert_eq!(r.body, expected.as_bytes());
        }
    }
    let stopped = &clients[0];
    assert_eq!(stopped.borrow().completed(), 1);
    assert_eq!(stopped.borrow().connections(), 2);
    assert!(stopped.borrow().connect_error().is_some());
    let done: usize = clients[1..].iter().map(|c| c.borrow().completed()).sum();
    assert_eq!(done, 58);
    assert!(clients.iter().all(|c| c.borrow().is_finished()));
}

#[test]
fn a_client_that_cannot_connect_at_all_costs_the_others_one_request() {
    let path = std::env::temp_dir().join(format!("asyncore-none-{}.sock", std::process::id()));
    let healthy = Server::start(|req, _| Reply::Send(ok_response(&req.path)));
    let origins = vec![
        healthy.addr.into(),
        asyncore::SockAddr::unix(&path).unwrap(),
        refused_address().into(),
        healthy.addr.into(),
    ];
    let (results, clients) = shared_source(origins, 40);
    let failed: Vec<usize> = (0..40)
        .filter(|&i| !matches!(results[i], Some(Ok(_))))
        .collect();
    assert_eq!(failed.len(), 2, "one per failed connect: {failed:?}");
    assert!(
        results.iter().all(Option::is_some),
        "every request reported"
    );
    assert!(clients[1].borrow().connect_error().is_some());
    assert!(clients[2].borrow().connect_error().is_some());
    assert_eq!(
        clients[0].borrow().completed() + clients[3].borrow().completed(),
        38
    );
}

#[test]
fn a_second_answer_to_one_request_fails_it_and_is_not_the_next_response() {
    // A hostile server answers `/twice` twice, in one write; the duplicate must not
    // become `/next`'s response.
    let server = Server::start(|req, _| match req.path.as_str() {
        "/twice" => {
            let mut both = ok_response("first");
            both.extend(ok_response("again"));
            Reply::Send(both)
        }
        p => Reply::Send(ok_response(p)),
    });
    let (out, connections) = fetch(server.addr, gets(&["/a", "/twice", "/next"]), |c| c);
    assert_eq!(body_of(&out[0]), b"/a");
    match error_of(&out[1]) {
        HttpError::UnsolicitedData { status, bytes } => {
            assert_eq!(*status, 200);
            assert_eq!(*bytes, ok_response("again").len());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(body_of(&out[2]), b"/next");
    assert_eq!(
        connections, 2,
        "the connection with the extra bytes was closed"
    );
    assert_eq!(server.paths(), ["/a", "/twice", "/next"]);
}

#[test]
fn an_answer_after_a_pause_before_the_next_request_is_caught_too() {
    // The duplicate comes in a second write, a moment later: it is still read before
    // the next request goes out, as long as it arrived when the socket was read.
    let server = Server::start(|req, _| match req.path.as_str() {
        "/twice" => Reply::Pieces(vec![
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirs".to_vec(),
            b"tHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nagain".to_vec(),
        ]),
        p => Reply::Send(ok_response(p)),
    });
    let (out, _) = fetch(server.addr, gets(&["/twice", "/next"]), |c| c);
    assert!(
        matches!(
            error_of(&out[0]),
            HttpError::UnsolicitedData { status: 200, .. }
        ),
        "{:?}",
        out[0].1
    );
    assert_eq!(body_of(&out[1]), b"/next");
}

/// A response head announcing `framing`, then `part` of its body.
fn cut(framing: &str, part: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\n{framing}\r\n\r\n{part}").into_bytes()
}

#[test]
fn a_chunked_body_cut_by_the_close_is_an_error_and_the_rest_go_on() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/mid-chunk" => Reply::SendAndClose(cut("Transfer-Encoding: chunked", "a\r\nhello")),
        "/no-last" => Reply::SendAndClose(cut("Transfer-Encoding: chunked", "5\r\nhello\r\n")),
        "/no-end" => Reply::SendAndClose(cut("Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n")),
        p => Reply::Send(ok_response(p)),
    });
    let (out, _) = fetch(
        server.addr,
        gets(&["/mid-chunk", "/no-last", "/no-end", "/after"]),
        |c| c,
    );
    for o in &out[..3] {
        assert!(
            matches!(error_of(o), HttpError::IncompleteChunked),
            "{}: {:?}",
            o.0.path,
            o.1
        );
    }
    assert_eq!(body_of(&out[3]), b"/after");
}

/// A reset (SO_LINGER 0) can reach the client as the reset or, when the data before
/// it was read first, as an end of stream: either way an error, never a response.
fn assert_cut(o: &Outcome, eof_error: fn(&HttpError) -> bool) {
    match error_of(o) {
        HttpError::Io(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        e if eof_error(e) => {}
        other => panic!("{}: unexpected {other:?}", o.0.path),
    }
}

#[test]
fn bodies_cut_by_a_reset_are_errors() {
    let server = Server::start(|req, _| match req.path.as_str() {
        "/length" => Reply::SendAndReset(cut("Content-Length: 100", "only part")),
        "/chunked" => Reply::SendAndReset(cut("Transfer-Encoding: chunked", "10\r\nonly")),
        "/until-close" => Reply::SendAndReset(cut("Connection: close", "maybe all")),
        p => Reply::Send(ok_response(p)),
    });
    for _ in 0..5 {
        let (out, _) = fetch(
            server.addr,
            gets(&["/length", "/chunked", "/until-close", "/after"]),
            |c| c,
        );
        assert_cut(&out[0], |e| {
            matches!(e, HttpError::IncompleteBody { expected: 100, .. })
        });
        assert_cut(&out[1], |e| matches!(e, HttpError::IncompleteChunked));
        // Delimited by the close, a body cut by a reset cannot be told complete.
        match &out[2].1 {
            Err(HttpError::Io(e)) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
            // The reset lost its race with the data: read as an orderly close.
            Ok(r) => assert_eq!(r.body, b"maybe all"),
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(body_of(&out[3]), b"/after");
    }
}

#[test]
fn an_invalid_request_fails_alone() {
    let server = Server::start(|req, _| Reply::Send(ok_response(&req.path)));
    let (out, _) = fetch(server.addr, gets(&["/a", "/with space", "/b"]), |c| c);
    assert_eq!(body_of(&out[0]), b"/a");
    assert!(matches!(error_of(&out[1]), HttpError::InvalidRequest(_)));
    assert_eq!(body_of(&out[2]), b"/b");
    assert_eq!(server.paths(), ["/a", "/b"]);
}

#[test]
fn bodies_can_be_counted_and_dropped() {
    let server = Server::start(|req, _| Reply::Send(ok_response(&req.path.repeat(1000))));
    let (out, _) = fetch(server.addr, gets(&["/abc"]), |c| c.keep_bodies(false));
    let r = out[0].1.as_ref().unwrap();
    assert!(r.body.is_empty());
    assert_eq!(r.body_len, 4000);
}

#[test]
fn many_clients_share_one_source_in_one_loop() {
    let server = Server::start(|req, _| Reply::Send(ok_response(&req.path)));
    let source = Rc::new(RefCell::new(
        (0..60).map(|i| Request::get(format!("/{i}")).with_tag(i)),
    ));
    let results: Rc<RefCell<Vec<Option<Vec<u8>>>>> = Rc::new(RefCell::new(vec![None; 60]));
    let map = Map::new().unwrap();
    let mut clients = Vec::new();
    for _ in 0..4 {
        let src = source.clone();
        let res = results.clone();
        let client = HttpClient::new(
            server.addr,
            std::iter::from_fn(move || src.borrow_mut().next()),
            move |req, r| res.borrow_mut()[req.tag] = Some(r.unwrap().body),
        );
        let mut client = client;
        let chan = client.connect().unwrap();
        clients.push(map.add(chan, client).unwrap());
    }
    run_until(&map, LIMIT, || map.is_empty());
    for (i, r) in results.borrow().iter().enumerate() {
        assert_eq!(r.as_deref(), Some(format!("/{i}").as_bytes()));
    }
    assert_eq!(server.connections(), 4);
    let done: usize = clients.iter().map(|c| c.borrow().completed()).sum();
    assert_eq!(done, 60);
}

// `examples/http_client.rs` run as a process: its timeout and its failures.

/// A server on a thread for one connection: reads the request, then does `then`
/// with the connection. Returns the `HOST:PORT` to give the example.
fn one_connection(then: impl FnOnce(TcpStream) + Send + 'static) -> String {
    let (listener, addr) = std_listener();
    std::thread::spawn(move || {
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        conn.set_read_timeout(Some(LIMIT)).unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
            line.clear();
        }
        then(conn);
    });
    addr.to_string()
}

/// Runs the example; returns its output and how long it took.
fn http_client_example(args: &[&str]) -> (std::process::Output, Duration) {
    let start = std::time::Instant::now();
    let out = example_process::run_to_exit("http_client", args);
    (out, start.elapsed())
}

/// The example failed with one line on stderr containing `what`; returns the line.
fn assert_failed_with(out: &std::process::Output, what: &str) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.starts_with("http_client: "), "{err:?}");
    assert!(err.to_lowercase().contains(what), "{err:?}");
    err
}

#[test]
fn the_example_times_out_on_a_server_that_never_answers() {
    let target = one_connection(|conn| {
        // Hold the connection open, saying nothing, until the client leaves.
        let _ = (&conn).read(&mut [0u8; 1]);
    });
    let (out, took) = http_client_example(&[&target, "/", "--timeout", "1"]);
    assert_failed_with(&out, "timed out");
    assert!(out.stdout.is_empty());
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn the_example_fails_on_a_reset_inside_the_body() {
    let target = one_connection(|conn| {
        (&conn)
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            .unwrap();
        std::thread::sleep(Duration::from_millis(50));
        SockRef::from(&conn)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    });
    let (out, _) = http_client_example(&[&target, "/", "--timeout=10"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    // The reset itself, or (the data read first) a body cut short.
    assert!(
        err.contains("reset") || err.contains("truncated"),
        "{err:?}"
    );
    assert_failed_with(&out, "");
}

#[test]
fn the_example_fails_on_a_body_cut_by_the_close() {
    let target = one_connection(|conn| {
        (&conn)
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            .unwrap();
    });
    let (out, _) = http_client_example(&[&target, "/"]);
    assert_failed_with(&out, "truncated response");
    assert!(out.stdout.ends_with(b"partial"), "what came is written");
}

#[test]
fn the_example_fails_on_bytes_after_the_response() {
    let target = one_connection(|conn| {
        (&conn)
            .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.0 200 OK\r\n\r\n")
            .unwrap();
    });
    let (out, _) = http_client_example(&[&target, "/"]);
    assert_failed_with(&out, "unsolicited");
    assert_eq!(
        out.stdout,
        b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
    );
}

#[test]
fn the_example_fails_on_a_refused_connect() {
    let (out, _) = http_client_example(&[&refused_address().to_string(), "/"]);
    assert_failed_with(&out, "refused");
    assert!(out.stdout.is_empty());
}

#[test]
fn the_example_writes_a_complete_response_and_exits_zero() {
    const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
    // A keep-alive server: the response's length ends it, not the close.
    let target = one_connection(|conn| {
        (&conn).write_all(RESPONSE).unwrap();
        let _ = (&conn).read(&mut [0u8; 1]);
    });
    let (out, took) = http_client_example(&[&target, "/", "--timeout", "5"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, RESPONSE);
    assert!(
        out.stderr.is_empty(),
        "{:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(4), "{took:?}");

    // HTTP/1.0, the body delimited by the close.
    const CLOSED: &[u8] = b"HTTP/1.0 200 OK\r\nX-Test: 1\r\n\r\nbody \x00\xff until the end";
    let target = one_connection(|conn| (&conn).write_all(CLOSED).unwrap());
    let (out, _) = http_client_example(&[&target, "/x"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, CLOSED);
}
