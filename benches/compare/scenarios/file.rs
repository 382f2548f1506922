//! File: a file served to one client at a time, through the sendfile producer
//! (`asyncore-sendfile`) and through the read + push path (`asyncore-read`).
//!
//! The scenario writes a temporary file of bytes in which no 8-byte word repeats
//! (64 MiB; 4 MiB in quick mode) under the temp directory, and removes it at the
//! end. Each server, on accept, pushes the file as a producer on an `AsyncChat` and
//! then `close_when_done` (see `servers/asyncore_file.rs`); the client, on the other
//! CPU, connects, reads to EOF, checks the length, and connects again (see
//! `load/download.rs`). Two tables, one per way the client takes the bytes:
//!
//! - `file-copy`: `read` into a 256 KiB buffer. The kernel copies every byte out to
//!   the client, on the client's CPU, which is then the slower side.
//! - `file-discard`: `recv(MSG_TRUNC)`, which has Linux drop the data uncopied. The
//!   server's cost sets the pace, which is where the two producers differ.
//!
//! Each reports MB/s received (MB = 10^6 bytes; median over rounds, servers in
//! alternating order) and the server thread's CPU per MB, and, where strace is
//! installed, the server's syscalls per 64 KiB sent: the server in a child process
//! under `strace -f -c`, as the counted scenario runs it, serving 3 downloads
//! minus serving 1, over the 64 KiB units of the 2 downloads between (so starting,
//! stopping and the first accept cancel out; each download's accept, open and close
//! stay in). Without strace the column shows `-` and a note says "strace not found,
//! skipped". Ratios: to `asyncore-read`.

use std::io::{self, Write};
use std::path::PathBuf;

use crate::config::Config;
use crate::harness::Running;
use crate::load::download::{self, Sink};
use crate::report::{Spec, Table};
use crate::servers::asyncore_file::{self, FILE_ENV, READ_CHUNK};
use crate::servers::{ASYNCORE_READ, Protocol, Server};

use super::counted::{self, Tool};
use super::{cpu_columns, cpu_values, median, progress, round_order, rounds_text, servers, timing};

/// The file's size.
const FILE_LEN: usize = 64 << 20;
/// The same in quick mode.
const QUICK_FILE_LEN: usize = 4 << 20;

/// Downloads served under strace in the short and the long run.
const COUNTED_DOWNLOADS: [u64; 2] = [1, 3];

/// The unit of the syscall figure.
const UNIT: usize = 64 * 1024;

/// The syscall column.
pub const SYSCALLS: &str = "syscalls/64KiB";

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let len = if cfg.quick { QUICK_FILE_LEN } else { FILE_LEN };
    let servers = servers(cfg, Protocol::File, "file");
    let strace = Tool::Strace.probe();
    if let Err(skipped) = &strace {
        eprintln!("  file: {skipped}");
    }
    let file = TempFile::new(len);
    if let Ok(file) = &file {
        asyncore_file::set_file(Some(file.path.clone()));
    }
    let tables = [Sink::Copy, Sink::Discard]
        .into_iter()
        .map(|sink| {
            let mut table = table(cfg, sink, len);
            match (&file, &strace) {
                (Err(e), _) => {
                    for server in &servers {
                        table.record(server.name, Err(format!("temporary file: {e}")));
                    }
                }
                (Ok(file), Err(skipped)) => {
                    table.notes.push(skipped.clone());
                    measure(cfg, &mut table, &servers, sink, file, false);
                }
                (Ok(file), Ok(())) => measure(cfg, &mut table, &servers, sink, file, true),
            }
            table
        })
        .collect();
    asyncore_file::set_file(None);
    tables
}

/// An empty table for clients taking the bytes by `sink`, with its notes.
fn table(cfg: &Config, sink: Sink, len: usize) -> Table {
    let mut columns: Vec<Spec> = vec![median("MB/s", 0)];
    columns.extend(cpu_columns("MB"));
    columns.push(median(SYSCALLS, 2));
    let (id, how) = match sink {
        Sink::Copy => ("file-copy", "client reads into a 256 KiB buffer"),
        Sink::Discard => ("file-discard", "client discards in the kernel (MSG_TRUNC)"),
    };
    let mut table = Table::new(
        id,
        format!(
            "file served to 1 client at a time, {} MiB file, {how} ({})",
            len >> 20,
            rounds_text(cfg.rounds, cfg.window)
        ),
        &columns,
    )
    .ratio("MB/s", ASYNCORE_READ)
    .ratio(SYSCALLS, ASYNCORE_READ);
    table.notes.push(format!(
        "asyncore-sendfile: AsyncChat server; on accept it opens the file, pushes \
         FileProducer::new(file) (sendfile(2), as much as the socket takes per call) and \
         close_when_done; asyncore-read: the same pushing ReadProducer::new(file, {} KiB) \
         (each chunk read into a fresh Vec, then sent); both dispatch budget {}",
        READ_CHUNK / 1024,
        crate::servers::SERVER_BUDGET
    ));
    table.notes.push(match sink {
        Sink::Copy => "client (the other CPU): one connection at a time, read() into a 256 KiB \
                       buffer to EOF (the kernel copies every byte out), length checked; the \
                       first download of each run also byte for byte; MB = 10^6 bytes"
            .into(),
        Sink::Discard => "client (the other CPU): one connection at a time, recv(MSG_TRUNC) of \
                          up to 256 KiB to EOF (Linux drops the bytes uncopied), length \
                          checked; the first download of each run read and checked byte for \
                          byte; MB = 10^6 bytes"
            .into(),
    });
    let [d0, d1] = COUNTED_DOWNLOADS;
    table.notes.push(format!(
        "{SYSCALLS}: strace -f -c of the server in a child process, {d1} downloads minus {d0}, \
         over the {} KiB units between (each download's accept, open, close included); under \
         strace the server is slower than its client, so each call finds the socket drained",
        UNIT / 1024
    ));
    table.notes.push(
        "loopback delivery runs partly in softirq, which the kernel counts apart from the \
         threads: that share is under 'other cpu%', not in the server's or the client's CPU"
            .into(),
    );
    table
}

