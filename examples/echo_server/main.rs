//! An echo server: `cargo run --example echo_server -- [ADDR]` (default 127.0.0.1:8007).
//!
//! Prints `listening on IP:PORT` once listening, then echoes every byte of every
//! connection until killed. A client that half-closes still gets back everything it
//! sent before the server closes. A client that never reads cannot grow the server's
//! memory without bound: past `MAX_PENDING` unsent bytes the server stops reading from
//! it until the backlog drains. A client that resets the connection while its echo is
//! unsent is closed at once: there is nobody left to send to.
//!
//! Warnings and errors are logged to stderr (`RUST_LOG=debug` for more).
//!
//! Two files, cargo's layout for an example of more than one: this one (`main.rs`)
//! parses the address, creates the listening channel and runs the loop;
//! `handler.rs` beside it holds what a server of your own would copy: the
//! listener's dispatcher (`EchoServer`), the connection's (`EchoHandler`) and the
//! limits they keep.

use std::io::Write;
use std::net::SocketAddr;

use asyncore::{Channel, Domain, Map, Type};

mod handler;

use handler::EchoServer;

fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    // Warnings and errors (a listener closed by an error, say) on stderr; RUST_LOG
    // overrides.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8007".into())
        .parse()?;
    let mut chan = Channel::new();
    chan.create_socket(Domain::for_address(addr), Type::STREAM)?;
    chan.set_reuse_addr();
    chan.bind(addr)?;
    chan.listen(128)?;
    let bound = chan.local_addr()?.as_socket().ok_or("not an IP address")?;
    Map::global().set_dispatch_budget(16); // a server: serve busy clients in runs (default 1)
    asyncore::add(chan, EchoServer)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {bound}")?;
    out.flush()?;
    drop(out);
    asyncore::loop_(None, false, None, None)?;
    Ok(())
}
