//! Accepting when the process is out of file descriptors (EMFILE): the listener stays
//! open, the failure is logged once per episode, the loop sleeps instead of retrying,
//! and accepting resumes by itself once descriptors are free again.
//!
//! Each test re-runs this test binary as a child under `ulimit -n 64`, so the lowered
//! limit costs nothing else: the child does the work, the parent checks it succeeded.

mod util;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use asyncore::tcpsocket::AcceptingSocket;
use asyncore::{Channel, Cx, Dispatcher, Map, Result, SockAddr, Socket};
use util::*;

/// Counts the "pausing accepts" log lines.
struct Counter;

static PAUSES: AtomicUsize = AtomicUsize::new(0);
static RESUMES: AtomicUsize = AtomicUsize::new(0);

impl log::Log for Counter {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let text = record.args().to_string();
        if text.contains("pausing accepts") {
            PAUSES.fetch_add(1, Ordering::SeqCst);
        }
        if text.contains("accepting connections again") {
            RESUMES.fetch_add(1, Ordering::SeqCst);
        }
    }
    fn flush(&self) {}
}

/// Runs test `name` of this binary again, in a child whose descriptor limit is 64.
fn in_child_with_few_descriptors(name: &str) -> bool {
    if std::env::var_os("ASYNCORE_FD_CHILD").is_some() {
        return true; // we are the child: do the work
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"ulimit -n 64 && exec "$0" --exact "$1" --nocapture --test-threads=1"#)
        .arg(exe)
        .arg(name)
        .env("ASYNCORE_FD_CHILD", "1")
        .output()
        .expect("sh runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran the test:\n{text}");
    false
}

/// Echoes what it reads, and counts itself.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let mut buf = [0u8; 512];
        let n = cx.recv_into(&mut buf)?;
        cx.send(&buf[..n])?;
        Ok(())
    }
}

static ACCEPTED: AtomicUsize = AtomicUsize::new(0);

struct Server;

impl Dispatcher for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _: SockAddr) -> Result<()> {
        ACCEPTED.fetch_add(1, Ordering::SeqCst);
        cx.add(Channel::from_socket(sock)?, Echo)?;
        Ok(())
    }
}

/// Connects clients until the process has no descriptor left for another.
fn exhaust(addr: SocketAddr) -> Vec<TcpStream> {
    let mut clients = Vec::new();
    while let Ok(c) = TcpStream::connect(addr) {
        clients.push(c);
        assert!(clients.len() < 1000, "the descriptor limit did not apply");
    }
    clients
}

/// What both tests check once `map` serves a listener at `addr` and the process is
/// out of descriptors: it sleeps, keeps the listener, logs once, and resumes.
fn weathers_exhaustion(map: &Map, addr: SocketAddr, listener_open: impl Fn() -> bool) {
    log::set_logger(&Counter).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let mut clients = exhaust(addr);
    // Serve what can be served: every accept after the last free descriptor fails.
    let passes = passes_over(map, Duration::from_millis(600), Duration::from_millis(50));
    assert!(listener_open(), "the listener survived EMFILE");
    // A loop that retried the failing accept would run thousands of passes; one that
    // sleeps runs about one per 50 ms poll, plus the resumes every 100 ms.
    assert!(passes < 60, "{passes} passes in 600 ms: the loop spun");
    assert_eq!(
        PAUSES.load(Ordering::SeqCst),
        1,
        "one log line for the episode"
    );
    let before = ACCEPTED.load(Ordering::SeqCst);
    // Free descriptors: the server's side of the closed clients closes too, and the
    // connections still waiting in the backlog are accepted.
    clients.drain(..20);
    let deadline = Instant::now() + Duration::from_secs(10);
    while ACCEPTED.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "accepting never resumed");
        map.poll(Duration::from_millis(50)).unwrap();
    }
    assert!(RESUMES.load(Ordering::SeqCst) >= 1, "the resume is logged");
    // A newly accepted connection is served.
    let mut last = clients.pop().unwrap();
    drop(clients);
    for _ in 0..40 {
        map.poll(Duration::from_millis(10)).unwrap();
    }
    let mut fresh = TcpStream::connect(addr).unwrap();
    fresh.write_all(b"ping").unwrap();
    fresh.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while got != b"ping" {
        assert!(
            Instant::now() < deadline,
            "a fresh connection was not served"
        );
        map.poll(Duration::from_millis(10)).unwrap();
        let mut buf = [0u8; 16];
        if let Ok(n) = fresh.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    last.write_all(b"x").unwrap();
}

#[test]
fn the_default_handle_accept_weathers_running_out_of_descriptors() {
    if !in_child_with_few_descriptors(
        "the_default_handle_accept_weathers_running_out_of_descriptors",
    ) {
        return;
    }
    let map = Map::new().unwrap();
    let (chan, addr) = listening_channel();
    let server = map.add(chan, Server).unwrap();
    weathers_exhaustion(&map, addr, || server.is_open());
}

#[test]
fn accepting_socket_weathers_running_out_of_descriptors() {
    if !in_child_with_few_descriptors("accepting_socket_weathers_running_out_of_descriptors") {
        return;
    }
    let map = Map::new().unwrap();
    let server = AcceptingSocket::listen(
        &map,
        std::net::Ipv4Addr::LOCALHOST.into(),
        0,
        128,
        |sock, _addr, map| {
            ACCEPTED.fetch_add(1, Ordering::SeqCst);
            map.add(Channel::from_socket(sock)?, Echo)?;
            Ok(())
        },
    )
    .unwrap();
    let addr = server.borrow().local_addr().unwrap();
    weathers_exhaustion(&map, addr, || server.is_open());
}
