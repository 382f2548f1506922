//! [`write_iterable`]: sending the items of an iterator, with a callback per item.

use std::fmt;
use std::io;

use super::raw::{self, Outcome};
use crate::Channel;

/// Where an item stands when [`write_iterable`]'s `for_each` is called with it.
///
/// asycamore passed `before_send=True` / `after_send=True` keyword flags, both false
/// for "all sent"; this is the same three cases as one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Just before the item's first send (only with `before_and_after`).
    Before,
    /// Just after the item's first send that the socket took bytes from: sending has
    /// started (only with `before_and_after`).
    AfterFirst,
    /// The whole item has been handed to the socket.
    Done,
}

/// What a call to [`WriteIterable::handle_write`] or [`WriteIterable::write_item`]
/// came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writing {
    /// The socket is full; an item may be partly sent. Call again on the next write
    /// event.
    Blocked,
    /// An item was sent completely (from `write_item` only); more may follow.
    ItemSent,
    /// The iterator returned `None`: nothing more to send for now.
    Finished,
}

struct Current<T> {
    item: T,
    offset: usize,
    started: bool,
}

/// A state machine sending the items of an iterator in order: see [`write_iterable`].
pub struct WriteIterable<I: Iterator, F> {
    iter: I,
    current: Option<Current<I::Item>>,
    for_each: F,
    before_and_after: bool,
    finished: bool,
}

/// Sends the items of `iterable` to a channel's socket, in order, driven from a
/// dispatcher's `handle_write`: asycamore's
/// `write_iterable(o, iterable, for_each, sentinel, before_and_after)`.
///
/// Items are anything that is bytes (`Vec<u8>`, `&[u8]`, `String`, `Bytes`, ...).
/// `for_each(&item, Sent::Done)` is called once the whole item has been handed to
/// the socket. With `before_and_after`, `for_each(&item, Sent::Before)` also comes
/// just before the item's first send and `for_each(&item, Sent::AfterFirst)` just
/// after it, so one callback can tell "started sending" from "sent". For every item
/// the calls come in the order `Before`, `AfterFirst`, `Done`, and an item's `Done`
/// comes before the next item's `Before`. An empty item gets all three at once.
///
/// The iterator is pulled lazily, one item when the previous one is done. When it
/// returns `None` the writer is [finished](WriteIterable::is_finished) for now; a
/// later call asks the iterator again, so an iterator over a queue you refill (through
/// [`iter_mut`](WriteIterable::iter_mut)) resumes, while a fused one stays finished.
///
/// Sending uses the same calls as [`socket_writer`](super::socket_writer): a socket
/// error (a reset, a broken pipe) is returned from `handle_write` with the item left
/// in progress; the usual reaction is to close the channel. From a dispatcher, pass
/// the running channel: `writer.handle_write(cx.channel_mut())`.
///
/// # Examples
///
/// A client that sends three requests and reports each one sent:
///
/// ```
/// use asyncore::tcpsocket::{write_iterable, Sent, WriteIterable, Writing};
/// use asyncore::{Cx, Dispatcher, Result};
///
/// type Requests = std::vec::IntoIter<String>;
///
/// struct Client {
///     out: WriteIterable<Requests, fn(&String, Sent)>,
/// }
///
/// fn report(item: &String, when: Sent) {
///     match when {
///         Sent::Before => println!("about to send {item:?}"),
///         Sent::AfterFirst => println!("started sending {item:?}"),
///         Sent::Done => println!("sent {item:?}"),
///     }
/// }
///
/// impl Dispatcher for Client {
///     fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
///         !cx.connected || !self.out.is_finished()
///     }
///     fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
///         Ok(())
///     }
///     fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
///         if self.out.handle_write(cx.channel_mut())? == Writing::Finished {
///             cx.close();
///         }
///         Ok(())
///     }
/// }
///
/// let requests = vec!["one\n".to_string(), "two\n".into(), "three\n".into()];
/// let out = write_iterable(requests, report as fn(&String, Sent), true);
/// let client = Client { out };
/// // map.add(chan, client)?, with `chan` connecting to the server (see connect_tcp).
/// # let _ = client;
/// ```
pub fn write_iterable<I, F>(
    iterable: I,
    for_each: F,
    before_and_after: bool,
) -> WriteIterable<I::IntoIter, F>
where
    I: IntoIterator,
    I::Item: AsRef<[u8]>,
    F: FnMut(&I::Item, Sent),
{
    WriteIterable {
        iter: iterable.into_iter(),
        current: None,
        for_each,
        before_and_after,
        finished: false,
    }
}

