//! One pass of the loop: consult, poll, dispatch, run due tasks (see the
//! [`event_loop`](crate::event_loop) docs for what each step promises).

use std::io;
use std::time::{Duration, Instant};

use crate::core::{Core, Scratch, WAKE_TOKEN};
use crate::cx::Cx;
use crate::dispatch;
use crate::dispatcher::Dispatcher;
use crate::error::Result;
use crate::map::Map;
use crate::node::{Node, NodeRef};
use crate::ready::Ready;
use crate::slab::Key;
use crate::tasks::Tasks;

impl Core {
    /// One pass over `map` (whose core is `self`).
    #[inline]
    pub(crate) fn pass(
        &self,
        map: &Map,
        tasks: Option<&Tasks>,
        timeout: Option<Duration>,
    ) -> Result<()> {
        let pass = self.pass.get() + 1;
        self.pass.set(pass);
        // The pass keeps the map's scratch vectors (and their capacity) borrowed; a
        // nested pass, run from a handler, makes do with vectors of its own.
        match self.scratch.try_borrow_mut() {
            Ok(mut scratch) => {
                let r = self.run_pass(map, tasks, pass, timeout, &mut scratch);
                scratch.queue.clear();
                scratch.ready.clear();
                r
            }
            Err(_) => self.run_pass(map, tasks, pass, timeout, &mut Scratch::default()),
        }
    }

