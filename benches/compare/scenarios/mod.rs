//! The scenarios, one file each, and what they share: picking servers, running
//! rounds, and turning a window's CPU use into per-operation figures.

pub mod bulk;
pub mod counted;
pub mod file;
pub mod idle;
pub mod lines;
pub mod pingpong;
pub mod splitter;

use std::time::Duration;

use crate::config::Config;
use crate::harness::{Measured, Timing};
use crate::report::{Combine, Spec, Table};
use crate::servers::{Protocol, SERVERS, Server};

/// A scenario: its command-line name and what runs it.
pub struct Scenario {
    /// Name on the command line (`cargo bench -- pingpong`).
    pub name: &'static str,
    /// Runs every round for every selected server; returns its tables.
    pub run: fn(&Config) -> Vec<Table>,
}

/// Every scenario, in run order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "pingpong",
        run: pingpong::run,
    },
    Scenario {
        name: "bulk",
        run: bulk::run,
    },
    Scenario {
        name: "idle",
        run: idle::run,
    },
    Scenario {
        name: "lines",
        run: lines::run,
    },
    Scenario {
        name: "splitter",
        run: splitter::run,
    },
    Scenario {
        name: "counted",
        run: counted::run,
    },
    Scenario {
        name: "file",
        run: file::run,
    },
];

/// Looks a scenario up by name.
pub fn by_name(name: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name)
}

/// The selected servers that speak `protocol` and take part in `scenario` (a
/// server limited to other scenarios runs here only if named on the command line).
pub fn servers(cfg: &Config, protocol: Protocol, scenario: &str) -> Vec<&'static Server> {
    SERVERS
        .iter()
        .filter(|s| s.protocol == protocol && cfg.wants_server(s.name))
        .filter(|s| {
            s.only_in.is_empty()
                || s.only_in.contains(&scenario)
                || cfg.servers.iter().any(|n| n == s.name)
        })
        .collect()
}

/// Warm-up and window of every socket run.
pub fn timing(cfg: &Config) -> Timing {
    Timing {
        warmup: cfg.warmup,
        window: cfg.window,
    }
}

/// The servers in the order round `round` (from 1) runs them: rotated by one each
/// round, so that over as many rounds as there are servers each runs once in each
/// place (first, second, ...). Slow drifts of the machine (other tenants coming
/// and going), and whatever a run leaves behind for the next one, then weigh on
/// every server alike. (Reversing every other round did that for two servers
/// only: of three, one ran last in two rounds of three.)
pub fn round_order<T: Copy>(items: &[T], round: usize) -> Vec<T> {
    let mut order = items.to_vec();
    if !order.is_empty() {
        let by = (round.max(1) - 1) % order.len();
        order.rotate_left(by);
    }
    order
}

/// "median of 3 rounds x 2.0 s" for titles.
pub fn rounds_text(rounds: usize, window: Duration) -> String {
    format!(
        "median of {} round{} x {:.1} s",
        rounds,
        if rounds == 1 { "" } else { "s" },
        window.as_secs_f64()
    )
}

/// The hidden column of operation counts that CPU-per-operation figures pool by.
const OPS: &str = "ops";

/// A column whose figure is the median of the rounds.
pub const fn median(name: &'static str, decimals: usize) -> Spec {
    (name, decimals, Combine::Median)
}

/// The column of CPU used by the rest of the machine during a run.
pub const OTHER_CPU: &str = "other cpu%";

/// A run during which the rest of the machine used more than this share of one
/// CPU (in percent) is counted as noisy in the closing summary.
pub const NOISY_OTHER_CPU: f64 = 25.0;

