//! Reaching a loop from other threads: closures run once each and in order, wake-ups,
//! exits, channels found by id, and a map that is gone.

mod util;

use std::collections::HashMap;
use std::io::Read;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use asyncore::{ChannelId, Cx, Dispatcher, LoopHandle, Map, Result, Tasks};
use util::*;

const LIMIT: Duration = Duration::from_secs(20);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn handles_and_ids_can_cross_threads() {
    fn send_sync<T: Send + Sync + 'static>() {}
    send_sync::<LoopHandle>();
    send_sync::<ChannelId>();
}

/// A map that never empties by itself: a listening channel.
fn busy_map() -> Map {
    let map = Map::new().unwrap();
    let (chan, _) = listening_channel();
    let (rec, _) = Recorder::new();
    map.add(chan, rec).unwrap();
    map
}

/// Closes every channel of `map` after `LIMIT`, so a broken test fails instead of
/// hanging. A task on this thread's global tasks, which `loop_` runs.
fn watchdog(map: &Map) -> asyncore::TaskHandle {
    let map = map.clone();
    asyncore::call_later(LIMIT, move || {
        asyncore::close_all(Some(&map), true).unwrap()
    })
}

/// Runs `map` until a `LoopHandle::exit`, failing the test if that takes past `LIMIT`.
fn run_until_exit(map: &Map) {
    let start = Instant::now();
    asyncore::loop_with_tasks(Some(LIMIT), Some(map), Some(&Tasks::new()), None).unwrap();
    assert!(start.elapsed() < LIMIT, "no exit within {LIMIT:?}");
    assert!(!map.is_empty(), "ended by the exit, not by an empty map");
}

#[test]
fn closures_from_many_threads_each_run_once_in_order_on_the_loop_thread() {
    const THREADS: usize = 8;
    const EACH: usize = 500;
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let loop_thread = thread::current().id();
    let seen: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let off_thread = Arc::new(AtomicUsize::new(0));
    let go = Arc::new(Barrier::new(THREADS));

    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (remote, seen, off, go) =
                (remote.clone(), seen.clone(), off_thread.clone(), go.clone());
            thread::spawn(move || {
                go.wait();
                for i in 0..EACH {
                    let (seen, off) = (seen.clone(), off.clone());
                    assert!(remote.call(move |_map| {
                        if thread::current().id() != loop_thread {
                            off.fetch_add(1, Ordering::SeqCst);
                        }
                        seen.lock().unwrap().push((t, i));
                    }));
                    if i % 64 == 0 {
                        thread::yield_now();
                    }
                }
            })
        })
        .collect();
    let stopper = {
        let remote = remote.clone();
        thread::spawn(move || {
            for w in workers {
                w.join().unwrap();
            }
            // Queued after every closure above: they have all run when the loop returns.
            remote.exit();
        })
    };
    run_until_exit(&map);
    stopper.join().unwrap();

    assert_eq!(off_thread.load(Ordering::SeqCst), 0);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), THREADS * EACH, "each closure ran exactly once");
    let mut next: HashMap<usize, usize> = HashMap::new();
    for &(t, i) in seen.iter() {
        let expected = next.entry(t).or_insert(0);
        assert_eq!(i, *expected, "thread {t}'s closures out of order");
        *expected += 1;
    }
}

#[test]
fn exit_from_another_thread_ends_a_running_loop() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(ms(100));
        assert!(remote.exit());
    });
    let watchdog = watchdog(&map);
    asyncore::loop_(None, false, Some(&map), None).unwrap();
    assert!(watchdog.cancel(), "ended by the exit, not by the watchdog");
    assert!(start.elapsed() >= ms(100));
    assert!(start.elapsed() < LIMIT);
    assert!(!map.is_empty());
    t.join().unwrap();
}

#[test]
fn an_exit_requested_before_the_loop_ends_its_first_pass() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    assert!(remote.exit());
    run_until_exit(&map);
    // Consumed: the next loop runs normally (here: its one pass).
    let passes_before = Instant::now();
    asyncore::loop_(Some(ms(20)), false, Some(&map), Some(1)).unwrap();
    assert!(passes_before.elapsed() >= ms(20));
}

#[test]
fn wake_unblocks_a_loop_waiting_with_a_long_timeout() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let start = Instant::now();
    let t = thread::spawn(move || {
        thread::sleep(ms(100));
        assert!(remote.wake());
    });
    // One pass with a 60 s timeout: the wake-up ends its poll.
    asyncore::loop_(Some(Duration::from_secs(60)), false, Some(&map), Some(1)).unwrap();
    let took = start.elapsed();
    assert!(took >= ms(100));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    t.join().unwrap();
}

