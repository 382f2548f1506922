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
    pub(crate) fn take(len: usize) -> ReadBuf {
        let mut buf = READ_BUF.take();
        if buf.len() < len {
            buf.resize(len, 0);
        }
        ReadBuf(buf)
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.0);
        if buf.len() <= KEEP_AT_MOST {
            let _ = READ_BUF.try_with(|slot| {
                let other = slot.take();
                slot.set(if other.len() >= buf.len() { other } else { buf });
            });
        }
    }
}
