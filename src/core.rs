//! [`Core`]: the state of one map and its loop, with the operations on it.
//!
//! One type owns everything the loop keeps: the poller, the slab of nodes (channel
//! plus dispatcher plus the loop's notes on them), the queue of channels to consult,
//! the pass counter and the settings. [`Map`] is a shared reference to it; the pass
//! itself is in `pass.rs`, the serving of one channel in `dispatch.rs`.
//!
//! # Changing the map while handlers run
//!
//! The loop clones a node's `Rc` out of its slot before running any of its handlers,
//! and holds no borrow of the slab while they run, so a handler may add channels and
//! close any channel. That clone (an increment and a decrement, under 10 of the echo
//! server's 879 user instructions per round trip) is the price of doing this
//! without `unsafe`: a borrow of the slab cannot outlive handlers that insert into
//! it or remove from it. A close requested while the channel's own handler runs is
//! applied when the handler returns (calloop's `PostAction`): [`Core::after_run`]
//! looks at the channel once, and closes it, puts it back under a new key (Python's
//! reconnect idiom) or leaves it be.

use std::cell::{Cell, OnceCell, RefCell};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use crate::channel::Channel;
use crate::cx::Cx;
use crate::dispatcher::Dispatcher;
use crate::error::Error;
use crate::loop_handle::Remote;
use crate::map::Map;
use crate::node::{Meta, NodeRef};
use crate::ready::Ready;
use crate::slab::{Key, Slab};
use crate::tasks::Tasks;

/// Token reserved for the loop's own use (cross-thread wake-ups); no slab key is
/// ever all ones.
pub(crate) const WAKE_TOKEN: Token = Token(usize::MAX);

/// Scratch space a pass reuses from pass to pass.
#[derive(Default)]
pub(crate) struct Scratch {
    pub(crate) queue: Vec<Key>,
    pub(crate) ready: Vec<(Key, Ready)>,
}

pub(crate) struct Core {
    registry: Registry,
    pub(crate) poll: RefCell<Poll>,
    pub(crate) events: RefCell<Events>,
    nodes: RefCell<Slab<NodeRef>>,
    /// Channels whose predicates the next pass must consult.
    pub(crate) queue: RefCell<Vec<Key>>,
    pub(crate) pass: Cell<u64>,
    pub(crate) consult_all: Cell<bool>,
    /// How many times a pass may serve one channel (`Map::set_dispatch_budget`).
    pub(crate) budget: Cell<u32>,
    pub(crate) scratch: RefCell<Scratch>,
    /// Readiness that arrived for a channel whose handler was running (a nested
    /// pass): merged into the next pass instead of being lost.
    pub(crate) deferred: RefCell<Vec<(Key, Ready)>>,
    /// What other threads share with this map's loop; made by the first
    /// `Map::loop_handle` (a poller takes only one waker).
    pub(crate) remote: OnceCell<Arc<Remote>>,
    /// `Cx::exit` or `LoopHandle::exit`: the running loop returns after this pass.
    exit: Cell<bool>,
    /// The tasks of the loop running this map, for `Cx::tasks`.
    tasks: RefCell<Option<Tasks>>,
    /// Channels closed while someone outside the loop had their dispatcher or channel
    /// borrowed: the next pass finishes closing them.
    closing: RefCell<Vec<NodeRef>>,
    /// Listeners whose `accept` ran out of descriptors, and when to offer them accept
    /// events again (sooner if a channel of the map closes).
    paused: RefCell<Vec<(Key, Instant)>>,
    /// A channel left the map since the paused listeners were last looked at.
    freed: Cell<bool>,
}

/// How long a listener that ran out of descriptors waits before it tries again, unless
/// a channel of its map closes first.
pub(crate) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

impl Drop for Core {
    fn drop(&mut self) {
        if let Some(remote) = self.remote.get() {
            remote.close();
        }
    }
}

