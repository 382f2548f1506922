//! The `ftp_server` example as a process, driven by Python's own `ftplib`: a control
//! channel with data channels opened both ways (PASV's helper listener, PORT's
//! outgoing connect), push-then-close on QUIT, and a session's channels freed when it
//! ends. Reports itself skipped when python3 is not installed.

mod example_process;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use example_process::Server;

/// Runs `script` with python3, `PORT` set to the server's port; its stdout, or None
/// when python3 is missing.
fn python(script: &str, port: u16) -> Option<String> {
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("skipped: python3 is not installed");
        return None;
    }
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 starts");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait works").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("the ftplib script did not finish in 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    assert!(
        out.status.success(),
        "ftplib script failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const SESSION: &str = r#"
import ftplib, hashlib, io, os, random
port = int(os.environ["PORT"])
data = random.Random(7).randbytes(3 * 1024 * 1024 + 17)
with ftplib.FTP() as ftp:
    ftp.connect("127.0.0.1", port, timeout=10)
    print(ftp.getwelcome())
    ftp.login("user", "pass")
    assert ftp.pwd() == "/"
    assert ftp.nlst() == []
    ftp.storbinary("STOR big.bin", io.BytesIO(data))
    ftp.storlines("STOR notes.txt", io.BytesIO(b"one\r\ntwo\r\n"))
    assert ftp.size("big.bin") == len(data)
    got = bytearray()
    ftp.retrbinary("RETR big.bin", got.extend)
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest(), len(got)
    assert sorted(ftp.nlst()) == ["big.bin", "notes.txt"]
    lines = []
    ftp.dir(lines.append)
    assert len(lines) == 2 and "big.bin" in lines[0], lines
    # Active mode: the server connects back to us.
    ftp.set_pasv(False)
    got = bytearray()
    ftp.retrbinary("RETR big.bin", got.extend)
    assert bytes(got) == data
    ftp.set_pasv(True)
    text = []
    ftp.retrlines("RETR notes.txt", text.append)
    assert text == ["one", "two"], text
    try:
        ftp.retrbinary("RETR missing", print)
        raise SystemExit("RETR of a missing file succeeded")
    except ftplib.error_perm as e:
        assert str(e).startswith("550"), e
    ftp.delete("notes.txt")
    assert ftp.nlst() == ["big.bin"]
    print(ftp.quit())
print("ok")
"#;

#[test]
fn ftplib_stores_lists_and_retrieves_in_both_modes() {
    let server = Server::start("ftp_server");
    let Some(out) = python(SESSION, server.addr.port()) else {
        return;
    };
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("220"), "{out}");
    assert!(
        lines[1].starts_with("221"),
        "QUIT's reply arrives before the close: {out}"
    );
    assert_eq!(lines[2], "ok");
}

const QUIT_THEN_EOF: &str = r#"
import os, socket
port = int(os.environ["PORT"])
s = socket.create_connection(("127.0.0.1", port), timeout=10)
f = s.makefile("rb")
assert f.readline().startswith(b"220")
# Pipelined: the server pushes 221 and closes in the same found_terminator.
s.sendall(b"NOOP\r\nQUIT\r\n")
assert f.readline() == b"200 ok\r\n"
assert f.readline() == b"221 goodbye\r\n"
assert f.read() == b""
print("ok")
"#;

#[test]
fn quit_pushes_then_closes_and_the_reply_arrives() {
    let server = Server::start("ftp_server");
    if let Some(out) = python(QUIT_THEN_EOF, server.addr.port()) {
        assert_eq!(out.trim(), "ok");
    }
}

#[test]
fn an_over_long_command_line_is_answered_once_and_the_session_goes_on() {
    let server = Server::start("ftp_server");
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = vec![b'A'; 100_000];
    request.extend_from_slice(b"\r\nNOOP\r\nQUIT\r\n");
    s.write_all(&request).unwrap();
    let mut all = Vec::new();
    std::io::Read::read_to_end(&mut s, &mut all).unwrap();
    let text = String::from_utf8_lossy(&all);
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "220 asyncore FTP server ready",
            "500 line too long",
            "200 ok",
            "221 goodbye"
        ],
        "{text}"
    );
}

const MANY_SESSIONS: &str = r#"
import ftplib, io, os
port = int(os.environ["PORT"])
for i in range(150):
    ftp = ftplib.FTP()
    ftp.connect("127.0.0.1", port, timeout=10)
    ftp.login()
    ftp.storbinary("STOR f%d" % (i % 3), io.BytesIO(b"x" * 1000))
    got = bytearray()
    ftp.retrbinary("RETR f%d" % (i % 3), got.extend)
    assert len(got) == 1000
    if i % 2:
        ftp.quit()
    else:
        ftp.close()   # no QUIT: the server sees EOF
print("ok")
"#;

/// Each session's control channel, data channels and listeners are closed and freed
/// (the data side holds weak handles back): the server's open descriptors come back to
/// where they started.
#[cfg(target_os = "linux")]
#[test]
fn sessions_leave_no_descriptors_behind() {
    let server = Server::start("ftp_server");
    let fds = || {
        std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
            .unwrap()
            .count()
    };
    let before = fds();
    if let Some(out) = python(MANY_SESSIONS, server.addr.port()) {
        assert_eq!(out.trim(), "ok");
        // The last close may still be in flight.
        let deadline = Instant::now() + Duration::from_secs(5);
        while fds() > before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(fds(), before, "descriptors leaked");
    }
}
