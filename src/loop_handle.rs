//! Reaching a running loop from other threads: [`LoopHandle`].
//!
//! A [`Map`], its [`Handle`](crate::Handle)s and its [`Tasks`](crate::Tasks) belong to
//! the thread that runs the loop: they are `!Send`, so the compiler refuses to move
//! them to another thread. In Python nothing stops a worker thread from calling
//! `push()` on a channel while the loop is inside `select()`; the data then sits
//! unsent until some unrelated event wakes the loop, or races with the loop's own use
//! of the channel. Here that program does not compile:
//!
//! ```compile_fail
//! let map = asyncore::Map::new().unwrap();
//! std::thread::spawn(move || map.len()); // error: `Rc<..>` cannot be sent between threads
//! ```
//!
//! Instead, take a [`LoopHandle`] with [`Map::loop_handle`] and give clones of it to
//! other threads. It is `Send + Sync + Clone` and can:
//!
//! - [`call`](LoopHandle::call) a closure inside the loop, on the loop's thread, where
//!   it can reach channels (with [`Map::get`] and a [`ChannelId`](crate::ChannelId)),
//!   add them and close them; the loop wakes up to run it at once;
//! - [`wake`](LoopHandle::wake) the loop, so that its current poll returns;
//! - [`exit`](LoopHandle::exit): make the running [`loop_`](crate::loop_) return.
//!
//! # Examples
//!
//! A worker thread hands lines to a channel of the loop:
//!
//! ```
//! use asyncore::{Channel, Cx, Dispatcher, Map, Result};
//!
//! struct Sender { out: Vec<u8> }
//! impl Dispatcher for Sender {
//!     fn readable(&mut self, _cx: &mut Cx<'_>) -> bool { false }
//!     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { !self.out.is_empty() }
//!     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let n = cx.send(&self.out)?;
//!         self.out.drain(..n);
//!         Ok(())
//!     }
//! }
//!
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let stream = std::net::TcpStream::connect(listener.local_addr()?)?;
//! let (mut peer, _) = listener.accept()?;
//!
//! let map = Map::new()?;
//! let id = map.add(Channel::from_socket(stream)?, Sender { out: Vec::new() })?.id();
//! let remote = map.loop_handle()?;
//! let worker = std::thread::spawn(move || {
//!     assert!(remote.call(move |map| {
//!         if let Some(sender) = map.get::<Sender>(id) {
//!             // `borrow_mut` also has the loop consult `writable()` again.
//!             sender.borrow_mut().out.extend_from_slice(b"hello from a worker\n");
//!         }
//!     }));
//!     let mut line = [0u8; 20];
//!     std::io::Read::read_exact(&mut peer, &mut line).unwrap();
//!     remote.exit(); // done: let the loop return
//!     line
//! });
//! asyncore::loop_(None, false, Some(&map), None)?; // runs until exit()
//! assert_eq!(&worker.join().unwrap(), b"hello from a worker\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::mem;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use mio::Waker;

use crate::core::WAKE_TOKEN;
use crate::map::Map;

type Job = Box<dyn FnOnce(&Map) + Send>;

/// A handle to a map's loop for other threads: wake it, run a closure in it, stop it.
///
/// Get one with [`Map::loop_handle`]; clone it freely and send the clones anywhere.
/// See the [module docs](self) for why `Map` and `Handle` are not `Send` and for an
/// example.
///
/// The requests are served by whatever loop runs the map: [`loop_`](crate::loop_),
/// [`loop_with_tasks`](crate::loop_with_tasks), [`Map::run`] or a single
/// [`Map::poll`] (which runs closures but leaves an exit request for the next loop).
/// While no loop runs, they wait. Each method returns `false` when the map has been
/// dropped, so nothing will ever serve the request.
#[derive(Clone)]
pub struct LoopHandle {
    remote: Arc<Remote>,
}

const _: fn() = || {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<LoopHandle>();
};

