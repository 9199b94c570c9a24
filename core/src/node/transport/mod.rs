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
//! - Group messages follow a distribution tree: the union of the SPF paths
//!   to the members, so each tree link carries one copy.
//! - `Stream` is an ordered byte stream with flow control
//!   ([`stream`](self::stream)); `ping` measures round trips through the
//!   mesh ([`ping`](self::ping)).

mod forward;
mod inbox;
mod ping;
mod receive;
mod stream;

pub use stream::StreamError;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;

use smallvec::SmallVec;

use super::output::{Event, FailReason, LinkId, MessageId, StreamEnd};
use super::timers::Timer;
use super::Node;
use crate::config::LinkMode;
use crate::time::Instant;
use crate::wire::link::{Ack, Data, Route, RouteError, Semantics, FLAG_SYN};
use crate::wire::{Frame, LinkMessage, NodeId};

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

/// Channel of pings (DATA with `Datagram` semantics, echoed by the
/// destination on [`PONG_CHANNEL`]).
const PING_CHANNEL: u32 = 3;
/// Channel of pongs.
const PONG_CHANNEL: u32 = 4;

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
    /// DATA flags it carries on every transmission (SYN, FIN).
    flags: u8,
    /// A ROUTE_ERROR named it: resend at this time, on the route SPF has
    /// computed by then.
    reroute_at: Option<Instant>,
}

/// A message in flight due for another transmission (copied out so the
/// channel can be released before sending).
struct Resend {
    to: NodeId,
    channel: u32,
    seq: u64,
    semantics: Semantics,
    payload: Bytes,
    group: Option<String>,
    flags: u8,
}

impl Resend {
    fn of(to: NodeId, channel: u32, seq: u64, o: &Outgoing) -> Resend {
        Resend {
            to,
            channel,
            seq,
            semantics: o.semantics,
            payload: o.payload.clone(),
            group: o.group.clone(),
            flags: o.flags,
        }
    }
}

/// What one transmission of a message carries.
#[derive(Debug, Clone, Copy)]
struct Msg<'a> {
    semantics: Semantics,
    channel: u32,
    seq: u64,
    flags: u8,
    payload: &'a Bytes,
    group: Option<&'a str>,
}

/// A message to put in flight.
struct NewMessage {
    id: MessageId,
    semantics: Semantics,
    channel: u32,
    payload: Bytes,
    group: Option<String>,
    flags: u8,
}

#[derive(Debug, Default)]
struct TxChannel {
    next_seq: u64,
    inflight: BTreeMap<u64, Outgoing>,
    /// Payload bytes of `inflight`.
    inflight_bytes: usize,
    /// A send was refused for lack of window: say when there is room.
    blocked: bool,
    /// A message failed: the next one carries SYN so the receiver skips
    /// the gap instead of waiting for it forever.
    resync: bool,
    /// The destination's inbox is full (its last ACK offered a zero
    /// window): send nothing new; what is in flight probes until the
    /// window reopens.
    peer_full: bool,
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

impl TxChannel {
    /// Whether another message may go in flight: fewer than `send_window`
    /// messages and `send_window_bytes` bytes are (one message larger than
    /// the byte window still goes alone).
    fn has_room(&self, cfg: &crate::config::Config) -> bool {
        !self.peer_full
            && self.inflight.len() < cfg.send_window
            && self.inflight_bytes < cfg.send_window_bytes
    }

    fn insert(&mut self, seq: u64, o: Outgoing) {
        self.inflight_bytes += o.payload.len();
        if let Some(old) = self.inflight.insert(seq, o) {
            self.inflight_bytes -= old.payload.len();
        }
    }

    fn remove(&mut self, seq: u64) -> Option<Outgoing> {
        let o = self.inflight.remove(&seq)?;
        self.inflight_bytes -= o.payload.len();
        Some(o)
    }

