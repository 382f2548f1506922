//! Starting and stopping servers, and the measured window.
//!
//! A server runs either on a thread of this process ([`Running::on_thread`]) or,
//! when a scenario needs its own fd budget and a fresh heap, in a child process:
//! this bench binary re-executed with the hidden argument [`SERVE_ARG`]
//! ([`Running::in_child`]), possibly under a counting tool such as strace or
//! valgrind ([`Running::in_child_under`]). Either way the harness knows the server thread's pid
//! and tid and samples its CPU time from `/proc` around the measured window.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{OnceLock, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crate::servers::{self, Server, ServerStats, Stop};
use crate::sys::{self, CpuSample, ThreadRef};

/// The hidden argument that makes the bench binary serve one server for its parent.
pub const SERVE_ARG: &str = "--serve-for-parent";

/// How long a server gets to return after the stop before it counts as failed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// The same for a child server run under a tool (strace, valgrind), which slows
/// its teardown and then writes its counts.
const TOOL_STOP_GRACE: Duration = Duration::from_secs(60);

/// The CPU every server thread is pinned to, if any (see [`pin_threads`]).
static SERVER_CPU: OnceLock<Option<usize>> = OnceLock::new();

/// Pins the calling (load-generating) thread to one CPU and reserves another for
/// server threads, unless `ASYNCORE_BENCH_PIN=0` or fewer than 2 CPUs are allowed.
/// Left to itself, the scheduler sometimes puts client and server on one core and
/// sometimes on two, which changes ping-pong figures up to 3x between runs; pinned,
/// every server gets the same placement (client and server on separate cores, as
/// across a network). Returns the (client, server) CPUs.
pub fn pin_threads() -> Option<(usize, usize)> {
    let wanted = std::env::var("ASYNCORE_BENCH_PIN").map_or(true, |v| v != "0");
    let cpus = sys::allowed_cpus();
    let pair = match cpus.as_slice() {
        [server, client, ..] if wanted => Some((*client, *server)),
        _ => None,
    };
    let pair = pair.filter(|&(client, _)| sys::pin_current_thread(client).is_ok());
    let _ = SERVER_CPU.set(pair.map(|(_, server)| server));
    pair
}

/// Pins the calling thread to the server CPU chosen by [`pin_threads`] (or given
/// to a child process), if any.
fn pin_server_thread(cpu: Option<usize>) {
    if let Some(cpu) = cpu {
        let _ = sys::pin_current_thread(cpu);
    }
}

/// A listener on 127.0.0.1 port 0 as every server gets it: backlog 1024 (10,000
/// connections arrive in a burst), `TCP_NODELAY` (inherited by accepted sockets on
/// Linux), non-blocking.
pub fn loopback_listener() -> io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nodelay(true)?;
    socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    socket.listen(1024)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A server that is serving.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its serving thread.
    pub thread: ThreadRef,
    how: How,
    grace: Duration,
}

enum How {
    Thread {
        stop: Stop,
        join: JoinHandle<ServerStats>,
    },
    Child {
        child: Child,
        stdout: BufReader<ChildStdout>,
    },
}

impl Running {
    /// Starts `server` on a new thread of this process.
    pub fn on_thread(server: &Server) -> io::Result<Running> {
        let listener = loopback_listener()?;
        let addr = listener.local_addr()?;
        let stop = Stop::new();
        let (tx, rx) = mpsc::channel();
        let serve = server.serve;
        let server_stop = stop.clone();
        let cpu = SERVER_CPU.get().copied().flatten();
        let join = thread::Builder::new()
            .name(format!("server-{}", server.name))
            .spawn(move || {
                pin_server_thread(cpu);
                let _ = tx.send(ThreadRef::current());
                serve(listener, server_stop)
            })?;
        let thread = rx
            .recv()
            .map_err(|_| io::Error::other("server thread died at start"))?;
        Ok(Running {
            addr,
            thread,
            how: How::Thread { stop, join },
            grace: STOP_GRACE,
        })
    }

    /// Starts `server` in a child process (this binary with [`SERVE_ARG`]).
    pub fn in_child(server: &Server) -> io::Result<Running> {
        Running::in_child_under(server, &[])
    }

