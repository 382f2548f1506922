//! file_dispatcher over pipes, dispatcher_with_send, and Unix-domain sockets.

mod util;

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use asyncore::{Channel, Cx, Dispatcher, DispatcherWithSend, Domain, Map, Result, SockAddr, Type};
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_file_channel_reads_a_pipe_until_eof() {
    let map = Map::new().unwrap();
    let (reader, mut writer) = std::io::pipe().unwrap();
    let chan = Channel::from_file(reader).unwrap();
    assert!(chan.connected);
    let (mut rec, log) = Recorder::new();
    rec.read_size = 3;
    map.add(chan, rec).unwrap();
    writer.write_all(b"through the pipe").unwrap();
    run_until(&map, LIMIT, || log.borrow().data == b"through the pipe");
    drop(writer);
    run_until(&map, LIMIT, || map.is_empty());
    assert_eq!(log.borrow().count("close"), 1);
}

#[test]
fn a_file_channel_writes_a_pipe() {
    let map = Map::new().unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    let chan = Channel::from_file(writer).unwrap();
    let (mut rec, _log) = Recorder::new();
    rec.readable = false;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    rec.out = payload.clone();
    let h = map.add(chan, rec).unwrap();
    let t = std::thread::spawn(move || {
        let mut got = vec![0; 300_000];
        reader.read_exact(&mut got).unwrap();
        got
    });
    run_until(&map, LIMIT, || h.borrow().out.is_empty());
    assert_eq!(t.join().unwrap(), payload);
}

/// Python's `EchoHandler(asyncore.dispatcher_with_send)`: `cx.send` queues what the
/// socket does not take, and the wrapper sends it from `handle_write`.
struct Echo;

impl Dispatcher for Echo {
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        let data = cx.recv(8192)?;
        let n = cx.send(&data)?;
        assert_eq!(n, data.len(), "dispatcher_with_send takes everything");
        Ok(())
    }
}

#[test]
fn dispatcher_with_send_echoes_a_large_stream() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    let h = map.add(chan, DispatcherWithSend::new(Echo)).unwrap();
    const SIZE: usize = 4 << 20;
    let mut rpeer = peer.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let data: Vec<u8> = (0..SIZE).map(|i| (i % 199) as u8).collect();
        peer.write_all(&data).unwrap();
    });
    let reader = std::thread::spawn(move || {
        let mut got = vec![0; SIZE];
        rpeer.read_exact(&mut got).unwrap();
        got
    });
    run_until(&map, LIMIT, || reader.is_finished());
    writer.join().unwrap();
    let got = reader.join().unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 199) as u8));
    assert_eq!(h.borrow().pending(), 0);
}

#[test]
fn unix_domain_sockets_work_like_tcp() {
    let dir = std::env::temp_dir().join(format!("asyncore-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("sock");
    let _ = std::fs::remove_file(&path);
    let map = Map::new().unwrap();
    let mut server = Channel::new();
    server.create_socket(Domain::UNIX, Type::STREAM).unwrap();
    server.bind(SockAddr::unix(&path).unwrap()).unwrap();
    server.listen(5).unwrap();
    assert!(format!("{server:?}").contains("sock"));
    let (srec, slog) = Recorder::new();
    map.add(server, srec).unwrap();
    let mut client = Channel::new();
    client.create_socket(Domain::UNIX, Type::STREAM).unwrap();
    client.connect(SockAddr::unix(&path).unwrap()).unwrap();
    let (mut crec, clog) = Recorder::new();
    crec.out = b"over a unix socket".to_vec();
    map.add(client, crec).unwrap();
    run_until(&map, LIMIT, || slog.borrow().data == b"over a unix socket");
    assert_eq!(clog.borrow().count("connect"), 1);
    asyncore::close_all(Some(&map), false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// Reads a file 4 KiB per `handle_read`.
struct FileReader {
    got: Rc<RefCell<Vec<u8>>>,
    reads: usize,
    closes: Rc<Cell<usize>>,
    on_close: Rc<Cell<usize>>,
}

impl Dispatcher for FileReader {
    fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
        false
    }
    fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.reads += 1;
        let data = cx.recv(4096)?;
        self.got.borrow_mut().extend_from_slice(&data);
        Ok(())
    }
    fn handle_close(&mut self, cx: &mut Cx<'_>) -> Result<()> {
        self.closes.set(self.closes.get() + 1);
        cx.close();
        Ok(())
    }
    fn on_close(&mut self, cx: &mut Cx<'_>) {
        assert!(!cx.is_open());
        self.on_close.set(self.on_close.get() + 1);
    }
}

/// A file in the temp directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_regular_file_is_read_to_the_end_through_file_dispatcher() {
    const SIZE: usize = 100 << 10;
    let path = std::env::temp_dir().join(format!(
        "asyncore-file-dispatcher-{}-{:?}.bin",
        std::process::id(),
        std::thread::current().id()
    ));
    let file = TempFile(path);
    let payload: Vec<u8> = (0..SIZE).map(|i| (i % 253) as u8).collect();
    std::fs::write(&file.0, &payload).unwrap();

    let chan = Channel::from_file(File::open(&file.0).unwrap()).unwrap();
    assert!(chan.connected);
    let map = Map::new().unwrap();
    let got = Rc::new(RefCell::new(Vec::new()));
    let (closes, on_close) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let h = map
        .add(
            chan,
            FileReader {
                got: got.clone(),
                reads: 0,
                closes: closes.clone(),
                on_close: on_close.clone(),
            },
        )
        .unwrap();
    // A regular file is always ready: the loop reads it to the end without waiting
    // (30 s per pass would show), and returns once the channel closes at EOF.
    let start = std::time::Instant::now();
    asyncore::loop_(Duration::from_secs(30), false, Some(&map), 1000).unwrap();
    assert!(start.elapsed() < LIMIT, "the loop waited on a regular file");
    assert!(map.is_empty(), "the file channel is still open: {map:?}");
    assert_eq!(got.borrow().len(), SIZE);
    assert!(*got.borrow() == payload, "the file's bytes arrived changed");
    assert_eq!(closes.get(), 1);
    assert_eq!(on_close.get(), 1);
    assert!(!h.is_open());
    // 25 full reads, then the one that finds the end.
    assert_eq!(h.borrow().reads, SIZE / 4096 + 1);
    drop(file);
}
