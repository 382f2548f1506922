//! Scheduled tasks: order, never early, reset / delay / cancel / call now, repeating
//! tasks, panics, a loop that sleeps instead of spinning, and tasks beside channels.

mod util;

use std::cell::{Cell, RefCell};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

use asyncore::{Channel, Cx, Dispatcher, Handle, Map, Result, SockAddr, Socket, TaskHandle, Tasks};
use util::*;

const LIMIT: Duration = Duration::from_secs(20);
/// "Soon" on a loaded CI machine: an upper bound that must never flake.
const GENEROUS: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `tasks` (and `map`) until both are empty, failing after `LIMIT`.
fn run(map: &Map, tasks: &Tasks) {
    let start = Instant::now();
    asyncore::loop_with_tasks(Some(LIMIT), Some(map), Some(tasks), None).unwrap();
    assert!(start.elapsed() < LIMIT);
}

type Trace = Rc<RefCell<Vec<&'static str>>>;

fn push(trace: &Trace, what: &'static str) -> impl FnMut() + 'static {
    let trace = trace.clone();
    move || trace.borrow_mut().push(what)
}

#[test]
fn tasks_run_in_deadline_order_whatever_the_scheduling_order() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    tasks.call_later(ms(30), push(&trace, "c"));
    tasks.call_later(ms(10), push(&trace, "a"));
    tasks.call_later(ms(20), push(&trace, "b"));
    assert_eq!(tasks.len(), 3);
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["a", "b", "c"]);
}

#[test]
fn tasks_due_at_the_same_instant_run_in_scheduling_order() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let at = Instant::now() + ms(20);
    for name in ["1", "2", "3", "4", "5"] {
        tasks.call_at(at, push(&trace, name));
    }
    tasks.call_at(at - ms(5), push(&trace, "earlier"));
    tasks.call_at(at + ms(5), push(&trace, "later"));
    run(&map, &tasks);
    assert_eq!(
        *trace.borrow(),
        ["earlier", "1", "2", "3", "4", "5", "later"]
    );
}

#[test]
fn a_task_never_runs_before_its_deadline() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let lateness = Rc::new(RefCell::new(Vec::new()));
    for delay in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55] {
        for _ in 0..3 {
            let deadline = Instant::now() + ms(delay);
            let ran = lateness.clone();
            let task = tasks.call_at(deadline, move || {
                ran.borrow_mut().push((deadline, Instant::now()))
            });
            assert_eq!(task.deadline(), Some(deadline));
            let task = tasks.call_later(ms(delay), || {});
            let deadline = task.deadline().unwrap();
            let ran = lateness.clone();
            tasks.call_later(ms(delay), move || {
                ran.borrow_mut().push((deadline, Instant::now()))
            });
        }
    }
    run(&map, &tasks);
    let runs = lateness.borrow();
    assert_eq!(runs.len(), 60);
    for (deadline, ran) in runs.iter() {
        assert!(ran >= deadline, "ran {:?} early", *deadline - *ran);
        assert!(*ran - *deadline < GENEROUS);
    }
}

#[test]
fn the_loop_sleeps_until_the_next_deadline_in_one_pass() {
    // One pass, no channel: the poll waits for the task, which then runs.
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let start = Instant::now();
    tasks.call_later(ms(40), move || r.set(true));
    asyncore::loop_with_tasks(None, Some(&map), Some(&tasks), Some(1)).unwrap();
    assert!(ran.get());
    assert!(start.elapsed() >= ms(40));

    // A timeout shorter than the deadline bounds the poll: the pass ends first.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    tasks.call_later(ms(500), move || r.set(true));
    asyncore::loop_with_tasks(Some(ms(5)), Some(&map), Some(&tasks), Some(1)).unwrap();
    assert!(!ran.get());
    tasks.clear();
    assert!(tasks.is_empty());
}

#[test]
fn the_loop_ends_when_map_and_tasks_are_empty() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let start = Instant::now();
    asyncore::loop_with_tasks(Some(ms(10_000)), Some(&map), Some(&tasks), None).unwrap();
    assert!(start.elapsed() < GENEROUS);

    // Tasks only: the loop returns once the last one has run.
    let trace = Trace::default();
    tasks.call_later(ms(15), push(&trace, "done"));
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["done"]);
    assert!(start.elapsed() >= ms(15));

    // A channel keeps it going after the tasks are done; closing it ends the loop.
    let (chan, _peer) = channel_pair();
    let (rec, _) = Recorder::new();
    let channel = map.add(chan, rec).unwrap();
    tasks.call_later(ms(10), push(&trace, "one"));
    tasks.call_later(ms(30), move || channel.close());
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["done", "one"]);
    assert!(map.is_empty());
}

