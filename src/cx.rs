//! [`Cx`]: what a handler is given — its channel, and the loop.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use mio::unix::SourceFd;

use crate::channel::Channel;
use crate::dispatcher::Dispatcher;
use crate::error::AddError;
use crate::handle::{ChannelId, Handle};
use crate::map::Map;
use crate::node::{Node, NodeRef};
use crate::slab::Key;
use crate::tasks::{TaskHandle, Tasks};

/// A handler's context: its channel, and the loop it runs in.
///
/// Every [`Dispatcher`] method receives one. It dereferences to the running
/// [`Channel`], so Python's `self.send(data)`, `self.recv(n)`, `self.connected` and
/// `self.addr` are `cx.send(data)`, `cx.recv(n)`, `cx.connected` and `cx.addr()`; and
/// it reaches the loop:
///
/// | Python | here |
/// |---|---|
/// | `Handler(sock, map=self._map)` in `handle_accepted` | [`cx.add(Channel::accepted(sock, addr)?, Handler::new())?`](Cx::add) |
/// | `self.close()` | [`cx.close()`](Cx::close) |
/// | `self` kept elsewhere | [`cx.handle::<Self>()`](Cx::handle) |
/// | `self._map` | [`cx.map()`](Cx::map) |
/// | `raise asyncore.ExitNow` | `return Err(Error::ExitNow)`, or [`cx.exit()`](Cx::exit) |
/// | `astm`'s `call_later(secs, f)` | [`cx.call_later(delay, f)`](Cx::call_later) |
/// | `self.log_info(msg, type)` | [`cx.log_info(msg, level)`](Cx::log_info) |
///
/// Inside a handler there always is a map, so none of these can fail for want of
/// one.
///
/// # Examples
///
/// A listener that gives each connection a handler of its own:
///
/// ```
/// use asyncore::{Channel, Cx, Dispatcher, Result, SockAddr, Socket};
///
/// struct Echo;
/// impl Dispatcher for Echo {
///     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         let data = cx.recv(4096)?;
///         cx.send(&data)?;
///         Ok(())
///     }
/// }
///
/// struct Server;
/// impl Dispatcher for Server {
///     fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
///         cx.add(Channel::accepted(sock, addr)?, Echo)?;
///         Ok(())
///     }
/// }
/// # let _ = Server;
/// ```
pub struct Cx<'a> {
    chan: &'a mut Channel,
    map: &'a Map,
    node: &'a NodeRef,
    /// The node's notes, looked up once (reaching them through `node` is a virtual
    /// call).
    meta: &'a crate::node::Meta,
    /// `dispatcher_with_send`'s output buffer, when the running dispatcher has one:
    /// [`send`](Cx::send) then queues.
    out: Option<&'a mut Vec<u8>>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(chan: &'a mut Channel, map: &'a Map, node: &'a NodeRef) -> Cx<'a> {
        Cx::with_meta(chan, map, node, &node.node().meta)
    }

    /// [`Cx::new`] for a caller that has the node's notes at hand already.
    #[inline]
    pub(crate) fn with_meta(
        chan: &'a mut Channel,
        map: &'a Map,
        node: &'a NodeRef,
        meta: &'a crate::node::Meta,
    ) -> Cx<'a> {
        Cx {
            chan,
            map,
            meta,
            node,
            out: None,
        }
    }

    /// The same context, with `out` as the buffer `send` queues into.
    pub(crate) fn with_out<'b>(&'b mut self, out: &'b mut Vec<u8>) -> Cx<'b> {
        Cx {
            chan: &mut *self.chan,
            map: self.map,
            node: self.node,
            meta: self.meta,
            out: Some(out),
        }
    }

    #[inline]
    pub(crate) fn meta(&self) -> &'a crate::node::Meta {
        self.meta
    }

    /// The running channel.
    pub fn channel(&self) -> &Channel {
        self.chan
    }

    /// The running channel, mutably.
    pub fn channel_mut(&mut self) -> &mut Channel {
        self.chan
    }

    /// The map the channel is in (or was in, once it closed). Python's `self._map`.
    pub fn map(&self) -> &Map {
        self.map
    }

    /// Puts a new channel and its dispatcher in this channel's map: Python's
    /// `Handler(sock, map)` inside `handle_accepted`. The new channel is served from
    /// the loop's next pass on.
    ///
    /// # Errors
    ///
    /// As for [`Map::add`]: the dispatcher and channel come back in the error.
    // The error hands back the dispatcher and its channel by value, as calloop's
    // `InsertError` does; it is the rare path, and `?` turns it into an `Error`.
    #[allow(clippy::result_large_err)]
    pub fn add<T: Dispatcher>(
        &self,
        chan: Channel,
        dispatcher: T,
    ) -> Result<Handle<T>, AddError<T>> {
        self.map.add(chan, dispatcher)
    }

    /// A handle to the running dispatcher itself, to give to another channel, a
    /// timer or a [`LoopHandle`](crate::LoopHandle) closure. `None` only if `T` is not
    /// the running dispatcher's type (for a chat handler `H`, that type is
    /// [`AsyncChat<H>`](crate::AsyncChat)).
    ///
    /// Give a peer that this channel also holds a handle to a
    /// [weak](Handle::downgrade) one, so the two do not keep each other alive.
    pub fn handle<T: Dispatcher>(&self) -> Option<Handle<T>> {
        let node = self.node.clone().into_any().downcast::<Node<T>>().ok()?;
        Some(Handle::new(node, self.map))
    }

    /// The running channel's id (see [`Map::get`]). Once the channel has closed, the
    /// id names nothing.
    pub fn id(&self) -> ChannelId {
        ChannelId(self.meta.key().unwrap_or(Key::NONE))
    }

    /// Closes the channel: Python's `close()`. The socket is closed at once and the
    /// channel leaves the map; its dispatcher's [`on_close`](Dispatcher::on_close)
    /// runs when the current handler returns. Safe to call more than once.
    ///
    /// What was sent before is delivered: `cx.send(reply)` (or a chat's `push`)
    /// followed by `cx.close()` hands the reply to the kernel first, as in Python.
    ///
    /// Python's reconnect idiom works: after `cx.close()`, give the channel a new
    /// socket ([`create_socket`](Channel::create_socket) and
    /// [`connect`](Channel::connect)) in the same handler, and it stays in the map.
    pub fn close(&mut self) {
        self.chan.close();
        let meta = self.meta;
        if let Some(key) = meta.take_key() {
            let removed = self.map.core.remove(key);
            drop(removed); // the loop still holds the node: nothing is freed here
        }
    }

    /// Removes the channel from its map without closing its socket: Python's
    /// `del_channel()`. The loop stops serving it; the socket closes when the
    /// dispatcher is dropped (once no [`Handle`] keeps it).
    pub fn del_channel(&mut self) {
        let meta = self.meta;
        if let Some(key) = meta.take_key() {
            if let Some(io) = self.chan.io() {
                let _ = self.map.core.registry().deregister(&mut SourceFd(&io.fd()));
            }
            meta.detached.set(true);
            meta.finished.set(true);
            drop(self.map.core.remove(key));
        }
        self.chan.ready = crate::ready::Ready::EMPTY;
        self.chan.close_due = false;
    }

    /// Ends the loop once the current pass is done: [`loop_`](crate::loop_) returns
    /// `Ok(())`. To end it at once with an error the caller sees, return
    /// [`Error::ExitNow`](crate::Error::ExitNow) instead.
    pub fn exit(&self) {
        self.map.core.request_exit();
    }

    /// The tasks of the loop running this map: those passed to
    /// [`loop_with_tasks`](crate::loop_with_tasks), or the thread's
    /// [global](Tasks::global) ones (under [`loop_`](crate::loop_), or when the map is
    /// stepped with [`Map::poll`]).
    pub fn tasks(&self) -> Tasks {
        self.map.core.running_tasks().unwrap_or_else(Tasks::global)
    }

    /// Runs `callback` once, `delay` from now, in the running loop's tasks: astm's
    /// `call_later`.
    pub fn call_later(&self, delay: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
        self.tasks().call_later(delay, callback)
    }

    /// Runs `callback` every `interval` in the running loop's tasks (see
    /// [`Tasks::call_every`]).
    pub fn call_every(&self, interval: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
        self.tasks().call_every(interval, callback)
    }

    /// Sends as much of `data` as the socket takes now; see [`Channel::send`].
    ///
    /// Under [`DispatcherWithSend`](crate::DispatcherWithSend) this is Python's
    /// `dispatcher_with_send.send`: everything is queued, what the socket takes is
    /// sent at once, the rest from `handle_write`, and the result is `data.len()`.
    ///
    /// # Errors
    ///
    /// As for [`Channel::send`].
    #[inline(always)]
    pub fn send(&mut self, data: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            None => self.chan.send(data),
            Some(out) => {
                if out.is_empty() {
                    // Straight from the caller's bytes; only what the socket refuses
                    // is copied into the buffer.
                    let sent = self.chan.send(data)?;
                    out.extend_from_slice(&data[sent..]);
                } else {
                    out.extend_from_slice(data);
                    crate::with_send::flush(self.chan, out)?;
                }
                Ok(data.len())
            }
        }
    }

    /// Logs a message at `level`, tagged with the dispatcher's type: Python's
    /// `log_info(message, type)`.
    pub fn log_info(&self, message: &str, level: log::Level) {
        log::log!(level, "{}: {}", self.type_name(), message);
    }

    /// Logs a message at debug level: Python's `dispatcher.log(message)`.
    pub fn log(&self, message: &str) {
        log::debug!("{}: {}", self.type_name(), message);
    }

    /// The running dispatcher's type name, for logs.
    pub fn type_name(&self) -> &'static str {
        self.node.type_name()
    }

    /// The default handlers' "unhandled ... event" message: at warning level, and
    /// only when [`log_unhandled_events`](crate::log_unhandled_events) turned them on.
    pub(crate) fn log_unhandled(&self, what: &str) {
        if crate::logging::unhandled_events_shown() {
            self.log_info(&format!("unhandled {what}"), log::Level::Warn);
        }
    }
}

impl Deref for Cx<'_> {
    type Target = Channel;
    #[inline]
    fn deref(&self) -> &Channel {
        self.chan
    }
}

impl DerefMut for Cx<'_> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Channel {
        self.chan
    }
}

impl fmt::Debug for Cx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cx")
            .field("channel", &*self.chan)
            .field("dispatcher", &self.type_name())
            .finish_non_exhaustive()
    }
}
