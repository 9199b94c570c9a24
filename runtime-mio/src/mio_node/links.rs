//! mio's side of the engine's I/O: the fixed sockets, TCP links from
//! connect to close, and the token slots they take in the caller's poll.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use netcluster_core::node::{DatagramTarget, LinkCloseReason, LinkId};
use netcluster_net::engine::{Engine, LinkIo, WriteError};
use netcluster_net::recv_buf::RecvBuffer;
use netcluster_net::streams::StreamIo;
use netcluster_net::DriverLimits as Options;

use super::Pending;
use crate::io::{Io, FIRST_LINK};
use crate::link::{Phase, TcpLink};
use crate::streams::{AcceptQueue, PeerStream};
use netcluster_net::backlog::Backlog;

/// Everything of the node that is mio's: sockets, slots, closing links.
pub(super) struct MioIo {
    pub(super) registry: Registry,
    pub(super) sockets: Io,
    pub(super) base: usize,
    pub(super) span: usize,
    /// Link by slot (token offset minus `FIRST_LINK`).
    pub(super) slots: Vec<Option<LinkId>>,
    pub(super) free: Vec<usize>,
    /// Links the node has closed, flushing their last frames (bounded by
    /// their deadline).
    pub(super) closing: HashMap<LinkId, TcpLink>,
    pub(super) pending: VecDeque<Pending>,
    pub(super) buf: Vec<u8>,
    pub(super) accepted: Arc<AcceptQueue>,
    pub(super) opts: Options,
    pub(super) link_addr: SocketAddr,
    /// The node's `limits.max_frame`, for the links' receive buffers.
    pub(super) max_frame: usize,
}

impl MioIo {
    fn alloc_slot(&mut self) -> Option<usize> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        if FIRST_LINK + self.slots.len() < self.span {
            self.slots.push(None);
            Some(self.slots.len() - 1)
        } else {
            None
        }
    }

    /// Registers `stream` as `link` in a free slot.
    fn watch(&mut self, link: LinkId, mut stream: TcpStream, phase: Phase) -> io::Result<TcpLink> {
        let Some(slot) = self.alloc_slot() else {
            return Err(io::Error::other("no token left in the node's range for another link"));
        };
        let token = Token(self.base + FIRST_LINK + slot);
        if let Err(e) =
            self.registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.free.push(slot);
            return Err(e);
        }
        self.slots[slot] = Some(link);
        let mut l = TcpLink::new(stream, slot, phase);
        l.recv = RecvBuffer::new(self.max_frame);
        Ok(l)
    }

    /// Forgets a link: deregistered, its slot freed, its stream closed.
    pub(super) fn unwatch(&mut self, link: LinkId, mut l: TcpLink) {
        let _ = self.registry.deregister(&mut l.stream);
        self.slots[l.slot] = None;
        self.free.push(l.slot);
        self.pending.retain(|p| *p != Pending::Link(link));
    }

    /// The link a token offset at or past `FIRST_LINK` belongs to.
    pub(super) fn link_at(&self, offset: usize) -> Option<LinkId> {
        self.slots.get(offset - FIRST_LINK).copied().flatten()
    }

    pub(super) fn push_pending(&mut self, p: Pending) {
        if !self.pending.contains(&p) {
            self.pending.push_back(p);
        }
    }

    /// Moves a closing link on: FIN once flushed, gone once the peer's FIN
    /// has come too (or on an error).
    pub(super) fn settle_closing(&mut self, link: LinkId) {
        let Some(l) = self.closing.get_mut(&link) else { return };
        let done = match l.flush() {
            Ok(true) => {
                if !l.fin_sent {
                    l.shutdown_write();
                    l.fin_sent = true;
                }
                l.eof
            }
            Ok(false) => false,
            Err(e) => {
                tracing::debug!(?link, error = %e, "closing link failed");
                true
            }
        };
        if done {
            if let Some(l) = self.closing.remove(&link) {
                self.unwatch(link, l);
            }
        }
    }

    /// Reads and discards what a closing link still receives, until its
    /// peer's FIN.
    pub(super) fn drain_closing(&mut self, link: LinkId) {
        loop {
            let Some(l) = self.closing.get_mut(&link) else { return };
            match l.stream.read(&mut self.buf) {
                Ok(0) => {
                    l.eof = true;
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    if let Some(l) = self.closing.remove(&link) {
                        self.unwatch(link, l);
                    }
                    return;
                }
            }
        }
        self.settle_closing(link);
    }
}

impl LinkIo for MioIo {
    type Connecting = TcpLink;
    type Up = TcpLink;

    fn send_datagram(&mut self, to: DatagramTarget, data: &[u8]) {
        self.sockets.send(to, data);
    }

