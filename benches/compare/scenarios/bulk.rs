//! Bulk: 4 connections streaming both ways at once.
//!
//! The client writes a 64 KiB pseudo-random pattern continuously on every
//! connection and reads the echo continuously, checking every byte. Reports MB/s
//! of echoed data received by the client (MB = 10^6 bytes) and the server thread's
//! user, system and total CPU time per MB. Ratio: to raw mio. Runs as many rounds as
//! ping-pong: a round's figure moves by a quarter from one round to the next here.

use crate::config::Config;
use crate::load::stream::Spec;
use crate::report::Table;
use crate::servers::{MIO, Protocol};

use super::{
    baseline_notes, cpu_columns, median, progress, round_order, rounds_text, servers, stream_once,
};

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
            rounds_text(cfg.noisy_rounds, cfg.window)
        ),
        &columns,
    )
    .ratio("MB/s", MIO)
    .ratio("user µs/MB", MIO);
    baseline_notes(&mut table);
    let servers = servers(cfg, Protocol::Echo, "bulk");
    for round in 1..=cfg.noisy_rounds {
        for server in round_order(&servers, round) {
            let outcome = stream_once(server, &spec, cfg, |bytes| bytes as f64 / 1e6);
            progress("bulk", server.name, round, &outcome);
            table.record(server.name, outcome);
        }
    }
    vec![table]
}

/// `len` bytes of a fixed pseudo-random sequence (xorshift), the same every run.
pub fn pattern(len: usize) -> Vec<u8> {
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
