//! Scheduled tasks: `astm.asynclib`'s `call_later` and the `tasks` argument of its `loop`.
//!
//! A [`Tasks`] collection holds callbacks due at given instants. The loop runs the due
//! ones after each pass and cuts its poll timeout to the next deadline, so a task runs
//! promptly (on an idle machine, within a millisecond or two of its deadline) and never
//! before it. [`loop_`](crate::loop_) runs the thread's [global](Tasks::global)
//! collection, the one [`call_later`] and [`call_every`] use;
//! [`loop_with_tasks`](crate::loop_with_tasks) takes an explicit one, like astm's
//! `loop(timeout, map, tasks, count)`. A loop goes on while its map has channels *or*
//! its tasks are pending; with no channel it sleeps until the next deadline.
//!
//! | astm.asynclib                       | here                                             |
//! |-------------------------------------|--------------------------------------------------|
//! | `call_later(seconds, target)`       | [`call_later`], [`Tasks::call_later`]            |
//! | `call_later(..., _tasks=tasks)`     | [`Tasks::call_later`] on an explicit [`Tasks`]   |
//! | (none; pyftpdlib's `CallEvery`)     | [`call_every`], [`Tasks::call_every`]            |
//! | `task.call()`                       | [`TaskHandle::call_now`] (see its notes)         |
//! | `task.reset()`                      | [`TaskHandle::reset`]                            |
//! | `task.delay(seconds)`               | [`TaskHandle::delay`] (see its notes)            |
//! | `task.cancel()`                     | [`TaskHandle::cancel`]                           |
//! | `not task.cancelled`                | [`TaskHandle::is_pending`] |
//! | `task.timeout`                      | [`TaskHandle::deadline`]                         |
//! | `loop(timeout, map, tasks, count)`  | [`loop_with_tasks`](crate::loop_with_tasks)      |
//! | `call_later(...)` in a handler      | [`Cx::call_later`](crate::Cx::call_later), [`Cx::tasks`](crate::Cx::tasks) |
//!
//! Unlike astm, deadlines are on the monotonic clock ([`Instant`]), so changing the
//! wall clock moves no task; cancelling, resetting or delaying a task never scans the
//! queue (O(1) amortized, O(log n) when a deadline moves earlier); and a loop whose
//! map is empty sleeps until the next deadline instead of spinning.
//!
//! # Callbacks
//!
//! A callback is any `FnMut()` closure; it need not be `Send`, so it may capture
//! [`Handle`](crate::Handle)s (or [`WeakHandle`](crate::WeakHandle)s) and reach
//! channels. It runs on the loop's thread, between handlers, never while a handler
//! runs, so borrowing a dispatcher from a task succeeds, and so does
//! [`Handle::with`](crate::Handle::with), which gives the task a context for the
//! channel (to send on it or close it).
//!
//! From inside a handler, schedule with [`cx.call_later`](crate::Cx::call_later) or
//! [`cx.call_every`](crate::Cx::call_every): they use the running loop's tasks (those
//! given to [`loop_with_tasks`](crate::loop_with_tasks), else the global ones), so the
//! handler needs no `Tasks` of its own.
//! It may schedule, reset and cancel tasks, itself included. Tasks due at the same
//! instant run in the order their deadlines were set (by scheduling, `reset` or
//! `delay`). A task scheduled by a running task runs in a later pass, even if it is
//! due at once, so a task that keeps rescheduling itself cannot starve the channels.
//!
//! A panic in a callback is caught and logged at error level; the loop goes on. A
//! repeating task that panicked is cancelled, as a channel whose handler failed is
//! closed.
//!
//! # Examples
//!
//! An idle timeout: close a connection that sends nothing for a while. The server
//! arms each connection's countdown from its accept handler with
//! [`cx.call_later`](crate::Cx::call_later), which schedules into the running loop's
//! tasks; each read [`reset`](TaskHandle::reset)s the countdown; closing the channel
//! for any other reason cancels it, in [`on_close`](crate::Dispatcher::on_close).
//!
//! ```
//! use std::io::Read;
//! use std::time::Duration;
//! use asyncore::{
//!     Channel, Cx, Dispatcher, Domain, Map, Result, SockAddr, Socket, TaskHandle, Tasks, Type,
//! };
//!
//! struct Client {
//!     idle: Option<TaskHandle>,
//! }
//!
//! impl Dispatcher for Client {
//!     fn writable(&mut self, _cx: &mut Cx<'_>) -> bool { false }
//!
//!     fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         let data = cx.recv(4096)?;
//!         if !data.is_empty() {
//!             if let Some(idle) = &self.idle {
//!                 idle.reset(); // heard from the peer: restart the countdown
//!             }
//!         }
//!         Ok(())
//!     }
//!
//!     fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
//!         cx.close();
//!         Ok(())
//!     }
//!
//!     // Runs once the channel has left the map, whoever closed it.
//!     fn on_close(&mut self, _cx: &mut Cx<'_>) {
//!         if let Some(idle) = self.idle.take() {
//!             idle.cancel();
//!         }
//!     }
//! }
//!
//! /// Accepts one connection, to be closed after `timeout` of silence.
//! struct Server {
//!     timeout: Duration,
//! }
//!
//! impl Dispatcher for Server {
//!     fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, addr: SockAddr) -> Result<()> {
//!         let client = cx.add(Channel::accepted(sock, addr)?, Client { idle: None })?;
//!         let target = client.downgrade();
//!         let idle = cx.call_later(self.timeout, move || {
//!             // A task runs between handlers: the channel is free to use.
//!             if let Some(client) = target.upgrade() {
//!                 client.with(|c, cx| {
//!                     let _ = cx.send(b"idle timeout\n");
//!                     c.idle = None;
//!                     cx.close();
//!                 });
//!             }
//!         });
//!         client.borrow_mut().idle = Some(idle);
//!         cx.close(); // one connection is all this example serves
//!         Ok(())
//!     }
//! }
//!
//! let mut listener = Channel::new();
//! listener.create_socket(Domain::IPV4, Type::STREAM)?;
//! listener.bind("127.0.0.1:0".parse::<std::net::SocketAddr>()?)?;
//! listener.listen(5)?;
//! let addr = listener.local_addr()?.as_socket().unwrap();
//! let (map, tasks) = (Map::new()?, Tasks::new());
//! map.add(listener, Server { timeout: Duration::from_millis(20) })?;
//! let mut peer = std::net::TcpStream::connect(addr)?;
//!
//! // The connection stays silent: it is closed, and the loop ends with the map empty.
//! asyncore::loop_with_tasks(Duration::from_secs(5), Some(&map), Some(&tasks), None)?;
//! assert!(map.is_empty() && tasks.is_empty());
//! peer.set_read_timeout(Some(Duration::from_secs(5)))?;
//! let mut got = String::new();
//! peer.read_to_string(&mut got)?;
//! assert_eq!(got, "idle timeout\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::{Cell, RefCell, RefMut};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::slab::{Key, Slab};

