//! The stop signal every server watches.
//!
//! A server either polls [`Stop::is_stopped`] (for a loop with a bounded poll
//! timeout) or registers a wake-up with [`Stop::on_stop`] (a mio `Waker`, a tokio
//! `Notify`, a write to a pipe its loop watches). Both see the same signal.
//!
//! Registered wake-ups are kept until the last clone of the `Stop` is dropped, and
//! the harness keeps one until the server has returned. That matters for a mio
//! `Waker`: if its eventfd were closed right after the wake, epoll would forget the
//! pending event and a server about to poll would sleep forever.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

type Callback = Box<dyn Fn() + Send>;

/// Set once by the harness when a scenario ends; cheap to clone.
#[derive(Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopped: AtomicBool,
    callbacks: Mutex<Vec<Callback>>,
}

impl Stop {
    /// A signal that has not been given yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// True once the harness has asked the server to stop.
    pub fn is_stopped(&self) -> bool {
        self.inner.stopped.load(Ordering::Acquire)
    }

    /// Runs `wake` when the signal is given (at once if it already was), on the
    /// harness's thread. It should only wake the server's loop, and must not call
    /// back into this `Stop`.
    pub fn on_stop(&self, wake: impl Fn() + Send + 'static) {
        let mut callbacks = self.inner.callbacks.lock().unwrap();
        if self.is_stopped() {
            wake();
        }
        callbacks.push(Box::new(wake));
    }

    /// Gives the signal: sets the flag, then runs every registered wake-up.
    pub fn stop(&self) {
        let callbacks = self.inner.callbacks.lock().unwrap();
        if !self.inner.stopped.swap(true, Ordering::AcqRel) {
            for wake in callbacks.iter() {
                wake();
            }
        }
    }
}
