//! One TCP link: a non-blocking mio stream with a bounded write queue.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use bytes::{Buf, Bytes};
use mio::net::TcpStream;
use netcluster_net::socket2::SockRef;
use netcluster_net::NetError;

/// Where a link stands.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Phase {
    /// Connect in progress, abandoned at `deadline`.
    Connecting { addr: SocketAddr, deadline: Instant },
    /// Carrying the node's frames.
    Up,
    /// Closed by the node: queued writes are flushed until `deadline`, then
    /// the stream is shut down. Incoming bytes are read and discarded.
    Closing { deadline: Instant },
}

pub(crate) struct TcpLink {
    pub(crate) stream: TcpStream,
    /// Its token offset in the node's range.
    pub(crate) slot: usize,
    pub(crate) phase: Phase,
    /// Our FIN is sent (closing links only).
    pub(crate) fin_sent: bool,
    /// The peer's FIN has come (closing links only).
    pub(crate) eof: bool,
    queue: VecDeque<Bytes>,
}

/// Writes refused because the queue is full.
pub(crate) struct Overflow;

impl TcpLink {
    pub(crate) fn new(stream: TcpStream, slot: usize, phase: Phase) -> TcpLink {
        TcpLink { stream, slot, phase, fin_sent: false, eof: false, queue: VecDeque::new() }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Closing { deadline } => Some(deadline),
            Phase::Up => None,
        }
    }

    /// Queues `data` behind earlier writes (at most `cap` waiting) and
    /// writes what the socket takes now.
    pub(crate) fn write(&mut self, data: Bytes, cap: usize) -> Result<io::Result<()>, Overflow> {
        if self.queue.len() >= cap {
            return Err(Overflow);
        }
        if !data.is_empty() {
            self.queue.push_back(data);
        }
        Ok(self.flush().map(|_| ()))
    }

    /// Writes queued bytes until the socket would block. Returns whether
    /// the queue is empty.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        while let Some(front) = self.queue.front_mut() {
            match self.stream.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    front.advance(n);
                    if front.is_empty() {
                        self.queue.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// Sends FIN after the flushed bytes. Errors do not matter any more:
    /// the stream is dropped next.
    pub(crate) fn shutdown_write(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// After a readiness event on a connecting stream: `Ok(Some(local))`
    /// once connected, `Ok(None)` while still connecting (a spurious
    /// wake-up), or the error the connect ended with.
    pub(crate) fn finish_connect(&self, addr: SocketAddr) -> Result<Option<SocketAddr>, NetError> {
        match self.stream.take_error() {
            Ok(Some(source)) | Err(source) => return Err(NetError::Connect { addr, source }),
            Ok(None) => {}
        }
        match self.stream.peer_addr() {
            Ok(_) => netcluster_net::connect_finish(SockRef::from(&self.stream), addr).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(None),
            Err(source) => Err(NetError::Connect { addr, source }),
        }
    }
}
