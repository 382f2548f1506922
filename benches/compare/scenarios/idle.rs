//! Idle: 10,000 idle connections plus 1 active ping-pong connection.
//!
//! The server runs in a child process (this binary re-executed), so that the
//! 10,000 client fds (here) and the 10,000 server fds (there) each fit under the
//! fd limit, and so that its resident memory is its own, on a fresh heap that no
//! earlier run has left free pages in. The client opens the idle connections, sends
//! one byte on each and reads its echo (so the server has accepted and served every
//! one), then runs 64-byte ping-pong on one more connection. Reports the active
//! connection's round trips per second and latency, the server thread's CPU per
//! round trip, and the server process's resident memory (VmRSS) grown by opening
//! the idle connections, per idle connection. Ratio: to raw mio.
//!
//! Idle connections are closed with `SO_LINGER` 0 (a reset), so a full run leaves
//! no 90,000 sockets in TIME_WAIT behind.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;
use crate::harness::{Running, Timing};
use crate::load;
use crate::report::Table;
use crate::servers::{MIO, Protocol, Server};
use crate::sys;

use super::{
    baseline_notes, cpu_columns, cpu_values, median, progress, round_order, rounds_text, servers,
    timing,
};

/// File descriptors kept free for everything else in the process.
const FD_MARGIN: u64 = 256;

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let limit = sys::raise_nofile_limit().unwrap_or(u64::MAX);
    let idle = cfg.idle_conns.min(limit.saturating_sub(FD_MARGIN) as usize);
    let mut columns = vec![
        median("active rt/s", 0),
        median("p50 µs", 1),
        median("p99 µs", 1),
    ];
    columns.extend(cpu_columns("rt"));
    columns.push(median("B/idle conn", 0));
    let mut table = Table::new(
        "idle",
        format!(
            "{idle} idle connections + 1 ping-pong connection, server in a child process ({})",
            rounds_text(cfg.noisy_rounds, cfg.window)
        ),
        &columns,
    )
    .ratio("active rt/s", MIO)
    .ratio("B/idle conn", MIO);
    if idle < cfg.idle_conns {
        table.notes.push(format!(
            "only {idle} idle connections: RLIMIT_NOFILE is {limit} here"
        ));
    }
    table
        .notes
        .push("B/idle conn: growth of the server process's VmRSS while the idle connections open, / connections".into());
    baseline_notes(&mut table);
    let servers = servers(cfg, Protocol::Echo, "idle");
    // Its figure is a 1-connection ping-pong's, which swings as much: as many
    // rounds as the ping-pong scenario.
    for round in 1..=cfg.noisy_rounds {
        for server in round_order(&servers, round) {
            let outcome = once(server, idle, timing(cfg));
            progress("idle", server.name, round, &outcome);
            table.record(server.name, outcome);
        }
    }
    vec![table]
}

fn once(server: &Server, idle: usize, timing: Timing) -> Result<Vec<f64>, String> {
    let running = Running::in_child(server).map_err(|e| format!("start: {e}"))?;
    let result = (|| -> io::Result<_> {
        let before = running.rss()?;
        let conns = open_idle(running.addr, idle)?;
        let after = running.rss()?;
        let pp = load::pingpong::run(&running, 1, timing)?;
        drop(conns);
        Ok((before, after, pp))
    })();
    let stopped = running.finish();
    let (before, after, pp) = result.map_err(|e| format!("client: {e}"))?;
    let stats = stopped?;
    if stats.accepted < idle as u64 + 1 {
        return Err(format!(
            "server accepted {} of {} connections",
            stats.accepted,
            idle + 1
        ));
    }
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
    values.push((after as f64 - before as f64) / idle.max(1) as f64);
    Ok(values)
}

/// Opens `n` connections and echoes one byte on each.
fn open_idle(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let stream = load::connect(addr)?;
        socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
        conns.push(stream);
    }
    for mut stream in &conns {
        stream.write_all(b"!")?;
    }
    let mut byte = [0u8; 1];
    for mut stream in &conns {
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.read_exact(&mut byte)?;
        if byte != *b"!" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "wrong echo on an idle connection",
            ));
        }
    }
    Ok(conns)
}
