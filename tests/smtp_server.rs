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
fn an_over_long_command_line_gets_500_and_the_session_goes_on() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    let long = format!("NOOP {}", "x".repeat(2000));
    assert_eq!(cmd(&mut s, &long), "500 5.5.2 Line too long");
    assert_eq!(code(&cmd(&mut s, "NOOP")), "250");
    // 100 KiB, with the next command in the same write: answered in order.
    let mut huge = vec![b'x'; 100 * 1024];
    huge.extend_from_slice(b"\r\nNOOP\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || send(&mut w, &huge))
    };
    assert_eq!(reply(&mut s), "500 5.5.2 Line too long");
    assert_eq!(code(&reply(&mut s)), "250");
    writer.join().unwrap();
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "QUIT")), "221");
    assert!(closed_by_server(&mut s));
}

#[test]
fn an_over_long_line_inside_data_fails_the_message_and_the_session_goes_on() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    assert_eq!(code(&cmd(&mut s, "HELO c")), "250");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<b@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    let mut body = b"Subject: long\r\n\r\nbefore\r\n".to_vec();
    body.extend_from_slice(&vec![b'y'; 100 * 1024]);
    body.extend_from_slice(b"\r\nafter\r\n.\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || send(&mut w, &body))
    };
    // One reply, at the end of the message.
    assert_eq!(reply(&mut s), "552 5.3.4 Line too long");
    writer.join().unwrap();
    // The transaction is over; a new one works and delivers.
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<b@x>")), "503");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<c@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    send(&mut s, b"short\r\n.\r\n");
    assert_eq!(code(&reply(&mut s)), "250");
    assert_eq!(
        printed_message(&server),
        ["mail from: a@x", "rcpt to: c@x", "", "short"]
    );
    assert_eq!(code(&cmd(&mut s, "QUIT")), "221");
}

#[test]
fn a_message_over_the_size_limit_gets_552_and_the_session_goes_on() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x> SIZE=999999999")), "552");
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<b@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    // 33 MiB of 1 KiB lines: past the 32 MiB limit.
    let mut line = vec![b'z'; 1022];
    line.extend_from_slice(b"\r\n");
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            for _ in 0..33 * 1024 {
                send(&mut w, &line);
            }
            send(&mut w, b".\r\n");
        })
    };
    assert_eq!(code(&reply(&mut s)), "552");
    writer.join().unwrap();
    assert_eq!(code(&cmd(&mut s, "NOOP")), "250");
}

#[test]
fn past_100_recipients_rcpt_gets_452() {
    let server = Server::start("smtp_server");
    let mut s = greeted(&server);
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    let mut rcpts = Vec::new();
    for i in 0..200 {
        rcpts.extend_from_slice(format!("RCPT TO:<r{i}@x>\r\n").as_bytes());
    }
    send(&mut s, &rcpts);
    let replies: Vec<String> = (0..200).map(|_| reply(&mut s)).collect();
    assert!(
        replies[..100].iter().all(|r| code(r) == "250"),
        "{replies:?}"
    );
    assert!(
        replies[100..]
            .iter()
            .all(|r| r == "452 4.5.3 Too many recipients"),
        "{replies:?}"
    );
    // The 100 accepted get the message.
    assert_eq!(code(&cmd(&mut s, "DATA")), "354");
    send(&mut s, b"hi\r\n.\r\n");
    assert_eq!(code(&reply(&mut s)), "250");
    let printed = printed_message(&server);
    let to: Vec<&String> = printed
        .iter()
        .filter(|l| l.starts_with("rcpt to:"))
        .collect();
    assert_eq!(to.len(), 100);
    assert_eq!(to[99], "rcpt to: r99@x");
    // And the next message may have 100 again.
    assert_eq!(code(&cmd(&mut s, "MAIL FROM:<a@x>")), "250");
    assert_eq!(code(&cmd(&mut s, "RCPT TO:<again@x>")), "250");
}

/// The server's resident memory, in KiB (`VmRSS` in `/proc/PID/status`).
#[cfg(target_os = "linux")]
fn rss_kib(server: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[cfg(target_os = "linux")]
#[test]
fn pipelined_commands_whose_replies_are_never_read_do_not_grow_memory() {
    use std::io::Write;
    use std::time::{Duration, Instant};

    const FLOOD: usize = 48 << 20;
    let server = Server::start("smtp_server");
    let s = greeted(&server);
    // Warm up: a few replies through, so what one session allocates anyway is counted.
    let mut warm = s.try_clone().unwrap();
    for _ in 0..3 {
        assert_eq!(code(&cmd(&mut warm, "NOOP")), "250");
    }
    let before = rss_kib(&server);

    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let chunk = b"NOOP\r\n".repeat(64 * 1024 / 6);
    let mut written = 0usize;
    let start = Instant::now();
    while written < FLOOD {
        match w.write(&chunk) {
            Ok(n) => written += n,
            Err(_) => break, // the server stopped reading: the write timed out
        }
        assert!(start.elapsed() < LIMIT, "flooding took too long");
    }
    std::thread::sleep(Duration::from_millis(200));
    let after = rss_kib(&server);
    eprintln!(
        "flood of {written} bytes of NOOPs, replies unread: server VmRSS {before} KiB before, \
         {after} KiB after"
    );
    assert!(
        written < FLOOD,
        "the server read all {FLOOD} bytes without its replies being read"
    );
    assert!(
        after < before + 4 * 1024,
        "VmRSS grew from {before} KiB to {after} KiB"
    );
    // It still serves others.
    let mut t = greeted(&server);
    assert_eq!(code(&cmd(&mut t, "NOOP")), "250");
    drop(s);
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
