//! Splitting input at terminators: the cases of CPython's test_asynchat, the
//! subtleties of `handle_read`, the limit, and properties over random input cut into
//! random reads, checked against a straightforward model of Python's algorithm.

use asyncore::Error;
use asyncore::chat::{Scan, SplitEvent, Splitter, Terminator, find_prefix_at_end};
use proptest::prelude::*;

/// What a chat handler sees: data (consecutive pieces merged, since how data is cut
/// depends on the reads) and terminator events.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ev {
    Data(Vec<u8>),
    Term,
}

fn push_data(events: &mut Vec<Ev>, data: &[u8]) {
    assert!(!data.is_empty(), "empty data must never be collected");
    if let Some(Ev::Data(last)) = events.last_mut() {
        last.extend_from_slice(data);
    } else {
        events.push(Ev::Data(data.to_vec()));
    }
}

/// The result of feeding a whole stream: events, the bytes left over (a partial
/// terminator) and the final terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    events: Vec<Ev>,
    kept: Vec<u8>,
    terminator: Terminator,
}

/// Messages completed by a terminator, in order.
fn messages(events: &[Ev]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for ev in events {
        match ev {
            Ev::Data(d) => current.extend_from_slice(d),
            Ev::Term => out.push(std::mem::take(&mut current)),
        }
    }
    out
}

/// Data collected after the last terminator.
fn pending(events: &[Ev]) -> Vec<u8> {
    match events.last() {
        Some(Ev::Data(d)) => d.clone(),
        _ => Vec::new(),
    }
}

/// Cuts `input` into reads of `size` bytes.
fn reads_of(input: &[u8], size: usize) -> Vec<&[u8]> {
    input.chunks(size).collect()
}

/// Runs the loop documented on `Scan` over the reads; at the `k`-th terminator,
/// `script[k % len]` (if `Some`) becomes the terminator.
fn run_scan(
    splitter: &mut Splitter,
    reads: &[&[u8]],
    script: &[Option<Terminator>],
) -> Result<Outcome, (Error, Vec<Ev>)> {
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut found = 0;
    for read in reads {
        buf.extend_from_slice(read);
        let mut pos = 0;
        while pos < buf.len() {
            let step = match splitter.scan(&buf[pos..]) {
                Ok(step) => step,
                Err(err) => return Err((err, events)),
            };
            assert!(step.data <= step.consumed && step.consumed <= buf.len() - pos);
            if step.data > 0 {
                push_data(&mut events, &buf[pos..pos + step.data]);
            }
            pos += step.consumed;
            if !step.found {
                assert_eq!(step.data, step.consumed);
                break;
            }
            events.push(Ev::Term);
            if !script.is_empty() {
                if let Some(term) = &script[found % script.len()] {
                    splitter.set_terminator(term.clone()).unwrap();
                }
            }
            found += 1;
        }
        buf.drain(..pos);
    }
    Ok(Outcome {
        events,
        kept: buf,
        terminator: splitter.terminator().clone(),
    })
}

/// The same through `Splitter::feed`.
fn run_feed(
    splitter: &mut Splitter,
    reads: &[&[u8]],
    script: &[Option<Terminator>],
) -> Result<Outcome, (Error, Vec<Ev>)> {
    let mut events = Vec::new();
    let mut buf = Vec::new();
    let mut found = 0;
    for read in reads {
        buf.extend_from_slice(read);
        let result = splitter.feed(&mut buf, |splitter, event| {
            match event {
                SplitEvent::Data(data) => push_data(&mut events, data),
                SplitEvent::Terminator => {
                    events.push(Ev::Term);
                    if !script.is_empty() {
                        if let Some(term) = &script[found % script.len()] {
                            splitter.set_terminator(term.clone())?;
                        }
                    }
                    found += 1;
                }
            }
            Ok(())
        });
        if let Err(err) = result {
            return Err((err, events));
        }
    }
    Ok(Outcome {
        events,
        kept: buf,
        terminator: splitter.terminator().clone(),
    })
}