    fn connect(&mut self, link: LinkId, addr: SocketAddr) -> Option<TcpLink> {
        let stream = match netcluster_net::connect_start(addr) {
            Ok(s) => TcpStream::from_std(s),
            Err(e) => {
                tracing::debug!(?link, error = %e, "connect failed");
                return None;
            }
        };
        let deadline = std::time::Instant::now() + self.opts.connect_timeout;
        match self.watch(link, stream, Phase::Connecting { addr, deadline }) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(?link, %addr, error = %e, "cannot watch the connect");
                None
            }
        }
    }

    fn write(&mut self, link: LinkId, up: &mut TcpLink, data: Bytes) -> Result<(), WriteError> {
        let r = up.write(data);
        // The engine is pulling now: it sees the room itself.
        let _ = up.report_written(&self.opts);
        r.map_err(|e| {
            tracing::debug!(?link, error = %e, "link write failed");
            WriteError::Failed
        })
    }

    fn backlog<'a>(&self, up: &'a TcpLink) -> &'a Backlog {
        &up.backlog
    }

    /// Flush, send FIN, wait for the peer's FIN (bounded), so the last
    /// frames (a GOODBYE) are not lost to a reset.
    fn close(&mut self, link: LinkId, mut up: TcpLink) {
        let deadline = std::time::Instant::now() + self.opts.shutdown_linger;
        up.phase = Phase::Closing { deadline };
        self.closing.insert(link, up);
        self.settle_closing(link);
    }

    fn cancel(&mut self, link: LinkId, attempt: TcpLink) {
        self.unwatch(link, attempt);
    }

    fn abort(&mut self, link: LinkId, up: TcpLink) {
        self.unwatch(link, up);
    }

    fn stream_opened(&mut self, stream: StreamIo) {
        let s = PeerStream::new(stream);
        if let Err(s) = self.accepted.push(s) {
            tracing::warn!(
                stream = ?s.id(),
                peer = %s.peer().as_uuid(),
                "accept queue full (or node stopping); stream reset"
            );
            s.reset();
        }
    }
}

/// Readiness of a link's token.
pub(super) fn link_ready(
    engine: &mut Engine<MioIo>,
    io: &mut MioIo,
    link: LinkId,
    readable: bool,
    writable: bool,
) {
    if let Some(c) = engine.connecting_mut(link) {
        let Phase::Connecting { addr, .. } = c.phase else { return };
        match c.finish_connect(addr) {
            Ok(None) => return,
            Ok(Some(local)) => engine.connect_done(io, link, |_, mut l| {
                l.phase = Phase::Up;
                Ok((l, local))
            }),
            Err(e) => {
                engine.connect_failed(io, link, &e);
                return;
            }
        }
        if readable {
            read_link(engine, io, link);
        }
        return;
    }
    if let Some(l) = engine.up_mut(link) {
        if writable {
            if let Err(e) = l.flush() {
                tracing::debug!(?link, error = %e, "link write failed");
                lost(engine, io, link, LinkCloseReason::Error);
                return;
            }
            if l.report_written(&io.opts) {
                engine.link_drained(io, link);
            }
        }
        if readable {
            read_link(engine, io, link);
        }
        return;
    }
    if io.closing.contains_key(&link) {
        if readable {
            io.drain_closing(link);
        } else {
            io.settle_closing(link);
        }
    }
}

/// An up link failed or its peer closed it: report it to the node.
pub(super) fn lost(
    engine: &mut Engine<MioIo>,
    io: &mut MioIo,
    link: LinkId,
    reason: LinkCloseReason,
) {
    if let Some(mut l) = engine.link_closed(io, link, reason) {
        // Best effort: what fits in the socket now still goes out.
        let _ = l.flush();
        l.shutdown_write();
        io.unwatch(link, l);
    }
}

pub(super) fn read_link(engine: &mut Engine<MioIo>, io: &mut MioIo, link: LinkId) {
    for _ in 0..engine.limits().max_reads_per_wake {
        let Some(l) = engine.up_mut(link) else { return };
        match l.stream.read(l.recv.space()) {
            Ok(0) => {
                tracing::debug!(?link, "link closed by the peer");
                lost(engine, io, link, LinkCloseReason::Remote);
                return;
            }
            Ok(n) => {
                if let Some(frames) = l.recv.take(n) {
                    engine.link_data(io, link, frames);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(?link, error = %e, "link read failed");
                lost(engine, io, link, LinkCloseReason::Error);
                return;
            }
        }
    }
    io.push_pending(Pending::Link(link));
}

pub(super) fn read_udp(engine: &mut Engine<MioIo>, io: &mut MioIo, offset: usize) {
    let source = Io::source_of(offset);
    for _ in 0..engine.limits().max_reads_per_wake {
        let Some(sock) = io.sockets.udp[offset].as_ref() else { return };
        match sock.recv_from(&mut io.buf) {
            Ok((n, from)) => {
                let data = Bytes::copy_from_slice(&io.buf[..n]);
                engine.datagram(io, from, source, data);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            // ICMP errors of earlier sends (port unreachable...) land here
            // on some systems: not this socket's failure.
            Err(e) => tracing::debug!(error = %e, "datagram receive error"),
        }
    }
    io.push_pending(Pending::Udp(offset));
}

pub(super) fn accept(engine: &mut Engine<MioIo>, io: &mut MioIo) {
    for _ in 0..engine.limits().max_reads_per_wake {
        let Some(listener) = io.sockets.listener.as_ref() else { return };
        let (stream, remote) = match listener.accept() {
            Ok(x) => x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => {
                // Resource exhaustion (EMFILE...): the next connection
                // attempt wakes the listener again.
                tracing::warn!(addr = %io.link_addr, error = %e, "accept failed");
                return;
            }
        };
        if engine.node().is_shutting_down() {
            continue;
        }
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%remote, error = %e, "TCP_NODELAY");
        }
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "accepted stream lost");
                continue;
            }
        };
        // The core names the link; make sure a token is left first, so a
        // full range refuses the stream before the node hears of it.
        let Some(slot) = io.alloc_slot() else {
            tracing::warn!(%remote, "no token left for another link; connection refused");
            continue;
        };
        io.free.push(slot);
        engine.accepted(io, remote, local, |io, link| match io.watch(link, stream, Phase::Up) {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(?link, %remote, error = %e, "cannot watch the link");
                None
            }
        });
    }
    io.push_pending(Pending::Listener);
}
