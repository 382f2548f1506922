//! Splitting an input stream at terminators, the way asynchat's `handle_read` does.
//!
//! A [`Splitter`] knows the current [`Terminator`] and nothing about sockets. It is
//! shown the bytes that have arrived and says which of them are data for the current
//! message and whether the terminator has been reached. Like asynchat (and unlike a
//! line codec), data is handed out as soon as it is known not to be part of the
//! terminator: a 100 MB message is never held in one buffer by the splitter.
//!
//! The primitive is [`Splitter::scan`], which works over the caller's buffer without
//! copying; [`Splitter::feed`] runs the usual loop around it.
//!
//! # Examples
//!
//! ```
//! use asyncore::chat::{SplitEvent, Splitter};
//!
//! let mut splitter = Splitter::with_terminator(b"\r\n")?;
//! let mut line = Vec::new();
//! let mut lines = Vec::new();
//! let mut on_event = |_: &mut Splitter, event: SplitEvent<'_>| {
//!     match event {
//!         SplitEvent::Data(data) => line.extend_from_slice(data),
//!         SplitEvent::Terminator => lines.push(std::mem::take(&mut line)),
//!     }
//!     Ok(())
//! };
//!
//! // The terminator of the first line is cut between two reads.
//! let mut buf = b"HELO example.org\r".to_vec();
//! splitter.feed(&mut buf, &mut on_event)?;
//! assert_eq!(buf, b"\r"); // kept: it may be the start of a terminator
//! buf.extend_from_slice(b"\nQUIT\r\n");
//! splitter.feed(&mut buf, &mut on_event)?;
//! assert!(buf.is_empty());
//! assert_eq!(lines, [&b"HELO example.org"[..], b"QUIT"]);
//! # Ok::<(), asyncore::Error>(())
//! ```

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::search::{Search, borders, prefix_at_end_with};
use crate::error::{Error, Result};

/// What ends a message: Python's `set_terminator` argument.
///
/// * [`Terminator::None`]: no terminator; all input is data (Python's `None`).
/// * [`Terminator::Bytes`]: a byte string such as `b"\r\n"`; it must not be empty.
/// * [`Terminator::Count`]: a number of bytes. A [`Splitter`] counts it down as data
///   arrives and reports the remaining count; once it reaches 0 it behaves like
///   `None` (Python tests `if not terminator`, and `0` is false), so `Count(0)`
///   collects everything until a new terminator is set.
///
/// The `From` conversions do not check for an empty byte string;
/// [`Splitter::set_terminator`] does, and so do [`Terminator::bytes`] and
/// [`Terminator::validate`].
///
/// # Examples
///
/// ```
/// use asyncore::chat::Terminator;
///
/// assert_eq!(Terminator::from("\r\n"), Terminator::Bytes(b"\r\n".to_vec()));
/// assert_eq!(Terminator::from(b"\n"), Terminator::Bytes(vec![b'\n']));
/// assert_eq!(Terminator::from(512usize), Terminator::Count(512));
/// assert_eq!(Terminator::from(None::<&str>), Terminator::None);
/// assert!(Terminator::count(-1).is_err());
/// assert!(Terminator::bytes("").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Terminator {
    /// No terminator: everything is data.
    #[default]
    None,
    /// A byte string that ends each message; not empty.
    Bytes(Vec<u8>),
    /// A number of bytes still to collect before the terminator is reached.
    Count(usize),
}

impl Terminator {
    /// A byte-string terminator, refusing an empty one with [`Error::EmptyTerminator`]
    /// (it would match everywhere).
    pub fn bytes(bytes: impl Into<Vec<u8>>) -> Result<Self> {
        let term = Terminator::Bytes(bytes.into());
        term.validate()?;
        Ok(term)
    }