fn split_with(term: impl Into<Terminator>, reads: &[&[u8]]) -> Outcome {
    let mut splitter = Splitter::with_terminator(term).unwrap();
    run_scan(&mut splitter, reads, &[]).unwrap()
}

/// A line-by-line model of Python's `async_chat.handle_read`, kept deliberately
/// naive: it grows one buffer, searches it from the start and tests prefixes with
/// `ends_with`.
fn python_model(initial: &Terminator, reads: &[&[u8]], script: &[Option<Terminator>]) -> Outcome {
    let mut term = initial.clone();
    let mut buffer: Vec<u8> = Vec::new();
    let mut events = Vec::new();
    let mut found = 0;
    let mut on_found = |term: &mut Terminator, events: &mut Vec<Ev>| {
        events.push(Ev::Term);
        if !script.is_empty() {
            if let Some(t) = &script[found % script.len()] {
                *term = t.clone();
            }
        }
        found += 1;
    };
    for read in reads {
        buffer.extend_from_slice(read);
        while !buffer.is_empty() {
            let lb = buffer.len();
            match &term {
                Terminator::None | Terminator::Count(0) => {
                    push_data(&mut events, &buffer);
                    buffer.clear();
                }
                Terminator::Count(n) => {
                    let n = *n;
                    if lb < n {
                        push_data(&mut events, &buffer);
                        buffer.clear();
                        term = Terminator::Count(n - lb);
                    } else {
                        push_data(&mut events, &buffer[..n]);
                        buffer.drain(..n);
                        term = Terminator::Count(0);
                        on_found(&mut term, &mut events);
                    }
                }
                Terminator::Bytes(t) => {
                    let t = t.clone();
                    let index = buffer.windows(t.len()).position(|w| w == t.as_slice());
                    if let Some(index) = index {
                        if index > 0 {
                            push_data(&mut events, &buffer[..index]);
                        }
                        buffer.drain(..index + t.len());
                        on_found(&mut term, &mut events);
                    } else {
                        let keep = (1..t.len())
                            .rev()
                            .find(|&l| buffer.ends_with(&t[..l]))
                            .unwrap_or(0);
                        if keep > 0 {
                            if keep != lb {
                                push_data(&mut events, &buffer[..lb - keep]);
                                buffer.drain(..lb - keep);
                            }
                            break;
                        }
                        push_data(&mut events, &buffer);
                        buffer.clear();
                    }
                }
            }
        }
    }
    Outcome {
        events,
        kept: buffer,
        terminator: term,
    }
}

// ---------------------------------------------------------------------------
// CPython's test_asynchat, minus the sockets: the echo server sends the stream
// back in reads of 1, 2 or 3 bytes (here: every size up to the whole stream).

fn line_terminator_check(term: &[u8]) {
    let mut stream = b"hello world".to_vec();
    stream.extend_from_slice(term);
    stream.extend_from_slice(b"I'm not dead yet!");
    stream.extend_from_slice(term);
    for size in 1..=stream.len() {
        let out = split_with(term, &reads_of(&stream, size));
        assert_eq!(
            messages(&out.events),
            [&b"hello world"[..], b"I'm not dead yet!"],
            "terminator {term:?}, reads of {size}"
        );
        assert!(pending(&out.events).is_empty());
        assert!(out.kept.is_empty());
    }
}

#[test]
fn line_terminator_one_byte() {
    line_terminator_check(b"\n");
}

#[test]
fn line_terminator_two_bytes() {
    line_terminator_check(b"\r\n");
}

#[test]
fn line_terminator_three_bytes() {
    line_terminator_check(b"qqq");
}

#[test]
fn numeric_terminators() {
    let data = b"hello world, I'm not dead yet!\n";
    for count in [1usize, 6] {
        for size in 1..=data.len() {
            let out = split_with(count, &reads_of(data, size));
            assert_eq!(messages(&out.events), [&data[..count]]);
            // Once reached, the count is 0 and everything else is data.
            assert_eq!(pending(&out.events), &data[count..]);
            assert_eq!(out.terminator, Terminator::Count(0));
        }
    }
}