#[test]
fn loop_runs_the_global_tasks() {
    // Each test runs on its own thread, so this thread's global tasks are its own.
    let trace = Trace::default();
    let task = asyncore::call_later(ms(10), push(&trace, "global"));
    assert!(task.is_pending());
    assert_eq!(Tasks::global().len(), 1);
    asyncore::loop_(None, false, None, None).unwrap();
    assert_eq!(*trace.borrow(), ["global"]);
    assert!(!task.is_pending());
    assert!(Tasks::global().is_empty());

    // An explicit collection keeps the global tasks out of a loop.
    let task = asyncore::call_later(ms(1), push(&trace, "not yet"));
    let map = Map::new().unwrap();
    asyncore::loop_with_tasks(None, Some(&map), Some(&Tasks::new()), None).unwrap();
    assert_eq!(trace.borrow().len(), 1);
    assert!(task.cancel());
}

#[test]
fn cancel_unschedules_and_drops_the_callback() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let captured = Rc::new(());
    let c = captured.clone();
    let t = trace.clone();
    let doomed = tasks.call_later(ms(10), move || {
        let _ = &c;
        t.borrow_mut().push("cancelled");
    });
    tasks.call_later(ms(20), push(&trace, "kept"));
    assert_eq!(Rc::strong_count(&captured), 2);
    assert!(doomed.cancel());
    assert_eq!(Rc::strong_count(&captured), 1, "callback dropped at once");
    assert!(!doomed.is_pending());
    assert_eq!(doomed.deadline(), None);
    assert!(!doomed.cancel(), "cancelling twice is a no-op");
    assert!(!doomed.reset() && !doomed.delay(ms(1)) && !doomed.call_now());
    assert_eq!(tasks.len(), 1);
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["kept"]);
}

#[test]
fn cancelling_many_tasks_keeps_the_rest_in_order() {
    // Exercises the lazy heap: stale entries, rebuilds, postponed entries.
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let seen = Rc::new(RefCell::new(Vec::new()));
    let base = Instant::now() + ms(20);
    let mut handles = Vec::new();
    for i in 0..1000u32 {
        let s = seen.clone();
        let at = base + Duration::from_micros(u64::from((i * 7919) % 1000) * 20);
        handles.push((i, at, tasks.call_at(at, move || s.borrow_mut().push(i))));
    }
    let mut expected = Vec::new();
    for (i, at, h) in &handles {
        match i % 4 {
            0 => assert!(h.cancel()),
            1 => {
                // Moving a deadline puts the task after those already due then.
                assert!(h.delay(ms(3)));
                expected.push((*at + ms(3), 1000 + *i, *i));
            }
            _ => expected.push((*at, *i, *i)),
        }
    }
    assert_eq!(tasks.len(), 750);
    expected.sort();
    run(&map, &tasks);
    let expected: Vec<u32> = expected.into_iter().map(|(_, _, i)| i).collect();
    assert_eq!(*seen.borrow(), expected);
}

#[test]
fn reset_restarts_the_countdown_from_now() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let ran_at = Rc::new(Cell::new(None));
    let r = ran_at.clone();
    let start = Instant::now();
    let task = tasks.call_later(ms(60), move || r.set(Some(Instant::now())));
    let reset_at = Rc::new(Cell::new(None));
    let (t, ra) = (task.clone(), reset_at.clone());
    tasks.call_later(ms(30), move || {
        ra.set(Some(Instant::now()));
        assert!(t.reset()); // (a failed assert here leaves ran_at empty)
    });
    run(&map, &tasks);
    let (ran, reset) = (ran_at.get().unwrap(), reset_at.get().unwrap());
    assert!(
        ran >= reset + ms(60),
        "the full delay again, counted from the reset"
    );
    assert!(ran - start >= ms(90));
    assert!(!task.is_pending());
}

