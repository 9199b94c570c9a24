//! Paced flooding on datagram links: how a node keeps its routing traffic
//! within what real sockets take.
//!
//! Every LSA a datagram link is to carry waits in that link's flood queue,
//! one per origin (a newer instance replaces an older one not yet sent, so
//! a burst of changes costs one datagram per origin, not one per change).
//! A node-wide token bucket releases them, round robin over the links: at
//! most `lsa_budget` LSA datagrams (first sends and retransmissions
//! together) in any 100 ms. LSA_ACKs wait `lsa_ack_delay` and leave
//! together, one datagram per link carrying every key received meanwhile.
//!
//! Stream links are not paced: TCP's own flow control does that.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;

use super::keepalive::LSA_RXMT;
use super::output::LinkId;
use super::timers::Timer;
use super::Node;
use crate::time::Instant;
use crate::wire::link::{LsaAck, LsaKey};
use crate::wire::{FixedList, LinkMessage, NodeId};

/// The bucket's refill period: the budget is per this much time.
const PERIOD: Duration = Duration::from_millis(100);
/// LSA keys one LSA_ACK carries at most (32 bytes each: one datagram of
/// about 1 KiB).
pub(super) const ACK_KEYS: usize = 32;
/// Bytes of LSAs that share one datagram, to a peer that takes batches:
/// with IPv6 and UDP headers (48 bytes) a batch fits the smallest MTU IPv6
/// allows (1,280), so it is never fragmented. A larger LSA goes alone. On
/// an encrypted link the record's 34 bytes come out of it (PROTOCOL 12).
pub(super) const BATCH_BYTES: usize = 1200;

/// One link's LSAs waiting for the bucket: the latest instance per origin,
/// served in the order the origins were queued (a newer instance keeps its
/// origin's place, so no origin waits more than one turn of the queue, and
/// none is always last).
#[derive(Debug, Default)]
pub(crate) struct FloodQueue {
    latest: BTreeMap<NodeId, (LsaKey, Bytes)>,
    order: VecDeque<NodeId>,
}

impl FloodQueue {
    pub(crate) fn is_empty(&self) -> bool {
        self.latest.is_empty()
    }

    fn len(&self) -> usize {
        self.latest.len()
    }

    fn contains(&self, origin: &NodeId) -> bool {
        self.latest.contains_key(origin)
    }

    /// Queues `key`'s LSA unless an instance at least as new is queued.
    fn push(&mut self, key: LsaKey, data: Bytes) {
        match self.latest.get_mut(&key.origin) {
            Some((k, d)) => {
                if (k.incarnation, k.sequence) <= (key.incarnation, key.sequence) {
                    *k = key;
                    *d = data;
                }
            }
            None => {
                self.latest.insert(key.origin, (key, data));
                self.order.push_back(key.origin);
            }
        }
    }

    fn pop(&mut self) -> Option<(LsaKey, Bytes)> {
        self.pop_within(usize::MAX)
    }

    /// The next LSA in turn if it is at most `room` bytes; it stays first
    /// in line otherwise.
    fn pop_within(&mut self, room: usize) -> Option<(LsaKey, Bytes)> {
        while let Some(origin) = self.order.front() {
            match self.latest.get(origin) {
                None => {
                    // Its entry left with an earlier pop of the same origin.
                    self.order.pop_front();
                }
                Some((_, d)) if d.len() > room => return None,
                Some(_) => {
                    let origin = self.order.pop_front()?;
                    return self.latest.remove(&origin);
                }
            }
        }
        None
    }
}

/// The LSA frames that leave in one datagram: just one unless the peer
/// takes batches, then as many as fit in [`BATCH_BYTES`].
pub(super) struct Batch {
    pub(super) frames: Vec<Bytes>,
    bytes: usize,
    batches: bool,
    limit: usize,
}

impl Batch {
    /// A batch for a link whose peer takes `batches`; on an `encrypted`
    /// link the frames leave room for the record around them.
    pub(super) fn new(batches: bool, encrypted: bool) -> Self {
        let overhead = if encrypted { crate::wire::link::SEALED_OVERHEAD } else { 0 };
        Batch { frames: Vec::new(), bytes: 0, batches, limit: BATCH_BYTES - overhead }
    }

    pub(super) fn push(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push(frame);
    }