    /// A numeric terminator from a signed count, refusing a negative one with
    /// [`Error::NegativeTerminator`] (Python raises `ValueError`).
    ///
    /// A count that does not fit in `usize` (only possible on 32-bit targets) is
    /// clamped to `usize::MAX`.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Error, chat::Terminator};
    ///
    /// assert_eq!(Terminator::count(6)?, Terminator::Count(6));
    /// assert!(matches!(Terminator::count(-1), Err(Error::NegativeTerminator(-1))));
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn count(n: i64) -> Result<Self> {
        if n < 0 {
            return Err(Error::NegativeTerminator(n));
        }
        Ok(Terminator::Count(usize::try_from(n).unwrap_or(usize::MAX)))
    }

    /// Checks that this terminator can be used: an empty byte string is refused
    /// with [`Error::EmptyTerminator`]; everything else is fine.
    pub fn validate(&self) -> Result<()> {
        match self {
            Terminator::Bytes(bytes) if bytes.is_empty() => Err(Error::EmptyTerminator),
            _ => Ok(()),
        }
    }

    /// True when all input is data: [`Terminator::None`] or a count of 0
    /// (Python's `not terminator`).
    pub fn collects_all(&self) -> bool {
        matches!(self, Terminator::None | Terminator::Count(0))
    }
}

impl From<&[u8]> for Terminator {
    fn from(bytes: &[u8]) -> Self {
        Terminator::Bytes(bytes.to_vec())
    }
}

impl<const N: usize> From<&[u8; N]> for Terminator {
    fn from(bytes: &[u8; N]) -> Self {
        Terminator::Bytes(bytes.to_vec())
    }
}

impl From<Vec<u8>> for Terminator {
    fn from(bytes: Vec<u8>) -> Self {
        Terminator::Bytes(bytes)
    }
}

impl From<&str> for Terminator {
    fn from(text: &str) -> Self {
        Terminator::Bytes(text.as_bytes().to_vec())
    }
}

impl From<String> for Terminator {
    fn from(text: String) -> Self {
        Terminator::Bytes(text.into_bytes())
    }
}

impl From<usize> for Terminator {
    fn from(count: usize) -> Self {
        Terminator::Count(count)
    }
}

/// `None` is [`Terminator::None`]; `Some(t)` converts `t`.
impl<T: Into<Terminator>> From<Option<T>> for Terminator {
    fn from(term: Option<T>) -> Self {
        term.map_or(Terminator::None, Into::into)
    }
}

/// The answer of [`Splitter::scan`] about the start of the input it was shown.
///
/// * `input[..data]` is data for the current message. It may be empty; callers skip
///   empty data (Python never calls `collect_incoming_data` with empty data).
/// * If `found`, the terminator was reached right after that data and `consumed`
///   counts the data and the terminator's bytes (for a numeric terminator, just the
///   data). Call `found_terminator` now; a terminator it sets applies to
///   `input[consumed..]`.
/// * If not `found`, `consumed == data`, and the caller must keep `input[consumed..]`
///   (a possible start of the terminator, at most its length − 1 bytes) and show it
///   again, followed by the bytes read next, on the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scan {
    /// Length of the data at the start of the input.
    pub data: usize,
    /// Whether the terminator was reached after the data.
    pub found: bool,
    /// How many bytes of the input were used up.
    pub consumed: usize,
}

impl Scan {
    fn partial(data: usize) -> Self {
        Scan {
            data,
            found: false,
            consumed: data,
        }
    }
}

/// What [`Splitter::feed`] reports to its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitEvent<'a> {
    /// Data for the current message (never empty): Python's `collect_incoming_data`.
    Data(&'a [u8]),
    /// The terminator was reached: Python's `found_terminator`.
    Terminator,
}

/// Length of the longest proper prefix of `needle` that ends `haystack`: Python's
/// `asynchat.find_prefix_at_end`.
///
/// asynchat uses it after failing to find the terminator in its buffer: that many
/// bytes at the end may be the start of a terminator cut between two reads, so they
/// are kept instead of being handed out as data. The result is always below
/// `needle.len()` (0 for an empty or one-byte needle); when `haystack` ends with the
/// whole of `needle`, it is the longest proper prefix of `needle` that ends it (Python
/// calls that case undefined; this is what its code returns). It runs in time linear
/// in `needle.len()`.
///
/// # Examples
///
/// ```
/// use asyncore::chat::find_prefix_at_end;
///
/// assert_eq!(find_prefix_at_end(b"qwerty\r", b"\r\n"), 1);
/// assert_eq!(find_prefix_at_end(b"qwertydkjf", b"\r\n"), 0);
/// assert_eq!(find_prefix_at_end(b"body\r\n.", b"\r\n.\r\n"), 3);
/// ```
pub fn find_prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
    prefix_at_end_with(needle, &borders(needle), haystack)
}

