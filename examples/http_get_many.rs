//! Fetch many paths from one HTTP server over N keep-alive connections in one loop:
//!
//! ```text
//! cargo run --example http_get_many -- HOST:PORT [--concurrency N] PATH...
//! ```
//!
//! `--concurrency N` (default 4; also `--concurrency=N`) may come before or after the
//! paths. `--timeout SECS` (default 60) gives up when no response has come for that
//! long.
//!
//! Prints one line per PATH, in the order given, to stdout: `STATUS BYTES PATH`, where
//! BYTES is the length of the body. A request that failed (refused, reset, malformed
//! response, ...) prints `000 0 PATH` there and `error: PATH: REASON` to stderr. Then
//! one summary line goes to stderr:
//!
//! ```text
//! summary: requests=200 seconds=0.153 requests_per_second=1307.2 failed=0
//! ```
//!
//! The exit code is 0 when every request got a response (whatever its status), 1 when
//! some failed, 2 for a bad command line.
//!
//! Each connection is an [`HttpClient`]; all of them pull requests from one shared
//! queue, so a connection that finishes early takes on more work, and one that the
//! server closes (HTTP/1.0) is opened again. A connection that cannot be (re)opened
//! (refused, out of file descriptors) fails only the request it was for and stops;
//! the others take on the rest. Paths left when every connection has stopped print
//! `error: PATH: not attempted: ...` with the last connect error.

use std::cell::{Cell, RefCell};
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use asyncore::Map;
use asyncore::http::{HttpClient, Request};

const USAGE: &str = "usage: http_get_many HOST:PORT [--concurrency N] [--timeout SECS] PATH...";

struct Args {
    origin: String,
    concurrency: usize,
    timeout: Duration,
    paths: Vec<String>,
}

fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut positional = Vec::new();
    let mut concurrency = 4;
    let mut timeout = Duration::from_secs(60);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs {what}"))
        };
        match name.as_str() {
            // `cargo run --example http_get_many -- ...` may pass the separator on.
            "--" => {}
            "-h" | "--help" => return Err(String::new()),
            "-c" | "--concurrency" => {
                concurrency = value("a number")?
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or("--concurrency needs a number above 0")?;
            }
            "--timeout" => {
                let secs: f64 = value("a number of seconds")?
                    .parse()
                    .ok()
                    .filter(|&s: &f64| s > 0.0 && s.is_finite())
                    .ok_or("--timeout needs a positive number of seconds")?;
                timeout = Duration::from_secs_f64(secs);
            }
            s if s.starts_with("--") => return Err(format!("unknown option {s}")),
            _ => positional.push(arg),
        }
    }
    let mut positional = positional.into_iter();
    let origin = positional.next().ok_or("missing HOST:PORT")?;
    let paths: Vec<String> = positional.collect();
    if paths.is_empty() {
        return Err("no PATH given".into());
    }
    Ok(Args {
        origin,
        concurrency,
        timeout,
        paths,
    })
}

/// What became of one path: `(status, body length)` or the reason it failed.
type Outcome = Option<Result<(u16, u64), String>>;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("http_get_many: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let origin: SocketAddr = match args.origin.to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        Ok(None) => {
            eprintln!("http_get_many: {} resolves to no address", args.origin);
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("http_get_many: cannot resolve {}: {e}", args.origin);
            return ExitCode::from(2);
        }
    };

    let count = args.paths.len();
    let results: Rc<RefCell<Vec<Outcome>>> = Rc::new(RefCell::new(vec![None; count]));
    let last_progress = Rc::new(Cell::new(Instant::now()));
    let queue = Rc::new(RefCell::new(
        args.paths
            .clone()
            .into_iter()
            .enumerate()
            .map(|(i, p)| Request::get(p).with_tag(i)),
    ));

    let map = match Map::new() {
        Ok(m) => m,
        Err(e) => {
            eprintln!("http_get_many: cannot create a poller: {e}");
            return ExitCode::from(1);
        }
    };
    let start = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..args.concurrency.min(count) {
        let queue = queue.clone();
        let results = results.clone();
        let progress = last_progress.clone();
        let requests = std::iter::from_fn(move || queue.borrow_mut().next());
        let client = HttpClient::new(origin, requests, move |req, res| {
            progress.set(Instant::now());
            results.borrow_mut()[req.tag] = Some(
                res.map(|r| (r.status, r.body_len))
                    .map_err(|e| e.to_string()),
            );
        })
        .with_host(args.origin.clone())
        .keep_bodies(false);
        // Opens the first connection and adds the client to the map with it.
        match client.start(&map) {
            Ok(handle) => clients.push(handle),
            Err(e) => {
                eprintln!("http_get_many: cannot open a connection: {e}");
                break;
            }
        }
    }

    let mut timed_out = false;
    while !map.is_empty() {
        if let Err(e) = map.poll(Duration::from_millis(100)) {
            eprintln!("http_get_many: the loop failed: {e}");
            break;
        }
        if last_progress.get().elapsed() > args.timeout {
            timed_out = true;
            break;
        }
    }
    let _ = asyncore::close_all(Some(&map), true);
    let seconds = start.elapsed().as_secs_f64();
    let connect_error = clients
        .iter()
        .rev()
        .find_map(|c| c.borrow().connect_error().map(|e| e.to_string()));

    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let mut failed = 0;
    for (path, outcome) in args.paths.iter().zip(results.borrow().iter()) {
        let line = match outcome {
            Some(Ok((status, bytes))) => writeln!(out, "{status} {bytes} {path}"),
            Some(Err(reason)) => {
                failed += 1;
                eprintln!("error: {path}: {reason}");
                writeln!(out, "000 0 {path}")
            }
            None => {
                failed += 1;
                let reason = match (timed_out, &connect_error) {
                    (true, _) => format!("no response within {:?}", args.timeout),
                    (false, Some(e)) => format!("not attempted: no connection left ({e})"),
                    (false, None) => "not attempted".to_string(),
                };
                eprintln!("error: {path}: {reason}");
                writeln!(out, "000 0 {path}")
            }
        };
        if line.is_err() {
            break; // stdout closed: nothing more to say there
        }
    }
    let _ = out.flush();
    drop(out);
    eprintln!(
        "summary: requests={count} seconds={seconds:.3} requests_per_second={:.1} failed={failed}",
        count as f64 / seconds.max(1e-9)
    );
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
