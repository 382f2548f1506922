//! Counted cost: syscalls and user-space instructions per operation, figures that do
//! not depend on the machine's speed or on its other tenants.
//!
//! Each server runs in a child process (this binary re-executed, as for idle) under
//! a counting tool, serving loads of a fixed size:
//!
//! - `strace -f -c` counts every syscall of the server process: for ping-pong on one
//!   connection (64-byte messages, as in the pingpong scenario) per round trip, and
//!   for the bulk load (4 connections streaming both ways) per MB echoed;
//! - `valgrind --tool=callgrind` counts the instructions it executes in user space
//!   (`Ir`; the kernel's share is not counted), for the same ping-pong, per round trip.
//!
//! A tool counts its process from exec to exit, and starting, connecting and
//! stopping cost the same however long the load runs; so each figure is the
//! difference of a short run and a long one over the difference in work:
//! `(count(long) - count(short)) / (work(long) - work(short))`. That takes the start
//! of the measured window out as zeroing the counters there would, without
//! attaching to a running process (often forbidden by `ptrace` rules) or aligning a
//! window with the load: the tool only has to start a program.
//!
//! Under a tool the server is much slower than its untraced client (strace stops it
//! at every syscall, callgrind runs it ~50x slower). One-connection ping-pong does
//! not notice: it alternates strictly. In bulk the server finds its sockets full
//! every time, so the figures are those of a saturated server, whose reads fill its
//! buffer; fewer syscalls per MB than an untraced run makes, for every server alike.
//!
//! Without a tool (CI has neither) its columns show `-` and a note says it was
//! skipped; the bench still passes. Quick mode runs tiny loads, to show the
//! scenario works rather than to measure.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use crate::config::Config;
use crate::harness::Running;
use crate::load;
use crate::report::{Spec, Table, number};
use crate::servers::{MIO, Protocol, Server, TOKIO};

use super::{baseline_notes, bulk, median, servers};

/// Connections of the bulk load (as in the bulk scenario).
const BULK_CONNS: usize = bulk::CONNS;

/// Work of the short and the long run.
struct Loads {
    /// Ping-pong round trips.
    round_trips: [u64; 2],
    /// Bulk bytes streamed (and echoed) per connection.
    bulk_bytes: [u64; 2],
}

impl Loads {
    fn new(cfg: &Config) -> Loads {
        if cfg.quick {
            Loads {
                round_trips: [100, 1_100],
                bulk_bytes: [250_000, 1_250_000],
            }
        } else {
            Loads {
                round_trips: [1_000, 21_000],
                bulk_bytes: [1_000_000, 16_000_000],
            }
        }
    }
}

/// A counting tool, found (or not) on this machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tool {
    Strace,
    Callgrind,
}

impl Tool {
    pub(super) fn program(self) -> &'static str {
        match self {
            Tool::Strace => "strace",
            Tool::Callgrind => "valgrind",
        }
    }

    /// The command that runs a child under this tool, writing its counts to `out`.
    fn command(self, out: &std::path::Path) -> Vec<String> {
        let out = out.display().to_string();
        let args: &[&str] = match self {
            // -f: every thread; -c: a count per syscall, written at exit; -qq: no
            // attach/exit messages.
            Tool::Strace => &["strace", "-f", "-c", "-qq", "-o"],
            // No gdbserver (nothing attaches); -q: only errors on stderr.
            Tool::Callgrind => &["valgrind", "--tool=callgrind", "--vgdb=no", "-q"],
        };
        let mut cmd: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        match self {
            Tool::Strace => cmd.push(out),
            Tool::Callgrind => cmd.push(format!("--callgrind-out-file={out}")),
        }
        cmd
    }

    /// Whether the tool is here and works: `Err` says why not, for the table's note.
    pub(super) fn probe(self) -> Result<(), String> {
        let out =
            std::env::temp_dir().join(format!("asyncore-counted-probe-{}", std::process::id()));
        let mut cmd = self.command(&out);
        cmd.push("true".into());
        let result = Command::new(&cmd[0]).args(&cmd[1..]).output();
        let _ = std::fs::remove_file(&out);
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(format!("{} not found, skipped", self.program()))
            }
            Err(e) => Err(format!("{} does not start ({e}), skipped", self.program())),
            Ok(o) if !o.status.success() => {
                let stderr = String::from_utf8_lossy(&o.stderr);
                let why = stderr.lines().next().unwrap_or("no message").trim();
                Err(format!(
                    "{} cannot run a program here ({why}), skipped",
                    self.program()
                ))
            }
            Ok(_) => Ok(()),
        }
    }
}

