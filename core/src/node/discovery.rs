//! Discovery on the segment: beacons, SEARCH answered by NOTIFY, and the
//! candidate table they feed.
//!
//! [`Discovery`] owns all of it. The node hands it what it needs per call
//! (the configuration, `now`, what the node says of itself, randomness and
//! the output queues) and acts on what it returns ([`Heard`]): membership
//! and the overlay are not discovery's business.

use alloc::collections::BTreeMap;
use core::net::SocketAddr;
use core::time::Duration;

use super::output::{DatagramTarget, Outputs, Transmit};
use super::random::Random;
use super::timers::Timer;
use super::Node;
use crate::auth::{self, ReplayTable};
use crate::config::Config;
use crate::time::Instant;
use crate::wire::discovery::{Announce, Beacon, Notify, Search};
use crate::wire::{cluster_hash, DiscoveryMessage, Extensions, Frame, NodeId, NodeState};

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

/// What the node says of itself that discovery does not keep: its state
/// and the link address it advertises, both of which change under it.
pub(crate) struct Me {
    pub(crate) state: NodeState,
    pub(crate) link_addr: SocketAddr,
}

/// What an announcement means beyond the candidate table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Heard {
    /// Nothing for the node: our own or another cluster's (counted), from
    /// an instance that already left, or left out of a full table
    /// (counted; a SEARCH is answered all the same).
    Nothing,
    /// The node is leaving (state EXIT): its candidate is gone.
    Leaving { id: NodeId, incarnation: u64 },
    /// A node heard and kept; `changed` when its candidate is new or moved
    /// (a new incarnation or address).
    Candidate { id: NodeId, changed: bool },
}

pub(crate) struct Discovery {
    id: NodeId,
    cluster_hash: u64,
    sequence: u32,
    /// NOTIFY rate limiter, in thousandths of a token.
    notify_tokens: u64,
    notify_refilled: Instant,
    /// Pending NOTIFY answers by due time (with a tie-breaking counter).
    pending_notify: BTreeMap<(Instant, u64), SocketAddr>,
    pending_counter: u64,
    pub(crate) candidates: BTreeMap<NodeId, Candidate>,
    /// The REPLAY_COUNTER of the last frame sent with a keyring: counts
    /// from 1 in each incarnation (each `Node`), so it needs no randomness
    /// and no clock, and peers take a new incarnation's counters afresh.
    replay_counter: u64,
    /// Freshness of what authenticated senders sent (keyring only).
    replay: ReplayTable,
}

/// NOTIFYs pending at once; more SEARCHes are simply not answered.
const MAX_PENDING_NOTIFY: usize = 256;