#[test]
fn none_terminator_collects_everything() {
    let data = b"hello world, I'm not dead yet!\n";
    for size in 1..=data.len() {
        let out = split_with(Terminator::None, &reads_of(data, size));
        assert_eq!(out.events, [Ev::Data(data.to_vec())]);
        assert!(out.kept.is_empty());
    }
}

#[test]
fn empty_lines() {
    let data = b"hello world\n\nI'm not dead yet!\n";
    for size in 1..=data.len() {
        let out = split_with(b"\n", &reads_of(data, size));
        assert_eq!(
            messages(&out.events),
            [&b"hello world"[..], b"", b"I'm not dead yet!"]
        );
    }
}

#[test]
fn negative_terminator_is_refused() {
    assert!(matches!(
        Terminator::count(-1),
        Err(Error::NegativeTerminator(-1))
    ));
    assert!(matches!(
        Terminator::count(i64::MIN),
        Err(Error::NegativeTerminator(i64::MIN))
    ));
    assert_eq!(Terminator::count(0).unwrap(), Terminator::Count(0));
}

#[test]
fn empty_terminator_is_refused() {
    let mut splitter = Splitter::with_terminator(b"\n").unwrap();
    assert!(matches!(
        splitter.set_terminator(b""),
        Err(Error::EmptyTerminator)
    ));
    assert!(matches!(
        splitter.set_terminator(Vec::new()),
        Err(Error::EmptyTerminator)
    ));
    assert!(matches!(Terminator::bytes(""), Err(Error::EmptyTerminator)));
    assert!(matches!(
        Splitter::with_terminator(""),
        Err(Error::EmptyTerminator)
    ));
    assert!(Terminator::Bytes(Vec::new()).validate().is_err());
    // A refused terminator leaves the old one in place.
    assert_eq!(splitter.terminator(), &Terminator::from("\n"));
}

#[test]
fn find_prefix_at_end_cases() {
    // From CPython's test suite and the comment above the Python function.
    assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"\r", b"\r\n"), 1);
    assert_eq!(find_prefix_at_end(b"abc\n", b"\n"), 0);
    assert_eq!(find_prefix_at_end(b"abc", b""), 0);
    assert_eq!(find_prefix_at_end(b"x\r\n.\r", b"\r\n.\r\n"), 4);
    assert_eq!(find_prefix_at_end(b"x\r\n.", b"\r\n.\r\n"), 3);
    assert_eq!(find_prefix_at_end(b"x\r\n", b"\r\n.\r\n"), 2);
    // Overlapping prefixes: the longest wins.
    assert_eq!(find_prefix_at_end(b"xaaaa", b"aaab"), 3);
    assert_eq!(find_prefix_at_end(b"aa", b"aaab"), 2);
    assert_eq!(find_prefix_at_end(b"abab", b"ababc"), 4);
    // The haystack ends with the whole needle: Python's loop gives the longest
    // proper prefix of the needle that ends the haystack.
    assert_eq!(find_prefix_at_end(b"qwerty\r\n", b"\r\n"), 0);
    assert_eq!(find_prefix_at_end(b"xabab", b"abab"), 2);
}

// ---------------------------------------------------------------------------
// handle_read's subtleties.

