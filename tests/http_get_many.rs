//! `examples/http_get_many` run as a process, against Python's `http.server` (when
//! python3 is present) and against a keep-alive HTTP/1.1 server of our own.

mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use util::*;

const LIMIT: Duration = Duration::from_secs(60);

/// The example's binary, which `cargo test` builds next to the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples/http_get_many");
    assert!(
        bin.exists(),
        "{} is missing: `cargo test` builds it (`cargo test --test http_get_many` alone \
         does not; run `cargo build --examples` first)",
        bin.display()
    );
    bin
}

/// Runs the example with `args`, killing it if it outlives [`LIMIT`].
fn run(args: &[&str]) -> Output {
    let mut child = Command::new(example())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        stdout.read_to_end(&mut v).unwrap();
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        stderr.read_to_end(&mut v).unwrap();
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("http_get_many {args:?} did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

fn lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(String::from)
        .collect()
}

/// A scratch directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("asyncore-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `python3 -m http.server --bind 127.0.0.1 PORT` serving a directory; killed on drop.
struct PythonServer {
    child: Child,
    port: u16,
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts Python's http.server in `dir`, or says why it cannot (no python3).
fn python_server(dir: &Path) -> Result<PythonServer, String> {
    match Command::new("python3").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("python3 --version failed: {:?}", o.status)),
        Err(e) => return Err(format!("python3 is not available: {e}")),
    }
    // A free port: bind port 0, note it, let it go. Another process may take it in
    // between; then try again.
    for _ in 0..5 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new("python3")
            .args([
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                &port.to_string(),
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start python3: {e}"))?;
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(PythonServer { child, port });
            }
            if child.try_wait().unwrap().is_some() {
                break; // port taken, most likely: try another
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("python3 -m http.server did not start");
}

#[test]
fn fetches_from_python_http_server_in_the_order_given() {
    let dir = TempDir::new("http-get-many");
    std::fs::write(dir.0.join("a.txt"), b"hello").unwrap();
    std::fs::write(dir.0.join("empty.txt"), b"").unwrap();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.0.join("big.bin"), &big).unwrap();
    std::fs::create_dir(dir.0.join("sub")).unwrap();
    std::fs::write(dir.0.join("sub/b.txt"), b"bee").unwrap();

    let server = match python_server(&dir.0) {
        Ok(s) => s,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let origin = format!("127.0.0.1:{}", server.port);
    let mut paths = vec!["/a.txt", "/big.bin", "/empty.txt", "/missing", "/sub/b.txt"];
    for _ in 0..5 {
        paths.extend_from_slice(&["/sub/b.txt", "/a.txt", "/big.bin"]);
    }

    let mut args = vec!["--", origin.as_str(), "--concurrency", "3"];
    args.extend(&paths);
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}\n{stderr}", out.status);
    let got = lines(&out.stdout);
    assert_eq!(got.len(), paths.len(), "{got:?}");
    for (line, path) in got.iter().zip(&paths) {
        let expected_len = match *path {
            "/a.txt" => Some(5),
            "/big.bin" => Some(200_000),
            "/empty.txt" => Some(0),
            "/sub/b.txt" => Some(3),
            _ => None,
        };
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields.len(), 3, "{line}");
        assert_eq!(fields[2], *path, "lines come in the order given");
        match expected_len {
            Some(n) => assert_eq!(line, &format!("200 {n} {path}")),
            None => {
                assert_eq!(fields[0], "404", "{line}");
                assert!(fields[1].parse::<u64>().is_ok(), "{line}");
            }
        }
    }
    let summary: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("summary:"))
        .collect();
    assert_eq!(summary.len(), 1, "{stderr}");
    assert!(
        summary[0].contains(&format!("requests={}", paths.len())),
        "{stderr}"
    );
    assert!(summary[0].contains("seconds=") && summary[0].contains("requests_per_second="));

    // --concurrency after the paths, and a different N: the same answer.
    let mut args = vec![origin.as_str()];
    args.extend(&paths);
    args.extend(["--concurrency", "1"]);
    let again = run(&args);
    assert!(again.status.success());
    assert_eq!(lines(&again.stdout), got);
}

/// A threaded HTTP/1.1 keep-alive server: answers `GET /PATH` with a body of the path
/// repeated, except `/bad`, which gets a malformed status line. Counts connections.
fn keep_alive_server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let (listener, addr) = std_listener();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || -> std::io::Result<()> {
                stream.set_nodelay(true)?;
                let mut reader = BufReader::new(stream.try_clone()?);
                let mut out = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 {
                        return Ok(());
                    }
                    let path = line.split(' ').nth(1).unwrap_or("").to_string();
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
                            break;
                        }
                    }
                    if path == "/bad" {
                        out.write_all(b"HTTP/1.1 OK 200\r\n\r\n")?;
                        continue;
                    }
                    let body = path.repeat(path.len());
                    write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    )?;
                }
            });
        }
    });
    (addr, connections)
}

#[test]
fn keeps_n_connections_alive_against_an_http_1_1_server() {
    let (addr, connections) = keep_alive_server();
    let origin = addr.to_string();
    let paths: Vec<String> = (0..80).map(|i| format!("/p{i}")).collect();
    let mut args = vec![origin.as_str(), "--concurrency=4"];
    args.extend(paths.iter().map(String::as_str));
    let out = run(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Vec<String> = paths
        .iter()
        .map(|p| format!("200 {} {p}", p.len() * p.len()))
        .collect();
    assert_eq!(lines(&out.stdout), expected);
    assert_eq!(connections.load(Ordering::SeqCst), 4, "one connection each");
}

#[test]
fn a_malformed_response_fails_that_path_with_its_reason() {
    let (addr, _) = keep_alive_server();
    let origin = addr.to_string();
    let out = run(&[&origin, "/a", "/bad", "/c", "--concurrency", "1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout), ["200 4 /a", "000 0 /bad", "200 4 /c"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: /bad: malformed status line"),
        "{stderr}"
    );
    assert!(stderr.contains("failed=1"), "{stderr}");
}

#[test]
fn a_refused_connection_fails_every_path() {
    let origin = refused_address().to_string();
    let out = run(&[&origin, "/x", "/y"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(lines(&out.stdout), ["000 0 /x", "000 0 /y"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("error: /x:") && stderr.contains("error: /y:"),
        "{stderr}"
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

#[test]
fn a_bad_command_line_is_refused_with_usage() {
    for args in [
        &[][..],
        &["127.0.0.1:1"],
        &["127.0.0.1:1", "/a", "--concurrency", "zero"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage:"));
    }
}
