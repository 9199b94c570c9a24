//! The sending side: sequence numbers, windows, DATA frames and their
//! fragments, ACK processing, retransmission and failure.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;
use smallvec::SmallVec;

use super::super::output::{Event, FailReason, MessageId, StreamEnd};
use super::super::timers::Timer;
use super::congestion::{Change, Signal, Window};
use super::forward::forward;
use super::mesh::Mesh;
use super::{
    group_channel, Msg, NewMessage, Outgoing, Resend, SendError, SendOptions, Transport,
    LOWEST_PRIORITY,
};
use crate::time::Instant;
use crate::wire::link::{Ack, Data, Route, RouteError, Semantics, FLAG_SYN};
use crate::wire::{Frame, LinkMessage, NodeId};

/// Doublings of a new message's timeout after timeouts with no sample
/// since (see `rto_for`): enough for the estimate to catch up with a round
/// trip that grew to four times the timeout, as behind a filling queue.
/// More would not help heavy random loss, where most messages go more than
/// once and samples are rare: every new message would wait `rto_max`.
const MAX_BACKOFF: u32 = 2;

impl Transport {
    /// Sends `payload` to `to`; see [`Node::send`](crate::Node::send).
    pub(in crate::node) fn send(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
        opts: SendOptions,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        check_send(m, &payload, opts)?;
        if !m.reachable(&to) {
            return Err(SendError::Unreachable);
        }
        let id = self.next_message_id();
        self.enqueue(m, now, to, NewMessage::unicast(id, opts, payload))?;
        Ok(id)
    }

    /// Sends `payload` to `members` of `group` (the reachable ones, chosen
    /// by the node); see [`Node::shout`](crate::Node::shout).
    pub(in crate::node) fn shout(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        group: &str,
        members: &[NodeId],
        opts: SendOptions,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        check_send(m, &payload, opts)?;
        let SendOptions { semantics, priority, confirm, timeout, max_retransmissions } = opts;
        let timeout = timeout.unwrap_or(m.cfg.delivery_timeout);
        let channel = group_channel(group, semantics);
        let full = members.iter().any(|p| !self.has_room(m, *p, channel, priority));
        if full && semantics != Semantics::Datagram {
            for p in members {
                if let Some(c) = self.tx.get_mut(&(*p, channel)) {
                    c.blocked = true;
                    c.blocked_priority = priority;
                }
            }
            return Err(SendError::WouldBlock);
        }
        let id = self.next_message_id();
        let seq = {
            let s = self.group_seq.entry(channel).or_insert(0);
            *s += 1;
            *s - 1
        };
        if semantics != Semantics::Datagram {
            for p in members {
                let rto = self.rto_for(m, p);
                let out = Outgoing {
                    id,
                    semantics,
                    payload: payload.clone(),
                    group: Some(group.into()),
                    first_sent: now,
                    last_sent: now,
                    rto,
                    retransmitted: false,
                    deadline: now + timeout,
                    flags: 0,
                    priority,
                    reroute_at: None,
                    confirm,
                    timeout,
                    retransmissions: 0,
                    max_retransmissions,
                };
                self.tx.entry((*p, channel)).or_default().insert(seq, out);
                m.out.timers.set_earliest(Timer::Retransmit, now + rto);
            }
        }
        let group = Some(group);
        let msg = Msg { semantics, channel, seq, flags: 0, payload: &payload, group, priority };
        match group_tree(m, members) {
            Some(tree) => transmit_tree(m, &tree, msg),
            None => {
                for p in members {
                    transmit_message(m, *p, msg);
                }
            }
        }
        Ok(id)
    }

    pub(super) fn next_message_id(&mut self) -> MessageId {
        self.next_id += 1;
        MessageId(self.next_id)
    }

