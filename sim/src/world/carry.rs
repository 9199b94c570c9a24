//! Carrying a node's transmits through the network model: datagrams to
//! the hosts of a segment (unicast, broadcast, multicast, with faults), and
//! stream links as simulated connections (connect, accept, ordered
//! delivery with retransmission, close).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{DatagramTarget, LinkCloseReason, LinkId};
use netcluster_core::Transmit;

use super::{Action, Sim, CONNECT_TIMEOUT, LINK_PORT, STREAM_BREAK_AFTER};
use crate::net::{Faults, HostId, SegmentId};
use crate::stream::{Conn, ConnId, Dir, Pipe, MIN_RTO};

/// Bytes a simulated stream link's sender holds before the node keeps the
/// rest: the socket's send buffer and the driver's writer together. The
/// node pulls frames only while less is waiting to go out on the link's
/// bandwidth (a link without a bandwidth takes everything at once).
pub const STREAM_SEND_BUFFER: u64 = 128 * 1024;

impl Sim {
    /// Hands the simulated socket of `link` the node's frames while its send
    /// buffer has room; when full, comes back once half of it has gone out.
    pub(super) fn pull_link(&mut self, ix: usize, link: LinkId) {
        let now = self.now;
        loop {
            let conn = self.nodes[ix].links.get(&link).copied();
            if let Some(c) = conn.and_then(|c| self.conns.get_mut(&c)) {
                let dir = c.dir_from(ix, link);
                let bw = c.faults.bandwidth;
                let busy = c.pipe(dir).busy_until();
                if bw > 0 && busy > now {
                    let held = u64::try_from((busy - now).as_micros()).unwrap_or(u64::MAX);
                    let held = held.saturating_mul(bw) / 1_000_000;
                    if held >= STREAM_SEND_BUFFER {
                        let half = Duration::from_micros(STREAM_SEND_BUFFER / 2 * 1_000_000 / bw);
                        let life = self.nodes[ix].life;
                        if self.pulls.insert((ix, link)) {
                            let at = busy.saturating_sub(half).max(now);
                            self.schedule(at, Action::Pull { node: ix, life, link });
                        }
                        return;
                    }
                }
            }
            let Some(data) = self.nodes[ix].node.as_mut().and_then(|n| n.poll_link(now, link))
            else {
                return;
            };
            self.nodes[ix].counters.sent(now, &data, false);
            if let Some(c) = conn {
                self.write(c, ix, link, Some(data));
            }
        }
    }

    pub(super) fn transmit(&mut self, ix: usize, t: Transmit) {
        match t {
            Transmit::Datagram { to, data } => {
                self.nodes[ix].counters.sent(self.now, &data, true);
                match to {
                    DatagramTarget::Beacon => self.multicast(ix, data),
                    DatagramTarget::Unicast(addr) => self.unicast(ix, addr, data),
                }
            }
            Transmit::Connect { link, addr } => self.connect(ix, link, addr),
            Transmit::Ready { link } => self.pull_link(ix, link),
            Transmit::Close { link } => {
                if let Some(c) = self.nodes[ix].links.remove(&link) {
                    self.write(c, ix, link, None);
                }
            }
        }
    }

    /// Whether host `a` can send to address `ip` right now, and over which
    /// segment (for faults).
    pub(crate) fn path(&self, a: HostId, ip: IpAddr) -> Option<(HostId, SegmentId)> {
        let (b, seg) = self.owner(ip)?;
        if a == b {
            return Some((b, seg));
        }
        if self.hosts[a.0].label != self.hosts[b.0].label || self.is_cut(a, b) {
            return None;
        }
        let reach = self.hosts[a.0]
            .addrs
            .iter()
            .any(|&(s, _)| s == seg || self.routed.contains(&(s.min(seg), s.max(seg))));
        reach.then_some((b, seg))
    }

    fn owner(&self, ip: IpAddr) -> Option<(HostId, SegmentId)> {
        // Addresses encode segment and host: 10.seg.hi.lo.
        let IpAddr::V4(v4) = ip else { return None };
        let o = v4.octets();
        if o[0] != 10 {
            return None;
        }
        let h = (usize::from(o[2]) * 256 + usize::from(o[3])).checked_sub(1)?;
        let host = self.hosts.get(h)?;
        let seg = host.addrs.iter().find(|(_, a)| *a == ip)?.0;
        Some((HostId(h), seg))
    }