    fn take_all(&mut self) -> BTreeMap<u64, Outgoing> {
        self.inflight_bytes = 0;
        core::mem::take(&mut self.inflight)
    }
}

impl RxChannel {
    /// The sender restarted its sequence at `seq` (SYN) after giving up on
    /// messages before it: stop waiting for them.
    /// Returns the reassembly bytes it freed.
    fn resync(&mut self, seq: u64) -> usize {
        if seq <= self.cumulative {
            return 0;
        }
        self.cumulative = seq;
        self.above = self.above.split_off(&seq);
        self.waiting = self.waiting.split_off(&seq);
        let kept = self.reasm.split_off(&seq);
        let freed = self.reasm.values().map(|r| r.bytes).sum();
        self.reasm = kept;
        freed
    }
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
    streams: stream::Streams,
    pings: ping::Pings,
    /// ACKs owed for the input being handled, by (source, channel): the
    /// semantics, the window to offer and the DATA's route.
    ack_due: BTreeMap<(NodeId, u32), (Semantics, u32, Route)>,
    /// Received messages the application has not taken yet.
    pub(in crate::node) inbox: inbox::Inbox,
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
        self.input(now, |node, now| {
            node.check_send(&payload, semantics)?;
            if !node.routing.routes.contains_key(&to) {
                return Err(SendError::Unreachable);
            }
            node.send_to(now, to, semantics, payload, None)
        })
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
        self.input(now, |node, now| {
            node.check_send(&payload, semantics)?;
            let members: Vec<NodeId> = node
                .membership
                .peers()
                .filter(|p| group.is_empty() || p.groups.iter().any(|g| g == group))
                .map(|p| p.id)
                .filter(|id| node.routing.routes.contains_key(id))
                .collect();
            let channel = group_channel(group, semantics);
            let full = members.iter().any(|m| {
                node.transport.tx.get(&(*m, channel)).is_some_and(|c| !c.has_room(&node.cfg))
            });
            if full && semantics != Semantics::Datagram {
                for m in &members {
                    if let Some(c) = node.transport.tx.get_mut(&(*m, channel)) {
                        c.blocked = true;
                    }
                }
                return Err(SendError::WouldBlock);
            }
            let id = node.next_message_id();
            let seq = {
                let s = node.transport.group_seq.entry(channel).or_insert(0);
                *s += 1;
                *s - 1
            };
            if semantics != Semantics::Datagram {
                for m in &members {
                    let rto = node.rto_for(m);
                    let out = Outgoing {
                        id,
                        semantics,
                        payload: payload.clone(),
                        group: Some(group.into()),
                        first_sent: now,
                        last_sent: now,
                        rto,
                        retransmitted: false,
                        deadline: now + node.cfg.delivery_timeout,
                        flags: 0,
                        reroute_at: None,
                    };
                    node.transport.tx.entry((*m, channel)).or_default().insert(seq, out);
                    node.out.timers.set_earliest(Timer::Retransmit, now + rto);
                }
            }
            let msg =
                Msg { semantics, channel, seq, flags: 0, payload: &payload, group: Some(group) };
            match node.group_tree(&members) {
                Some(tree) => node.transmit_tree(&tree, msg),
                None => {
                    for m in members {
                        node.transmit_message(m, msg);
                    }
                }
            }
            Ok(id)
        })
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
    fn transmit_tree(&mut self, tree: &Route, msg: Msg<'_>) {
        let frames = self.data_frames(tree, msg);
        let children: Vec<NodeId> = tree.children(0).filter_map(|c| tree.id(c)).collect();
        for child in children {
            let Some(link) = self.link_to(&child) else {
                self.out.stats.dropped_no_route += 1;
                continue;
            };
            for f in &frames {
                self.send_data_bytes(link, f.clone());
            }
        }
    }

