//! Streaming client: every connection writes a repeating pattern as fast as the
//! socket takes it (up to an optional in-flight limit) and reads the echo as fast
//! as it comes, checking every byte against the pattern. Used by the bulk scenario
//! (no limit: both directions stream) and the lines scenario (a fixed number of
//! pipelined lines in flight per connection).

use std::io::{self, Read, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::harness::{Measured, Phase, Running, Timing, Window};

/// What to send.
pub struct Spec<'p> {
    /// Connections.
    pub conns: usize,
    /// One period of the stream each connection sends, over and over.
    pub pattern: &'p [u8],
    /// Most bytes sent and not yet echoed per connection (`usize::MAX`: no limit).
    pub max_in_flight: usize,
}

/// What one streaming run saw.
#[derive(Clone, Copy, Debug)]
pub struct Streamed {
    /// Echoed bytes received in the window.
    pub bytes: u64,
    /// Reads whose bytes differed from the pattern.
    pub mismatches: u64,
    /// The server's use of the window.
    pub measured: Measured,
}

struct Conn {
    stream: TcpStream,
    sent: u64,
    received: u64,
}

/// Opens `n` connections to `addr`, each registered for reading and writing under
/// its index as token.
fn connect(addr: std::net::SocketAddr, n: usize) -> io::Result<(Poll, Vec<Conn>)> {
    let poll = Poll::new()?;
    let mut conns = Vec::with_capacity(n);
    for (i, mut stream) in super::connect_many(addr, n)?.into_iter().enumerate() {
        poll.registry().register(
            &mut stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        conns.push(Conn {
            stream,
            sent: 0,
            received: 0,
        });
    }
    Ok((poll, conns))
}

/// Runs one warm-up and window of `spec` against `server`.
pub fn run(server: &Running, spec: &Spec, timing: Timing) -> io::Result<Streamed> {
    let (mut poll, mut conns) = connect(server.addr, spec.conns)?;
    let mut window = Window::new(server, timing);
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut result = Streamed {
        bytes: 0,
        mismatches: 0,
        measured: Measured::default(),
    };
    for conn in &mut conns {
        conn.write(spec, u64::MAX)?;
    }
    loop {
        let now = Instant::now();
        let phase = window.at(now);
        if phase == Phase::Done {
            break;
        }
        match poll.poll(&mut events, Some(window.until_next(now))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        let measuring = window.at(Instant::now()) == Phase::Measure;
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            let (bytes, mismatches) = conn.read(spec.pattern, &mut buf)?;
            if measuring {
                result.bytes += bytes;
            }
            result.mismatches += mismatches;
            conn.write(spec, u64::MAX)?;
        }
    }
    result.measured = window.measured();
    Ok(result)
}

/// Streams exactly `per_conn` bytes of `spec` on each of its connections to `addr`
/// and reads all of their echo, then closes them; returns how many reads differed
/// from the pattern. For a server under a counting tool, where only the amount of
/// work matters (no window, no CPU sampling). Fails if nothing arrives for 30 s.
pub fn run_bytes(addr: std::net::SocketAddr, spec: &Spec, per_conn: u64) -> io::Result<u64> {
    let (mut poll, mut conns) = connect(addr, spec.conns)?;
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut mismatches = 0;
    for conn in &mut conns {
        conn.write(spec, per_conn)?;
    }
    while conns.iter().any(|c| c.received < per_conn) {
        match poll.poll(&mut events, Some(std::time::Duration::from_secs(30))) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => other?,
        }
        if events.is_empty() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no echo for 30 s"));
        }
        for event in events.iter() {
            let conn = &mut conns[event.token().0];
            mismatches += conn.read(spec.pattern, &mut buf)?.1;
            conn.write(spec, per_conn)?;
        }
    }
    if conns.iter().any(|c| c.received != per_conn) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "more echo than was sent",
        ));
    }
    Ok(mismatches)
}

impl Conn {
    /// Reads until a read comes back short (the socket is drained: with mio's
    /// edge-triggered events, more data makes a new event, as the raw mio server
    /// assumes too) or `WouldBlock`; returns bytes read and mismatching reads.
    /// Stopping at a short read saves a system call per event, so the client does
    /// not become the limit of the lines scenario.
    fn read(&mut self, pattern: &[u8], buf: &mut [u8]) -> io::Result<(u64, u64)> {
        let (mut bytes, mut mismatches) = (0, 0);
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(super::closed_by_server()),
                Ok(n) => {
                    mismatches += u64::from(!matches_pattern(pattern, self.received, &buf[..n]));
                    self.received += n as u64;
                    bytes += n as u64;
                    if n < buf.len() {
                        return Ok((bytes, mismatches));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((bytes, mismatches)),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes until `WouldBlock`, the in-flight limit, or `limit` bytes sent in all.
    fn write(&mut self, spec: &Spec, limit: u64) -> io::Result<()> {
        let period = spec.pattern.len() as u64;
        loop {
            let in_flight = (self.sent - self.received) as usize;
            let left = usize::try_from(limit - self.sent).unwrap_or(usize::MAX);
            let allowed = spec.max_in_flight.saturating_sub(in_flight).min(left);
            if allowed == 0 {
                return Ok(());
            }
            let at = (self.sent % period) as usize;
            let end = spec.pattern.len().min(at.saturating_add(allowed));
            match self.stream.write(&spec.pattern[at..end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.sent += n as u64,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether `data`, found at stream offset `offset`, is what the pattern has there.
fn matches_pattern(pattern: &[u8], offset: u64, mut data: &[u8]) -> bool {
    let mut at = (offset % pattern.len() as u64) as usize;
    while !data.is_empty() {
        let n = data.len().min(pattern.len() - at);
        if data[..n] != pattern[at..at + n] {
            return false;
        }
        data = &data[n..];
        at = 0;
    }
    true
}
