//! Datagram links: link frames carried one per datagram to the peer's link
//! address, for networks where a stream per neighbour fits badly.
//!
//! A datagram link has no connection: the HELLO is the first datagram and is
//! repeated until a WELCOME or REJECT answers it; a repeated HELLO gets the
//! same WELCOME again. LSAs, which must reach every node, are acknowledged
//! with LSA_ACK and retransmitted until they are. Keepalive repeats an
//! unanswered ping (see [`keepalive`](super::keepalive)). End-to-end data
//! has its own acknowledgements and needs nothing here.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::Bytes;

use super::flood::{Batch, FloodQueue};
use super::keepalive::LSA_RXMT;
use super::output::{LinkCloseReason, LinkId};
use super::Node;
use crate::config::LinkMode;
use crate::time::Instant;
use crate::wire::link::{LsaAck, LsaKey};
use crate::wire::{Frame, LinkMessage, Message, NodeId};

/// LSAs retransmitted per link per timer run: a long backlog drains over
/// several runs instead of in one burst.
const RXMT_BATCH: usize = 64;

/// What a datagram link keeps that a stream link has no use for.
#[derive(Debug)]
pub(crate) struct DatagramLink {
    /// When HELLO was last sent, and the current gap before it is sent
    /// again.
    pub(crate) hello_at: Instant,
    pub(crate) hello_rto: Duration,
    /// LSAs sent and not yet acknowledged, latest per origin, each with
    /// when it was last sent; and when the next retransmission round is
    /// due.
    pub(crate) rxmt: BTreeMap<NodeId, (LsaKey, Bytes, Instant)>,
    pub(crate) rxmt_at: Option<Instant>,
    /// LSAs waiting for the flood bucket, latest per origin.
    pub(crate) flood: FloodQueue,
    /// LSAs received and not acknowledged yet.
    pub(crate) ack_keys: Vec<LsaKey>,
}

impl DatagramLink {
    pub(crate) fn new(now: Instant, hello_rto: Duration) -> Self {
        DatagramLink {
            hello_at: now,
            hello_rto,
            rxmt: BTreeMap::new(),
            rxmt_at: None,
            flood: FloodQueue::default(),
            ack_keys: Vec::new(),
        }
    }

    /// An LSA_ACK arrived: what it covers needs no retransmission.
    fn acknowledged(&mut self, ack: &LsaAck) {
        for k in ack.keys.iter() {
            if let Some((have, _, _)) = self.rxmt.get(&k.origin) {
                if (have.incarnation, have.sequence) <= (k.incarnation, k.sequence) {
                    self.rxmt.remove(&k.origin);
                }
            }
        }
        if self.rxmt.is_empty() {
            self.rxmt_at = None;
        }
    }
}

