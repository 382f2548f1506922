//! Found by reviewing the 0.2 loop: lifecycle edges of channels that close, reconnect
//! or are dropped while handlers and nested passes run. Each module pins one finding;
//! all failed before their fix.
#![allow(dead_code)]

/// Closes under a borrow finish when the loop next runs; a self-close through the map frees the dispatcher.
mod closed_under_a_borrow {
    use asyncore::*;
    use std::cell::Cell;
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::time::Duration;

    struct D {
        closed: Rc<Cell<u32>>,
        dropped: Rc<Cell<u32>>,
    }
    impl Dispatcher for D {
        fn on_close(&mut self, _cx: &mut Cx<'_>) {
            self.closed.set(self.closed.get() + 1);
        }
    }
    impl Drop for D {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    fn chan() -> (Channel, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        (
            Channel::from_socket(socket2::Socket::from(std::os::fd::OwnedFd::from(a))).unwrap(),
            b,
        )
    }

    /// Closing a channel while its dispatcher is borrowed (a common pattern:
    /// `let mut p = peer.borrow_mut(); ...; peer.close();`) defers on_close to "the next
    /// pass". When that channel was the last one, the loop never runs that pass.
    #[test]
    fn on_close_runs_when_closed_under_a_borrow_and_map_empties() {
        let map = Map::new().unwrap();
        let closed = Rc::new(Cell::new(0));
        let dropped = Rc::new(Cell::new(0));
        let (c, _peer) = chan();
        let h = map
            .add(
                c,
                D {
                    closed: closed.clone(),
                    dropped: dropped.clone(),
                },
            )
            .unwrap();
        {
            let _g = h.borrow_mut();
            h.close();
        }
        let wh = h.downgrade();
        drop(h);
        assert!(map.is_empty());
        loop_(Duration::from_millis(10), false, Some(&map), None).unwrap(); // returns at once
        assert_eq!(closed.get(), 1, "on_close never ran");
        assert!(wh.upgrade().is_none(), "dispatcher kept alive in `closing`");
    }

    /// Same, from inside a handler: a channel closes itself through its own handle (or
    /// Map::close_channel(cx.id())): on_close runs, but the node sits in `closing` until a
    /// next pass; with an empty map there is none, so the dispatcher is never dropped.
    struct SelfCloser {
        dropped: Rc<Cell<u32>>,
    }
    impl Dispatcher for SelfCloser {
        fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let id = cx.id();
            cx.map().close_channel(id);
            Ok(())
        }
    }
    impl Drop for SelfCloser {
        fn drop(&mut self) {
            self.dropped.set(self.dropped.get() + 1);
        }
    }

    #[test]
    fn self_close_through_map_drops_dispatcher() {
        let map = Map::new().unwrap();
        let dropped = Rc::new(Cell::new(0));
        let (c, _peer) = chan();
        map.add(
            c,
            SelfCloser {
                dropped: dropped.clone(),
            },
        )
        .unwrap();
        loop_(Duration::from_millis(10), false, Some(&map), None).unwrap();
        assert!(map.is_empty());
        assert_eq!(
            dropped.get(),
            1,
            "dispatcher not dropped after loop ended (kept in closing)"
        );
    }
}

/// A panicking Drop after a predicate closed the channel stays inside the panic guard.
mod drop_after_predicate_close {
    use asyncore::*;
    use std::os::unix::net::UnixStream;
    use std::time::Duration;

    /// A predicate closes the channel (e.g. default handle_error after a predicate
    /// panicked): the node's last reference is dropped in run_pass's consult loop,
    /// outside the panic guard every other drop site uses.
    struct P;
    impl Dispatcher for P {
        fn readable(&mut self, cx: &mut Cx<'_>) -> bool {
            cx.close();
            false
        }
    }
    impl Drop for P {
        fn drop(&mut self) {
            panic!("drop panics");
        }
    }

    #[test]
    fn a_panicking_drop_after_a_predicate_close_does_not_escape_the_loop() {
        let (a, _b) = UnixStream::pair().unwrap();
        let map = Map::new().unwrap();
        map.add(
            Channel::from_socket(socket2::Socket::from(std::os::fd::OwnedFd::from(a))).unwrap(),
            P,
        )
        .unwrap();
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            map.poll(Some(Duration::from_millis(10)))
        }));
        assert!(r.is_ok(), "panic escaped Map::poll");
    }
}

/// Readiness deferred twice by nested passes is served, not lost: two deferred entries
/// for one channel (from two nested passes), the second merged after the channel was
/// served, used not to be queued (a lost wake-up).
mod nested_deferred_readiness {
    use asyncore::*;
    use std::cell::{Cell, RefCell};
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    struct A {
        out: Vec<u8>,
        got: Rc<RefCell<Vec<u8>>>,
        nested_done: Rc<Cell<bool>>,
    }
    impl Dispatcher for A {
        fn writable(&mut self, _cx: &mut Cx<'_>) -> bool {
            !self.out.is_empty()
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let d = cx.recv(4096)?;
            self.got.borrow_mut().extend_from_slice(&d);
            if !self.nested_done.get() {
                self.nested_done.set(true);
                let map = cx.map().clone();
                let end = Instant::now() + Duration::from_millis(400);
                while Instant::now() < end {
                    map.poll(Some(Duration::from_millis(10)))?;
                }
            }
            Ok(())
        }
        fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            let n = cx.send(&self.out)?;
            // keep it non-empty: always more to send
            let _ = n;
            Ok(())
        }
    }

    #[test]
    fn second_deferred_entry_is_not_lost() {
        let (a, mut b) = UnixStream::pair().unwrap();
        a.set_nonblocking(true).unwrap();
        // Fill a -> b so `a` is not writable.
        let chunk = vec![0u8; 65536];
        let mut aw = &a;
        loop {
            match aw.write(&chunk) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        let map = Map::new().unwrap();
        let got = Rc::new(RefCell::new(Vec::new()));
        let nested = Rc::new(Cell::new(false));
        map.add(
            Channel::from_socket(socket2::Socket::from(std::os::fd::OwnedFd::from(a))).unwrap(),
            A {
                out: vec![1u8; 1 << 20],
                got: got.clone(),
                nested_done: nested.clone(),
            },
        )
        .unwrap();
        b.write_all(b"x").unwrap(); // trigger
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(80));
            // drain b: A becomes writable (EPOLLOUT edge, seen by a nested pass)
            b.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
            let mut buf = vec![0u8; 65536];
            while let Ok(n) = b.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(120));
            b.write_all(b"y").unwrap(); // EPOLLIN edge, seen by a later nested pass
            std::thread::sleep(Duration::from_millis(3000));
            b
        });
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(2) && got.borrow().as_slice() != b"xy" {
            map.poll(Some(Duration::from_millis(50))).unwrap();
        }
        assert_eq!(
            got.borrow().as_slice(),
            b"xy",
            "the 'y' was never delivered"
        );
        drop(t);
    }
}

