//! The channel map: Python's `socket_map`, one per thread, plus any explicit ones.
//!
//! A [`Map`] owns its channels, their dispatchers and one mio poller. Each channel's
//! socket is registered with the poller once, under a key made of its slot index
//! and the slot's generation. Closing a channel empties its slot and bumps the
//! generation, so an event still queued for the old key (or for a file descriptor
//! the OS has already handed to a new connection) finds nothing and is dropped.
//!
//! Handlers may [`add`](crate::Cx::add) channels (an accept handler adding the new
//! connection) and close any channel, their own included, while the loop runs. A
//! channel added during a pass is served from the next pass on. See the
//! [`event_loop`](crate::event_loop) docs for how.
//!
//! A `Map` and its [`Handle`]s belong to the thread that made them (they are `!Send`).
//! Other threads reach a running loop through a [`LoopHandle`](crate::LoopHandle),
//! and name a channel by its [`ChannelId`], which [`Map::get`] turns back into a handle
//! on the loop's thread.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use crate::channel::Channel;
use crate::core::Core;
use crate::dispatcher::Dispatcher;
use crate::error::{AddError, Error, Result};
use crate::handle::{ChannelId, Handle};
use crate::node::{Node, NodeRef};

/// A channel map: the channels one loop serves, and the poller it waits on.
///
/// Cloning a `Map` gives another reference to the same map. [`Map::global`] is the
/// thread's default map (Python's `asyncore.socket_map`); create others with
/// [`Map::new`] and pass them to [`loop_`](crate::loop_).
///
/// # Examples
///
/// ```
/// use asyncore::{Channel, Dispatcher, Domain, Map, Type};
///
/// struct Server;
/// impl Dispatcher for Server {}
///
/// let map = Map::new()?;
/// let mut chan = Channel::new();
/// chan.create_socket(Domain::IPV4, Type::STREAM)?;
/// chan.bind("127.0.0.1:0".parse::<std::net::SocketAddr>()?)?;
/// chan.listen(5)?;
/// let server = map.add(chan, Server)?;
/// assert_eq!(map.len(), 1);
/// server.close();
/// assert!(map.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Map {
    pub(crate) core: Rc<Core>,
}

thread_local! {
    static GLOBAL: RefCell<Option<Map>> = const { RefCell::new(None) };
}

impl Map {
    /// A new, empty map with its own poller.
    ///
    /// # Errors
    ///
    /// The OS refused to create a poller (out of file descriptors).
    pub fn new() -> io::Result<Map> {
        Ok(Map {
            core: Rc::new(Core::new()?),
        })
    }

    /// This thread's default map (Python's `asyncore.socket_map`), created on first use.
    ///
    /// # Panics
    ///
    /// If the OS refuses to create a poller the first time.
    #[doc(alias = "socket_map")]
    pub fn global() -> Map {
        GLOBAL.with(|g| {
            g.borrow_mut()
                .get_or_insert_with(|| Map::new().expect("asyncore: cannot create a poller"))
                .clone()
        })
    }

    /// Puts a channel and the dispatcher that drives it in the map (Python's
    /// `add_channel`, which a dispatcher made with a socket calls) and returns a
    /// [`Handle`] to the dispatcher. The socket is registered with the poller; events
    /// reach the dispatcher from the loop's next pass on. Callable from inside
    /// handlers while the loop runs (there, [`Cx::add`](crate::Cx::add) is the same).
    ///
    /// # Errors
    ///
    /// [`Error::NoSocket`] if the channel has no socket yet, or the poller's refusal.
    /// Either way the [`AddError`] hands back the dispatcher and the channel.
    // The error hands back the dispatcher and its channel by value, as calloop's
    // `InsertError` does; it is the rare path, and `?` turns it into an `Error`.
    #[allow(clippy::result_large_err)]
    pub fn add<T: Dispatcher>(
        &self,
        chan: Channel,
        dispatcher: T,
    ) -> Result<Handle<T>, AddError<T>> {
        if !chan.is_open() {
            return Err(AddError {
                dispatcher,
                channel: chan,
                error: Error::NoSocket,
            });
        }
        let node = Rc::new(Node::new(chan, dispatcher));
        let erased: NodeRef = node.clone();
        let attached = {
            let mut chan = node.chan.borrow_mut();
            self.core.attach(&erased, &mut chan)
        };
        match attached {
            Ok(_) => Ok(Handle::new(node, self)),
            Err(e) => {
                drop(erased);
                let Ok(node) = Rc::try_unwrap(node) else {
                    unreachable!("a node that failed to join has no other owner")
                };
                Err(AddError {
                    dispatcher: node.handler.into_inner(),
                    channel: node.chan.into_inner(),
                    error: e.into(),
                })
            }
        }
    }

