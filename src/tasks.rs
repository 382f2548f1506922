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
//! | `not task.cancelled`                | [`TaskHandle::is_pending`], [`TaskHandle::active`] |
//! | `task.timeout`                      | [`TaskHandle::deadline`]                         |
//! | `loop(timeout, map, tasks, count)`  | [`loop_with_tasks`](crate::loop_with_tasks)      |
//!
//! Unlike astm, deadlines are on the monotonic clock ([`Instant`]), so changing the
//! wall clock moves no task; cancelling, resetting or delaying a task never scans the
//! queue (O(1) amortized, O(log n) when a deadline moves earlier); and a loop whose
//! map is empty sleeps until the next deadline instead of spinning.
//!
//! # Callbacks
//!
//! A callback is any `FnMut()` closure; it need not be `Send`, so it may capture
//! [`Handle`](crate::Handle)s and reach channels. It runs on the loop's thread, between
//! handlers, never while a handler runs, so borrowing a channel from a task succeeds.
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
//! An idle timeout: close a connection that sends nothing for a while. Each read
//! [`reset`](TaskHandle::reset)s the countdown; closing the channel for any other
//! reason cancels it.
//!
//! ```
//! use std::time::Duration;
//! use asyncore::{Channel, Dispatcher, Handle, Map, Result, TaskHandle, Tasks};
//!
//! struct Client {
//!     chan: Channel,
//!     idle: Option<TaskHandle>,
//! }
//!
//! impl Dispatcher for Client {
//!     fn channel(&self) -> &Channel { &self.chan }
//!     fn channel_mut(&mut self) -> &mut Channel { &mut self.chan }
//!     fn writable(&mut self) -> bool { false }
//!
//!     fn handle_read(&mut self) -> Result<()> {
//!         let data = self.chan.recv(4096)?;
//!         if !data.is_empty() {
//!             if let Some(idle) = &self.idle {
//!                 idle.reset(); // heard from the peer: restart the countdown
//!             }
//!         }
//!         Ok(())
//!     }
//!
//!     fn handle_close(&mut self) -> Result<()> {
//!         if let Some(idle) = self.idle.take() {
//!             idle.cancel();
//!         }
//!         self.chan.close();
//!         Ok(())
//!     }
//! }
//!
//! /// Puts a connection in `map`, to be closed after `timeout` of silence.
//! fn watch(map: &Map, tasks: &Tasks, chan: Channel, timeout: Duration) -> Result<Handle<Client>> {
//!     let client = map.add(Client { chan, idle: None })?;
//!     let target = client.clone();
//!     let idle = tasks.call_later(timeout, move || {
//!         if let Some(mut c) = target.try_borrow_mut() {
//!             let _ = c.chan.send(b"idle timeout\n");
//!             c.idle = None;
//!             c.chan.close();
//!         }
//!     });
//!     client.borrow_mut().idle = Some(idle);
//!     Ok(client)
//! }
//!
//! // A connection that stays silent is closed, and the loop ends with the map empty.
//! let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
//! let peer = std::net::TcpStream::connect(listener.local_addr()?)?;
//! let (sock, _) = listener.accept()?;
//! let (map, tasks) = (Map::new()?, Tasks::new());
//! let client = watch(&map, &tasks, Channel::from_socket(sock)?, Duration::from_millis(20))?;
//! asyncore::loop_with_tasks(Some(Duration::from_secs(5)), Some(&map), Some(&tasks), None)?;
//! assert!(!client.is_open());
//! # drop(peer);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::cell::{Cell, RefCell, RefMut};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use crate::panic::message as panic_message;

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
        let (index, generation) = self
            .queue
            .state_mut()
            .insert(deadline, delay, interval, callback);
        TaskHandle {
            queue: Rc::downgrade(&self.queue),
            index,
            generation,
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
            let mut dropped = Vec::new();
            for (index, slot) in state.slots.iter_mut().enumerate() {
                if let Some(task) = slot.task.take() {
                    slot.generation = slot.generation.wrapping_add(1);
                    state.free.push(index as u32);
                    dropped.push(task);
                }
            }
            dropped
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
    index: u32,
    generation: u32,
}