    /// The source address host `a` uses towards segment `seg`.
    pub(crate) fn source_ip(&self, a: HostId, seg: SegmentId) -> IpAddr {
        let h = &self.hosts[a.0];
        h.addrs
            .iter()
            .find(|(s, _)| *s == seg)
            .or_else(|| {
                h.addrs.iter().find(|(s, _)| self.routed.contains(&((*s).min(seg), (*s).max(seg))))
            })
            .or(h.addrs.first())
            .map(|(_, ip)| *ip)
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
    }

    pub(crate) fn faults(&self, a: HostId, b: HostId, seg: SegmentId) -> Faults {
        if a == b {
            return Faults { latency: Duration::from_micros(10), ..Faults::lan() };
        }
        self.pair_faults.get(&(a.min(b), a.max(b))).copied().unwrap_or(self.segments[seg.0].faults)
    }

    fn connect(&mut self, ix: usize, link: LinkId, addr: SocketAddr) {
        let host = self.nodes[ix].host;
        let life = self.nodes[ix].life;
        let target = self.path(host, addr.ip()).and_then(|(b, seg)| {
            let slot = usize::from(addr.port().checked_sub(LINK_PORT)?);
            let to = *self.hosts[b.0].nodes.get(slot)?;
            Some((b, seg, to))
        });
        let Some((b, seg, to)) = target else {
            self.schedule(
                self.now + CONNECT_TIMEOUT,
                Action::ConnectFailed { node: ix, life, link },
            );
            return;
        };
        let faults = self.faults(host, b, seg);
        if self.nodes[to].node.is_none() {
            // Host up, nobody listening: refused after a round trip.
            self.schedule(
                self.now + faults.latency * 2,
                Action::ConnectFailed { node: ix, life, link },
            );
            return;
        }
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        let local = SocketAddr::new(self.source_ip(host, seg), 40000 + (id.0 % 20000) as u16);
        let conn = Conn::new(ix, life, link, local, to, self.nodes[to].life, addr, faults);
        self.conns.insert(id, conn);
        self.nodes[ix].links.insert(link, id);
        self.schedule(self.now + faults.latency, Action::Accept { conn: id });
    }

    fn write(&mut self, c: ConnId, from: usize, link: LinkId, chunk: Option<Bytes>) {
        let now = self.now;
        let Some(conn) = self.conns.get(&c) else {
            return;
        };
        let dir = conn.dir_from(from, link);
        let (src_host, dst_ip) = (self.nodes[from].host, conn.addr_of(dir.flip()).ip());
        let up = self.path(src_host, dst_ip).is_some();
        let faults = conn.faults;
        let mut delay = faults.latency;
        let mut rto = MIN_RTO.max(faults.latency * 4);
        while self.random() < faults.loss {
            delay += rto;
            rto *= 2;
        }
        let Some(conn) = self.conns.get_mut(&c) else {
            return;
        };
        let pipe = conn.pipe(dir);
        let seq = pipe.take_seq();
        if !up || pipe.is_stuck() {
            if pipe.stick(now, seq, chunk) {
                let at = now + pipe.rto;
                self.schedule(at, Action::Retry { conn: c, dir });
            }
            return;
        }
        let len = chunk.as_ref().map_or(0, |b| b.len());
        let sent = pipe.serialize(now, len, faults.bandwidth);
        let at = pipe.next_delivery(sent + delay);
        self.schedule(at, Action::Deliver { conn: c, dir, seq, chunk });
    }

    pub(super) fn run_action(&mut self, action: Action) {
        match action {
            Action::Pull { node, life, link } => {
                self.pulls.remove(&(node, link));
                if self.nodes[node].life == life && self.nodes[node].node.is_some() {
                    self.pull_link(node, link);
                    self.drain(node);
                }
            }
            Action::Datagram { to, life, from, source, data } => {
                self.datagram_arrived(to, life, from, source, data)
            }
            Action::RxRead { to, life } => self.rx_read(to, life),
            Action::Accept { conn } => self.accept(conn),
            Action::Connected { conn } => {
                let Some(c) = self.conns.get(&conn) else {
                    return;
                };
                let (ix, life, link, local) = (c.a, c.a_life, c.a_link, c.a_addr);
                if self.nodes[ix].life != life {
                    return;
                }
                let now = self.local_now(ix);
                if let Some(node) = self.nodes[ix].node.as_mut() {
                    node.link_connected(now, link, local);
                }
                self.drain(ix);
            }
            Action::ConnectFailed { node: ix, life, link } => {
                if self.nodes[ix].life != life {
                    return;
                }
                self.nodes[ix].links.remove(&link);
                let now = self.local_now(ix);
                if let Some(node) = self.nodes[ix].node.as_mut() {
                    node.link_closed(now, link, LinkCloseReason::ConnectFailed);
                }
                self.drain(ix);
            }
            Action::Deliver { conn, dir, seq, chunk } => self.deliver(conn, dir, seq, chunk),
            Action::Retry { conn, dir } => self.retry(conn, dir),
        }
    }