    /// Puts a message in flight on `(to, msg.channel)` and transmits it;
    /// returns its sequence number.
    pub(super) fn enqueue(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
        msg: NewMessage,
    ) -> Result<u64, SendError> {
        let (seq, syn) = self.admit(m, to, msg.channel, msg.semantics, msg.priority)?;
        let flags = syn | msg.flags;
        let one = Msg {
            semantics: msg.semantics,
            channel: msg.channel,
            seq,
            flags,
            payload: &msg.payload,
            group: msg.group.as_deref(),
            priority: msg.priority,
        };
        transmit_message(m, to, one);
        let rto = self.rto_for(m, &to);
        self.keep(m, now, to, seq, flags, msg, rto);
        Ok(seq)
    }

    /// Gives the next message on `(to, channel)` its sequence number, if
    /// the window has room for it; returns the seq and the flags the
    /// sequence adds (SYN after a failure). The caller transmits it, then hands
    /// it to [`keep`](Self::keep).
    pub(super) fn admit(
        &mut self,
        m: &mut Mesh<'_>,
        to: NodeId,
        channel: u32,
        semantics: Semantics,
        priority: u8,
    ) -> Result<(u64, u8), SendError> {
        let kept = semantics != Semantics::Datagram;
        if kept && !self.has_room(m, to, channel, priority) {
            self.refuse(to, channel, priority);
            return Err(SendError::WouldBlock);
        }
        Ok(self.number(to, channel, kept))
    }

    /// Marks `(to, channel)` as having refused a send of `priority` for
    /// lack of room, so that it hears when there is some.
    pub(super) fn refuse(&mut self, to: NodeId, channel: u32, priority: u8) {
        let c = self.tx.entry((to, channel)).or_default();
        c.blocked = true;
        c.blocked_priority = priority;
    }

    /// The next sequence number of `(to, channel)`, for a message already
    /// admitted, and the flags the sequence adds (SYN after a failure of
    /// a `kept` message).
    pub(super) fn number(&mut self, to: NodeId, channel: u32, kept: bool) -> (u64, u8) {
        let chan = self.tx.entry((to, channel)).or_default();
        let seq = chan.next_seq;
        chan.next_seq += 1;
        let mut flags = 0;
        if chan.resync && kept {
            chan.resync = false;
            flags |= FLAG_SYN;
        }
        (seq, flags)
    }