type Callback = Box<dyn FnMut()>;

/// Stale heap entries tolerated before the heap is rebuilt without them.
const STALE_SLACK: usize = 64;

/// A collection of scheduled tasks: astm's `tasks` list.
///
/// Cloning a `Tasks` gives another reference to the same collection.
/// [`Tasks::global`] is the thread's default one, which [`loop_`](crate::loop_),
/// [`call_later`] and [`call_every`] use; create others with [`Tasks::new`] and pass
/// them to [`loop_with_tasks`](crate::loop_with_tasks). A `Tasks` belongs to its
/// thread (it is `!Send`); other threads reach a loop through a
/// [`LoopHandle`](crate::LoopHandle).
///
/// # Examples
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// use std::time::Duration;
/// use asyncore::{Map, Tasks};
///
/// let (map, tasks) = (Map::new()?, Tasks::new());
/// let said = Rc::new(RefCell::new(Vec::new()));
/// let s = said.clone();
/// tasks.call_later(Duration::from_millis(20), move || s.borrow_mut().push("world"));
/// let s = said.clone();
/// tasks.call_later(Duration::from_millis(10), move || s.borrow_mut().push("hello"));
///
/// // No channel, two tasks: the loop sleeps until each deadline, then returns.
/// asyncore::loop_with_tasks(None, Some(&map), Some(&tasks), None)?;
/// assert_eq!(*said.borrow(), ["hello", "world"]);
/// assert!(tasks.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Tasks {
    pub(crate) queue: Rc<Queue>,
}

thread_local! {
    static GLOBAL: Tasks = Tasks::new();
}