#[test]
fn terminator_cut_between_reads_is_kept_not_collected() {
    let mut splitter = Splitter::with_terminator("\r\n.\r\n").unwrap();
    let step = splitter.scan(b"line one\r\n.").unwrap();
    assert_eq!(
        step,
        Scan {
            data: 8,
            found: false,
            consumed: 8
        }
    );
    // All of the input may be a partial terminator: nothing is data yet.
    let step = splitter.scan(b"\r\n.").unwrap();
    assert_eq!(
        step,
        Scan {
            data: 0,
            found: false,
            consumed: 0
        }
    );
    let step = splitter.scan(b"\r\n.\r\nnext").unwrap();
    assert_eq!(
        step,
        Scan {
            data: 0,
            found: true,
            consumed: 5
        }
    );
    // A false start: the kept bytes turn out to be data.
    let step = splitter.scan(b"\r\n.x").unwrap();
    assert_eq!(
        step,
        Scan {
            data: 4,
            found: false,
            consumed: 4
        }
    );

    for term in [&b"\r\n"[..], b"qqq", b"\r\n.\r\n"] {
        let mut stream = b"abc".to_vec();
        stream.extend_from_slice(term);
        stream.extend_from_slice(b"def");
        for cut in 0..=stream.len() {
            let out = split_with(term, &[&stream[..cut], &stream[cut..]]);
            assert_eq!(
                out.events,
                [
                    Ev::Data(b"abc".to_vec()),
                    Ev::Term,
                    Ev::Data(b"def".to_vec())
                ]
            );
        }
    }
}

#[test]
fn found_terminator_may_switch_to_a_count_mid_buffer() {
    // Header line, then a 5-byte body, then lines again, all in one read.
    let stream = b"SIZE 5\r\nab\r\ncNEXT\r\n";
    let script = [Some(Terminator::Count(5)), Some(Terminator::from("\r\n"))];
    for size in 1..=stream.len() {
        let mut splitter = Splitter::with_terminator("\r\n").unwrap();
        let out = run_scan(&mut splitter, &reads_of(stream, size), &script).unwrap();
        // The body contains the old terminator: it is data now.
        assert_eq!(
            messages(&out.events),
            [&b"SIZE 5"[..], b"ab\r\nc", b"NEXT"],
            "reads of {size}"
        );
    }
}

#[test]
fn count_reports_what_is_left_then_zero_then_collects_all() {
    let mut splitter = Splitter::with_terminator(10).unwrap();
    assert_eq!(
        splitter.scan(b"abcd").unwrap(),
        Scan {
            data: 4,
            found: false,
            consumed: 4
        }
    );
    // Python's get_terminator reports the remaining count.
    assert_eq!(splitter.terminator(), &Terminator::Count(6));
    assert_eq!(splitter.collected(), 4);
    assert_eq!(
        splitter.scan(b"efghijkl").unwrap(),
        Scan {
            data: 6,
            found: true,
            consumed: 6
        }
    );
    assert_eq!(splitter.terminator(), &Terminator::Count(0));
    assert!(splitter.terminator().collects_all());
    assert_eq!(splitter.collected(), 0);
    // Count(0) behaves like None: no more terminator events.
    assert_eq!(
        splitter.scan(b"kl\r\n").unwrap(),
        Scan {
            data: 4,
            found: false,
            consumed: 4
        }
    );
    assert_eq!(splitter.scan(b"").unwrap(), Scan::default());

    let data = b"0123456789";
    for size in 1..=data.len() {
        let zero = split_with(0, &reads_of(data, size));
        let none = split_with(Terminator::None, &reads_of(data, size));
        assert_eq!(zero.events, none.events);
        assert_eq!(zero.terminator, Terminator::Count(0));
    }
}

#[test]
fn count_exactly_at_the_end_of_a_read() {
    let out = split_with(3, &[b"abc"]);
    assert_eq!(out.events, [Ev::Data(b"abc".to_vec()), Ev::Term]);
    let out = split_with(3, &[b"ab", b"c"]);
    assert_eq!(out.events, [Ev::Data(b"abc".to_vec()), Ev::Term]);
}

#[test]
fn terminator_at_the_start_gives_no_empty_data() {
    let mut splitter = Splitter::with_terminator("\n").unwrap();
    assert_eq!(
        splitter.scan(b"\nx").unwrap(),
        Scan {
            data: 0,
            found: true,
            consumed: 1
        }
    );
    let out = split_with("\n", &[b"\n\n"]);
    assert_eq!(out.events, [Ev::Term, Ev::Term]);
}