impl TaskHandle {
    /// True while the task is scheduled: until a one-shot task starts to run, and
    /// until any task is cancelled.
    pub fn is_pending(&self) -> bool {
        self.with(|_| ()).is_some()
    }

    /// Python-style alias of [`is_pending`](TaskHandle::is_pending): astm's and
    /// Twisted's `active()`.
    pub fn active(&self) -> bool {
        self.is_pending()
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
        let task = queue.state_mut().remove(self.index, self.generation, true);
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
    /// `tasks.call_later(Duration::ZERO, ..)`. A running task cannot call itself: that
    /// returns `false`.
    pub fn call_now(&self) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        let now = Instant::now();
        let taken = {
            let mut state = queue.state_mut();
            let Some(task) = state.task_mut(self.index, self.generation) else {
                return false;
            };
            let Some(callback) = task.callback.take() else {
                return false; // running
            };
            match task.interval {
                Some(interval) => {
                    state.set_deadline(self.index, after(now, interval));
                    (callback, true)
                }
                None => {
                    state.remove(self.index, self.generation, true);
                    (callback, false)
                }
            }
        };
        let (mut callback, repeating) = taken;
        let ok = invoke(&mut callback);
        if repeating {
            queue.restore(self.index, self.generation, callback, ok);
        }
        true
    }

    fn reschedule(&self, deadline: impl FnOnce(&Task) -> Instant) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        let mut state = queue.state_mut();
        let Some(task) = state.task_mut(self.index, self.generation) else {
            return false;
        };
        let next = deadline(task);
        state.set_deadline(self.index, next);
        true
    }

    fn with<R>(&self, f: impl FnOnce(&Task) -> R) -> Option<R> {
        let queue = self.queue.upgrade()?;
        let state = queue.state.borrow();
        let slot = state.slots.get(self.index as usize)?;
        match &slot.task {
            Some(task) if slot.generation == self.generation => Some(f(task)),
            _ => None,
        }
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
    match catch_unwind(AssertUnwindSafe(callback)) {
        Ok(()) => true,
        Err(payload) => {
            log::error!("scheduled {}", panic_message(&*payload, "task"));
            false
        }
    }
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
    heap: BinaryHeap<Reverse<Key>>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    pending: usize,
    next_seq: u64,
    stale: usize,
}

/// A heap entry, ordered by deadline, then by scheduling order.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    deadline: Instant,
    seq: u64,
    index: u32,
    generation: u32,
}