    /// A frame of `len` bytes may join: the batch is empty, or it fits.
    pub(super) fn fits(&self, len: usize) -> bool {
        self.frames.is_empty() || self.room().is_some_and(|r| len <= r)
    }

    /// Bytes another frame may have to join, or `None` if none may.
    pub(super) fn room(&self) -> Option<usize> {
        let room = self.limit.saturating_sub(self.bytes);
        (self.batches && room > 0).then_some(room)
    }
}

/// A token bucket in thousandths of a token, so that refills of a few
/// microseconds are not lost to rounding.
#[derive(Debug, Default)]
pub(crate) struct Pacer {
    milli: u64,
    refilled: Option<Instant>,
    /// The link served last, so that the next round starts after it.
    cursor: Option<LinkId>,
    /// LSAs were queued during the current input.
    queued: bool,
}

impl Pacer {
    /// Half the budget as the burst and half as the rate per period: no
    /// 100 ms window, aligned or not, sees more than the budget.
    fn refill(&mut self, now: Instant, budget: u32) {
        let half = u64::from(budget / 2) * 1000;
        let add = match self.refilled {
            None => half,
            Some(t) => {
                let us = u64::try_from((now - t).as_micros()).unwrap_or(u64::MAX);
                us.saturating_mul(half) / PERIOD.as_micros() as u64
            }
        };
        self.milli = self.milli.saturating_add(add).min(half);
        self.refilled = Some(now);
    }

    fn take(&mut self) -> bool {
        if self.milli >= 1000 {
            self.milli -= 1000;
            true
        } else {
            false
        }
    }

    /// When the next token is there.
    fn next_token(&self, now: Instant, budget: u32) -> Instant {
        let half = u64::from(budget / 2) * 1000;
        let missing = 1000u64.saturating_sub(self.milli);
        // `lsa_budget` is at least 2 (validated), so `half` is never zero.
        let us = missing.saturating_mul(PERIOD.as_micros() as u64).div_ceil(half);
        now + Duration::from_micros(us.max(1))
    }
}