/// What a tool counted over one child's life.
#[derive(Clone, Debug, Default)]
pub(super) struct Counts {
    /// The total (syscalls, or instructions).
    total: u64,
    /// Syscalls by name (strace only).
    by_name: BTreeMap<String, u64>,
}

/// The scenario's columns.
const SYSCALLS_RT: &str = "syscalls/rt";
const SYSCALLS_MB: &str = "syscalls/MB";
const INSTR_RT: &str = "instr/rt";
const COLUMNS: [Spec; 3] = [
    median(SYSCALLS_RT, 2),
    median(SYSCALLS_MB, 1),
    median(INSTR_RT, 0),
];

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let loads = Loads::new(cfg);
    let [rt0, rt1] = loads.round_trips;
    let [b0, b1] = loads.bulk_bytes;
    let mut table = Table::new(
        "counted",
        format!(
            "counted cost, server in a child process under strace / callgrind: long run minus \
             short run, ping-pong {} - {} round trips on 1 connection, bulk {BULK_CONNS} \
             connections x ({} - {}) MB",
            number(Some(rt1 as f64), 0),
            number(Some(rt0 as f64), 0),
            b1 as f64 / 1e6,
            b0 as f64 / 1e6
        ),
        &COLUMNS,
    );
    for column in [SYSCALLS_RT, SYSCALLS_MB, INSTR_RT] {
        table = table.ratio(column, MIO).ratio(column, TOKIO);
    }
    let strace = Tool::Strace.probe();
    let callgrind = Tool::Callgrind.probe();
    for skipped in [&strace, &callgrind]
        .into_iter()
        .filter_map(|r| r.as_ref().err())
    {
        eprintln!("  counted: {skipped}");
        table.notes.push(skipped.clone());
    }
    // Without either tool the rows stay, all `-`, so the goals say "not measured".
    let servers = servers(cfg, Protocol::Echo, "counted");
    let mut breakdowns = Vec::new();
    for server in servers {
        let outcome = once(
            server,
            &loads,
            strace.is_ok(),
            callgrind.is_ok(),
            &mut breakdowns,
        );
        match &outcome {
            Ok(_) if strace.is_err() && callgrind.is_err() => {}
            Ok(v) => eprintln!(
                "  counted {}: {:.2} syscalls/rt, {:.1} syscalls/MB, {:.0} instr/rt",
                server.name, v[0], v[1], v[2]
            ),
            Err(e) => eprintln!("  counted {}: FAILED {e}", server.name),
        }
        table.record(server.name, outcome);
    }
    table.notes.extend(breakdowns);
    table.notes.push(
        "syscalls by strace -f -c (every thread of the server's process); instr: user-space \
         instructions (callgrind Ir); bulk under strace is a saturated server (full reads)"
            .into(),
    );
    baseline_notes(&mut table);
    vec![table]
}

/// Every figure of one server: syscalls per round trip and per MB, instructions per
/// round trip (NaN for a tool that is not here). Pushes per-syscall breakdowns onto
/// `notes`.
fn once(
    server: &Server,
    loads: &Loads,
    strace: bool,
    callgrind: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<f64>, String> {
    let mut values = vec![f64::NAN; 3];
    let [rt0, rt1] = loads.round_trips;
    let pingpong = |n: u64| move |r: &Running| check(load::pingpong::run_count(r.addr, n));
    let pattern = bulk::pattern(64 * 1024);
    let spec = load::stream::Spec {
        conns: BULK_CONNS,
        pattern: &pattern,
        max_in_flight: usize::MAX,
    };
    let bulk = |bytes: u64| {
        let spec = &spec;
        move |r: &Running| check(load::stream::run_bytes(r.addr, spec, bytes))
    };
    if strace {
        let short = counted(server, Tool::Strace, pingpong(rt0))?;
        let long = counted(server, Tool::Strace, pingpong(rt1))?;
        let ops = (rt1 - rt0) as f64;
        values[0] = per_op(&short, &long, ops);
        notes.push(breakdown(server.name, "rt", &short, &long, ops));

        let [b0, b1] = loads.bulk_bytes;
        let short = counted(server, Tool::Strace, bulk(b0))?;
        let long = counted(server, Tool::Strace, bulk(b1))?;
        let mb = ((b1 - b0) * BULK_CONNS as u64) as f64 / 1e6;
        values[1] = per_op(&short, &long, mb);
        notes.push(breakdown(server.name, "MB", &short, &long, mb));
    }
    if callgrind {
        let short = counted(server, Tool::Callgrind, pingpong(rt0))?;
        let long = counted(server, Tool::Callgrind, pingpong(rt1))?;
        values[2] = per_op(&short, &long, (rt1 - rt0) as f64);
    }
    Ok(values)
}

fn check(result: std::io::Result<u64>) -> Result<(), String> {
    match result {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("{n} echoes differed from what was sent")),
        Err(e) => Err(format!("client: {e}")),
    }
}