#[test]
fn conversions_and_literals() {
    let mut splitter = Splitter::new();
    assert_eq!(splitter.terminator(), &Terminator::None);
    splitter.set_terminator(5).unwrap();
    assert_eq!(splitter.terminator(), &Terminator::Count(5));
    splitter.set_terminator("\r\n".to_string()).unwrap();
    splitter.set_terminator(&b"\r\n"[..]).unwrap();
    splitter.set_terminator(Some(b"\n")).unwrap();
    assert_eq!(splitter.terminator(), &Terminator::Bytes(vec![b'\n']));
    splitter.set_terminator(None::<usize>).unwrap();
    assert_eq!(splitter.terminator(), &Terminator::None);
    splitter.set_terminator(Terminator::default()).unwrap();
    assert_eq!(splitter.terminator(), &Terminator::None);
}

// ---------------------------------------------------------------------------
// The limit.

#[test]
fn limit_is_inclusive() {
    // A line of exactly `limit` bytes passes, however it is cut.
    let stream = b"12345\r\n123456\r\n";
    for size in 1..=stream.len() {
        let mut splitter = Splitter::with_terminator("\r\n").unwrap();
        splitter.set_limit(Some(5));
        assert_eq!(splitter.limit(), Some(5));
        let (err, events) = run_scan(&mut splitter, &reads_of(stream, size), &[]).unwrap_err();
        assert!(matches!(err, Error::InputTooLong { limit: 5 }), "{err}");
        assert_eq!(messages(&events), [&b"12345"[..]], "reads of {size}");
    }
}

#[test]
fn limit_refuses_a_long_line_even_with_its_terminator_in_the_same_read() {
    let mut splitter = Splitter::with_terminator("\n").unwrap();
    splitter.set_limit(Some(3));
    assert!(matches!(
        splitter.scan(b"abcd\n"),
        Err(Error::InputTooLong { limit: 3 })
    ));
    // Nothing changed: the caller decides (usually: close the connection).
    assert_eq!(splitter.collected(), 0);
    assert_eq!(
        splitter.scan(b"abc\n").unwrap(),
        Scan {
            data: 3,
            found: true,
            consumed: 4
        }
    );
}

#[test]
fn limit_counts_collected_data_not_the_kept_partial_terminator() {
    let mut splitter = Splitter::with_terminator("\r\n").unwrap();
    splitter.set_limit(Some(3));
    assert_eq!(
        splitter.scan(b"abc\r").unwrap(),
        Scan {
            data: 3,
            found: false,
            consumed: 3
        }
    );
    assert_eq!(splitter.collected(), 3);
    assert!(matches!(
        splitter.scan(b"\rx"),
        Err(Error::InputTooLong { limit: 3 })
    ));
    assert_eq!(
        splitter.scan(b"\r\n").unwrap(),
        Scan {
            data: 0,
            found: true,
            consumed: 2
        }
    );
}

#[test]
fn limit_applies_to_a_line_that_never_ends() {
    let mut splitter = Splitter::with_terminator("\r\n").unwrap();
    splitter.set_limit(Some(1000));
    let chunk = [b'x'; 100];
    let mut total = 0;
    let err = loop {
        match splitter.scan(&chunk) {
            Ok(step) => total += step.consumed,
            Err(err) => break err,
        }
    };
    assert!(matches!(err, Error::InputTooLong { limit: 1000 }));
    assert_eq!(total, 1000);
    // reset() (for discard_buffers) or a new terminator start the count afresh.
    splitter.reset();
    assert_eq!(splitter.scan(&chunk).unwrap().consumed, 100);
    splitter.set_terminator("\n").unwrap();
    assert_eq!(splitter.collected(), 0);
}

#[test]
fn limit_does_not_apply_to_counts_or_none() {
    let big = vec![b'x'; 10_000];
    let mut splitter = Splitter::with_terminator(Terminator::None).unwrap();
    splitter.set_limit(Some(10));
    assert_eq!(splitter.scan(&big).unwrap().consumed, 10_000);
    splitter.set_terminator(20_000).unwrap();
    assert_eq!(splitter.scan(&big).unwrap().consumed, 10_000);
    assert_eq!(
        splitter.scan(&big).unwrap(),
        Scan {
            data: 10_000,
            found: true,
            consumed: 10_000
        }
    );
    // Data collected without a byte-string terminator does not count against the
    // next one.
    assert_eq!(splitter.scan(&big).unwrap().consumed, 10_000);
    splitter.set_terminator("\n").unwrap();
    assert!(splitter.scan(b"0123456789\n").unwrap().found);
}