#[test]
fn reset_can_also_bring_a_deadline_nearer() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let task = tasks.call_later(ms(20), push(&trace, "task"));
    assert!(task.delay(ms(10_000)));
    tasks.call_later(ms(10), push(&trace, "other"));
    let (t, tr) = (task.clone(), trace.clone());
    tasks.call_later(ms(5), move || {
        if t.reset() {
            tr.borrow_mut().push("reset"); // now due 20 ms after this
        }
    });
    let start = Instant::now();
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["reset", "other", "task"]);
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn delay_pushes_the_deadline_later() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let task = tasks.call_later(ms(10), push(&trace, "delayed"));
    tasks.call_later(ms(30), push(&trace, "on time"));
    let first = task.deadline().unwrap();
    assert!(task.delay(ms(40)));
    assert_eq!(task.deadline(), Some(first + ms(40)));
    assert!(task.delay(ms(1)));
    assert_eq!(task.deadline(), Some(first + ms(41)));
    let start = Instant::now();
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["on time", "delayed"]);
    assert!(Instant::now() >= first + ms(41));
    assert!(start.elapsed() < GENEROUS);
}

#[test]
fn call_now_runs_a_task_at_once_and_spends_it() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let task = tasks.call_later(ms(10_000), move || c.set(c.get() + 1));
    assert!(task.call_now());
    assert_eq!(count.get(), 1);
    assert!(!task.is_pending());
    assert!(!task.call_now(), "a spent task does not run again");
    assert!(tasks.is_empty());
    let start = Instant::now();
    run(&map, &tasks); // nothing left: returns at once
    assert!(start.elapsed() < GENEROUS);
    assert_eq!(count.get(), 1);
}

#[test]
fn a_task_cannot_call_itself_but_can_inspect_itself() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let me: Rc<RefCell<Option<TaskHandle>>> = Rc::default();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let (m, s) = (me.clone(), seen.clone());
    let task = tasks.call_later(ms(5), move || {
        let me = m.borrow();
        let me = me.as_ref().unwrap();
        s.borrow_mut()
            .push((me.is_pending(), me.call_now(), me.reset()));
    });
    *me.borrow_mut() = Some(task);
    run(&map, &tasks);
    // A one-shot task is spent once it starts.
    assert_eq!(*seen.borrow(), [(false, false, false)]);
}

#[test]
fn repeating_tasks_keep_their_rhythm_until_cancelled() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let start = Instant::now();
    let runs = Rc::new(RefCell::new(Vec::new()));
    let me: Rc<RefCell<Option<TaskHandle>>> = Rc::default();
    let (r, m) = (runs.clone(), me.clone());
    let task = tasks.call_every(ms(10), move || {
        r.borrow_mut().push(Instant::now());
        let me = m.borrow();
        let me = me.as_ref().unwrap();
        if r.borrow().len() == 5 && me.is_pending() {
            me.cancel();
        }
    });
    *me.borrow_mut() = Some(task.clone());
    run(&map, &tasks);
    let runs = runs.borrow();
    assert_eq!(runs.len(), 5);
    // The nth run is never before n intervals after the start.
    for (n, at) in runs.iter().enumerate() {
        assert!(*at - start >= ms(10 * (n as u64 + 1)), "run {n} early");
    }
    assert!(!task.is_pending());
}

#[test]
fn a_repeating_task_can_be_reset_delayed_and_called_now() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    let task = tasks.call_every(ms(50), move || c.set(c.get() + 1));
    let before = Instant::now();
    assert!(task.call_now());
    assert_eq!(count.get(), 1);
    assert!(task.is_pending(), "a repeating task stays scheduled");
    let next = task.deadline().unwrap();
    assert!(
        next >= before + ms(50),
        "next run one interval after the call"
    );
    assert!(task.delay(ms(20)));
    assert_eq!(task.deadline(), Some(next + ms(20)));
    let before = Instant::now();
    assert!(task.reset());
    assert!(task.deadline().unwrap() >= before + ms(50));
    let deadline = Instant::now() + LIMIT;
    while count.get() < 3 {
        assert!(Instant::now() < deadline, "the repeating task stalled");
        asyncore::loop_with_tasks(Some(ms(100)), Some(&map), Some(&tasks), Some(1)).unwrap();
    }
    assert!(task.cancel());
    assert!(tasks.is_empty());
}

#[test]
fn tasks_may_schedule_and_cancel_tasks_while_running() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let victim = tasks.call_later(ms(20), push(&trace, "victim"));
    let (t, tr, v) = (tasks.clone(), trace.clone(), victim.clone());
    tasks.call_later(ms(10), move || {
        tr.borrow_mut()
            .push(if v.cancel() { "first" } else { "cancel failed" });
        // Due at once, yet run in a later pass, after the tasks already due.
        t.call_later(Duration::ZERO, push(&tr, "spawned"));
    });
    tasks.call_later(ms(10), push(&trace, "second"));
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["first", "second", "spawned"]);
    assert!(!victim.is_pending());
}

