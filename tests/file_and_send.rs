//! file_dispatcher over pipes, dispatcher_with_send, and Unix-domain sockets.

mod util;

use std::io::{Read, Write};
use std::time::Duration;

use asyncore::{Channel, Dispatcher, DispatcherWithSend, Domain, Map, Result, SockAddr, Type};
use util::*;

const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn a_file_channel_reads_a_pipe_until_eof() {
    let map = Map::new().unwrap();
    let (reader, mut writer) = std::io::pipe().unwrap();
    let chan = Channel::from_file(reader).unwrap();
    assert!(chan.connected);
    let (mut rec, log) = Recorder::new(chan);
    rec.read_size = 3;
    map.add(rec).unwrap();
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
    let (mut rec, _log) = Recorder::new(chan);
    rec.readable = false;
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    rec.out = payload.clone();
    let h = map.add(rec).unwrap();
    let t = std::thread::spawn(move || {
        let mut got = vec![0; 300_000];
        reader.read_exact(&mut got).unwrap();
        got
    });
    run_until(&map, LIMIT, || h.borrow().out.is_empty());
    assert_eq!(t.join().unwrap(), payload);
}

struct Echo {
    out: DispatcherWithSend,
}

impl Dispatcher for Echo {
    fn channel(&self) -> &Channel {
        self.out.channel()
    }
    fn channel_mut(&mut self) -> &mut Channel {
        self.out.channel_mut()
    }
    fn writable(&mut self) -> bool {
        self.out.writable()
    }
    fn handle_write(&mut self) -> Result<()> {
        self.out.handle_write()
    }
    fn handle_read(&mut self) -> Result<()> {
        let data = self.out.channel_mut().recv(8192)?;
        self.out.send(&data)?;
        Ok(())
    }
}

#[test]
fn dispatcher_with_send_echoes_a_large_stream() {
    let map = Map::new().unwrap();
    let (chan, mut peer) = channel_pair();
    map.add(Echo {
        out: DispatcherWithSend::new(chan),
    })
    .unwrap();
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
    let (srec, slog) = Recorder::new(server);
    map.add(srec).unwrap();
    let mut client = Channel::new();
    client.create_socket(Domain::UNIX, Type::STREAM).unwrap();
    client.connect(SockAddr::unix(&path).unwrap()).unwrap();
    let (mut crec, clog) = Recorder::new(client);
    crec.out = b"over a unix socket".to_vec();
    map.add(crec).unwrap();
    run_until(&map, LIMIT, || slog.borrow().data == b"over a unix socket");
    assert_eq!(clog.borrow().count("connect"), 1);
    asyncore::close_all(Some(&map), false).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
