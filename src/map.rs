//! The channel map: Python's `socket_map`, one per thread, plus any explicit ones.
//!
//! A [`Map`] owns its dispatchers and one mio [`Poll`]. Each dispatcher sits in a slot
//! behind `Rc<RefCell<..>>`; its socket is registered with the poller once, under a
//! token made of the slot index and the slot's generation. Closing a channel empties
//! its slot and bumps the generation, so an event still queued for the old token (or
//! for a file descriptor the OS has already handed to a new connection) finds nothing
//! and is dropped.
//!
//! The loop never holds a borrow of the slot table while a handler runs: it clones
//! the dispatcher's `Rc` out of its slot first. So handlers may [`add`](Map::add)
//! channels (an accept handler adding the new connection) and close any channel,
//! their own included, while the loop runs. A channel added during a pass is served
//! from the next pass on.
//!
//! A `Map` and its [`Handle`]s belong to the thread that made them (they are `!Send`).
//! Other threads reach a running loop through a [`LoopHandle`](crate::LoopHandle),
//! and name a channel by its [`ChannelId`], which [`Map::get`] turns back into a handle
//! on the loop's thread.

use std::any::Any;
use std::cell::{Cell, OnceCell, Ref, RefCell, RefMut};
use std::fmt;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use mio::{Events, Poll, Registry, Token};

use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::loop_handle::Remote;

pub(crate) type Shared = Rc<RefCell<dyn Dispatcher>>;

/// Token reserved for the loop's own use (cross-thread wake-ups).
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

const INDEX_BITS: u32 = 32;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;

struct Slot {
    generation: u32,
    entry: Option<Entry>,
}

/// What a slot holds: the dispatcher as the loop drives it, and the same allocation as
/// `dyn Any`, so [`Map::get`] can hand back a typed [`Handle`].
pub(crate) struct Entry {
    dispatcher: Shared,
    any: Rc<dyn Any>,
}

impl Entry {
    pub(crate) fn dispatcher(&self) -> &Shared {
        &self.dispatcher
    }
}

pub(crate) struct Inner {
    pub(crate) registry: Registry,
    pub(crate) poll: RefCell<Poll>,
    pub(crate) events: RefCell<Events>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    live: Cell<usize>,
    /// Channels whose predicates the next pass must consult.
    pub(crate) queue: RefCell<Vec<Token>>,
    pub(crate) pass: Cell<u64>,
    pub(crate) consult_all: Cell<bool>,
    /// Scratch space the loop reuses from pass to pass.
    pub(crate) scratch: RefCell<Scratch>,
    /// Readiness that arrived for a channel whose handler was running (a nested
    /// pass): merged into the next pass instead of being lost.
    pub(crate) deferred: RefCell<Vec<(Token, u8)>>,
    /// The channel whose handler is running (`WAKE_TOKEN`: none).
    pub(crate) running: Cell<Token>,
    /// The slot entry of the running channel, if it closed itself.
    pub(crate) limbo: RefCell<Option<(Token, Entry)>>,
    /// Set when `close_all` emptied the slot of a channel whose handler was running:
    /// the loop then closes that channel once the handler returns.
    pub(crate) orphaned: Cell<bool>,
    /// How many times a pass may serve one channel (see `Map::set_dispatch_budget`);
    /// `None`: 1 when the caller steps the loop,
    /// [`FREE_RUNNING_BUDGET`](crate::event_loop::FREE_RUNNING_BUDGET) otherwise.
    pub(crate) budget: Cell<Option<u32>>,
    /// What other threads share with this map's loop; made by the first
    /// [`Map::loop_handle`] (a poller takes only one waker).
    pub(crate) remote: OnceCell<std::sync::Arc<Remote>>,
    /// A [`LoopHandle::exit`](crate::LoopHandle::exit) arrived; the loop consumes it.
    pub(crate) exit: Cell<bool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(remote) = self.remote.get() {
            remote.close();
        }
    }
}

#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) queue: Vec<Token>,
    pub(crate) ready: Vec<(Token, u8)>,
}

impl Inner {
    /// The dispatcher behind `token`, if that token is still current.
    pub(crate) fn get(&self, token: Token) -> Option<Shared> {
        let slots = self.slots.borrow();
        let slot = slots.get(token.0 & INDEX_MASK)?;
        if slot.generation as usize != token.0 >> INDEX_BITS {
            return None;
        }
        slot.entry.as_ref().map(|e| e.dispatcher.clone())
    }

    /// The dispatcher behind `token` as `dyn Any`, if that token is still current.
    fn get_any(&self, token: Token) -> Option<Rc<dyn Any>> {
        let slots = self.slots.borrow();
        let slot = slots.get(token.0 & INDEX_MASK)?;
        if slot.generation as usize != token.0 >> INDEX_BITS {
            return None;
        }
        slot.entry.as_ref().map(|e| e.any.clone())
    }