impl Core {
    pub(crate) fn new() -> io::Result<Core> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        Ok(Core {
            registry,
            poll: RefCell::new(poll),
            events: RefCell::new(Events::with_capacity(1024)),
            nodes: RefCell::new(Slab::default()),
            queue: RefCell::new(Vec::new()),
            pass: Cell::new(0),
            consult_all: Cell::new(false),
            budget: Cell::new(1),
            scratch: RefCell::new(Scratch::default()),
            deferred: RefCell::new(Vec::new()),
            remote: OnceCell::new(),
            exit: Cell::new(false),
            tasks: RefCell::new(None),
            closing: RefCell::new(Vec::new()),
            paused: RefCell::new(Vec::new()),
            freed: Cell::new(false),
        })
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The node behind `key`, if that key is still current.
    #[inline]
    pub(crate) fn get(&self, key: Key) -> Option<NodeRef> {
        self.nodes.borrow().get(key).cloned()
    }

    /// Every key in the map, in slot order.
    pub(crate) fn keys(&self) -> Vec<Key> {
        self.nodes.borrow().keys().collect()
    }

    /// Every node in the map, in slot order.
    pub(crate) fn nodes(&self) -> Vec<NodeRef> {
        self.nodes.borrow().values().cloned().collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.borrow().len()
    }

