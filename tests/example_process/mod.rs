//! Runs an example program (`examples/NAME.rs` or `examples/NAME/main.rs`) as a child
//! process for a test.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How long any single wait in these tests may take before the test fails.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The directory holding the example binaries of the profile this test was built
/// with: the test is `<target>/<profile>/deps/NAME-HASH`, examples are in
/// `<target>/<profile>/examples/`.
fn examples_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from <target>/<profile>/deps")
        .join("examples")
}

/// The path of example `name`, built first if `cargo` is at hand (a plain
/// `cargo test` builds the examples already; `cargo test --test NAME` does not), so the
/// binary is never stale.
fn example_binary(name: &str) -> PathBuf {
    static BUILT: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let dir = examples_dir();
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if built.iter().any(|b| b == name) {
        return dir.join(name);
    }
    if let Ok(cargo) = std::env::var("CARGO") {
        let profile_dir = dir.parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--example", name, "--target-dir"])
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        match profile_dir.file_name().and_then(|p| p.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cmd.arg("--release");
            }
            Some(other) => {
                cmd.args(["--profile", other]);
            }
        }
        let status = cmd.status().expect("cargo runs");
        assert!(status.success(), "building example {name} failed");
    }
    let path = dir.join(name);
    assert!(path.exists(), "no example binary at {}", path.display());
    built.push(name.to_string());
    path
}

/// A running example server; killed when dropped.
pub struct Server {
    child: Child,
    /// The address from its `listening on IP:PORT` line.
    pub addr: SocketAddr,
    /// The lines it printed after that one.
    pub stdout: Receiver<String>,
}

impl Server {
    /// The server's process id (for `/proc/PID/...`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Starts example `name` on 127.0.0.1 port 0 and waits for its `listening on` line.
    pub fn start(name: &str) -> Server {
        Server::start_with(name, &["127.0.0.1:0"])
    }

    /// Starts example `name` with `args` (which must make it listen on loopback, port
    /// 0) and waits for its `listening on` line.
    pub fn start_with(name: &str, args: &[&str]) -> Server {
        let mut command = Command::new(example_binary(name));
        command.args(args);
        Server::spawn(command)
    }

    /// Starts example `name` on 127.0.0.1 port 0 with at most `nofile` open file
    /// descriptors (`ulimit -n` in a shell that then becomes the example, so the
    /// process id is the example's).
    pub fn start_limited(name: &str, nofile: u32) -> Server {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" 127.0.0.1:0"))
            .arg(example_binary(name));
        Server::spawn(command)
    }

    fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the example starts");
        let out = child.stdout.take().unwrap();
        let (tx, stdout) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = stdout
            .recv_timeout(LIMIT)
            .expect("the server prints its address");
        let addr = first
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .parse()
            .expect("IP:PORT");
        Server {
            child,
            addr,
            stdout,
        }
    }

    /// A blocking connection to the server, with read and write timeouts.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(LIMIT)).unwrap();
        s.set_write_timeout(Some(LIMIT)).unwrap();
        s
    }

    /// The server's CPU time so far, user plus system, in clock ticks
    /// (`/proc/PID/stat` fields 14 and 15; Linux).
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        // The command name (field 2) is in parentheses and may hold spaces: count the
        // fields after its closing one, which is field 3.
        let rest = &stat[stat.rfind(')').expect("comm in parentheses") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let utime: u64 = fields[14 - 3].parse().unwrap();
        let stime: u64 = fields[15 - 3].parse().unwrap();
        utime + stime
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        self.child
            .try_wait()
            .expect("waiting for the example")
            .is_none()
    }

    /// The next line the server prints.
    pub fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(LIMIT)
            .expect("the server prints a line")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs example `name` with `args` to its end, as for arguments it refuses; fails the
/// test if it is still running after [`LIMIT`].
pub fn run_to_exit(name: &str, args: &[&str]) -> Output {
    let mut child = Command::new(example_binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example starts");
    let start = Instant::now();
    while child.try_wait().expect("waiting for the example").is_none() {
        if start.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{name} {args:?} still running after {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // It has exited: what it printed is all in the pipes.
    child.wait_with_output().expect("the example's output")
}

/// Reads one `\n`-terminated line (the `\n` included), byte by byte.
pub fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while line.last() != Some(&b'\n') {
        match s.read(&mut byte) {
            Ok(1) => line.push(byte[0]),
            // A read with a timeout returns EINTR on any signal, SA_RESTART or not.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Ok(_) => panic!(
                "connection closed after {:?}",
                String::from_utf8_lossy(&line)
            ),
            Err(e) => panic!(
                "read failed after {:?}: {e}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    String::from_utf8(line).unwrap()
}

/// True once the server has closed the connection: a read returns end of stream (or
/// a reset, when the server closed with input unread).
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => rest.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

/// Writes everything, ignoring a peer that has gone away.
pub fn send(s: &mut TcpStream, data: &[u8]) {
    let _ = s.write_all(data);
}