impl Default for Tasks {
    fn default() -> Self {
        Tasks::new()
    }
}

impl Tasks {
    /// A new, empty collection.
    pub fn new() -> Tasks {
        Tasks {
            queue: Rc::new(Queue {
                state: RefCell::new(State::default()),
                pending: Cell::new(0),
            }),
        }
    }

    /// This thread's default collection, the one [`loop_`](crate::loop_),
    /// [`call_later`] and [`call_every`] use (astm's module-level task list).
    pub fn global() -> Tasks {
        GLOBAL.with(Tasks::clone)
    }

    /// Runs `callback` once, `delay` from now (in the loop's first pass after the
    /// deadline). astm's `call_later(seconds, target)`.
    pub fn call_later(&self, delay: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
        let deadline = after(Instant::now(), delay);
        self.insert(deadline, delay, None, Box::new(callback))
    }

    /// Runs `callback` once, at `deadline` (in the loop's next pass if that has passed
    /// already). Its delay, for [`reset`](TaskHandle::reset), is the time that was left
    /// until `deadline` when it was scheduled.
    pub fn call_at(&self, deadline: Instant, callback: impl FnMut() + 'static) -> TaskHandle {
        let delay = deadline.saturating_duration_since(Instant::now());
        self.insert(deadline, delay, None, Box::new(callback))
    }

    /// Runs `callback` every `interval`, the first time one `interval` from now, until
    /// the task is [cancelled](TaskHandle::cancel). (astm has no repeating calls;
    /// pyftpdlib, where its `call_later` comes from, calls this `CallEvery`.)
    ///
    /// Runs keep to the original rhythm (the `n`th is due `n × interval` after the
    /// start) as long as the loop keeps up; a run that comes more than an interval
    /// late skips the runs it missed instead of firing them in a burst. With a zero
    /// `interval` the callback runs once per pass, and the loop never sleeps.
    pub fn call_every(&self, interval: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
        let deadline = after(Instant::now(), interval);
        self.insert(deadline, interval, Some(interval), Box::new(callback))
    }

    fn insert(
        &self,
        deadline: Instant,
        delay: Duration,
        interval: Option<Duration>,
        callback: Callback,
    ) -> TaskHandle {
        let key = self
            .queue
            .state_mut()
            .insert(deadline, delay, interval, callback);
        TaskHandle {
            queue: Rc::downgrade(&self.queue),
            key,
        }
    }

    /// How many tasks are pending: scheduled, and neither cancelled nor (one-shot
    /// tasks) started.
    pub fn len(&self) -> usize {
        self.queue.pending.get()
    }

    /// True when no task is pending.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// When the earliest pending task is due, if any is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.next_deadline()
    }

    /// Runs the tasks that are due now, in deadline order, and returns how many ran.
    /// The loop does this after every pass; call it yourself only when you drive a map
    /// one pass at a time with [`Map::poll`](crate::Map::poll).
    pub fn run_due(&self) -> usize {
        self.queue.run_due(Instant::now())
    }

    /// Cancels every pending task.
    pub fn clear(&self) {
        let dropped: Vec<Task> = {
            let mut state = self.queue.state_mut();
            let state = &mut *state;
            state.heap.clear();
            state.stale = 0;
            state.pending = 0;
            state.tasks.take_all()
        };
        // Dropped with no borrow held: a callback's captures may use the tasks.
        drop(dropped);
    }
}

impl fmt::Debug for Tasks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tasks")
            .field("pending", &self.len())
            .field("next_deadline", &self.next_deadline())
            .finish()
    }
}

/// Schedules `callback` on this thread's [global tasks](Tasks::global), `delay` from
/// now: astm's `call_later(seconds, target)`. [`loop_`](crate::loop_) runs it.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// let start = Instant::now();
/// let task = asyncore::call_later(Duration::from_millis(10), move || {
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// assert!(task.is_pending());
/// asyncore::loop_(None, false, None, None)?; // no channel: returns once it has run
/// assert!(!task.is_pending());
/// # Ok::<(), asyncore::Error>(())
/// ```
pub fn call_later(delay: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
    Tasks::global().call_later(delay, callback)
}

/// Schedules `callback` on this thread's [global tasks](Tasks::global) every
/// `interval`, until cancelled. See [`Tasks::call_every`].
pub fn call_every(interval: Duration, callback: impl FnMut() + 'static) -> TaskHandle {
    Tasks::global().call_every(interval, callback)
}

