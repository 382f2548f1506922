//! Splitter: terminator search alone, no sockets.
//!
//! A buffer of lines of 60 to 140 bytes (100 on average, each ending in `\n`) is
//! fed to a splitter in chunks of 1 byte, 100 bytes and 64 KiB; every splitter
//! must find every line. Reports GB/s (10^9 bytes per second of buffer fed). The
//! baseline is `memchr::memchr` alone, over each chunk; the crate's
//! `asyncore::chat::Splitter` runs beside it in [`SPLITTERS`].

use std::hint::black_box;
use std::time::Instant;

use crate::config::Config;
use crate::report::{Spec, Table};

use super::{median, progress, round_order};

/// The crate's splitter's name (goals are checked against it).
pub const ASYNCORE_SPLITTER: &str = "asyncore-splitter";

/// A splitter under test, fed one chunk at a time: returns the number of
/// terminators it found in that chunk (it carries its own state across chunks).
pub type Feed = Box<dyn FnMut(&[u8]) -> usize>;

/// One splitter: its name and how to make a fresh one.
pub struct Splitter {
    /// Name in the table.
    pub name: &'static str,
    /// A splitter in its initial state.
    pub make: fn() -> Feed,
}

/// Every splitter, baseline first.
pub const SPLITTERS: &[Splitter] = &[
    Splitter {
        name: "memchr",
        make: memchr_lines,
    },
    Splitter {
        name: ASYNCORE_SPLITTER,
        make: asyncore_lines,
    },
];

/// `asyncore::chat::Splitter` with the terminator `b"\n"`, fed the way `AsyncChat`
/// feeds it: each chunk in place, and only a kept partial terminator (never, for a
/// 1-byte terminator) carried over to the next chunk.
fn asyncore_lines() -> Feed {
    let mut splitter = asyncore::chat::Splitter::with_terminator(b"\n").expect("terminator");
    let mut carry: Vec<u8> = Vec::new();
    Box::new(move |chunk: &[u8]| {
        if carry.is_empty() {
            let (found, used) = scan_all(&mut splitter, chunk);
            carry.extend_from_slice(&chunk[used..]);
            found
        } else {
            carry.extend_from_slice(chunk);
            let input = std::mem::take(&mut carry);
            let (found, used) = scan_all(&mut splitter, &input);
            carry.extend_from_slice(&input[used..]);
            found
        }
    })
}

/// Scans `input` message by message, as `AsyncChat` does; returns the terminators
/// found and the bytes used (the rest is a partial terminator to carry over).
fn scan_all(splitter: &mut asyncore::chat::Splitter, input: &[u8]) -> (usize, usize) {
    let (mut found, mut pos) = (0, 0);
    while pos < input.len() {
        let s = splitter.scan(&input[pos..]).expect("no limit set");
        black_box(&input[pos..pos + s.data]);
        pos += s.consumed;
        if !s.found {
            break;
        }
        found += 1;
    }
    (found, pos)
}

/// Chunk sizes, one column each.
const CHUNKS: [(usize, &str); 3] = [
    (1, "1B GB/s"),
    (100, "100B GB/s"),
    (64 * 1024, "64KiB GB/s"),
];

/// Runs the scenario.
pub fn run(cfg: &Config) -> Vec<Table> {
    let buf = lines_buffer(cfg.splitter_bytes);
    let expected = memchr::memchr_iter(b'\n', &buf).count();
    let columns: Vec<Spec> = CHUNKS.iter().map(|&(_, name)| median(name, 2)).collect();
    let mut table = Table::new(
        "splitter",
        format!(
            "terminator splitter alone, {} MB of ~100-byte lines fed in chunks (median of {} round{})",
            buf.len() / 1_000_000,
            cfg.rounds,
            if cfg.rounds == 1 { "" } else { "s" }
        ),
        &columns,
    )
    .ratio("1B GB/s", "memchr")
    .ratio("64KiB GB/s", "memchr");
    table.subject = "splitter";
    table
        .notes
        .push("memchr: memchr::memchr over each chunk, counting b'\\n' (a 1-byte terminator needs no state across chunks)".into());
    for round in 1..=cfg.rounds {
        for splitter in round_order(&SPLITTERS.iter().collect::<Vec<_>>(), round) {
            let outcome = CHUNKS
                .iter()
                .map(|&(chunk, _)| {
                    let mut feed = (splitter.make)();
                    let started = Instant::now();
                    let found = feed_in_chunks(&buf, chunk, &mut *feed);
                    let secs = started.elapsed().as_secs_f64();
                    if found == expected {
                        Ok(buf.len() as f64 / secs / 1e9)
                    } else {
                        Err(format!(
                            "{chunk}-byte chunks: found {found} lines of {expected}"
                        ))
                    }
                })
                .collect::<Result<Vec<f64>, String>>();
            progress("splitter", splitter.name, round, &outcome);
            table.record(splitter.name, outcome);
        }
    }
    vec![table]
}

/// Feeds `buf` to `feed` in `chunk`-byte pieces; returns the terminators found.
pub fn feed_in_chunks(buf: &[u8], chunk: usize, feed: &mut dyn FnMut(&[u8]) -> usize) -> usize {
    buf.chunks(chunk).map(|piece| feed(black_box(piece))).sum()
}

/// The baseline: `memchr::memchr` over each chunk, counting `\n`.
fn memchr_lines() -> Feed {
    Box::new(|chunk: &[u8]| {
        let mut found = 0;
        let mut rest = chunk;
        while let Some(i) = memchr::memchr(b'\n', rest) {
            found += 1;
            rest = &rest[i + 1..];
        }
        found
    })
}

/// About `len` bytes of printable lines, 60 to 140 bytes each with their `\n`.
fn lines_buffer(len: usize) -> Vec<u8> {
    let mut buf = Vec::with_capacity(len + 140);
    let mut x: u32 = 0x2545_F491;
    while buf.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let line = 60 + (x % 81) as usize;
        buf.extend((0..line - 1).map(|j| b' ' + ((x as usize + j) % 95) as u8));
        buf.push(b'\n');
    }
    buf
}
