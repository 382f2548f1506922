//! [`Output`]: what `push` accepts — borrowed bytes, copied, or owned ones, moved.

/// Bytes handed to [`Chat::push`](crate::Chat::push) (and the other `push`es).
///
/// Borrowed bytes (`&[u8]`, `&str`, `&Vec<u8>`, `b"..."`) are copied into the output
/// FIFO, gathered with other small pushes into few writes. Owned ones (`Vec<u8>`,
/// `String`, `Box<[u8]>`) of 1 KiB or more are moved into it as they are: pushing a
/// 64 MB `Vec` copies nothing. You rarely name this type: `push` takes anything that
/// converts into it.
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
