//! The output side of [`AsyncChat`](crate::chat::AsyncChat): a FIFO of byte chunks,
//! producers and close markers, sent with vectored writes.
//!
//! Python's `producer_fifo` is a deque of byte strings, producers and `None`
//! (close-when-done); `initiate_send` sends one slice of the first entry per call.
//! This FIFO keeps the same order and meaning, with three differences that only show
//! in speed and memory:
//!
//! * Consecutive pushes of bytes are appended to one buffer (up to the channel's
//!   `ac_out_buffer_size`), so a hundred small pushes cost no allocation each and go
//!   out in one system call.
//! * A write pass gathers up to [`MAX_SLICES`] queued buffers into one vectored write,
//!   asks producers for chunks ahead of time (up to `ac_out_buffer_size` bytes beyond
//!   what is gathered), and repeats until the socket would block, the FIFO is empty or
//!   the pass's byte budget is spent.
//! * Buffers that have been sent go back to a small per-thread pool instead of being
//!   freed, and an idle channel holds no buffer at all.
//! * A [`FileProducer`](crate::chat::FileProducer) is not asked for chunks: once it
//!   is first it is sent with [`Channel::send_file`] (`sendfile(2)` on Linux), up to
//!   the pass's byte budget per call, and the bytes after it follow when it is done.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::io::{self, IoSlice};

use crate::channel::Channel;
use crate::chat::Producer;

/// At most this many buffers go into one vectored write.
pub(crate) const MAX_SLICES: usize = 64;

/// A buffer that has been sent returns to the pool if its capacity is at most this.
const POOL_BUF_MAX: usize = 256 * 1024;
/// ... and at least this (smaller ones are cheap to allocate).
const POOL_BUF_MIN: usize = 1024;
/// Buffers kept per thread.
const POOL_LEN: usize = 16;
/// An owned push at least this long is queued as it is, not copied.
const MOVE_AT_LEAST: usize = 1024;
/// Capacity of a freshly allocated buffer for pushed bytes.
const FRESH_CAPACITY: usize = 4096;

thread_local! {
    static POOL: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `min` bytes, from the pool if it has one.
fn take_buffer(min: usize) -> Vec<u8> {
    let pooled = POOL.with_borrow_mut(Vec::pop);
    match pooled {
        Some(mut buf) => {
            buf.reserve(min);
            buf
        }
        None => Vec::with_capacity(min.max(FRESH_CAPACITY)),
    }
}

/// Gives a sent buffer back to the pool (or frees it).
fn recycle(mut buf: Vec<u8>) {
    if (POOL_BUF_MIN..=POOL_BUF_MAX).contains(&buf.capacity()) {
        buf.clear();
        POOL.with_borrow_mut(|pool| {
            if pool.len() < POOL_LEN {
                pool.push(buf);
            }
        });
    }
}

/// One entry of the FIFO.
enum Item {
    /// Bytes to send; never empty.
    Data(Vec<u8>),
    /// A producer not yet exhausted.
    Producer(Box<dyn Producer>),
    /// `close_when_done`: close once everything before it has been sent.
    Close,
}

/// How a write pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing left to send (the FIFO is empty).
    Drained,
    /// The socket took less than it was offered (or is not connected): wait for it.
    Blocked,
    /// The byte budget of the pass is spent; more can be sent right away.
    Budget,
    /// A close marker was reached (and removed): the channel should close now.
    Close,
}

/// The output FIFO.
#[derive(Default)]
pub(crate) struct Fifo {
    items: VecDeque<Item>,
    /// Bytes of the front `Data` item already sent.
    head: usize,
    /// Bytes in `Data` items not yet sent.
    pending: usize,
}

impl Fifo {
    /// True when nothing at all is queued.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes queued as data and not yet sent (producers not counted).
    pub(crate) fn pending_bytes(&self) -> usize {
        self.pending
    }

    /// Queues a copy of `data`, appending it to the last buffer while that holds less
    /// than `coalesce` bytes.
    pub(crate) fn push_bytes(&mut self, data: &[u8], coalesce: usize) {
        if data.is_empty() {
            return;
        }
        self.pending += data.len();
        if let Some(Item::Data(last)) = self.items.back_mut() {
            if last.len() < coalesce {
                last.extend_from_slice(data);
                return;
            }
        }
        let mut buf = take_buffer(data.len());
        buf.extend_from_slice(data);
        self.items.push_back(Item::Data(buf));
    }

    /// Queues `data`: a copy of borrowed bytes (see `push_bytes`), owned ones of at
    /// least `MOVE_AT_LEAST` bytes as they are.
    pub(crate) fn push_output(&mut self, data: crate::chat::Output<'_>, coalesce: usize) {
        match data {
            crate::chat::Output::Owned(buf) if buf.len() >= MOVE_AT_LEAST => {
                self.pending += buf.len();
                self.items.push_back(Item::Data(buf));
            }
            other => self.push_bytes(other.as_bytes(), coalesce),
        }
    }

    /// Queues a producer.
    pub(crate) fn push_producer(&mut self, producer: Box<dyn Producer>) {
        self.items.push_back(Item::Producer(producer));
    }

    /// Queues a close marker.
    pub(crate) fn push_close(&mut self) {
        self.items.push_back(Item::Close);
    }

    /// Drops everything queued.
    pub(crate) fn clear(&mut self) {
        self.items = VecDeque::new();
        self.head = 0;
        self.pending = 0;
    }