impl Discovery {
    pub(crate) fn new(cfg: &Config, id: NodeId, now: Instant) -> Self {
        Discovery {
            id,
            cluster_hash: cluster_hash(&cfg.cluster),
            sequence: 0,
            notify_tokens: u64::from(cfg.notify_burst) * 1000,
            notify_refilled: now,
            pending_notify: BTreeMap::new(),
            pending_counter: 0,
            candidates: BTreeMap::new(),
            replay_counter: 0,
            replay: ReplayTable::default(),
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

    fn announce(&mut self, cfg: &Config, me: &Me, interval: Duration) -> Announce {
        self.sequence = self.sequence.wrapping_add(1);
        Announce {
            node_id: self.id,
            cluster_hash: self.cluster_hash,
            incarnation: cfg.incarnation,
            sequence: self.sequence,
            interval_ms: interval.as_millis().min(u32::MAX as u128) as u32,
            peer_count: self.segment_size().min(u16::MAX as usize) as u16,
            state: me.state,
            link_addr: me.link_addr,
            ranges: cfg.versions.clone(),
        }
    }

    /// Nodes we believe share the segment: the ones we hear. Candidates
    /// live for `candidate_ttl`, several of the longest beacon gaps, so the
    /// count holds steady between beacons.
    fn segment_size(&self) -> usize {
        self.candidates.len()
    }

    /// The gap to the next beacon: spread so that the whole segment sends
    /// about `beacon_rx_per_sec` beacons per second in all.
    fn beacon_interval(&self, cfg: &Config) -> Duration {
        let n = self.segment_size() as u64 + 1;
        let rate = u64::from(cfg.beacon_rx_per_sec);
        let gap = Duration::from_millis(n * 1000 / rate);
        gap.clamp(cfg.beacon_min_interval, cfg.beacon_max_interval)
    }

    /// Sends a beacon now. A node leaving says so with interval 0 (and its
    /// state EXIT).
    pub(crate) fn send_beacon(&mut self, cfg: &Config, me: &Me, leaving: bool, out: &mut Outputs) {
        let interval = if leaving { Duration::ZERO } else { self.beacon_interval(cfg) };
        let a = self.announce(cfg, me, interval);
        self.send(cfg, out, DatagramTarget::Beacon, DiscoveryMessage::Beacon(Beacon(a)));
    }

    pub(crate) fn send_search(&mut self, cfg: &Config, me: &Me, out: &mut Outputs) {
        let a = self.announce(cfg, me, Duration::ZERO);
        self.send(cfg, out, DatagramTarget::Beacon, DiscoveryMessage::Search(Search(a)));
    }

    /// The beacon timer fired: beacon, and arm the next one.
    pub(crate) fn on_beacon_timer(
        &mut self,
        cfg: &Config,
        now: Instant,
        me: &Me,
        rng: &mut Random,
        out: &mut Outputs,
    ) {
        self.send_beacon(cfg, me, false, out);
        let interval = self.beacon_interval(cfg);
        let j = cfg.beacon_jitter;
        // Gap in [interval * (1 - j), interval]: never later than the
        // `interval_ms` the beacon promised.
        let spread = (interval.as_micros() as f32 * j) as u64;
        let cut = if spread == 0 { 0 } else { rng.next_u64() % (spread + 1) };
        let gap = interval.saturating_sub(Duration::from_micros(cut));
        out.timers.set(Timer::Beacon, now + gap);
    }

    /// Sends the NOTIFYs due by `now` (none while `leaving`: those are
    /// dropped) and arms the timer for the next.
    pub(crate) fn on_notify_timer(
        &mut self,
        cfg: &Config,
        now: Instant,
        me: &Me,
        leaving: bool,
        out: &mut Outputs,
    ) {
        while let Some((&(at, n), _)) = self.pending_notify.first_key_value() {
            if at > now {
                out.timers.set(Timer::Notify, at);
                return;
            }
            let Some(to) = self.pending_notify.remove(&(at, n)) else {
                break;
            };
            if leaving {
                continue;
            }
            let a = self.announce(cfg, me, Duration::ZERO);
            let notify = DiscoveryMessage::Notify(Notify(a));
            self.send(cfg, out, DatagramTarget::Unicast(to), notify);
        }
    }

    /// A BEACON, SEARCH or NOTIFY arrived from `from`. `departed`: the
    /// membership has seen this instance leave. `failing`: links to the
    /// node keep failing, so a dual-stack node's other family may be
    /// tried. A SEARCH is answered unless `leaving`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn on_announce(
        &mut self,
        cfg: &Config,
        now: Instant,
        from: SocketAddr,
        msg: &DiscoveryMessage,
        (departed, failing, leaving): (bool, bool, bool),
        rng: &mut Random,
        out: &mut Outputs,
    ) -> Heard {
        let a = msg.announce();
        if a.node_id == self.id {
            out.stats.dropped_own += 1;
            return Heard::Nothing;
        }
        if a.cluster_hash != self.cluster_hash {
            out.stats.dropped_other_cluster += 1;
            return Heard::Nothing;
        }
        let (id, incarnation) = (a.node_id, a.incarnation);
        if a.state == NodeState::Exit {
            self.candidates.remove(&id);
            return Heard::Leaving { id, incarnation };
        }
        if departed {
            // A late datagram from an instance that already left.
            return Heard::Nothing;
        }
        let mut addr = super::resolve_addr(a.link_addr, from);
        // A node whose beacon offers no common link version is still tried
        // once: its REJECT lets both sides report the mismatch.
        let known = self.candidates.get(&id).map(|c| (c.incarnation, c.addr));
        // A dual-stack node is heard on both families, each beacon naming
        // the address of its own: keep the one first heard rather than
        // flip at every beacon, unless links to it keep failing.
        if let Some((inc, old)) = known {
            if inc == incarnation && old.is_ipv4() != addr.is_ipv4() && !failing {
                addr = old;
            }
        }
        let heard = if known.is_none() && self.candidates.len() >= cfg.max_peers {
            out.stats.dropped_limit += 1;
            Heard::Nothing
        } else {
            self.candidates.insert(id, Candidate { addr, incarnation, last_heard: now });
            Heard::Candidate { id, changed: known != Some((incarnation, addr)) }
        };
        if let DiscoveryMessage::Search(_) = msg {
            if !leaving {
                self.answer_search(cfg, now, from, rng, out);
            }
        }
        heard
    }

    fn answer_search(
        &mut self,
        cfg: &Config,
        now: Instant,
        from: SocketAddr,
        rng: &mut Random,
        out: &mut Outputs,
    ) {
        if self.pending_notify.len() >= MAX_PENDING_NOTIFY || !self.take_notify_token(cfg, now) {
            out.stats.notify_suppressed += 1;
            return;
        }
        let at = now + rng.delay(cfg.notify_max_delay);
        self.pending_counter += 1;
        self.pending_notify.insert((at, self.pending_counter), from);
        out.timers.set_earliest(Timer::Notify, at);
    }

    /// Drops candidates not heard for `candidate_ttl`; true if any went.
    pub(crate) fn expire(&mut self, cfg: &Config, now: Instant) -> bool {
        let before = self.candidates.len();
        self.candidates.retain(|_, c| now - c.last_heard < cfg.candidate_ttl);
        self.candidates.len() != before
    }
}

impl Discovery {
    /// Queues one discovery datagram; with a keyring, signed and counted.
    fn send(&mut self, cfg: &Config, out: &mut Outputs, to: DatagramTarget, msg: DiscoveryMessage) {
        let made = match &cfg.keyring {
            None => Frame::new(msg).to_bytes(),
            Some(ring) => {
                self.replay_counter += 1;
                auth::sign_frame(ring.primary(), self.replay_counter, msg)
            }
        };
        queue(out, to, made);
    }

