//! Counters: what the node sent, received and dropped, by kind.

use core::fmt;

/// Counters of one node. Every drop is counted under its reason, so a flood
/// of bad input is visible without being logged frame by frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to the driver.
    pub datagrams_sent: u64,
    /// Bytes in those datagrams.
    pub datagram_bytes_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Bytes in those datagrams.
    pub datagram_bytes_received: u64,
    /// Link frames written.
    pub frames_sent: u64,
    /// Bytes in those frames.
    pub frame_bytes_sent: u64,
    /// Link frames received.
    pub frames_received: u64,
    /// Bytes in those frames.
    pub frame_bytes_received: u64,
    /// Inputs that failed to decode.
    pub dropped_malformed: u64,
    /// Frames of a sub-protocol version we do not speak.
    pub dropped_version: u64,
    /// Beacons of another cluster.
    pub dropped_other_cluster: u64,
    /// Our own beacons looped back.
    pub dropped_own: u64,
    /// Messages that made no sense where they arrived (wrong sub-protocol
    /// for the socket, handshake message on an up link...).
    pub dropped_unexpected: u64,
    /// Inputs dropped because a configured bound was reached (peers, links,
    /// groups, buffers).
    pub dropped_limit: u64,
    /// DATA frames dropped because the queue of the link they were to
    /// leave on was full (forwarded data, or retransmissions; the source
    /// retransmits).
    pub dropped_queue_full: u64,
    /// DATA frames this node marked congestion-experienced because their
    /// link's queue had passed its marking threshold.
    pub data_marked: u64,
    /// SEARCHes not answered because the NOTIFY rate limit was reached.
    pub notify_suppressed: u64,
    /// Links opened (both directions).
    pub links_opened: u64,
    /// Links refused by us.
    pub links_rejected: u64,
    /// Links closed after `count` silent keepalive intervals.
    pub keepalive_timeouts: u64,
    /// LSAs originated.
    pub lsa_originated: u64,
    /// LSAs received that were new.
    pub lsa_accepted: u64,
    /// LSAs received that were duplicates or stale.
    pub lsa_ignored: u64,
    /// SPF runs.
    pub spf_runs: u64,
    /// DATA, ACK and ROUTE_ERROR frames passed on to the next hop.
    pub forwarded: u64,
    /// Frames that could not be forwarded: the next hop had no link.
    pub dropped_no_route: u64,
    /// End-to-end retransmissions.
    pub retransmissions: u64,
    /// Reliable and sequenced messages refused (unacknowledged, resent
    /// later by their source) because the inbox was full: the application
    /// reads slower than its peers send.
    pub inbox_refused: u64,
    /// Datagram-semantics messages dropped because the inbox was full.
    pub inbox_dropped: u64,
    /// Datagrams sent that carried several link frames (a batch, on
    /// datagram links to a peer that takes them).
    pub batches_sent: u64,
    /// Datagrams received that carried several link frames.
    pub batches_received: u64,
    /// Discovery frames dropped by a node with a keyring because their
    /// authentication tag was missing, named no known key or did not
    /// verify. Never answered.
    pub auth_failed: u64,
    /// Discovery frames dropped by a node with a keyring because they were
    /// authentic but not fresh: a replay counter not above the sender's
    /// last, or an older incarnation. Never answered.
    pub replayed: u64,
    /// Link handshakes that failed authentication (a wrong or missing
    /// cluster key, a forged or replayed Noise message): each ends its
    /// link with REJECT AUTH.
    pub link_auth_failed: u64,
    /// Records (SEALED) on an encrypted link that did not authenticate.
    /// On a stream link each also closes the link.
    pub sealed_forged: u64,
    /// Records on an encrypted link whose nonce was used already, too old
    /// for the datagram replay window, or (stream links) not the next
    /// one.
    pub sealed_replayed: u64,
    /// Clear frames received on an encrypted link (other than the
    /// handshake's own repeats on datagram links): dropped.
    pub dropped_clear: u64,
}

impl Stats {
    /// Every counter with its name, for tools and the admin protocol.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("datagrams_sent", self.datagrams_sent),
            ("datagram_bytes_sent", self.datagram_bytes_sent),
            ("datagrams_received", self.datagrams_received),
            ("datagram_bytes_received", self.datagram_bytes_received),
            ("frames_sent", self.frames_sent),
            ("frame_bytes_sent", self.frame_bytes_sent),
            ("frames_received", self.frames_received),
            ("frame_bytes_received", self.frame_bytes_received),
            ("dropped_malformed", self.dropped_malformed),
            ("dropped_version", self.dropped_version),
            ("dropped_other_cluster", self.dropped_other_cluster),
            ("dropped_own", self.dropped_own),
            ("dropped_unexpected", self.dropped_unexpected),
            ("dropped_limit", self.dropped_limit),
            ("dropped_queue_full", self.dropped_queue_full),
            ("data_marked", self.data_marked),
            ("notify_suppressed", self.notify_suppressed),
            ("links_opened", self.links_opened),
            ("links_rejected", self.links_rejected),
            ("keepalive_timeouts", self.keepalive_timeouts),
            ("lsa_originated", self.lsa_originated),
            ("lsa_accepted", self.lsa_accepted),
            ("lsa_ignored", self.lsa_ignored),
            ("spf_runs", self.spf_runs),
            ("forwarded", self.forwarded),
            ("dropped_no_route", self.dropped_no_route),
            ("retransmissions", self.retransmissions),
            ("inbox_refused", self.inbox_refused),
            ("inbox_dropped", self.inbox_dropped),
            ("batches_sent", self.batches_sent),
            ("batches_received", self.batches_received),
            ("auth_failed", self.auth_failed),
            ("replayed", self.replayed),
            ("link_auth_failed", self.link_auth_failed),
            ("sealed_forged", self.sealed_forged),
            ("sealed_replayed", self.sealed_replayed),
            ("dropped_clear", self.dropped_clear),
        ]
        .into_iter()
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, value) in self.iter() {
            writeln!(f, "{name} {value}")?;
        }
        Ok(())
    }
}
