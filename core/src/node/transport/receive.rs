//! The receiving side: duplicate windows, in-order delivery, reassembly
//! under memory caps, and acknowledgements.

use alloc::string::String;
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use super::super::output::Event;
use super::forward::forward;
use super::{
    is_group_channel, is_message_channel, Mesh, RxChannel, Transport, ACK_RANGES, DEDUP_WINDOW,
    PING_CHANNEL, PONG_CHANNEL,
};
use crate::time::Instant;
use crate::wire::ext::EXT_CONGESTION_ECHO;
use crate::wire::link::{Ack, AckRange, BundleIter, Data, Route, Semantics, FLAG_BUNDLE, FLAG_SYN};
use crate::wire::{FixedList, Frame, LinkMessage, NodeId};

impl Transport {
    /// A DATA frame, for us or to pass on; `ce`: it carries a congestion
    /// mark.
    pub(in crate::node) fn on_data(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        d: Data,
        raw: Bytes,
        ce: bool,
    ) {
        // The path from the source to this node: ACKs go back along it.
        let to_me = if d.route.is_path() {
            if forward(m, &d.route, &raw, Some(&d)) {
                d.route.clone()
            } else {
                // A group's tree can have the shape of a path (a member on
                // the way to another): a member passes the frame on and
                // takes it too. The per-channel duplicate check absorbs the
                // copy a fallback per-member path brings it as well.
                let member =
                    d.group.as_ref().is_some_and(|g| g.is_empty() || m.groups.contains(&**g));
                let pos = d.route.position(&m.me).filter(|&p| p > 0);
                match pos.filter(|_| member).and_then(|p| d.route.path_to(p)) {
                    Some(path) => path,
                    None => return,
                }
            }
        } else {
            // A distribution tree: pass the unchanged frame to each child,
            // then take it ourselves if we are in the group.
            let Some(pos) = d.route.position(&m.me).filter(|&p| p > 0) else {
                m.out.stats.dropped_unexpected += 1;
                return;
            };
            let children: Vec<NodeId> =
                d.route.children(pos).filter_map(|c| d.route.id(c)).collect();
            for c in children {
                match m.link_to(&c) {
                    Some(link) => {
                        m.out.stats.forwarded += 1;
                        m.forward_data(link, raw.clone(), d.priority);
                    }
                    None => m.out.stats.dropped_no_route += 1,
                }
            }
            let member = d.group.as_ref().is_some_and(|g| g.is_empty() || m.groups.contains(&**g));
            if !member {
                return;
            }
            let Some(path) = d.route.path_to(pos) else { return };
            path
        };
        let from = d.route.origin();
        // Datagrams are not acknowledged, so their marks have no echo.
        if ce && d.semantics != Semantics::Datagram {
            self.ce_due.insert((from, d.channel));
        }
        if d.channel == PING_CHANNEL || d.channel == PONG_CHANNEL {
            self.on_ping_data(m, now, from, &d, &to_me);
            return;
        }
        if d.semantics == Semantics::Stream {
            self.on_stream_data(m, now, from, d, &to_me);
            return;
        }
        if d.flags & FLAG_BUNDLE == 0 {
            self.take(m, now, from, &d, &to_me);
            return;
        }
        if !is_message_channel(d.channel) {
            // Bundles are only ever sent on the plain message channels.
            m.out.stats.dropped_unexpected += 1;
            return;
        }
        if self.take_next_run(m, from, &d, &to_me) {
            return;
        }
        // Each message of the bundle is taken as if it had come alone,
        // with its own seq; only the first keeps the frame's SYN.
        let mut one = d;
        let (first, flags) = (one.seq, one.flags & FLAG_SYN);
        for (i, payload) in BundleIter::new(core::mem::take(&mut one.payload)).enumerate() {
            one.seq = first.saturating_add(i as u64);
            one.flags = if i == 0 { flags } else { 0 };
            one.frag_count = 1;
            one.msg_len = payload.len() as u32;
            one.payload = payload;
            self.take(m, now, from, &one, &to_me);
        }
    }

