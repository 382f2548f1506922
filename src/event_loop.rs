//! The loop: [`loop_`] (Python's `asyncore.loop`) and one pass of it.
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
//! the other channels. [`Error::ExitNow`] ends the loop and reaches its caller.

use std::any::Any;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::Duration;

use mio::Token;

use crate::channel::{HANGUP, PRIORITY, READ, READ_CLOSED, WRITE};
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::map::{Inner, Map, Shared, WAKE_TOKEN};

/// Python's `asyncore.loop(timeout, use_poll, map, count)` (`loop` is a Rust keyword,
/// hence the trailing underscore).
///
/// Runs passes until `map` (the thread's [global map](Map::global) when `None`) is
/// empty, or until `count` passes have run. Each pass waits at most `timeout` for
/// events (`None`: until one comes), and not at all while some channel has readiness
/// it has not consumed. An empty map returns at once. `use_poll` is accepted for
/// compatibility and changes nothing: mio picks the best poller (epoll on Linux).
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
    match map {
        Some(m) => run(m, timeout, count),
        None => run(&Map::global(), timeout, count),
    }
}

pub(crate) fn run(map: &Map, timeout: Option<Duration>, count: Option<usize>) -> Result<()> {
    let mut passes = 0;
    while !map.is_empty() && count.is_none_or(|c| passes < c) {
        pass(&map.inner, timeout)?;
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
            Err(_) => map.inner.remove(token),
        }
        map.inner.remove(token);
    }
    match first_err {
        Some(e) if !ignore_all => Err(e),
        _ => Ok(()),
    }
}

/// One pass over `inner`: consult, poll, dispatch.
pub(crate) fn pass(inner: &Rc<Inner>, timeout: Option<Duration>) -> Result<()> {
    let pass = inner.pass.get() + 1;
    inner.pass.set(pass);
    let mut scratch = std::mem::take(&mut *inner.scratch.borrow_mut());
    let result = run_pass(inner, pass, timeout, &mut scratch);
    scratch.queue.clear();
    scratch.ready.clear();
    scratch.work.clear();
    *inner.scratch.borrow_mut() = scratch;
    result
}

fn run_pass(
    inner: &Rc<Inner>,
    pass: u64,
    timeout: Option<Duration>,
    scratch: &mut crate::map::Scratch,
) -> Result<()> {
    // 1. Consult the channels queued since the last pass.
    std::mem::swap(&mut scratch.queue, &mut *inner.queue.borrow_mut());
    if inner.consult_all.get() {
        scratch.queue.extend(inner.tokens());
    }
    for &token in &scratch.queue {
        if let Some(d) = inner.get(token) {
            if let Ok(mut g) = d.try_borrow_mut() {
                g.channel_mut().queued = false;
            }
            consider(token, &d, pass, &mut scratch.work);
        }
    }

    // 2. Poll: without waiting if some channel has work already.
    let wait = if scratch.work.is_empty() && inner.queue.borrow().is_empty() {
        timeout
    } else {
        Some(Duration::ZERO)
    };
    {
        let mut poll = inner.poll.borrow_mut();
        let mut events = inner.events.borrow_mut();
        match poll.poll(&mut events, wait) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
        scratch
            .ready
            .extend(events.iter().map(|ev| (ev.token(), readiness(ev))));
    }

    // 3. Record readiness; consult channels not consulted yet this pass.
    for &(token, bits) in &scratch.ready {
        if token == WAKE_TOKEN {
            continue;
        }
        let Some(d) = inner.get(token) else {
            continue; // closed: its slot has moved on
        };
        match d.try_borrow_mut() {
            Ok(mut g) if g.channel().token() == Some(token) => g.channel_mut().ready |= bits,
            _ => continue,
        }
        consider(token, &d, pass, &mut scratch.work);
    }

    // 4. Dispatch.
    let mut work = std::mem::take(&mut scratch.work);
    let mut outcome = Ok(());
    let mut rest = work.drain(..);
    for (token, d) in rest.by_ref() {
        let Ok(mut g) = d.try_borrow_mut() else {
            continue;
        };
        if g.channel().token() != Some(token) {
            continue; // closed earlier in this pass
        }
        if let Err(e) = serve(inner, token, &mut *g) {
            outcome = Err(e);
            break;
        }
    }
    // ExitNow: whatever was not served yet is served by the next pass.
    for (_, d) in rest {
        if let Ok(mut g) = d.try_borrow_mut() {
            g.channel_mut().touch();
        }
    }
    scratch.work = work;
    outcome
}