#[test]
fn a_zero_interval_task_runs_once_per_pass_and_cannot_starve_the_loop() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let count = Rc::new(Cell::new(0));
    let c = count.clone();
    tasks.call_every(Duration::ZERO, move || c.set(c.get() + 1));
    asyncore::loop_with_tasks(Some(ms(10)), Some(&map), Some(&tasks), Some(7)).unwrap();
    assert_eq!(count.get(), 7);
    tasks.clear();
}

static RECORDS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        RECORDS
            .lock()
            .unwrap()
            .push((record.level(), record.args().to_string()));
    }
    fn flush(&self) {}
}

fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
}

fn logged(level: log::Level, text: &str) -> bool {
    RECORDS
        .lock()
        .unwrap()
        .iter()
        .any(|(l, m)| *l == level && m.contains(text))
}

#[test]
fn a_panicking_task_is_logged_and_the_loop_goes_on() {
    capture_logs();
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    tasks.call_later(ms(5), || panic!("task boom 41"));
    tasks.call_later(ms(10), push(&trace, "after"));
    let runs = Rc::new(Cell::new(0));
    let r = runs.clone();
    let repeating = tasks.call_every(ms(5), move || {
        r.set(r.get() + 1);
        panic!("task boom 42");
    });
    run(&map, &tasks);
    assert_eq!(*trace.borrow(), ["after"]);
    assert!(logged(log::Level::Error, "task boom 41"));
    assert!(logged(log::Level::Error, "task boom 42"));
    // A repeating task that panicked is cancelled, as a failed channel is closed.
    assert_eq!(runs.get(), 1);
    assert!(!repeating.is_pending());
    // call_now catches a panic too.
    let task = tasks.call_later(ms(10_000), || panic!("task boom 43"));
    assert!(task.call_now());
    assert!(logged(log::Level::Error, "task boom 43"));
}

/// This thread's user + system CPU time, from /proc (in clock ticks, usually 10 ms).
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

#[test]
fn a_loop_with_only_tasks_sleeps_instead_of_spinning() {
    let Some(before) = thread_cpu_ticks() else {
        eprintln!("no /proc/thread-self/stat: skipped");
        return;
    };
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    tasks.call_later(ms(300), move || r.set(true));
    // A far task too, so the loop must keep cutting its timeout to the near one.
    let far = tasks.call_later(ms(60_000), || {});
    let start = Instant::now();
    while !ran.get() {
        asyncore::loop_with_tasks(None, Some(&map), Some(&tasks), Some(1)).unwrap();
    }
    let wall = start.elapsed();
    let cpu_ticks = thread_cpu_ticks().unwrap() - before;
    assert!(wall >= ms(300));
    // Spinning would burn ~30 ticks (100 Hz) in 300 ms; sleeping burns ~0.
    assert!(cpu_ticks <= 5, "{cpu_ticks} ticks of CPU in {wall:?}");
    far.cancel();
}

// ---- Tasks and channels together: the idle-timeout idiom -----------------------

/// A connection closed after `idle` of silence: each read resets the countdown.
struct Client {
    out: Vec<u8>,
    idle: Option<TaskHandle>,
    closing: bool,
}

impl Dispatcher for Client {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.closing
    }
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        !self.out.is_empty()
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv(4096)?;
        if !data.is_empty() {
            if let Some(idle) = &self.idle {
                idle.reset();
            }
        }
        Ok(())
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let n = cx.send(&self.out)?;
        self.out.drain(..n);
        if self.out.is_empty() && self.closing {
            cx.close();
        }
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.close();
        Ok(())
    }
    /// Whoever closed the channel (the peer, the idle task, the test), its countdown
    /// goes with it: Python's `close()` override.
    fn on_close(&mut self, _cx: &mut Cx<'_>) {
        if let Some(idle) = self.idle.take() {
            idle.cancel();
        }
    }
}

impl Client {
    /// The idle task's work: say why, then close once that is sent.
    fn time_out(&mut self) {
        self.idle = None;
        self.closing = true;
        self.out.extend_from_slice(b"idle timeout\n");
    }
}

/// Accepts connections and arms each one's idle countdown in the running loop's
/// tasks, with `cx.call_later` (0.1 reached the map through its channel and kept a
/// `Tasks` of its own).
struct Server {
    idle: Duration,
    clients: Rc<RefCell<Vec<Handle<Client>>>>,
}