#[test]
fn feed_keeps_unprocessed_bytes_on_error() {
    let mut splitter = Splitter::with_terminator("\n").unwrap();
    let mut buf = b"one\ntwo\nthree\n".to_vec();
    let mut seen = Vec::new();
    let err = splitter
        .feed(&mut buf, |_, event| {
            if event == SplitEvent::Terminator {
                seen.push(());
                if seen.len() == 2 {
                    return Err(Error::other("stop"));
                }
            }
            Ok(())
        })
        .unwrap_err();
    assert_eq!(err.to_string(), "stop");
    // The failing terminator was consumed, as in Python (the buffer is cut before
    // found_terminator runs).
    assert_eq!(buf, b"three\n");

    let mut splitter = Splitter::with_terminator("\n").unwrap();
    splitter.set_limit(Some(3));
    let mut buf = b"one\nfour\n".to_vec();
    let err = splitter.feed(&mut buf, |_, _| Ok(())).unwrap_err();
    assert!(matches!(err, Error::InputTooLong { limit: 3 }));
    assert_eq!(buf, b"four\n");
}

// ---------------------------------------------------------------------------
// Linear cost, measured as the bytes shown to `scan` (which only looks at what it
// is shown): never more than the stream plus the kept partial terminator per read.

/// Feeds `total` bytes produced by `next_read` and returns the number of bytes shown
/// to `scan` and the number of calls, checking the kept tail on every call.
fn work_for(
    term: &[u8],
    total: usize,
    mut next_read: impl FnMut(usize) -> Vec<u8>,
) -> (usize, usize) {
    let mut splitter = Splitter::with_terminator(term).unwrap();
    splitter.set_limit(Some(usize::MAX));
    let mut buf = Vec::new();
    let mut fed = 0;
    let mut shown = 0;
    let mut reads = 0;
    while fed < total {
        let read = next_read(fed);
        fed += read.len();
        reads += 1;
        buf.extend_from_slice(&read);
        let mut pos = 0;
        while pos < buf.len() {
            let step = splitter.scan(&buf[pos..]).unwrap();
            // The search stops at a terminator; otherwise it looks at everything.
            shown += if step.found {
                step.consumed
            } else {
                buf.len() - pos
            };
            pos += step.consumed;
            if !step.found {
                break;
            }
        }
        buf.drain(..pos);
        assert!(
            buf.len() < term.len(),
            "kept {} bytes for a terminator of {}",
            buf.len(),
            term.len()
        );
    }
    assert!(
        shown <= fed + reads * (term.len() - 1),
        "showed {shown} bytes for {fed}"
    );
    (shown, reads)
}

#[test]
fn one_byte_reads_cost_linear_work() {
    // 10 MB of a pattern that keeps a partial terminator at almost every byte, and
    // occasionally completes it.
    let term = b"aaab";
    let pattern = b"aaaaaaaaaaaaaaaaaaaab";
    let (shown, reads) = work_for(term, 10_000_000, |fed| vec![pattern[fed % pattern.len()]]);
    assert_eq!(reads, 10_000_000);
    assert!(shown <= 4 * 10_000_000);
}

#[test]
fn a_long_line_in_big_reads_costs_linear_work() {
    // A 100 MB line in 64 KiB reads: each read is looked at once, plus the tail.
    let chunk = {
        let mut chunk = vec![b'x'; 65536];
        chunk[65535] = b'\r';
        chunk
    };
    let total = 100 * 1024 * 1024;
    let (shown, reads) = work_for(b"\r\n.\r\n", total, |_| chunk.clone());
    assert_eq!(reads, total / 65536);
    assert!(shown <= total + reads * 4);
}

