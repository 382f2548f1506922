//! The `chat_server` example, run as a process and driven over loopback.

mod example_process;

use std::net::TcpStream;

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
