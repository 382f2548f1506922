//! Ping-pong client: each connection sends a 64-byte message, waits for all 64
//! bytes of its echo, checks them, and sends the next; latency is from the send to
//! the last byte back. One thread drives every connection with mio, edge-triggered.

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::harness::{Measured, Phase, Running, Timing, Window};

/// Message size.
pub const MSG: usize = 64;

/// What one ping-pong run saw.
#[derive(Clone, Debug)]
pub struct PingPong {
    /// Round trips completed in the window.
    pub round_trips: u64,
    /// Median round-trip latency, µs.
    pub p50_us: f64,
    /// 99th-percentile round-trip latency, µs.
    pub p99_us: f64,
    /// Echoes that differed from what was sent.
    pub mismatches: u64,
    /// The server's use of the window.
    pub measured: Measured,
}

struct Conn {
    stream: TcpStream,
    message: [u8; MSG],
    echo: [u8; MSG],
    received: usize,
    written: usize,
    sent_at: Instant,
}

impl Conn {
    /// Writes what is left of the current message; stops at `WouldBlock`.
    fn send(&mut self) -> io::Result<()> {
        while self.written < MSG {
            match self.stream.write(&self.message[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Runs ping-pong on `conns` connections to `server` for one warm-up and window.
pub fn run(server: &Running, n: usize, timing: Timing) -> io::Result<PingPong> {
    let mut poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for (i, mut stream) in super::connect_many(server.addr, n)?.into_iter().enumerate() {
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        let mut message = [b'.'; MSG];
        message[..8].copy_from_slice(&(i as u64).to_le_bytes());
        message[MSG - 1] = b'\n';
        conns.push(Conn {
            stream,
            message,
            echo: [0; MSG],
            received: 0,
            written: 0,
            sent_at: Instant::now(),
        });
    }

    let mut window = Window::new(server, timing);
    let mut events = Events::with_capacity(1024);
    let mut latencies_ns: Vec<u64> = Vec::with_capacity(1 << 16);
    let mut round_trips = 0u64;
    let mut mismatches = 0u64;
    for conn in &mut conns {
        conn.sent_at = Instant::now();
        conn.send()?;
    }
    loop {
        let now = Instant::now();
        if window.at(now) == Phase::Done {
            break;
        }
        match poll.poll(&mut events, Some(window.until_next(now))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            if event.is_writable() {
                conn.send()?;
            }
            if !event.is_readable() && !event.is_read_closed() && !event.is_error() {
                continue;
            }
            // Only one message is in flight, so once its echo is complete nothing
            // more can be pending and the next edge comes with the next echo.
            while conn.received < MSG {
                match conn.stream.read(&mut conn.echo[conn.received..]) {
                    Ok(0) => return Err(super::closed_by_server()),
                    Ok(k) => conn.received += k,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if conn.received == MSG {
                let done = Instant::now();
                if window.at(done) == Phase::Measure {
                    round_trips += 1;
                    latencies_ns.push((done - conn.sent_at).as_nanos() as u64);
                    mismatches += u64::from(conn.echo != conn.message);
                }
                conn.received = 0;
                conn.written = 0;
                conn.sent_at = done;
                conn.send()?;
            }
        }
    }
    Ok(PingPong {
        round_trips,
        p50_us: percentile_us(&mut latencies_ns, 50),
        p99_us: percentile_us(&mut latencies_ns, 99),
        mismatches,
        measured: window.measured(),
    })
}

fn percentile_us(samples: &mut [u64], pct: usize) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    let i = (samples.len() * pct / 100).min(samples.len() - 1);
    *samples.select_nth_unstable(i).1 as f64 / 1e3
}

/// Runs exactly `round_trips` ping-pong round trips on one blocking connection to
/// `addr`, then closes it; returns how many echoes differed from what was sent. For
/// a server under a counting tool, where only the amount of work matters: the
/// server sees what [`run`] makes it see, one 64-byte message at a time.
pub fn run_count(addr: std::net::SocketAddr, round_trips: u64) -> io::Result<u64> {
    let mut stream = super::connect(addr)?;
    // A server under callgrind is slow, but not this slow.
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30)))?;
    let mut message = [b'.'; MSG];
    message[MSG - 1] = b'\n';
    let mut echo = [0u8; MSG];
    let mut mismatches = 0;
    for i in 0..round_trips {
        message[..8].copy_from_slice(&i.to_le_bytes());
        stream.write_all(&message)?;
        stream.read_exact(&mut echo)?;
        mismatches += u64::from(echo != message);
    }
    Ok(mismatches)
}
