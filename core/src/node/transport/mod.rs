//! End-to-end delivery: source-routed DATA and ACK, forwarding, and the
//! four semantics' sender and receiver state.
//!
//! - Every message gets a sequence number in its (destination, channel)
//!   space; channel 0 carries `Datagram`, 1 `Reliable`, 2 `Sequenced`.
//! - `Datagram` is sent once; receivers drop duplicates within a window.
//! - `Reliable` and `Sequenced` stay in flight until the destination's ACK
//!   (cumulative plus selective ranges) covers them, retransmitted on the
//!   current route after an RTO estimated as in RFC 6298 (with Karn's rule
//!   and exponential backoff), and reported delivered or failed.
//! - Messages larger than the fragment size travel as fragments and are
//!   reassembled under per-source and total memory caps.
//! - A forwarding node finds itself on the route and passes the unchanged
//!   frame to the next hop: nothing is decoded beyond the header and route,
//!   nothing is copied. A next hop without a link is reported back with
//!   ROUTE_ERROR, and the source retransmits at once on a new route.
//!
//! Not yet: `Stream`, distribution trees for group sends (a group message
//! is sent to each member on its own path), priorities between control and
//! data frames.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use super::output::{Event, FailReason, LinkId, MessageId};
use super::timers::Timer;
use super::Node;
use crate::config::LinkMode;
use crate::time::Instant;
use crate::wire::link::{Ack, AckRange, Data, Route, RouteError, Semantics};
use crate::wire::{FixedList, Frame, LinkMessage, NodeId};

/// Why `send` or `shout` refused a message. Nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No route to the destination (or it is this node).
    Unreachable,
    /// The send window towards the destination is full: wait for
    /// [`Event::Writable`].
    WouldBlock,
    /// The message is larger than `max_message`.
    TooLarge,
    /// `Stream` is opened with streams, not sent as a message.
    Unsupported,
    /// The node is shutting down.
    ShuttingDown,
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::Unreachable => "destination unreachable",
            SendError::WouldBlock => "send window full",
            SendError::TooLarge => "message too large",
            SendError::Unsupported => "semantics not supported by send",
            SendError::ShuttingDown => "node is shutting down",
        })
    }
}

impl core::error::Error for SendError {}

/// Duplicate window for datagrams, in sequence numbers.
const DEDUP_WINDOW: u64 = 4096;
/// Selective ranges carried by one ACK.
const ACK_RANGES: usize = 8;

fn channel_of(s: Semantics) -> u32 {
    s as u32
}

/// Group messages have their own sequence spaces, one per (group,
/// semantics): the top bit set, a hash of the group name, the semantics.
fn group_channel(group: &str, s: Semantics) -> u32 {
    0x8000_0000 | ((crate::wire::cluster_hash(group) as u32 & 0x0fff_ffff) << 2) | s as u32
}

fn is_group_channel(channel: u32) -> bool {
    channel & 0x8000_0000 != 0
}

/// One message in flight.
#[derive(Debug)]
struct Outgoing {
    id: MessageId,
    semantics: Semantics,
    payload: Bytes,
    group: Option<String>,
    first_sent: Instant,
    last_sent: Instant,
    rto: Duration,
    retransmitted: bool,
    deadline: Instant,
}

#[derive(Debug, Default)]
struct TxChannel {
    next_seq: u64,
    inflight: BTreeMap<u64, Outgoing>,
    /// A send was refused for lack of window: say when there is room.
    blocked: bool,
}

/// RFC 6298 estimator for one destination.
#[derive(Debug, Clone, Copy)]
struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
}