    /// The common case of a bundle, taken in one step: its messages are the
    /// next ones the channel expects, nothing is held above them, and the
    /// inbox has room for all. Returns `false`, having changed nothing, if
    /// that is not so; the caller then takes the messages one by one, with
    /// the same result this gives (each delivered in order, one ACK with
    /// the window left after the last).
    fn take_next_run(&mut self, m: &mut Mesh<'_>, from: NodeId, d: &Data, to_me: &Route) -> bool {
        let semantics = d.semantics;
        let ordered = matches!(semantics, Semantics::Reliable | Semantics::Sequenced);
        if !ordered || d.flags & FLAG_SYN != 0 || d.group.is_some() {
            return false;
        }
        let Some(rx) = self.rx.get_mut(&(from, d.channel)) else { return false };
        // Its entries are counted, not taken from the header, so that a
        // malformed bundle is taken exactly as the slow path would. The
        // frame's size bounds their bytes.
        let (count, bytes) = (BundleIter::new(d.payload.clone()).count(), d.payload.len());
        let room = self.inbox.len() + count <= m.cfg.inbox_messages
            && self.inbox.bytes().saturating_add(bytes) <= m.cfg.inbox_bytes;
        let in_reach = count <= 4 * m.cfg.send_window;
        if d.seq != rx.cumulative || !rx.above.is_empty() || !room || !in_reach {
            return false;
        }
        let mut taken = 0u64;
        for payload in BundleIter::new(d.payload.clone()) {
            taken += 1;
            self.inbox.push(Event::Message { from, group: None, semantics, payload });
        }
        rx.cumulative = rx.cumulative.saturating_add(taken);
        let window = self.inbox.window(m.cfg);
        self.send_ack(from, semantics, d.channel, window, to_me);
        true
    }

