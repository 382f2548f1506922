//! The crate's line-echo server, written as a porter of a Python `async_chat` server
//! would write it: a listening `Dispatcher` whose `handle_accepted` adds a
//! `LineEcho` per connection. `LineEcho` sets the terminator `\n`, collects each line
//! in `collect_incoming_data` and pushes it back with its `\n` in
//! `found_terminator`; `AsyncChat` sends all the answers to one read in one write.
//! Lines longer than the tokio server's limit close the connection, and a peer that
//! lets a backlog of answers pile up is not read from until it has taken them.

use std::net::TcpListener;

use asyncore::{AsyncChat, AsyncChatHandler, Channel, Dispatcher, Map, Result, SockAddr, Socket};

use super::{ServerStats, Stop};

/// Longest line accepted, as for the tokio `LinesCodec` server.
const MAX_LINE: usize = 8 * 1024;
/// Stop reading from a connection while this much of its echo is unsent.
const MAX_BACKLOG: usize = 256 * 1024;

struct LineEcho {
    chat: AsyncChat,
    line: Vec<u8>,
}

impl AsyncChatHandler for LineEcho {
    fn chat(&self) -> &AsyncChat {
        &self.chat
    }
    fn chat_mut(&mut self) -> &mut AsyncChat {
        &mut self.chat
    }
    fn readable(&mut self) -> bool {
        self.chat.pending_bytes() < MAX_BACKLOG
    }
    fn collect_incoming_data(&mut self, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self) -> Result<()> {
        self.line.push(b'\n');
        self.chat.push(&self.line);
        self.line.clear();
        Ok(())
    }
}

struct LineServer {
    chan: Channel,
    accepted: u64,
}

impl Dispatcher for LineServer {
    fn channel(&self) -> &Channel {
        &self.chan
    }
    fn channel_mut(&mut self) -> &mut Channel {
        &mut self.chan
    }
    fn handle_accepted(&mut self, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        let mut chat = AsyncChat::from_socket(sock)?;
        chat.set_terminator(b"\n")?;
        chat.set_input_limit(Some(MAX_LINE));
        self.chan.map().expect("in a map").add(LineEcho {
            chat,
            line: Vec::new(),
        })?;
        Ok(())
    }
}

/// Serves line echo on `listener` until `stop`, in a free-running loop.
pub fn serve(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    let chan = Channel::from_socket(listener).expect("listener");
    let server = map.add(LineServer { chan, accepted: 0 }).expect("add");
    super::run_until_stopped(&map, &stop);
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(&map), true).expect("close_all");
    ServerStats { accepted }
}
