//! Discovery on the segment: beacons, SEARCH answered by NOTIFY, and the
//! candidate table they feed.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;
use core::time::Duration;

use super::output::{DatagramSource, DatagramTarget, Transmit};
use super::timers::Timer;
use super::Node;
use crate::config::Config;
use crate::time::Instant;
use crate::wire::discovery::{Announce, Beacon, Notify, Search};
use crate::wire::{cluster_hash, DiscoveryMessage, Frame, NodeId, NodeState};

/// A node heard through discovery (or a seed link) that we may link to.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// Its link address, with an unspecified IP resolved to the source.
    pub(crate) addr: SocketAddr,
    /// Its incarnation when last heard.
    pub(crate) incarnation: u64,
    /// When we last heard it.
    pub(crate) last_heard: Instant,
}

pub(crate) struct Discovery {
    cluster_hash: u64,
    sequence: u32,
    /// NOTIFY rate limiter, in thousandths of a token.
    notify_tokens: u64,
    notify_refilled: Instant,
    /// Pending NOTIFY answers by due time (with a tie-breaking counter).
    pending_notify: BTreeMap<(Instant, u64), SocketAddr>,
    pending_counter: u64,
    pub(crate) candidates: BTreeMap<NodeId, Candidate>,
}

/// NOTIFYs pending at once; more SEARCHes are simply not answered.
const MAX_PENDING_NOTIFY: usize = 256;

impl Discovery {
    pub(crate) fn new(cfg: &Config, now: Instant) -> Self {
        Discovery {
            cluster_hash: cluster_hash(&cfg.cluster),
            sequence: 0,
            notify_tokens: u64::from(cfg.notify_burst) * 1000,
            notify_refilled: now,
            pending_notify: BTreeMap::new(),
            pending_counter: 0,
            candidates: BTreeMap::new(),
        }
    }