/// Consults the channel's predicates (once per pass) and schedules it if a readiness
/// bit it wants is set.
fn consider(token: Token, d: &Shared, pass: u64, work: &mut Vec<(Token, Shared)>) {
    let Ok(mut g) = d.try_borrow_mut() else {
        return;
    };
    if g.channel().token() != Some(token) {
        return;
    }
    if g.channel().consulted_pass != pass {
        g.channel_mut().consulted_pass = pass;
        let wants = consult(&mut *g);
        if g.channel().token() != Some(token) {
            return; // a predicate closed it
        }
        g.channel_mut().wants = wants;
    }
    let c = g.channel_mut();
    if c.scheduled_pass != pass && (c.ready & mask(c.wants) != 0 || c.close_due) {
        c.scheduled_pass = pass;
        drop(g);
        work.push((token, d.clone()));
    }
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

fn consult(d: &mut dyn Dispatcher) -> u8 {
    let asked = catch_unwind(AssertUnwindSafe(|| {
        let mut wants = 0;
        if d.readable() {
            wants |= READ;
        }
        if !d.channel().accepting && d.writable() {
            wants |= WRITE;
        }
        wants
    }));
    match asked {
        Ok(w) => w,
        Err(p) => {
            report(d, Error::Panic(panic_message(&*p, "readable/writable")));
            0
        }
    }
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

/// Serves one scheduled channel. `Err` only for [`Error::ExitNow`].
fn serve(inner: &Rc<Inner>, token: Token, d: &mut dyn Dispatcher) -> Result<()> {
    let c = d.channel();
    let fire = c.ready & mask(c.wants);
    if fire & (READ | WRITE | PRIORITY) != 0 {
        let r = guarded(d, "event handler", |d| dispatch(d, fire));
        settle(d, r)?;
    }
    let open = |d: &dyn Dispatcher| d.channel().token() == Some(token);
    if open(d) && d.channel().close_due {
        d.channel_mut().close_due = false;
        let r = guarded(d, "handle_close", |d| d.handle_close());
        settle(d, r)?;
    }
    // A hang-up or error, once the data before it has been read: Python's poll loop
    // calls handle_close for POLLHUP/POLLERR.
    let c = d.channel();
    if open(d) && c.ready & HANGUP != 0 && (c.ready & READ == 0 || c.wants & READ == 0) {
        d.channel_mut().ready &= !HANGUP;
        let r = guarded(d, "handle_close", |d| d.handle_close());
        settle(d, r)?;
    }
    if open(d) {
        if inner.get(token).is_none() {
            // close_all emptied the slot while this handler ran.
            d.close();
        } else if d.channel().ready & !READ_CLOSED != 0 || d.channel().close_due {
            // Readiness left over: consult the predicates again next pass.
            let c = d.channel_mut();
            inner.enqueue(token, &mut c.queued);
        }
    }
    Ok(())
}

/// Python's `handle_read_event` / `handle_write_event` / `handle_expt_event`.
fn dispatch(d: &mut dyn Dispatcher, fire: u8) -> Result<()> {
    if fire & READ != 0 {
        if d.channel().accepting {
            d.handle_accept()?;
        } else {
            if !d.channel().connected && d.channel().connecting {
                connect_event(d)?;
            }
            d.handle_read()?;
        }
    }
    let c = d.channel();
    if fire & WRITE != 0 && c.is_open() && !c.accepting && !c.close_due {
        if !c.connected && c.connecting {
            connect_event(d)?;
        }
        d.handle_write()?;
    }
    if fire & PRIORITY != 0 && d.channel().is_open() {
        d.channel_mut().ready &= !PRIORITY;
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
        return Err(err.into());
    }
    d.handle_connect()?;
    let c = d.channel_mut();
    c.connected = true;
    c.connecting = false;
    Ok(())
}

fn guarded(
    d: &mut dyn Dispatcher,
    phase: &str,
    f: impl FnOnce(&mut dyn Dispatcher) -> Result<()>,
) -> Result<()> {
    match catch_unwind(AssertUnwindSafe(|| f(&mut *d))) {
        Ok(r) => r,
        Err(p) => Err(Error::Panic(panic_message(&*p, phase))),
    }
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