impl Node {
    /// A link frame arrived as a datagram from `from`.
    pub(super) fn on_link_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        frame: Frame,
        raw: Bytes,
    ) {
        if self.cfg.link_mode != LinkMode::Datagram {
            self.out.stats.dropped_unexpected += 1;
            return;
        }
        if let Message::Link(LinkMessage::Hello(h)) = &frame.message {
            if !self.hello_on_known_address(now, from, h.0.node_id, h.0.incarnation) {
                return;
            }
        }
        let link = match self.dgram_links.get(&from) {
            Some(&l) => l,
            None => {
                // Only a HELLO may open a link: nothing else from a stranger
                // is answered.
                if !matches!(frame.message, Message::Link(LinkMessage::Hello(_))) {
                    self.out.stats.dropped_unexpected += 1;
                    return;
                }
                if self.shutting_down || self.links.len() >= self.cfg.max_links * 2 {
                    self.out.stats.dropped_limit += 1;
                    return;
                }
                let id = self.alloc_link(now, from, false);
                self.dgram_links.insert(from, id);
                id
            }
        };
        // Records are opened, and clear frames on an encrypted link
        // dropped, before anything else sees them.
        if !self.screen_link_datagram(now, link, &frame) {
            return;
        }
        self.out.stats.frames_received += 1;
        self.on_link_frame(now, link, frame, raw);
    }

    /// A HELLO came from an address we already have a link with. Returns
    /// whether to go on and process it.
    ///
    /// - Both sides opened at once (our link is still in handshake): as for
    ///   stream links, the link opened by the smaller id wins. If that is
    ///   ours we drop their HELLO (they will answer ours); otherwise our
    ///   link becomes the incoming one and the HELLO is answered.
    /// - The link is up and the HELLO comes from a new instance, or from a
    ///   peer that lost our link: the old link is gone, a new one starts.
    /// - The link is up, incoming, same instance: our WELCOME was lost; the
    ///   link handler repeats it.
    fn hello_on_known_address(
        &mut self,
        now: Instant,
        from: SocketAddr,
        peer: NodeId,
        inc: u64,
    ) -> bool {
        let Some(&existing) = self.dgram_links.get(&from) else { return true };
        let Some(l) = self.links.get_mut(&existing) else { return true };
        let same = l.intro.as_ref().is_some_and(|i| i.node_id == peer && i.incarnation == inc);
        if !l.is_up() {
            if !l.outgoing {
                return true;
            }
            if self.id < peer {
                return false;
            }
            l.outgoing = false;
            return true;
        }
        if same && !l.outgoing {
            return true;
        }
        self.drop_link(now, existing, LinkCloseReason::Remote);
        true
    }

    /// Sends an LSA frame on a link. On a datagram link it goes through
    /// the flood bucket ([`flood`](super::flood)) and is kept for
    /// retransmission until acknowledged; a node shutting down sends its
    /// last LSA at once, before its links close.
    pub(super) fn send_lsa(&mut self, link: LinkId, key: LsaKey, data: Bytes) {
        let leaving = self.shutting_down;
        if let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()).filter(|_| !leaving)
        {
            // A newer instance supersedes the one awaiting its ACK.
            if d.rxmt.get(&key.origin).is_some_and(|(k, _, _)| {
                (k.incarnation, k.sequence) < (key.incarnation, key.sequence)
            }) {
                d.rxmt.remove(&key.origin);
            }
            self.queue_lsa(link, key, data);
            return;
        }
        self.send_link_bytes(link, data);
    }

    /// Acknowledges an LSA received on a datagram link (after
    /// `lsa_ack_delay`, together with the others received meanwhile).
    pub(super) fn ack_lsa(&mut self, now: Instant, link: LinkId, key: LsaKey) {
        if self.links.get(&link).is_some_and(|l| l.dgram().is_some()) {
            self.queue_lsa_ack(now, link, key);
        }
    }

    pub(super) fn on_lsa_ack(&mut self, link: LinkId, ack: LsaAck) {
        if let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) {
            d.acknowledged(&ack);
        }
    }

    pub(super) fn retransmit_lsas(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
        let batches = l.takes_batches();
        let encrypted = self.out.ciphers.contains_key(&link);
        let Some(l) = l.dgram_mut() else { return };
        match l.rxmt_at {
            Some(at) if at <= now => {}
            _ => return,
        }
        // Only what has waited a whole gap since it was last sent, so a
        // long backlog goes round instead of the same first entries again.
        let due: alloc::vec::Vec<NodeId> = l
            .rxmt
            .iter()
            .filter(|(_, (_, _, sent))| now - *sent >= LSA_RXMT)
            .map(|(origin, _)| *origin)
            .take(RXMT_BATCH)
            .collect();
        l.rxmt_at = if l.rxmt.is_empty() { None } else { Some(now + LSA_RXMT) };
        let mut due = due.into_iter().peekable();
        while due.peek().is_some() {
            // Retransmissions share the flood bucket, one token per
            // datagram; what it cannot take now waits for the next round.
            if !self.take_flood_token(now) {
                break;
            }
            let Some(l) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) else { return };
            let mut batch = Batch::new(batches, encrypted);
            while let Some(origin) = due.peek() {
                let Some(entry) = l.rxmt.get_mut(origin) else {
                    due.next();
                    continue;
                };
                if !batch.fits(entry.1.len()) {
                    break;
                }
                entry.2 = now;
                batch.push(entry.1.clone());
                due.next();
            }
            self.send_link_batch(link, &batch.frames);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::FixedList;

    fn key(o: u8, seq: u64) -> LsaKey {
        LsaKey { origin: NodeId([o; 16]), incarnation: 1, sequence: seq }
    }

    #[test]
    fn an_ack_clears_what_it_covers_and_no_more() {
        let t = Instant::ZERO;
        let mut d = DatagramLink::new(t, Duration::from_millis(250));
        for (o, seq) in [(1, 5), (2, 5), (3, 5)] {
            d.rxmt.insert(NodeId([o; 16]), (key(o, seq), Bytes::new(), t));
        }
        d.rxmt_at = Some(t + LSA_RXMT);
        // 1 acknowledged exactly, 2 by a newer instance, 3 only an older one.
        let keys = [key(1, 5), key(2, 6), key(3, 4)];
        d.acknowledged(&LsaAck { keys: FixedList::from_entries(keys.iter()) });
        assert_eq!(d.rxmt.keys().copied().collect::<Vec<_>>(), [NodeId([3; 16])]);
        assert!(d.rxmt_at.is_some(), "3 still waits");
        let keys = [key(3, 5)];
        d.acknowledged(&LsaAck { keys: FixedList::from_entries(keys.iter()) });
        assert!(d.rxmt.is_empty() && d.rxmt_at.is_none(), "nothing left to retransmit");
    }
}