    /// Starts `server` in a child process run by `tool` (a program and its
    /// arguments, such as `["strace", "-c", ...]`, given the child's command line
    /// after them); with no `tool`, as [`in_child`](Running::in_child). The tool
    /// must pass the child's stdin and stdout through and exit with its status.
    pub fn in_child_under(server: &Server, tool: &[String]) -> io::Result<Running> {
        let cpu = SERVER_CPU.get().copied().flatten();
        let exe = std::env::current_exe()?;
        let mut command = match tool {
            [] => Command::new(exe),
            [program, args @ ..] => {
                let mut command = Command::new(program);
                command.args(args).arg(exe);
                command
            }
        };
        let mut child = command
            .args([SERVE_ARG, server.name])
            .args(cpu.map(|c| c.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let parsed = (|| {
            let mut words = line.split_whitespace();
            (words.next()? == "ready").then_some(())?;
            let port: u16 = words.next()?.parse().ok()?;
            let pid: u32 = words.next()?.parse().ok()?;
            let tid: i32 = words.next()?.parse().ok()?;
            Some((port, ThreadRef { pid, tid }))
        })();
        let Some((port, thread)) = parsed else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other(format!(
                "child server did not start (said {line:?})"
            )));
        };
        Ok(Running {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            thread,
            how: How::Child { child, stdout },
            grace: if tool.is_empty() {
                STOP_GRACE
            } else {
                TOOL_STOP_GRACE
            },
        })
    }

    /// The server thread's CPU time so far.
    pub fn cpu(&self) -> CpuSample {
        self.thread.cpu().unwrap_or_default()
    }

    /// The resident memory of the server's process.
    pub fn rss(&self) -> io::Result<u64> {
        sys::rss_bytes(self.thread.pid)
    }

    /// Stops the server and waits (boundedly) for it to return.
    pub fn finish(self) -> Result<ServerStats, String> {
        let grace = self.grace;
        let deadline = Instant::now() + grace;
        match self.how {
            How::Thread { stop, join } => {
                stop.stop();
                while !join.is_finished() {
                    if Instant::now() > deadline {
                        return Err(format!(
                            "server ignored the stop for {} s (thread left running)",
                            grace.as_secs()
                        ));
                    }
                    thread::sleep(Duration::from_millis(2));
                }
                join.join()
                    .map_err(|_| "server thread panicked".to_string())
            }
            How::Child {
                mut child,
                mut stdout,
            } => {
                if let Some(mut stdin) = child.stdin.take() {
                    let _ = stdin.write_all(b"stop\n");
                }
                loop {
                    match child.try_wait() {
                        Ok(Some(status)) if status.success() => break,
                        Ok(Some(status)) => return Err(format!("child server: {status}")),
                        Ok(None) if Instant::now() > deadline => {
                            let _ = child.kill();
                            let _ = child.wait();
                            return Err(format!(
                                "child server ignored the stop for {} s (killed)",
                                grace.as_secs()
                            ));
                        }
                        Ok(None) => thread::sleep(Duration::from_millis(2)),
                        Err(e) => return Err(format!("child server: {e}")),
                    }
                }
                let mut line = String::new();
                let _ = stdout.read_line(&mut line);
                let accepted = line
                    .strip_prefix("stats ")
                    .and_then(|n| n.trim().parse().ok())
                    .ok_or_else(|| format!("child server said {line:?}"))?;
                Ok(ServerStats { accepted })
            }
        }
    }
}

/// The child side of [`Running::in_child`]: serves `name` on a thread (pinned to
/// `cpu`), prints `ready PORT PID TID`, stops at a line (or end of input) on
/// stdin, prints `stats ACCEPTED`. Returns the process exit code.
pub fn serve_for_parent(name: &str, cpu: Option<usize>) -> i32 {
    let _ = SERVER_CPU.set(cpu);
    let Some(server) = servers::by_name(name) else {
        eprintln!("no server named {name}");
        return 2;
    };
    let running = match Running::on_thread(server) {
        Ok(running) => running,
        Err(e) => {
            eprintln!("{name}: {e}");
            return 1;
        }
    };
    let t = running.thread;
    println!("ready {} {} {}", running.addr.port(), t.pid, t.tid);
    let _ = io::stdout().flush();
    let mut line = String::new();
    let _ = io::stdin().read_line(&mut line);
    match running.finish() {
        Ok(stats) => {
            println!("stats {}", stats.accepted);
            0
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            1
        }
    }
}