    /// Empties the slot of `token` (if current) and bumps its generation.
    pub(crate) fn remove(&self, token: Token) {
        let taken = {
            let mut slots = self.slots.borrow_mut();
            let index = token.0 & INDEX_MASK;
            match slots.get_mut(index) {
                Some(slot)
                    if slot.generation as usize == token.0 >> INDEX_BITS
                        && slot.entry.is_some() =>
                {
                    slot.generation = slot.generation.wrapping_add(1);
                    self.free.borrow_mut().push(index as u32);
                    self.live.set(self.live.get() - 1);
                    slot.entry.take()
                }
                _ => None,
            }
        };
        if taken.is_some() && token == self.running.get() {
            // Its handler is running: keep the entry until it returns, in case the
            // handler gives the channel a new socket (Python's reconnect idiom).
            *self.limbo.borrow_mut() = taken.map(|e| (token, e));
            return;
        }
        // Dropped here, with no borrow held: the dispatcher's Drop may touch the map.
        drop(taken);
    }

    /// Queues `token` for the next pass unless it is queued for it already.
    /// `queued_for` is the channel's note of the pass it was last queued for: a pass
    /// takes the whole queue at its start, so no flag ever needs clearing.
    pub(crate) fn enqueue(&self, token: Token, queued_for: &mut u64) {
        let next = self.pass.get() + 1;
        if *queued_for != next {
            *queued_for = next;
            self.queue.borrow_mut().push(token);
        }
    }

    pub(crate) fn insert(&self, entry: Entry) -> Token {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i as usize,
            None => {
                slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                slots.len() - 1
            }
        };
        let slot = &mut slots[index];
        slot.entry = Some(entry);
        self.live.set(self.live.get() + 1);
        Token(((slot.generation as usize) << INDEX_BITS) | index)
    }

    pub(crate) fn tokens(&self) -> Vec<Token> {
        self.slots
            .borrow()
            .iter()
            .enumerate()
            .filter(|(_, s)| s.entry.is_some())
            .map(|(i, s)| Token(((s.generation as usize) << INDEX_BITS) | i))
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.get()
    }
}