/// A scheduled task: astm's delayed call, returned by [`call_later`] and its relatives.
///
/// Cloning gives another handle to the same task; dropping one leaves the task
/// scheduled. Once a one-shot task has started to run, or any task has been
/// cancelled, its handles are spent: [`is_pending`](TaskHandle::is_pending) is false,
/// and the other methods do nothing and return `false` (astm raises instead). A
/// handle does not keep its [`Tasks`] alive.
#[derive(Clone)]
pub struct TaskHandle {
    queue: Weak<Queue>,
    key: Key,
}

impl TaskHandle {
    /// True while the task is scheduled: until a one-shot task starts to run, and
    /// until any task is cancelled. astm's and Twisted's `active()`.
    #[doc(alias = "active")]
    pub fn is_pending(&self) -> bool {
        self.with(|_| ()).is_some()
    }

    /// When the task is next due, while it is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.with(|task| task.deadline)
    }

    /// Unschedules the task and drops its callback (at once, or, when the task
    /// cancels itself, once it returns). Returns whether the task was pending.
    /// astm's `cancel()`. O(1) amortized.
    pub fn cancel(&self) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        let task = queue.state_mut().remove(self.key, true);
        // Dropped with no borrow held: the callback's captures may use the tasks.
        task.is_some()
    }

    /// Restarts the countdown: the task is due its delay (for a repeating task, its
    /// interval) from now. Returns whether it was pending. astm's `reset()`. O(1) when
    /// that moves the deadline later (the usual case), O(log n) when earlier.
    pub fn reset(&self) -> bool {
        let now = Instant::now();
        self.reschedule(|task| after(now, task.delay))
    }

    /// Pushes the deadline `by` later. Returns whether the task was pending. O(1).
    ///
    /// # Notes
    ///
    /// astm's `delay(seconds)` (inherited from pyftpdlib) makes the task due
    /// `seconds` from now and makes `seconds` its delay for later resets. Here, to
    /// wait a different time from now, schedule a new task and cancel this one.
    pub fn delay(&self, by: Duration) -> bool {
        self.reschedule(|task| after(task.deadline, by))
    }

    /// Runs the callback now, in the caller, and returns whether it ran: astm's
    /// `call()`. A one-shot task is spent afterwards; a repeating one is next due one
    /// interval from now. A panic in the callback is caught and logged, as in the loop.
    ///
    /// # Notes
    ///
    /// astm's `call()` leaves the task scheduled, so it runs again at its deadline;
    /// here a one-shot task runs once. To run it now *and* at its deadline, schedule
    /// the work twice.
    ///
    /// The callback runs inside the caller, so whatever the caller has borrowed, the
    /// callback cannot borrow: a handler calling `call_now` on a task that closes that
    /// handler's own channel would make the task fail. From a handler, make the task
    /// due instead and let the loop run it after the handler returns:
    /// [`cx.call_later(Duration::ZERO, ..)`](crate::Cx::call_later). A running task
    /// cannot call itself: that returns `false`.
    pub fn call_now(&self) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        let now = Instant::now();
        let taken = {
            let mut state = queue.state_mut();
            let Some(task) = state.tasks.get_mut(self.key) else {
                return false;
            };
            let Some(callback) = task.callback.take() else {
                return false; // running
            };
            match task.interval {
                Some(interval) => {
                    state.set_deadline(self.key, after(now, interval));
                    (callback, true)
                }
                None => {
                    state.remove(self.key, true);
                    (callback, false)
                }
            }
        };
        let (mut callback, repeating) = taken;
        let ok = invoke(&mut callback);
        if repeating {
            queue.restore(self.key, callback, ok);
        }
        true
    }

    fn reschedule(&self, deadline: impl FnOnce(&Task) -> Instant) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        let mut state = queue.state_mut();
        let Some(task) = state.tasks.get(self.key) else {
            return false;
        };
        let next = deadline(task);
        state.set_deadline(self.key, next);
        true
    }

    fn with<R>(&self, f: impl FnOnce(&Task) -> R) -> Option<R> {
        let queue = self.queue.upgrade()?;
        let state = queue.state.borrow();
        state.tasks.get(self.key).map(f)
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("pending", &self.is_pending())
            .field("deadline", &self.deadline())
            .finish()
    }
}