    fn run_pass(
        &self,
        map: &Map,
        tasks: Option<&Tasks>,
        pass: u64,
        timeout: Option<Duration>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let budget = self.budget.get();
        self.finish_closing(map);
        self.resume_accepts();
        // Tasks matter to this pass only if some are pending: then (and only then) the
        // clock is read, to bound the poll and to find the due tasks.
        let due = tasks.filter(|t| !t.is_empty());

        // 1. The channels queued since the last pass: touched ones, added ones, and
        // those served in the last pass that still had readiness their predicates
        // wanted. Their predicates are consulted now, to know whether the poll may
        // wait.
        {
            let mut queue = self.queue.borrow_mut();
            if !queue.is_empty() {
                std::mem::swap(&mut scratch.queue, &mut *queue);
            }
        }
        if self.consult_all.get() {
            scratch.queue.extend(self.keys());
        }
        // Readiness a nested pass could not deliver: for the channels whose handler is
        // still running (this is a nested pass itself), it waits for the outer loop
        // and does not keep this one awake.
        let deferred = {
            let mut deferred = self.deferred.borrow_mut();
            if deferred.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut *deferred)
            }
        };
        for (key, bits) in deferred {
            let running = self
                .get(key)
                .is_some_and(|n| n.node().handler.try_borrow_mut().is_err());
            if running {
                self.deferred.borrow_mut().push((key, bits));
            } else {
                scratch.ready.push((key, bits));
            }
        }
        let mut busy = !scratch.ready.is_empty();
        for &key in &scratch.queue {
            if let Some(node) = self.get(key) {
                // Taken from the queue: a handler may queue it again from now on.
                node.node().meta.queued.set(false);
                busy |= self.has_work(map, key, &node, pass);
                release(node);
            }
        }

        // 2. Poll: without waiting if some channel may have work already; otherwise
        // until the timeout or the next task's deadline, whichever comes first. mio
        // rounds a timeout up to whole milliseconds, so rounding never ends the poll
        // before a deadline; step 5 checks the clock anyway.
        let mut wait = if busy { Some(Duration::ZERO) } else { timeout };
        if let Some(resume) = (!busy).then(|| self.next_resume()).flatten() {
            let left = resume.saturating_duration_since(Instant::now());
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        if let Some(t) = due {
            if wait != Some(Duration::ZERO) {
                if let Some(deadline) = t.next_deadline() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    wait = Some(wait.map_or(left, |w| w.min(left)));
                }
            }
        }
        let mut woken = false;
        {
            let mut poll = self.poll.borrow_mut();
            let mut events = self.events.borrow_mut();
            match poll.poll(&mut events, wait) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            for ev in events.iter() {
                if ev.token() == WAKE_TOKEN {
                    woken = true;
                } else {
                    scratch
                        .ready
                        .push((Key(ev.token().0), Ready::from_event(ev)));
                }
            }
        }

        // A LoopHandle woke us: run the closures it sent before dispatching, so an
        // ExitNow below cannot strand them.
        if woken {
            if let Some(remote) = self.remote.get() {
                remote.serve(map);
            }
        }

        // 3. Channels with events: record the readiness, consult, dispatch. Then the
        // queued channels not served with an event.
        let mut outcome = Ok(());
        for &(key, bits) in &scratch.ready {
            if let Some(node) = self.get(key) {
                node.run(self, map, key, &node, bits, (pass, budget), &mut outcome);
                release(node);
            }
        }
        for &key in &scratch.queue {
            if let Some(node) = self.get(key) {
                node.run(
                    self,
                    map,
                    key,
                    &node,
                    Ready::EMPTY,
                    (pass, budget),
                    &mut outcome,
                );
                release(node);
            }
        }
        outcome?;

        // 4. Run the tasks that are due.
        if let Some(t) = due {
            t.queue.run_due(Instant::now());
        }
        Ok(())
    }

    /// Consults a queued channel's predicates before the poll: true if it has
    /// readiness it wants, so the poll must not wait.
    fn has_work(&self, map: &Map, key: Key, node: &NodeRef, pass: u64) -> bool {
        let n = node.node();
        if n.meta.key() != Some(key) {
            return false;
        }
        let (Ok(mut chan), Ok(mut d)) = (n.chan.try_borrow_mut(), n.handler.try_borrow_mut())
        else {
            // Its handler is running (this is a nested pass): it stays queued for the
            // outer loop, and does not keep this pass from sleeping.
            return false;
        };
        if !n.meta.consulted_in(pass) {
            n.meta.consult_in(pass);
            let _running = n.meta.enter();
            let wants = {
                let mut cx = Cx::with_meta(&mut chan, map, node, &n.meta);
                dispatch::consult(&mut *d, &mut cx)
            };
            if n.meta.key() != Some(key) || !chan.is_open() {
                self.after_run(map, node, &n.meta, &mut chan, &mut *d);
                return false;
            }
            n.meta.wants.set(wants);
        }
        chan.ready.intersects(n.meta.wants.get()) || chan.close_due
    }

    /// Serves one channel, unless an earlier one asked the loop to exit (then it is
    /// queued for the next pass), or its handler is running (a nested pass: its
    /// readiness is kept for the outer loop's next pass).
    ///
    /// Called through [`AnyNode::run`](crate::node::AnyNode::run) with `n`, the node
    /// behind `node`, at its own type: from here on the dispatcher's methods are
    /// static calls, which the compiler can inline into the dispatch.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn run_channel<T: Dispatcher>(
        &self,
        map: &Map,
        key: Key,
        node: &NodeRef,
        n: &Node<T>,
        bits: Ready,
        at: (u64, u32),
        outcome: &mut Result<()>,
    ) {
        if n.meta.key() != Some(key) {
            return;
        }
        let (Ok(mut chan), Ok(mut d)) = (n.chan.try_borrow_mut(), n.handler.try_borrow_mut())
        else {
            if bits.is_empty() {
                self.enqueue(&n.meta);
            } else {
                self.deferred.borrow_mut().push((key, bits));
            }
            return;
        };
        let mut bits = bits;
        if bits.intersects(Ready::READ) && chan.accepting && self.is_paused(key) {
            // Out of descriptors: no accept events until the pause is over.
            bits.remove(Ready::READ);
        }
        chan.ready |= bits;
        if outcome.is_err() || (!bits.is_empty() && n.meta.served_in(at.0)) {
            // ExitNow: what was not served is served by the next pass. Or readiness
            // for a channel served already in this pass (a second entry for it, from
            // nested passes): the next pass serves it.
            self.enqueue(&n.meta);
            return;
        }
        let _running = n.meta.enter();
        let result = {
            let mut cx = Cx::with_meta(&mut chan, map, node, &n.meta);
            dispatch::serve(self, &mut *d, &mut cx, key, at)
        };
        self.after_run(map, node, &n.meta, &mut chan, &mut *d);
        if result.is_err() {
            self.enqueue(&n.meta);
            *outcome = result;
        }
    }
}

/// Drops the loop's reference to a node; if it was the last (the channel closed and no
/// handle keeps it), the dispatcher's `Drop` runs here, inside the panic guard.
#[inline]
pub(crate) fn release(node: NodeRef) {
    if std::rc::Rc::strong_count(&node) == 1 {
        crate::panic::catch_logged("dropping a closed dispatcher", move || drop(node));
    }
}
