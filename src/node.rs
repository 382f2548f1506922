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
use crate::dispatcher::Dispatcher;
use crate::ready::Ready;
use crate::slab::Key;

/// The loop's notes on one channel.
#[derive(Default)]
pub(crate) struct Meta {
    /// Where the channel is in its map; `None` once it has left.
    pub(crate) key: Cell<Option<Key>>,
    /// The readiness its predicates wanted when last consulted.
    pub(crate) wants: Cell<Ready>,
    pub(crate) consulted_pass: Cell<u64>,
    pub(crate) scheduled_pass: Cell<u64>,
    /// The pass it was last queued for (see `Core::enqueue`).
    pub(crate) queued_for: Cell<u64>,
    /// The channel's `epoch` whose OS object is registered with the poller.
    pub(crate) registered: Cell<u32>,
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
    fn into_any(self: Rc<Self>) -> Rc<dyn Any>;
    fn type_name(&self) -> &'static str;
}

impl<T: Dispatcher> AnyNode for Node<T> {
    #[inline]
    fn node(&self) -> &Node<dyn Dispatcher> {
        self
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
