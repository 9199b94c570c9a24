//! Datagram links: link frames carried one per datagram to the peer's link
//! address, for networks where a stream per neighbour fits badly.
//!
//! A datagram link has no connection: the HELLO is the first datagram and is
//! repeated until a WELCOME or REJECT answers it; a repeated HELLO gets the
//! same WELCOME again. LSAs, which must reach every node, are acknowledged
//! with LSA_ACK and retransmitted until they are. Keepalive repeats an
//! unanswered ping (see [`keepalive`](super::keepalive)). End-to-end data
//! has its own acknowledgements and needs nothing here.

use core::net::SocketAddr;

use bytes::Bytes;

use super::flood::Batch;
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
        if self.cfg.link_mode == LinkMode::Datagram && !self.shutting_down {
            let Some(l) = self.links.get_mut(&link) else { return };
            // A newer instance supersedes the one awaiting its ACK.
            if l.rxmt.get(&key.origin).is_some_and(|(k, _, _)| {
                (k.incarnation, k.sequence) < (key.incarnation, key.sequence)
            }) {
                l.rxmt.remove(&key.origin);
            }
            self.queue_lsa(link, key, data);
            return;
        }
        self.send_link_bytes(link, data);
    }

    /// Acknowledges an LSA received on a datagram link (after
    /// `lsa_ack_delay`, together with the others received meanwhile).
    pub(super) fn ack_lsa(&mut self, now: Instant, link: LinkId, key: LsaKey) {
        if self.cfg.link_mode != LinkMode::Datagram {
            return;
        }
        self.queue_lsa_ack(now, link, key);
    }

    pub(super) fn on_lsa_ack(&mut self, link: LinkId, ack: LsaAck) {
        let Some(l) = self.links.get_mut(&link) else { return };
        for k in ack.keys.iter() {
            if let Some((have, _, _)) = l.rxmt.get(&k.origin) {
                if (have.incarnation, have.sequence) <= (k.incarnation, k.sequence) {
                    l.rxmt.remove(&k.origin);
                }
            }
        }
        if l.rxmt.is_empty() {
            l.rxmt_at = None;
        }
    }

    pub(super) fn retransmit_lsas(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
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
        let batches = l.takes_batches();
        let mut due = due.into_iter().peekable();
        while due.peek().is_some() {
            // Retransmissions share the flood bucket, one token per
            // datagram; what it cannot take now waits for the next round.
            if !self.take_flood_token(now) {
                break;
            }
            let Some(l) = self.links.get_mut(&link) else { return };
            let mut batch = Batch::new(batches);
            while let Some(origin) = due.peek() {
                let Some(entry) = l.rxmt.get_mut(origin) else {
                    due.next();
                    continue;
                };
                if !batch.frames.is_empty() && batch.room().is_none_or(|r| entry.1.len() > r) {
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
