//! The echo_server, http_client and demo examples, run as programs the way other
//! programs drive them.

mod example_process;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use example_process::{LIMIT, Server, run_to_exit};

#[test]
fn echo_server_prints_its_address_and_echoes() {
    let server = Server::start("echo_server");
    assert!(server.addr.ip().is_loopback());
    assert_ne!(server.addr.port(), 0, "the real bound port is printed");
    let mut a = server.connect();
    let mut b = server.connect();
    a.write_all(b"hello from a").unwrap();
    b.write_all(b"and b").unwrap();
    let mut buf = [0u8; 12];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello from a");
    let mut buf = [0u8; 5];
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"and b");
}

#[test]
fn echo_server_returns_everything_to_a_client_that_half_closes() {
    let server = Server::start("echo_server");
    let s = server.connect();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let mut writer = s.try_clone().unwrap();
    let sent = data.clone();
    let t = std::thread::spawn(move || {
        writer.write_all(&sent).unwrap();
        writer.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut reader = s;
    reader.read_to_end(&mut got).unwrap();
    t.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echo differs");
}

#[test]
fn echo_server_stops_reading_from_a_client_that_never_reads() {
    let server = Server::start("echo_server");
    let s = server.connect();
    s.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut s2 = s.try_clone().unwrap();
    // Write until the server stops taking data: its unsent echo is bounded, then the
    // kernel buffers fill and the write times out.
    let chunk = vec![7u8; 64 * 1024];
    let mut written = 0usize;
    let start = Instant::now();
    while let Ok(n) = s2.write(&chunk) {
        written += n;
        assert!(
            start.elapsed() < LIMIT,
            "the server kept reading: {written} bytes"
        );
        assert!(
            written < 256 << 20,
            "the server kept reading: {written} bytes"
        );
    }
    // The server still serves others.
    let mut other = server.connect();
    other.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    other.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    drop(s);
}

/// A one-shot HTTP/1.0 server on a thread: answers one request with `response`
/// and hands back the request it got.
fn one_shot_http(response: &'static [u8]) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        let mut req = Vec::new();
        let mut buf = [0u8; 1024];
        while !req.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "request cut short");
            req.extend_from_slice(&buf[..n]);
        }
        s.write_all(response).unwrap();
        req
    });
    (port, t)
}

#[test]
fn http_client_writes_the_raw_response_and_exits_zero() {
    const RESPONSE: &[u8] =
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Test: 1\r\n\r\nbody bytes\x00\xff as sent";
    let (port, server) = one_shot_http(RESPONSE);
    let target = format!("127.0.0.1:{port}");
    let out = run_to_exit("http_client", &[&target, "/some/path?q=1"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, RESPONSE);
    let req = String::from_utf8(server.join().unwrap()).unwrap();
    assert!(req.starts_with("GET /some/path?q=1 HTTP/1.0\r\n"), "{req}");
    assert!(req.contains(&format!("\r\nHost: {target}\r\n")), "{req}");
}

#[test]
fn http_client_reports_a_refused_connection_on_one_line() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let out = run_to_exit("http_client", &[&format!("127.0.0.1:{port}"), "/"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(err.to_lowercase().contains("refused"), "{err:?}");
}

#[test]
fn the_demo_runs_to_completion() {
    let out = run_to_exit("demo", &[]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("connected"), "{text}");
    assert!(text.contains("handle_error"), "{text}");
    let summary = text
        .lines()
        .find(|l| l.starts_with("summary: "))
        .unwrap_or_else(|| panic!("no summary line: {text}"));
    // Three greetings of 5 + 7 + 5 bytes, echoed back.
    assert_eq!(
        summary,
        "summary: served 3 clients, echoed 17 bytes, 1 connect refused and reported, \
         all channels closed",
        "{text}"
    );
    // Warnings and errors would show on stderr: the demo has none.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