    /// The DATA frames (one per fragment) of a message on `route`.
    fn data_frames(&mut self, route: &Route, msg: Msg<'_>) -> Vec<Bytes> {
        let Msg { semantics, channel, seq, flags, payload, group } = msg;
        let size = self.fragment_size();
        let count = payload.len().div_ceil(size).max(1);
        let Ok(count16) = u16::try_from(count) else { return Vec::new() };
        let mut out = Vec::with_capacity(count);
        for i in 0..count {
            let part =
                payload.slice((i * size).min(payload.len())..((i + 1) * size).min(payload.len()));
            let data = Data {
                flags,
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
                Err(_) => self.out.stats.dropped_limit += 1,
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
        let channel = channel_of(semantics);
        self.enqueue(now, to, NewMessage { id, semantics, channel, payload, group, flags: 0 })?;
        Ok(id)
    }

    /// Puts a message in flight on `(to, m.channel)` and transmits it;
    /// returns its sequence number.
    fn enqueue(&mut self, now: Instant, to: NodeId, m: NewMessage) -> Result<u64, SendError> {
        let chan = self.transport.tx.entry((to, m.channel)).or_default();
        if m.semantics != Semantics::Datagram && !chan.has_room(&self.cfg) {
            chan.blocked = true;
            return Err(SendError::WouldBlock);
        }
        let seq = chan.next_seq;
        chan.next_seq += 1;
        let mut flags = m.flags;
        if chan.resync && m.semantics != Semantics::Datagram {
            chan.resync = false;
            flags |= FLAG_SYN;
        }
        let msg = Msg {
            semantics: m.semantics,
            channel: m.channel,
            seq,
            flags,
            payload: &m.payload,
            group: m.group.as_deref(),
        };
        self.transmit_message(to, msg);
        if m.semantics != Semantics::Datagram {
            let rto = self.rto_for(&to);
            let out = Outgoing {
                id: m.id,
                semantics: m.semantics,
                payload: m.payload,
                group: m.group,
                first_sent: now,
                last_sent: now,
                rto,
                retransmitted: false,
                deadline: now + self.cfg.delivery_timeout,
                flags,
                reroute_at: None,
            };
            if let Some(c) = self.transport.tx.get_mut(&(to, m.channel)) {
                c.insert(seq, out);
            }
            self.out.timers.set_earliest(Timer::Retransmit, now + rto);
        }
        Ok(seq)
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
            LinkMode::Stream => self.cfg.fragment_size,
            // The documented cap of datagram links (PROTOCOL 5.3): a frame
            // stays within one unfragmented UDP datagram.
            LinkMode::Datagram => self.cfg.fragment_size.min(1100),
        }
    }

    /// Sends every fragment of a message on the current route; false if
    /// there is none.
    fn transmit_message(&mut self, to: NodeId, msg: Msg<'_>) -> bool {
        self.path_route(&to).is_some_and(|path| self.transmit_on(&path, msg))
    }

    /// The current SPF path to `to` as a source route (this node first).
    fn path_route(&self, to: &NodeId) -> Option<Route> {
        Route::path(&self.routing.routes.get(to)?.path).ok()
    }

    /// Sends every fragment of a message along `path` (this node first),
    /// whatever the routing table says; false without a link to the first
    /// hop.
    fn transmit_on(&mut self, path: &Route, msg: Msg<'_>) -> bool {
        let Some(next) = path.id(1) else { return false };
        let Some(link) = self.link_to(&next) else { return false };
        for f in self.data_frames(path, msg) {
            self.send_data_bytes(link, f);
        }
        true
    }

    /// The up link to neighbour `peer`.
    fn link_to(&self, peer: &NodeId) -> Option<LinkId> {
        self.neighbours().find(|(_, p)| p == peer).map(|(l, _)| l)
    }

    pub(in crate::node) fn on_ack(&mut self, now: Instant, a: Ack, raw: Bytes) {
        if !self.forward(now, &a.route, &raw, None) {
            return;
        }
        let from = a.route.origin();
        let Some(chan) = self.transport.tx.get_mut(&(from, a.channel)) else { return };
        let acked = |s: u64| s < a.cumulative || a.ranges.iter().any(|r| r.start <= s && s < r.end);
        let covered: SmallVec<[u64; 16]> =
            chan.inflight.keys().copied().filter(|&s| acked(s)).collect();
        let mut done: SmallVec<[Outgoing; 16]> = SmallVec::new();
        for s in covered {
            if let Some(o) = chan.remove(s) {
                done.push(o);
            }
        }
        // Fast retransmit: what is still missing below the highest seq the
        // destination reports having is lost, not late; resend it now
        // rather than at its timeout (at most once per half round trip).
        // The inbox window: zero means the destination refused what it did
        // not acknowledge for lack of room. It is alive, so nothing in
        // flight times out while it holds back; when it reopens, whatever
        // is still in flight was refused and goes again at once.
        let stream = a.semantics == Semantics::Stream;
        let mut reopened: SmallVec<[Resend; 4]> = SmallVec::new();
        if !stream {
            let full = a.window == 0 && !chan.inflight.is_empty();
            if full {
                for o in chan.inflight.values_mut() {
                    o.deadline = now + self.cfg.delivery_timeout;
                }
            } else if chan.peer_full {
                for (&seq, o) in chan.inflight.iter_mut() {
                    o.last_sent = now;
                    o.retransmitted = true;
                    reopened.push(Resend::of(from, a.channel, seq, o));
                }
            }
            chan.peer_full = full;
        }
        let highest =
            if chan.peer_full { 0 } else { a.ranges.iter().map(|r| r.end).max().unwrap_or(0) };
        let gap_after = self
            .transport
            .rtt
            .get(&from)
            .and_then(|r| r.srtt)
            .map_or(self.cfg.rto_min, |s| (s / 2).max(Duration::from_millis(1)));
        let mut fast: SmallVec<[Resend; 4]> = SmallVec::new();
        for (&seq, o) in chan.inflight.iter_mut() {
            if seq >= highest {
                break;
            }
            if now - o.last_sent >= gap_after {
                o.last_sent = now;
                o.retransmitted = true;
                fast.push(Resend::of(from, a.channel, seq, o));
            }
        }
        if stream {
            // The receiver answered, so it is alive: a stream stalled by a
            // reader that does not read waits as long as it must.
            for o in chan.inflight.values_mut() {
                o.deadline = now + self.cfg.delivery_timeout;
            }
        }
        let writable = !stream && chan.blocked && chan.has_room(&self.cfg);
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
            if !stream {
                self.push_event(Event::Delivered { id: o.id, to: from });
            }
        }
        if writable {
            self.push_event(Event::Writable { to: from });
        }
        let channel = a.channel;
        for r in fast.into_iter().chain(reopened) {
            self.retransmit(r);
        }
        if stream {
            self.on_stream_ack(now, from, channel, a.cumulative, a.window);
        }
    }

