//! [`Ready`]: the readiness a channel has been told of and not yet consumed.
//!
//! The poller (mio, edge-triggered) sets bits; a socket call that finds nothing to do
//! clears them (see the [`event_loop`](crate::event_loop) docs). The loop dispatches
//! to a channel while it has a bit its predicates want.

use std::ops::{BitAnd, BitOr, BitOrAssign};

/// A small set of readiness kinds.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub(crate) struct Ready(u8);

impl Ready {
    pub(crate) const EMPTY: Ready = Ready(0);
    /// Data (or the end of the stream) can be read, or a connection accepted.
    pub(crate) const READ: Ready = Ready(1);
    /// The socket can take data.
    pub(crate) const WRITE: Ready = Ready(2);
    /// Priority (out-of-band) data or an exceptional condition.
    pub(crate) const PRIORITY: Ready = Ready(4);
    /// Hang-up or error: `handle_close` once the data before it has been read.
    pub(crate) const HANGUP: Ready = Ready(8);
    /// The peer has closed its side: a short read no longer means "drained", since
    /// the end of stream is still to be read and brings no new edge.
    pub(crate) const READ_CLOSED: Ready = Ready(16);
    /// Priority data arrived: an urgent mark may lie ahead in the stream, where a
    /// read stops short, so a short read does not mean "drained" until a read would
    /// block. Never dispatched on its own.
    pub(crate) const URGENT: Ready = Ready(32);
    /// Notes, not readiness to dispatch.
    pub(crate) const NOTES: Ready = Ready(16 | 32);

    /// True if any kind in `other` is in `self`.
    #[inline]
    pub(crate) const fn intersects(self, other: Ready) -> bool {
        self.0 & other.0 != 0
    }

    #[inline]
    pub(crate) const fn is_empty(self) -> bool {
        self.0 == 0
    }

    #[inline]
    pub(crate) fn remove(&mut self, other: Ready) {
        self.0 &= !other.0;
    }

    #[inline]
    pub(crate) const fn without(self, other: Ready) -> Ready {
        Ready(self.0 & !other.0)
    }

    /// What a mio event says.
    #[inline]
    pub(crate) fn from_event(ev: &mio::event::Event) -> Ready {
        // The common events first: data to read, room to write, or both.
        if !(ev.is_priority() || ev.is_read_closed() || ev.is_write_closed() || ev.is_error()) {
            let mut r = Ready::EMPTY;
            if ev.is_readable() {
                r |= Ready::READ;
            }
            if ev.is_writable() {
                r |= Ready::WRITE;
            }
            return r;
        }
        Ready::from_unusual_event(ev)
    }

    #[cold]
    fn from_unusual_event(ev: &mio::event::Event) -> Ready {
        let mut r = Ready::EMPTY;
        if ev.is_priority() {
            // mio counts EPOLLPRI as readable too; only priority is meant here. Any
            // ordinary data that came with it is found by the loop after
            // `handle_expt` (see `dispatch`).
            r |= Ready::PRIORITY;
        } else if ev.is_readable() {
            r |= Ready::READ;
        }
        if ev.is_read_closed() {
            r |= Ready::READ | Ready::READ_CLOSED;
        }
        if ev.is_writable() {
            r |= Ready::WRITE;
        }
        if ev.is_error() || (ev.is_read_closed() && ev.is_write_closed()) {
            r |= Ready::READ | Ready::WRITE | Ready::HANGUP;
        }
        r
    }
}

impl BitOr for Ready {
    type Output = Ready;
    #[inline]
    fn bitor(self, rhs: Ready) -> Ready {
        Ready(self.0 | rhs.0)
    }
}

impl BitOrAssign for Ready {
    #[inline]
    fn bitor_assign(&mut self, rhs: Ready) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Ready {
    type Output = Ready;
    #[inline]
    fn bitand(self, rhs: Ready) -> Ready {
        Ready(self.0 & rhs.0)
    }
}