/// No handler for an event after the channel closed or was given a new socket; reconnects after a self-close; no reconnect from on_close.
mod dispatch_after_close {
    use asyncore::*;
    use std::cell::{Cell, RefCell};
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener};
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    fn run_for(map: &Map, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            map.poll(Some(Duration::from_millis(10))).unwrap();
        }
    }

    /// handle_connect closes the channel; the same event then calls handle_read on the
    /// closed channel (when the first event of the connect carries READ too: a server
    /// that greets at once), which fails and reaches handle_error/handle_close.
    struct ConnThenClose {
        log: Rc<RefCell<Vec<String>>>,
    }
    impl Dispatcher for ConnThenClose {
        fn handle_connect(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            self.log.borrow_mut().push("connect".into());
            cx.close();
            Ok(())
        }
        fn handle_read(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            self.log
                .borrow_mut()
                .push(format!("read open={}", cx.is_open()));
            Ok(())
        }
        fn handle_write(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            self.log.borrow_mut().push("write".into());
            Ok(())
        }
        fn handle_error(&mut self, _cx: &mut Cx<'_>, e: Error) {
            self.log.borrow_mut().push(format!("error {e}"));
        }
    }

    #[test]
    fn no_handle_read_after_handle_connect_closed() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.write_all(b"220 hello\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(500));
        });
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        chan.connect(addr).unwrap();
        // Let the connect finish and the greeting arrive before the first poll.
        std::thread::sleep(Duration::from_millis(100));
        let map = Map::new().unwrap();
        let log = Rc::new(RefCell::new(Vec::new()));
        map.add(chan, ConnThenClose { log: log.clone() }).unwrap();
        run_for(&map, Duration::from_millis(100));
        t.join().unwrap();
        assert_eq!(
            *log.borrow(),
            vec!["connect".to_string()],
            "events after close"
        );
    }

    /// Closing itself through Map::close_channel (or its own Handle::close), then
    /// reconnecting in the same handler, as works with cx.close().
    struct Reconnector {
        addr: SocketAddr,
        done: bool,
        connects: Rc<Cell<u32>>,
    }
    impl Dispatcher for Reconnector {
        fn handle_connect(&mut self, _cx: &mut Cx<'_>) -> Result<()> {
            self.connects.set(self.connects.get() + 1);
            Ok(())
        }
        fn handle_write(&mut self, cx: &mut Cx<'_>) -> Result<()> {
            if !self.done {
                self.done = true;
                let id = cx.id();
                cx.map().close_channel(id);
                cx.create_socket(Domain::IPV4, Type::STREAM)?;
                cx.connect(self.addr)?;
            }
            Ok(())
        }
        fn readable(&mut self, _cx: &mut Cx<'_>) -> bool {
            false
        }
        fn writable(&mut self, cx: &mut Cx<'_>) -> bool {
            !self.done || !cx.connected
        }
    }

    #[test]
    fn reconnect_after_close_channel_of_self() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        l.set_nonblocking(true).unwrap();
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        chan.connect(addr).unwrap();
        let map = Map::new().unwrap();
        let connects = Rc::new(Cell::new(0));
        let h = map
            .add(
                chan,
                Reconnector {
                    addr,
                    done: false,
                    connects: connects.clone(),
                },
            )
            .unwrap();
        run_for(&map, Duration::from_millis(200));
        assert!(
            h.is_open(),
            "reconnected channel was closed by the deferred close"
        );
        assert_eq!(connects.get(), 2);
    }

    /// on_close reconnects (Python: a close() override that reconnects): the channel is
    /// open but in no map, served never.
    struct OnCloseReconnect {
        addr: SocketAddr,
        tries: u32,
    }
    impl Dispatcher for OnCloseReconnect {
        fn on_close(&mut self, cx: &mut Cx<'_>) {
            if self.tries == 0 {
                self.tries += 1;
                cx.create_socket(Domain::IPV4, Type::STREAM).unwrap();
                cx.connect(self.addr).unwrap();
            }
        }
    }
    #[test]
    fn a_socket_given_in_on_close_is_closed_not_stranded() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let mut chan = Channel::new();
        chan.create_socket(Domain::IPV4, Type::STREAM).unwrap();
        chan.connect(addr).unwrap();
        let map = Map::new().unwrap();
        let h = map.add(chan, OnCloseReconnect { addr, tries: 0 }).unwrap();
        h.close();
        let open = h.channel().is_open();
        assert!(
            !open || h.is_open(),
            "socket open but the channel is in no map (stranded)"
        );
        drop(l);
    }
}
