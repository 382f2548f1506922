//! [`Output`]: what `push` accepts — borrowed bytes, copied, or owned ones, moved.

/// Bytes handed to [`Chat::push`](crate::Chat::push) (and the other `push`es).
///
/// Borrowed bytes (`&[u8]`, `&str`, `&Vec<u8>`, `b"..."`) are copied into the output
/// FIFO, gathered with other small pushes into few writes. Owned ones (`Vec<u8>`,
/// `String`, `Box<[u8]>`) of 1 KiB or more are moved into it as they are: pushing a
/// 64 MB `Vec` copies nothing. With the `bytes` feature, `bytes::Bytes` and
/// `bytes::BytesMut` are owned bytes too: moved without a copy when they hold their
/// buffer alone (a `Bytes` that shares it with clones is copied once). You rarely
/// name this type: `push` takes anything that converts into it.
///
/// # Examples
///
/// ```
/// use asyncore::chat::Output;
///
/// let file = vec![0u8; 1 << 20];
/// assert!(matches!(Output::from(file), Output::Owned(_))); // moved, not copied
/// assert!(matches!(Output::from("250 OK\r\n"), Output::Borrowed(_)));
/// ```
#[derive(Debug)]
pub enum Output<'a> {
    /// Bytes to copy.
    Borrowed(&'a [u8]),
    /// Bytes to move.
    Owned(Vec<u8>),
}

impl Output<'_> {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Output::Borrowed(b) => b,
            Output::Owned(v) => v,
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> From<&'a T> for Output<'a> {
    fn from(data: &'a T) -> Output<'a> {
        Output::Borrowed(data.as_ref())
    }
}

impl From<Vec<u8>> for Output<'_> {
    fn from(data: Vec<u8>) -> Self {
        Output::Owned(data)
    }
}

impl From<String> for Output<'_> {
    fn from(data: String) -> Self {
        Output::Owned(data.into_bytes())
    }
}

impl From<Box<[u8]>> for Output<'_> {
    fn from(data: Box<[u8]>) -> Self {
        Output::Owned(data.into_vec())
    }
}

impl<const N: usize> From<[u8; N]> for Output<'_> {
    fn from(data: [u8; N]) -> Self {
        Output::Owned(data.to_vec())
    }
}

/// With the `bytes` feature: moved without a copy when `data` holds its buffer alone
/// (made from a `Vec`, or the last of its clones), else copied once.
#[cfg(feature = "bytes")]
impl From<bytes::Bytes> for Output<'_> {
    fn from(data: bytes::Bytes) -> Self {
        Output::Owned(Vec::from(data))
    }
}

/// With the `bytes` feature: moved without a copy when `data` holds its buffer alone.
#[cfg(feature = "bytes")]
impl From<bytes::BytesMut> for Output<'_> {
    fn from(data: bytes::BytesMut) -> Self {
        Output::Owned(Vec::from(data))
    }
}

#[cfg(all(test, feature = "bytes"))]
mod bytes_tests {
    use super::Output;

    #[test]
    fn a_unique_bytes_is_moved_not_copied() {
        let vec = vec![7u8; 64 * 1024];
        let ptr = vec.as_ptr();
        let Output::Owned(out) = Output::from(bytes::Bytes::from(vec)) else {
            panic!("owned bytes came out borrowed");
        };
        assert_eq!(out.as_ptr(), ptr, "the buffer was copied");
        assert_eq!(out.len(), 64 * 1024);

        let mut buf = bytes::BytesMut::with_capacity(4096);
        buf.extend_from_slice(b"250 OK\r\n");
        let ptr = buf.as_ptr();
        let Output::Owned(out) = Output::from(buf) else {
            panic!("owned bytes came out borrowed");
        };
        assert_eq!(out.as_ptr(), ptr, "the buffer was copied");
        assert_eq!(out, b"250 OK\r\n");
    }

    #[test]
    fn a_shared_bytes_is_copied_and_the_clone_kept() {
        let shared = bytes::Bytes::from(vec![1u8; 4096]);
        let clone = shared.clone();
        let Output::Owned(out) = Output::from(shared) else {
            panic!("owned bytes came out borrowed");
        };
        assert_eq!(out, clone.as_ref());
        assert_ne!(out.as_ptr(), clone.as_ptr());
    }
}
