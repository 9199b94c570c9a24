//! The node's sockets at work: datagrams, accepts, and TCP links from
//! connect to close.

use std::io::{self, Read};
use std::net::SocketAddr;

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Token};
use netcluster_core::node::{LinkCloseReason, LinkId};

use super::{MioNode, Pending};
use crate::io::{Io, FIRST_LINK};
use crate::link::{Phase, TcpLink};

impl MioNode {
    pub(super) fn alloc_slot(&mut self) -> Option<usize> {
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
    pub(super) fn add_link(
        &mut self,
        link: LinkId,
        mut stream: TcpStream,
        phase: Phase,
    ) -> io::Result<()> {
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
        self.links.insert(link, TcpLink::new(stream, slot, phase));
        Ok(())
    }

    /// Forgets a link: deregistered, its slot freed, its stream closed
    /// when the returned value is dropped.
    pub(super) fn drop_link(&mut self, link: LinkId) -> Option<TcpLink> {
        let mut l = self.links.remove(&link)?;
        let _ = self.registry.deregister(&mut l.stream);
        self.slots[l.slot] = None;
        self.free.push(l.slot);
        self.pending.retain(|p| *p != Pending::Link(link));
        Some(l)
    }

    pub(super) fn connect(&mut self, link: LinkId, addr: SocketAddr) {
        let stream = match netcluster_net::connect_start(addr) {
            Ok(s) => TcpStream::from_std(s),
            Err(e) => {
                tracing::debug!(?link, error = %e, "connect failed");
                self.deferred.push((link, LinkCloseReason::ConnectFailed));
                return;
            }
        };
        let deadline = std::time::Instant::now() + self.opts.connect_timeout;
        if let Err(e) = self.add_link(link, stream, Phase::Connecting { addr, deadline }) {
            tracing::warn!(?link, %addr, error = %e, "cannot watch the connect");
            self.deferred.push((link, LinkCloseReason::ConnectFailed));
        }
    }

    /// The node closed `link`: flush, send FIN, wait for the peer's FIN
    /// (bounded), so the last frames (a GOODBYE) are not lost to a reset.
    pub(super) fn close(&mut self, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.phase {
            Phase::Connecting { .. } => {
                self.drop_link(link);
            }
            Phase::Up => {
                let deadline = std::time::Instant::now() + self.opts.shutdown_linger;
                l.phase = Phase::Closing { deadline };
                self.settle_closing(link);
            }
            Phase::Closing { .. } => {}
        }
    }

    /// Moves a closing link on: FIN once flushed, gone once the peer's FIN
    /// has come too (or on an error).
    pub(super) fn settle_closing(&mut self, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.flush() {
            Ok(true) => {
                if !l.fin_sent {
                    l.shutdown_write();
                    l.fin_sent = true;
                }
                if l.eof {
                    self.drop_link(link);
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(?link, error = %e, "closing link failed");
                self.drop_link(link);
            }
        }
    }

    pub(super) fn link_ready(&mut self, link: LinkId, readable: bool, writable: bool) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.phase {
            Phase::Connecting { addr, .. } => match l.finish_connect(addr) {
                Ok(None) => {}
                Ok(Some(local)) => {
                    l.phase = Phase::Up;
                    tracing::debug!(?link, %local, "connected");
                    self.node.link_connected(self.now(), link, local);
                    self.drain();
                    if readable {
                        self.read_link(link);
                    }
                }
                Err(e) => {
                    tracing::debug!(?link, error = %e, "connect failed");
                    self.drop_link(link);
                    self.node.link_closed(self.now(), link, LinkCloseReason::ConnectFailed);
                    self.drain();
                }
            },
            Phase::Up => {
                if writable {
                    if let Err(e) = l.flush() {
                        tracing::debug!(?link, error = %e, "link write failed");
                        self.lost(link, LinkCloseReason::Error);
                        return;
                    }
                }
                if readable {
                    self.read_link(link);
                }
            }
            Phase::Closing { .. } => {
                if readable {
                    self.read_link(link);
                }
                self.settle_closing(link);
            }
        }
    }

    /// An up link failed or its peer closed it: report it to the node.
    pub(super) fn lost(&mut self, link: LinkId, reason: LinkCloseReason) {
        if let Some(mut l) = self.drop_link(link) {
            // Best effort: what fits in the socket now still goes out.
            let _ = l.flush();
            l.shutdown_write();
        }
        self.node.link_closed(self.now(), link, reason);
        self.drain();
    }

    pub(super) fn read_link(&mut self, link: LinkId) {
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(l) = self.links.get_mut(&link) else { return };
            let up = matches!(l.phase, Phase::Up);
            match l.stream.read(&mut self.buf) {
                Ok(0) if up => {
                    tracing::debug!(?link, "link closed by the peer");
                    self.lost(link, LinkCloseReason::Remote);
                    return;
                }
                Ok(0) => {
                    l.eof = true;
                    self.settle_closing(link);
                    return;
                }
                Ok(n) if up => {
                    let data = Bytes::copy_from_slice(&self.buf[..n]);
                    self.node.handle_link_data(self.now(), link, data);
                    self.drain();
                }
                // A closing link's input is no longer the node's business.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if up => {
                    tracing::debug!(?link, error = %e, "link read failed");
                    self.lost(link, LinkCloseReason::Error);
                    return;
                }
                Err(_) => {
                    self.drop_link(link);
                    return;
                }
            }
        }
        self.push_pending(Pending::Link(link));
    }

    pub(super) fn read_udp(&mut self, offset: usize) {
        let source = Io::source_of(offset);
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(sock) = self.io.udp[offset].as_ref() else { return };
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let data = Bytes::copy_from_slice(&self.buf[..n]);
                    self.node.handle_datagram(self.now(), from, source, data);
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors of earlier sends (port unreachable...) land
                // here on some systems: not this socket's failure.
                Err(e) => tracing::debug!(error = %e, "datagram receive error"),
            }
        }
        self.push_pending(Pending::Udp(offset));
    }

    pub(super) fn accept(&mut self) {
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(listener) = self.io.listener.as_ref() else { return };
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
                    tracing::warn!(addr = %self.link_addr, error = %e, "accept failed");
                    return;
                }
            };
            if self.node.is_shutting_down() {
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
            // The core names the link; reserve its token first so a full
            // range refuses the stream before the node hears of it.
            let Some(slot) = self.alloc_slot() else {
                tracing::warn!(%remote, "no token left for another link; connection refused");
                continue;
            };
            self.free.push(slot);
            let link = self.node.link_accepted(self.now(), remote, local);
            tracing::debug!(?link, %remote, "accepted");
            if let Err(e) = self.add_link(link, stream, Phase::Up) {
                tracing::warn!(?link, %remote, error = %e, "cannot watch the link");
                self.deferred.push((link, LinkCloseReason::Error));
            }
            self.drain();
        }
        self.push_pending(Pending::Listener);
    }
}