    fn take_notify_token(&mut self, cfg: &Config, now: Instant) -> bool {
        let elapsed_ms = (now - self.notify_refilled).as_millis() as u64;
        self.notify_refilled = now;
        let cap = u64::from(cfg.notify_burst) * 1000;
        self.notify_tokens = (self.notify_tokens
            + elapsed_ms.saturating_mul(u64::from(cfg.notify_per_sec)))
        .min(cap);
        if self.notify_tokens >= 1000 {
            self.notify_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

impl Node {
    fn announce(&mut self, interval: Duration) -> Announce {
        self.discovery.sequence = self.discovery.sequence.wrapping_add(1);
        Announce {
            node_id: self.id,
            cluster_hash: self.discovery.cluster_hash,
            incarnation: self.cfg.incarnation,
            sequence: self.discovery.sequence,
            interval_ms: interval.as_millis().min(u32::MAX as u128) as u32,
            peer_count: self.segment_size().min(u16::MAX as usize) as u16,
            state: self.state,
            link_addr: self.cfg.link_addr,
            ranges: self.cfg.versions.clone(),
        }
    }

    /// Nodes we believe share the segment: the ones we hear. Candidates
    /// live for `candidate_ttl`, several of the longest beacon gaps, so the
    /// count holds steady between beacons.
    fn segment_size(&self) -> usize {
        self.discovery.candidates.len()
    }

    /// The gap to the next beacon: spread so that the whole segment sends
    /// about `beacon_rx_per_sec` beacons per second in all.
    fn beacon_interval(&self) -> Duration {
        let n = self.segment_size() as u64 + 1;
        let rate = u64::from(self.cfg.beacon_rx_per_sec.max(1));
        let gap = Duration::from_millis(n * 1000 / rate);
        gap.clamp(self.cfg.beacon_min_interval, self.cfg.beacon_max_interval)
    }

    pub(super) fn send_beacon(&mut self, now: Instant) {
        let interval = if self.shutting_down { Duration::ZERO } else { self.beacon_interval() };
        let a = self.announce(interval);
        let _ = now;
        self.send_datagram(DatagramTarget::Beacon, DiscoveryMessage::Beacon(Beacon(a)));
    }

    pub(super) fn send_search(&mut self, _now: Instant) {
        let a = self.announce(Duration::ZERO);
        self.send_datagram(DatagramTarget::Beacon, DiscoveryMessage::Search(Search(a)));
    }

    pub(super) fn send_datagram(&mut self, to: DatagramTarget, msg: DiscoveryMessage) {
        match Frame::new(msg).to_bytes() {
            Ok(data) => {
                self.out.stats.datagrams_sent += 1;
                self.out.stats.datagram_bytes_sent += data.len() as u64;
                self.out.transmits.push_back(Transmit::Datagram { to, data });
            }
            // Only an oversized field could fail, and every field is ours
            // and bounded by the configuration checks.
            Err(_) => self.out.stats.dropped_limit += 1,
        }
    }

    pub(super) fn on_beacon_timer(&mut self, now: Instant) {
        if self.shutting_down || !self.cfg.beacons {
            return;
        }
        self.send_beacon(now);
        let interval = self.beacon_interval();
        let j = self.cfg.beacon_jitter.clamp(0.0, 1.0);
        // Gap in [interval * (1 - j), interval]: never later than the
        // `interval_ms` the beacon promised.
        let spread = (interval.as_micros() as f32 * j) as u64;
        let cut = if spread == 0 { 0 } else { self.next_random() % (spread + 1) };
        let gap = interval.saturating_sub(Duration::from_micros(cut));
        self.out.timers.set(Timer::Beacon, now + gap);
    }

    pub(super) fn on_notify_timer(&mut self, now: Instant) {
        while let Some((&(at, n), _)) = self.discovery.pending_notify.first_key_value() {
            if at > now {
                self.out.timers.set(Timer::Notify, at);
                return;
            }
            let Some(to) = self.discovery.pending_notify.remove(&(at, n)) else {
                break;
            };
            if self.shutting_down {
                continue;
            }
            let a = self.announce(Duration::ZERO);
            self.send_datagram(DatagramTarget::Unicast(to), DiscoveryMessage::Notify(Notify(a)));
        }
    }

    pub(super) fn on_discovery(
        &mut self,
        now: Instant,
        from: SocketAddr,
        _source: DatagramSource,
        msg: DiscoveryMessage,
    ) {
        let a = msg.announce();
        if a.node_id == self.id {
            self.out.stats.dropped_own += 1;
            return;
        }
        if a.cluster_hash != self.discovery.cluster_hash {
            self.out.stats.dropped_other_cluster += 1;
            return;
        }
        let (id, incarnation) = (a.node_id, a.incarnation);
        if a.state == NodeState::Exit {
            self.discovery.candidates.remove(&id);
            self.peer_departed(now, id, incarnation);
            return;
        }
        if self.membership.is_departed(&id, incarnation) {
            // A late datagram from an instance that already left.
            return;
        }
        let mut addr = super::resolve_addr(a.link_addr, from);
        // A node whose beacon offers no common link version is still tried
        // once: its REJECT lets both sides report the mismatch.
        let known = self.discovery.candidates.get(&id).map(|c| (c.incarnation, c.addr));
        // A dual-stack node is heard on both families, each beacon naming
        // the address of its own: keep the one first heard rather than
        // flip at every beacon, unless links to it keep failing.
        if let Some((inc, old)) = known {
            if inc == incarnation && old.is_ipv4() != addr.is_ipv4() && !self.overlay_failing(&id) {
                addr = old;
            }
        }
        if known.is_none() && self.discovery.candidates.len() >= self.cfg.max_peers {
            self.out.stats.dropped_limit += 1;
        } else {
            self.discovery.candidates.insert(id, Candidate { addr, incarnation, last_heard: now });
            if known != Some((incarnation, addr)) {
                self.overlay_changed(now);
            }
            self.overlay_heard(now, id);
        }
        if let DiscoveryMessage::Search(_) = msg {
            self.answer_search(now, from);
        }
    }

    fn answer_search(&mut self, now: Instant, from: SocketAddr) {
        if self.shutting_down {
            return;
        }
        if self.discovery.pending_notify.len() >= MAX_PENDING_NOTIFY
            || !self.discovery.take_notify_token(&self.cfg, now)
        {
            self.out.stats.notify_suppressed += 1;
            return;
        }
        let at = now + self.random_delay(self.cfg.notify_max_delay);
        self.discovery.pending_counter += 1;
        self.discovery.pending_notify.insert((at, self.discovery.pending_counter), from);
        self.out.timers.set_earliest(Timer::Notify, at);
    }

    /// Drops candidates not heard for `candidate_ttl`.
    pub(super) fn expire_candidates(&mut self, now: Instant) {
        let ttl = self.cfg.candidate_ttl;
        let before = self.discovery.candidates.len();
        self.discovery.candidates.retain(|_, c| now - c.last_heard < ttl);
        if self.discovery.candidates.len() != before {
            self.overlay_changed(now);
        }
    }
}
