//! tokio_util `LinesCodec` line-echo server: a `current_thread` runtime, one task
//! per connection, `Framed` with a maximum line length, each line sent back with
//! its `\n`. The decoded lines are forwarded into the sink with `StreamExt::forward`,
//! which flushes only when no more input is ready, so pipelined lines leave in
//! batches: the best a tokio user gets without hand-written buffering.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::codec::{Framed, LinesCodec};

use super::{ServerStats, Stop};

/// Longest line accepted; a longer one ends the connection with an error.
const MAX_LINE: usize = 8 * 1024;

/// Serves line echo on `listener` until `stop`.
pub fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stopped = Arc::new(Notify::new());
    let wake = stopped.clone();
    stop.on_stop(move || wake.notify_one());
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener).expect("tokio listener");
        let mut stats = ServerStats::default();
        loop {
            tokio::select! {
                _ = stopped.notified() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        stats.accepted += 1;
                        tokio::spawn(echo_lines(stream));
                    }
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
        stats
    })
}

async fn echo_lines(stream: TcpStream) {
    let (sink, lines) = Framed::new(stream, LinesCodec::new_with_max_length(MAX_LINE)).split();
    let _ = lines.forward(sink).await;
}