    /// Sends from the front of the FIFO until the socket would block, the FIFO is
    /// empty, a close marker is reached, or about `budget` bytes have been sent.
    /// Producers are asked for chunks while less than `pull_ahead` bytes are gathered
    /// for the next write. Nothing is sent while the channel is not connected.
    ///
    /// A producer's error stops the pass after the bytes gathered before it were
    /// offered to the socket; the producer stays queued, as in Python.
    pub(crate) fn write(
        &mut self,
        chan: &mut Channel,
        pull_ahead: usize,
        budget: usize,
    ) -> io::Result<Outcome> {
        let mut sent_total = 0;
        loop {
            if self.items.is_empty() {
                self.shrink();
                return Ok(Outcome::Drained);
            }
            if !chan.connected || !chan.is_open() {
                return Ok(Outcome::Blocked);
            }
            let (count, gathered, failed) = self.prepare(pull_ahead);
            if count == 0 {
                if let Some(err) = failed {
                    return Err(err);
                }
                // A close marker is first, or a file, or the producers at the front
                // were exhausted and the FIFO is empty now (handled at the top).
                match self.items.front_mut() {
                    Some(Item::Close) => {
                        self.items.pop_front();
                        return Ok(Outcome::Close);
                    }
                    Some(Item::Producer(producer)) => {
                        let Some(file) = producer.as_file_producer() else {
                            unreachable!("prepare stops at a producer only for a file");
                        };
                        let ask = file.next_len(budget.saturating_sub(sent_total).max(1));
                        let n = file.send_at_most(chan, ask)?;
                        sent_total += n;
                        if file.is_done() {
                            self.items.pop_front();
                        } else if n < ask {
                            // Full, or the file just ended (then the socket is still
                            // writable and the next pass finds out).
                            return Ok(Outcome::Blocked);
                        }
                        if sent_total >= budget && !self.items.is_empty() {
                            return Ok(Outcome::Budget);
                        }
                        continue;
                    }
                    _ => {}
                }
                debug_assert!(self.items.is_empty());
                if self.items.is_empty() {
                    continue;
                }
                return Ok(Outcome::Blocked);
            }
            let n = self.send(chan, count)?;
            self.advance(n);
            sent_total += n;
            if n < gathered {
                // A producer's error, if any, comes again when it reaches the front.
                return Ok(Outcome::Blocked);
            }
            if let Some(err) = failed {
                return Err(err);
            }
            if sent_total >= budget && !self.items.is_empty() {
                return Ok(Outcome::Budget);
            }
        }
    }

    /// Makes the front of the FIFO a run of `Data` items ready to send, asking
    /// producers for chunks as needed. Returns how many items to send, their bytes,
    /// and a producer's error if one stopped the run.
    fn prepare(&mut self, pull_ahead: usize) -> (usize, usize, Option<io::Error>) {
        let mut count = 0;
        let mut gathered = 0;
        while count < MAX_SLICES && count < self.items.len() {
            match &mut self.items[count] {
                Item::Data(buf) => {
                    gathered += buf.len() - if count == 0 { self.head } else { 0 };
                    count += 1;
                }
                Item::Close => break,
                Item::Producer(producer) => {
                    // A file goes by itself, with `sendfile`, once it is first.
                    if producer.as_file_producer().is_some() {
                        break;
                    }
                    if count > 0 && gathered >= pull_ahead {
                        break;
                    }
                    match producer.more() {
                        Ok(chunk) if chunk.is_empty() => {
                            self.items.remove(count);
                        }
                        Ok(chunk) => {
                            self.pending += chunk.len();
                            self.items.insert(count, Item::Data(chunk));
                        }
                        Err(err) => return (count, gathered, Some(err)),
                    }
                }
            }
        }
        (count, gathered, None)
    }

    /// Offers the first `count` items (all `Data`) to the socket in one call.
    fn send(&self, chan: &mut Channel, count: usize) -> io::Result<usize> {
        let first = match &self.items[0] {
            Item::Data(buf) => &buf[self.head..],
            _ => unreachable!("prepare puts data first"),
        };
        if count == 1 {
            return chan.send(first);
        }
        let mut slices = [IoSlice::new(&[]); MAX_SLICES];
        slices[0] = IoSlice::new(first);
        for (slot, item) in slices[1..count].iter_mut().zip(self.items.iter().skip(1)) {
            if let Item::Data(buf) = item {
                *slot = IoSlice::new(buf);
            }
        }
        chan.send_vectored(&slices[..count])
    }

    /// Drops `n` sent bytes from the front.
    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(Item::Data(front)) = self.items.front() else {
                unreachable!("only data is sent");
            };
            let left = front.len() - self.head;
            if n < left {
                self.head += n;
                return;
            }
            n -= left;
            self.head = 0;
            if let Some(Item::Data(buf)) = self.items.pop_front() {
                recycle(buf);
            }
        }
    }

    /// Releases the deque's memory after a burst.
    fn shrink(&mut self) {
        if self.items.capacity() > 16 {
            self.items = VecDeque::new();
        }
    }
}

impl fmt::Debug for Fifo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let producers = self
            .items
            .iter()
            .filter(|i| matches!(i, Item::Producer(_)))
            .count();
        let close = self.items.iter().any(|i| matches!(i, Item::Close));
        f.debug_struct("Fifo")
            .field("items", &self.items.len())
            .field("pending_bytes", &self.pending)
            .field("producers", &producers)
            .field("close_when_done", &close)
            .finish()
    }
}
