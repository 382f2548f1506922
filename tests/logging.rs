//! The default handlers log through the `log` crate: "unhandled ..." at warning level,
//! failures at error level with a compact description.

mod util;

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use asyncore::{Channel, Dispatcher, Map, Result};
use util::*;

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

/// Only the two required methods: every handler is Python's default.
struct Bare {
    chan: Channel,
}

impl Dispatcher for Bare {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
}

/// Reads, but leaves handle_close to the default.
struct Reader {
    chan: Channel,
}

impl Dispatcher for Reader {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn writable(&mut self) -> bool {
        false
    }
    fn handle_read(&mut self) -> Result<()> {
        self.chan.recv(100)?;
        Ok(())
    }
}

struct Failing {
    chan: Channel,
}

impl Dispatcher for Failing {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn writable(&mut self) -> bool {
        false
    }
    fn handle_read(&mut self) -> Result<()> {
        Err(asyncore::Error::other("malformed request"))
    }
}

#[test]
fn defaults_log_unhandled_events_and_errors() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    let map = Map::new().unwrap();

    // As in Python, a bare dispatcher is called (and logs) on every pass while its
    // socket is readable and writable.
    let (chan, mut peer) = channel_pair();
    let bare = map.add(Bare { chan }).unwrap();
    peer.write_all(b"x").unwrap();
    map.run(Some(Duration::from_millis(10)), Some(3)).unwrap();
    bare.close();

    let (chan, peer) = channel_pair();
    map.add(Reader { chan }).unwrap();
    drop(peer);
    run_until(&map, Duration::from_secs(10), || map.is_empty());

    let (chan, mut peer) = channel_pair();
    map.add(Failing { chan }).unwrap();
    peer.write_all(b"x").unwrap();
    run_until(&map, Duration::from_secs(10), || map.is_empty());

    let records = RECORDS.lock().unwrap();
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
    // The failure names the type, the channel and the error.
    assert!(
        records.iter().any(|(l, m)| *l == log::Level::Error
            && m.contains("Failing")
            && m.contains("malformed request")
            && m.contains("127.0.0.1")),
        "{records:?}"
    );
}