pub(super) fn per_op(short: &Counts, long: &Counts, ops: f64) -> f64 {
    (long.total as f64 - short.total as f64) / ops
}

/// "mio syscalls/rt: epoll_wait 1.00, read 1.00, write 1.00": every syscall whose
/// count grew by at least 0.01 per operation, most first.
pub(super) fn breakdown(name: &str, op: &str, short: &Counts, long: &Counts, ops: f64) -> String {
    let mut grown: Vec<(f64, &str)> = long
        .by_name
        .iter()
        .map(|(call, &n)| {
            let before = short.by_name.get(call).copied().unwrap_or(0);
            ((n as f64 - before as f64) / ops, call.as_str())
        })
        .filter(|&(per, _)| per >= 0.005)
        .collect();
    grown.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    let decimals = if op == "MB" { 1 } else { 2 };
    let list: Vec<String> = grown
        .iter()
        .map(|(per, call)| format!("{call} {per:.decimals$}"))
        .collect();
    format!("{name} syscalls/{op}: {}", list.join(", "))
}

/// Runs `server` in a child under `tool` while `load` works it, and returns what the
/// tool counted.
fn counted(
    server: &Server,
    tool: Tool,
    load: impl FnOnce(&Running) -> Result<(), String>,
) -> Result<Counts, String> {
    counted_with(server, tool, &[], load)
}

/// [`counted`], with `extra` arguments for the tool after its own (the file
/// scenario passes strace `-E NAME=VALUE` to set the child's environment).
pub(super) fn counted_with(
    server: &Server,
    tool: Tool,
    extra: &[String],
    load: impl FnOnce(&Running) -> Result<(), String>,
) -> Result<Counts, String> {
    let out = out_file(server, tool);
    let _ = std::fs::remove_file(&out);
    let result = (|| {
        let mut command = tool.command(&out);
        command.extend_from_slice(extra);
        let running = Running::in_child_under(server, &command)
            .map_err(|e| format!("start under {}: {e}", tool.program()))?;
        let loaded = load(&running);
        let stopped = running.finish();
        loaded?;
        stopped?;
        let text = std::fs::read_to_string(&out)
            .map_err(|e| format!("{} wrote no counts: {e}", tool.program()))?;
        match tool {
            Tool::Strace => parse_strace(&text),
            Tool::Callgrind => parse_callgrind(&text),
        }
        .ok_or_else(|| {
            format!(
                "cannot read {}'s counts in {}",
                tool.program(),
                out.display()
            )
        })
    })();
    if result.is_ok() {
        let _ = std::fs::remove_file(&out);
    }
    result
}

fn out_file(server: &Server, tool: Tool) -> PathBuf {
    std::env::temp_dir().join(format!(
        "asyncore-counted-{}-{}-{}.out",
        std::process::id(),
        server.name,
        tool.program()
    ))
}

/// Reads `strace -c`'s table: `% time  seconds  usecs/call  calls  [errors]  syscall`
/// rows, then a `total` row.
fn parse_strace(text: &str) -> Option<Counts> {
    let mut counts = Counts::default();
    let mut total = None;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(&name), Some(calls)) = (fields.last(), fields.get(3)) else {
            continue;
        };
        let Ok(calls) = calls.parse::<u64>() else {
            continue; // the heading and the dashed rules
        };
        if name == "total" {
            total = Some(calls);
        } else {
            counts.by_name.insert(name.to_string(), calls);
        }
    }
    counts.total = total?;
    Some(counts)
}

/// Reads callgrind's `totals:` (or `summary:`) line: the instructions executed.
fn parse_callgrind(text: &str) -> Option<Counts> {
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:"))
        .or_else(|| text.lines().find_map(|l| l.strip_prefix("summary:")))?;
    let total = line.split_whitespace().next()?.parse().ok()?;
    Some(Counts {
        total,
        by_name: BTreeMap::new(),
    })
}