/// Server CPU columns shared by the socket scenarios, for operations named `op`:
/// user, system and total server CPU per operation (pooled over the rounds), then
/// the server's, the client's and the rest of the machine's CPU use in percent of
/// one CPU over the window (a client near 100% means the load generator, not the
/// server, set the pace; a high "other" means other tenants disturbed the run),
/// then the hidden operation count.
pub fn cpu_columns(op: &str) -> [Spec; 7] {
    // Column names must be 'static; the few operation names are spelled out.
    let ([user, sys, cpu], decimals) = match op {
        "rt" => (["user µs/rt", "sys µs/rt", "cpu µs/rt"], 2),
        "MB" => (["user µs/MB", "sys µs/MB", "cpu µs/MB"], 1),
        "line" => (["user µs/line", "sys µs/line", "cpu µs/line"], 3),
        _ => unreachable!("no CPU columns for {op}"),
    };
    let pooled = Combine::PooledBy(OPS);
    [
        (user, decimals, pooled),
        (sys, decimals, pooled),
        (cpu, decimals, pooled),
        median("srv cpu%", 0),
        median("cli cpu%", 0),
        median(OTHER_CPU, 0),
        (OPS, 0, Combine::Hidden),
    ]
}

/// The values for [`cpu_columns`], for `ops` operations in the window.
pub fn cpu_values(m: &Measured, ops: f64) -> [f64; 7] {
    let per_op = |secs: f64| {
        if ops > 0.0 {
            secs * 1e6 / ops
        } else {
            f64::NAN
        }
    };
    [
        per_op(m.user_secs),
        per_op(m.sys_secs),
        per_op(m.cpu_secs),
        100.0 * m.cpu_secs / m.secs,
        100.0 * m.client_cpu_secs / m.secs,
        100.0 * m.other_cpu_secs / m.secs,
        ops,
    ]
}

/// How the socket tables' CPU figures are measured, printed once at the top.
pub fn cpu_note() -> String {
    format!(
        "CPU: the server thread's user/sys time from /proc/<pid>/task/<tid>/stat (split \
         sampled at the kernel's timer tick, in 1/{} s), total from schedstat (ns); \
         per-op CPU pooled over rounds (sum CPU / sum ops), other figures are medians",
        crate::sys::clock_ticks_per_second()
    )
}

/// Adds the notes saying what the echo baselines do
/// ([`BASELINE_NOTES`](crate::servers::BASELINE_NOTES)) under `table`.
pub fn baseline_notes(table: &mut Table) {
    let notes = crate::servers::BASELINE_NOTES.iter();
    table.notes.extend(notes.map(|n| n.to_string()));
}

/// Prints one run's outcome on stderr, as progress.
pub fn progress(what: &str, server: &str, round: usize, outcome: &Result<Vec<f64>, String>) {
    match outcome {
        Ok(values) => {
            let first = values.first().copied();
            let decimals = if first.is_some_and(|v| v.abs() < 100.0) {
                2
            } else {
                0
            };
            eprintln!(
                "  {what} round {round} {server}: {}",
                crate::report::number(first, decimals)
            )
        }
        Err(e) => eprintln!("  {what} round {round} {server}: FAILED {e}"),
    }
}

/// One run of a streaming scenario (bulk, lines) against `server`: the figures of the
/// measured window, with `ops(bytes)` turning the bytes echoed into the scenario's
/// unit of work (MB, lines).
pub fn stream_once(
    server: &Server,
    spec: &crate::load::stream::Spec,
    cfg: &Config,
    ops: impl Fn(u64) -> f64,
) -> Result<Vec<f64>, String> {
    let running = crate::harness::Running::on_thread(server).map_err(|e| format!("start: {e}"))?;
    let result = crate::load::stream::run(&running, spec, timing(cfg));
    let stopped = running.finish();
    let streamed = result.map_err(|e| format!("client: {e}"))?;
    stopped?;
    if streamed.mismatches > 0 {
        return Err(format!(
            "{} reads differed from what was sent",
            streamed.mismatches
        ));
    }
    let m = streamed.measured;
    let done = ops(streamed.bytes);
    let mut values = vec![done / m.secs];
    values.extend(cpu_values(&m, done));
    Ok(values)
}
