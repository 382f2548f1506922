//! The example servers, run as processes with 64 file descriptors, against more
//! clients than that: each must stay up, not spin while it cannot accept, and serve
//! a new client once the others have left (the listener must not die silently).
#![cfg(target_os = "linux")]

mod example_process;

use std::net::TcpStream;
use std::time::Duration;

use example_process::{Server, read_line, send};

/// The servers' descriptor limit: stdin/out/err, the poller and the listener leave
/// room for about 58 connections.
const NOFILE: u32 = 64;
/// Clients opened at once: more than the server has descriptors for, and fewer than
/// its descriptors plus its listen backlog (128), so no connect waits for a SYN retry.
const CLIENTS: usize = 150;

/// Fills the server's descriptor table, checks that it idles instead of spinning and
/// stays up, then that a client arriving after the others left is served (`greet`
/// checks the server's first exchange with it).
fn weathers_running_out_of_descriptors(name: &str, greet: impl Fn(&mut TcpStream)) {
    let mut server = Server::start_limited(name, NOFILE);
    let clients: Vec<TcpStream> = (0..CLIENTS)
        .filter_map(|_| TcpStream::connect_timeout(&server.addr, Duration::from_secs(2)).ok())
        .collect();
    assert!(
        clients.len() > NOFILE as usize,
        "only {} clients connected",
        clients.len()
    );
    // Let it accept what it can and run out.
    std::thread::sleep(Duration::from_millis(300));
    let before = server.cpu_ticks();
    std::thread::sleep(Duration::from_secs(1));
    let used = server.cpu_ticks() - before;
    eprintln!("{name}: {used} clock ticks of CPU in 1 s out of descriptors");
    assert!(
        server.is_running(),
        "{name} exited when it ran out of descriptors"
    );
    // Retrying accept every 100 ms costs next to nothing; a spinning loop, a tick
    // every 10 ms (~100).
    assert!(
        used < 20,
        "{name} used {used} clock ticks in 1 s while out of descriptors"
    );
    drop(clients);
    // The descriptors come back as the server closes the departed clients; a new
    // client is accepted and served (the connect's read timeout bounds the wait).
    let mut fresh = server.connect();
    greet(&mut fresh);
    assert!(server.is_running());
}

#[test]
fn echo_server_survives_running_out_of_descriptors() {
    weathers_running_out_of_descriptors("echo_server", |s| {
        send(s, b"still here\n");
        assert_eq!(read_line(s), "still here\n");
    });
}

#[test]
fn chat_server_survives_running_out_of_descriptors() {
    weathers_running_out_of_descriptors("chat_server", |s| {
        send(s, b"latecomer\n");
        assert_eq!(read_line(s), "welcome latecomer\n");
    });
}

#[test]
fn smtp_server_survives_running_out_of_descriptors() {
    weathers_running_out_of_descriptors("smtp_server", |s| {
        let greeting = read_line(s);
        assert!(greeting.starts_with("220"), "greeting {greeting:?}");
    });
}
