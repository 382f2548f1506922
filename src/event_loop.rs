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
//! # Stepped and free-running loops
//!
//! When the caller counts passes — [`loop_`] with a `count`, or
//! [`Map::poll`](crate::Map::poll) — a pass serves each channel once, as Python's
//! loop does, so `count` passes call every handler at most `count` times. When the
//! loop runs free (no `count`), a pass serves a channel that still has readiness it
//! wants up to 16 times, consulting its predicates before each, and only then polls
//! again: a busy stream is read in runs instead of one `handle_read` per poll, which
//! gave a bulk echo 1.2x to 1.6x the throughput of one dispatch per pass in five
//! runs of `cargo bench -- bulk`. Only the interleaving of busy channels differs
//! (`A A B B` rather than `A B A B`).
//! [`Map::set_dispatch_budget`] fixes the number either way.
//!
//! # When predicates are consulted
//!
//! A pass consults [`readable`](crate::Dispatcher::readable) and
//! [`writable`](crate::Dispatcher::writable) of a channel before dispatching anything
//! to it, once per pass. It consults the channels whose answers can matter: those with
//! new events, those served in the previous pass that still have readiness, those just
//! added, and those *touched* — borrowed through
//! [`Handle::borrow_mut`](crate::Handle::borrow_mut) or marked with
//! [`Channel::touch`](crate::Channel::touch). A channel whose predicates said "no" while
//! it had readiness waits, parked, until one of those things happens to it. This keeps
//! the cost of a pass proportional to the channels with something to do, not to the
//! size of the map. If a predicate depends on state that changes without the channel
//! being touched (a shared queue behind `Rc<RefCell<..>>`, the clock), call
//! `touch()` after changing it, or turn on [`Map::set_consult_all`] to consult every
//! channel every pass as Python does.
//!
//! # Handlers that change the map
//!
//! Before a handler runs, the loop takes a clone of the dispatcher's `Rc` out of its
//! slot and releases the slot table, so the handler may add channels and close any
//! channel, itself included. A closed channel's slot gets a new generation at once, so
//! events already gathered for it in the same pass are dropped, even if the OS reuses
//! its file descriptor for a connection accepted in that pass.
//!
//! # Failures
//!
//! An `Err` returned by a handler, or a panic in one (or in a predicate), goes to that
//! channel's [`handle_error`](crate::Dispatcher::handle_error); the loop goes on with
//! the other channels. [`Error::ExitNow`] ends the loop and reaches its caller (the
//! tasks of that pass do not run; they are still due in the next loop). A panic in a
//! task or in a closure from a `LoopHandle` is logged; the loop goes on.

use std::any::Any;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use mio::Token;

use crate::channel::{HANGUP, PRIORITY, READ, READ_CLOSED, WRITE};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::map::{Inner, Map, Shared, WAKE_TOKEN};
use crate::tasks::{Queue, Tasks};

/// Python's `asyncore.loop(timeout, use_poll, map, count)` (`loop` is a Rust keyword,
/// hence the trailing underscore).
///
/// Runs passes until `map` (the thread's [global map](Map::global) when `None`) is
/// empty, or until `count` passes have run. Each pass waits at most `timeout` for
/// events (`None`: until one comes), and not at all while some channel has readiness
/// it has not consumed. An empty map returns at once. `use_poll` is accepted for
/// compatibility and changes nothing: mio picks the best poller (epoll on Linux).
///
/// With a `count`, each pass serves a channel once, as Python's does; without one,
/// a pass serves a busy channel up to 16 times before polling again (see
/// [stepped and free-running loops](crate::event_loop#stepped-and-free-running-loops)).
///
/// The thread's [global tasks](Tasks::global) (those of
/// [`call_later`](crate::call_later)) run too, as `astm.asynclib.loop` runs its
/// module-level tasks whatever the map: a pending task keeps the loop going, and an
/// empty map returns at once only when no task is pending. This is
/// [`loop_with_tasks`]`(timeout, map, None, count)`; to keep the global tasks out of a
/// loop, pass it an empty [`Tasks`] there.
///
/// A [`LoopHandle::exit`](crate::LoopHandle::exit) from another thread also ends it,
/// with `Ok(())`.
///
/// # Errors
///
/// [`Error::ExitNow`] when a handler returned it; the poller's own failure.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // Nothing in the map: returns at once.
/// asyncore::loop_(Some(Duration::from_secs(30)), false, None, None)?;
/// # Ok::<(), asyncore::Error>(())
/// ```
#[doc(alias = "loop")]
pub fn loop_(
    timeout: Option<Duration>,
    use_poll: bool,
    map: Option<&Map>,
    count: Option<usize>,
) -> Result<()> {
    let _ = use_poll;
    loop_with_tasks(timeout, map, None, count)
}

