//! Finding a byte-string terminator in the input: the searcher a [`Splitter`]
//! builds once per terminator, and the prefix automaton that finds a terminator cut
//! between two reads.
//!
//! A one-byte terminator (a line's `\n`) gets a [`ByteSearch`]; a longer one a
//! [`Matcher`] (memchr's substring finder plus a border table).
//!
//! [`Splitter`]: super::Splitter

use memchr::memmem;

/// The compiled form of a byte-string terminator.
#[derive(Clone)]
pub(crate) enum Search {
    /// A one-byte terminator.
    Byte(ByteSearch),
    /// A longer one.
    Bytes(Matcher),
}

impl Search {
    /// The searcher for `needle` (never empty: the splitter refuses that).
    pub(crate) fn new(needle: &[u8]) -> Search {
        match needle {
            [byte] => Search::Byte(ByteSearch::new(*byte)),
            _ => Search::Bytes(Matcher::new(needle)),
        }
    }

    /// Where the terminator first occurs in `haystack`.
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        match self {
            Search::Byte(byte) => byte.find(haystack),
            Search::Bytes(matcher) => matcher.finder.find(haystack),
        }
    }

    /// Length of the longest proper prefix of the terminator that ends `haystack`
    /// (always 0 for one byte).
    pub(crate) fn prefix_at_end(&self, haystack: &[u8]) -> usize {
        match self {
            Search::Byte(_) => 0,
            Search::Bytes(m) => prefix_at_end_with(m.finder.needle(), &m.border, haystack),
        }
    }
}

/// A one-byte terminator's searcher. On x86-64 with AVX2 it is memchr's AVX2
/// searcher, built once: a scan calls it directly, where `memchr::memchr` goes
/// through a function pointer chosen at run time and two more calls on every
/// search. With lines of 100 bytes that is about a fifth of the time per line
/// (the bench's `splitter` scenario, 64 KiB chunks: 0.86x the speed of plain
/// `memchr::memchr` calls before, 1.03–1.13x after). Elsewhere, `memchr::memchr`.
#[derive(Clone, Copy)]
pub(crate) struct ByteSearch {
    byte: u8,
    #[cfg(target_arch = "x86_64")]
    avx2: Option<memchr::arch::x86_64::avx2::memchr::One>,
}

impl ByteSearch {
    fn new(byte: u8) -> ByteSearch {
        ByteSearch {
            byte,
            #[cfg(target_arch = "x86_64")]
            avx2: memchr::arch::x86_64::avx2::memchr::One::new(byte),
        }
    }

    /// Where `byte` first occurs in `haystack`.
    #[inline]
    pub(crate) fn find(&self, haystack: &[u8]) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(one) = &self.avx2 {
            return one.find(haystack);
        }
        memchr::memchr(self.byte, haystack)
    }
}

/// A compiled terminator of two bytes or more: a cached substring searcher plus the
/// border table used to find a partial terminator at the end of the input in linear
/// time.
#[derive(Clone)]
pub(crate) struct Matcher {
    finder: memmem::Finder<'static>,
    /// `border[i]`: length of the longest proper prefix of `needle[..=i]` that is
    /// also a suffix of it.
    border: Vec<usize>,
}

impl Matcher {
    fn new(needle: &[u8]) -> Self {
        Matcher {
            finder: memmem::Finder::new(needle).into_owned(),
            border: borders(needle),
        }
    }
}

/// The border table of `needle` (see `Matcher::border`).
pub(crate) fn borders(needle: &[u8]) -> Vec<usize> {
    let mut border = vec![0; needle.len()];
    let mut k = 0;
    for i in 1..needle.len() {
        while k > 0 && needle[i] != needle[k] {
            k = border[k - 1];
        }
        if needle[i] == needle[k] {
            k += 1;
        }
        border[i] = k;
    }
    border
}

/// Runs the prefix automaton of `needle` over the last `needle.len() - 1` bytes of
/// `haystack`: the state it ends in is the longest proper prefix of `needle` that
/// ends `haystack`. Only `needle.len() - 1` bytes are looked at, in O(`needle.len()`).
pub(crate) fn prefix_at_end_with(needle: &[u8], border: &[usize], haystack: &[u8]) -> usize {
    if needle.len() < 2 {
        return 0;
    }
    let start = haystack.len().saturating_sub(needle.len() - 1);
    // `state` never exceeds the number of bytes processed, so it stays below
    // `needle.len()` and `needle[state]` is in bounds.
    let mut state = 0;
    for &byte in &haystack[start..] {
        while state > 0 && needle[state] != byte {
            state = border[state - 1];
        }
        if needle[state] == byte {
            state += 1;
        }
    }
    state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn borders_of_periodic_needles() {
        assert_eq!(borders(b"aabaaab"), [0, 1, 0, 1, 2, 2, 3]);
        assert_eq!(borders(b"abab"), [0, 0, 1, 2]);
        assert_eq!(borders(b""), Vec::<usize>::new());
    }

    #[test]
    fn a_byte_is_found_where_memchr_finds_it() {
        // Every haystack length across the vector widths (16 and 32 bytes), with the
        // byte at every place and nowhere.
        let search = Search::new(b"\n");
        for len in 0..100 {
            let mut hay = vec![b'x'; len];
            assert_eq!(search.find(&hay), None, "len {len}");
            for at in 0..len {
                hay[at] = b'\n';
                assert_eq!(search.find(&hay), Some(at), "len {len} at {at}");
                assert_eq!(search.find(&hay[at..]), Some(0));
                hay[at] = b'x';
            }
            assert_eq!(search.prefix_at_end(&hay), 0);
        }
    }
}
