//! One TCP link: a non-blocking mio stream and the frames it has not
//! written yet (bounded by the engine through its [`Backlog`]).

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use bytes::{Buf, Bytes};
use mio::net::TcpStream;
use netcluster_net::backlog::Backlog;
use netcluster_net::recv_buf::RecvBuffer;
use netcluster_net::socket2::SockRef;
use netcluster_net::{DriverLimits, NetError};

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
    /// What the engine handed over and the socket has not taken.
    pub(crate) backlog: Backlog,
    /// Frames and bytes written since the backlog last heard of them.
    written: (usize, usize),
    /// Where reads land, handed to the node without a copy.
    pub(crate) recv: RecvBuffer,
}

impl TcpLink {
    pub(crate) fn new(stream: TcpStream, slot: usize, phase: Phase) -> TcpLink {
        TcpLink {
            stream,
            slot,
            phase,
            fin_sent: false,
            eof: false,
            queue: VecDeque::new(),
            backlog: Backlog::default(),
            written: (0, 0),
            recv: RecvBuffer::default(),
        }
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Connecting { deadline, .. } | Phase::Closing { deadline } => Some(deadline),
            Phase::Up => None,
        }
    }

    /// Queues `data` behind earlier writes and writes what the socket
    /// takes now.
    pub(crate) fn write(&mut self, data: Bytes) -> io::Result<()> {
        if data.is_empty() {
            // Nothing to write, but a frame the backlog counted.
            self.written.0 += 1;
        } else {
            self.queue.push_back(data);
        }
        self.flush().map(|_| ())
    }

    /// Tells the backlog what was written since it last heard; true when
    /// the engine waits for room and has it now.
    pub(crate) fn report_written(&mut self, limits: &DriverLimits) -> bool {
        let (frames, bytes) = std::mem::take(&mut self.written);
        self.backlog.written(frames, bytes, limits)
    }

    /// Writes queued bytes until the socket would block. Returns whether
    /// the queue is empty.
    pub(crate) fn flush(&mut self) -> io::Result<bool> {
        while let Some(front) = self.queue.front_mut() {
            match self.stream.write(front) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    front.advance(n);
                    self.written.1 += n;
                    if front.is_empty() {
                        self.queue.pop_front();
                        self.written.0 += 1;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A connected pair on loopback: our mio stream and the peer's std one.
    fn pair() -> (TcpStream, std::net::TcpStream) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        ours.set_nonblocking(true).unwrap();
        let (theirs, _) = l.accept().unwrap();
        (TcpStream::from_std(ours), theirs)
    }

    #[test]
    fn a_peer_that_does_not_read_leaves_writes_queued_then_everything_flushes() {
        let (stream, mut theirs) = pair();
        let mut link = TcpLink::new(stream, 0, Phase::Up);
        let limits = DriverLimits { write_queue: 4, ..DriverLimits::default() };
        let chunk = Bytes::from(vec![7u8; 64 * 1024]);
        let mut accepted = 0usize;
        // Socket buffers are finite: writes start to wait within a bounded
        // number, and the backlog says when to stop handing more.
        for _ in 0..100_000 {
            if !link.backlog.has_room(&limits) {
                break;
            }
            link.backlog.add(chunk.len());
            link.write(chunk.clone()).unwrap();
            let _ = link.report_written(&limits);
            accepted += chunk.len();
        }
        assert!(!link.backlog.has_room(&limits), "the socket never filled");
        assert!(!link.backlog.want(&limits));
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut n = 0;
            while n < accepted {
                let r = theirs.read(&mut buf).unwrap();
                assert!(r > 0, "EOF after {n} of {accepted} bytes");
                assert!(buf[..r].iter().all(|b| *b == 7));
                n += r;
            }
            n
        });
        let end = Instant::now() + Duration::from_secs(30);
        let mut told = false;
        while !link.flush().unwrap() {
            told |= link.report_written(&limits);
            assert!(Instant::now() < end, "queue not flushed");
            std::thread::sleep(Duration::from_millis(1));
        }
        told |= link.report_written(&limits);
        assert!(told, "the engine heard of the room");
        assert_eq!(link.backlog.held(), (0, 0));
        assert_eq!(reader.join().unwrap(), accepted);
    }

    #[test]
    fn a_refused_connect_is_an_error_naming_the_address() {
        // A port nobody listens on: bind, note it, close.
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let stream = TcpStream::from_std(netcluster_net::connect_start(addr).unwrap());
        let link = TcpLink::new(stream, 0, Phase::Connecting { addr, deadline: Instant::now() });
        let end = Instant::now() + Duration::from_secs(30);
        let err = loop {
            match link.finish_connect(addr) {
                Ok(None) => {
                    assert!(Instant::now() < end, "connect never ended");
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(Some(local)) => panic!("connected from {local} to a closed port"),
                Err(e) => break e,
            }
        };
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
    }
}