    pub(in crate::node) fn on_route_error(&mut self, now: Instant, e: RouteError, raw: Bytes) {
        if !self.forward(now, &e.route, &raw, None) {
            return;
        }
        // Our route to the data's destination went through a dead link: the
        // reporter's LSA says so by now or shortly. Recompute, then resend
        // the message it names on the new route without waiting for its
        // timeout.
        self.schedule_spf(now);
        let at = now + self.cfg.spf_delay * 2;
        for ((_, channel), chan) in self.transport.tx.iter_mut() {
            if *channel != e.channel {
                continue;
            }
            if let Some(o) = chan.inflight.get_mut(&e.seq) {
                o.reroute_at = Some(at);
            }
        }
        self.out.timers.set_earliest(Timer::Retransmit, at);
    }

    /// Retransmits what is due, fails what is past its deadline.
    pub(in crate::node) fn on_retransmit_timer(&mut self, now: Instant) {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        let mut failed_streams = Vec::new();
        let mut next: Option<Instant> = None;
        let rto_max = self.cfg.rto_max;
        for (&(to, channel), chan) in self.transport.tx.iter_mut() {
            let expired = chan.inflight.values().any(|o| now >= o.deadline);
            if expired {
                let reason = if self.routing.routes.contains_key(&to) {
                    FailReason::Timeout
                } else {
                    FailReason::Unreachable
                };
                // Ordered channels cannot deliver past a lost message: the
                // whole window fails, and the next message restarts the
                // sequence (SYN) so the receiver does not wait for the gap.
                let ordered = chan.inflight.values().any(|o| o.semantics != Semantics::Datagram);
                let dead: Vec<u64> = if ordered {
                    chan.inflight.keys().copied().collect()
                } else {
                    chan.inflight
                        .iter()
                        .filter(|(_, o)| now >= o.deadline)
                        .map(|(s, _)| *s)
                        .collect()
                };
                for seq in dead {
                    if let Some(o) = chan.remove(seq) {
                        if o.semantics == Semantics::Stream {
                            failed_streams.push((to, channel, reason));
                        } else {
                            failed.push((o.id, to, reason));
                        }
                    }
                }
                chan.resync = true;
            }
            for (&seq, o) in chan.inflight.iter_mut() {
                let rerouted = o.reroute_at.is_some_and(|t| now >= t);
                if rerouted || now >= o.last_sent + o.rto {
                    o.last_sent = now;
                    o.retransmitted = true;
                    if !rerouted {
                        o.rto = (o.rto * 2).min(rto_max);
                    }
                    o.reroute_at = None;
                    resend.push(Resend::of(to, channel, seq, o));
                }
                let due = (o.last_sent + o.rto).min(o.deadline);
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        for r in resend {
            self.retransmit(r);
        }
        for (id, to, reason) in failed {
            self.push_event(Event::SendFailed { id, to, reason });
        }
        failed_streams.dedup();
        for (to, channel, reason) in failed_streams {
            self.fail_stream(now, to, channel, StreamEnd::Failed(reason));
        }
        self.transport.tx.retain(|_, c| !c.inflight.is_empty() || c.next_seq > 0);
        if let Some(at) = next {
            self.out.timers.set(Timer::Retransmit, at.max(now));
        }
    }

    fn retransmit(&mut self, r: Resend) {
        self.out.stats.retransmissions += 1;
        let msg = Msg {
            semantics: r.semantics,
            channel: r.channel,
            seq: r.seq,
            flags: r.flags,
            payload: &r.payload,
            group: r.group.as_deref(),
        };
        self.transmit_message(r.to, msg);
    }

    /// The current source route to `to` (this node first), if reachable.
    pub fn route_to(&self, to: &NodeId) -> Option<Vec<NodeId>> {
        self.routing.routes.get(to).map(|r| r.path.clone())
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
    pub(in crate::node) fn fail_all_in_flight(&mut self) {
        let mut failed = Vec::new();
        for ((to, _), chan) in self.transport.tx.iter_mut() {
            for (_, o) in chan.take_all() {
                if o.semantics != Semantics::Stream {
                    failed.push((o.id, *to));
                }
            }
        }
        for (id, to) in failed {
            self.push_event(Event::SendFailed { id, to, reason: FailReason::Shutdown });
        }
        self.close_all_streams();
    }
}
