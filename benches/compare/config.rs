//! Run settings: full or quick mode, rounds, window lengths, and the command-line
//! filters (`cargo bench -- pingpong mio tokio`).

use std::time::Duration;

/// How long each run warms up and measures, and how many rounds there are.
#[derive(Clone, Debug)]
pub struct Config {
    /// `ASYNCORE_BENCH_QUICK=1`: every scenario very briefly (CI).
    pub quick: bool,
    /// Rounds per scenario and server; tables show the median.
    pub rounds: usize,
    /// Rounds of the scenarios whose figures swing most from run to run: ping-pong
    /// (throughput, and user CPU per round trip), bulk, and idle (whose figure is
    /// its one active connection's ping-pong).
    pub noisy_rounds: usize,
    /// Load before the measured window starts (connections warm, caches filled).
    pub warmup: Duration,
    /// The measured window of each socket run.
    pub window: Duration,
    /// Idle connections in the idle scenario.
    pub idle_conns: usize,
    /// Size of the splitter scenario's buffer.
    pub splitter_bytes: usize,
    /// Scenario names given on the command line (empty: all).
    pub scenarios: Vec<String>,
    /// Server names given on the command line (empty: all).
    pub servers: Vec<String>,
}

impl Config {
    /// Reads the environment; `words` are the command line's non-flag arguments,
    /// each a scenario name or a server name (`is_scenario` tells which).
    pub fn new(words: &[String], is_scenario: impl Fn(&str) -> bool) -> Self {
        let quick = std::env::var("ASYNCORE_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
        let mut cfg = if quick {
            Config {
                quick,
                rounds: 1,
                noisy_rounds: 1,
                warmup: Duration::from_millis(50),
                window: Duration::from_millis(200),
                idle_conns: 10_000,
                splitter_bytes: 8 << 20,
                scenarios: Vec::new(),
                servers: Vec::new(),
            }
        } else {
            Config {
                quick,
                rounds: 3,
                noisy_rounds: 5,
                warmup: Duration::from_millis(300),
                window: Duration::from_secs(2),
                idle_conns: 10_000,
                splitter_bytes: 100_000_000,
                scenarios: Vec::new(),
                servers: Vec::new(),
            }
        };
        if let Some(rounds) = env_number("ASYNCORE_BENCH_ROUNDS") {
            cfg.rounds = (rounds as usize).max(1);
            cfg.noisy_rounds = cfg.rounds;
        }
        if let Some(secs) = env_number("ASYNCORE_BENCH_SECS") {
            cfg.window = Duration::from_secs_f64(secs.max(0.01));
        }
        for word in words {
            if is_scenario(word) {
                cfg.scenarios.push(word.clone());
            } else {
                cfg.servers.push(word.clone());
            }
        }
        cfg
    }

    /// Whether the command line selected this scenario.
    pub fn wants_scenario(&self, name: &str) -> bool {
        self.scenarios.is_empty() || self.scenarios.iter().any(|s| s == name)
    }

    /// Whether the command line selected this server.
    pub fn wants_server(&self, name: &str) -> bool {
        self.servers.is_empty() || self.servers.iter().any(|s| s == name)
    }
}

fn env_number(name: &str) -> Option<f64> {
    std::env::var(name).ok()?.trim().parse().ok()
}
