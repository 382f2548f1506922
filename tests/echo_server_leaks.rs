//! The `echo_server` example, run as a process, against clients that leave in every
//! way a client can: it must close every connection (its open descriptors return to
//! where they started) and must not spin on one that reset with its echo unsent.
#![cfg(target_os = "linux")]

mod example_process;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use example_process::{LIMIT, Server};
use socket2::{Domain, SockRef, Socket, Type};

/// What a resetting client sends before it resets: as much as the server buffers
/// before it stops reading, so its echo is certainly unsent when the reset comes.
const RESET_PAYLOAD: usize = 256 * 1024;
/// How long the server may take to close everything once the clients are gone.
const SETTLE: Duration = Duration::from_secs(5);

/// The server's open file descriptors.
fn open_fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .expect("/proc/PID/fd is readable")
        .count()
}

/// The server's descriptors once it is idle: the count, once it stays the same for
/// 100 ms.
fn idle_fds(server: &Server) -> usize {
    let mut last = open_fds(server);
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = open_fds(server);
        if now == last {
            return now;
        }
        last = now;
    }
}

/// Waits until the server is back to `baseline` descriptors; the last count if not.
fn settle_fds(server: &Server, baseline: usize) -> usize {
    let start = Instant::now();
    loop {
        let now = open_fds(server);
        if now <= baseline || start.elapsed() > SETTLE {
            return now;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A blocking connection with timeouts (`Server::connect`, for threads, which cannot
/// share the `Server`).
fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_write_timeout(Some(LIMIT)).unwrap();
    s
}

/// Sends `RESET_PAYLOAD` bytes without reading the echo (but its first byte, so the
/// server is known to be echoing), then resets the connection (`SO_LINGER` 0: the
/// close sends RST, not FIN). The client's receive buffer is kept small, so most of
/// the echo is still in the server, unsent, when the reset comes.
fn reset_with_unsent_echo(addr: SocketAddr, pause: Duration) {
    let sock = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.connect(&addr.into()).unwrap();
    let mut s: TcpStream = sock.into();
    s.set_read_timeout(Some(LIMIT)).unwrap();
    s.set_write_timeout(Some(LIMIT)).unwrap();
    let payload = vec![0x5au8; RESET_PAYLOAD];
    s.write_all(&payload).unwrap();
    let mut first = [0u8; 1];
    s.read_exact(&mut first).unwrap();
    std::thread::sleep(pause);
    SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(s);
}

/// Sends a little, reads its echo, closes.
fn clean_close(addr: SocketAddr, i: usize) {
    let mut s = connect(addr);
    let msg = format!("hello {i}");
    s.write_all(msg.as_bytes()).unwrap();
    let mut back = vec![0u8; msg.len()];
    s.read_exact(&mut back).unwrap();
    assert_eq!(back, msg.as_bytes());
}

/// Sends, half-closes, and reads the whole echo up to the server's close.
fn half_close(addr: SocketAddr, i: usize) {
    let mut s = connect(addr);
    let msg: Vec<u8> = (0..4096 + i % 512).map(|b| b as u8).collect();
    s.write_all(&msg).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    assert!(back == msg, "half-closed client {i}: echo differs");
}

#[test]
fn every_connection_is_closed_however_the_client_leaves() {
    const CYCLES: usize = 3000;
    const THREADS: usize = 4;
    let server = Server::start("echo_server");
    // One connection served and closed first, so that anything the server opens once
    // (a buffer, a lazily created descriptor) is in the baseline.
    clean_close(server.addr, 0);
    let baseline = idle_fds(&server);

    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..THREADS {
            let addr = server.addr;
            scope.spawn(move || {
                for i in (t..CYCLES).step_by(THREADS) {
                    match i % 3 {
                        0 => clean_close(addr, i),
                        1 => reset_with_unsent_echo(addr, Duration::from_millis(1)),
                        _ => half_close(addr, i),
                    }
                    assert!(start.elapsed() < LIMIT, "too slow: {i} cycles");
                }
            });
        }
    });
    let after = settle_fds(&server, baseline);
    eprintln!(
        "{CYCLES} connections in {:?}: server fds {baseline} before, {after} after",
        start.elapsed()
    );
    assert_eq!(
        after,
        baseline,
        "the server keeps {} descriptors open after {CYCLES} connections",
        after.saturating_sub(baseline)
    );
    // And it still serves.
    clean_close(server.addr, 1);
}

#[test]
fn a_reset_with_unsent_echo_does_not_make_the_server_spin() {
    let server = Server::start("echo_server");
    let baseline = idle_fds(&server);
    for _ in 0..5 {
        reset_with_unsent_echo(server.addr, Duration::from_millis(50));
    }
    // Let the server see the resets.
    std::thread::sleep(Duration::from_millis(300));
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - before;
    let fds = settle_fds(&server, baseline);
    eprintln!(
        "idle after 5 resets: {used} ticks of CPU in 1 s; fds {baseline} before, {fds} after"
    );
    // An idle loop uses next to nothing; a spinning one, a tick every 10 ms (~100).
    assert!(
        used < 20,
        "the server used {used} clock ticks idling for 1 s"
    );
    assert_eq!(fds, baseline, "the reset connections are still open");
    clean_close(server.addr, 0);
}
