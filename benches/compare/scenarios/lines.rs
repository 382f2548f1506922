//! Lines: 100-byte lines pipelined over 100 connections.
//!
//! Each line is 99 printable bytes and `\n`. Every connection keeps 32 lines in
//! flight (it writes more as echoes come back) and checks every byte echoed.
//! Reports lines per second and the server thread's user, system and total CPU
//! time per line. Only line servers run it (tokio_util `LinesCodec` now, the
//! crate's `AsyncChat` later); a byte echo would pass it without splitting
//! anything. Ratio: to `LinesCodec`.

use crate::config::Config;
use crate::harness::Running;
use crate::load::stream::{self, Spec};
use crate::report::Table;
use crate::servers::{LINES_CODEC, Protocol, Server};

use super::{cpu_columns, cpu_values, median, progress, round_order, rounds_text, servers, timing};

/// Connections.
pub const CONNS: usize = 100;
/// Bytes per line, `\n` included.
pub const LINE: usize = 100;
/// Lines in flight per connection.
pub const DEPTH: usize = 32;

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let pattern = pattern(655);
    let spec = Spec {
        conns: CONNS,
        pattern: &pattern,
        max_in_flight: DEPTH * LINE,
    };
    let mut columns = vec![median("lines/s", 0)];
    columns.extend(cpu_columns("line"));
    let mut table = Table::new(
        "lines",
        format!(
            "line echo, {LINE}-byte lines, {DEPTH} in flight on each of {CONNS} connections ({})",
            rounds_text(cfg)
        ),
        &columns,
    )
    .ratio("lines/s", LINES_CODEC)
    .ratio("user µs/line", LINES_CODEC);
    let servers = servers(cfg, Protocol::Lines);
    for round in 1..=cfg.rounds {
        for server in round_order(&servers, round) {
            let outcome = once(server, &spec, cfg);
            progress("lines", server.name, round, &outcome);
            table.record(server.name, outcome);
        }
    }
    vec![table]
}

fn once(server: &Server, spec: &Spec, cfg: &Config) -> Result<Vec<f64>, String> {
    let running = Running::on_thread(server).map_err(|e| format!("start: {e}"))?;
    let result = stream::run(&running, spec, timing(cfg));
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
    let lines = (streamed.bytes / LINE as u64) as f64;
    let mut values = vec![lines / m.secs];
    values.extend(cpu_values(&m, lines));
    Ok(values)
}

/// `count` distinct lines of `LINE` bytes each.
fn pattern(count: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(count * LINE);
    for i in 0..count {
        out.extend((0..LINE - 1).map(|j| b'!' + ((i + j) % 94) as u8));
        out.push(b'\n');
    }
    out
}
