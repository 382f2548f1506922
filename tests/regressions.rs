//! Tests named after the bugs they pin.

mod util;

use std::io::Write;
use std::time::Duration;

use asyncore::Map;
use util::*;

/// A short read used to clear READ; when the peer's FIN had already arrived with the
/// data, no further edge came and `handle_close` was never called (the HTTP client
/// hung after an HTTP/1.0 response).
#[test]
fn eof_queued_behind_data_is_seen_after_a_short_read() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    peer.write_all(b"response and goodbye").unwrap();
    drop(peer);
    std::thread::sleep(Duration::from_millis(20));
    let (mut rec, log) = Recorder::new(chan);
    rec.read_size = 4096;
    map.add(rec).unwrap();
    run_until(&map, Duration::from_secs(10), || map.is_empty());
    let log = log.borrow();
    assert_eq!(log.data, b"response and goodbye");
    assert_eq!(log.count("close"), 1);
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
