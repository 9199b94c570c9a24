//! The datagram path: multicast and unicast delivery with the path's
//! faults, through the sender's queue of a path with a bandwidth, and each
//! node's socket receive buffers.
//!
//! The sending queue is described in [`egress`](crate::egress), the
//! receive-buffer model at [`RxModel`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::DatagramSource;
use netcluster_core::Instant;

use crate::egress::Offered;
use crate::net::{Faults, HostId, SegmentId};
use crate::world::{Action, Sim, DISCOVERY_PORT, LINK_PORT};

/// How each node's datagram sockets buffer what the node has not read yet.
///
/// A real node reads its UDP sockets one datagram at a time, and what it
/// has not read yet waits in the kernel's socket buffer; when that buffer is
/// full the kernel drops what arrives. The simulator models this:
///
/// - each node has one buffer per datagram socket kind (its beacon socket
///   and its unicast socket, as the drivers open them), each holding at
///   most [`RxModel::capacity`] bytes;
/// - a queued datagram counts its payload plus [`RxModel::overhead`] bytes
///   against the capacity, as Linux charges a socket the buffer's
///   `skb->truesize`, not the payload;
/// - the node reads one datagram per [`RxModel::service`] of virtual time,
///   oldest first over both sockets: a datagram arriving while the node is
///   idle is handled at once, one arriving while it is busy waits in its
///   socket's buffer, or is dropped (and counted in
///   [`Counters::rx_dropped`](crate::Counters::rx_dropped)) if the buffer
///   cannot take it.
///
/// Stream links (TCP) have their own flow control and are not modelled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxModel {
    /// Bytes each socket's receive buffer holds (`SO_RCVBUF`).
    pub capacity: usize,
    /// Bytes charged per datagram on top of its payload.
    pub overhead: usize,
    /// Virtual time the node spends reading and handling one datagram.
    pub service: Duration,
}

impl RxModel {
    /// Linux defaults: `net.core.rmem_default` is 212,992 bytes, and a
    /// small datagram is charged about its payload plus 768 bytes (the
    /// `sk_buff` and `skb_shared_info` of a loopback or copy-break
    /// receive; NIC drivers that hand up whole pages charge more, so this
    /// errs on the generous side). A node reads and handles a control
    /// datagram in 5 µs (a `recvmsg`, a decode and the core's work on one
    /// modest core), so it drains at most 20 datagrams per millisecond.
    pub const LINUX: RxModel =
        RxModel { capacity: 212_992, overhead: 768, service: Duration::from_micros(5) };

    /// No buffer limit and no reading time: every datagram is handled the
    /// instant it arrives (the simulator's behaviour before the model).
    pub const UNLIMITED: RxModel =
        RxModel { capacity: usize::MAX, overhead: 0, service: Duration::ZERO };

    fn charge(&self, len: usize) -> usize {
        len.saturating_add(self.overhead)
    }
}

impl Default for RxModel {
    fn default() -> Self {
        RxModel::LINUX
    }
}

/// A datagram waiting in a node's socket buffer.
#[derive(Debug)]
pub(crate) struct Queued {
    from: SocketAddr,
    source: DatagramSource,
    data: Bytes,
}

/// One node's socket buffers and reading state.
#[derive(Debug, Default)]
pub(crate) struct RxState {
    queue: VecDeque<Queued>,
    /// Bytes charged, by socket: beacon, unicast.
    bytes: [usize; 2],
    /// The node reads nothing before this.
    busy_until: Instant,
}

impl RxState {
    /// Everything queued is lost (the node crashed).
    pub(crate) fn clear(&mut self) {
        *self = RxState::default();
    }
}

fn socket(source: DatagramSource) -> usize {
    match source {
        DatagramSource::Beacon => 0,
        _ => 1,
    }
}

impl Sim {
    pub(crate) fn multicast(&mut self, ix: usize, data: Bytes) {
        let host = self.nodes[ix].host;
        let port = self.udp_port(ix);
        let segs: Vec<SegmentId> = self.hosts[host.0].addrs.iter().map(|(s, _)| *s).collect();
        for seg in segs {
            if !self.segments[seg.0].multicast {
                continue;
            }
            let from = SocketAddr::new(self.source_ip(host, seg), port);
            let members = self.segments[seg.0].hosts.clone();
            for h in members {
                if self.hosts[h.0].label != self.hosts[host.0].label || self.is_cut(host, h) {
                    continue;
                }
                let faults = self.faults(host, h, seg);
                // One frame on the wire reaches every socket of the host.
                let Some(leaves) = self.egress(ix, h, seg, data.len(), faults.bandwidth) else {
                    continue;
                };
                for to in self.hosts[h.0].nodes.clone() {
                    let d = data.clone();
                    self.send_datagram(to, from, DatagramSource::Beacon, d, faults, leaves);
                }
            }
        }
    }