    /// Whether a discovery frame may be believed: always without a
    /// keyring; with one, only when its tag verifies with a key of the
    /// ring and it is fresh (counted otherwise). Our own frames and other
    /// clusters' pass through to be dropped, and counted, by
    /// `on_announce` without being believed: they need no MAC to be
    /// ignored.
    pub(crate) fn authentic(
        &mut self,
        cfg: &Config,
        msg: &DiscoveryMessage,
        extensions: &Extensions,
        raw: &[u8],
        out: &mut Outputs,
    ) -> bool {
        let Some(ring) = &cfg.keyring else { return true };
        let a = msg.announce();
        if a.node_id == self.id || a.cluster_hash != self.cluster_hash {
            return true;
        }
        let Ok(counter) = auth::verify_frame(ring, raw, extensions) else {
            out.stats.auth_failed += 1;
            return false;
        };
        // Twice the candidates: a sender forgotten as a candidate is still
        // remembered here for a while, so its old frames stay stale.
        let cap = cfg.max_peers.saturating_mul(2);
        if !self.replay.accept(a.node_id, a.incarnation, counter, cap) {
            out.stats.replayed += 1;
            return false;
        }
        true
    }
}

/// Queues one discovery datagram made by `made`.
fn queue(out: &mut Outputs, to: DatagramTarget, made: crate::wire::Result<bytes::Bytes>) {
    match made {
        Ok(data) => {
            out.stats.datagrams_sent += 1;
            out.stats.datagram_bytes_sent += data.len() as u64;
            out.transmits.push_back(Transmit::Datagram { to, data });
        }
        // Only an oversized field could fail, and every field is ours
        // and bounded by the configuration checks.
        Err(_) => out.stats.dropped_limit += 1,
    }
}

impl Node {
    fn me(&self) -> Me {
        Me { state: self.state, link_addr: self.advertised_addr() }
    }

