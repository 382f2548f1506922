//! Compares the crate's servers with peer servers (raw mio, tokio, tokio_util
//! `LinesCodec`) on identical work: ping-pong, bulk, 10,000 idle connections,
//! pipelined lines, and the terminator splitter alone; and the crate's file
//! serving by `sendfile` beside its read + push path (`file`).
//!
//! The crate's echo server is the shipped `echo_server` example's handlers, included
//! from `examples/echo_server/handler.rs`. The raw mio baseline is the common one:
//! edge-triggered, a short read taken as drained and a short write as full, so a
//! ping-pong round trip costs it 3 syscalls (`epoll_wait`, then `recvfrom` and
//! `sendto`, what a socket's read and write become). The tokio baseline is a task
//! per connection on a `current_thread` runtime. Details in `servers/mod.rs`, and
//! in the notes under the tables.
//!
//! Beside time and CPU, the `counted` scenario counts what does not depend on the
//! machine: syscalls per round trip and per MB (strace) and user-space
//! instructions per round trip (callgrind), where those tools are installed; it
//! says "not found, skipped" where they are not (see `scenarios/counted.rs`).
//!
//! ```text
//! cargo bench --bench compare                       # everything, 3-5 rounds each
//! cargo bench --bench compare -- pingpong idle      # some scenarios
//! cargo bench --bench compare -- pingpong mio tokio # some scenarios, some servers
//! cargo bench --bench compare -- counted            # syscalls and instructions
//! ASYNCORE_BENCH_QUICK=1 cargo bench                # every scenario briefly (CI)
//! ```
//!
//! `ASYNCORE_BENCH_ROUNDS` and `ASYNCORE_BENCH_SECS` override the rounds and the
//! measured window. Servers are listed in `servers/mod.rs` (how to add one is
//! there), scenarios in `scenarios/mod.rs`, the issue's goals in `goals.rs`. All
//! traffic is on 127.0.0.1; every run stops by itself.

mod config;
mod goals;
mod harness;
mod load;
mod report;
mod scenarios;
mod servers;
mod stop;
mod sys;

use std::process::ExitCode;
use std::time::Instant;

use config::Config;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let nofile = sys::raise_nofile_limit();
    if args.first().map(String::as_str) == Some(harness::SERVE_ARG) {
        let name = args.get(1).map(String::as_str).unwrap_or("");
        let cpu = args.get(2).and_then(|c| c.parse().ok());
        return ExitCode::from(harness::serve_for_parent(name, cpu) as u8);
    }

    // cargo passes `--bench`; every other word names a scenario or a server.
    let words: Vec<String> = args.into_iter().filter(|a| !a.starts_with('-')).collect();
    let is_scenario = |w: &str| scenarios::by_name(w).is_some();
    if let Some(unknown) = words
        .iter()
        .find(|w| !is_scenario(w) && servers::by_name(w).is_none())
    {
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(", ");
        eprintln!("unknown scenario or server {unknown:?}");
        eprintln!(
            "scenarios: {}",
            names(&mut scenarios::SCENARIOS.iter().map(|s| s.name))
        );
        eprintln!(
            "servers: {}",
            names(&mut servers::SERVERS.iter().map(|s| s.name))
        );
        return ExitCode::from(2);
    }
    let cfg = Config::new(&words, is_scenario);
    let pinned = harness::pin_threads();

    println!(
        "asyncore compare: {} mode, {} round{} (ping-pong, bulk and idle {}), {:.2} s warm-up + {:.2} s window \
         per socket run (1-connection ping-pong twice that); RLIMIT_NOFILE {}; {}",
        if cfg.quick { "quick" } else { "full" },
        cfg.rounds,
        if cfg.rounds == 1 { "" } else { "s" },
        cfg.noisy_rounds,
        cfg.warmup.as_secs_f64(),
        cfg.window.as_secs_f64(),
        nofile.map_or("unlimited".to_string(), |n| n.to_string()),
        pinned.map_or(
            "threads not pinned".to_string(),
            |(client, server)| format!("client pinned to CPU {client}, servers to CPU {server}")
        ),
    );
    println!("{}", scenarios::cpu_note());
    let started = Instant::now();
    let mut tables = Vec::new();
    for scenario in scenarios::SCENARIOS {
        if !cfg.wants_scenario(scenario.name) {
            continue;
        }
        eprintln!("{} ...", scenario.name);
        for table in (scenario.run)(&cfg) {
            table.print();
            tables.push(table);
        }
    }
    let (pass, miss) = goals::print(&tables);
    println!();
    println!(
        "{pass} goals passed, {miss} missed; finished in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let (noisy, runs) = tables.iter().fold((0, 0), |(n, r), t| {
        let (above, all) = t.rounds_above(scenarios::OTHER_CPU, scenarios::NOISY_OTHER_CPU);
        (n + above, r + all)
    });
    if noisy > 0 {
        println!(
            "note: in {noisy} of {runs} socket runs the rest of the machine used more than {}% \
             of a CPU (column '{}'); those figures are noisy, rerun on a quiet machine",
            scenarios::NOISY_OTHER_CPU,
            scenarios::OTHER_CPU
        );
    }
    if tables.iter().any(report::Table::failed) {
        eprintln!("some runs FAILED (see the tables)");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