impl LoopHandle {
    /// Runs `f` inside the loop, on its thread, with the map: it may reach channels
    /// with [`Map::get`], add and close them, schedule tasks. The loop wakes and runs
    /// it in its next pass, before dispatching that pass's events. Closures run once
    /// each, in the order they were submitted (from one thread: in program order). A
    /// panic in `f` is caught and logged at error level; the loop goes on.
    ///
    /// Returns `false`, dropping `f` unrun, when the map no longer exists.
    #[must_use = "false means the loop is gone and the closure will never run"]
    pub fn call(&self, f: impl FnOnce(&Map) + Send + 'static) -> bool {
        {
            let mut jobs = self.remote.jobs();
            if self.remote.closed.load(SeqCst) {
                return false;
            }
            jobs.push(Box::new(f));
        }
        self.remote.notify();
        true
    }

    /// Wakes the loop: a poll under way returns at once, and the loop goes on with its
    /// next pass. Useful after changing state shared with the loop's predicates on a
    /// map that consults every channel each pass ([`Map::set_consult_all`]);
    /// otherwise a channel whose predicates said "no" is consulted again only once it
    /// is touched, so [`call`](LoopHandle::call) with a closure that borrows its
    /// dispatcher through [`Handle::borrow_mut`](crate::Handle::borrow_mut) is the
    /// surer way. Returns `false` when the map no longer exists.
    pub fn wake(&self) -> bool {
        if self.remote.closed.load(SeqCst) {
            return false;
        }
        self.remote.notify();
        true
    }

    /// Makes the running loop return `Ok(())` at the end of its current pass, as if
    /// its map were empty (check [`Map::is_empty`] to tell the two apart).
    ///
    /// The request is queued like a [`call`](LoopHandle::call), so every closure
    /// submitted before it has run when the loop returns. It stays until a loop over
    /// this map consumes it: if no loop is running, the next one returns after one
    /// pass. Returns `false` when the map no longer exists.
    pub fn exit(&self) -> bool {
        self.call(|map| map.core.request_exit())
    }

    /// True once the map is gone: nothing will serve requests any more.
    pub fn is_closed(&self) -> bool {
        self.remote.closed.load(SeqCst)
    }
}

impl fmt::Debug for LoopHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoopHandle")
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl Map {
    /// A [`LoopHandle`] for this map's loop, for other threads.
    ///
    /// The first call registers a waker with the map's poller; later calls share it.
    /// A map nobody asked for a handle has no waker, and its loop no cost from this
    /// feature.
    ///
    /// # Errors
    ///
    /// The OS refused to create the waker (an `eventfd` on Linux).
    pub fn loop_handle(&self) -> io::Result<LoopHandle> {
        let core = &self.core;
        let remote = match core.remote.get() {
            Some(remote) => remote.clone(),
            None => {
                let waker = Waker::new(core.registry(), WAKE_TOKEN)?;
                let remote = Arc::new(Remote {
                    waker,
                    notified: AtomicBool::new(false),
                    closed: AtomicBool::new(false),
                    jobs: Mutex::new(Vec::new()),
                });
                core.remote.get_or_init(|| remote).clone()
            }
        };
        Ok(LoopHandle { remote })
    }
}

/// What a map's loop shares with other threads.
pub(crate) struct Remote {
    waker: Waker,
    /// A wake-up is on its way and the loop has not handled it yet: further requests
    /// need not write to the waker again.
    notified: AtomicBool,
    /// The map is gone.
    closed: AtomicBool,
    jobs: Mutex<Vec<Job>>,
}

impl Remote {
    fn jobs(&self) -> MutexGuard<'_, Vec<Job>> {
        // Jobs run outside the lock, so a panic cannot poison it; be lenient anyway.
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) {
        if !self.notified.swap(true, SeqCst) {
            if let Err(e) = self.waker.wake() {
                self.notified.store(false, SeqCst);
                log::error!("cannot wake the loop: {e}");
            }
        }
    }

    /// The loop saw the waker's event: accept new wake-ups, then run what was queued.
    /// Clearing `notified` first means a request queued after the drain below wakes
    /// the loop again.
    pub(crate) fn serve(&self, map: &Map) {
        self.notified.store(false, SeqCst);
        let jobs = mem::take(&mut *self.jobs());
        if jobs.is_empty() {
            return;
        }
        for job in jobs {
            crate::panic::catch_logged("closure from LoopHandle::call", || job(map));
        }
    }

    /// The map is being dropped: refuse new requests, drop queued closures.
    pub(crate) fn close(&self) {
        let jobs = {
            let mut jobs = self.jobs();
            self.closed.store(true, SeqCst);
            mem::take(&mut *jobs)
        };
        drop(jobs);
    }
}