/// `astm.asynclib.loop(timeout, map, tasks, count)`: [`loop_`] that also runs the
/// scheduled [`Tasks`] (the thread's [global](Tasks::global) ones when `None`).
///
/// Runs passes while `map` has channels or `tasks` has pending tasks, until `count`
/// passes have run or a [`LoopHandle::exit`](crate::LoopHandle::exit). Each pass polls
/// for at most `timeout`, cut to the next task's deadline, then runs the tasks that
/// are due; so a loop with tasks but no channels sleeps until the next deadline, and
/// one with neither returns at once. A task runs in the first pass whose poll ends
/// after its deadline: promptly (the poller's resolution is a millisecond) and never
/// before it.
///
/// # Errors
///
/// [`Error::ExitNow`] when a handler returned it; the poller's own failure.
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
    timeout: Option<Duration>,
    map: Option<&Map>,
    tasks: Option<&Tasks>,
    count: Option<usize>,
) -> Result<()> {
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
    run(map, &tasks.queue, timeout, count)
}

/// How many times a pass of a free-running loop (no `count`) serves a busy channel,
/// unless [`Map::set_dispatch_budget`] says otherwise.
pub(crate) const FREE_RUNNING_BUDGET: u32 = 16;

fn run(map: &Map, tasks: &Queue, timeout: Option<Duration>, count: Option<usize>) -> Result<()> {
    let inner = &map.inner;
    let stepped = count.is_some();
    let mut passes = 0;
    // An exit request left by a single `Map::poll` ends the loop at once.
    while !inner.exit.replace(false)
        && (!map.is_empty() || !tasks.is_empty())
        && count.is_none_or(|c| passes < c)
    {
        pass(inner, Some(tasks), timeout, stepped)?;
        passes += 1;
    }
    Ok(())
}

/// Closes every channel in `map` (the global map when `None`): Python's `close_all`.
/// A failure (a panic in an overridden [`Dispatcher::close`]) is returned unless
/// `ignore_all`; the map is empty afterwards either way.
///
/// # Errors
///
/// [`Error::Panic`] from a dispatcher's `close`, unless `ignore_all`.
pub fn close_all(map: Option<&Map>, ignore_all: bool) -> Result<()> {
    let map = map.cloned().unwrap_or_else(Map::global);
    let mut first_err = None;
    for token in map.inner.tokens() {
        let Some(d) = map.inner.get(token) else {
            continue;
        };
        match d.try_borrow_mut() {
            Ok(mut d) => {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| d.close())) {
                    d.channel_mut().close();
                    first_err.get_or_insert(Error::Panic(panic_message(&*p, "close")));
                }
            }
            // Its handler is running (close_all was called from a handler): empty the
            // slot; the loop closes the channel when the handler returns.
            Err(_) => map.inner.orphaned.set(true),
        }
        map.inner.remove(token);
    }
    match first_err {
        Some(e) if !ignore_all => Err(e),
        _ => Ok(()),
    }
}

/// One pass over `inner`: consult, poll, dispatch, run due tasks. `stepped`: the
/// caller counts passes (a `count`, or [`Map::poll`]), so by default a pass serves
/// each channel once.
pub(crate) fn pass(
    inner: &Rc<Inner>,
    tasks: Option<&Queue>,
    timeout: Option<Duration>,
    stepped: bool,
) -> Result<()> {
    let budget = match inner.budget.get() {
        Some(n) => n,
        None if stepped => 1,
        None => FREE_RUNNING_BUDGET,
    };
    let pass = inner.pass.get() + 1;
    inner.pass.set(pass);
    // The pass keeps the map's scratch vectors (and their capacity) borrowed; a
    // nested pass, run from a handler, makes do with vectors of its own.
    match inner.scratch.try_borrow_mut() {
        Ok(mut scratch) => {
            let r = run_pass(inner, tasks, (pass, budget), timeout, &mut scratch);
            scratch.queue.clear();
            scratch.ready.clear();
            r
        }
        Err(_) => run_pass(
            inner,
            tasks,
            (pass, budget),
            timeout,
            &mut Default::default(),
        ),
    }
}