// ---------------------------------------------------------------------------
// Properties: cutting the input into reads changes nothing, and the result is
// Python's.

fn alphabet() -> impl Strategy<Value = u8> {
    prop_oneof![
        6 => prop::sample::select(b"ab\r\n".to_vec()),
        1 => any::<u8>(),
    ]
}

fn terminator() -> impl Strategy<Value = Terminator> {
    prop_oneof![
        6 => prop::collection::vec(prop::sample::select(b"ab\r\n".to_vec()), 1..=4)
            .prop_map(Terminator::Bytes),
        3 => (0usize..12).prop_map(Terminator::Count),
        1 => Just(Terminator::None),
    ]
}

/// Cuts `input` at the given fractions.
fn cut<'a>(input: &'a [u8], cuts: &[prop::sample::Index]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(input.len() + 1)).collect();
    at.sort_unstable();
    let mut reads = Vec::new();
    let mut start = 0;
    for end in at.into_iter().chain([input.len()]) {
        reads.push(&input[start..end]);
        start = end;
    }
    reads
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn reads_do_not_change_the_result(
        input in prop::collection::vec(alphabet(), 0..160),
        initial in terminator(),
        script in prop::collection::vec(prop::option::weighted(0.7, terminator()), 0..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
    ) {
        let reads = cut(&input, &cuts);
        let whole = {
            let mut splitter = Splitter::with_terminator(initial.clone()).unwrap();
            run_scan(&mut splitter, &[&input], &script).unwrap()
        };
        let split_scan = {
            let mut splitter = Splitter::with_terminator(initial.clone()).unwrap();
            run_scan(&mut splitter, &reads, &script).unwrap()
        };
        let split_feed = {
            let mut splitter = Splitter::with_terminator(initial.clone()).unwrap();
            run_feed(&mut splitter, &reads, &script).unwrap()
        };
        prop_assert_eq!(&split_scan, &whole);
        prop_assert_eq!(&split_feed, &whole);
        prop_assert_eq!(&python_model(&initial, &reads, &script), &whole);
        prop_assert_eq!(&python_model(&initial, &[&input], &script), &whole);
    }

    #[test]
    fn limit_depends_on_line_lengths_only(
        input in prop::collection::vec(alphabet(), 0..120),
        term in prop::collection::vec(prop::sample::select(b"ab\r\n".to_vec()), 1..=3),
        limit in 0usize..12,
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..30),
    ) {
        let reads = cut(&input, &cuts);
        let unlimited = python_model(&Terminator::Bytes(term.clone()), &[&input], &[]);
        let lines = messages(&unlimited.events);
        let overlong = lines.iter().position(|line| line.len() > limit);
        let too_long = overlong.is_some() || pending(&unlimited.events).len() > limit;

        let mut splitter = Splitter::with_terminator(term.clone()).unwrap();
        splitter.set_limit(Some(limit));
        match run_scan(&mut splitter, &reads, &[]) {
            Ok(out) => {
                prop_assert!(!too_long);
                prop_assert_eq!(out, unlimited);
            }
            Err((err, events)) => {
                prop_assert!(too_long);
                let refused = matches!(err, Error::InputTooLong { limit: l } if l == limit);
                prop_assert!(refused, "unexpected error {}", err);
                let done = messages(&events);
                prop_assert_eq!(&done[..], &lines[..overlong.unwrap_or(lines.len())]);
            }
        }
    }

    #[test]
    fn find_prefix_at_end_is_pythons(
        haystack in prop::collection::vec(prop::sample::select(b"ab".to_vec()), 0..12),
        needle in prop::collection::vec(prop::sample::select(b"ab".to_vec()), 0..8),
    ) {
        let naive = (1..needle.len())
            .rev()
            .find(|&l| haystack.ends_with(&needle[..l]))
            .unwrap_or(0);
        prop_assert_eq!(find_prefix_at_end(&haystack, &needle), naive);
    }
}