    pub(super) fn send_beacon(&mut self) {
        let me = self.me();
        self.discovery.send_beacon(&self.cfg, &me, self.shutting_down, &mut self.out);
    }

    pub(super) fn send_search(&mut self) {
        let me = self.me();
        self.discovery.send_search(&self.cfg, &me, &mut self.out);
    }

    pub(super) fn on_beacon_timer(&mut self, now: Instant) {
        if self.shutting_down || !self.cfg.beacons {
            return;
        }
        let me = self.me();
        self.discovery.on_beacon_timer(&self.cfg, now, &me, &mut self.rng, &mut self.out);
    }

    pub(super) fn on_notify_timer(&mut self, now: Instant) {
        let me = self.me();
        self.discovery.on_notify_timer(&self.cfg, now, &me, self.shutting_down, &mut self.out);
    }

    /// A discovery frame arrived: believed only if
    /// [`authentic`](Discovery::authentic).
    pub(super) fn on_discovery_frame(
        &mut self,
        now: Instant,
        from: SocketAddr,
        msg: DiscoveryMessage,
        extensions: &Extensions,
        raw: &[u8],
    ) {
        if self.discovery.authentic(&self.cfg, &msg, extensions, raw, &mut self.out) {
            self.on_discovery(now, from, msg);
        }
    }

    /// Nodes heard through discovery (or a seed link) that may get links,
    /// in id order. With a keyring, only authenticated announcements put a
    /// node here.
    pub fn candidates(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.discovery.candidates.keys().copied()
    }

    fn on_discovery(&mut self, now: Instant, from: SocketAddr, msg: DiscoveryMessage) {
        let a = msg.announce();
        let flags = (
            self.membership.is_departed(&a.node_id, a.incarnation),
            self.overlay_failing(&a.node_id),
            self.shutting_down,
        );
        let heard = self.discovery.on_announce(
            &self.cfg,
            now,
            from,
            &msg,
            flags,
            &mut self.rng,
            &mut self.out,
        );
        match heard {
            Heard::Nothing => {}
            Heard::Leaving { id, incarnation } => self.peer_departed(now, id, incarnation),
            Heard::Candidate { id, changed } => {
                if changed {
                    self.overlay_changed(now);
                }
                self.overlay_heard(now, id);
            }
        }
    }

