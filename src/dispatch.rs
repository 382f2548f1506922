//! Serving one channel in a pass: consult its predicates, call its handlers while it
//! has readiness they want (up to the pass's budget), route their results.
//!
//! Everything here is generic over the dispatcher's type `D`: the loop reaches it
//! through one virtual call per event (`AnyNode::run`), with `D` the handler's own
//! type, so the predicates and handlers are static calls. The pre-poll consult of a
//! queued channel (`Core::has_work`) uses it with `D = dyn Dispatcher`.

use crate::core::Core;
use crate::cx::Cx;
use crate::dispatcher::Dispatcher;
use crate::error::{Error, Result};
use crate::ready::Ready;
use crate::slab::Key;

/// The predicates, as the readiness that leads to a dispatch: READ and PRIORITY if
/// `readable()`, WRITE if `writable()` (never asked for a listening channel), and
/// HANGUP always. A panic in one goes to `handle_error`, and the channel wants
/// nothing but a hang-up this time.
pub(crate) fn consult<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>) -> Ready {
    match crate::panic::catch("readable/writable", || predicates(d, cx)) {
        Ok(w) => w,
        Err(e) => {
            report(d, cx, e);
            Ready::HANGUP
        }
    }
}

#[inline]
fn predicates<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>) -> Ready {
    let mut wants = Ready::HANGUP;
    if d.readable(cx) {
        wants |= Ready::READ | Ready::PRIORITY;
    }
    if !cx.accepting && d.writable(cx) {
        wants |= Ready::WRITE;
    }
    wants
}

/// True once the channel left its map, was closed, or got a new socket: the rest of
/// the pass leaves it alone, and `Core::after_run` takes over.
#[inline]
fn gone(cx: &Cx<'_>, key: Key) -> bool {
    let meta = cx.meta();
    meta.key() != Some(key)
        || !cx.is_open()
        || cx.epoch != cx.registered
        || meta.close_requested.get()
}

/// Serves a channel: consults its predicates (unless done this pass) and, while a
/// readiness bit it wants is set, dispatches, up to `budget` times. `Err` only for
/// [`Error::ExitNow`]. A panic anywhere goes to the channel's `handle_error`.
///
/// After dispatching, the predicates are consulted again at once, while the channel
/// is at hand: if it still has readiness it wants, it is queued for the next pass
/// (which consults again before dispatching); if not, it waits for an event or a
/// touch, and the next pass does not look at it at all.
pub(crate) fn serve<D: Dispatcher + ?Sized>(
    core: &Core,
    d: &mut D,
    cx: &mut Cx<'_>,
    key: Key,
    (pass, budget): (u64, u32),
) -> Result<()> {
    let meta = cx.meta();
    if meta.served_in(pass) {
        return Ok(()); // served already (and consulted before that)
    }
    // The answer the predicates gave after the channel's handlers last ran, in the
    // previous pass, stands if it wants the readiness that came: it is one poll
    // old, as the answers are in Python's loop (asked before `select`). An answer
    // that wants none of it is asked again.
    let standing = meta.fresh_in(pass - 1) && cx.ready.intersects(meta.wants.get());
    if !meta.serve_in(pass) && !standing && ask(d, cx, key, pass).is_none() {
        return Ok(());
    }
    let mut round = 0;
    while round < budget {
        round += 1;
        let meta = cx.meta();
        let fire = cx.ready & meta.wants.get();
        if fire.is_empty() && !cx.close_due {
            return Ok(()); // nothing it wants
        }
        meta.stale();
        if fire.intersects(Ready::READ | Ready::WRITE | Ready::PRIORITY) {
            match crate::panic::catch_phased(|phase| dispatch(d, cx, fire, phase)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => settle(d, cx, Err(e))?,
            }
        }
        if gone(cx, key) {
            return Ok(());
        }
        if cx.close_due || cx.ready.intersects(Ready::HANGUP) {
            closing(d, cx)?;
            if gone(cx, key) {
                return Ok(());
            }
        }
        if cx.ready.without(Ready::NOTES).is_empty() {
            return Ok(()); // nothing left to dispatch: wait for an event
        }
        let Some(wants) = ask(d, cx, key, pass) else {
            return Ok(());
        };
        if !cx.ready.intersects(wants) && !cx.close_due {
            return Ok(());
        }
        if round == budget {
            core.enqueue(cx.meta());
        }
    }
    Ok(())
}

/// Consults the predicates and records their answer as pass `pass`'s; `None` if
/// they closed the channel or moved it (then the caller leaves it alone).
#[inline]
fn ask<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>, key: Key, pass: u64) -> Option<Ready> {
    let wants = consult(d, cx);
    if gone(cx, key) {
        return None;
    }
    let meta = cx.meta();
    meta.wants.set(wants);
    meta.consult_in(pass);
    Some(wants)
}

