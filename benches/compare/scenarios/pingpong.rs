//! Ping-pong: 64-byte messages over 1, 100 and 1000 connections.
//!
//! Each connection sends 64 bytes, waits for the 64-byte echo, and repeats; one
//! mio client thread drives all of them, the same client for every server. Reports
//! round trips per second, p50 and p99 round-trip latency, and the server thread's
//! user, system and total CPU time per round trip. Ratios: to raw mio and to tokio.
//!
//! Ping-pong runs more rounds than most scenarios (its throughput swings most
//! between runs), and the 1-connection table a window twice as long: a single
//! connection leaves the server idle more than half the time, and its user CPU is
//! a few percent of that, so the kernel's tick-sampled user/system split (250 Hz
//! on this machine) has few samples to go on.

use crate::config::Config;
use crate::harness::{Running, Timing};
use crate::load;
use crate::report::Table;
use crate::servers::{MIO, Protocol, Server, TOKIO};

use super::{
    baseline_notes, cpu_columns, cpu_values, median, progress, round_order, rounds_text, servers,
    timing,
};

/// Connection counts, one table each.
pub const CONNS: [usize; 3] = [1, 100, 1000];

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let servers = servers(cfg, Protocol::Echo, "pingpong");
    let rounds = cfg.noisy_rounds;
    let mut tables = Vec::new();
    for conns in CONNS {
        let mut timing = timing(cfg);
        if conns == 1 {
            timing.window *= 2;
        }
        let mut columns = vec![median("rt/s", 0), median("p50 µs", 1), median("p99 µs", 1)];
        columns.extend(cpu_columns("rt"));
        let mut table = Table::new(
            format!("pingpong-{conns}"),
            format!(
                "ping-pong, 64-byte messages, {conns} connection{} ({})",
                if conns == 1 { "" } else { "s" },
                rounds_text(rounds, timing.window)
            ),
            &columns,
        )
        .ratio("rt/s", MIO)
        .ratio("rt/s", TOKIO)
        .ratio("user µs/rt", MIO)
        .ratio("user µs/rt", TOKIO);
        if tables.is_empty() {
            baseline_notes(&mut table);
        }
        for round in 1..=rounds {
            for server in round_order(&servers, round) {
                let outcome = once(server, conns, timing);
                progress(
                    &format!("pingpong {conns} conns"),
                    server.name,
                    round,
                    &outcome,
                );
                table.record(server.name, outcome);
            }
        }
        tables.push(table);
    }
    tables
}

fn once(server: &Server, conns: usize, timing: Timing) -> Result<Vec<f64>, String> {
    let running = Running::on_thread(server).map_err(|e| format!("start: {e}"))?;
    let result = load::pingpong::run(&running, conns, timing);
    let stopped = running.finish();
    let pp = result.map_err(|e| format!("client: {e}"))?;
    stopped?;
    if pp.mismatches > 0 {
        return Err(format!(
            "{} echoes differed from what was sent",
            pp.mismatches
        ));
    }
    if pp.round_trips == 0 {
        return Err("no round trip completed in the window".into());
    }
    let m = pp.measured;
    let ops = pp.round_trips as f64;
    let mut values = vec![ops / m.secs, pp.p50_us, pp.p99_us];
    values.extend(cpu_values(&m, ops));
    Ok(values)
}
