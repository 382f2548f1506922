//! The goals, checked against the tables: PASS or MISS where the crate's
//! figure exists, and a note where it does not (yet).

use crate::report::{Table, number};
use crate::scenarios::file::SYSCALLS as FILE_SYSCALLS;
use crate::scenarios::splitter::ASYNCORE_SPLITTER;
use crate::servers::{
    ASYNCHAT, ASYNCORE, ASYNCORE_READ, ASYNCORE_SENDFILE, LINES_CODEC, MIO, TOKIO,
};

/// What a figure must satisfy.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// At least this multiple of the baseline's figure.
    MinTimes(&'static str, f64),
    /// At most this multiple of the baseline's figure.
    MaxTimes(&'static str, f64),
    /// At least this value.
    Min(f64),
    /// At most this value.
    Max(f64),
}

/// One goal: `server`'s `column` in table `table`.
#[derive(Clone, Copy, Debug)]
pub struct Goal {
    /// Table id.
    pub table: &'static str,
    /// Column name.
    pub column: &'static str,
    /// Whose figure.
    pub server: &'static str,
    /// The bound.
    pub check: Check,
}

const fn goal(
    table: &'static str,
    column: &'static str,
    server: &'static str,
    check: Check,
) -> Goal {
    Goal {
        table,
        column,
        server,
        check,
    }
}

use Check::*;

/// Every goal, in the order.
pub const GOALS: &[Goal] = &[
    goal("pingpong-1", "rt/s", ASYNCORE, MinTimes(MIO, 0.97)),
    goal("pingpong-1", "rt/s", ASYNCORE, MinTimes(TOKIO, 1.0)),
    goal("pingpong-100", "rt/s", ASYNCORE, MinTimes(MIO, 0.97)),
    goal("pingpong-100", "rt/s", ASYNCORE, MinTimes(TOKIO, 1.0)),
    goal("pingpong-1000", "rt/s", ASYNCORE, MinTimes(MIO, 0.97)),
    goal("pingpong-1000", "rt/s", ASYNCORE, MinTimes(TOKIO, 1.0)),
    goal("bulk", "MB/s", ASYNCORE, MinTimes(MIO, 1.0)),
    goal("idle", "active rt/s", ASYNCORE, MinTimes(MIO, 0.95)),
    goal("idle", "B/idle conn", ASYNCORE, Max(160.0)),
    goal("lines", "lines/s", ASYNCHAT, MinTimes(LINES_CODEC, 1.5)),
    goal("splitter", "64KiB GB/s", ASYNCORE_SPLITTER, Min(4.0)),
    goal("counted", "instr/rt", ASYNCORE, MaxTimes(MIO, 3.0)),
    goal("counted", "instr/rt", ASYNCORE, MaxTimes(TOKIO, 0.3)),
    goal("counted", "syscalls/MB", ASYNCORE, MaxTimes(MIO, 1.05)),
    // Against the client that discards in the kernel, where the server's cost sets
    // the pace; file-copy shows the same pair with a client that copies every byte.
    goal(
        "file-discard",
        "MB/s",
        ASYNCORE_SENDFILE,
        MinTimes(ASYNCORE_READ, 2.0),
    ),
    goal("file-discard", FILE_SYSCALLS, ASYNCORE_SENDFILE, Max(1.0)),
];

/// Prints every goal's state; returns how many passed and missed.
pub fn print(tables: &[Table]) -> (usize, usize) {
    println!();
    println!("goals (PASS/MISS where the crate's figure exists)");
    let (mut pass, mut miss) = (0, 0);
    for g in GOALS {
        let wanted = match g.check {
            MinTimes(b, x) => format!(">= {x:.2}x {b}"),
            MaxTimes(b, x) => format!("<= {x:.2}x {b}"),
            Min(v) => format!(">= {v}"),
            Max(v) => format!("<= {v}"),
        };
        let what = format!("{} {}: {} {}", g.table, g.column, g.server, wanted);
        let Some(table) = tables.iter().find(|t| t.id == g.table) else {
            println!("  ----  {what}  (scenario not run)");
            continue;
        };
        let Some(value) = table.value(g.server, g.column) else {
            if table.ran(g.server) {
                println!("  ----  {what}  (not measured here; see the notes under the table)");
            } else {
                println!("  ----  {what}  (no figure for {} yet)", g.server);
            }
            continue;
        };
        let decimals = table.decimals(g.column);
        let (ok, shown) = match g.check {
            MinTimes(b, x) | MaxTimes(b, x) => {
                let Some(base) = table.value(b, g.column) else {
                    println!("  ----  {what}  (no figure for {b})");
                    continue;
                };
                let ratio = value / base;
                if !ratio.is_finite() || value <= 0.0 {
                    // A CPU figure of 0 means less than the tick sampling resolves.
                    println!("  ----  {what}  (below measurement resolution: {value} vs {base})");
                    continue;
                }
                let ok = match g.check {
                    MinTimes(..) => ratio >= x,
                    _ => ratio <= x,
                };
                let (v, b) = (number(Some(value), decimals), number(Some(base), decimals));
                (ok, format!("{ratio:.2}x ({v} vs {b})"))
            }
            Min(v) => (value >= v, number(Some(value), decimals)),
            Max(v) => (value <= v, number(Some(value), decimals)),
        };
        if ok {
            pass += 1;
        } else {
            miss += 1;
        }
        println!("  {}  {what}  {shown}", if ok { "PASS" } else { "MISS" });
    }
    (pass, miss)
}