    /// Puts `node` (whose channel is `chan`, borrowed by the caller) in the slab and
    /// registers its socket with the poller, once, for every kind of readiness. A
    /// regular file is not registered (epoll refuses them): it is always ready.
    pub(crate) fn attach(&self, node: &NodeRef, chan: &mut Channel) -> io::Result<Key> {
        let Some(io) = chan.io() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "channel has no socket",
            ));
        };
        let fd = io.fd();
        let key = self.nodes.borrow_mut().insert(node.clone());
        if chan.is_always_ready() {
            chan.ready = Ready::READ | Ready::WRITE;
        } else {
            let mut interest = Interest::READABLE | Interest::WRITABLE;
            #[cfg(any(target_os = "linux", target_os = "android"))]
            {
                interest |= Interest::PRIORITY;
            }
            if let Err(e) = self
                .registry
                .register(&mut SourceFd(&fd), Token(key.0), interest)
            {
                drop(self.nodes.borrow_mut().remove(key));
                return Err(e);
            }
            chan.ready = Ready::EMPTY;
        }
        let meta = &node.node().meta;
        meta.set_key(Some(key));
        chan.registered = chan.epoch;
        meta.close_requested.set(false);
        meta.finished.set(false);
        // Queued under its new key even if its old key was queued for the next pass.
        meta.queued.set(false);
        self.enqueue(meta);
        Ok(key)
    }

    /// Empties the slot of `key`, if current; the node comes back to be dropped by
    /// the caller with no borrow held (its `Drop` may touch the map).
    pub(crate) fn remove(&self, key: Key) -> Option<NodeRef> {
        let node = self.nodes.borrow_mut().remove(key)?;
        self.freed.set(true);
        let meta = &node.node().meta;
        if meta.key() == Some(key) {
            meta.set_key(None);
        }
        Some(node)
    }

    /// Queues a channel for the next pass unless it is queued already. A pass takes
    /// the whole queue at its start and clears the `queued` notes of what it took
    /// before it runs any handler (`Core::run_pass`).
    #[inline]
    pub(crate) fn enqueue(&self, meta: &Meta) {
        let Some(key) = meta.key() else {
            return;
        };
        // Whatever queues a channel (a touch, code given its dispatcher, a new
        // socket) may change what its predicates say: they are asked again.
        meta.stale();
        if !meta.queued.replace(true) {
            self.queue.borrow_mut().push(key);
        }
    }

    /// The tasks of the loop running this map, if a loop with tasks runs it.
    pub(crate) fn running_tasks(&self) -> Option<Tasks> {
        self.tasks.borrow().clone()
    }

    /// Makes `tasks` the running loop's tasks; returns the ones before (a nested loop
    /// puts them back when it returns).
    pub(crate) fn set_running_tasks(&self, tasks: Option<Tasks>) -> Option<Tasks> {
        self.tasks.replace(tasks)
    }

    pub(crate) fn request_exit(&self) {
        self.exit.set(true);
    }

    /// Consumes an exit request.
    pub(crate) fn take_exit(&self) -> bool {
        self.exit.replace(false)
    }

    /// Closes a channel from outside its own handlers (a `Handle`, `close_all`,
    /// `Map::close_channel`). If its handler is running, the loop finishes the job
    /// when the handler returns.
    ///
    /// # Errors
    ///
    /// A panic in the dispatcher's `on_close`, or in its `Drop` if the map held the
    /// last reference.
    pub(crate) fn close_node(&self, map: &Map, node: &NodeRef) -> Result<(), Error> {
        let n = node.node();
        let removed = n.meta.key().and_then(|key| self.remove(key));
        let r = if n.meta.running.get() {
            // One of its methods is running: `after_run` finishes the close when it
            // returns.
            n.meta.close_requested.set(true);
            Ok(())
        } else {
            match (n.chan.try_borrow_mut(), n.handler.try_borrow_mut()) {
                (Ok(mut chan), Ok(mut d)) => {
                    chan.close();
                    let _running = n.meta.enter();
                    self.finish(map, node, &mut chan, &mut *d)
                }
                (chan, _) => {
                    // Code outside the loop holds a borrow of it: the socket closes
                    // now if it can, `on_close` runs when the loop next runs.
                    match chan {
                        Ok(mut chan) => chan.close(),
                        Err(_) => n.meta.close_requested.set(true),
                    }
                    self.closing.borrow_mut().push(node.clone());
                    Ok(())
                }
            }
        };
        r.and(crate::panic::catch("dropping a closed dispatcher", || {
            drop(removed)
        }))
    }

    /// True if `key` is a listener whose accepting is paused.
    pub(crate) fn is_paused(&self, key: Key) -> bool {
        let paused = self.paused.borrow();
        !paused.is_empty() && paused.iter().any(|&(k, _)| k == key)
    }

    /// When the first paused listener is due to try again, if any is paused.
    pub(crate) fn next_resume(&self) -> Option<Instant> {
        self.paused.borrow().iter().map(|&(_, at)| at).min()
    }

    /// Offers accept events again to the paused listeners whose pause is over, or to
    /// all of them once a channel of the map has closed (a descriptor is free).
    #[inline]
    pub(crate) fn resume_accepts(&self) {
        let freed = self.freed.replace(false);
        if self.paused.borrow().is_empty() {
            return;
        }
        self.resume_accepts_now(freed);
    }

    #[inline(never)]
    fn resume_accepts_now(&self, freed: bool) {
        let now = Instant::now();
        let due: Vec<Key> = {
            let mut paused = self.paused.borrow_mut();
            let mut due = Vec::new();
            paused.retain(|&(key, at)| {
                let go = freed || at <= now;
                if go {
                    due.push(key);
                }
                !go
            });
            due
        };
        for key in due {
            let Some(node) = self.get(key) else { continue };
            let n = node.node();
            match n.chan.try_borrow_mut() {
                Ok(mut chan) => {
                    chan.ready |= Ready::READ;
                    self.enqueue(&n.meta);
                }
                Err(_) => self.paused.borrow_mut().push((key, now)),
            }
        }
    }

    /// Finishes the closes that had to wait for a borrow to end (see `close_node`).
    #[inline]
    pub(crate) fn finish_closing(&self, map: &Map) {
        if self.closing.borrow().is_empty() {
            return;
        }
        self.finish_closing_now(map);
    }

    #[inline(never)]
    fn finish_closing_now(&self, map: &Map) {
        let waiting = std::mem::take(&mut *self.closing.borrow_mut());
        for node in waiting {
            let n = node.node();
            match (n.chan.try_borrow_mut(), n.handler.try_borrow_mut()) {
                (Ok(mut chan), Ok(mut d)) => {
                    let _running = n.meta.enter();
                    if n.meta.close_requested.take() {
                        chan.close();
                    }
                    if n.meta.key().is_none() && !n.meta.detached.get() {
                        self.finish_logged(map, &node, &mut chan, &mut *d);
                    }
                }
                _ => self.closing.borrow_mut().push(node.clone()),
            }
            crate::pass::release(node);
        }
    }

    /// Runs `on_close`, once, for a channel that has left its map.
    fn finish(
        &self,
        map: &Map,
        node: &NodeRef,
        chan: &mut Channel,
        d: &mut dyn Dispatcher,
    ) -> Result<(), Error> {
        let meta = &node.node().meta;
        if meta.finished.replace(true) {
            return Ok(());
        }
        let mut cx = Cx::new(chan, map, node);
        let r = crate::panic::catch("on_close", || d.on_close(&mut cx));
        if cx.is_open() {
            // A socket given in `on_close` would belong to no map: reconnect in
            // `handle_close` (or `handle_error`) instead.
            cx.log_info(
                "on_close gave the closed channel a new socket; closing it",
                log::Level::Warn,
            );
            cx.channel_mut().close();
        }
        r
    }

    fn finish_logged(&self, map: &Map, node: &NodeRef, chan: &mut Channel, d: &mut dyn Dispatcher) {
        if let Err(e) = self.finish(map, node, chan, d) {
            log::error!("{}: {e}", node.type_name());
        }
    }

    /// After a handler of `node` returned: apply what it asked for. A channel that
    /// closed leaves the map (and `on_close` runs); one closed and given a new socket
    /// (or given a new socket in place of its old one) comes back under a new key;
    /// one that someone else closed meanwhile is closed now.
    ///
    /// `meta` is the node's (looked up once by the caller: reaching it through `node`
    /// is a virtual call).
    #[inline]
    pub(crate) fn after_run(
        &self,
        map: &Map,
        node: &NodeRef,
        meta: &Meta,
        chan: &mut Channel,
        d: &mut dyn Dispatcher,
    ) {
        // The common case, inline: nothing was asked for.
        if !meta.close_requested.get()
            && !meta.detached.get()
            && !chan.accept_paused
            && chan.epoch == chan.registered
            && chan.is_open()
            && meta.key().is_some()
        {
            return;
        }
        self.apply_after_run(map, node, chan, d);
    }

    #[inline(never)]
    fn apply_after_run(
        &self,
        map: &Map,
        node: &NodeRef,
        chan: &mut Channel,
        d: &mut dyn Dispatcher,
    ) {
        let meta = &node.node().meta;
        if meta.detached.get() {
            return;
        }
        // A close requested from elsewhere applies to the socket it was meant for,
        // not to one the handler gave the channel afterwards (a reconnect).
        if meta.close_requested.take() && chan.epoch == chan.registered {
            chan.close();
        }
        if std::mem::take(&mut chan.accept_paused) {
            if let Some(key) = meta.key() {
                let mut paused = self.paused.borrow_mut();
                if !paused.iter().any(|&(k, _)| k == key) {
                    paused.push((key, Instant::now() + ACCEPT_BACKOFF));
                }
            }
        }
        let mut removed = None;
        match meta.key() {
            Some(key) if !chan.is_open() || chan.epoch != chan.registered => {
                removed = self.remove(key);
            }
            Some(_) => return,
            None => {}
        }
        if chan.is_open() {
            if let Err(e) = self.attach(node, chan) {
                log::error!(
                    "{}: cannot put the channel back in its map: {e}",
                    node.type_name()
                );
                chan.close();
                self.finish_logged(map, node, chan, d);
            }
        } else {
            self.finish_logged(map, node, chan, d);
        }
        // The slab's reference to the node: the caller holds another, so this frees
        // nothing.
        drop(removed);
    }

    /// After [`Handle::with`](crate::Handle::with): as after a handler, and the
    /// channel is consulted on the next pass.
    pub(crate) fn after_outside_call(
        &self,
        map: &Map,
        node: &NodeRef,
        chan: &mut Channel,
        d: &mut dyn Dispatcher,
    ) {
        let meta = &node.node().meta;
        self.after_run(map, node, meta, chan, d);
        self.enqueue(meta);
    }
}
