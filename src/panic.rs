//! Catching panics: the one place the crate turns a panic into an [`Error`].

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::error::Error;

/// Runs `f`; a panic becomes [`Error::Panic`] naming `phase` (what was running).
#[inline]
pub(crate) fn catch<R>(phase: &str, f: impl FnOnce() -> R) -> Result<R, Error> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|p| Error::Panic(message(&*p, phase)))
}

/// Runs `f`, which names in `phase` what it is doing; a panic becomes
/// [`Error::Panic`] naming the phase it happened in.
#[inline]
pub(crate) fn catch_phased<R>(f: impl FnOnce(&mut &'static str) -> R) -> Result<R, Error> {
    let mut phase = "";
    catch_unwind(AssertUnwindSafe(|| f(&mut phase))).map_err(|p| Error::Panic(message(&*p, phase)))
}

/// Runs `f`; a panic is logged at error level as `what panicked: message` and makes
/// the result false.
pub(crate) fn catch_logged(what: &str, f: impl FnOnce()) -> bool {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(()) => true,
        Err(p) => {
            log::error!("{what} panicked: {}", message(&*p, what));
            false
        }
    }
}

/// A panic payload's message, with the phase it came from.
pub(crate) fn message(payload: &(dyn Any + Send), phase: &str) -> String {
    let msg = if let Some(s) = payload.downcast_ref::<&str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.as_str()
    } else {
        "non-string panic payload"
    };
    format!("{msg} (in {phase})")
}
