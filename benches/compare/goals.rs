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
    AtLeastTimes(&'static str, f64),
    /// At most this multiple of the baseline's figure.
    AtMostTimes(&'static str, f64),
    /// At least this value.
    AtLeast(f64),
    /// At most this value.
    AtMost(f64),
    /// Below this value.
    Below(f64),
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
    goal("pingpong-1", "rt/s", ASYNCORE, AtLeastTimes(MIO, 0.95)),
    goal("pingpong-1", "rt/s", ASYNCORE, AtLeastTimes(TOKIO, 1.0)),
    goal("pingpong-100", "rt/s", ASYNCORE, AtLeastTimes(MIO, 0.95)),
    goal("pingpong-100", "rt/s", ASYNCORE, AtLeastTimes(TOKIO, 1.0)),
    goal("pingpong-1000", "rt/s", ASYNCORE, AtLeastTimes(MIO, 0.95)),
    goal("pingpong-1000", "rt/s", ASYNCORE, AtLeastTimes(TOKIO, 1.0)),
    goal("pingpong-1", "user µs/rt", ASYNCORE, AtMostTimes(MIO, 1.5)),
    goal(
        "pingpong-1",
        "user µs/rt",
        ASYNCORE,
        AtMostTimes(TOKIO, 1.0),
    ),
    goal(
        "pingpong-100",
        "user µs/rt",
        ASYNCORE,
        AtMostTimes(MIO, 1.5),
    ),
    goal(
        "pingpong-100",
        "user µs/rt",
        ASYNCORE,
        AtMostTimes(TOKIO, 1.0),
    ),
    goal(
        "pingpong-1000",
        "user µs/rt",
        ASYNCORE,
        AtMostTimes(MIO, 1.5),
    ),
    goal(
        "pingpong-1000",
        "user µs/rt",
        ASYNCORE,
        AtMostTimes(TOKIO, 1.0),
    ),
    goal("bulk", "MB/s", ASYNCORE, AtLeastTimes(MIO, 0.95)),
    goal("idle", "active rt/s", ASYNCORE, AtLeastTimes(MIO, 0.8)),
    goal("idle", "B/idle conn", ASYNCORE, Below(2048.0)),
    goal("lines", "lines/s", ASYNCHAT, AtLeastTimes(LINES_CODEC, 1.0)),
    goal("splitter", "64KiB GB/s", ASYNCORE_SPLITTER, AtLeast(1.0)),
    goal("counted", "instr/rt", ASYNCORE, AtMostTimes(MIO, 3.0)),
    goal("counted", "instr/rt", ASYNCORE, AtMostTimes(TOKIO, 0.3)),
    goal("counted", "syscalls/MB", ASYNCORE, AtMostTimes(MIO, 1.05)),
    // Against the client that discards in the kernel, where the server's cost sets
    // the pace; file-copy shows the same pair with a client that copies every byte.
    goal(
        "file-discard",
        "MB/s",
        ASYNCORE_SENDFILE,
        AtLeastTimes(ASYNCORE_READ, 2.0),
    ),
    goal(
        "file-discard",
        FILE_SYSCALLS,
        ASYNCORE_SENDFILE,
        AtMost(1.0),
    ),
];

/// Prints every goal's state; returns how many passed and missed.
pub fn print(tables: &[Table]) -> (usize, usize) {
    println!();
    println!("goals (PASS/MISS where the crate's figure exists)");
    let (mut pass, mut miss) = (0, 0);
    for g in GOALS {
        let wanted = match g.check {
            AtLeastTimes(b, x) => format!(">= {x:.2}x {b}"),
            AtMostTimes(b, x) => format!("<= {x:.2}x {b}"),
            AtLeast(v) => format!(">= {v}"),
            AtMost(v) => format!("<= {v}"),
            Below(v) => format!("< {v}"),
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
            AtLeastTimes(b, x) | AtMostTimes(b, x) => {
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
                    AtLeastTimes(..) => ratio >= x,
                    _ => ratio <= x,
                };
                let (v, b) = (number(Some(value), decimals), number(Some(base), decimals));
                (ok, format!("{ratio:.2}x ({v} vs {b})"))
            }
            AtLeast(v) => (value >= v, number(Some(value), decimals)),
            AtMost(v) => (value <= v, number(Some(value), decimals)),
            Below(v) => (value < v, number(Some(value), decimals)),
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
