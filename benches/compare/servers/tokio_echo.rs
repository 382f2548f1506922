//! tokio echo server, written as a good tokio user writes it: a `current_thread`
//! runtime, one task per connection, each reading into its own 8 KiB buffer (the
//! size `tokio::io::copy` uses) and answering with `write_all`.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{ServerStats, Stop};

/// Serves echo on `listener` until `stop`.
pub fn serve(listener: std::net::TcpListener, stop: Stop) -> ServerStats {
    super::tokio_accept::serve(listener, stop, echo)
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
