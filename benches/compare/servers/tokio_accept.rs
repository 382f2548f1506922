//! What the two tokio servers share, written as a good tokio user writes it: a
//! `current_thread` runtime whose main task accepts connections and spawns one task
//! per connection, until the harness's stop reaches it through a `Notify`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::{ServerStats, Stop};

/// Accepts on `listener` until `stop`, running `conn(stream)` as a task for each
/// connection. Dropping the runtime at the end drops every connection task.
pub fn serve<F, Fut>(listener: std::net::TcpListener, stop: Stop, conn: F) -> ServerStats
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
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
                        tokio::spawn(conn(stream));
                    }
                    // EMFILE and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                },
            }
        }
        stats
    })
}