    /// The channel `id` names, as a [`Handle`] of its dispatcher's type, if it is
    /// still in this map and its dispatcher is a `T`. With [`Handle::id`] and a
    /// [`LoopHandle`](crate::LoopHandle), this is how code on another thread reaches
    /// a channel: send the id, and look the channel up inside
    /// [`LoopHandle::call`](crate::LoopHandle::call).
    ///
    /// Ids are generation-tagged: the id of a closed channel never finds another
    /// channel, even one that took its place. An id names a channel in its own map
    /// only.
    ///
    /// # Examples
    ///
    /// ```
    /// use asyncore::{Channel, Dispatcher, Map};
    ///
    /// struct Peer;
    /// impl Dispatcher for Peer {}
    ///
    /// let map = Map::new()?;
    /// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let peer = map.add(Channel::from_socket(sock)?, Peer)?;
    /// let id = peer.id();
    /// assert!(map.get::<Peer>(id).is_some());
    /// peer.close();
    /// assert!(map.get::<Peer>(id).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<T: Dispatcher>(&self, id: ChannelId) -> Option<Handle<T>> {
        let node = self.core.get(id.0)?.into_any().downcast::<Node<T>>().ok()?;
        Some(Handle::new(node, self))
    }

    /// Closes the channel `id` names, whatever its type; false if it names none.
    /// As [`Handle::close`].
    pub fn close_channel(&self, id: ChannelId) -> bool {
        match self.core.get(id.0) {
            Some(node) => {
                if let Err(e) = self.core.close_node(self, &node) {
                    log::error!("closing a channel: {e}");
                }
                crate::pass::release(node);
                true
            }
            None => false,
        }
    }

    /// How many channels are in the map.
    pub fn len(&self) -> usize {
        self.core.len()
    }

    /// True when no channel is in the map; [`loop_`](crate::loop_) then returns.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.core.len() == 0
    }

    /// True if some channel in the map has this file descriptor.
    pub fn contains_fd(&self, fd: std::os::fd::RawFd) -> bool {
        self.core.nodes().iter().any(|n| {
            n.node()
                .chan
                .try_borrow()
                .is_ok_and(|c| c.fileno() == Some(fd))
        })
    }

    /// When `true`, every pass consults `readable()` and `writable()` of every channel,
    /// exactly as Python's loop does, instead of only the channels whose state may have
    /// changed (see the [`event_loop`](crate::event_loop) docs). Costs time per pass in
    /// proportion to the number of channels; needed only when predicates read state
    /// that changes without the channel being touched.
    pub fn set_consult_all(&self, on: bool) {
        self.core.consult_all.set(on);
    }

    /// How many times one pass may serve a channel that still has readiness it
    /// wants after its handler ran; its predicates are consulted before each time.
    ///
    /// The default, 1, is Python's: a pass serves each channel once, so
    /// `loop_(.., count)` calls a handler at most `count` times and two busy channels
    /// are served `A B A B`. A server that wants throughput sets more: with 16, a busy
    /// stream is read in runs of up to 16 `handle_read`s before the loop polls again,
    /// and the shipped echo server's bulk echo gets 1.0x to 1.2x the throughput
    /// (`cargo bench -- bulk`, five runs; 0.1's bench handler gained more); busy
    /// channels are then served `A A B B`. Every handler is still called only when its
    /// predicates want the readiness it has. `0` counts as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let map = asyncore::Map::new()?;
    /// map.set_dispatch_budget(16); // a server: serve busy streams in runs
    /// assert_eq!(map.dispatch_budget(), 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_dispatch_budget(&self, times: u32) {
        self.core.budget.set(times.max(1));
    }

    /// The budget set with [`set_dispatch_budget`](Map::set_dispatch_budget).
    pub fn dispatch_budget(&self) -> u32 {
        self.core.budget.get()
    }

    /// Runs one pass: consult predicates, poll for at most `timeout` (`None`: until
    /// something happens), dispatch. Python's `asyncore.poll(timeout, map)`. Runs the
    /// closures a [`LoopHandle`](crate::LoopHandle) sent, but no tasks (see
    /// [`Tasks::run_due`](crate::Tasks::run_due)).
    ///
    /// # Errors
    ///
    /// [`Error::ExitNow`] from a handler, or the poller's own failure.
    pub fn poll(&self, timeout: impl Into<Option<Duration>>) -> Result<()> {
        self.core.pass(self, None, timeout.into())
    }

    /// Runs passes until the map is empty (and no [global task](crate::Tasks::global)
    /// is pending) or `count` passes have run: [`loop_`](crate::loop_) on this map.
    ///
    /// # Errors
    ///
    /// As for [`loop_`](crate::loop_).
    pub fn run(
        &self,
        timeout: impl Into<Option<Duration>>,
        count: impl Into<Option<usize>>,
    ) -> Result<()> {
        crate::event_loop::loop_with_tasks(timeout, Some(self), None, count)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for n in self.core.nodes() {
            match n.node().chan.try_borrow() {
                Ok(c) => list.entry(&*c),
                Err(_) => list.entry(&format_args!("<running>")),
            };
        }
        list.finish()
    }
}

/// Puts a channel and its dispatcher in this thread's global map:
/// `Map::global().add(chan, d)`.
///
/// # Errors
///
/// As for [`Map::add`].
#[allow(clippy::result_large_err)] // as for `Map::add`
pub fn add<T: Dispatcher>(chan: Channel, dispatcher: T) -> Result<Handle<T>, AddError<T>> {
    Map::global().add(chan, dispatcher)
}
