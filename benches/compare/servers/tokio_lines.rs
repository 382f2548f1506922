//! tokio_util `LinesCodec` line-echo server: a `current_thread` runtime, one task
//! per connection, `Framed` with a maximum line length, each line sent back with
//! its `\n`. The decoded lines are forwarded into the sink with `StreamExt::forward`,
//! which flushes only when no more input is ready, so pipelined lines leave in
//! batches: the best a tokio user gets without hand-written buffering.

use futures_util::StreamExt;
use tokio::net::TcpStream;
use tokio_util::codec::{Framed, LinesCodec};

use super::{ServerStats, Stop};

/// Longest line accepted; a longer one ends the connection with an error.
const MAX_LINE: usize = 8 * 1024;

/// Serves line echo on `listener` until `stop`.
pub fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats {
    super::tokio_accept::serve(listener, stop, echo_lines)
}

async fn echo_lines(stream: TcpStream) {
    let (sink, lines) = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE)).split();
    let _ = lines.forward(sink).await;
}