struct Slot {
    generation: u32,
    task: Option<Task>,
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
    ) -> (u32, u32) {
        let seq = self.next_seq();
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).expect("fewer than 2^32 tasks");
                self.slots.push(Slot {
                    generation: 0,
                    task: None,
                });
                index
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.task = Some(Task {
            deadline,
            seq,
            entry_seq: seq,
            entry_deadline: deadline,
            delay,
            interval,
            callback: Some(callback),
        });
        let generation = slot.generation;
        self.heap.push(Reverse(Key {
            deadline,
            seq,
            index,
            generation,
        }));
        self.pending += 1;
        (index, generation)
    }

    fn task_mut(&mut self, index: u32, generation: u32) -> Option<&mut Task> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        slot.task.as_mut()
    }

    /// Takes the task out of its slot. `in_heap`: its live entry is still in the heap
    /// (and becomes stale).
    fn remove(&mut self, index: u32, generation: u32, in_heap: bool) -> Option<Task> {
        let slot = self.slots.get_mut(index as usize)?;
        if slot.generation != generation {
            return None;
        }
        let task = slot.task.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        self.pending -= 1;
        if in_heap {
            self.stale += 1;
            self.compact();
        }
        Some(task)
    }

    /// Moves a pending task's deadline (see [`Queue`] for the lazy heap).
    fn set_deadline(&mut self, index: u32, deadline: Instant) {
        let seq = self.next_seq();
        let slot = &mut self.slots[index as usize];
        let generation = slot.generation;
        let task = slot.task.as_mut().expect("a pending task");
        task.deadline = deadline;
        task.seq = seq;
        if deadline < task.entry_deadline {
            task.entry_seq = seq;
            task.entry_deadline = deadline;
            self.heap.push(Reverse(Key {
                deadline,
                seq,
                index,
                generation,
            }));
            self.stale += 1;
            self.compact();
        }
    }

    /// Gives a task whose live entry was popped a new one.
    fn rearm(&mut self, index: u32, deadline: Instant) {
        let seq = self.next_seq();
        let slot = &mut self.slots[index as usize];
        let generation = slot.generation;
        let task = slot.task.as_mut().expect("a pending task");
        task.deadline = deadline;
        task.seq = seq;
        task.entry_seq = seq;
        task.entry_deadline = deadline;
        self.heap.push(Reverse(Key {
            deadline,
            seq,
            index,
            generation,
        }));
    }

    /// Rebuilds the heap without stale entries once they outnumber the live ones.
    fn compact(&mut self) {
        if self.stale > STALE_SLACK && self.stale > self.heap.len() / 2 {
            let slots = &self.slots;
            self.heap.retain(|Reverse(key)| is_live(slots, key));
            self.stale = 0;
        }
    }

    /// The earliest pending task's entry, once the top of the heap has been made
    /// exact: stale entries dropped, entries of postponed tasks moved back.
    fn top(&mut self) -> Option<Key> {
        loop {
            let mut top = self.heap.peek_mut()?;
            let key = top.0;
            let slot = &mut self.slots[key.index as usize];
            match slot.task.as_mut() {
                Some(task) if slot.generation == key.generation && task.entry_seq == key.seq => {
                    if task.seq == key.seq {
                        return Some(key);
                    }
                    // Postponed since this entry was pushed: move it to the new place.
                    task.entry_seq = task.seq;
                    task.entry_deadline = task.deadline;
                    *top = Reverse(Key {
                        deadline: task.deadline,
                        seq: task.seq,
                        ..key
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

fn is_live(slots: &[Slot], key: &Key) -> bool {
    let slot = &slots[key.index as usize];
    slot.generation == key.generation
        && slot
            .task
            .as_ref()
            .is_some_and(|task| task.entry_seq == key.seq)
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
        self.state_mut().top().map(|key| key.deadline)
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
                let Some(key) = state.top() else { break };
                if key.deadline > now {
                    break;
                }
                state.heap.pop();
                let task = state.slots[key.index as usize]
                    .task
                    .as_mut()
                    .expect("top() returns a pending task");
                if key.seq >= cutoff || task.callback.is_none() {
                    // Scheduled by a task in this call, or running in an outer call
                    // (a loop nested inside a task): a later pass runs it.
                    deferred.push(key);
                    continue;
                }
                let callback = task.callback.take().expect("checked above");
                match task.interval {
                    Some(interval) => {
                        let mut next = after(task.deadline, interval);
                        if next <= now {
                            next = after(now, interval); // fell behind: skip missed runs
                        }
                        state.rearm(key.index, next);
                        (key, callback, true)
                    }
                    None => {
                        state.remove(key.index, key.generation, false);
                        (key, callback, false)
                    }
                }
            };
            let ok = invoke(&mut callback);
            ran += 1;
            if repeating {
                self.restore(key.index, key.generation, callback, ok);
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
    fn restore(&self, index: u32, generation: u32, callback: Callback, ok: bool) {
        let leftover = {
            let mut state = self.state_mut();
            match state.task_mut(index, generation) {
                Some(task) if ok => {
                    task.callback = Some(callback);
                    None
                }
                Some(_) => {
                    state.remove(index, generation, true);
                    Some(callback)
                }
                None => Some(callback),
            }
        };
        drop(leftover);
    }
}