impl Dispatcher for Server {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _: SockAddr) -> Result<()> {
        let client = cx.add(
            Channel::from_socket(sock)?,
            Client {
                out: Vec::new(),
                idle: None,
                closing: false,
            },
        )?;
        let target = client.downgrade();
        let idle = cx.call_later(self.idle, move || {
            // Borrowing the client mutably also has the loop consult `writable` again.
            if let Some(client) = target.upgrade() {
                if let Some(mut c) = client.try_borrow_mut() {
                    c.time_out();
                }
            }
        });
        client.borrow_mut().idle = Some(idle);
        self.clients.borrow_mut().push(client);
        Ok(())
    }
}

/// Reads until EOF; returns what came and when EOF came.
fn read_to_eof(mut s: TcpStream) -> (Vec<u8>, Instant) {
    s.set_read_timeout(Some(LIMIT)).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    (got, Instant::now())
}

#[test]
fn an_idle_task_closes_a_silent_connection_and_spares_an_active_one() {
    const IDLE: Duration = Duration::from_millis(150);
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let (chan, addr) = listening_channel();
    let clients = Rc::new(RefCell::new(Vec::new()));
    let server = map
        .add(
            chan,
            Server {
                idle: IDLE,
                clients: clients.clone(),
            },
        )
        .unwrap();

    let start = Instant::now();
    let silent = std::thread::spawn(move || {
        let s = TcpStream::connect(addr).unwrap();
        let connected = Instant::now();
        let (got, eof) = read_to_eof(s);
        (got, eof - connected)
    });
    let active = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        // Talk every 30 ms for 600 ms: never idle for IDLE.
        s.set_read_timeout(Some(ms(1))).unwrap();
        let talk_until = Instant::now() + ms(600);
        let mut early = Vec::new();
        let mut last_ping = Instant::now();
        while Instant::now() < talk_until && early.is_empty() {
            last_ping = Instant::now();
            s.write_all(b"ping\n").unwrap();
            std::thread::sleep(ms(30));
            let mut buf = [0u8; 64];
            match s.read(&mut buf) {
                Ok(0) => early.extend_from_slice(b"<closed>"),
                Ok(n) => early.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) => panic!("{e}"),
            }
        }
        let (got, eof) = read_to_eof(s);
        (early, got, eof - last_ping)
    });

    // Serve until both clients were accepted and closed, then close the server.
    let deadline = Instant::now() + LIMIT;
    while clients.borrow().len() < 2 || clients.borrow().iter().any(Handle::is_open) {
        assert!(Instant::now() < deadline, "clients: {:?}", clients.borrow());
        asyncore::loop_with_tasks(Some(ms(50)), Some(&map), Some(&tasks), Some(1)).unwrap();
    }
    server.close();
    run(&map, &tasks);

    let (got, silent_for) = silent.join().unwrap();
    assert_eq!(got, b"idle timeout\n");
    assert!(silent_for >= IDLE, "closed after {silent_for:?}");
    let (early, got, quiet_for) = active.join().unwrap();
    assert!(
        early.is_empty(),
        "active client got {early:?} while talking"
    );
    assert_eq!(got, b"idle timeout\n");
    assert!(
        quiet_for >= IDLE,
        "closed {quiet_for:?} after its last ping"
    );
    assert!(start.elapsed() >= ms(600));
    assert!(tasks.is_empty(), "every idle task ran or was cancelled");
}

#[test]
fn a_connection_closed_by_its_peer_cancels_its_idle_task() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let (chan, addr) = listening_channel();
    let clients = Rc::new(RefCell::new(Vec::new()));
    let server = map
        .add(
            chan,
            Server {
                idle: ms(60_000),
                clients: clients.clone(),
            },
        )
        .unwrap();
    let peer = TcpStream::connect(addr).unwrap();
    let deadline = Instant::now() + LIMIT;
    while clients.borrow().is_empty() {
        assert!(Instant::now() < deadline);
        asyncore::loop_with_tasks(Some(ms(50)), Some(&map), Some(&tasks), Some(1)).unwrap();
    }
    assert_eq!(tasks.len(), 1);
    drop(peer);
    server.close();
    run(&map, &tasks); // ends at once when the client closes: its task is gone
    assert!(tasks.is_empty());
    assert!(!clients.borrow()[0].is_open());
}

// ---- Scheduling from a handler: `cx.call_later`, `cx.tasks()`, `cx.exit()` --------

/// What a `Scheduler` saw: (pending in `cx.tasks()` after scheduling, pending in
/// `Tasks::global()`).
type Seen = Rc<Cell<Option<(usize, usize)>>>;