    pub(crate) fn unicast(&mut self, ix: usize, addr: SocketAddr, data: Bytes) {
        let host = self.nodes[ix].host;
        let Some((b, seg)) = self.path(host, addr.ip()) else {
            return;
        };
        // A node's unicast socket is its discovery port, or its link port
        // when its links are datagram links (one socket for both).
        let slot = match addr.port().checked_sub(DISCOVERY_PORT) {
            Some(s) => Some(s),
            None => addr.port().checked_sub(LINK_PORT),
        };
        let Some(slot) = slot else { return };
        let Some(&to) = self.hosts[b.0].nodes.get(usize::from(slot)) else { return };
        let from = SocketAddr::new(self.source_ip(host, seg), self.udp_port(ix));
        let faults = self.faults(host, b, seg);
        let Some(leaves) = self.egress(ix, b, seg, data.len(), faults.bandwidth) else {
            return;
        };
        self.send_datagram(to, from, DatagramSource::Unicast, data, faults, leaves);
    }

    /// When a datagram of `len` bytes that node `ix` sends now to host
    /// `to` across `seg` leaves its path's queue; `None` if the queue is
    /// full and drops it. A path without a bandwidth has no queue.
    fn egress(
        &mut self,
        ix: usize,
        to: HostId,
        seg: SegmentId,
        len: usize,
        bandwidth: u64,
    ) -> Option<Instant> {
        let now = self.now();
        if bandwidth == 0 {
            return Some(now);
        }
        let limit = self.tx_queue_limit;
        let offered =
            self.egress.entry((ix, to, seg)).or_default().offer(now, len, bandwidth, limit);
        let counters = &mut self.nodes[ix].counters;
        match offered {
            Offered::Leaves(at, held) => {
                counters.tx_queue_peak_bytes = counters.tx_queue_peak_bytes.max(held as u64);
                Some(at)
            }
            Offered::Dropped => {
                counters.tx_queue_dropped += 1;
                None
            }
        }
    }

    /// The port node `ix` sends datagrams from.
    fn udp_port(&self, ix: usize) -> u16 {
        let sn = &self.nodes[ix];
        match sn.cfg.link_mode {
            netcluster_core::LinkMode::Datagram => LINK_PORT + sn.slot,
            netcluster_core::LinkMode::Stream => DISCOVERY_PORT + sn.slot,
        }
    }

    fn send_datagram(
        &mut self,
        to: usize,
        from: SocketAddr,
        source: DatagramSource,
        data: Bytes,
        f: Faults,
        leaves: Instant,
    ) {
        if self.random() < f.loss {
            return;
        }
        let copies = if self.random() < f.duplicate { 2 } else { 1 };
        for _ in 0..copies {
            let mut delay = f.latency + self.random_duration(f.jitter);
            if self.random() < f.reorder {
                delay += f.reorder_delay;
            }
            let life = self.nodes[to].life;
            self.schedule(
                leaves + delay,
                Action::Datagram { to, life, from, source, data: data.clone() },
            );
        }
    }

    /// A datagram reached node `to`'s socket: handled now if the node is
    /// idle, queued if it is busy and the buffer has room, dropped if not.
    pub(crate) fn datagram_arrived(
        &mut self,
        to: usize,
        life: u32,
        from: SocketAddr,
        source: DatagramSource,
        data: Bytes,
    ) {
        let now = self.now();
        let model = self.rx_model;
        let sn = &mut self.nodes[to];
        if sn.life != life || sn.node.is_none() {
            return;
        }
        if sn.rx.queue.is_empty() && sn.rx.busy_until <= now {
            sn.rx.busy_until = now + model.service;
            self.read_datagram(to, from, source, data);
            return;
        }
        let k = socket(source);
        let charge = model.charge(data.len());
        if sn.rx.bytes[k].saturating_add(charge) > model.capacity {
            sn.counters.rx_dropped += 1;
            return;
        }
        sn.rx.bytes[k] += charge;
        sn.counters.rx_peak_bytes = sn.counters.rx_peak_bytes.max(sn.rx.bytes[k] as u64);
        let first = sn.rx.queue.is_empty();
        sn.rx.queue.push_back(Queued { from, source, data });
        if first {
            let at = sn.rx.busy_until.max(now);
            self.schedule(at, Action::RxRead { to, life });
        }
    }

    /// Node `to` reads the oldest datagram waiting in its sockets.
    pub(crate) fn rx_read(&mut self, to: usize, life: u32) {
        let now = self.now();
        let model = self.rx_model;
        let sn = &mut self.nodes[to];
        if sn.life != life {
            return;
        }
        let Some(q) = sn.rx.queue.pop_front() else { return };
        let k = socket(q.source);
        sn.rx.bytes[k] = sn.rx.bytes[k].saturating_sub(model.charge(q.data.len()));
        sn.rx.busy_until = now + model.service;
        if !sn.rx.queue.is_empty() {
            let at = sn.rx.busy_until;
            self.schedule(at, Action::RxRead { to, life });
        }
        self.read_datagram(to, q.from, q.source, q.data);
    }

    fn read_datagram(&mut self, to: usize, from: SocketAddr, source: DatagramSource, data: Bytes) {
        let now = self.now();
        let local = self.local_now(to);
        let sn = &mut self.nodes[to];
        let Some(node) = sn.node.as_mut() else { return };
        sn.counters.received(now, &data, true);
        node.handle_datagram(local, from, source, data);
        self.drain(to);
    }
}