/// Counts syscalls (with `strace`) and runs the rounds of every server into `table`.
fn measure(
    cfg: &Config,
    table: &mut Table,
    servers: &[&Server],
    sink: Sink,
    file: &TempFile,
    strace: bool,
) {
    let what = match sink {
        Sink::Copy => "file copy",
        Sink::Discard => "file discard",
    };
    // Counted first, then the same figure goes into every round of the row.
    let syscalls: Vec<(&str, Result<f64, String>)> = servers
        .iter()
        .map(|server| {
            if !strace {
                return (server.name, Ok(f64::NAN));
            }
            let counted = syscalls(server, sink, file, &mut table.notes);
            match &counted {
                Ok(v) => eprintln!("  {what} {}: {v:.2} {SYSCALLS}", server.name),
                Err(e) => eprintln!("  {what} {}: strace FAILED {e}", server.name),
            }
            (server.name, counted)
        })
        .collect();
    for round in 1..=cfg.rounds {
        for server in round_order(servers, round) {
            let counted = syscalls.iter().find(|(name, _)| *name == server.name);
            let counted = counted.map_or(Ok(f64::NAN), |(_, c)| c.clone());
            let outcome = once(cfg, server, sink, &file.data).and_then(|mut values| {
                values.push(counted?);
                Ok(values)
            });
            progress(what, server.name, round, &outcome);
            table.record(server.name, outcome);
        }
    }
}

/// One measured run: MB/s and the CPU columns.
fn once(cfg: &Config, server: &Server, sink: Sink, data: &[u8]) -> Result<Vec<f64>, String> {
    let running = Running::on_thread(server).map_err(|e| format!("start: {e}"))?;
    let result = download::run(&running, sink, data, timing(cfg));
    let stopped = running.finish();
    let downloaded = result.map_err(|e| format!("client: {e}"))?;
    stopped?;
    if downloaded.bytes == 0 {
        return Err("no bytes arrived in the window".into());
    }
    let m = downloaded.measured;
    let mb = downloaded.bytes as f64 / 1e6;
    let mut values = vec![mb / m.secs];
    values.extend(cpu_values(&m, mb));
    Ok(values)
}

/// The server's syscalls per 64 KiB sent, counted by strace; pushes the per-syscall
/// breakdown onto `notes`.
fn syscalls(
    server: &Server,
    sink: Sink,
    file: &TempFile,
    notes: &mut Vec<String>,
) -> Result<f64, String> {
    // The child learns the file from its environment, which strace sets (-E).
    let env = [
        "-E".to_string(),
        format!("{FILE_ENV}={}", file.path.display()),
    ];
    let len = file.data.len();
    let serve = |count: u64| {
        move |r: &Running| {
            download::run_count(r.addr, sink, len, count).map_err(|e| format!("client: {e}"))
        }
    };
    let [d0, d1] = COUNTED_DOWNLOADS;
    let short = counted::counted_with(server, Tool::Strace, &env, serve(d0))?;
    let long = counted::counted_with(server, Tool::Strace, &env, serve(d1))?;
    let units = ((d1 - d0) as usize * len) as f64 / UNIT as f64;
    let unit = format!("{}KiB", UNIT / 1024);
    notes.push(counted::breakdown(server.name, &unit, &short, &long, units));
    Ok(counted::per_op(&short, &long, units))
}

/// The file served, removed when dropped, and its bytes, to check what arrives.
struct TempFile {
    path: PathBuf,
    data: Vec<u8>,
}

impl TempFile {
    /// Writes `len` bytes in which no 8-byte word repeats (each is a hash of its
    /// index, as in tests/file_producer.rs) to a new file under the temp directory.
    fn new(len: usize) -> io::Result<TempFile> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "asyncore-bench-file-{}-{nanos}",
            std::process::id()
        ));
        let data = pattern(len);
        // create_new: never overwrite (or follow a link to) a file that is there.
        let written = std::fs::File::create_new(&path).and_then(|mut f| f.write_all(&data));
        let file = TempFile { path, data };
        written.map(|()| file)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path) {
            eprintln!("  file: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// `len` bytes in which no 8-byte word repeats.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    let mut i: u64 = 0;
    while out.len() < len {
        let mut z = i
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}