/// `(pass, budget)`: the pass's number, and how many times it may serve a channel.
fn run_pass(
    inner: &Rc<Inner>,
    tasks: Option<&Queue>,
    (pass, budget): (u64, u32),
    timeout: Option<Duration>,
    scratch: &mut crate::map::Scratch,
) -> Result<()> {
    // Tasks matter to this pass only if some are pending: then (and only then) the
    // clock is read, to bound the poll and to find the due tasks.
    let tasks = tasks.filter(|t| !t.is_empty());

    // 1. The channels queued since the last pass: touched ones, and those served in
    // the last pass that still had readiness their predicates wanted. Their
    // predicates are consulted now, to know whether the poll may wait.
    std::mem::swap(&mut scratch.queue, &mut *inner.queue.borrow_mut());
    if inner.consult_all.get() {
        scratch.queue.extend(inner.tokens());
    }
    // Readiness a nested pass could not deliver (its channel's handler was running).
    scratch.ready.append(&mut inner.deferred.borrow_mut());
    let mut busy = !scratch.ready.is_empty();
    for &token in &scratch.queue {
        if let Some(d) = inner.get(token) {
            busy |= match d.try_borrow_mut() {
                Ok(mut g) => has_work(token, &mut *g, pass),
                Err(_) => true,
            };
        }
    }

    // 2. Poll: without waiting if some channel may have work already; otherwise until
    // the timeout or the next task's deadline, whichever comes first. mio rounds a
    // timeout up to whole milliseconds, so rounding never ends the poll before a
    // deadline; step 6 checks the clock anyway.
    let mut wait = if !busy { timeout } else { Some(Duration::ZERO) };
    if let Some(tasks) = tasks {
        if wait != Some(Duration::ZERO) {
            if let Some(deadline) = tasks.next_deadline() {
                let left = deadline.saturating_duration_since(Instant::now());
                wait = Some(wait.map_or(left, |w| w.min(left)));
            }
        }
    }
    let mut woken = false;
    {
        let mut poll = inner.poll.borrow_mut();
        let mut events = inner.events.borrow_mut();
        match poll.poll(&mut events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        for ev in events.iter() {
            if ev.token() == WAKE_TOKEN {
                woken = true;
            } else {
                scratch.ready.push((ev.token(), readiness(ev)));
            }
        }
    }

    // 3. A LoopHandle woke us: run the closures it sent before dispatching, so an
    // ExitNow below cannot strand them.
    if woken {
        if let Some(remote) = inner.remote.get() {
            remote.serve(inner);
        }
    }

    // 4. Channels with events: record the readiness, consult, dispatch.
    let mut outcome = Ok(());
    for &(token, bits) in &scratch.ready {
        let Some(d) = inner.get(token) else {
            continue; // closed: its slot has moved on
        };
        let Ok(mut g) = d.try_borrow_mut() else {
            // Its handler is running this (nested) pass: keep the readiness.
            inner.deferred.borrow_mut().push((token, bits));
            continue;
        };
        let c = g.channel_mut();
        if c.token() != Some(token) {
            continue;
        }
        c.ready |= bits;
        if outcome.is_ok() {
            outcome = run_channel(inner, token, &d, &mut *g, (pass, budget));
        }
        if outcome.is_err() {
            // ExitNow: what was not served is served by the next pass.
            g.channel_mut().touch();
        }
    }

    // 5. Queued channels not served above.
    for &token in &scratch.queue {
        let Some(d) = inner.get(token) else {
            continue;
        };
        let Ok(mut g) = d.try_borrow_mut() else {
            inner.queue.borrow_mut().push(token); // running (nested pass): next time
            continue;
        };
        if g.channel().token() != Some(token) {
            continue;
        }
        if outcome.is_ok() {
            outcome = run_channel(inner, token, &d, &mut *g, (pass, budget));
        }
        if outcome.is_err() {
            g.channel_mut().touch();
        }
    }
    inner.orphaned.set(false);
    outcome?;

    // 6. Run the tasks that are due.
    if let Some(tasks) = tasks {
        tasks.run_due(Instant::now());
    }
    Ok(())
}

/// Consults one channel's predicates and, while a readiness bit it wants is set,
/// dispatches to it, up to the pass's budget. `Err` only for [`Error::ExitNow`].
/// A panic anywhere in its handlers or predicates goes to its `handle_error`.
fn run_channel(
    inner: &Rc<Inner>,
    token: Token,
    shared: &Shared,
    d: &mut dyn Dispatcher,
    at: (u64, u32),
) -> Result<()> {
    let outer = inner.running.replace(token);
    let mut phase = "readable/writable";
    let result = match catch_unwind(AssertUnwindSafe(|| {
        serve(inner, token, &mut *d, at, &mut phase)
    })) {
        Ok(r) => r,
        Err(p) => {
            report(d, Error::Panic(panic_message(&*p, phase)));
            Ok(())
        }
    };
    inner.running.set(outer);
    if d.channel().token() != Some(token) || inner.orphaned.get() {
        closed_while_running(inner, token, shared, d);
    }
    result
}

/// After a handler: the channel closed itself (its slot entry waits in `limbo`), or
/// `close_all` emptied its slot while it ran.
#[cold]
fn closed_while_running(inner: &Rc<Inner>, token: Token, shared: &Shared, d: &mut dyn Dispatcher) {
    if inner.orphaned.get() && d.channel().token() == Some(token) && inner.get(token).is_none() {
        d.close();
    }
    let entry = inner.limbo.borrow_mut().take_if(|(t, _)| *t == token);
    if let Some((_, entry)) = entry {
        rehome(inner, entry, shared, d);
    }
}

/// The running handler closed its channel. If it gave the channel a new socket
/// before returning (Python's `close(); create_socket(); connect(addr)`), the
/// dispatcher goes back in the map under a new token; otherwise it leaves.
fn rehome(inner: &Rc<Inner>, entry: crate::map::Entry, shared: &Shared, d: &mut dyn Dispatcher) {
    let c = d.channel_mut();
    if !std::mem::take(&mut c.rehome) || !c.is_open() {
        return;
    }
    debug_assert!(Rc::ptr_eq(entry.dispatcher(), shared));
    let token = inner.insert(entry);
    if let Err(e) = c.attach(Rc::downgrade(inner), token) {
        report(d, e.into());
    }
}

/// Consults a queued channel's predicates before the poll: true if it has readiness
/// it wants, so the poll must not wait.
fn has_work(token: Token, d: &mut dyn Dispatcher, pass: u64) -> bool {
    let c = d.channel_mut();
    if c.token() != Some(token) {
        return false;
    }
    if c.consulted_pass != pass {
        c.consulted_pass = pass;
        let accepting = c.accepting;
        let wants = match catch_unwind(AssertUnwindSafe(|| predicates(&mut *d, accepting))) {
            Ok(w) => w,
            Err(p) => {
                report(d, Error::Panic(panic_message(&*p, "readable/writable")));
                return false;
            }
        };
        let c = d.channel_mut();
        if c.token() != Some(token) {
            return false;
        }
        c.wants = wants;
    }
    let c = d.channel();
    c.ready & mask(c.wants) != 0 || c.close_due
}

/// The readiness bits that lead to a dispatch, given what the predicates want.
fn mask(wants: u8) -> u8 {
    let mut m = HANGUP;
    if wants & READ != 0 {
        m |= READ | PRIORITY;
    }
    if wants & WRITE != 0 {
        m |= WRITE;
    }
    m
}

/// The predicates, as readiness bits: READ if `readable()`, WRITE if `writable()`
/// (never for a listening channel).
fn predicates(d: &mut dyn Dispatcher, accepting: bool) -> u8 {
    let mut wants = 0;
    if d.readable() {
        wants |= READ;
    }
    if !accepting && d.writable() {
        wants |= WRITE;
    }
    wants
}

fn readiness(ev: &mio::event::Event) -> u8 {
    let mut bits = 0;
    if ev.is_readable() {
        bits |= READ;
    }
    if ev.is_read_closed() {
        bits |= READ | READ_CLOSED;
    }
    if ev.is_writable() {
        bits |= WRITE;
    }
    if ev.is_priority() {
        bits |= PRIORITY;
    }
    if ev.is_error() || (ev.is_read_closed() && ev.is_write_closed()) {
        bits |= READ | WRITE | HANGUP;
    }
    bits
}

/// The body of [`run_channel`]. `phase` names what is running, for a panic's
/// description.
///
/// After dispatching, the channel's predicates are consulted again at once, while it
/// is at hand: if it still has readiness it wants, it is queued for the next pass
/// (which consults again before dispatching); if not, it waits for an event or a
/// touch, and the next pass does not look at it at all.
fn serve(
    inner: &Inner,
    token: Token,
    d: &mut dyn Dispatcher,
    (pass, budget): (u64, u32),
    phase: &mut &'static str,
) -> Result<()> {
    let c = d.channel_mut();
    if c.scheduled_pass == pass {
        return Ok(()); // served already (and consulted before that)
    }
    c.scheduled_pass = pass;
    let accepting = c.accepting;
    if c.consulted_pass != pass {
        c.consulted_pass = pass;
        let wants = predicates(d, accepting);
        let c = d.channel_mut();
        if c.token() != Some(token) {
            return Ok(()); // a predicate closed it
        }
        c.wants = wants;
    }
    // Served at most `budget` times in this pass (Python's loop: once), each time
    // after consulting its predicates.
    for round in 1..=budget {
        let c = d.channel_mut();
        let fire = c.ready & mask(c.wants);
        if fire == 0 && !c.close_due {
            return Ok(()); // nothing it wants
        }
        if fire & (READ | WRITE | PRIORITY) != 0 {
            let r = dispatch(d, fire, phase);
            settle(d, r)?;
        }
        let c = d.channel();
        if c.token() != Some(token) {
            return Ok(());
        }
        let mut left = c.ready;
        if c.close_due || left & HANGUP != 0 {
            if !closing(d, token, phase)? {
                return Ok(());
            }
            left = d.channel().ready;
        }
        if left & !READ_CLOSED == 0 {
            return Ok(()); // nothing left to dispatch: wait for an event
        }
        *phase = "readable/writable";
        let wants = predicates(d, accepting);
        let c = d.channel_mut();
        if c.token() != Some(token) || (c.ready & mask(wants) == 0 && !c.close_due) {
            return Ok(());
        }
        if round == budget {
            inner.enqueue(token, &mut c.queued_for);
        } else {
            c.wants = wants;
        }
    }
    Ok(())
}

/// `handle_close` when a socket call found the peer gone, or on a hang-up or error
/// once the data before it has been read (Python's poll loop calls `handle_close` for
/// POLLHUP/POLLERR). False if the channel is closed afterwards.
#[cold]
fn closing(d: &mut dyn Dispatcher, token: Token, phase: &mut &'static str) -> Result<bool> {
    let c = d.channel_mut();
    if c.close_due {
        c.close_due = false;
        *phase = "handle_close";
        let r = d.handle_close();
        settle(d, r)?;
        if d.channel().token() != Some(token) {
            return Ok(false);
        }
    }
    let c = d.channel_mut();
    if c.ready & HANGUP != 0 && (c.ready & READ == 0 || c.wants & READ == 0) {
        c.ready &= !HANGUP;
        *phase = "handle_close";
        let r = d.handle_close();
        settle(d, r)?;
        if d.channel().token() != Some(token) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Python's `handle_read_event` / `handle_write_event` / `handle_expt_event`.
fn dispatch(d: &mut dyn Dispatcher, fire: u8, phase: &mut &'static str) -> Result<()> {
    if fire & READ != 0 {
        let c = d.channel();
        if c.accepting {
            *phase = "handle_accept";
            d.handle_accept()?;
        } else {
            if !c.connected && c.connecting {
                *phase = "handle_connect";
                connect_event(d)?;
            }
            *phase = "handle_read";
            d.handle_read()?;
        }
    }
    // WRITE must still be set: a read handler that replaced the socket (a reconnect)
    // starts the new one with no readiness.
    if fire & WRITE != 0 {
        let c = d.channel();
        if c.ready & WRITE != 0 && c.is_open() && !c.accepting && !c.close_due {
            if !c.connected && c.connecting {
                *phase = "handle_connect";
                connect_event(d)?;
            }
            *phase = "handle_write";
            d.handle_write()?;
        }
    }
    if fire & PRIORITY != 0 && d.channel().is_open() {
        d.channel_mut().ready &= !PRIORITY;
        *phase = "handle_expt";
        match d.channel().take_error() {
            Ok(Some(_)) => d.handle_close()?,
            _ => d.handle_expt()?,
        }
    }
    Ok(())
}

/// Python's `handle_connect_event`: check `SO_ERROR`, then `handle_connect`.
fn connect_event(d: &mut dyn Dispatcher) -> Result<()> {
    if let Some(err) = d.channel().take_error()? {
        // Refused: this connect is over, and never reported as a connect.
        d.channel_mut().connecting = false;
        return Err(err.into());
    }
    d.handle_connect()?;
    let c = d.channel_mut();
    c.connected = true;
    c.connecting = false;
    Ok(())
}

/// Routes a handler's result: ExitNow goes up, WouldBlock is nothing, the rest goes to
/// `handle_error`.
fn settle(d: &mut dyn Dispatcher, r: Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(Error::ExitNow) => Err(Error::ExitNow),
        Err(e) if e.is_would_block() => Ok(()),
        Err(e) => {
            report(d, e);
            Ok(())
        }
    }
}

fn report(d: &mut dyn Dispatcher, err: Error) {
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| d.handle_error(err))) {
        log::error!(
            "handle_error panicked ({}); closing channel {:?}",
            panic_message(&*p, "handle_error"),
            d.channel()
        );
        d.channel_mut().close();
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send), phase: &str) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "non-string panic payload"
    };
    format!("{msg} (in {phase})")
}
