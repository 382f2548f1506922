//! tokio echo server, written as a good tokio user writes it: a `current_thread`
//! runtime, one task per connection, each reading into its own 8 KiB buffer (the
//! size `tokio::io::copy` uses) and answering with `write_all`.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{ServerStats, Stop};

/// Serves echo on `listener` until `stop`.
pub fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let stopped = Arc::new(Notify::new());
    let wake = stopped.clone();
    // `notify_one` keeps a permit when nobody waits yet, so no stop is lost.
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
                        tokio::spawn(echo(stream));
                    }
                    // EMFILE and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
        stats
    })
    // Dropping the runtime drops every connection task.
}

async fn echo(mut stream: TcpStream) {
    let mut buf = vec![0u8; 8 * 1024];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if stream.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
