//! The loop: [`loop_`] (Python's `asyncore.loop`), [`loop_with_tasks`]
//! (`astm.asynclib.loop`), and one pass of them.
//!
//! # A pass
//!
//! 1. Consult the predicates of the channels that may have changed (below).
//! 2. Poll: not at all if some channel has work left; otherwise for at most the
//!    `timeout`, cut to the next [task](crate::tasks)'s deadline.
//! 3. Record the readiness the poller reported. If a [`LoopHandle`](crate::LoopHandle)
//!    woke the loop, run the closures sent through it.
//! 4. Dispatch events to the channels that want them.
//! 5. Run the tasks that are due.
//!
//! The loop goes on while the map has channels or the tasks are pending, until
//! `count` passes have run, or until [`LoopHandle::exit`](crate::LoopHandle::exit).
//! Without tasks and without a `LoopHandle`, steps 3 and 5 cost one comparison each:
//! no clock read, no lock, no allocation.
//!
//! # Level-triggered behaviour on an edge-triggered poller
//!
//! Python's asyncore polls with `select`/`poll`, which report a socket as readable for
//! as long as it has data. mio reports edges: "this socket became readable". To keep
//! asyncore's promise, every channel is registered once, for read, write and priority
//! readiness, and keeps readiness bits: an event sets them, and a socket call that
//! finds nothing to do clears them (`recv` or `accept` that would block, a short read
//! on a stream whose peer has not closed its side; `send` that would block, a short
//! write). A pass dispatches to a
//! channel when a bit it wants is set, and the poll timeout is zero while such work
//! remains. So a handler that reads one byte per `handle_read` is called again and
//! again until the stream is drained, and one that writes a little per `handle_write`
//! is called while the socket stays writable and it stays `writable()`, exactly as
//! under `select`, with no system call per channel per pass.
//!
//! # The dispatch budget
//!
//! By default a pass serves each channel once, as Python's loop does, so `count`
//! passes call every handler at most `count` times. [`Map::set_dispatch_budget`]
//! lets a pass serve a channel that still has readiness it wants up to `n` times,
//! consulting its predicates before each, before it polls again: a busy stream is
//! then read in runs instead of one `handle_read` per poll, which gives the shipped
//! echo server 1.0x to 1.2x the bulk throughput of one dispatch per pass (`cargo bench
//! -- bulk`, five runs). Only
//! the interleaving of busy channels differs (`A A B B` rather than `A B A B`). The
//! setting is the map's, whoever drives it.
//!
//! # When predicates are consulted
//!
//! A pass consults [`readable`](crate::Dispatcher::readable) and
//! [`writable`](crate::Dispatcher::writable) of a channel before dispatching anything
//! to it, once per pass, and again right after its handlers ran, to know whether it
//! wants more. That last answer stands for the next pass if the readiness that comes
//! is what it wanted: it is one poll old, as the answers of Python's loop are (asked
//! before `select`), and a busy connection is consulted once per event, not twice.
//! The loop consults the channels whose answers can matter: those with
//! new events, those served in the previous pass that still have readiness, those just
//! added, and those *touched* — borrowed through
//! [`Handle::borrow_mut`](crate::Handle::borrow_mut) or reached with
//! [`Handle::with`](crate::Handle::with). A channel whose predicates said "no" while
//! it had readiness waits, parked, until one of those things happens to it. This keeps
//! the cost of a pass proportional to the channels with something to do, not to the
//! size of the map. If a predicate depends on state that changes without the channel
//! being touched (a shared queue behind `Rc<RefCell<..>>`, the clock), borrow its
//! handle mutably after changing it, or turn on [`Map::set_consult_all`] to consult
//! every channel every pass as Python does.
//!
//! # Handlers that change the map
//!
//! Before a handler runs, the loop takes a clone of the channel's node (channel,
//! dispatcher, bookkeeping) out of its slot and releases the slot table, so the
//! handler may add channels and close any channel, itself included. A closed
//! channel's slot gets a new generation at once, so events already gathered for it in
//! the same pass are dropped, even if the OS reuses its file descriptor for a
//! connection accepted in that pass. What a handler asks of its own channel — a close,
//! a new socket — is one pending action, applied when the handler returns; the
//! channel's [`on_close`](crate::Dispatcher::on_close) runs then.
//!
//! # Failures
//!
//! An `Err` returned by a handler, or a panic in one (or in a predicate), goes to that
//! channel's [`handle_error`](crate::Dispatcher::handle_error); the loop goes on with
//! the other channels. [`Error::ExitNow`](crate::Error::ExitNow) ends the loop and reaches its caller (the
//! tasks of that pass do not run; they are still due in the next loop). A panic in a
//! task or in a closure from a `LoopHandle` is logged; the loop goes on.

use std::time::Duration;

use crate::error::Result;
use crate::map::Map;
use crate::tasks::Tasks;

