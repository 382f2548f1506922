//! What a slot of the map holds: a channel, its dispatcher, and the loop's
//! bookkeeping for the pair.
//!
//! The channel and the dispatcher sit in separate cells, so a handler can hold
//! `&mut` to its dispatcher while its [`Cx`](crate::Cx) holds `&mut` to its channel.
//! The bookkeeping is in `Cell`s, which the loop updates while both are borrowed.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

use crate::channel::Channel;
use crate::core::Core;
use crate::dispatcher::Dispatcher;
use crate::error::Result;
use crate::map::Map;
use crate::ready::Ready;
use crate::slab::Key;

/// `Meta::pass_note`: the pass that consulted the channel served it too.
const SERVED: u64 = 1;
/// `Meta::pass_note`: nothing has run on the channel since it was consulted.
const FRESH: u64 = 2;

/// The loop's notes on one channel.
#[derive(Default)]
pub(crate) struct Meta {
    /// Where the channel is in its map; [`Key::NONE`] once it has left (see
    /// [`Meta::key`]). A plain key with a sentinel, not an `Option`: 8 bytes less
    /// per connection.
    key: Cell<Key>,
    /// The readiness that leads to a dispatch, as its predicates said when last
    /// consulted: READ and PRIORITY if `readable`, WRITE if `writable`, HANGUP always
    /// (see `dispatch::consult`).
    pub(crate) wants: Cell<Ready>,
    /// The last pass that consulted its predicates, shifted left by two, with bit 0
    /// set once that pass has served it too and bit 1 while `wants` is the answer of
    /// the last thing run on the channel (see [`Meta::fresh_in`]). One word for
    /// three notes: a channel is consulted at least as late as it is served.
    pass_note: Cell<u64>,
    /// In the loop's queue for the next pass (see `Core::enqueue`); the pass clears
    /// it as it takes the queue.
    pub(crate) queued: Cell<bool>,
    /// Someone closed this channel while its handler ran (a `Handle`, `close_all`):
    /// applied when the handler returns.
    pub(crate) close_requested: Cell<bool>,
    /// Left its map through `del_channel`: not put back, not closed.
    pub(crate) detached: Cell<bool>,
    /// `on_close` has run (or is not to run).
    pub(crate) finished: Cell<bool>,
    /// The loop holds the channel and dispatcher borrowed to run one of its
    /// methods (see [`Meta::enter`]).
    pub(crate) running: Cell<bool>,
}

impl Meta {
    /// Where the channel is in its map; `None` once it has left.
    #[inline]
    pub(crate) fn key(&self) -> Option<Key> {
        let key = self.key.get();
        (key != Key::NONE).then_some(key)
    }

    #[inline]
    pub(crate) fn set_key(&self, key: Option<Key>) {
        self.key.set(key.unwrap_or(Key::NONE));
    }

    #[inline]
    pub(crate) fn take_key(&self) -> Option<Key> {
        let key = self.key();
        self.key.set(Key::NONE);
        key
    }

    /// True if pass `pass` has consulted the channel's predicates.
    #[inline]
    pub(crate) fn consulted_in(&self, pass: u64) -> bool {
        self.pass_note.get() >> 2 == pass
    }

    /// Notes that pass `pass` consulted the channel's predicates, nothing having
    /// run on it since.
    #[inline]
    pub(crate) fn consult_in(&self, pass: u64) {
        let note = self.pass_note.get();
        let kept = if note >> 2 == pass { note & SERVED } else { 0 };
        self.pass_note.set(pass << 2 | kept | FRESH);
    }

    /// True if pass `pass` has served the channel.
    #[inline]
    pub(crate) fn served_in(&self, pass: u64) -> bool {
        self.pass_note.get() & !FRESH == (pass << 2 | SERVED)
    }

    /// Notes that pass `pass` serves the channel; true if it had consulted it already.
    #[inline]
    pub(crate) fn serve_in(&self, pass: u64) -> bool {
        let note = self.pass_note.get();
        let consulted = note >> 2 == pass;
        let fresh = note & FRESH;
        self.pass_note.set(pass << 2 | SERVED | fresh);
        consulted
    }

    /// True if pass `pass` consulted the predicates last, nothing having run on the
    /// channel since: their answer, in `wants`, still stands.
    #[inline]
    pub(crate) fn fresh_in(&self, pass: u64) -> bool {
        self.pass_note.get() & !SERVED == (pass << 2 | FRESH)
    }

    /// Notes that a handler (or code given the dispatcher) is about to run: the
    /// predicates' last answer may change.
    #[inline]
    pub(crate) fn stale(&self) {
        self.pass_note.set(self.pass_note.get() & !FRESH);
    }

    /// Marks the node's methods as running until the guard drops: a close requested
    /// meanwhile is left to `Core::after_run`.
    pub(crate) fn enter(&self) -> Running<'_> {
        Running {
            meta: self,
            outer: self.running.replace(true),
        }
    }
}

/// See [`Meta::enter`].
pub(crate) struct Running<'a> {
    meta: &'a Meta,
    outer: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.meta.running.set(self.outer);
    }
}

/// A channel and its dispatcher, as the map stores them.
pub(crate) struct Node<T: ?Sized> {
    pub(crate) meta: Meta,
    pub(crate) chan: RefCell<Channel>,
    pub(crate) handler: RefCell<T>,
}

impl<T> Node<T> {
    pub(crate) fn new(chan: Channel, handler: T) -> Node<T> {
        Node {
            meta: Meta::default(),
            chan: RefCell::new(chan),
            handler: RefCell::new(handler),
        }
    }
}

/// A node with its dispatcher's type erased, and a way back to the type.
pub(crate) trait AnyNode {
    fn node(&self) -> &Node<dyn Dispatcher>;
    /// Serves the channel for one event (or a queued one): `Core::run_channel` at
    /// this node's own type, so the loop makes one virtual call per event and the
    /// dispatcher's predicates and handlers are static calls within it (the echo
    /// server's 64-byte round trip: 972 user instructions with them called through
    /// `dyn Dispatcher`, 879 so). `node` is the map's reference to `self`.
    #[allow(clippy::too_many_arguments)]
    fn run(
        &self,
        core: &Core,
        map: &Map,
        key: Key,
        node: &NodeRef,
        bits: Ready,
        at: (u64, u32),
        outcome: &mut Result<()>,
    );
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn type_name(&self) -> &'static str;
}

impl<T: Dispatcher> AnyNode for Node<T> {
    #[inline]
    fn node(&self) -> &Node<dyn Dispatcher> {
        self
    }

    fn run(
        &self,
        core: &Core,
        map: &Map,
        key: Key,
        node: &NodeRef,
        bits: Ready,
        at: (u64, u32),
        outcome: &mut Result<()>,
    ) {
        core.run_channel(map, key, node, self, bits, at, outcome);
    }

    fn into_any(self: Rc<Self>) -> Rc<dyn Any> {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}

/// What a slot of the map holds.
pub(crate) type NodeRef = Rc<dyn AnyNode>;

#[cfg(all(test, target_pointer_width = "64"))]
mod tests {
    /// What an idle connection costs the map, beside its handler: the node (in one
    /// allocation with `Rc`'s two counts) and a 24-byte slab slot. 104 bytes for a
    /// handler holding one `Vec` makes a 128-byte allocation with glibc's malloc.
    #[test]
    fn a_node_stays_small() {
        use std::mem::size_of;
        assert_eq!(size_of::<super::Meta>(), 24);
        assert_eq!(size_of::<crate::channel::Channel>(), 40);
        assert_eq!(size_of::<super::Node<Vec<u8>>>(), 104);
    }
}