impl Node {
    /// Queues an encoded LSA for `link` (datagram links): it replaces a
    /// queued older instance of the same origin, and goes when the bucket
    /// allows.
    pub(super) fn queue_lsa(&mut self, link: LinkId, key: LsaKey, data: Bytes) {
        let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) else { return };
        if d.flood.len() >= self.cfg.max_peers && !d.flood.contains(&key.origin) {
            self.out.stats.dropped_limit += 1;
            return;
        }
        d.flood.push(key, data);
        // Sent once the input that queued it is handled: a flood queues on
        // every link first, then the bucket serves them in turn.
        self.pacer.queued = true;
    }

    /// Runs the bucket if the input just handled queued LSAs.
    pub(super) fn pace_if_queued(&mut self, now: Instant) {
        if self.pacer.queued {
            self.pacer.queued = false;
            self.pace_floods(now);
        }
    }

    /// Sends queued LSAs while the bucket has tokens, one link after the
    /// other; arms the flood timer for the rest.
    pub(super) fn pace_floods(&mut self, now: Instant) {
        let budget = self.cfg.lsa_budget;
        self.pacer.refill(now, budget);
        if self.pacer.milli < 1000 {
            let at = self.pacer.next_token(now, budget);
            self.out.timers.set_earliest(Timer::Flood, at);
            return;
        }
        let mut links: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.dgram().is_some_and(|d| !d.flood.is_empty()))
            .map(|(id, _)| *id)
            .collect();
        if links.is_empty() {
            return;
        }
        // Round robin: start after the link served last.
        if let Some(c) = self.pacer.cursor {
            let split = links.partition_point(|l| *l <= c);
            links.rotate_left(split);
        }
        let mut progress = true;
        while progress {
            progress = false;
            for &link in &links {
                if !self.pacer.take() {
                    let at = self.pacer.next_token(now, budget);
                    self.out.timers.set_earliest(Timer::Flood, at);
                    return;
                }
                let encrypted = self.out.ciphers.contains_key(&link);
                let Some(l) = self.links.get_mut(&link) else { continue };
                let batches = l.takes_batches();
                let Some(l) = l.dgram_mut() else { continue };
                let Some(first) = l.flood.pop() else {
                    // Nothing for this link after all: give the token back.
                    self.pacer.milli += 1000;
                    continue;
                };
                progress = true;
                self.pacer.cursor = Some(link);
                let mut batch = Batch::new(batches, encrypted);
                let mut next = Some(first);
                while let Some((key, data)) = next {
                    batch.push(data.clone());
                    l.rxmt.insert(key.origin, (key, data, now));
                    next = batch.room().and_then(|room| l.flood.pop_within(room));
                }
                if l.rxmt_at.is_none() {
                    l.rxmt_at = Some(now + LSA_RXMT);
                    self.arm_keepalive(now, link);
                }
                self.send_link_batch(link, &batch.frames);
            }
        }
    }

    /// Takes a token for one LSA retransmission; false if the bucket is
    /// empty (the LSA waits for the next retransmission round).
    pub(super) fn take_flood_token(&mut self, now: Instant) -> bool {
        self.pacer.refill(now, self.cfg.lsa_budget);
        self.pacer.take()
    }

    /// Notes an LSA to acknowledge on `link`; the keys leave together after
    /// `lsa_ack_delay`.
    pub(super) fn queue_lsa_ack(&mut self, now: Instant, link: LinkId, key: LsaKey) {
        let Some(d) = self.links.get(&link).and_then(|l| l.dgram()) else { return };
        if d.ack_keys.len() >= ACK_KEYS * 4 {
            // Far behind: send what is there now rather than hold more.
            self.flush_lsa_acks_of(link);
        }
        let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) else { return };
        d.ack_keys.push(key);
        self.out.timers.set_earliest(Timer::LsaAck, now + self.cfg.lsa_ack_delay);
    }

    /// Sends every link's pending LSA_ACKs.
    pub(super) fn on_lsa_ack_timer(&mut self, _now: Instant) {
        let due: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.dgram().is_some_and(|d| !d.ack_keys.is_empty()))
            .map(|(id, _)| *id)
            .collect();
        for link in due {
            self.flush_lsa_acks_of(link);
        }
    }

    fn flush_lsa_acks_of(&mut self, link: LinkId) {
        let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) else { return };
        let mut keys = core::mem::take(&mut d.ack_keys);
        keys.sort_by_key(|k| (k.origin, k.incarnation, k.sequence));
        keys.dedup();
        for chunk in keys.chunks(ACK_KEYS) {
            let ack = LsaAck { keys: FixedList::from_entries(chunk.iter()) };
            self.send_link(link, LinkMessage::LsaAck(ack));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_window_of_one_period_passes_the_budget() {
        let budget = 100;
        let mut p = Pacer::default();
        let start = Instant::ZERO;
        // Take every token as soon as it exists, for ten periods, and
        // count what each sliding 100 ms window saw.
        let mut sent: Vec<Instant> = Vec::new();
        let mut now = start;
        while now < start + PERIOD * 10 {
            p.refill(now, budget);
            while p.take() {
                sent.push(now);
            }
            now = p.next_token(now, budget);
        }
        let most = sent
            .iter()
            .map(|&t| sent.iter().filter(|&&s| s >= t && s < t + PERIOD).count())
            .max()
            .unwrap_or(0);
        assert!(most <= budget as usize, "{most} in one window");
        // And the rate is the budget's half per period after the burst.
        assert!(sent.len() >= (budget as usize / 2) * 10, "only {} sent", sent.len());
    }

    #[test]
    fn the_queue_keeps_one_instance_per_origin_in_arrival_order() {
        let key =
            |o: u8, seq: u64| LsaKey { origin: NodeId([o; 16]), incarnation: 1, sequence: seq };
        let mut q = FloodQueue::default();
        q.push(key(9, 1), Bytes::from_static(b"9.1"));
        q.push(key(1, 1), Bytes::from_static(b"1.1"));
        q.push(key(9, 3), Bytes::from_static(b"9.3"));
        q.push(key(9, 2), Bytes::from_static(b"9.2 (older, ignored)"));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().map(|(_, d)| d), Some(Bytes::from_static(b"9.3")), "first queued first");
        assert_eq!(q.pop().map(|(_, d)| d), Some(Bytes::from_static(b"1.1")));
        assert!(q.pop().is_none() && q.is_empty());
    }

    #[test]
    fn the_next_token_is_in_the_future() {
        let mut p = Pacer::default();
        p.refill(Instant::ZERO, 10);
        while p.take() {}
        assert!(p.next_token(Instant::ZERO, 10) > Instant::ZERO);
    }
}
