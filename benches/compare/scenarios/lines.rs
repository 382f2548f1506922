//! Lines: 100-byte lines pipelined over 100 connections.
//!
//! Each line is 99 printable bytes and `\n`. Every connection keeps 32 lines in
//! flight (it writes more as echoes come back) and checks every byte echoed.
//! Reports lines per second and the server thread's user, system and total CPU
//! time per line. Only line servers run it (tokio_util `LinesCodec` and the
//! crate's `AsyncChat`); a byte echo would pass it without splitting anything.
//! Ratio: to `LinesCodec`.

use crate::config::Config;
use crate::load::stream::Spec;
use crate::report::Table;
use crate::servers::{LINES_CODEC, Protocol};

use super::{cpu_columns, median, progress, round_order, rounds_text, servers, stream_once};

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
            rounds_text(cfg.rounds, cfg.window)
        ),
        &columns,
    )
    .ratio("lines/s", LINES_CODEC)
    .ratio("user µs/line", LINES_CODEC);
    let servers = servers(cfg, Protocol::Lines, "lines");
    for round in 1..=cfg.rounds {
        for server in round_order(&servers, round) {
            let outcome = stream_once(server, &spec, cfg, |bytes| (bytes / LINE as u64) as f64);
            progress("lines", server.name, round, &outcome);
            table.record(server.name, outcome);
        }
    }
    vec![table]
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