impl Rtt {
    fn sample(&mut self, r: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Reassembly {
    parts: BTreeMap<u16, Bytes>,
    count: u16,
    bytes: usize,
    /// When the first fragment arrived: a message still incomplete after
    /// the delivery timeout is dropped (its sender has given up too).
    started: Option<Instant>,
}

#[derive(Debug, Default)]
struct RxChannel {
    /// Every seq below this has arrived (reliable, sequenced).
    cumulative: u64,
    /// Seqs at or above `cumulative` that arrived.
    above: BTreeSet<u64>,
    /// Sequenced: complete messages waiting for the ones before them.
    waiting: BTreeMap<u64, Bytes>,
    /// Messages being reassembled, by seq.
    reasm: BTreeMap<u64, Reassembly>,
    /// Datagram: highest seq seen, and the ones seen within the window.
    highest: u64,
}

#[derive(Default)]
pub(crate) struct Transport {
    next_id: u64,
    tx: BTreeMap<(NodeId, u32), TxChannel>,
    rx: BTreeMap<(NodeId, u32), RxChannel>,
    rtt: BTreeMap<NodeId, Rtt>,
    reasm_by_peer: BTreeMap<NodeId, usize>,
    reasm_total: usize,
    /// Next sequence number of each group channel (shared by its members).
    group_seq: BTreeMap<u32, u64>,
}

impl Node {
    /// Sends `payload` to `to` with the given semantics. Returns the
    /// message's id; `Reliable` and `Sequenced` messages are reported
    /// [`Event::Delivered`] or [`Event::SendFailed`] later.
    pub fn send(
        &mut self,
        now: Instant,
        to: NodeId,
        semantics: Semantics,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let now = self.clock.observe(now);
        self.check_send(&payload, semantics)?;
        if !self.routing.routes.contains_key(&to) {
            return Err(SendError::Unreachable);
        }
        self.send_to(now, to, semantics, payload, None)
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// reachable node). Reliable group sends are acknowledged, retransmitted
    /// and reported per member.
    pub fn shout(
        &mut self,
        now: Instant,
        group: &str,
        semantics: Semantics,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let now = self.clock.observe(now);
        self.check_send(&payload, semantics)?;
        let members: Vec<NodeId> = self
            .membership
            .peers()
            .filter(|p| group.is_empty() || p.groups.iter().any(|g| g == group))
            .map(|p| p.id)
            .filter(|id| self.routing.routes.contains_key(id))
            .collect();
        let channel = group_channel(group, semantics);
        let full = members.iter().any(|m| {
            self.transport
                .tx
                .get(&(*m, channel))
                .is_some_and(|c| c.inflight.len() >= self.cfg.send_window)
        });
        if full && semantics != Semantics::Datagram {
            for m in &members {
                if let Some(c) = self.transport.tx.get_mut(&(*m, channel)) {
                    c.blocked = true;
                }
            }
            return Err(SendError::WouldBlock);
        }
        let id = self.next_message_id();
        let seq = {
            let s = self.transport.group_seq.entry(channel).or_insert(0);
            *s += 1;
            *s - 1
        };
        if semantics != Semantics::Datagram {
            for m in &members {
                let rto = self.rto_for(m);
                let out = Outgoing {
                    id,
                    semantics,
                    payload: payload.clone(),
                    group: Some(group.into()),
                    first_sent: now,
                    last_sent: now,
                    rto,
                    retransmitted: false,
                    deadline: now + self.cfg.delivery_timeout,
                };
                self.transport.tx.entry((*m, channel)).or_default().inflight.insert(seq, out);
                self.timers.set_earliest(Timer::Retransmit, now + rto);
            }
        }
        match self.group_tree(&members) {
            Some(tree) => self.transmit_tree(&tree, semantics, channel, seq, &payload, group),
            None => {
                for m in members {
                    self.transmit_message(m, semantics, channel, seq, &payload, Some(group));
                }
            }
        }
        Ok(id)
    }

    /// The union of the routes to `members`: a tree rooted here (SPF paths
    /// all come from one shortest-path tree), parents first. `None` if it
    /// would exceed the route limit.
    fn group_tree(&self, members: &[NodeId]) -> Option<Route> {
        let mut ids = alloc::vec![self.id];
        let mut parents = alloc::vec![crate::wire::link::route::ROOT_PARENT];
        let mut index: BTreeMap<NodeId, usize> = BTreeMap::new();
        index.insert(self.id, 0);
        for m in members {
            let path = &self.routing.routes.get(m)?.path;
            for w in path.windows(2) {
                if index.contains_key(&w[1]) {
                    continue;
                }
                if ids.len() >= self.cfg.limits.max_route.min(255) {
                    return None;
                }
                let parent = *index.get(&w[0])?;
                index.insert(w[1], ids.len());
                ids.push(w[1]);
                parents.push(parent as u8);
            }
        }
        Route::tree(&ids, &parents).ok()
    }

    /// Sends every fragment of a group message down a distribution tree:
    /// one copy to each child of the root.
    fn transmit_tree(
        &mut self,
        tree: &Route,
        semantics: Semantics,
        channel: u32,
        seq: u64,
        payload: &Bytes,
        group: &str,
    ) {
        let frames = self.data_frames(tree, semantics, channel, seq, payload, Some(group));
        let children: Vec<NodeId> = tree.children(0).filter_map(|c| tree.id(c)).collect();
        for child in children {
            let Some(link) = self.link_to(&child) else {
                self.stats.dropped_no_route += 1;
                continue;
            };
            for f in &frames {
                self.send_link_bytes(link, f.clone());
            }
        }
    }

    /// The DATA frames (one per fragment) of a message on `route`.
    fn data_frames(
        &mut self,
        route: &Route,
        semantics: Semantics,
        channel: u32,
        seq: u64,
        payload: &Bytes,
        group: Option<&str>,
    ) -> Vec<Bytes> {
        let size = self.fragment_size();
        let count = payload.len().div_ceil(size).max(1);
        let Ok(count16) = u16::try_from(count) else { return Vec::new() };
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let part =
                payload.slice((i * size).min(payload.len())..((i + 1) * size).min(payload.len()));
            let data = Data {
                flags: 0,
                semantics,
                priority: 4,
                channel,
                seq,
                frag_index: i as u16,
                frag_count: count16,
                msg_len: payload.len() as u32,
                route: route.clone(),
                group: group.map(Into::into),
                payload: part,
            };
            match Frame::new(LinkMessage::Data(data)).to_bytes() {
                Ok(b) => out.push(b),
                Err(_) => self.stats.dropped_limit += 1,
            }
        }
        out
    }

    fn check_send(&self, payload: &Bytes, semantics: Semantics) -> Result<(), SendError> {
        if self.shutting_down {
            return Err(SendError::ShuttingDown);
        }
        if semantics == Semantics::Stream {
            return Err(SendError::Unsupported);
        }
        if payload.len() > self.cfg.max_message {
            return Err(SendError::TooLarge);
        }
        Ok(())
    }

    fn next_message_id(&mut self) -> MessageId {
        self.transport.next_id += 1;
        MessageId(self.transport.next_id)
    }

    fn send_to(
        &mut self,
        now: Instant,
        to: NodeId,
        semantics: Semantics,
        payload: Bytes,
        group: Option<String>,
    ) -> Result<MessageId, SendError> {
        let id = self.next_message_id();
        self.enqueue(now, to, semantics, payload, group, id)?;
        Ok(id)
    }

    fn enqueue(
        &mut self,
        now: Instant,
        to: NodeId,
        semantics: Semantics,
        payload: Bytes,
        group: Option<String>,
        id: MessageId,
    ) -> Result<(), SendError> {
        let window = self.cfg.send_window;
        let chan = self.transport.tx.entry((to, channel_of(semantics))).or_default();
        if semantics != Semantics::Datagram && chan.inflight.len() >= window {
            chan.blocked = true;
            return Err(SendError::WouldBlock);
        }
        let seq = chan.next_seq;
        chan.next_seq += 1;
        if semantics != Semantics::Datagram {
            let rto = self.rto_for(&to);
            let out = Outgoing {
                id,
                semantics,
                payload: payload.clone(),
                group: group.clone(),
                first_sent: now,
                last_sent: now,
                rto,
                retransmitted: false,
                deadline: now + self.cfg.delivery_timeout,
            };
            if let Some(c) = self.transport.tx.get_mut(&(to, channel_of(semantics))) {
                c.inflight.insert(seq, out);
            }
            self.timers.set_earliest(Timer::Retransmit, now + rto);
        }
        self.transmit_message(
            to,
            semantics,
            channel_of(semantics),
            seq,
            &payload,
            group.as_deref(),
        );
        Ok(())
    }

    fn rto_for(&self, to: &NodeId) -> Duration {
        let r = match self.transport.rtt.get(to) {
            Some(Rtt { srtt: Some(s), rttvar }) => *s + (*rttvar * 4).max(Duration::from_millis(1)),
            _ => self.cfg.rto_initial,
        };
        r.clamp(self.cfg.rto_min, self.cfg.rto_max)
    }

    fn fragment_size(&self) -> usize {
        match self.cfg.link_mode {
            LinkMode::Stream => self.cfg.fragment_size.max(64),
            LinkMode::Datagram => self.cfg.fragment_size.clamp(64, 1100),
        }
    }

    /// Sends every fragment of a message on the current route; false if
    /// there is none.
    fn transmit_message(
        &mut self,
        to: NodeId,
        semantics: Semantics,
        channel: u32,
        seq: u64,
        payload: &Bytes,
        group: Option<&str>,
    ) -> bool {
        let Some(route) = self.routing.routes.get(&to) else { return false };
        let Ok(path) = Route::path(&route.path) else { return false };
        let next = route.next_hop;
        let Some(link) = self.link_to(&next) else { return false };
        for f in self.data_frames(&path, semantics, channel, seq, payload, group) {
            self.send_link_bytes(link, f);
        }
        true
    }

    /// The up link to neighbour `peer`.
    fn link_to(&self, peer: &NodeId) -> Option<LinkId> {
        self.neighbours().find(|(_, p)| p == peer).map(|(l, _)| l)
    }

    /// Passes a frame along its route: returns true if this node is its
    /// destination (the last entry).
    fn forward(&mut self, now: Instant, route: &Route, raw: &Bytes, data: Option<&Data>) -> bool {
        let Some(pos) = route.position(&self.id) else {
            self.stats.dropped_unexpected += 1;
            return false;
        };
        if pos + 1 == route.len() {
            return true;
        }
        let Some(next) = route.id(pos + 1) else { return false };
        match self.link_to(&next) {
            Some(link) => {
                self.stats.forwarded += 1;
                self.send_link_bytes(link, raw.clone());
            }
            None => {
                self.stats.dropped_no_route += 1;
                if let Some(d) = data {
                    self.report_route_error(now, route, pos, next, d);
                }
            }
        }
        false
    }

    fn report_route_error(
        &mut self,
        _now: Instant,
        route: &Route,
        pos: usize,
        next: NodeId,
        d: &Data,
    ) {
        let Some(back) = route.path_to(pos).and_then(|p| p.reversed_path()) else { return };
        let Some(first) = back.id(1) else { return };
        let err = RouteError {
            reporter: self.id,
            unreachable: next,
            seq: d.seq,
            channel: d.channel,
            semantics: d.semantics,
            route: back,
        };
        if let Some(link) = self.link_to(&first) {
            self.send_link(link, LinkMessage::RouteError(err));
        }
    }

    pub(super) fn on_data(&mut self, now: Instant, _link: LinkId, d: Data, raw: Bytes) {
        // The path from the source to this node: ACKs go back along it.
        let to_me = if d.route.is_path() {
            if !self.forward(now, &d.route, &raw, Some(&d)) {
                return;
            }
            d.route.clone()
        } else {
            // A distribution tree: pass the unchanged frame to each child,
            // then take it ourselves if we are in the group.
            let Some(pos) = d.route.position(&self.id).filter(|&p| p > 0) else {
                self.stats.dropped_unexpected += 1;
                return;
            };
            let children: Vec<NodeId> =
                d.route.children(pos).filter_map(|c| d.route.id(c)).collect();
            for c in children {
                match self.link_to(&c) {
                    Some(link) => {
                        self.stats.forwarded += 1;
                        self.send_link_bytes(link, raw.clone());
                    }
                    None => self.stats.dropped_no_route += 1,
                }
            }
            let member =
                d.group.as_ref().is_some_and(|g| g.is_empty() || self.groups.contains(&**g));
            if !member {
                return;
            }
            let Some(path) = d.route.path_to(pos) else { return };
            path
        };
        let from = d.route.origin();
        let key = (from, d.channel);
        let Some(message) = self.reassemble(now, &from, &d) else {
            return;
        };
        let semantics = d.semantics;
        let group = d.group.as_ref().map(|g| String::from(&**g));
        // A group's sequence started before we joined: begin where we came in.
        let start = if is_group_channel(d.channel) { d.seq } else { 0 };
        let rx = self
            .transport
            .rx
            .entry(key)
            .or_insert_with(|| RxChannel { cumulative: start, ..RxChannel::default() });
        match semantics {
            Semantics::Datagram => {
                let fresh = if d.seq > rx.highest || rx.above.is_empty() {
                    rx.highest = rx.highest.max(d.seq);
                    rx.above.insert(d.seq)
                } else {
                    d.seq + DEDUP_WINDOW > rx.highest && rx.above.insert(d.seq)
                };
                let floor = rx.highest.saturating_sub(DEDUP_WINDOW);
                while rx.above.first().is_some_and(|&s| s < floor) {
                    rx.above.pop_first();
                }
                if fresh {
                    self.push_event(Event::Message { from, group, semantics, payload: message });
                }
            }
            Semantics::Reliable | Semantics::Sequenced => {
                let new = d.seq >= rx.cumulative && !rx.above.contains(&d.seq);
                if new {
                    rx.above.insert(d.seq);
                    let mut ready = Vec::new();
                    if semantics == Semantics::Reliable {
                        ready.push(message);
                    } else {
                        rx.waiting.insert(d.seq, message);
                    }
                    while rx.above.remove(&rx.cumulative) {
                        if let Some(m) = rx.waiting.remove(&rx.cumulative) {
                            ready.push(m);
                        }
                        rx.cumulative += 1;
                    }
                    for payload in ready {
                        self.push_event(Event::Message {
                            from,
                            group: group.clone(),
                            semantics,
                            payload,
                        });
                    }
                }
                self.send_ack(from, semantics, d.channel, &to_me);
            }
            Semantics::Stream => self.stats.dropped_unexpected += 1,
        }
    }

    /// Collects fragments; returns the whole message once complete.
    fn reassemble(&mut self, now: Instant, from: &NodeId, d: &Data) -> Option<Bytes> {
        if d.frag_count == 1 {
            return Some(d.payload.clone());
        }
        let key = (*from, d.channel);
        // A fragment of a message already delivered needs no buffer.
        if let Some(rx) = self.transport.rx.get(&key) {
            if d.semantics != Semantics::Datagram
                && (d.seq < rx.cumulative || rx.above.contains(&d.seq))
            {
                // Delivered already: the caller's duplicate check only
                // re-acknowledges it, so any payload will do.
                return Some(Bytes::new());
            }
        }
        let per_peer = self.transport.reasm_by_peer.get(from).copied().unwrap_or(0);
        let n = d.payload.len();
        if per_peer + n > self.cfg.reassembly_per_peer
            || self.transport.reasm_total + n > self.cfg.reassembly_total
        {
            self.stats.dropped_limit += 1;
            return None;
        }
        let rx = self.transport.rx.entry(key).or_default();
        let r = rx.reasm.entry(d.seq).or_default();
        if r.count != 0 && r.count != d.frag_count {
            return None;
        }
        r.count = d.frag_count;
        r.started.get_or_insert(now);
        if r.parts.insert(d.frag_index, d.payload.clone()).is_none() {
            r.bytes += n;
            *self.transport.reasm_by_peer.entry(*from).or_default() += n;
            self.transport.reasm_total += n;
        }
        if r.parts.len() < usize::from(r.count) {
            return None;
        }
        let r = rx.reasm.remove(&d.seq)?;
        self.release_reassembly(from, r.bytes);
        let mut whole = BytesMut::with_capacity(r.bytes);
        for part in r.parts.values() {
            whole.extend_from_slice(part);
        }
        Some(whole.freeze())
    }

    fn release_reassembly(&mut self, from: &NodeId, bytes: usize) {
        if let Some(b) = self.transport.reasm_by_peer.get_mut(from) {
            *b = b.saturating_sub(bytes);
            if *b == 0 {
                self.transport.reasm_by_peer.remove(from);
            }
        }
        self.transport.reasm_total = self.transport.reasm_total.saturating_sub(bytes);
    }

    fn send_ack(&mut self, to: NodeId, semantics: Semantics, channel: u32, data_route: &Route) {
        let Some(rx) = self.transport.rx.get(&(to, channel)) else { return };
        let Some(back) = data_route.reversed_path() else { return };
        let mut ranges: Vec<AckRange> = Vec::new();
        for &s in rx.above.iter() {
            let full = ranges.len() >= ACK_RANGES;
            match ranges.last_mut() {
                Some(r) if r.end == s => r.end += 1,
                _ if full => break,
                _ => ranges.push(AckRange { start: s, end: s + 1 }),
            }
        }
        let ack = Ack {
            semantics,
            channel,
            cumulative: rx.cumulative,
            window: self.cfg.send_window as u32,
            route: back,
            ranges: FixedList::from_entries(ranges.iter()),
        };
        let Some(first) = ack.route.id(1) else { return };
        if let Some(link) = self.link_to(&first) {
            self.send_link(link, LinkMessage::Ack(ack));
        }
    }

    pub(super) fn on_ack(&mut self, now: Instant, a: Ack, raw: Bytes) {
        if !self.forward(now, &a.route, &raw, None) {
            return;
        }
        let from = a.route.origin();
        let Some(chan) = self.transport.tx.get_mut(&(from, a.channel)) else { return };
        let covered: Vec<u64> = chan
            .inflight
            .keys()
            .copied()
            .filter(|&s| s < a.cumulative || a.ranges.iter().any(|r| r.start <= s && s < r.end))
            .collect();
        let mut done = Vec::new();
        for s in covered {
            if let Some(o) = chan.inflight.remove(&s) {
                done.push(o);
            }
        }
        // Fast retransmit: what is still missing below the highest seq the
        // destination reports having is lost, not late; resend it now
        // rather than at its timeout (at most once per half round trip).
        let highest = a.ranges.iter().map(|r| r.end).max().unwrap_or(0);
        let gap_after = self
            .transport
            .rtt
            .get(&from)
            .and_then(|r| r.srtt)
            .map_or(self.cfg.rto_min, |s| (s / 2).max(Duration::from_millis(1)));
        let mut fast = Vec::new();
        for (&seq, o) in chan.inflight.iter_mut() {
            if seq >= highest {
                break;
            }
            if now - o.last_sent >= gap_after {
                o.last_sent = now;
                o.retransmitted = true;
                fast.push((seq, o.payload.clone(), o.group.clone()));
            }
        }
        let writable = chan.blocked && chan.inflight.len() < self.cfg.send_window;
        if writable {
            chan.blocked = false;
        }
        for o in done {
            if !o.retransmitted {
                self.transport
                    .rtt
                    .entry(from)
                    .or_insert(Rtt { srtt: None, rttvar: Duration::ZERO })
                    .sample(now - o.first_sent);
            }
            self.push_event(Event::Delivered { id: o.id, to: from });
        }
        if writable {
            self.push_event(Event::Writable { to: from });
        }
        let (semantics, channel) = (a.semantics, a.channel);
        for (seq, payload, group) in fast {
            self.stats.retransmissions += 1;
            self.transmit_message(from, semantics, channel, seq, &payload, group.as_deref());
        }
    }

    pub(super) fn on_route_error(&mut self, now: Instant, e: RouteError, raw: Bytes) {
        if !self.forward(now, &e.route, &raw, None) {
            return;
        }
        // Our route to the data's destination went through a dead link: the
        // LSAs will say so; meanwhile retransmit on whatever route SPF has.
        self.schedule_spf(now);
        self.timers.set_earliest(Timer::Retransmit, now + self.cfg.spf_delay * 2);
    }

    /// Retransmits what is due, fails what is past its deadline.
    pub(super) fn on_retransmit_timer(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        let mut next: Option<Instant> = None;
        let reachable: BTreeSet<NodeId> = self.routing.routes.keys().copied().collect();
        let rto_max = self.cfg.rto_max;
        for ((to, channel), chan) in self.transport.tx.iter_mut() {
            let mut dead = Vec::new();
            for (&seq, o) in chan.inflight.iter_mut() {
                if now >= o.deadline {
                    dead.push(seq);
                    continue;
                }
                if now >= o.last_sent + o.rto {
                    o.last_sent = now;
                    o.retransmitted = true;
                    o.rto = (o.rto * 2).min(rto_max);
                    resend.push((
                        *to,
                        *channel,
                        o.semantics,
                        seq,
                        o.payload.clone(),
                        o.group.clone(),
                    ));
                }
                let due = (o.last_sent + o.rto).min(o.deadline);
                next = Some(next.map_or(due, |n| n.min(due)));
            }
            for seq in dead {
                if let Some(o) = chan.inflight.remove(&seq) {
                    let reason = if reachable.contains(to) {
                        FailReason::Timeout
                    } else {
                        FailReason::Unreachable
                    };
                    failed.push((o.id, *to, reason));
                }
            }
        }
        for (to, channel, semantics, seq, payload, group) in resend {
            self.stats.retransmissions += 1;
            self.transmit_message(to, semantics, channel, seq, &payload, group.as_deref());
        }
        for (id, to, reason) in failed {
            self.push_event(Event::SendFailed { id, to, reason });
        }
        self.transport.tx.retain(|_, c| !c.inflight.is_empty() || c.next_seq > 0);
        if let Some(at) = next {
            self.timers.set(Timer::Retransmit, at.max(now));
        }
    }

    /// The current source route to `to` (this node first), if reachable.
    pub fn route_to(&self, to: &NodeId) -> Option<Vec<NodeId>> {
        self.routing.routes.get(to).map(|r| r.path.clone())
    }

    /// Drops reassemblies older than the delivery timeout (housekeeping).
    pub(super) fn expire_reassembly(&mut self, now: Instant) {
        let timeout = self.cfg.delivery_timeout;
        let mut freed: Vec<(NodeId, usize)> = Vec::new();
        for ((from, _), rx) in self.transport.rx.iter_mut() {
            rx.reasm.retain(|_, r| {
                let keep = r.started.is_none_or(|t| now - t < timeout);
                if !keep {
                    freed.push((*from, r.bytes));
                }
                keep
            });
        }
        for (from, bytes) in freed {
            self.stats.dropped_limit += 1;
            self.release_reassembly(&from, bytes);
        }
    }

    /// Messages in flight, over all destinations.
    pub fn in_flight(&self) -> usize {
        self.transport.tx.values().map(|c| c.inflight.len()).sum()
    }

    /// Bytes held for reassembly.
    pub fn reassembly_bytes(&self) -> usize {
        self.transport.reasm_total
    }

    /// Shutdown: every message in flight fails.
    pub(super) fn fail_all_in_flight(&mut self) {
        let mut failed = Vec::new();
        for ((to, _), chan) in self.transport.tx.iter_mut() {
            for (_, o) in core::mem::take(&mut chan.inflight) {
                failed.push((o.id, *to));
            }
        }
        for (id, to) in failed {
            self.push_event(Event::SendFailed { id, to, reason: FailReason::Shutdown });
        }
    }
}
