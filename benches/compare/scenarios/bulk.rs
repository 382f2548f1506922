//! Bulk: 4 connections streaming both ways at once.
//!
//! The client writes a 64 KiB pseudo-random pattern continuously on every
//! connection and reads the echo continuously, checking every byte. Reports MB/s
//! of echoed data received by the client (MB = 10^6 bytes) and the server thread's
//! user, system and total CPU time per MB. Ratio: to raw mio.

use crate::config::Config;
use crate::harness::Running;
use crate::load::stream::{self, Spec};
use crate::report::Table;
use crate::servers::{MIO, Protocol, Server};

use super::{cpu_columns, cpu_values, median, progress, round_order, rounds_text, servers, timing};

/// Connections streaming at once.
pub const CONNS: usize = 4;

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let pattern = pattern(64 * 1024);
    let spec = Spec {
        conns: CONNS,
        pattern: &pattern,
        max_in_flight: usize::MAX,
    };
    let mut columns = vec![median("MB/s", 0)];
    columns.extend(cpu_columns("MB"));
    let mut table = Table::new(
        "bulk",
        format!(
            "bulk echo, {CONNS} connections streaming both ways ({})",
            rounds_text(cfg)
        ),
        &columns,
    )
    .ratio("MB/s", MIO)
    .ratio("user µs/MB", MIO);
    let servers = servers(cfg, Protocol::Echo);
    for round in 1..=cfg.rounds {
        for server in round_order(&servers, round) {
            let outcome = once(server, &spec, cfg);
            progress("bulk", server.name, round, &outcome);
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
    let mb = streamed.bytes as f64 / 1e6;
    let mut values = vec![mb / m.secs];
    values.extend(cpu_values(&m, mb));
    Ok(values)
}

/// `len` bytes of a fixed pseudo-random sequence (xorshift), the same every run.
fn pattern(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}
