//! Tests named after the bugs they pin.

mod util;

use std::io::Write;
use std::net::Shutdown;
use std::time::Duration;

use asyncore::Map;
use util::*;

/// Data and the peer's FIN arrived before the first poll, so the poller reported a
/// single edge. A short read used to clear the read readiness, and the end of stream
/// (which brings no new edge) was never read: the channel stayed open forever.
#[test]
fn eof_behind_data_is_seen_after_a_short_read() {
    for read_size in [8192, 6] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[b'x'; 200]).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // both are queued
        let (mut rec, log) = Recorder::new(chan);
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(rec).unwrap();
        run_until(&map, Duration::from_secs(10), || map.is_empty());
        let log = log.borrow();
        assert_eq!(log.data.len(), 200, "read size {read_size}");
        assert_eq!(log.count("close"), 1, "read size {read_size}");
    }
}

/// The same with a half-close (the peer only shuts down its writing side) and reads
/// smaller than the data, so several full reads come before the short one. Found by
/// the asynchat property test.
#[test]
fn eof_behind_data_is_seen_after_a_half_close_and_small_reads() {
    for read_size in [8192, 6] {
        let (chan, mut peer) = channel_pair();
        peer.write_all(&[b'x'; 200]).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // both are queued
        let (mut rec, log) = Recorder::new(chan);
        rec.read_size = read_size;
        let map = Map::new().unwrap();
        map.add(rec).unwrap();
        run_until(&map, Duration::from_secs(10), || map.is_empty());
        let log = log.borrow();
        assert_eq!(log.data.len(), 200, "read size {read_size}");
        assert_eq!(log.count("close"), 1, "read size {read_size}");
    }
}