/// Once writable, schedules two tasks from its handler, notes what it saw, and
/// closes itself.
struct Scheduler {
    trace: Trace,
    seen: Seen,
}

impl Dispatcher for Scheduler {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.call_later(ms(10), push(&self.trace, "cx.call_later"));
        cx.tasks()
            .call_later(ms(20), push(&self.trace, "cx.tasks()"));
        self.seen
            .set(Some((cx.tasks().len(), Tasks::global().len())));
        cx.close();
        Ok(())
    }
}

fn scheduler(trace: &Trace) -> (Scheduler, Seen) {
    let seen = Seen::default();
    let s = Scheduler {
        trace: trace.clone(),
        seen: seen.clone(),
    };
    (s, seen)
}

#[test]
fn cx_call_later_in_a_handler_schedules_into_the_loops_own_tasks() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    let trace = Trace::default();
    let (chan, _peer) = channel_pair();
    let (sched, seen) = scheduler(&trace);
    let handle = map.add(chan, sched).unwrap();
    assert!(Tasks::global().is_empty());

    // The handler runs, schedules, closes; the loop then goes on for the tasks alone.
    run(&map, &tasks);
    assert_eq!(
        seen.get(),
        Some((2, 0)),
        "both tasks went to the loop's tasks, none to the global ones"
    );
    assert!(!handle.is_open());
    assert_eq!(*trace.borrow(), ["cx.call_later", "cx.tasks()"]);
    assert!(tasks.is_empty());
    assert!(Tasks::global().is_empty());
}

#[test]
fn cx_call_later_without_explicit_tasks_schedules_into_the_global_ones() {
    // `loop_` runs the thread's global tasks, so a handler's `cx.call_later` lands
    // there, and the loop runs it.
    let map = Map::new().unwrap();
    let trace = Trace::default();
    let (chan, _peer) = channel_pair();
    let (sched, seen) = scheduler(&trace);
    map.add(chan, sched).unwrap();
    let start = Instant::now();
    asyncore::loop_(Some(LIMIT), false, Some(&map), None).unwrap();
    assert!(start.elapsed() < LIMIT);
    assert_eq!(
        seen.get(),
        Some((2, 2)),
        "the loop's tasks are the global ones"
    );
    assert_eq!(*trace.borrow(), ["cx.call_later", "cx.tasks()"]);
    assert!(Tasks::global().is_empty());
}

/// Counts its write events; the `exit_at`th (counting from 1; 0: none) calls
/// `cx.exit()`.
struct Exiter {
    writes: Rc<Cell<usize>>,
    exit_at: usize,
}

impl Dispatcher for Exiter {
    fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.writes.set(self.writes.get() + 1);
        if self.writes.get() == self.exit_at {
            cx.exit();
        }
        Ok(())
    }
}

#[test]
fn cx_exit_from_a_handler_makes_loop_with_tasks_return_ok_after_the_pass() {
    let (map, tasks) = (Map::new().unwrap(), Tasks::new());
    // Two always-writable channels, so the loop would never end by itself; the first
    // one asks to exit from its first handler.
    let (chan, _peer) = channel_pair();
    let (writes, other_writes) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let exiter = map
        .add(
            chan,
            Exiter {
                writes: writes.clone(),
                exit_at: 1,
            },
        )
        .unwrap();
    let (chan, _peer2) = channel_pair();
    map.add(
        chan,
        Exiter {
            writes: other_writes.clone(),
            exit_at: 0,
        },
    )
    .unwrap();
    // A pending far task too: the loop must not end for want of work.
    let far = tasks.call_later(ms(60_000), || {});

    let start = Instant::now();
    let r = asyncore::loop_with_tasks(Some(LIMIT), Some(&map), Some(&tasks), None);
    assert!(r.is_ok(), "{r:?}");
    assert!(
        start.elapsed() < GENEROUS,
        "ended by the exit, not a timeout"
    );
    assert_eq!(writes.get(), 1, "the loop returned after the exiting pass");
    assert_eq!(
        other_writes.get(),
        1,
        "the rest of that pass still ran: the other channel was served"
    );
    assert_eq!(map.len(), 2, "ended by the exit, not by an empty map");
    assert!(exiter.is_open() && far.is_pending());

    // The request was consumed: the next loop runs its passes.
    asyncore::loop_with_tasks(Some(ms(10)), Some(&map), Some(&tasks), Some(3)).unwrap();
    assert_eq!(writes.get(), 4);
    assert_eq!(other_writes.get(), 4);
    far.cancel();
}
