//! [`DispatcherWithSend`]: Python's `dispatcher_with_send`, a channel with an output
//! buffer.

use std::fmt;

use crate::channel::Channel;
use crate::dispatcher::Dispatcher;
use crate::error::Result;

/// A channel plus an output buffer: [`send`](DispatcherWithSend::send) queues data and
/// sends what the socket takes now; the rest goes out from `handle_write`. Python's
/// `asyncore.dispatcher_with_send`.
///
/// It is a [`Dispatcher`] by itself, and meant to be embedded: hold one in your type
/// and forward `channel`, `writable` and `handle_write` to it.
///
/// # Examples
///
/// ```
/// use asyncore::{Channel, Dispatcher, DispatcherWithSend, Result};
///
/// struct EchoHandler {
///     out: DispatcherWithSend,
/// }
///
/// impl Dispatcher for EchoHandler {
///     fn channel(&self) -> &Channel { self.out.channel() }
///     fn channel_mut(&mut self) -> &mut Channel { self.out.channel_mut() }
///     fn writable(&mut self) -> bool { self.out.writable() }
///     fn handle_write(&mut self) -> Result<()> { self.out.handle_write() }
///
///     fn handle_read(&mut self) -> Result<()> {
///         let data = self.out.channel_mut().recv(8192)?;
///         self.out.send(&data)?;
///         Ok(())
///     }
/// }
/// # let _ = EchoHandler { out: DispatcherWithSend::new(Channel::new()) };
/// ```
pub struct DispatcherWithSend {
    chan: Channel,
    /// Data queued and not sent yet: Python's `out_buffer`.
    pub out_buffer: Vec<u8>,
}

impl DispatcherWithSend {
    /// Wraps a channel.
    pub fn new(chan: Channel) -> DispatcherWithSend {
        DispatcherWithSend {
            chan,
            out_buffer: Vec::new(),
        }
    }

    /// Queues `data` and sends as much as the socket takes now. Returns `data.len()`,
    /// as Python's does: everything is accepted for sending.
    ///
    /// # Errors
    ///
    /// A socket failure other than would-block or a disconnect.
    pub fn send(&mut self, data: &[u8]) -> Result<usize> {
        self.out_buffer.extend_from_slice(data);
        self.initiate_send()?;
        Ok(data.len())
    }

    /// Sends what the socket takes now from the buffer.
    ///
    /// # Errors
    ///
    /// A socket failure other than would-block or a disconnect.
    pub fn initiate_send(&mut self) -> Result<()> {
        let mut sent = 0;
        let result = loop {
            if sent == self.out_buffer.len() {
                break Ok(());
            }
            match self.chan.send(&self.out_buffer[sent..]) {
                Ok(0) => break Ok(()),
                Ok(n) => sent += n,
                Err(e) => break Err(e.into()),
            }
        };
        // Python's `self.out_buffer = self.out_buffer[num_sent:]`.
        self.out_buffer.drain(..sent);
        result
    }

    /// Bytes queued and not yet sent.
    pub fn pending(&self) -> usize {
        self.out_buffer.len()
    }
}

impl Dispatcher for DispatcherWithSend {
    fn channel(&self) -> &Channel {
        &self.chan
    }

    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }

    /// True while connecting or while data is queued.
    fn writable(&mut self) -> bool {
        !self.chan.connected || self.pending() > 0
    }

    fn handle_write(&mut self) -> Result<()> {
        self.initiate_send()
    }
}

impl fmt::Debug for DispatcherWithSend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherWithSend")
            .field("channel", &self.chan)
            .field("pending", &self.pending())
            .finish()
    }
}