/// The input side of asynchat without the socket: splits a byte stream into data
/// and terminator events.
///
/// It holds the current [`Terminator`] (counting a numeric one down as data arrives),
/// a searcher compiled for it, the number of bytes collected while waiting for it, and
/// an optional limit on that number.
///
/// Feed it with [`scan`](Splitter::scan) (zero-copy, one step) or
/// [`feed`](Splitter::feed) (the whole loop). For any way of cutting the same input
/// into reads, the data handed out between two terminator events, concatenated, and
/// the terminator events themselves are the same, and they are those of Python's
/// `async_chat.handle_read`.
///
/// # Limit
///
/// With [`set_limit(Some(limit))`](Splitter::set_limit), a message waiting for a
/// byte-string terminator may hold at most `limit` bytes of data (the terminator not
/// counted): a message of exactly `limit` bytes is accepted, one of `limit + 1` bytes
/// is refused with [`Error::InputTooLong`]. The refusal comes as soon as more than
/// `limit` bytes are known to be data — and also when the terminator arrives in the
/// same read as the excess, so the outcome does not depend on how the input was cut
/// into reads. Numeric terminators are not limited (the count itself bounds the
/// message, and the caller chose it), nor is [`Terminator::None`] (the caller asked
/// for everything).
///
/// # Examples
///
/// Switching from lines to a byte count inside the terminator handler, as an HTTP
/// client does after reading `Content-Length`:
///
/// ```
/// use asyncore::chat::{SplitEvent, Splitter, Terminator};
///
/// let mut splitter = Splitter::with_terminator("\r\n")?;
/// let mut current = Vec::new();
/// let mut messages = Vec::new();
/// let mut buf = b"LEN 5\r\nhelloLEN 2\r\nhi".to_vec();
/// splitter.feed(&mut buf, |splitter, event| {
///     match event {
///         SplitEvent::Data(data) => current.extend_from_slice(data),
///         SplitEvent::Terminator => {
///             let message = std::mem::take(&mut current);
///             if let Some(n) = message.strip_prefix(b"LEN ") {
///                 let n: usize = std::str::from_utf8(n).unwrap().parse().unwrap();
///                 splitter.set_terminator(n)?;
///             } else {
///                 splitter.set_terminator("\r\n")?;
///             }
///             messages.push(message);
///         }
///     }
///     Ok(())
/// })?;
/// assert_eq!(messages, [&b"LEN 5"[..], b"hello", b"LEN 2", b"hi"]);
/// assert_eq!(splitter.terminator(), &Terminator::from("\r\n"));
/// # Ok::<(), asyncore::Error>(())
/// ```
#[derive(Clone, Default)]
pub struct Splitter {
    /// The current terminator; a numeric one holds the count still to collect.
    terminator: Terminator,
    /// Compiled form of a byte-string terminator; rebuilt by `set_terminator`.
    search: Option<Search>,
    /// Bytes handed out as data since the terminator was last found or set.
    collected: usize,
    limit: Option<usize>,
    /// Which `set_terminator` call the terminator came from, unique in the process
    /// (0 before any): a [`Peek`] is trusted only while it stays the same.
    version: u64,
}

/// Where [`Splitter::peek`] found the next terminator, for the scan that follows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peek {
    version: u64,
    index: usize,
}

/// Hands out [`Splitter::version`]s.
static VERSIONS: AtomicU64 = AtomicU64::new(1);