/// `start + delay`, or a deadline no task reaches when that overflows `Instant`.
fn after(start: Instant, delay: Duration) -> Instant {
    start
        .checked_add(delay)
        .or_else(|| start.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(start)
}

/// Runs a callback, catching and logging a panic. Returns false if it panicked.
fn invoke(callback: &mut Callback) -> bool {
    crate::panic::catch_logged("scheduled task", callback)
}

/// The collection behind [`Tasks`]: a slab of tasks and a min-heap of deadlines.
///
/// The heap is lazy. Each pending task has one *live* entry in it, whose deadline is
/// never later than the task's. Moving a deadline later only updates the task: when
/// the old entry reaches the top, it is put back at the new deadline. Moving it
/// earlier pushes a new entry and leaves the old one stale, as cancelling does. Stale
/// entries are dropped when they reach the top, and the heap is rebuilt without them
/// when they outnumber the live ones, so it never holds more than about twice as many
/// entries as there are pending tasks.
pub(crate) struct Queue {
    state: RefCell<State>,
    /// `state.pending`, readable without a borrow: the loop checks it every pass.
    pending: Cell<usize>,
}

/// A mutable borrow of a queue's state that keeps `Queue::pending` in step.
struct StateMut<'a> {
    state: RefMut<'a, State>,
    pending: &'a Cell<usize>,
}

impl Deref for StateMut<'_> {
    type Target = State;
    fn deref(&self) -> &State {
        &self.state
    }
}

impl DerefMut for StateMut<'_> {
    fn deref_mut(&mut self) -> &mut State {
        &mut self.state
    }
}

impl Drop for StateMut<'_> {
    fn drop(&mut self) {
        self.pending.set(self.state.pending);
    }
}

#[derive(Default)]
struct State {
    heap: BinaryHeap<Reverse<Entry>>,
    tasks: Slab<Task>,
    pending: usize,
    next_seq: u64,
    stale: usize,
}

/// A heap entry for the task `key` names, ordered by deadline, then by scheduling
/// order. No two entries have the same `seq`, so the two decide the order.
#[derive(Clone, Copy)]
struct Entry {
    deadline: Instant,
    seq: u64,
    key: Key,
}

impl Entry {
    fn order(&self) -> (Instant, u64) {
        (self.deadline, self.seq)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Entry) -> std::cmp::Ordering {
        self.order().cmp(&other.order())
    }
}

struct Task {
    deadline: Instant,
    /// When `deadline` was set, in scheduling order: breaks ties between equal ones.
    seq: u64,
    /// The `seq` and deadline of this task's live heap entry.
    entry_seq: u64,
    entry_deadline: Instant,
    /// What `reset` restarts: the original delay, or the interval.
    delay: Duration,
    interval: Option<Duration>,
    /// `None` while the callback runs.
    callback: Option<Callback>,
}

impl State {
    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    fn insert(
        &mut self,
        deadline: Instant,
        delay: Duration,
        interval: Option<Duration>,
        callback: Callback,
    ) -> Key {
        let seq = self.next_seq();
        let key = self.tasks.insert(Task {
            deadline,
            seq,
            entry_seq: seq,
            entry_deadline: deadline,
            delay,
            interval,
            callback: Some(callback),
        });
        self.heap.push(Reverse(Entry { deadline, seq, key }));
        self.pending += 1;
        key
    }

    /// Takes the task out of the slab. `in_heap`: its live entry is still in the heap
    /// (and becomes stale).
    fn remove(&mut self, key: Key, in_heap: bool) -> Option<Task> {
        let task = self.tasks.remove(key)?;
        self.pending -= 1;
        if in_heap {
            self.stale += 1;
            self.compact();
        }
        Some(task)
    }

    /// Moves a pending task's deadline (see [`Queue`] for the lazy heap).
    fn set_deadline(&mut self, key: Key, deadline: Instant) {
        let seq = self.next_seq();
        let task = self.tasks.get_mut(key).expect("a pending task");
        task.deadline = deadline;
        task.seq = seq;
        if deadline < task.entry_deadline {
            task.entry_seq = seq;
            task.entry_deadline = deadline;
            self.heap.push(Reverse(Entry { deadline, seq, key }));
            self.stale += 1;
            self.compact();
        }
    }