    /// Puts an admitted message in flight with the `flags` it was sent
    /// with and its first retransmission timeout `rto` (datagrams are not
    /// kept). It takes the payload rather than a copy: cloning a `Bytes`
    /// made from a `Vec` allocates. The caller looks `rto` up
    /// ([`rto_for`](Self::rto_for)), once for a whole `send_many`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn keep(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
        seq: u64,
        flags: u8,
        msg: NewMessage,
        rto: Duration,
    ) {
        if msg.semantics == Semantics::Datagram {
            return;
        }
        let timeout = msg.timeout.unwrap_or(m.cfg.delivery_timeout);
        let out = Outgoing {
            id: msg.id,
            semantics: msg.semantics,
            payload: msg.payload,
            group: msg.group,
            first_sent: now,
            last_sent: now,
            rto,
            retransmitted: false,
            deadline: now + timeout,
            flags,
            priority: msg.priority,
            reroute_at: None,
            confirm: msg.confirm,
            timeout,
            retransmissions: 0,
            max_retransmissions: msg.max_retransmissions,
        };
        if let Some(c) = self.tx.get_mut(&(to, msg.channel)) {
            c.insert(seq, out);
        }
        m.out.timers.set_earliest(Timer::Retransmit, now + rto);
    }

    pub(super) fn rto_for(&self, m: &Mesh<'_>, to: &NodeId) -> Duration {
        // RFC 6298's margin of four deviations, but never under half the
        // round trip: behind a steady queue the deviation shrinks to
        // nothing, and a queue that grows by a few frames would then time
        // out messages that are only waiting (each resent for nothing,
        // taking the bandwidth the queue is short of).
        let rtt = self.rtt.get(to).copied().unwrap_or_default();
        let r = match rtt.srtt {
            Some(s) => s + (rtt.rttvar * 4).max(s / 2).max(Duration::from_millis(1)),
            None => m.cfg.rto_initial,
        };
        // Karn's rule takes no sample from a retransmitted message: if the
        // round trip grew past the timeout, every message would time out,
        // none would give a sample, and the estimate would never catch up.
        // The backed-off timeout lets one arrive first.
        let r = r.saturating_mul(1 << rtt.backoff.min(MAX_BACKOFF));
        r.clamp(m.cfg.rto_min, m.cfg.rto_max)
    }

    /// An ACK from a destination (or one to pass on); `echo`: it echoes
    /// a congestion mark.
    pub(in crate::node) fn on_ack(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        a: Ack,
        raw: Bytes,
        echo: bool,
    ) {
        if !forward(m, &a.route, &raw, None) {
            return;
        }
        let from = a.route.origin();
        let Some(chan) = self.tx.get_mut(&(from, a.channel)) else { return };
        let stream = a.semantics == Semantics::Stream;
        // The gap that makes a hole lost is judged by the estimate from
        // before this ACK's samples.
        let gap_after = self
            .rtt
            .get(&from)
            .and_then(|r| r.srtt)
            .map_or(m.cfg.rto_min, |s| (s / 2).max(Duration::from_millis(1)));
        // Only what the ACK covers is visited, not the whole window: the
        // cumulative part from the front of the ring, then the ranges.
        let mut acked = 0;
        let mut done = |o: Outgoing| {
            acked += o.payload.len();
            if !o.retransmitted {
                self.rtt.entry(from).or_default().sample(now - o.first_sent);
            }
            if !stream && o.confirm {
                m.out.events.push_back(Event::Delivered { id: o.id, to: from });
            }
        };
        while let Some(o) = chan.pop_below(a.cumulative) {
            done(o);
        }
        for r in a.ranges.iter() {
            if r.start < r.end {
                let covered: SmallVec<[u64; 16]> =
                    chan.inflight.range(r.start.max(a.cumulative)..r.end).map(|(s, _)| s).collect();
                for s in covered {
                    if let Some(o) = chan.remove(s) {
                        done(o);
                    }
                }
            }
        }
        // Fast retransmit: what is still missing below the highest seq the
        // destination reports having is lost, not late; resend it now
        // rather than at its timeout (at most once per half round trip).
        // The inbox window: zero means the destination refused what it did
        // not acknowledge for lack of room. It is alive, so nothing in
        // flight times out while it holds back; when it reopens, whatever
        // is still in flight was refused and goes again at once.
        let mut reopened: SmallVec<[Resend; 4]> = SmallVec::new();
        if !stream {
            let full = a.window == 0 && !chan.inflight.is_empty();
            if full {
                for o in chan.inflight.values_mut() {
                    o.deadline = now + o.timeout;
                }
            } else if chan.peer_full {
                for (seq, o) in chan.inflight.iter_mut() {
                    if o.exhausted() {
                        // It fails at its timer instead.
                        continue;
                    }
                    o.resent(now);
                    reopened.push(Resend::of(from, a.channel, seq, o));
                }
            }
            chan.peer_full = full;
        }
        let highest =
            if chan.peer_full { 0 } else { a.ranges.iter().map(|r| r.end).max().unwrap_or(0) };
        let mut fast: SmallVec<[Resend; 4]> = SmallVec::new();
        for (seq, o) in chan.inflight.iter_mut() {
            if seq >= highest {
                break;
            }
            if now - o.last_sent >= gap_after && !o.exhausted() {
                o.resent(now);
                fast.push(Resend::of(from, a.channel, seq, o));
            }
        }
        if stream {
            // The receiver answered, so it is alive: a stream stalled by a
            // reader that does not read waits as long as it must.
            for o in chan.inflight.values_mut() {
                o.deadline = now + o.timeout;
            }
        }
        let lost = !fast.is_empty();
        if lost {
            self.congestion_signal(m, now, from, Signal::Loss);
        } else if echo {
            self.congestion_signal(m, now, from, Signal::Mark);
        }
        if acked > 0 || echo {
            self.window_acked(m, now, from, acked, echo);
        }
        self.wake_blocked(m, now, Some(from));
        let channel = a.channel;
        for r in fast.into_iter().chain(reopened) {
            retransmit(m, r);
        }
        if stream {
            self.on_stream_ack(m, now, from, channel, a.cumulative, a.window);
        }
    }

    /// `bytes` towards `to` were acknowledged (by an ACK that echoed a
    /// mark or not): the congestion window grows.
    fn window_acked(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
        bytes: usize,
        echo: bool,
    ) {
        if !m.cfg.congestion_control {
            return;
        }
        let rtt = self.srtt_or_min(m, &to);
        let w = self.windows.entry(to).or_insert_with(|| Window::new(m.cfg));
        if w.on_acked(m.cfg, now, bytes, echo, rtt) == Some(Change::Recovered) {
            m.out.events.push_back(Event::CongestionCleared { to });
        }
    }

    /// The smoothed round trip to `to`, or `rto_min` before a sample.
    fn srtt_or_min(&self, m: &Mesh<'_>, to: &NodeId) -> Duration {
        self.rtt.get(to).and_then(|r| r.srtt).unwrap_or(m.cfg.rto_min)
    }

    /// A congestion mark was echoed, or a message towards `to` was lost.
    fn congestion_signal(&mut self, m: &mut Mesh<'_>, now: Instant, to: NodeId, signal: Signal) {
        if !m.cfg.congestion_control {
            return;
        }
        let rtt = self.srtt_or_min(m, &to);
        let w = self.windows.entry(to).or_insert_with(|| Window::new(m.cfg));
        if w.on_congestion(m.cfg, now, rtt, signal) == Some(Change::Congested) {
            m.out.events.push_back(Event::Congested { to });
        }
    }

    /// Says [`Event::Writable`] to every destination (or only `only`) with
    /// a channel that was refused and has room now, and sends what streams
    /// hold back.
    pub(in crate::node) fn wake_blocked(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        only: Option<NodeId>,
    ) {
        let blocked: Vec<(NodeId, u32, u8)> = match only {
            Some(to) => self
                .tx
                .range((to, 0)..=(to, u32::MAX))
                .filter(|(_, c)| c.blocked)
                .map(|(k, c)| (k.0, k.1, c.blocked_priority))
                .collect(),
            None => self
                .tx
                .iter()
                .filter(|(_, c)| c.blocked)
                .map(|(k, c)| (k.0, k.1, c.blocked_priority))
                .collect(),
        };
        let mut told: Option<NodeId> = None;
        for (to, channel, priority) in blocked {
            if super::stream::is_stream_channel(channel) || !self.has_room(m, to, channel, priority)
            {
                continue;
            }
            if let Some(c) = self.tx.get_mut(&(to, channel)) {
                c.blocked = false;
            }
            if told != Some(to) {
                told = Some(to);
                m.out.events.push_back(Event::Writable { to });
            }
        }
        if only.is_none() {
            self.pump_all_streams(m, now);
        }
    }

    /// A ROUTE_ERROR: marks the message it names for a resend on the route
    /// SPF will have computed by then. Returns true when it was for us, and
    /// the node should run SPF soon.
    #[must_use]
    pub(in crate::node) fn on_route_error(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        e: RouteError,
        raw: Bytes,
    ) -> bool {
        if !forward(m, &e.route, &raw, None) {
            return false;
        }
        // Our route to the data's destination went through a dead link: the
        // reporter's LSA says so by now or shortly. Recompute, then resend
        // the message it names on the new route without waiting for its
        // timeout.
        let at = now + m.cfg.spf_delay * 2;
        for ((_, channel), chan) in self.tx.iter_mut() {
            if *channel != e.channel {
                continue;
            }
            if let Some(o) = chan.inflight.get_mut(e.seq) {
                o.reroute_at = Some(at);
                chan.due_by(at);
            }
        }
        m.out.timers.set_earliest(Timer::Retransmit, at);
        true
    }

    /// Retransmits what is due, fails what is past its deadline.
    pub(in crate::node) fn on_retransmit_timer(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let mut resend = Vec::new();
        let mut failed = Vec::new();
        let mut failed_streams = Vec::new();
        let mut timed_out: Vec<NodeId> = Vec::new();
        let mut next: Option<Instant> = None;
        let rto_max = m.cfg.rto_max;
        for (&(to, channel), chan) in self.tx.iter_mut() {
            match chan.due {
                Some(due) if due > now => {
                    next = Some(next.map_or(due, |n| n.min(due)));
                    continue;
                }
                None => continue,
                Some(_) => {}
            }
            let expired = chan.inflight.values().any(|o| o.expired(now));
            if expired {
                let reason =
                    if m.reachable(&to) { FailReason::Timeout } else { FailReason::Unreachable };
                // Ordered channels cannot deliver past a lost message: the
                // whole window fails, and the next message restarts the
                // sequence (SYN) so the receiver does not wait for the gap.
                let ordered = chan.inflight.values().any(|o| o.semantics != Semantics::Datagram);
                let dead: Vec<u64> = if ordered {
                    chan.inflight.keys().collect()
                } else {
                    chan.inflight.iter().filter(|(_, o)| o.expired(now)).map(|(s, _)| s).collect()
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
            let mut chan_due = None;
            for (seq, o) in chan.inflight.iter_mut() {
                let rerouted = o.reroute_at.is_some_and(|t| now >= t);
                if !rerouted && now >= o.last_sent + o.rto {
                    timed_out.push(to);
                }
                if rerouted || now >= o.last_sent + o.rto {
                    o.resent(now);
                    if !rerouted {
                        o.rto = (o.rto * 2).min(rto_max);
                    }
                    o.reroute_at = None;
                    resend.push(Resend::of(to, channel, seq, o));
                }
                let due = o.due();
                chan_due = Some(chan_due.map_or(due, |n: Instant| n.min(due)));
            }
            chan.due = chan_due;
            if let Some(due) = chan_due {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        timed_out.dedup();
        for to in timed_out {
            let rtt = self.rtt.entry(to).or_default();
            rtt.backoff = rtt.backoff.saturating_add(1);
            self.congestion_signal(m, now, to, Signal::Loss);
        }
        for r in resend {
            retransmit(m, r);
        }
        for (id, to, reason) in failed {
            m.out.events.push_back(Event::SendFailed { id, to, reason });
        }
        failed_streams.dedup();
        for (to, channel, reason) in failed_streams {
            self.fail_stream(m, now, to, channel, StreamEnd::Failed(reason));
        }
        self.tx.retain(|_, c| !c.inflight.is_empty() || c.next_seq > 0);
        if let Some(at) = next {
            m.out.timers.set(Timer::Retransmit, at.max(now));
        }
    }

    /// Messages in flight, over all destinations.
    pub(in crate::node) fn in_flight(&self) -> usize {
        self.tx.values().map(|c| c.inflight.len()).sum()
    }

    /// Shutdown: every message in flight fails, then every stream.
    pub(in crate::node) fn fail_all_in_flight(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let mut failed = Vec::new();
        for ((to, _), chan) in self.tx.iter_mut() {
            for (_, o) in chan.take_all() {
                if o.semantics != Semantics::Stream {
                    failed.push((o.id, *to));
                }
            }
        }
        for (id, to) in failed {
            m.out.events.push_back(Event::SendFailed { id, to, reason: FailReason::Shutdown });
        }
        self.close_all_streams(m, now);
    }
}

pub(super) fn check_send(
    m: &Mesh<'_>,
    payload: &Bytes,
    opts: SendOptions,
) -> Result<(), SendError> {
    if m.shutting_down {
        return Err(SendError::ShuttingDown);
    }
    if opts.priority > LOWEST_PRIORITY {
        return Err(SendError::BadPriority);
    }
    if opts.timeout == Some(Duration::ZERO) {
        return Err(SendError::BadTimeout);
    }
    if opts.semantics == Semantics::Stream {
        return Err(SendError::Unsupported);
    }
    if payload.len() > m.cfg.max_message {
        return Err(SendError::TooLarge);
    }
    Ok(())
}

/// The union of the routes to `members`: a tree rooted here (SPF paths all
/// come from one shortest-path tree), parents first. `None` if it would
/// exceed the route limit.
fn group_tree(m: &Mesh<'_>, members: &[NodeId]) -> Option<Route> {
    let mut ids = alloc::vec![m.me];
    let mut parents = alloc::vec![crate::wire::link::route::ROOT_PARENT];
    let mut index: BTreeMap<NodeId, usize> = BTreeMap::new();
    index.insert(m.me, 0);
    for p in members {
        let path = &m.routes.get(p)?.path;
        for w in path.windows(2) {
            if index.contains_key(&w[1]) {
                continue;
            }
            if ids.len() >= m.cfg.limits.max_route.min(255) {
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

/// Sends every fragment of a group message down a distribution tree: one
/// copy to each child of the root.
fn transmit_tree(m: &mut Mesh<'_>, tree: &Route, msg: Msg<'_>) {
    let frames = data_frames(m, tree, msg);
    let children: Vec<NodeId> = tree.children(0).filter_map(|c| tree.id(c)).collect();
    for child in children {
        let Some(link) = m.link_to(&child) else {
            m.out.stats.dropped_no_route += 1;
            continue;
        };
        for f in &frames {
            m.send_data(link, f.clone(), msg.priority);
        }
    }
}

/// The DATA frames (one per fragment) of a message on `route`.
pub(super) fn data_frames(m: &mut Mesh<'_>, route: &Route, msg: Msg<'_>) -> SmallVec<[Bytes; 1]> {
    let Msg { semantics, channel, seq, flags, payload, group, priority } = msg;
    let size = m.fragment_size();
    let count = payload.len().div_ceil(size).max(1);
    let Ok(count16) = u16::try_from(count) else { return SmallVec::new() };
    let mut out = SmallVec::with_capacity(count);
    for i in 0..count {
        let part =
            payload.slice((i * size).min(payload.len())..((i + 1) * size).min(payload.len()));
        let data = Data {
            flags,
            semantics,
            priority,
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
            Err(_) => m.out.stats.dropped_limit += 1,
        }
    }
    out
}

/// Sends every fragment of a message on the current route; false if there
/// is none.
pub(super) fn transmit_message(m: &mut Mesh<'_>, to: NodeId, msg: Msg<'_>) -> bool {
    m.path_route(&to).is_some_and(|path| transmit_on(m, &path, msg))
}

/// Sends every fragment of a message along `path` (this node first),
/// whatever the routing table says; false without a link to the first hop.
pub(super) fn transmit_on(m: &mut Mesh<'_>, path: &Route, msg: Msg<'_>) -> bool {
    let Some(next) = path.id(1) else { return false };
    let Some(link) = m.link_to(&next) else { return false };
    for f in data_frames(m, path, msg) {
        m.send_data(link, f, msg.priority);
    }
    true
}

fn retransmit(m: &mut Mesh<'_>, r: Resend) {
    m.out.stats.retransmissions += 1;
    let msg = Msg {
        semantics: r.semantics,
        channel: r.channel,
        seq: r.seq,
        flags: r.flags,
        payload: &r.payload,
        group: r.group.as_deref(),
        priority: r.priority,
    };
    transmit_message(m, r.to, msg);
}