impl fmt::Debug for Splitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Splitter")
            .field("terminator", &self.terminator)
            .field("collected", &self.collected)
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Splitter {
    /// A splitter with no terminator ([`Terminator::None`]) and no limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// A splitter with the given terminator and no limit.
    ///
    /// Fails like [`set_terminator`](Splitter::set_terminator).
    pub fn with_terminator(term: impl Into<Terminator>) -> Result<Self> {
        let mut splitter = Self::new();
        splitter.set_terminator(term)?;
        Ok(splitter)
    }

    /// Python's `set_terminator`: sets what ends the next message.
    ///
    /// It applies to all input not yet consumed, including bytes already read: call
    /// it while handling a terminator to parse the rest of the buffer differently.
    /// It also restarts the count of collected bytes that the limit applies to.
    /// An empty byte string is refused with [`Error::EmptyTerminator`] and leaves the
    /// splitter unchanged. (A negative count cannot be expressed here; use
    /// [`Terminator::count`] to convert a signed one.)
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Error, chat::{Splitter, Terminator}};
    ///
    /// let mut splitter = Splitter::new();
    /// splitter.set_terminator(b"\r\n.\r\n")?;
    /// splitter.set_terminator(Terminator::count(1024)?)?;
    /// assert!(matches!(splitter.set_terminator(""), Err(Error::EmptyTerminator)));
    /// assert_eq!(splitter.terminator(), &Terminator::Count(1024));
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn set_terminator(&mut self, term: impl Into<Terminator>) -> Result<()> {
        let term = term.into();
        term.validate()?;
        self.search = match &term {
            Terminator::Bytes(needle) => Some(Search::new(needle)),
            _ => None,
        };
        self.terminator = term;
        self.collected = 0;
        self.version = VERSIONS.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Python's `get_terminator`: the current terminator. A numeric terminator
    /// reports the count still to collect, `Count(0)` once it has been reached.
    pub fn terminator(&self) -> &Terminator {
        &self.terminator
    }

    /// Sets or removes the limit on a message waiting for a byte-string terminator
    /// (see [the type's documentation](Splitter#limit)).
    pub fn set_limit(&mut self, limit: Option<usize>) {
        self.limit = limit;
    }

    /// The limit set with [`set_limit`](Splitter::set_limit), if any.
    pub fn limit(&self) -> Option<usize> {
        self.limit
    }

    /// Bytes handed out as data since the terminator was last found or set.
    pub fn collected(&self) -> usize {
        self.collected
    }

    /// Forgets the bytes collected so far, so the limit starts afresh; terminator and
    /// limit are kept. For `discard_buffers`, together with dropping the kept input.
    pub fn reset(&mut self) {
        self.collected = 0;
    }

    /// True if `input` holds a whole message for the current terminator: a byte-string
    /// terminator occurs in it, or it has at least the bytes a count still wants.
    /// Nothing is consumed. (`AsyncChat` asks this to know whether more messages of
    /// the same read follow the one being handled.)
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::chat::Splitter;
    ///
    /// let splitter = Splitter::with_terminator("\r\n")?;
    /// assert!(splitter.has_message(b"NOOP\r\nQU"));
    /// assert!(!splitter.has_message(b"QU"));
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    pub fn has_message(&self, input: &[u8]) -> bool {
        self.peek(input).0
    }

    /// [`has_message`](Splitter::has_message), and where a byte-string terminator
    /// was found: handed to [`scan_peeked`](Splitter::scan_peeked) for the same
    /// input, it spares the scan a second search.
    pub(crate) fn peek(&self, input: &[u8]) -> (bool, Option<Peek>) {
        let found = match &self.terminator {
            Terminator::None | Terminator::Count(0) => return (false, None),
            Terminator::Count(left) => return (input.len() >= *left, None),
            Terminator::Bytes(_) => self.search.as_ref().and_then(|m| m.find(input)),
        };
        let peek = found.map(|index| Peek {
            version: self.version,
            index,
        });
        (peek.is_some(), peek)
    }

    /// [`scan`](Splitter::scan) of the input `peek` looked at (nothing consumed since):
    /// if the terminator is still the one it found, the scan takes its answer.
    #[inline]
    pub(crate) fn scan_peeked(&mut self, input: &[u8], peek: Option<Peek>) -> Result<Scan> {
        if let (Some(peek), Terminator::Bytes(needle)) = (peek, &self.terminator) {
            if peek.version == self.version {
                let needle_len = needle.len();
                return self.account(peek.index, true, needle_len);
            }
        }
        self.scan(input)
    }

    /// Looks at the start of `input` (bytes kept from the previous call followed by
    /// newly read ones) and says how much of it is data and whether the terminator
    /// follows: one step of Python's `handle_read` loop. See [`Scan`].
    ///
    /// It only ever looks at `input` once, plus the kept partial terminator (at most
    /// its length − 1 bytes) when it is shown again, so the total work is linear in
    /// the size of the stream however it is cut into reads.
    ///
    /// # Errors
    ///
    /// [`Error::InputTooLong`] when a limit is set and the current message, waiting
    /// for a byte-string terminator, would exceed it. The splitter is then left as it
    /// was; the usual answer is to close the connection.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::chat::{Scan, Splitter};
    ///
    /// let mut splitter = Splitter::with_terminator("\r\n")?;
    /// let buf = b"one\r\ntwo\r";
    /// let first = splitter.scan(buf)?;
    /// assert_eq!(first, Scan { data: 3, found: true, consumed: 5 });
    /// let second = splitter.scan(&buf[5..])?;
    /// // "two" is data; the final "\r" must be kept and shown again.
    /// assert_eq!(second, Scan { data: 3, found: false, consumed: 3 });
    /// # Ok::<(), asyncore::Error>(())
    /// ```
    #[inline]
    pub fn scan(&mut self, input: &[u8]) -> Result<Scan> {
        // The common line terminator, small enough to inline where it is called:
        // one search (no partial terminator can be left at the end of the input).
        if let Some(Search::Byte(byte)) = &self.search {
            let (data, found) = match byte.find(input) {
                Some(index) => (index, true),
                None => (input.len(), false),
            };
            return self.account(data, found, 1);
        }
        self.scan_other(input)
    }

    /// [`scan`](Splitter::scan) for every terminator but a one-byte string.
    fn scan_other(&mut self, input: &[u8]) -> Result<Scan> {
        let len = input.len();
        if len == 0 {
            return Ok(Scan::default());
        }
        match &mut self.terminator {
            Terminator::None | Terminator::Count(0) => {
                self.collected = self.collected.saturating_add(len);
                Ok(Scan::partial(len))
            }
            Terminator::Count(left) => {
                if len < *left {
                    *left -= len;
                    self.collected = self.collected.saturating_add(len);
                    Ok(Scan::partial(len))
                } else {
                    let data = *left;
                    *left = 0;
                    self.collected = 0;
                    Ok(Scan {
                        data,
                        found: true,
                        consumed: data,
                    })
                }
            }
            Terminator::Bytes(needle) => {
                let search = self.search.get_or_insert_with(|| Search::new(needle));
                let (data, found) = match search.find(input) {
                    Some(index) => (index, true),
                    None => (len - search.prefix_at_end(input), false),
                };
                let needle_len = needle.len();
                self.account(data, found, needle_len)
            }
        }
    }

    /// The end of a byte-string scan: `data` bytes of data, then the terminator (of
    /// `needle_len` bytes) if `found`. Checks the limit and counts what was collected.
    #[inline]
    fn account(&mut self, data: usize, found: bool, needle_len: usize) -> Result<Scan> {
        let total = self.collected.saturating_add(data);
        if let Some(limit) = self.limit {
            if total > limit {
                return Err(Error::InputTooLong { limit });
            }
        }
        if found {
            self.collected = 0;
            Ok(Scan {
                data,
                found,
                consumed: data + needle_len,
            })
        } else {
            self.collected = total;
            Ok(Scan::partial(data))
        }
    }

    /// Runs Python's `handle_read` loop over `buf`, which holds the bytes kept from
    /// the previous call followed by the newly read ones.
    ///
    /// `on_event` receives each non-empty piece of data and each terminator, together
    /// with the splitter so that it can [`set_terminator`](Splitter::set_terminator);
    /// a new terminator applies to the rest of `buf`. When this returns, `buf` holds
    /// exactly the bytes still to be shown again (at most the terminator's length − 1
    /// after a success): append the next read to it and call again.
    ///
    /// # Errors
    ///
    /// The first error of [`scan`](Splitter::scan) or of `on_event` stops the loop and
    /// is returned. Bytes already reported to `on_event` count as processed even if it
    /// failed, and are gone from `buf`; so is a terminator reported to it.
    pub fn feed<F>(&mut self, buf: &mut Vec<u8>, mut on_event: F) -> Result<()>
    where
        F: FnMut(&mut Splitter, SplitEvent<'_>) -> Result<()>,
    {
        let mut pos = 0;
        let result = loop {
            if pos == buf.len() {
                break Ok(());
            }
            let step = match self.scan(&buf[pos..]) {
                Ok(step) => step,
                Err(err) => break Err(err),
            };
            let data = &buf[pos..pos + step.data];
            pos += step.consumed;
            if !data.is_empty() {
                if let Err(err) = on_event(self, SplitEvent::Data(data)) {
                    break Err(err);
                }
            }
            if !step.found {
                break Ok(());
            }
            if let Err(err) = on_event(self, SplitEvent::Terminator) {
                break Err(err);
            }
        };
        buf.drain(..pos);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive_prefix_at_end(haystack: &[u8], needle: &[u8]) -> usize {
        (1..needle.len())
            .rev()
            .find(|&l| haystack.ends_with(&needle[..l]))
            .unwrap_or(0)
    }

    #[test]
    fn prefix_at_end_matches_the_naive_definition() {
        let alphabet = b"ab";
        // Every needle and haystack over {a, b} up to length 5 and 6.
        let words = |max: usize| {
            let mut all = vec![Vec::new()];
            let mut last = vec![Vec::new()];
            for _ in 0..max {
                let next: Vec<Vec<u8>> = last
                    .iter()
                    .flat_map(|w: &Vec<u8>| {
                        alphabet.iter().map(move |&c| {
                            let mut w = w.clone();
                            w.push(c);
                            w
                        })
                    })
                    .collect();
                all.extend(next.iter().cloned());
                last = next;
            }
            all
        };
        let needles = words(5);
        let haystacks = words(6);
        for needle in &needles {
            for haystack in &haystacks {
                assert_eq!(
                    find_prefix_at_end(haystack, needle),
                    naive_prefix_at_end(haystack, needle),
                    "haystack {haystack:?} needle {needle:?}"
                );
            }
        }
    }

    #[test]
    fn one_byte_terminator_scans_as_defined() {
        // A one-byte terminator takes its own path: check it against the
        // definition, with and without a limit, over every way to cut the input.
        let input = b"ab\n\ncdefg\nh".repeat(3);
        for limit in [None, Some(4), Some(5)] {
            'cuts: for cut in 1..input.len() {
                let mut splitter = Splitter::with_terminator("\n").unwrap();
                splitter.set_limit(limit);
                let mut collected = 0;
                for chunk in input.chunks(cut) {
                    let mut pos = 0;
                    while pos < chunk.len() {
                        let rest = &chunk[pos..];
                        let data = rest.iter().position(|&b| b == b'\n');
                        let want_data = data.unwrap_or(rest.len());
                        let got = splitter.scan(rest);
                        if limit.is_some_and(|l| collected + want_data > l) {
                            assert!(matches!(got, Err(Error::InputTooLong { .. })));
                            continue 'cuts;
                        }
                        let got = got.unwrap();
                        let want = Scan {
                            data: want_data,
                            found: data.is_some(),
                            consumed: want_data + usize::from(data.is_some()),
                        };
                        assert_eq!(got, want, "cut {cut}, at {pos} of {chunk:?}");
                        collected = if got.found { 0 } else { collected + want_data };
                        assert_eq!(splitter.collected(), collected);
                        pos += got.consumed;
                    }
                }
            }
        }
    }

    #[test]
    fn debug_is_readable() {
        let splitter = Splitter::with_terminator("\n").unwrap();
        let text = format!("{splitter:?}");
        assert!(
            text.starts_with("Splitter { terminator: Bytes([10])"),
            "{text}"
        );
    }
}
