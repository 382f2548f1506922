//! The default handlers log through the `log` crate: "unhandled ..." at warning level
//! once `asyncore::log_unhandled_events(true)` turned them on (silent by default),
//! failures at error level with a compact description.
//!
//! The logger and the `log_unhandled_events` switch are process-wide. Each test here
//! takes `SERIAL` for its whole run, so no test sees the switch another one set, and
//! reads only the records logged on its own thread (each test's maps live on its
//! thread).

mod util;

use std::io::Write;
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard, Once};
use std::thread::ThreadId;
use std::time::Duration;

use asyncore::{Channel, Cx, Dispatcher, Domain, Map, Result, Type};
use util::*;

static RECORDS: Mutex<Vec<(ThreadId, log::Level, String)>> = Mutex::new(Vec::new());
static SERIAL: Mutex<()> = Mutex::new(());
static LOGGER: Once = Once::new();

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        RECORDS.lock().unwrap_or_else(|e| e.into_inner()).push((
            std::thread::current().id(),
            record.level(),
            record.args().to_string(),
        ));
    }
    fn flush(&self) {}
}

/// Installs the capturing logger (once per process) and serializes the tests.
fn setup() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    LOGGER.call_once(|| {
        log::set_logger(&Capture).unwrap();
        log::set_max_level(log::LevelFilter::Trace);
    });
    guard
}

/// The records logged so far on this thread.
fn records() -> Vec<(log::Level, String)> {
    let me = std::thread::current().id();
    RECORDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|(t, _, _)| *t == me)
        .map(|(_, l, m)| (*l, m.clone()))
        .collect()
}

/// Turns the unhandled-event messages off again when dropped, even if the test fails.
struct ShowUnhandled;

impl ShowUnhandled {
    fn on() -> ShowUnhandled {
        asyncore::log_unhandled_events(true);
        ShowUnhandled
    }
}

impl Drop for ShowUnhandled {
    fn drop(&mut self) {
        asyncore::log_unhandled_events(false);
    }
}

/// No handler at all: every handler is Python's default.
struct Bare;

impl Dispatcher for Bare {}

/// Reads, but leaves handle_close to the default.
struct Reader;

impl Dispatcher for Reader {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        cx.recv(100)?;
        Ok(())
    }
}

struct Failing;

impl Dispatcher for Failing {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
        Err(asyncore::Error::other("malformed request"))
    }
}

/// Drives bare dispatchers through every default handler that logs "unhandled":
/// read, write, close, connect, accepted, incoming priority. With `wait_for`, runs
/// until each of those messages has been logged.
fn exercise_defaults(wait_for: bool) {
    let map = Map::new().unwrap();

    // As in Python, a bare dispatcher is called (and logs) on every pass while its
    // socket is readable and writable.
    let (chan, mut peer) = channel_pair();
    let bare = map.add(chan, Bare).unwrap();
    peer.write_all(b"x").unwrap();
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    bare.close();

    // Priority data to a bare dispatcher.
    let (chan, peer) = channel_pair();
    let bare = map.add(chan, Bare).unwrap();
    socket2::SockRef::from(&peer)
        .send_out_of_band(b"!")
        .unwrap();
    if wait_for {
        run_until(&map, Duration::from_secs(10), || {
            logged(log::Level::Warn, "unhandled incoming priority event")
        });
    } else {
        map.run(Some(Duration::from_millis(10)), Some(5)).unwrap();
    }
    bare.close();

    // A connect, and a connection accepted, by bare dispatchers.
    let (lchan, addr) = listening_channel();
    let listener = map.add(lchan, Bare).unwrap();
    let mut chan = Channel::new();
    chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
    chan.connect(addr).unwrap();
    let client = map.add(chan, Bare).unwrap();
    let _other = TcpStream::connect(addr).unwrap();
    if wait_for {
        run_until(&map, Duration::from_secs(10), || {
            logged(log::Level::Warn, "unhandled connect event")
                && logged(log::Level::Warn, "unhandled accepted event from 127.0.0.1")
        });
    } else {
        map.run(Some(Duration::from_millis(10)), Some(5)).unwrap();
    }
    client.close();
    listener.close();

    let (chan, peer) = channel_pair();
    map.add(chan, Reader).unwrap();
    drop(peer);
    run_until(&map, Duration::from_secs(10), || map.is_empty());

    let (chan, mut peer) = channel_pair();
    map.add(chan, Failing).unwrap();
    peer.write_all(b"x").unwrap();
    run_until(&map, Duration::from_secs(10), || map.is_empty());
}

fn logged(level: log::Level, text: &str) -> bool {
    records()
        .iter()
        .any(|(l, m)| *l == level && m.contains(text))
}

/// The failure names the type, the channel and the error, at error level.
fn assert_failure_logged(records: &[(log::Level, String)]) {
    assert!(
        records.iter().any(|(l, m)| *l == log::Level::Error
            && m.contains("Failing")
            && m.contains("malformed request")
            && m.contains("127.0.0.1")),
        "{records:?}"
    );
}

#[test]
fn defaults_log_unhandled_events_and_errors() {
    let _serial = setup();
    let _show = ShowUnhandled::on();
    exercise_defaults(true);

    let records = records();
    let has = |level: log::Level, text: &str| {
        records.iter().any(|(l, m)| *l == level && m.contains(text))
    };
    assert!(has(log::Level::Warn, "unhandled read event"), "{records:?}");
    assert!(
        has(log::Level::Warn, "unhandled write event"),
        "{records:?}"
    );
    assert!(
        has(log::Level::Warn, "unhandled close event"),
        "{records:?}"
    );
    assert!(
        has(log::Level::Warn, "unhandled connect event"),
        "{records:?}"
    );
    assert!(
        has(log::Level::Warn, "unhandled accepted event from 127.0.0.1"),
        "{records:?}"
    );
    assert!(
        has(log::Level::Warn, "unhandled incoming priority event"),
        "{records:?}"
    );
    // Tagged with the dispatcher's type.
    assert!(
        records
            .iter()
            .any(|(l, m)| *l == log::Level::Warn && m.contains("Bare") && m.contains("unhandled")),
        "{records:?}"
    );
    // Never above warning level.
    assert!(
        records
            .iter()
            .filter(|(_, m)| m.contains("unhandled"))
            .all(|(l, _)| *l == log::Level::Warn),
        "{records:?}"
    );
    assert_failure_logged(&records);
}

#[test]
fn unhandled_event_messages_are_silent_by_default() {
    let _serial = setup();
    asyncore::log_unhandled_events(false); // the default, whatever ran before
    exercise_defaults(false);
    let silent = records();
    assert!(
        silent.iter().all(|(_, m)| !m.contains("unhandled")),
        "{silent:?}"
    );
    // Failures are still logged.
    assert_failure_logged(&silent);

    // Switched on, then off again: shown only in between.
    {
        let _show = ShowUnhandled::on();
        let map = Map::new().unwrap();
        let (chan, mut peer) = channel_pair();
        let bare = map.add(chan, Bare).unwrap();
        peer.write_all(b"x").unwrap();
        run_until(&map, Duration::from_secs(10), || {
            logged(log::Level::Warn, "unhandled read event")
        });
        bare.close();
    }
    let before = records().len();
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let bare = map.add(chan, Bare).unwrap();
    peer.write_all(b"x").unwrap();
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    bare.close();
    let after = records();
    assert!(
        after[before..]
            .iter()
            .all(|(_, m)| !m.contains("unhandled")),
        "{after:?}"
    );
}