    /// Gives a task whose live entry was popped a new one.
    fn rearm(&mut self, key: Key, deadline: Instant) {
        let seq = self.next_seq();
        let task = self.tasks.get_mut(key).expect("a pending task");
        task.deadline = deadline;
        task.seq = seq;
        task.entry_seq = seq;
        task.entry_deadline = deadline;
        self.heap.push(Reverse(Entry { deadline, seq, key }));
    }

    /// Rebuilds the heap without stale entries once they outnumber the live ones.
    fn compact(&mut self) {
        if self.stale > STALE_SLACK && self.stale > self.heap.len() / 2 {
            let tasks = &self.tasks;
            self.heap.retain(|Reverse(entry)| is_live(tasks, entry));
            self.stale = 0;
        }
    }

    /// The earliest pending task's entry, once the top of the heap has been made
    /// exact: stale entries dropped, entries of postponed tasks moved back.
    fn top(&mut self) -> Option<Entry> {
        loop {
            let mut top = self.heap.peek_mut()?;
            let entry = top.0;
            match self.tasks.get_mut(entry.key) {
                Some(task) if task.entry_seq == entry.seq => {
                    if task.seq == entry.seq {
                        return Some(entry);
                    }
                    // Postponed since this entry was pushed: move it to the new place.
                    task.entry_seq = task.seq;
                    task.entry_deadline = task.deadline;
                    *top = Reverse(Entry {
                        deadline: task.deadline,
                        seq: task.seq,
                        ..entry
                    });
                }
                _ => {
                    PeekMut::pop(top);
                    self.stale = self.stale.saturating_sub(1);
                }
            }
        }
    }
}

fn is_live(tasks: &Slab<Task>, entry: &Entry) -> bool {
    tasks
        .get(entry.key)
        .is_some_and(|task| task.entry_seq == entry.seq)
}

impl Queue {
    fn state_mut(&self) -> StateMut<'_> {
        StateMut {
            state: self.state.borrow_mut(),
            pending: &self.pending,
        }
    }

    /// True when no task is pending; the loop's only per-pass cost when none is.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.get() == 0
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        if self.is_empty() {
            return None;
        }
        self.state_mut().top().map(|entry| entry.deadline)
    }

    /// Runs every task due at `now` that was scheduled before this call began.
    pub(crate) fn run_due(&self, now: Instant) -> usize {
        if self.is_empty() {
            return 0;
        }
        let cutoff = self.state.borrow().next_seq;
        // Entries due but not to run in this call; allocates only if there are any.
        let mut deferred = Vec::new();
        let mut ran = 0;
        loop {
            let (key, mut callback, repeating) = {
                let mut state = self.state_mut();
                let Some(entry) = state.top() else { break };
                if entry.deadline > now {
                    break;
                }
                state.heap.pop();
                let key = entry.key;
                let task = state
                    .tasks
                    .get_mut(key)
                    .expect("top() returns a pending task");
                if entry.seq >= cutoff || task.callback.is_none() {
                    // Scheduled by a task in this call, or running in an outer call
                    // (a loop nested inside a task): a later pass runs it.
                    deferred.push(entry);
                    continue;
                }
                let callback = task.callback.take().expect("checked above");
                match task.interval {
                    Some(interval) => {
                        let mut next = after(task.deadline, interval);
                        if next <= now {
                            next = after(now, interval); // fell behind: skip missed runs
                        }
                        state.rearm(key, next);
                        (key, callback, true)
                    }
                    None => {
                        state.remove(key, false);
                        (key, callback, false)
                    }
                }
            };
            let ok = invoke(&mut callback);
            ran += 1;
            if repeating {
                self.restore(key, callback, ok);
            }
            // A one-shot callback is dropped here, with no borrow held.
        }
        if !deferred.is_empty() {
            let mut state = self.state_mut();
            state.heap.extend(deferred.into_iter().map(Reverse));
        }
        ran
    }

    /// Puts a repeating task's callback back after it ran, unless the task was
    /// cancelled meanwhile; cancels it if the callback panicked.
    fn restore(&self, key: Key, callback: Callback, ok: bool) {
        let leftover = {
            let mut state = self.state_mut();
            match state.tasks.get_mut(key) {
                Some(task) if ok => {
                    task.callback = Some(callback);
                    None
                }
                Some(_) => {
                    state.remove(key, true);
                    Some(callback)
                }
                None => Some(callback),
            }
        };
        drop(leftover);
    }
}
