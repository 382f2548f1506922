//! [`Handle`], [`WeakHandle`] and [`ChannelId`]: ways to reach a channel from outside
//! its own handlers.

use std::cell::{Ref, RefMut};
use std::fmt;
use std::rc::{Rc, Weak};

use crate::channel::Channel;
use crate::core::Core;
use crate::cx::Cx;
use crate::dispatcher::Dispatcher;
use crate::map::Map;
use crate::node::{Node, NodeRef};
use crate::slab::Key;

/// Names a channel in its map: `Copy`, `Send` and `Sync`, so another thread can hold
/// it and pass it back to the loop, where [`Map::get`] turns it into a [`Handle`].
/// Get one from [`Handle::id`] or [`Cx::id`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ChannelId(pub(crate) Key);

/// A shared reference to a dispatcher in a map, returned by [`Map::add`].
///
/// Keep one to reach a channel from elsewhere: another channel's handler, a timer, the
/// code that started the loop. [`borrow_mut`](Handle::borrow_mut) also tells the loop
/// to consult the channel's predicates again on its next pass, so pushing data into
/// another channel through its handle makes it writable without further ado.
/// Dropping a handle does not close the channel; the map keeps it until it closes.
///
/// # Strong or weak
///
/// A `Handle` keeps the dispatcher alive after its channel closes, for as long as the
/// handle lives; a [`WeakHandle`] does not. When two dispatchers refer to each other
/// (an FTP control channel and its data channel), at most one side may hold a strong
/// handle, or neither is ever dropped: let the longer-lived side (the control
/// channel) hold the strong one, or both hold weak ones.
///
/// A handle belongs to the loop's thread: it is `!Send`. Send the channel's
/// [`id`](Handle::id) to another thread instead and act inside
/// [`LoopHandle::call`](crate::LoopHandle::call):
///
/// ```compile_fail
/// fn on_another_thread<T: asyncore::Dispatcher>(handle: asyncore::Handle<T>) {
///     std::thread::spawn(move || drop(handle)); // error: `Rc<..>` cannot be sent
/// }
/// ```
pub struct Handle<T> {
    node: Rc<Node<T>>,
    map: Weak<Core>,
}

impl<T> Clone for Handle<T> {
    fn clone(&self) -> Self {
        Handle {
            node: self.node.clone(),
            map: self.map.clone(),
        }
    }
}

impl<T: Dispatcher> Handle<T> {
    pub(crate) fn new(node: Rc<Node<T>>, map: &Map) -> Handle<T> {
        Handle {
            node,
            map: Rc::downgrade(&map.core),
        }
    }

    pub(crate) fn node_ref(&self) -> NodeRef {
        self.node.clone()
    }

    /// The channel's id in its map, for [`Map::get`]; it names nothing once the
    /// channel has closed.
    pub fn id(&self) -> ChannelId {
        ChannelId(self.node.meta.key().unwrap_or(Key::NONE))
    }