    /// A whole message or a fragment, for this node, from `from` (whose
    /// path to here is `to_me`): duplicates, order, the inbox and the ACK.
    fn take(&mut self, m: &mut Mesh<'_>, now: Instant, from: NodeId, d: &Data, to_me: &Route) {
        let key = (from, d.channel);
        let Some(message) = self.reassemble(m, now, &from, d) else {
            return;
        };
        let semantics = d.semantics;
        let group = d.group.as_ref().map(|g| String::from(&**g));
        let syn = d.flags & FLAG_SYN != 0 && semantics != Semantics::Datagram;
        if syn {
            if let Some(rx) = self.rx.get_mut(&key) {
                let freed = rx.resync(d.seq);
                self.release_reassembly(&from, freed);
            }
        }
        // A group's sequence started before we joined: begin where we came
        // in; a SYN restarts it where the sender says.
        let start = if syn || is_group_channel(d.channel) { d.seq } else { 0 };
        let rx = self
            .rx
            .entry(key)
            .or_insert_with(|| RxChannel { cumulative: start, ..RxChannel::default() });
        match semantics {
            Semantics::Datagram => {
                let fresh = if d.seq > rx.highest || rx.above.is_empty() {
                    rx.highest = rx.highest.max(d.seq);
                    rx.above.insert(d.seq)
                } else {
                    d.seq.saturating_add(DEDUP_WINDOW) > rx.highest && rx.above.insert(d.seq)
                };
                let floor = rx.highest.saturating_sub(DEDUP_WINDOW);
                while rx.above.first().is_some_and(|&s| s < floor) {
                    rx.above.pop_first();
                }
                if fresh {
                    if self.inbox.has_room(m.cfg, message.len()) {
                        self.push_event(
                            m,
                            Event::Message { from, group, semantics, payload: message },
                        );
                    } else {
                        m.out.stats.inbox_dropped += 1;
                    }
                }
            }
            Semantics::Reliable | Semantics::Sequenced => {
                // An honest sender keeps within its window of our cumulative
                // point; what is far beyond would only take memory (a
                // sender with a larger window resends it later).
                let ahead = rx.cumulative.saturating_add(4 * m.cfg.send_window as u64);
                if d.seq >= ahead {
                    m.out.stats.dropped_limit += 1;
                    return;
                }
                let new = d.seq >= rx.cumulative && !rx.above.contains(&d.seq);
                if new && !self.inbox.has_room(m.cfg, message.len()) {
                    // Not taken, not acknowledged: the sender resends it
                    // when the zero window of this ACK reopens.
                    m.out.stats.inbox_refused += 1;
                    self.inbox.refuse(from, d.channel, semantics, to_me);
                    self.send_ack(from, semantics, d.channel, 0, to_me);
                    return;
                }
                if new && d.seq == rx.cumulative && rx.above.is_empty() {
                    // The next one, with nothing held above it: the common
                    // case, delivered without touching the hold sets.
                    rx.cumulative = rx.cumulative.saturating_add(1);
                    self.push_event(m, Event::Message { from, group, semantics, payload: message });
                } else if new {
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
                        rx.cumulative = rx.cumulative.saturating_add(1);
                    }
                    for payload in ready {
                        self.push_event(
                            m,
                            Event::Message { from, group: group.clone(), semantics, payload },
                        );
                    }
                }
                let window = self.inbox.window(m.cfg);
                self.send_ack(from, semantics, d.channel, window, to_me);
            }
            Semantics::Stream => {}
        }
    }

    /// Collects fragments; returns the whole message once complete.
    fn reassemble(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        from: &NodeId,
        d: &Data,
    ) -> Option<Bytes> {
        if d.frag_count == 1 {
            return Some(d.payload.clone());
        }
        let key = (*from, d.channel);
        // A fragment of a message already delivered needs no buffer.
        if let Some(rx) = self.rx.get(&key) {
            if d.semantics != Semantics::Datagram
                && (d.seq < rx.cumulative || rx.above.contains(&d.seq))
            {
                // Delivered already: the caller's duplicate check only
                // re-acknowledges it, so any payload will do.
                return Some(Bytes::new());
            }
        }
        let per_peer = self.reasm_by_peer.get(from).copied().unwrap_or(0);
        let n = d.payload.len();
        if per_peer + n > m.cfg.reassembly_per_peer || self.reasm_total + n > m.cfg.reassembly_total
        {
            m.out.stats.dropped_limit += 1;
            return None;
        }
        let rx = self.rx.entry(key).or_default();
        let r = rx.reasm.entry(d.seq).or_default();
        if r.count != 0 && r.count != d.frag_count {
            return None;
        }
        r.count = d.frag_count;
        r.started.get_or_insert(now);
        if r.parts.insert(d.frag_index, d.payload.clone()).is_none() {
            r.bytes += n;
            *self.reasm_by_peer.entry(*from).or_default() += n;
            self.reasm_total += n;
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

    pub(super) fn release_reassembly(&mut self, from: &NodeId, bytes: usize) {
        if let Some(b) = self.reasm_by_peer.get_mut(from) {
            *b = b.saturating_sub(bytes);
            if *b == 0 {
                self.reasm_by_peer.remove(from);
            }
        }
        self.reasm_total = self.reasm_total.saturating_sub(bytes);
    }

    /// Acknowledges what has arrived on `(to, channel)`, offering `window`
    /// more messages, once the current input is handled: a read of many
    /// DATA frames is answered by one ACK per channel, not one per frame.
    pub(super) fn send_ack(
        &mut self,
        to: NodeId,
        semantics: Semantics,
        channel: u32,
        window: u32,
        data_route: &Route,
    ) {
        // Every frame of a read lands here: the entry is updated in place,
        // its route replaced only if the path changed.
        match self.ack_due.get_mut(&(to, channel)) {
            Some(due) => {
                due.0 = semantics;
                due.1 = window;
                if due.2 != *data_route {
                    due.2 = data_route.clone();
                }
            }
            None => {
                self.ack_due.insert((to, channel), (semantics, window, data_route.clone()));
            }
        }
    }

    /// Sends the ACKs the input just handled made due.
    pub(in crate::node) fn flush_acks(&mut self, m: &mut Mesh<'_>) {
        if self.ack_due.is_empty() {
            return;
        }
        for ((to, channel), (semantics, window, route)) in core::mem::take(&mut self.ack_due) {
            if let Some(back) = route.reversed_path() {
                self.send_ack_on(m, semantics, channel, window, back, to);
            }
        }
    }

    /// Acknowledges `(to, channel)` along `back` (this node first).
    pub(super) fn send_ack_on(
        &mut self,
        m: &mut Mesh<'_>,
        semantics: Semantics,
        channel: u32,
        window: u32,
        back: Route,
        to: NodeId,
    ) {
        let Some(rx) = self.rx.get(&(to, channel)) else { return };
        let mut ranges: SmallVec<[AckRange; ACK_RANGES]> = SmallVec::new();
        for &s in rx.above.iter() {
            let full = ranges.len() >= ACK_RANGES;
            match ranges.last_mut() {
                Some(r) if r.end == s => r.end = r.end.saturating_add(1),
                _ if full => break,
                _ => ranges.push(AckRange { start: s, end: s.saturating_add(1) }),
            }
        }
        let ack = Ack {
            semantics,
            channel,
            cumulative: rx.cumulative,
            window,
            route: back,
            ranges: FixedList::from_entries(ranges.iter()),
        };
        let Some(first) = ack.route.id(1) else { return };
        let Some(link) = m.link_to(&first) else { return };
        let mut frame = Frame::new(LinkMessage::Ack(ack));
        if self.ce_due.remove(&(to, channel)) {
            // Echo the mark (PROTOCOL 7.15); an ACK lost takes the echo with
            // it, and the marks that keep coming make up for it.
            frame.extensions = frame.extensions.with_flag(EXT_CONGESTION_ECHO).unwrap_or_default();
        }
        m.send_frame(link, frame);
    }

    /// Drops reassemblies older than the delivery timeout (housekeeping).
    pub(in crate::node) fn expire_reassembly(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let timeout = m.cfg.delivery_timeout;
        let mut freed: Vec<(NodeId, usize)> = Vec::new();
        for ((from, _), rx) in self.rx.iter_mut() {
            rx.reasm.retain(|_, r| {
                let keep = r.started.is_none_or(|t| now - t < timeout);
                if !keep {
                    freed.push((*from, r.bytes));
                }
                keep
            });
        }
        for (from, bytes) in freed {
            m.out.stats.dropped_limit += 1;
            self.release_reassembly(&from, bytes);
        }
    }
}