/// `handle_close` when a socket call found the peer gone (or a chat's
/// `close_when_done` marker was reached), or on a hang-up or error once the data
/// before it has been read (Python's poll loop calls `handle_close` for
/// POLLHUP/POLLERR).
#[cold]
fn closing<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>) -> Result<()> {
    if std::mem::take(&mut cx.close_due) {
        let epoch = cx.epoch;
        let r = call("handle_close", || d.handle_close(cx));
        // A reset connection is over: if `handle_close` kept it (and gave it no new
        // socket), it is closed now, so it can neither spin nor leak, whatever
        // `handle_close` returned (ExitNow included).
        if cx.is_open()
            && cx.epoch == epoch
            && matches!(cx.disconnect(), Some(crate::Disconnect::Reset(_)))
        {
            cx.log("handle_close left a reset connection open: closing it");
            cx.close();
        }
        settle(d, cx, r)?;
        if !cx.is_open() {
            return Ok(());
        }
    }
    let wants = cx.meta().wants.get();
    if cx.ready.intersects(Ready::HANGUP)
        && (!cx.ready.intersects(Ready::READ) || !wants.intersects(Ready::READ))
    {
        cx.ready.remove(Ready::HANGUP);
        let r = call("handle_close", || d.handle_close(cx));
        settle(d, cx, r)?;
    }
    Ok(())
}

/// Runs one handler, turning a panic into an error that names it.
#[inline]
fn call(phase: &str, f: impl FnOnce() -> Result<()>) -> Result<()> {
    crate::panic::catch(phase, f).and_then(|r| r)
}

/// Python's `handle_read_event` / `handle_write_event` / `handle_expt_event`.
/// `phase` names the handler running, for a panic's description.
fn dispatch<D: Dispatcher + ?Sized>(
    d: &mut D,
    cx: &mut Cx<'_>,
    fire: Ready,
    phase: &mut &'static str,
) -> Result<()> {
    // Each handler below runs only while the channel is still the one the event was
    // for: open, with the same socket, and not closed from elsewhere.
    let epoch = cx.epoch;
    let live = |cx: &Cx<'_>| cx.is_open() && cx.epoch == epoch && !cx.meta().close_requested.get();
    if fire.intersects(Ready::READ) {
        if cx.accepting {
            *phase = "handle_accept";
            d.handle_accept(cx)?;
        } else {
            if !cx.connected && cx.connecting {
                *phase = "handle_connect";
                connect_event(d, cx)?;
            }
            if live(cx) {
                *phase = "handle_read";
                d.handle_read(cx)?;
            }
        }
    }
    // WRITE must still be set: a read handler that replaced the socket (a reconnect)
    // starts the new one with no readiness.
    if fire.intersects(Ready::WRITE)
        && cx.ready.intersects(Ready::WRITE)
        && live(cx)
        && !cx.accepting
        && !cx.close_due
    {
        if !cx.connected && cx.connecting {
            *phase = "handle_connect";
            connect_event(d, cx)?;
        }
        if live(cx) {
            *phase = "handle_write";
            d.handle_write(cx)?;
        }
    }
    if fire.intersects(Ready::PRIORITY) && live(cx) {
        cx.ready.remove(Ready::PRIORITY);
        cx.ready |= Ready::URGENT;
        *phase = "handle_expt";
        match cx.take_error() {
            Ok(Some(_)) => d.handle_close(cx)?,
            _ => d.handle_expt(cx)?,
        }
        // The priority event does not say whether ordinary data came with it: look.
        if cx.is_open() && cx.has_data() {
            cx.ready |= Ready::READ;
        }
    }
    Ok(())
}

/// Python's `handle_connect_event`: check `SO_ERROR`, then `handle_connect`.
fn connect_event<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>) -> Result<()> {
    if let Some(err) = cx.take_error()? {
        // Refused: this connect is over, and never reported as a connect.
        cx.connecting = false;
        return Err(err.into());
    }
    d.handle_connect(cx)?;
    cx.connected = true;
    cx.connecting = false;
    Ok(())
}

/// Routes a handler's result: ExitNow goes up, WouldBlock is nothing, the rest goes to
/// `handle_error`.
#[inline]
fn settle<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>, r: Result<()>) -> Result<()> {
    match r {
        Ok(()) => Ok(()),
        Err(Error::ExitNow) => Err(Error::ExitNow),
        Err(e) if e.is_would_block() => Ok(()),
        Err(e) => {
            report(d, cx, e);
            Ok(())
        }
    }
}

/// Hands an error to `handle_error`; if that panics too, the channel is closed.
#[cold]
pub(crate) fn report<D: Dispatcher + ?Sized>(d: &mut D, cx: &mut Cx<'_>, err: Error) {
    if let Err(e) = crate::panic::catch("handle_error", || d.handle_error(cx, err)) {
        log::error!("{e}; closing channel {:?}", **cx);
        cx.close();
    }
}
