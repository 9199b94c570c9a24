//! The node's own sockets (unicast, beacon, listener) registered with the
//! async-io reactor, and their non-blocking reads and sends.

use std::cell::Cell;
use std::io::{self, ErrorKind};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::task::{Context, Poll};

use async_io::Async;
use netcluster_core::node::{DatagramSource, DatagramTarget};
use netcluster_net::socket2::SockRef;
use netcluster_net::{DatagramOut, Sockets};

use crate::Error;

/// A socket registered with the reactor, read until it would block before
/// its readiness is asked for again: a pass over idle sockets then costs no
/// system call.
pub(crate) struct Source<T> {
    io: Async<T>,
    maybe_ready: Cell<bool>,
}

impl<T> Source<T> {
    /// Takes the result of `Async::new`.
    fn new(io: io::Result<Async<T>>) -> Result<Source<T>, Error> {
        let io = io.map_err(Error::Runtime)?;
        Ok(Source { io, maybe_ready: Cell::new(true) })
    }

    pub(crate) fn get_ref(&self) -> &T {
        self.io.get_ref()
    }

    /// Runs the non-blocking `op` once the socket may be readable; `Pending`
    /// (with the waker registered) once it would block.
    fn poll_read_with<R>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if !self.maybe_ready.get() {
                match self.io.poll_readable(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => self.maybe_ready.set(true),
                }
            }
            match op(self.io.get_ref()) {
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.maybe_ready.set(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Ask the reactor next time rather than retrying a
                    // failing call in a loop.
                    self.maybe_ready.set(false);
                    return Poll::Ready(Err(e));
                }
                ok => return Poll::Ready(ok),
            }
        }
    }
}

/// The sockets, read-only once open.
pub(crate) struct Io {
    u4: Option<Source<UdpSocket>>,
    u6: Option<Source<UdpSocket>>,
    /// Beacon receivers (they only receive; sends go from the unicast ones).
    beacons: Vec<Source<UdpSocket>>,
    listener: Option<Source<TcpListener>>,
    out: DatagramOut,
}

/// What one poll of a UDP socket found.
pub(crate) enum UdpRead {
    /// A datagram of this length from this address.
    Datagram(usize, SocketAddr),
    /// A receive error, logged and skipped.
    Skipped,
}

impl Io {
    /// Registers every socket of `s` with the reactor.
    pub(crate) fn new(s: Sockets) -> Result<Io, Error> {
        let out = DatagramOut::new(&s);
        let mut beacons = Vec::new();
        for b in [s.beacon_v4, s.beacon_v6].into_iter().flatten() {
            beacons.push(Source::new(Async::new(b))?);
        }
        Ok(Io {
            u4: s.unicast_v4.map(|u| Source::new(Async::new(u))).transpose()?,
            u6: s.unicast_v6.map(|u| Source::new(Async::new(u))).transpose()?,
            beacons,
            listener: s.listener.map(|l| Source::new(Async::new(l))).transpose()?,
            out,
        })
    }

    /// Asks for a receive buffer of `bytes` on the unicast sockets (those
    /// that carry link frames in datagram mode). Best effort: the kernel
    /// may cap it, and a refusal only costs retransmissions.
    pub(crate) fn grow_unicast_buffers(&self, bytes: usize) {
        for s in [self.u4.as_ref(), self.u6.as_ref()].into_iter().flatten() {
            let sock = SockRef::from(s.get_ref());
            match sock.set_recv_buffer_size(bytes).and_then(|()| sock.recv_buffer_size()) {
                Ok(granted) => tracing::debug!(asked = bytes, granted, "datagram receive buffer"),
                Err(e) => tracing::warn!(error = %e, "cannot set SO_RCVBUF"),
            }
        }
    }

    /// Every socket that receives datagrams, with its source kind. The
    /// unicast sockets come first: they carry link frames in datagram mode.
    pub(crate) fn receivers(&self) -> impl Iterator<Item = (&Source<UdpSocket>, DatagramSource)> {
        let unicast = [self.u4.as_ref(), self.u6.as_ref()].into_iter().flatten();
        unicast
            .map(|s| (s, DatagramSource::Unicast))
            .chain(self.beacons.iter().map(|s| (s, DatagramSource::Beacon)))
    }

    /// The listener, in stream link mode.
    pub(crate) fn listener(&self) -> Option<&Source<TcpListener>> {
        self.listener.as_ref()
    }

    fn unicast_for(&self, to: &SocketAddr) -> Option<&Source<UdpSocket>> {
        if to.is_ipv4() {
            self.u4.as_ref()
        } else {
            self.u6.as_ref()
        }
    }

    /// Sends one datagram without waiting: datagrams are best effort and
    /// the core repeats what matters, so a full socket buffer drops it.
    pub(crate) fn send(&self, to: DatagramTarget, data: &[u8]) {
        self.out.send(|a| self.unicast_for(a).map(|s| SockRef::from(s.get_ref())), to, data);
    }
}

/// Polls `sock` for one datagram into `buf`. `Pending` registers the waker
/// with the reactor. Other errors are logged and reported as skipped (the
/// caller counts them as work): ICMP errors of earlier sends (port
/// unreachable...) land here on some systems and are not this socket's
/// failure.
pub(crate) fn poll_udp(
    sock: &Source<UdpSocket>,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<UdpRead> {
    match sock.poll_read_with(cx, |s| s.recv_from(buf)) {
        Poll::Ready(Ok((n, from))) => Poll::Ready(UdpRead::Datagram(n, from)),
        Poll::Ready(Err(e)) => {
            tracing::debug!(error = %e, "datagram receive error");
            Poll::Ready(UdpRead::Skipped)
        }
        Poll::Pending => Poll::Pending,
    }
}

/// Polls the listener for one connection. `Pending` registers the waker.
pub(crate) fn poll_accept(
    l: &Source<TcpListener>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
    l.poll_read_with(cx, |l| l.accept())
}