    /// Borrows the dispatcher.
    ///
    /// # Panics
    ///
    /// If it is mutably borrowed (its own handler is running).
    pub fn borrow(&self) -> Ref<'_, T> {
        self.node.handler.borrow()
    }

    /// Borrows the dispatcher mutably and has the loop consult its predicates on the
    /// next pass.
    ///
    /// # Panics
    ///
    /// If it is borrowed already (for example, its own handler is running); see
    /// [`try_borrow_mut`](Handle::try_borrow_mut).
    pub fn borrow_mut(&self) -> RefMut<'_, T> {
        let d = self.node.handler.borrow_mut();
        self.touch();
        d
    }

    /// Like [`borrow_mut`](Handle::borrow_mut), but `None` instead of a panic when the
    /// dispatcher is borrowed already (a handler reaching its own handle).
    pub fn try_borrow_mut(&self) -> Option<RefMut<'_, T>> {
        let d = self.node.handler.try_borrow_mut().ok()?;
        self.touch();
        Some(d)
    }

    /// The channel: its flags, address and socket.
    ///
    /// # Panics
    ///
    /// If the channel's own handler is running.
    pub fn channel(&self) -> Ref<'_, Channel> {
        self.node.chan.borrow()
    }

    /// Runs `f` with the dispatcher and a context for its channel, as if it were one
    /// of its handlers: the way to call what needs the channel (a chat's
    /// [`push`](crate::Chat::push), which sends at once, or `cx.send`) from another
    /// channel's handler. Returns `None`, without calling `f`, if the channel is busy
    /// (its own handler is running) or its map is gone.
    ///
    /// Closing the channel inside `f` closes it at once.
    pub fn with<R>(&self, f: impl FnOnce(&mut T, &mut Cx<'_>) -> R) -> Option<R> {
        let core = self.map.upgrade()?;
        let map = Map { core };
        let mut chan = self.node.chan.try_borrow_mut().ok()?;
        let mut d = self.node.handler.try_borrow_mut().ok()?;
        let node: NodeRef = self.node.clone();
        let _running = self.node.meta.enter();
        let r = {
            let mut cx = Cx::new(&mut chan, &map, &node);
            f(&mut d, &mut cx)
        };
        map.core.after_outside_call(&map, &node, &mut chan, &mut *d);
        Some(r)
    }

    /// Closes the channel and removes it from its map: Python's `close()` called on
    /// another channel. Its [`on_close`](Dispatcher::on_close) runs now, or, if its
    /// own handler is running, when that returns.
    pub fn close(&self) {
        match self.map.upgrade() {
            Some(core) => {
                if let Err(e) = core.close_node(&Map { core: core.clone() }, &self.node_ref()) {
                    log::error!("closing a channel: {e}");
                }
            }
            None => {
                if let Ok(mut chan) = self.node.chan.try_borrow_mut() {
                    chan.close();
                }
            }
        }
    }

    /// True while the channel is in a map.
    pub fn is_open(&self) -> bool {
        self.node.meta.key().is_some() && self.map.strong_count() > 0
    }

    /// A weak handle: it does not keep the dispatcher alive.
    pub fn downgrade(&self) -> WeakHandle<T> {
        WeakHandle {
            node: Rc::downgrade(&self.node),
            map: self.map.clone(),
        }
    }

    fn touch(&self) {
        if let Some(core) = self.map.upgrade() {
            core.enqueue(&self.node.meta);
        }
    }
}

impl<T: Dispatcher> fmt::Debug for Handle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node.chan.try_borrow() {
            Ok(c) => write!(f, "Handle({:?})", &*c),
            Err(_) => f.write_str("Handle(<running>)"),
        }
    }
}

/// A handle that does not keep its dispatcher alive: [`Handle::downgrade`].
///
/// Hold one where a strong [`Handle`] would make a cycle (a data channel pointing
/// back at its control channel). [`upgrade`](WeakHandle::upgrade) gives a `Handle`
/// while the dispatcher still exists.
pub struct WeakHandle<T> {
    node: Weak<Node<T>>,
    map: Weak<Core>,
}

impl<T> Clone for WeakHandle<T> {
    fn clone(&self) -> Self {
        WeakHandle {
            node: self.node.clone(),
            map: self.map.clone(),
        }
    }
}

impl<T> Default for WeakHandle<T> {
    /// A weak handle to nothing: `upgrade` returns `None`.
    fn default() -> Self {
        WeakHandle {
            node: Weak::new(),
            map: Weak::new(),
        }
    }
}

impl<T: Dispatcher> WeakHandle<T> {
    /// A strong handle, if the dispatcher has not been dropped.
    pub fn upgrade(&self) -> Option<Handle<T>> {
        Some(Handle {
            node: self.node.upgrade()?,
            map: self.map.clone(),
        })
    }

    /// True while the channel exists and is in a map.
    pub fn is_open(&self) -> bool {
        self.upgrade().is_some_and(|h| h.is_open())
    }
}

impl<T: Dispatcher> fmt::Debug for WeakHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.upgrade() {
            Some(h) => write!(f, "Weak{h:?}"),
            None => f.write_str("WeakHandle(<dropped>)"),
        }
    }
}
