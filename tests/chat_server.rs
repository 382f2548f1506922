//! The `chat_server` example, run as a process and driven over loopback.

mod example_process;

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use example_process::*;

/// Connects and registers `nick`, checking the welcome.
fn join(server: &Server, nick: &str) -> TcpStream {
    let mut s = server.connect();
    send(&mut s, format!("{nick}\n").as_bytes());
    assert_eq!(read_line(&mut s), format!("welcome {nick}\n"));
    s
}

/// Quits and checks that nothing else was sent to `s` before `bye`.
fn quit(s: &mut TcpStream) {
    send(s, b"/quit\n");
    assert_eq!(read_line(s), "bye\n");
    assert!(closed_by_server(s), "the connection closes after bye");
}

#[test]
fn first_line_is_the_nickname_and_later_lines_go_to_the_others() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    let mut carol = join(&server, "carol");
    // No nickname yet: gets nothing.
    let mut nameless = server.connect();

    send(&mut alice, b"hello everyone\n");
    assert_eq!(read_line(&mut bob), "alice: hello everyone\n");
    assert_eq!(read_line(&mut carol), "alice: hello everyone\n");
    send(&mut bob, b"hi alice\n");
    assert_eq!(read_line(&mut alice), "bob: hi alice\n");
    assert_eq!(read_line(&mut carol), "bob: hi alice\n");

    // The nameless client's first bytes are its welcome: nothing was sent to it
    // before. And nothing went back to a sender: its next line is "bye".
    send(&mut nameless, b"dave\n");
    assert_eq!(read_line(&mut nameless), "welcome dave\n");
    quit(&mut alice);
    quit(&mut bob);
    send(&mut nameless, b"hi\n");
    assert_eq!(read_line(&mut carol), "dave: hi\n");
}

#[test]
fn carriage_return_before_newline_is_dropped() {
    let server = Server::start("chat_server");
    let mut alice = server.connect();
    send(&mut alice, b"alice\r\n");
    assert_eq!(read_line(&mut alice), "welcome alice\n");
    let mut bob = join(&server, "bob");
    send(&mut alice, b"one\r\ntwo\r\n\r\nthree\n");
    assert_eq!(read_line(&mut bob), "alice: one\n");
    assert_eq!(read_line(&mut bob), "alice: two\n");
    assert_eq!(read_line(&mut bob), "alice: \n");
    assert_eq!(read_line(&mut bob), "alice: three\n");
    // Only the "\r" right before "\n" is dropped.
    send(&mut alice, b"a\rb\r\r\n");
    assert_eq!(read_line(&mut bob), "alice: a\rb\r\n");
}

#[test]
fn quit_says_bye_and_closes_and_the_others_carry_on() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    // Lines after /quit in the same write are ignored.
    send(&mut bob, b"/quit\nignored\n");
    assert_eq!(read_line(&mut bob), "bye\n");
    assert!(closed_by_server(&mut bob));
    let mut carol = join(&server, "carol");
    send(&mut alice, b"still here\n");
    assert_eq!(read_line(&mut carol), "alice: still here\n");
    quit(&mut carol);
    // /quit before a nickname works too.
    let mut early = server.connect();
    quit(&mut early);
}

#[test]
fn lines_cut_across_writes_are_put_together() {
    let server = Server::start("chat_server");
    let mut alice = server.connect();
    for piece in [&b"al"[..], b"ice", b"\r", b"\n"] {
        send(&mut alice, piece);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(read_line(&mut alice), "welcome alice\n");
    let mut bob = join(&server, "bob");
    for piece in [&b"hel"[..], b"lo\r", b"\nwor", b"ld\n"] {
        send(&mut alice, piece);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(read_line(&mut bob), "alice: hello\n");
    assert_eq!(read_line(&mut bob), "alice: world\n");
}

#[test]
fn many_pipelined_lines_arrive_in_order() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    let mut input = Vec::new();
    for i in 0..5000 {
        input.extend_from_slice(format!("message {i}\n").as_bytes());
    }
    let writer = std::thread::spawn(move || {
        send(&mut alice, &input);
        alice
    });
    for i in 0..5000 {
        assert_eq!(read_line(&mut bob), format!("alice: message {i}\n"));
    }
    let mut alice = writer.join().unwrap();
    quit(&mut alice);
}

#[test]
fn a_line_over_64_kib_closes_only_that_client() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");

    // Exactly 64 KiB is a line like any other.
    let long = vec![b'x'; 64 * 1024];
    send(&mut alice, &long);
    send(&mut alice, b"\n");
    let got = read_line(&mut bob);
    assert_eq!(got.len(), "alice: ".len() + long.len() + 1);

    // One byte more, and no newline: that client is closed.
    let mut flooder = join(&server, "flooder");
    send(&mut flooder, &vec![b'y'; 64 * 1024 + 1]);
    assert!(closed_by_server(&mut flooder));

    // A flood far past the limit: the same.
    let mut flood2 = join(&server, "flood2");
    let writer = std::thread::spawn(move || {
        send(&mut flood2, &vec![b'z'; 4 * 1024 * 1024]);
        flood2
    });
    let mut flood2 = writer.join().unwrap();
    assert!(closed_by_server(&mut flood2));

    // The others are not affected.
    send(&mut bob, b"anyone?\n");
    assert_eq!(read_line(&mut alice), "bob: anyone?\n");
    quit(&mut alice);
    quit(&mut bob);
}