#[test]
fn a_closure_submitted_before_the_loop_runs_in_its_first_pass() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let r = ran.clone();
    assert!(remote.call(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    assert_eq!(ran.load(Ordering::SeqCst), 0, "not before a loop runs");
    asyncore::loop_(Some(Duration::from_secs(60)), false, Some(&map), Some(1)).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    asyncore::loop_(Some(ms(1)), false, Some(&map), Some(3)).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1, "and only once");
}

#[test]
fn a_panicking_closure_does_not_stop_the_loop() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    assert!(remote.call(|_| panic!("closure boom")));
    let r = ran.clone();
    assert!(remote.call(move |_| {
        r.fetch_add(1, Ordering::SeqCst);
    }));
    remote.exit();
    run_until_exit(&map);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

/// Sends whatever is pushed into `out`.
struct Sender {
    out: Vec<u8>,
}

impl Dispatcher for Sender {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.out.is_empty()
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let n = cx.send(&self.out)?;
        self.out.drain(..n);
        Ok(())
    }
}

#[test]
fn a_closure_reaches_a_channel_by_id_and_its_data_goes_out_at_once() {
    let map = Map::new().unwrap();
    let (chan, peer) = channel_pair();
    let sender = map.add(chan, Sender { out: Vec::new() }).unwrap();
    let id = sender.id();
    // The channel's own view of its id (0.1: `chan.id()`; now `cx.id()` in a context).
    assert_eq!(sender.with(|_, cx| cx.id()), Some(id));
    assert!(map.get::<Recorder>(id).is_none(), "wrong type: no handle");
    let remote = map.loop_handle().unwrap();

    let reader = thread::spawn(move || {
        let mut peer: TcpStream = peer;
        peer.set_read_timeout(Some(LIMIT)).unwrap();
        for n in 0..3u8 {
            let line = vec![b'0' + n; 4];
            assert!(remote.call(move |map| {
                let sender = map.get::<Sender>(id).expect("still in the map");
                sender.borrow_mut().out.extend_from_slice(&line);
            }));
            let mut got = [0u8; 4];
            peer.read_exact(&mut got).unwrap();
            assert_eq!(got, [b'0' + n; 4]);
        }
        assert!(remote.call(move |map| {
            map.get::<Sender>(id).unwrap().close();
            Tasks::global().clear(); // the watchdog: now the loop can end
        }));
        remote
    });
    // The loop waits without a timeout: only the wake-ups move it.
    let start = Instant::now();
    watchdog(&map);
    asyncore::loop_(None, false, Some(&map), None).unwrap();
    assert!(start.elapsed() < LIMIT, "ended by the watchdog");
    assert!(map.is_empty(), "the last closure closed the channel");
    let remote = reader.join().unwrap();
    assert!(
        map.get::<Sender>(id).is_none(),
        "a closed channel's id names nothing"
    );

    // The id stays dead even when a new channel takes the same slot.
    let (chan, _peer) = channel_pair();
    let newcomer = map.add(chan, Sender { out: Vec::new() }).unwrap();
    assert_ne!(newcomer.id(), id);
    assert!(map.get::<Sender>(id).is_none());
    assert!(map.get::<Sender>(newcomer.id()).is_some());

    // Once the map is gone, requests are refused.
    newcomer.close();
    drop(newcomer);
    assert!(!remote.is_closed());
    drop(map);
    assert!(remote.is_closed());
    assert!(!remote.call(|_| unreachable!()));
    assert!(!remote.wake());
    assert!(!remote.exit());
}

#[test]
fn closures_may_schedule_tasks_on_the_loop_thread() {
    let map = busy_map();
    let remote = map.loop_handle().unwrap();
    let fired = Arc::new(AtomicUsize::new(0));
    let f = fired.clone();
    let r = remote.clone();
    let t = thread::spawn(move || {
        assert!(r.call(move |_| {
            // The global tasks of the loop's thread, which `loop_` runs.
            asyncore::call_later(ms(20), move || {
                f.fetch_add(1, Ordering::SeqCst);
            });
        }));
    });
    let deadline = Instant::now() + LIMIT;
    while fired.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline);
        asyncore::loop_(Some(ms(50)), false, Some(&map), Some(1)).unwrap();
    }
    t.join().unwrap();
    assert!(Tasks::global().is_empty());
}