/// A channel map: the dispatchers one loop serves, and the poller it waits on.
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
/// struct Server {
///     chan: Channel,
/// }
/// impl Dispatcher for Server {
///     fn channel(&self) -> &Channel { &self.chan }
///     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
/// }
///
/// let map = Map::new()?;
/// let mut chan = Channel::new();
/// chan.create_socket(Domain::IPV4, Type::STREAM)?;
/// chan.bind("127.0.0.1:0".parse::<std::net::SocketAddr>()?)?;
/// chan.listen(5)?;
/// let server = map.add(Server { chan })?;
/// assert_eq!(map.len(), 1);
/// server.close();
/// assert!(map.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Map {
    pub(crate) inner: Rc<Inner>,
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
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Map {
            inner: Rc::new(Inner {
                registry,
                poll: RefCell::new(poll),
                events: RefCell::new(Events::with_capacity(1024)),
                slots: RefCell::new(Vec::new()),
                free: RefCell::new(Vec::new()),
                live: Cell::new(0),
                queue: RefCell::new(Vec::new()),
                pass: Cell::new(0),
                consult_all: Cell::new(false),
                scratch: RefCell::new(Scratch::default()),
                deferred: RefCell::new(Vec::new()),
                running: Cell::new(WAKE_TOKEN),
                limbo: RefCell::new(None),
                orphaned: Cell::new(false),
                budget: Cell::new(None),
                remote: OnceCell::new(),
                exit: Cell::new(false),
            }),
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

    pub(crate) fn from_inner(inner: Rc<Inner>) -> Map {
        Map { inner }
    }

    /// Puts a dispatcher in the map (Python's `add_channel`) and returns a [`Handle`]
    /// to it. Its socket is registered with the poller; events reach it from the loop's
    /// next pass on. Callable from inside handlers while the loop runs.
    ///
    /// # Errors
    ///
    /// [`Error::NoSocket`] if the dispatcher's channel has no socket yet, or the
    /// poller's refusal. In both cases the dispatcher is closed and dropped.
    pub fn add<T: Dispatcher>(&self, dispatcher: T) -> Result<Handle<T>> {
        let rc = Rc::new(RefCell::new(dispatcher));
        if !rc.borrow().channel().is_open() {
            return Err(Error::NoSocket);
        }
        let dispatcher: Shared = rc.clone();
        let any: Rc<dyn Any> = rc.clone();
        let token = self.inner.insert(Entry { dispatcher, any });
        let attached = rc
            .borrow_mut()
            .channel_mut()
            .attach(Rc::downgrade(&self.inner), token);
        if let Err(e) = attached {
            rc.borrow_mut().channel_mut().close();
            return Err(e.into());
        }
        Ok(Handle {
            rc,
            id: ChannelId(token),
        })
    }

    /// The channel `id` names, as a [`Handle`] of its type, if it is still in this map
    /// and is a `T`. With [`Handle::id`] and a [`LoopHandle`](crate::LoopHandle), this
    /// is how code on another thread reaches a channel: send the id, and look the
    /// channel up inside [`LoopHandle::call`](crate::LoopHandle::call).
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
    /// struct Peer { chan: Channel }
    /// impl Dispatcher for Peer {
    ///     fn channel(&self) -> &Channel { &self.chan }
    ///     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
    /// }
    ///
    /// let map = Map::new()?;
    /// let sock = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let peer = map.add(Peer { chan: Channel::from_socket(sock)? })?;
    /// let id = peer.id();
    /// assert!(map.get::<Peer>(id).is_some());
    /// peer.close();
    /// assert!(map.get::<Peer>(id).is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get<T: Dispatcher>(&self, id: ChannelId) -> Option<Handle<T>> {
        let rc = self.inner.get_any(id.0)?.downcast::<RefCell<T>>().ok()?;
        Some(Handle { rc, id })
    }

    /// How many channels are in the map.
    pub fn len(&self) -> usize {
        self.inner.len()
    }

    /// True when no channel is in the map; [`loop_`](crate::loop_) then returns.
    pub fn is_empty(&self) -> bool {
        self.inner.len() == 0
    }

    /// True if some channel in the map has this file descriptor.
    pub fn contains_fd(&self, fd: std::os::fd::RawFd) -> bool {
        self.inner.tokens().into_iter().any(|t| {
            self.inner.get(t).is_some_and(|d| {
                d.try_borrow()
                    .is_ok_and(|d| d.channel().fileno() == Some(fd))
            })
        })
    }

    /// When `true`, every pass consults `readable()` and `writable()` of every channel,
    /// exactly as Python's loop does, instead of only the channels whose state may have
    /// changed (see the [`event_loop`](crate::event_loop) docs). Costs time per pass in
    /// proportion to the number of channels; needed only when predicates read state
    /// that changes without the channel being touched.
    pub fn set_consult_all(&self, on: bool) {
        self.inner.consult_all.set(on);
    }

    /// How many times one pass may serve a channel that still has readiness it
    /// wants after its handler ran; its predicates are consulted before each time.
    ///
    /// `None`, the default, depends on how the loop is driven:
    ///
    /// - **stepped** — [`loop_`](crate::loop_) with a `count`, or [`Map::poll`]: once,
    ///   as Python's loop does, so `loop_(.., Some(n))` calls a handler at most `n`
    ///   times and a test harness steps exactly as it did in Python;
    /// - **free-running** — `loop_` without a `count`, [`Map::run`] likewise: up to
    ///   16 times. A busy stream is then read in runs of up to 16 `handle_read`s
    ///   before the loop polls again and moves on, instead of one per pass; a bulk
    ///   echo gets 1.2x to 1.6x the throughput (`cargo bench -- bulk`, the
    ///   `asyncore` and `asyncore-step` lines). Every handler is still called only
    ///   when its predicates want the readiness it has, and no channel waits longer
    ///   than 16 dispatches of each busy one. What changes is the interleaving: two
    ///   busy channels are served `A A B B` rather than `A B A B`.
    ///
    /// `Some(n)` serves up to `n` times in every pass however the loop is driven
    /// (`Some(1)`: Python's interleaving everywhere); `Some(0)` counts as 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let map = asyncore::Map::new()?;
    /// map.set_dispatch_budget(Some(1)); // one dispatch per channel per pass, always
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_dispatch_budget(&self, times: Option<u32>) {
        self.inner.budget.set(times.map(|n| n.max(1)));
    }

    /// Runs one pass: consult predicates, poll for at most `timeout` (`None`: until
    /// something happens), dispatch. Python's `asyncore.poll(timeout, map)`. A
    /// stepped pass: each channel is served once, unless
    /// [`set_dispatch_budget`](Map::set_dispatch_budget) says otherwise. Runs the
    /// closures a [`LoopHandle`](crate::LoopHandle) sent, but no tasks (see
    /// [`Tasks::run_due`](crate::Tasks::run_due)).
    ///
    /// # Errors
    ///
    /// [`Error::ExitNow`] from a handler, or the poller's own failure.
    pub fn poll(&self, timeout: Option<Duration>) -> Result<()> {
        crate::event_loop::pass(&self.inner, None, timeout, true)
    }

    /// Runs passes until the map is empty (and no [global task](crate::Tasks::global)
    /// is pending) or `count` passes have run: [`loop_`](crate::loop_) on this map.
    /// Without a `count` the loop runs free, serving a busy channel in runs (see
    /// [`set_dispatch_budget`](Map::set_dispatch_budget)).
    ///
    /// # Errors
    ///
    /// As for [`loop_`](crate::loop_).
    pub fn run(&self, timeout: Option<Duration>, count: Option<usize>) -> Result<()> {
        crate::event_loop::loop_with_tasks(timeout, Some(self), None, count)
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        for t in self.inner.tokens() {
            if let Some(d) = self.inner.get(t) {
                match d.try_borrow() {
                    Ok(d) => list.entry(d.channel()),
                    Err(_) => list.entry(&format_args!("<running>")),
                };
            }
        }
        list.finish()
    }
}