impl<I, F> WriteIterable<I, F>
where
    I: Iterator,
    I::Item: AsRef<[u8]>,
    F: FnMut(&I::Item, Sent),
{
    /// Sends items until the socket would block or the iterator returns `None`:
    /// call it from `handle_write`. Returns [`Writing::Blocked`] or
    /// [`Writing::Finished`].
    ///
    /// # Errors
    ///
    /// A socket error other than would-block (EINTR is retried); the item being sent
    /// stays in progress.
    pub fn handle_write(&mut self, chan: &mut Channel) -> io::Result<Writing> {
        loop {
            match self.write_item(chan)? {
                Writing::ItemSent => continue,
                other => return Ok(other),
            }
        }
    }

    /// Like [`handle_write`](WriteIterable::handle_write), but returns as soon as one
    /// item has been sent completely ([`Writing::ItemSent`]), so the caller can wait
    /// before starting the next (for example for a reply). Does not start a new item
    /// when it returns `ItemSent`.
    ///
    /// # Errors
    ///
    /// As for [`handle_write`](WriteIterable::handle_write).
    pub fn write_item(&mut self, chan: &mut Channel) -> io::Result<Writing> {
        if self.current.is_none() {
            let Some(item) = self.iter.next() else {
                self.finished = true;
                return Ok(Writing::Finished);
            };
            self.finished = false;
            self.current = Some(Current {
                item,
                offset: 0,
                started: false,
            });
        }
        let current = self.current.as_mut().expect("an item in progress");
        if !current.started {
            current.started = true;
            if self.before_and_after {
                (self.for_each)(&current.item, Sent::Before);
                if current.item.as_ref().is_empty() {
                    (self.for_each)(&current.item, Sent::AfterFirst);
                }
            }
        }
        loop {
            let data = &current.item.as_ref()[current.offset..];
            if data.is_empty() {
                break;
            }
            match raw::send(chan, data) {
                Outcome::Done(n) => {
                    let first = current.offset == 0;
                    current.offset += n;
                    if first && self.before_and_after {
                        (self.for_each)(&current.item, Sent::AfterFirst);
                    }
                }
                Outcome::Blocked => return Ok(Writing::Blocked),
                Outcome::Failed(e) => return Err(e),
            }
        }
        let done = self.current.take().expect("an item in progress");
        (self.for_each)(&done.item, Sent::Done);
        Ok(Writing::ItemSent)
    }

    /// True when the iterator last returned `None` and no item is in progress.
    pub fn is_finished(&self) -> bool {
        self.finished && self.current.is_none()
    }

    /// The item being sent, if one was started and is not sent completely yet.
    pub fn in_progress(&self) -> Option<&I::Item> {
        self.current.as_ref().map(|c| &c.item)
    }

    /// Drops the item in progress and returns it, for instance to send it again on a
    /// new connection; no further callback is made for it.
    pub fn discard_in_progress(&mut self) -> Option<I::Item> {
        self.current.take().map(|c| c.item)
    }

    /// The iterator, to add items to a queue behind it.
    pub fn iter_mut(&mut self) -> &mut I {
        &mut self.iter
    }

    /// The iterator, with the items not taken from it yet.
    pub fn into_inner(self) -> I {
        self.iter
    }
}

impl<I: Iterator, F> fmt::Debug for WriteIterable<I, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteIterable")
            .field("in_progress", &self.current.as_ref().map(|c| c.offset))
            .field("before_and_after", &self.before_and_after)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}
