//! One read buffer per thread, shared by every channel that reads into a buffer of
//! the library's own (`AsyncChat`, `DataReader`, `HttpClient`): an idle connection
//! holds no read buffer at all.

use std::cell::Cell;

/// A read buffer larger than this is not kept for the next read.
const KEEP_AT_MOST: usize = 4 * 1024 * 1024;

thread_local! {
    static READ_BUF: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
}

/// The thread's read buffer, taken for one read and given back on drop. A read that
/// runs while another holds it (a handler reading another channel from inside its
/// own read) gets a buffer of its own.
pub(crate) struct ReadBuf(pub(crate) Vec<u8>);

impl ReadBuf {
    /// The buffer, at least `len` bytes long.
    #[inline]
    pub(crate) fn take(len: usize) -> ReadBuf {
        let mut buf = READ_BUF.take();
        if buf.len() < len {
            grow(&mut buf, len);
        }
        ReadBuf(buf)
    }
}

/// Replaces the buffer with a larger one. Its bytes are scratch, so none are kept,
/// and the new one is a zeroed allocation (`calloc`), not zeros written: a large one
/// comes fresh from the system, and its pages cost memory only once a read touches
/// them (a thread whose reads are small pays for a page, not 256 KiB).
#[cold]
fn grow(buf: &mut Vec<u8>, len: usize) {
    drop(std::mem::take(buf));
    *buf = vec![0; len];
}

impl Drop for ReadBuf {
    #[inline]
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.len() <= KEEP_AT_MOST {
            // Empty in the slot unless a read nested in this one gave its own
            // buffer back: then keep the larger.
            let _ = READ_BUF.try_with(|slot| {
                let other = slot.replace(buf);
                if !other.is_empty() {
                    keep_larger(slot, other);
                }
            });
        }
    }
}

#[cold]
fn keep_larger(slot: &Cell<Vec<u8>>, other: Vec<u8>) {
    let buf = slot.take();
    slot.set(if other.len() >= buf.len() { other } else { buf });
}

/// Bytes read by [`Channel::recv_buf`](crate::Channel::recv_buf), in the thread's
/// shared read buffer: dereferences to `&[u8]`. The buffer goes back to the thread when
/// this is dropped, so keep it only as long as you need the bytes; copy what you keep.
///
/// Empty means the peer closed the connection, as for
/// [`Channel::recv`](crate::Channel::recv).
pub struct RecvBuf {
    buf: ReadBuf,
    len: usize,
}

impl RecvBuf {
    pub(crate) fn new(buf: ReadBuf, len: usize) -> RecvBuf {
        RecvBuf { buf, len }
    }
}

impl std::ops::Deref for RecvBuf {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.buf.0[..self.len]
    }
}

impl AsRef<[u8]> for RecvBuf {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBuf").field("len", &self.len).finish()
    }
}