#[test]
fn the_cr_of_a_crlf_does_not_count_toward_the_64_kib_limit() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");

    // Exactly 64 KiB, then CRLF: accepted, and the "\r" is dropped.
    let mut long = vec![b'x'; 64 * 1024];
    long.extend_from_slice(b"\r\n");
    send(&mut alice, &long);
    let got = read_line(&mut bob);
    assert_eq!(got.len(), "alice: ".len() + 64 * 1024 + 1);
    assert!(got.ends_with("x\n"), "the \\r is dropped");
    // Cut between the "\r" and the "\n": the same.
    send(&mut alice, &long[..long.len() - 1]);
    std::thread::sleep(Duration::from_millis(20));
    send(&mut alice, b"\n");
    assert_eq!(read_line(&mut bob).len(), "alice: ".len() + 64 * 1024 + 1);

    // 64 KiB and a "\r" that is not followed by "\n" is a line over the limit.
    let mut cr = join(&server, "cr");
    let mut over = vec![b'y'; 64 * 1024];
    over.extend_from_slice(b"\ry\r\n");
    send(&mut cr, &over);
    assert!(closed_by_server(&mut cr));
    // 64 KiB + 1 before the CRLF: closed too.
    let mut one_more = join(&server, "one_more");
    let mut over = vec![b'z'; 64 * 1024 + 1];
    over.extend_from_slice(b"\r\n");
    send(&mut one_more, &over);
    assert!(closed_by_server(&mut one_more));

    send(&mut bob, b"still here?\r\n");
    assert_eq!(read_line(&mut alice), "bob: still here?\n");
    quit(&mut alice);
    quit(&mut bob);
}

#[test]
fn a_client_that_vanishes_does_not_disturb_the_others() {
    let server = Server::start("chat_server");
    let mut alice = join(&server, "alice");
    let bob = join(&server, "bob");
    let mut carol = join(&server, "carol");
    drop(bob);
    // Half a line, then gone.
    let mut half = join(&server, "half");
    send(&mut half, b"unfinished");
    drop(half);
    for i in 0..3 {
        send(&mut alice, format!("ping {i}\n").as_bytes());
        assert_eq!(read_line(&mut carol), format!("alice: ping {i}\n"));
    }
    quit(&mut carol);
}

// ---- --idle-timeout ------------------------------------------------------------

/// The timeout the idle tests run with, as given on the command line.
const IDLE_ARG: &str = "0.5";
const IDLE: Duration = Duration::from_millis(500);
/// A generous bound on how late an idle client is closed: never hit on a sane machine.
const IDLE_LATE: Duration = Duration::from_secs(10);

/// Starts the server with `--idle-timeout IDLE_ARG` before the address.
fn start_with_idle_timeout() -> Server {
    Server::start_with("chat_server", &["--idle-timeout", IDLE_ARG, "127.0.0.1:0"])
}

/// Checks that the next bytes on `s` are exactly `idle timeout\n` and then the end
/// of the stream, and that this came between `idle` and [`IDLE_LATE`] after `since`
/// (taken before the client's last bytes were sent, or before it connected).
fn timed_out(s: &mut TcpStream, since: Instant, idle: Duration) {
    assert_eq!(read_line(s), "idle timeout\n");
    assert!(
        closed_by_server(s),
        "the connection closes after the notice"
    );
    let after = since.elapsed();
    assert!(after >= idle, "timed out after only {after:?}");
    assert!(after < IDLE_LATE, "timed out only after {after:?}");
}