/// A shared reference to a dispatcher in a map, returned by [`Map::add`].
///
/// Keep one to reach a channel from elsewhere: another channel's handler, a timer, the
/// code that started the loop. [`borrow_mut`](Handle::borrow_mut) also tells the loop
/// to consult the channel's predicates again on its next pass, so pushing data into
/// another channel through its handle makes it writable without further ado.
/// Dropping a handle does not close the channel; the map keeps it until it closes.
///
/// A handle belongs to the loop's thread: it is `!Send`, so another thread cannot
/// call [`borrow_mut`](Handle::borrow_mut) and push data while the loop runs (the
/// mistake Python's asyncore lets you make). Send the channel's [`id`](Handle::id)
/// instead and act inside [`LoopHandle::call`](crate::LoopHandle::call):
///
/// ```compile_fail
/// fn on_another_thread<T: asyncore::Dispatcher>(handle: asyncore::Handle<T>) {
///     std::thread::spawn(move || drop(handle)); // error: `Rc<..>` cannot be sent
/// }
/// ```
pub struct Handle<T: ?Sized> {
    rc: Rc<RefCell<T>>,
    id: ChannelId,
}

impl<T: ?Sized> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            rc: self.rc.clone(),
            id: self.id,
        }
    }
}

/// Names a channel in its map: `Copy`, `Send` and `Sync`, so another thread can hold
/// it and pass it back to the loop, where [`Map::get`] turns it into a [`Handle`].
/// Get one from [`Handle::id`] or [`Channel::id`](crate::Channel::id).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChannelId(pub(crate) Token);

impl<T: Dispatcher> Handle<T> {
    /// The channel's id in its map, for [`Map::get`]; it stays the same while the
    /// channel is in the map, and names nothing once it is closed.
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// Borrows the dispatcher.
    ///
    /// # Panics
    ///
    /// If it is mutably borrowed (its own handler is running).
    pub fn borrow(&self) -> Ref<'_, T> {
        self.rc.borrow()
    }

    /// Borrows the dispatcher mutably and queues it for the next pass.
    ///
    /// # Panics
    ///
    /// If it is borrowed already (for example, its own handler is running); see
    /// [`try_borrow_mut`](Handle::try_borrow_mut).
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        let mut d = self.rc.borrow_mut();
        d.channel_mut().touch();
        d
    }

    /// Like [`borrow_mut`](Handle::borrow_mut), but `None` instead of a panic when the
    /// dispatcher is borrowed already (a handler reaching its own handle).
    pub fn try_borrow_mut(&self) -> Option<RefMut<'_, T>> {
        let mut d = self.rc.try_borrow_mut().ok()?;
        d.channel_mut().touch();
        Some(d)
    }

    /// Closes the channel (through [`Dispatcher::close`]).
    ///
    /// # Panics
    ///
    /// If the dispatcher is borrowed already.
    pub fn close(&self) {
        self.rc.borrow_mut().close();
    }

    /// True while the channel is open and in a map.
    pub fn is_open(&self) -> bool {
        self.rc
            .try_borrow()
            .map(|d| d.channel().is_open() && d.channel().is_in_map())
            .unwrap_or(true)
    }
}

impl<T: Dispatcher> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rc.try_borrow() {
            Ok(d) => write!(f, "Handle({:?})", d.channel()),
            Err(_) => f.write_str("Handle(<borrowed>)"),
        }
    }
}

/// Puts a dispatcher in this thread's global map: `Map::global().add(d)`.
///
/// # Errors
///
/// As for [`Map::add`].
pub fn add<T: Dispatcher>(dispatcher: T) -> Result<Handle<T>> {
    Map::global().add(dispatcher)
}