/// Warm-up and measurement timing.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Load before the window.
    pub warmup: Duration,
    /// The window.
    pub window: Duration,
}

/// Where a load generator is in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Before the window: load, but count nothing.
    Warmup,
    /// Inside the window: count.
    Measure,
    /// After the window: stop.
    Done,
}

/// The measured window of one run: a load generator calls [`Window::at`] with the
/// time it is about to count at, and the window samples the server thread's CPU
/// time when that crosses into and out of the window.
pub struct Window<'a> {
    server: &'a Running,
    client: ThreadRef,
    start: Instant,
    end: Instant,
    began: Option<Sample>,
    ended: Option<Sample>,
}

/// Time, server CPU, client CPU, machine-wide busy ticks.
type Sample = (Instant, CpuSample, CpuSample, Option<u64>);

/// What the server used in a window.
#[derive(Clone, Copy, Debug, Default)]
pub struct Measured {
    /// The window's length as observed.
    pub secs: f64,
    /// Server thread user CPU seconds.
    pub user_secs: f64,
    /// Server thread system CPU seconds.
    pub sys_secs: f64,
    /// Server thread CPU seconds in all (nanosecond `schedstat` when available).
    pub cpu_secs: f64,
    /// Load-generating thread CPU seconds in all.
    pub client_cpu_secs: f64,
    /// CPU seconds the rest of the machine used meanwhile (other processes and
    /// tenants, kernel threads, steal): a noisy run shows here.
    pub other_cpu_secs: f64,
}

impl<'a> Window<'a> {
    /// A window that starts after `timing.warmup` from now; the calling thread is
    /// the load generator.
    pub fn new(server: &'a Running, timing: Timing) -> Self {
        let start = Instant::now() + timing.warmup;
        Window {
            server,
            client: ThreadRef::current(),
            start,
            end: start + timing.window,
            began: None,
            ended: None,
        }
    }

    /// The phase at `now`, sampling the server's CPU at the boundaries.
    pub fn at(&mut self, now: Instant) -> Phase {
        if now < self.start {
            return Phase::Warmup;
        }
        if self.began.is_none() {
            self.began = Some(self.sample(now));
        }
        if now < self.end {
            return Phase::Measure;
        }
        if self.ended.is_none() {
            self.ended = Some(self.sample(now));
        }
        Phase::Done
    }

    fn sample(&self, now: Instant) -> Sample {
        let client = self.client.cpu().unwrap_or_default();
        (now, self.server.cpu(), client, sys::machine_busy_ticks())
    }

    /// How long a poll may sleep at `now` without missing a boundary.
    pub fn until_next(&self, now: Instant) -> Duration {
        let next = if now < self.start {
            self.start
        } else {
            self.end
        };
        next.saturating_duration_since(now)
            .min(Duration::from_millis(100))
    }

    /// The server's use of the finished window.
    pub fn measured(&self) -> Measured {
        let (Some((t0, s0, k0, m0)), Some((t1, s1, k1, m1))) = (self.began, self.ended) else {
            return Measured::default();
        };
        let hz = sys::clock_ticks_per_second() as f64;
        let ticks = |a: u64, b: u64| b.saturating_sub(a) as f64 / hz;
        let total = |a: &CpuSample, b: &CpuSample| match (a.runtime_ns, b.runtime_ns) {
            (Some(x), Some(y)) => y.saturating_sub(x) as f64 / 1e9,
            _ => ticks(a.user_ticks + a.sys_ticks, b.user_ticks + b.sys_ticks),
        };
        let cpu_secs = total(&s0, &s1);
        let client_cpu_secs = total(&k0, &k1);
        let other_cpu_secs = match (m0, m1) {
            (Some(a), Some(b)) => (ticks(a, b) - cpu_secs - client_cpu_secs).max(0.0),
            _ => f64::NAN,
        };
        Measured {
            secs: (t1 - t0).as_secs_f64(),
            user_secs: ticks(s0.user_ticks, s1.user_ticks),
            sys_secs: ticks(s0.sys_ticks, s1.sys_ticks),
            cpu_secs,
            client_cpu_secs,
            other_cpu_secs,
        }
    }
}