/// Sends a line from each of `a` and `b` about every 100 ms for `talk`, checking
/// that each gets the other's; returns when the last lines were sent.
fn chat_for(
    talk: Duration,
    (a, a_nick): (&mut TcpStream, &str),
    (b, b_nick): (&mut TcpStream, &str),
) -> Instant {
    let start = Instant::now();
    let mut i = 0;
    loop {
        let sent = Instant::now();
        send(a, format!("a{i}\n").as_bytes());
        send(b, format!("b{i}\n").as_bytes());
        assert_eq!(read_line(b), format!("{a_nick}: a{i}\n"));
        assert_eq!(read_line(a), format!("{b_nick}: b{i}\n"));
        if start.elapsed() >= talk {
            return sent;
        }
        i += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn with_idle_timeout_a_silent_client_is_told_and_closed() {
    let server = start_with_idle_timeout();
    // Both wait at once: without a nickname, and with one (the countdown restarts
    // when the nickname is read).
    let before_connect = Instant::now();
    let mut nameless = server.connect();
    let before_nick = Instant::now();
    let mut alice = join(&server, "alice");
    timed_out(&mut nameless, before_connect, IDLE);
    timed_out(&mut alice, before_nick, IDLE);
}

#[test]
fn the_idle_timeout_may_follow_the_address_and_be_fractional() {
    let server = Server::start_with("chat_server", &["127.0.0.1:0", "--idle-timeout", "0.3"]);
    let before_connect = Instant::now();
    let mut s = server.connect();
    timed_out(&mut s, before_connect, Duration::from_millis(300));
}

#[test]
fn an_active_client_is_not_timed_out_and_still_gets_broadcasts() {
    let server = start_with_idle_timeout();
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    // Three times the timeout, never silent for a fifth of it.
    let last = chat_for(3 * IDLE, (&mut alice, "alice"), (&mut bob, "bob"));
    // Once silent, they are timed out like anyone: the countdown was running.
    timed_out(&mut alice, last, IDLE);
    timed_out(&mut bob, last, IDLE);
}

#[test]
fn an_idle_client_closing_does_not_affect_the_others() {
    let server = start_with_idle_timeout();
    let mut alice = join(&server, "alice");
    let mut bob = join(&server, "bob");
    let before_nick = Instant::now();
    let mut carol = join(&server, "carol");
    // Carol only listens: she gets the others' lines, then the notice, then EOF.
    let listener = std::thread::spawn(move || {
        let mut heard = 0;
        loop {
            let line = read_line(&mut carol);
            if line == "idle timeout\n" {
                break;
            }
            assert!(
                line.starts_with("alice: a") || line.starts_with("bob: b"),
                "carol got {line:?}"
            );
            heard += 1;
        }
        assert!(closed_by_server(&mut carol), "carol's connection closes");
        (heard, before_nick.elapsed())
    });
    chat_for(3 * IDLE, (&mut alice, "alice"), (&mut bob, "bob"));
    let (heard, after) = listener.join().unwrap();
    assert!(heard > 0, "carol heard nothing before timing out");
    assert!(
        after >= IDLE && after < IDLE_LATE,
        "carol timed out after {after:?}"
    );
    // Carol is gone, the others carry on (and a newcomer is welcome).
    let mut dave = join(&server, "dave");
    send(&mut alice, b"still here\n");
    assert_eq!(read_line(&mut bob), "alice: still here\n");
    assert_eq!(read_line(&mut dave), "alice: still here\n");
    quit(&mut alice);
    quit(&mut bob);
    quit(&mut dave);
}

#[test]
fn without_idle_timeout_a_silent_client_stays() {
    let server = Server::start("chat_server");
    let mut s = server.connect();
    // Twice the timeout the other tests use: nothing comes, the connection stays.
    s.set_read_timeout(Some(2 * IDLE)).unwrap();
    let mut byte = [0u8];
    match s.read(&mut byte) {
        Ok(n) => panic!("got {n} bytes from a server without --idle-timeout"),
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "{e}"
        ),
    }
    s.set_read_timeout(Some(LIMIT)).unwrap();
    quit(&mut s);
}

#[test]
fn a_bad_idle_timeout_is_refused_with_the_usage() {
    for args in [
        &["--idle-timeout"][..],
        &["127.0.0.1:0", "--idle-timeout"],
        &["--idle-timeout", "soon", "127.0.0.1:0"],
        &["--idle-timeout", "0", "127.0.0.1:0"],
        &["--idle-timeout", "-1", "127.0.0.1:0"],
        &["--idle-timeout", "nan", "127.0.0.1:0"],
    ] {
        let out = run_to_exit("chat_server", args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("usage: chat_server"), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
