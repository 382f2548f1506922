//! Whether the default handlers' "unhandled ... event" messages are logged.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

static SHOW_UNHANDLED: AtomicBool = AtomicBool::new(false);

/// Turns the default handlers' "unhandled read event" (and write, connect, close,
/// priority, accepted) messages on or off for the whole process. They are off by
/// default, as in Python, whose `dispatcher.ignore_log_types` drops them; when on,
/// they are logged at warning level through the `log` crate.
///
/// # Examples
///
/// ```
/// asyncore::log_unhandled_events(true); // while porting: see what is not handled
/// # asyncore::log_unhandled_events(false);
/// ```
#[doc(alias = "ignore_log_types")]
pub fn log_unhandled_events(on: bool) {
    SHOW_UNHANDLED.store(on, Relaxed);
}

pub(crate) fn unhandled_events_shown() -> bool {
    SHOW_UNHANDLED.load(Relaxed)
}