    fn accept(&mut self, id: ConnId) {
        let Some(c) = self.conns.get(&id) else { return };
        let (b, b_life, remote, local, latency) =
            (c.b, c.b_life, c.a_addr, c.b_addr, c.faults.latency);
        if self.nodes[b].life != b_life || self.nodes[b].node.is_none() {
            let (a, a_life, a_link) = (c.a, c.a_life, c.a_link);
            self.conns.remove(&id);
            self.schedule(
                self.now + latency,
                Action::ConnectFailed { node: a, life: a_life, link: a_link },
            );
            return;
        }
        let now = self.local_now(b);
        let Some(node) = self.nodes[b].node.as_mut() else {
            return;
        };
        let link = node.link_accepted(now, remote, local);
        if let Some(c) = self.conns.get_mut(&id) {
            c.b_link = Some(link);
        }
        self.nodes[b].links.insert(link, id);
        self.drain(b);
        self.schedule(self.now + latency, Action::Connected { conn: id });
    }

    fn deliver(&mut self, id: ConnId, dir: Dir, seq: u64, chunk: Option<Bytes>) {
        let now = self.now;
        let Some(c) = self.conns.get(&id) else { return };
        let (to, to_life, to_link) = c.end(dir.flip());
        let from_host = self.nodes[c.end(dir).0].host;
        let to_ip = c.addr_of(dir.flip()).ip();
        if c.is_reset(dir.flip()) {
            // The far end restarted: its stack answers with a reset.
            let (from, from_life, from_link) = c.end(dir);
            self.conns.remove(&id);
            self.close_end(from, from_life, from_link, LinkCloseReason::Error);
            return;
        }
        if c.is_dead(dir.flip()) {
            return;
        }
        let up = self.path(from_host, to_ip).is_some();
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let pipe = c.pipe(dir);
        if !up || pipe.is_stuck() {
            if pipe.stick(now, seq, chunk) {
                let at = now + pipe.rto;
                self.schedule(at, Action::Retry { conn: id, dir });
            }
            return;
        }
        let Some(link) = to_link else { return };
        match chunk {
            Some(data) => {
                if self.nodes[to].life != to_life {
                    return;
                }
                self.nodes[to].counters.received(now, &data, false);
                let local = self.local_now(to);
                if let Some(node) = self.nodes[to].node.as_mut() {
                    node.handle_link_data(local, link, data);
                }
                self.drain(to);
            }
            None => {
                if c.close_dir(dir) {
                    self.conns.remove(&id);
                }
                self.close_end(to, to_life, Some(link), LinkCloseReason::Remote);
            }
        }
    }

    fn close_end(&mut self, ix: usize, life: u32, link: Option<LinkId>, reason: LinkCloseReason) {
        let Some(link) = link else { return };
        if self.nodes[ix].life != life || self.nodes[ix].links.remove(&link).is_none() {
            return;
        }
        let now = self.local_now(ix);
        if let Some(node) = self.nodes[ix].node.as_mut() {
            node.link_closed(now, link, reason);
        }
        self.drain(ix);
    }

    fn retry(&mut self, id: ConnId, dir: Dir) {
        let now = self.now;
        let Some(c) = self.conns.get(&id) else { return };
        let from_host = self.nodes[c.end(dir).0].host;
        let up = self.path(from_host, c.addr_of(dir.flip()).ip()).is_some();
        let latency = c.faults.latency;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let pipe: &mut Pipe = c.pipe(dir);
        if up {
            let chunks = pipe.unstick();
            let mut at = now + latency;
            let mut plan = Vec::with_capacity(chunks.len());
            for (seq, chunk) in chunks {
                at = pipe.next_delivery(at);
                plan.push((at, seq, chunk));
            }
            for (at, seq, chunk) in plan {
                self.schedule(at, Action::Deliver { conn: id, dir, seq, chunk });
            }
            return;
        }
        if pipe.stuck_for(now) >= STREAM_BREAK_AFTER {
            // Broken: both ends learn it, the bytes in flight are lost.
            let c = self.conns.remove(&id).expect("present");
            let (a, al, alink) = c.end(Dir::AtoB);
            let (b, bl, blink) = c.end(Dir::BtoA);
            self.close_end(a, al, alink, LinkCloseReason::Error);
            self.close_end(b, bl, blink, LinkCloseReason::Error);
            return;
        }
        pipe.backoff();
        let at = now + pipe.rto;
        self.schedule(at, Action::Retry { conn: id, dir });
    }
}
