//! The crate's line-echo server, written as a porter of a Python `async_chat` server
//! would write it: a listening `Dispatcher` whose `handle_accepted` adds an
//! `AsyncChat<LineEcho>` per connection. `LineEcho` sets the terminator `\n`, collects
//! each line in `collect_incoming_data` and pushes it back with its `\n` in
//! `found_terminator`. As Python's `push` does, a push starts sending at once, except
//! that the answers to the lines of one read are sent together, with the last one's
//! (the crate's default coalescing of pipelined replies; what the socket does not take
//! is queued, and later answers are gathered into vectored writes). Lines longer than
//! the tokio server's limit close the connection, and a peer that lets a backlog of
//! answers pile up is not read from until it has taken them.
//!
//! The loop runs free with the dispatch budget a server sets,
//! [`SERVER_BUDGET`](super::SERVER_BUDGET), as the `asyncore` echo server does.
//!
//! Unlike the `asyncore` echo server, this one is the bench's own: no shipped
//! example echoes lines (`examples/chat_server.rs` sends each line to the *other*
//! clients, with nicknames, so it cannot serve the lines scenario's load).

use std::net::TcpListener;

use asyncore::{
    AsyncChat, Channel, Chat, ChatHandler, Cx, Dispatcher, Map, Result, SockAddr, Socket,
};

use super::{ServerStats, Stop};

/// Longest line accepted, as for the tokio `LinesCodec` server.
const MAX_LINE: usize = 8 * 1024;
/// Stop reading from a connection while this much of its echo is unsent.
const MAX_BACKLOG: usize = 256 * 1024;

struct LineEcho {
    line: Vec<u8>,
}

impl ChatHandler for LineEcho {
    fn readable(&mut self, chat: &mut Chat<'_, '_>) -> bool {
        chat.pending_bytes() < MAX_BACKLOG
    }
    fn collect_incoming_data(&mut self, _chat: &mut Chat<'_, '_>, data: &[u8]) {
        self.line.extend_from_slice(data);
    }
    fn found_terminator(&mut self, chat: &mut Chat<'_, '_>) -> Result<()> {
        self.line.push(b'\n');
        chat.push(&self.line);
        self.line.clear();
        Ok(())
    }
}

struct LineServer {
    accepted: u64,
}

impl Dispatcher for LineServer {
    fn handle_accepted(&mut self, cx: &mut Cx<'_>, sock: Socket, _addr: SockAddr) -> Result<()> {
        self.accepted += 1;
        let mut chat = AsyncChat::new(LineEcho { line: Vec::new() });
        chat.set_terminator(b"\n")?;
        chat.set_input_limit(Some(MAX_LINE));
        cx.add(Channel::from_socket(sock)?, chat)?;
        Ok(())
    }
}

/// Serves line echo on `listener` until `stop`, in a free-running loop with a
/// dispatch budget of [`SERVER_BUDGET`](super::SERVER_BUDGET).
pub fn serve(listener: TcpListener, stop: Stop) -> ServerStats {
    let map = Map::new().expect("asyncore map");
    map.set_dispatch_budget(super::SERVER_BUDGET);
    let chan = Channel::from_socket(listener).expect("listener");
    let server = map.add(chan, LineServer { accepted: 0 }).expect("add");
    super::run_until_stopped(&map, &stop);
    let accepted = server.borrow().accepted;
    asyncore::close_all(Some(&map), true).expect("close_all");
    ServerStats { accepted }
}