/// Python's `asyncore.loop(timeout, use_poll, map, count)` (`loop` is a Rust keyword,
/// hence the trailing underscore).
///
/// Runs passes until `map` (the thread's [global map](Map::global) when `None`) is
/// empty, or until `count` passes have run. Each pass waits at most `timeout` for
/// events (`None`: until one comes), and not at all while some channel has readiness
/// it has not consumed. An empty map returns at once. `use_poll` is accepted for
/// compatibility and changes nothing: mio picks the best poller (epoll on Linux).
/// `timeout` and `count` take a plain value or `None`:
/// `loop_(Duration::from_millis(10), false, Some(&map), 5)`.
///
/// The thread's [global tasks](Tasks::global) (those of
/// [`call_later`](crate::call_later)) run too, as `astm.asynclib.loop` runs its
/// module-level tasks whatever the map: a pending task keeps the loop going, and an
/// empty map returns at once only when no task is pending. This is
/// [`loop_with_tasks`]`(timeout, map, None, count)`; to keep the global tasks out of a
/// loop, pass it an empty [`Tasks`] there.
///
/// A [`Cx::exit`](crate::Cx::exit) from a handler or a
/// [`LoopHandle::exit`](crate::LoopHandle::exit) from another thread also ends it,
/// with `Ok(())`.
///
/// # Errors
///
/// [`Error::ExitNow`](crate::Error::ExitNow) when a handler returned it; the poller's own failure.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // Nothing in the map: returns at once.
/// asyncore::loop_(Duration::from_secs(30), false, None, None)?;
/// # Ok::<(), asyncore::Error>(())
/// ```
#[doc(alias = "loop")]
pub fn loop_(
    timeout: impl Into<Option<Duration>>,
    use_poll: bool,
    map: Option<&Map>,
    count: impl Into<Option<usize>>,
) -> Result<()> {
    let _ = use_poll;
    loop_with_tasks(timeout, map, None, count)
}

/// `astm.asynclib.loop(timeout, map, tasks, count)`: [`loop_`] that also runs the
/// scheduled [`Tasks`] (the thread's [global](Tasks::global) ones when `None`).
///
/// Runs passes while `map` has channels or `tasks` has pending tasks, until `count`
/// passes have run or an exit is requested. Each pass polls for at most `timeout`,
/// cut to the next task's deadline, then runs the tasks that are due; so a loop with
/// tasks but no channels sleeps until the next deadline, and one with neither returns
/// at once. A task runs in the first pass whose poll ends after its deadline:
/// promptly (the poller's resolution is a millisecond) and never before it.
///
/// # Errors
///
/// [`Error::ExitNow`](crate::Error::ExitNow) when a handler returned it; the poller's own failure.
///
/// # Examples
///
/// ```
/// use std::cell::{Cell, RefCell};
/// use std::rc::Rc;
/// use std::time::Duration;
/// use asyncore::{Map, TaskHandle, Tasks};
///
/// let (map, tasks) = (Map::new()?, Tasks::new());
/// let ticks = Rc::new(Cell::new(0));
/// let me = Rc::new(RefCell::new(None::<TaskHandle>));
/// let (t, m) = (ticks.clone(), me.clone());
/// let ticker = tasks.call_every(Duration::from_millis(5), move || {
///     t.set(t.get() + 1);
///     if let (3, Some(me)) = (t.get(), m.borrow().as_ref()) {
///         me.cancel(); // a task may cancel itself
///     }
/// });
/// *me.borrow_mut() = Some(ticker);
/// // No channel: the loop sleeps between ticks and returns once the ticker is gone.
/// asyncore::loop_with_tasks(None, Some(&map), Some(&tasks), None)?;
/// assert_eq!(ticks.get(), 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[doc(alias = "loop")]
pub fn loop_with_tasks(
    timeout: impl Into<Option<Duration>>,
    map: Option<&Map>,
    tasks: Option<&Tasks>,
    count: impl Into<Option<usize>>,
) -> Result<()> {
    let (timeout, count) = (timeout.into(), count.into());
    let global_map;
    let map = match map {
        Some(m) => m,
        None => {
            global_map = Map::global();
            &global_map
        }
    };
    let global_tasks;
    let tasks = match tasks {
        Some(t) => t,
        None => {
            global_tasks = Tasks::global();
            &global_tasks
        }
    };
    let core = &map.core;
    // Handlers reach these tasks through `Cx::tasks`; a nested loop restores the
    // outer loop's when it returns, however it returns.
    let _running = RunningTasks {
        map,
        outer: core.set_running_tasks(Some(tasks.clone())),
    };
    let mut passes = 0;
    // Closes that waited for a borrow to end are finished first, so that closing the
    // last channel that way still runs its `on_close` when the map is empty.
    core.finish_closing(map);
    // An exit request left by a single `Map::poll` ends the loop at once.
    while !core.take_exit()
        && (!map.is_empty() || !tasks.is_empty())
        && count.is_none_or(|c| passes < c)
    {
        core.pass(map, Some(tasks), timeout)?;
        passes += 1;
    }
    Ok(())
}

/// Puts back the tasks of the loop that ran the map before this one.
struct RunningTasks<'a> {
    map: &'a Map,
    outer: Option<Tasks>,
}

impl Drop for RunningTasks<'_> {
    fn drop(&mut self) {
        self.map.core.set_running_tasks(self.outer.take());
    }
}

/// Closes every channel in `map` (the global map when `None`): Python's `close_all`.
/// Each dispatcher's [`on_close`](crate::Dispatcher::on_close) runs (or, for one whose
/// handler is running, when that returns). A panic in one is returned unless
/// `ignore_all`; the map is empty afterwards either way.
///
/// # Errors
///
/// [`Error::Panic`](crate::Error::Panic) from a dispatcher's `on_close` or `Drop`, unless `ignore_all`.
pub fn close_all(map: Option<&Map>, ignore_all: bool) -> Result<()> {
    let map = map.cloned().unwrap_or_else(Map::global);
    let mut first_err = None;
    // Again while `on_close`s add channels, up to a bound.
    for _ in 0..16 {
        let nodes = map.core.nodes();
        if nodes.is_empty() {
            break;
        }
        for node in nodes {
            let r = crate::panic::catch("close_all", || map.core.close_node(&map, &node))
                .and_then(|r| r)
                .and_then(|()| crate::panic::catch("dropping a dispatcher", || drop(node)));
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
    }
    match first_err {
        Some(e) if !ignore_all => Err(e),
        _ => Ok(()),
    }
}
