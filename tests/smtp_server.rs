//! The `smtp_server` example, run as a process: raw SMTP sessions over loopback, and
//! Python's smtplib delivering to it.

mod example_process;

use std::net::TcpStream;
use std::process::Command;

use example_process::*;

/// Sends one command line and returns the (last line of the) reply.
fn cmd(s: &mut TcpStream, line: &str) -> String {
    send(s, format!("{line}\r\n").as_bytes());
    reply(s)
}

/// Reads a reply, following continuation lines ("250-..."), and returns its last line
/// without the CRLF.
fn reply(s: &mut TcpStream) -> String {
    loop {
        let line = read_line(s);
        let line = line.strip_suffix("\r\n").expect("replies end with CRLF");
        if line.as_bytes().get(3) != Some(&b'-') {
            return line.to_string();
        }
    }
}

fn code(reply: &str) -> &str {
    &reply[..3]
}

fn greeted(server: &Server) -> TcpStream {
    let mut s = server.connect();
    assert_eq!(code(&reply(&mut s)), "220");
    s
}

/// The next message block the server prints, as lines, without the marker lines.
fn printed_message(server: &Server) -> Vec<String> {
    assert_eq!(server.next_line(), "---------- MESSAGE FOLLOWS ----------");
    let mut lines = Vec::new();
    loop {
        let line = server.next_line();
        if line == "------------ END MESSAGE ------------" {
            return lines;
        }
        lines.push(line);
    }
}

#[test]
fn a_session_delivers_a_dot_unstuffed_message_to_stdout() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    send(&mut s, b"EHLO client.example\r\n");
    let mut ehlo = vec![read_line(&mut s)];
    while ehlo.last().unwrap().as_bytes()[3] == b'-' {
        ehlo.push(read_line(&mut s));
    }
    assert!(ehlo.iter().all(|l| l.starts_with("250")), "{ehlo:?}");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<alice@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<bob@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "rcpt to: <carol@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    send(
        &mut s,
        b"Subject: test\r\n\r\nfirst line\r\n..leading dot\r\n...two\r\n.\r\n",
    );
    assert_eq!(code(&reply(&mut s)), "250");
    assert_eq!(
        printed_message(&server),
        [
            "mail from: alice@example.org",
            "rcpt to: bob@example.org",
            "rcpt to: carol@example.org",
            "",
            "Subject: test",
            "",
            "first line",
            ".leading dot",
            "..two",
        ]
    );
    // A second message on the same connection starts from scratch.
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<dave@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<erin@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    send(&mut s, b"only line\r\n.\r\n");
    assert_eq!(code(&reply(&mut s)), "250");
    assert_eq!(
        printed_message(&server),
        [
            "mail from: dave@example.org",
            "rcpt to: erin@example.org",
            "",
            "only line",
        ]
    );
    assert_eq!(code(&cmd(&mut s, "QUIT")), "221");
    assert!(closed_by_server(&mut s));
}

#[test]
fn commands_out_of_sequence_or_unknown_are_refused() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    assert_eq!(code(&cmd(&mut s, "HELO client.example")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<bob@example.org>")), "503");
    assert_eq!(code(&cmd(&mut s, "DATA")), "503");
    assert_eq!(code(&cmd(&mut s, "FROB")), "500");
    assert_eq!(code(&cmd(&mut s, "")), "500");
    assert_eq!(code(&cmd(&mut s, "NOOP")), "250");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<alice@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<again@example.org>")), "503");
    assert_eq!(code(&cmd(&mut s, "DATA")), "503");
    assert_eq!(code(&cmd(&mut s, "MAIL")), "501");
    // RSET forgets the transaction.
    assert_eq!(code(&cmd(&mut s, "RSET")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<bob@example.org>")), "503");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<alice@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<bob@example.org>")), "250");
    assert_eq!(code(&cmd(&mut s, "RSET")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "503");
    assert_eq!(code(&cmd(&mut s, "quit")), "221");
    assert!(closed_by_server(&mut s));
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    send(
        &mut s,
        b"HELO c\r\nMAIL FROM:<a@x>\r\nRCPT TO:<b@x>\r\nDATA\r\nbody\r\n.\r\nNOOP\r\nQUIT\r\n",
    );
    let codes: Vec<String> = (0..7).map(|_| code(&reply(&mut s)).to_string()).collect();
    assert_eq!(codes, ["250", "250", "250", "354", "250", "250", "221"]);
    assert!(closed_by_server(&mut s));
    assert_eq!(
        printed_message(&server),
        ["mail from: a@x", "rcpt to: b@x", "", "body"]
    );
}

#[test]
fn over_long_lines_are_refused_and_huge_ones_close_the_connection() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    let long = format!("NOOP {}", "x".repeat(2000));
    assert_eq!(code(&cmd(&mut s, &long)), "500");
    assert_eq!(code(&cmd(&mut s, "NOOP")), "250");
    send(&mut s, &vec![b'x'; 100 * 1024]);
    assert!(closed_by_server(&mut s));
    // The server goes on.
    let mut t = greeted(&server);
    assert_eq!(code(&cmd(&mut t, "QUIT")), "221");
}

const SMTPLIB_CLIENT: &str = r#"
import smtplib, sys
body = (
    "From: alice@example.org\r\n"
    "Subject: interop\r\n"
    "\r\n"
    "Hello from smtplib.\r\n"
    ".a line that starts with a dot\r\n"
    "..two dots\r\n"
    ".\r\n"
    "last line\r\n"
)
with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), timeout=20) as s:
    refused = s.sendmail(
        "alice@example.org",
        ["bob@example.org", "carol@example.org", "dave@example.org"],
        body,
    )
    assert refused == {}, refused
print("sent")
"#;

#[test]
fn python_smtplib_delivers_to_it() {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => {}
        _ => {
            eprintln!("skipped: python3 is not available");
            return;
        }
    }
    let server = Server::start("smtp_server");
    let out = Command::new("python3")
        .args(["-c", SMTPLIB_CLIENT, &server.addr.port().to_string()])
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "sent");
    assert_eq!(
        printed_message(&server),
        [
            "mail from: alice@example.org",
            "rcpt to: bob@example.org",
            "rcpt to: carol@example.org",
            "rcpt to: dave@example.org",
            "",
            "From: alice@example.org",
            "Subject: interop",
            "",
            "Hello from smtplib.",
            ".a line that starts with a dot",
            "..two dots",
            ".",
            "last line",
        ]
    );
}