    /// Drops candidates not heard for `candidate_ttl`.
    pub(super) fn expire_candidates(&mut self, now: Instant) {
        if self.discovery.expire(&self.cfg, now) {
            self.overlay_changed(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    const US: NodeId = NodeId([1; 16]);
    const THEM: NodeId = NodeId([2; 16]);

    fn cfg() -> Config {
        Config::lan("disc", "us")
    }

    fn me() -> Me {
        Me { state: NodeState::Ready, link_addr: "10.77.0.1:7400".parse().unwrap() }
    }

    fn announce(cfg: &Config, id: NodeId, incarnation: u64, addr: &str) -> Announce {
        Announce {
            node_id: id,
            cluster_hash: cluster_hash(&cfg.cluster),
            incarnation,
            sequence: 1,
            interval_ms: 1000,
            peer_count: 0,
            state: NodeState::Ready,
            link_addr: addr.parse().unwrap(),
            ranges: cfg.versions.clone(),
        }
    }

    fn beacon(cfg: &Config, id: NodeId, incarnation: u64, addr: &str) -> DiscoveryMessage {
        DiscoveryMessage::Beacon(Beacon(announce(cfg, id, incarnation, addr)))
    }

    struct Fixture {
        cfg: Config,
        d: Discovery,
        rng: Random,
        out: Outputs,
    }

    impl Fixture {
        fn new(cfg: Config) -> Self {
            let d = Discovery::new(&cfg, US, Instant::ZERO);
            Fixture { cfg, d, rng: Random::new(7), out: Outputs::default() }
        }

        fn hear(&mut self, now: Instant, from: &str, msg: &DiscoveryMessage) -> Heard {
            self.hear_as(now, from, msg, (false, false, false))
        }

        fn hear_as(
            &mut self,
            now: Instant,
            from: &str,
            msg: &DiscoveryMessage,
            flags: (bool, bool, bool),
        ) -> Heard {
            let from = from.parse().unwrap();
            self.d.on_announce(&self.cfg, now, from, msg, flags, &mut self.rng, &mut self.out)
        }
    }

    #[test]
    fn our_own_and_other_clusters_announcements_are_counted_and_ignored() {
        let mut f = Fixture::new(cfg());
        let own = beacon(&f.cfg, US, 1, "10.77.0.1:7400");
        assert_eq!(f.hear(Instant::ZERO, "10.77.0.1:7400", &own), Heard::Nothing);
        let mut other = announce(&f.cfg, THEM, 1, "10.77.0.2:7400");
        other.cluster_hash ^= 1;
        let other = DiscoveryMessage::Beacon(Beacon(other));
        assert_eq!(f.hear(Instant::ZERO, "10.77.0.2:7400", &other), Heard::Nothing);
        assert_eq!((f.out.stats.dropped_own, f.out.stats.dropped_other_cluster), (1, 1));
        assert!(f.d.candidates.is_empty());
    }

    #[test]
    fn a_candidate_changes_only_when_new_or_moved_and_goes_on_exit() {
        let mut f = Fixture::new(cfg());
        let t = Instant::ZERO;
        let b = beacon(&f.cfg, THEM, 1, "0.0.0.0:7400");
        assert_eq!(f.hear(t, "10.77.0.2:40000", &b), Heard::Candidate { id: THEM, changed: true });
        // The unspecified IP took the sender's, with the advertised port.
        assert_eq!(f.d.candidates[&THEM].addr, "10.77.0.2:7400".parse().unwrap());
        assert_eq!(f.hear(t, "10.77.0.2:40000", &b), Heard::Candidate { id: THEM, changed: false });
        let restarted = beacon(&f.cfg, THEM, 2, "0.0.0.0:7400");
        let heard = f.hear(t, "10.77.0.2:40000", &restarted);
        assert_eq!(heard, Heard::Candidate { id: THEM, changed: true });
        let mut exit = announce(&f.cfg, THEM, 2, "0.0.0.0:7400");
        exit.state = NodeState::Exit;
        let exit = DiscoveryMessage::Beacon(Beacon(exit));
        let heard = f.hear(t, "10.77.0.2:40000", &exit);
        assert_eq!(heard, Heard::Leaving { id: THEM, incarnation: 2 });
        assert!(f.d.candidates.is_empty());
        // A late beacon of an instance the membership saw leave is ignored.
        let heard = f.hear_as(t, "10.77.0.2:40000", &restarted, (true, false, false));
        assert_eq!(heard, Heard::Nothing);
        assert!(f.d.candidates.is_empty());
    }

    #[test]
    fn a_dual_stack_node_keeps_its_first_family_unless_links_fail() {
        let mut f = Fixture::new(cfg());
        let t = Instant::ZERO;
        let v4 = beacon(&f.cfg, THEM, 1, "10.77.0.2:7400");
        let v6 = beacon(&f.cfg, THEM, 1, "[fd77::2]:7400");
        f.hear(t, "10.77.0.2:7400", &v4);
        assert_eq!(f.hear(t, "[fd77::2]:7400", &v6), Heard::Candidate { id: THEM, changed: false });
        assert!(f.d.candidates[&THEM].addr.is_ipv4());
        let failing = (false, true, false);
        let heard = f.hear_as(t, "[fd77::2]:7400", &v6, failing);
        assert_eq!(heard, Heard::Candidate { id: THEM, changed: true });
        assert!(f.d.candidates[&THEM].addr.is_ipv6());
    }

    #[test]
    fn a_full_table_keeps_out_new_nodes() {
        let mut c = cfg();
        c.max_peers = 1;
        let mut f = Fixture::new(c);
        let t = Instant::ZERO;
        f.hear(t, "10.77.0.2:7400", &beacon(&f.cfg, THEM, 1, "10.77.0.2:7400"));
        let third = beacon(&f.cfg, NodeId([3; 16]), 1, "10.77.0.3:7400");
        assert_eq!(f.hear(t, "10.77.0.3:7400", &third), Heard::Nothing);
        assert_eq!((f.d.candidates.len(), f.out.stats.dropped_limit), (1, 1));
    }

    #[test]
    fn searches_are_answered_within_the_delay_and_the_burst() {
        let mut f = Fixture::new(cfg());
        let burst = f.cfg.notify_burst as usize;
        let t = Instant::ZERO;
        for i in 0..burst + 10 {
            let id = NodeId([i as u8 + 10; 16]);
            let search = DiscoveryMessage::Search(Search(announce(&f.cfg, id, 1, "0.0.0.0:7400")));
            f.hear(t, &format!("10.77.1.{}:7400", i + 1), &search);
        }
        assert_eq!(f.out.stats.notify_suppressed, 10, "only the burst is answered at once");
        let due = f.out.timers.next().expect("a NOTIFY timer");
        assert!(due <= t + f.cfg.notify_max_delay);
        // Every answer leaves by the longest delay, each to its asker.
        f.d.on_notify_timer(&f.cfg, t + f.cfg.notify_max_delay, &me(), false, &mut f.out);
        let notifies =
            f.out.transmits.drain(..).filter(|tx| {
                matches!(tx, Transmit::Datagram { to: DatagramTarget::Unicast(_), .. })
            });
        assert_eq!(notifies.count(), burst);
        // A node that is leaving answers nothing.
        let mut f = Fixture::new(cfg());
        let search = DiscoveryMessage::Search(Search(announce(&f.cfg, THEM, 1, "0.0.0.0:7400")));
        f.hear_as(t, "10.77.0.2:7400", &search, (false, false, true));
        assert!(f.out.timers.next().is_none());
    }

    #[test]
    fn the_beacon_gap_spreads_with_the_segment_and_keeps_its_promise() {
        let mut f = Fixture::new(cfg());
        let t = Instant::ZERO;
        assert_eq!(f.d.beacon_interval(&f.cfg), f.cfg.beacon_min_interval);
        for i in 0..40u8 {
            let id = NodeId([i + 10; 16]);
            f.hear(t, &format!("10.77.2.{}:7400", i + 1), &beacon(&f.cfg, id, 1, "0.0.0.0:7400"));
        }
        // 41 nodes at 5 beacons a second in all: one every 8.2 s each.
        let interval = f.d.beacon_interval(&f.cfg);
        assert_eq!(interval, Duration::from_millis(41 * 1000 / 5));
        for _ in 0..50 {
            f.d.on_beacon_timer(&f.cfg, t, &me(), &mut f.rng, &mut f.out);
            let next = f.out.timers.next().unwrap();
            let least = interval.mul_f32(1.0 - f.cfg.beacon_jitter);
            assert!(next <= t + interval && next + Duration::from_millis(1) >= t + least);
        }
        // However large the segment, the gap stops at the maximum.
        let mut c = cfg();
        c.beacon_max_interval = Duration::from_secs(2);
        f.cfg = c;
        assert_eq!(f.d.beacon_interval(&f.cfg), Duration::from_secs(2));
    }

    #[test]
    fn candidates_not_heard_for_the_ttl_expire() {
        let mut f = Fixture::new(cfg());
        let t = Instant::ZERO;
        f.hear(t, "10.77.0.2:7400", &beacon(&f.cfg, THEM, 1, "10.77.0.2:7400"));
        assert!(!f.d.expire(&f.cfg, t + (f.cfg.candidate_ttl - Duration::from_millis(1))));
        assert!(f.d.expire(&f.cfg, t + f.cfg.candidate_ttl));
        assert!(f.d.candidates.is_empty());
    }
}
