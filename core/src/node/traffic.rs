//! Per-peer traffic meters: the totals behind [`PeerTraffic`], counted where
//! application data crosses the node's API, sampled once a second into a
//! sliding window (see [`PeerTraffic`] for what is counted and how the
//! rates read).
//!
//! Why a sliding window of samples rather than an exponential average: the
//! figure is then exactly "the average over the last five seconds", which
//! users can check against what they sent, it reads 0 (not "almost 0")
//! once a peer has been idle for the window, and it needs only integer
//! arithmetic (the core has no `exp`). Why sample on the housekeeping timer:
//! the core reads no clock, and that timer already runs once a second with
//! a `now`, so the figures cost no timer and no deadline of their own, and
//! the outputs the node makes are the same with or without them.

use alloc::collections::BTreeMap;
use core::time::Duration;

use super::output::{PeerTraffic, TRAFFIC_WINDOW};
use super::Node;
use crate::time::Instant;
use crate::wire::NodeId;

/// Samples kept per peer: a rate spans the oldest to the newest, so the
/// window is this many housekeeping periods less one.
const SAMPLES: usize = (TRAFFIC_WINDOW.as_secs() / super::HOUSEKEEPING.as_secs()) as usize + 1;

/// Running totals of one peer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Totals {
    rx_bytes: u64,
    tx_bytes: u64,
    rx_msgs: u64,
    tx_msgs: u64,
}

/// One peer's totals and the samples of them the rates are made from.
#[derive(Debug)]
struct Meter {
    totals: Totals,
    /// The last `len` samples, oldest at `(next + SAMPLES - len) % SAMPLES`.
    ring: [(Instant, Totals); SAMPLES],
    next: usize,
    len: usize,
}

impl Meter {
    fn new() -> Meter {
        Meter {
            totals: Totals::default(),
            ring: [(Instant::ZERO, Totals::default()); SAMPLES],
            next: 0,
            len: 0,
        }
    }

    fn push(&mut self, at: Instant, t: Totals) {
        self.ring[self.next] = (at, t);
        self.next = (self.next + 1) % SAMPLES;
        self.len = (self.len + 1).min(SAMPLES);
    }

    fn oldest(&self) -> Option<&(Instant, Totals)> {
        (self.len > 0).then(|| &self.ring[(self.next + SAMPLES - self.len) % SAMPLES])
    }

    fn newest(&self) -> Option<&(Instant, Totals)> {
        (self.len > 0).then(|| &self.ring[(self.next + SAMPLES - 1) % SAMPLES])
    }

    /// Whether anything was counted within the window.
    fn active(&self) -> bool {
        match (self.oldest(), self.newest()) {
            (Some(o), Some(n)) => o.1 != n.1 || n.1 != self.totals,
            _ => self.totals != Totals::default(),
        }
    }

    fn figures(&self) -> PeerTraffic {
        let mut f = PeerTraffic::default();
        if let (Some((t0, a)), Some((t1, b))) = (self.oldest(), self.newest()) {
            let dt = *t1 - *t0;
            f.rx_bytes_per_sec = per_sec(b.rx_bytes - a.rx_bytes, dt);
            f.tx_bytes_per_sec = per_sec(b.tx_bytes - a.tx_bytes, dt);
            f.rx_msgs_per_sec = per_sec(b.rx_msgs - a.rx_msgs, dt);
            f.tx_msgs_per_sec = per_sec(b.tx_msgs - a.tx_msgs, dt);
        }
        f
    }
}

/// `delta` over `dt`, per second, rounded to the nearest; 0 over no time.
fn per_sec(delta: u64, dt: Duration) -> u64 {
    let us = dt.as_micros();
    if us == 0 {
        return 0;
    }
    let v = (u128::from(delta) * 1_000_000 + us / 2) / us;
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// Which way data went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// From the application to the peer.
    Tx,
    /// From the peer to the application.
    Rx,
}

/// Every peer's meter.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    meters: BTreeMap<NodeId, Meter>,
    /// When the last sample was taken: a meter made after it starts from
    /// zero there, so its first rate covers all it counted.
    last_sample: Option<Instant>,
    /// Grows whenever a sample changed some listed peer's figures.
    generation: u64,
}

impl Traffic {
    /// Counts `bytes` and `msgs` of application data to or from `peer`.
    /// At most `max` peers are metered: a peer past that (only possible
    /// with more senders than `max_peers`) is not counted.
    pub(crate) fn count(&mut self, peer: NodeId, dir: Dir, bytes: usize, msgs: u64, max: usize) {
        if self.meters.len() >= max && !self.meters.contains_key(&peer) {
            return;
        }
        let meter = self.meters.entry(peer).or_insert_with(Meter::new);
        let t = &mut meter.totals;
        let bytes = bytes as u64;
        match dir {
            Dir::Tx => {
                t.tx_bytes = t.tx_bytes.saturating_add(bytes);
                t.tx_msgs = t.tx_msgs.saturating_add(msgs);
            }
            Dir::Rx => {
                t.rx_bytes = t.rx_bytes.saturating_add(bytes);
                t.rx_msgs = t.rx_msgs.saturating_add(msgs);
            }
        }
    }

    /// Takes a sample of every meter at `now`, and forgets the meters of
    /// peers that are not `listed` and counted nothing within the window.
    fn sample(&mut self, now: Instant, listed: impl Fn(&NodeId) -> bool) {
        let since = self.last_sample;
        for m in self.meters.values_mut() {
            if m.len == 0 {
                // Before the first sample there is no "since": the first
                // rate then covers what came before it as if in no time
                // (reading 0), and the next one as if in one period.
                m.push(since.unwrap_or(now), Totals::default());
            }
            m.push(now, m.totals);
        }
        self.meters.retain(|id, m| listed(id) || m.active());
        self.last_sample = Some(now);
    }

    fn figures(&self, peer: &NodeId) -> PeerTraffic {
        self.meters.get(peer).map(Meter::figures).unwrap_or_default()
    }
}

impl Node {
    /// Housekeeping: samples the meters, and writes every listed peer's
    /// figures and smoothed round trip into its [`PeerInfo`].
    ///
    /// [`PeerInfo`]: super::PeerInfo
    pub(super) fn sample_traffic(&mut self, now: Instant) {
        let membership = &mut self.membership;
        self.traffic.sample(now, |id| membership.get(id).is_some());
        let mut changed = false;
        for p in membership.peers_mut() {
            let mut f = self.traffic.figures(&p.id);
            f.srtt = self.transport.srtt(&p.id);
            if p.traffic != f {
                p.traffic = f;
                changed = true;
            }
        }
        if changed {
            self.traffic.generation += 1;
        }
    }

    /// Counts application data to or from `peer` (see [`PeerTraffic`]).
    pub(super) fn count_traffic(&mut self, peer: NodeId, dir: Dir, bytes: usize, msgs: u64) {
        self.traffic.count(peer, dir, bytes, msgs, self.cfg.max_peers);
    }

    /// A number that changes whenever the traffic figures of some peer in
    /// [`peers`](Self::peers) have changed (at most once a second): a
    /// caller that copies the peer list can tell when its copy is stale
    /// without comparing it.
    pub fn traffic_generation(&self) -> u64 {
        self.traffic.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: NodeId = NodeId([7; 16]);

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_steady_flow_reads_its_rate_and_decays_to_zero_when_idle() {
        let mut t = Traffic::default();
        t.sample(at(0), |_| true);
        // 100 messages of 1000 bytes a second, sampled once a second.
        for s in 1..=10u64 {
            for _ in 0..100 {
                t.count(P, Dir::Tx, 1000, 1, 16);
            }
            t.sample(at(s * 1000), |_| true);
            let f = t.figures(&P);
            assert_eq!(f.tx_bytes_per_sec, 100_000, "second {s}");
            assert_eq!(f.tx_msgs_per_sec, 100);
        }
        assert_eq!(t.meters[&P].totals.tx_bytes, 1_000_000);
        assert_eq!(t.figures(&P).rx_bytes_per_sec, 0);
        // Idle: the window empties a second at a time.
        for s in 11..=15u64 {
            t.sample(at(s * 1000), |_| true);
            let want = 100_000 * (15 - s) / 5;
            assert_eq!(t.figures(&P).tx_bytes_per_sec, want, "second {s}");
        }
        assert_eq!(t.figures(&P).tx_msgs_per_sec, 0);
        assert_eq!(t.meters[&P].totals.tx_bytes, 1_000_000, "totals stay");
    }

    #[test]
    fn a_late_sample_divides_by_the_time_that_passed() {
        let mut t = Traffic::default();
        t.sample(at(0), |_| true);
        t.count(P, Dir::Rx, 3000, 3, 16);
        // The housekeeping ran 500 ms late.
        t.sample(at(1500), |_| true);
        let f = t.figures(&P);
        assert_eq!((f.rx_bytes_per_sec, f.rx_msgs_per_sec), (2000, 2));
    }

    #[test]
    fn a_meter_made_between_samples_counts_from_the_last_one() {
        let mut t = Traffic::default();
        t.sample(at(0), |_| true);
        t.sample(at(1000), |_| true);
        t.count(P, Dir::Tx, 500, 1, 16);
        t.sample(at(2000), |_| true);
        assert_eq!(t.figures(&P).tx_bytes_per_sec, 500, "over the one second since 1000 ms");
    }

    #[test]
    fn unlisted_idle_meters_are_forgotten_and_meters_are_bounded() {
        let mut t = Traffic::default();
        t.count(P, Dir::Tx, 10, 1, 16);
        t.sample(at(0), |_| false);
        assert_eq!(t.meters[&P].totals.tx_bytes, 10, "active: kept though not listed");
        for s in 1..=6u64 {
            t.sample(at(s * 1000), |_| false);
        }
        assert!(!t.meters.contains_key(&P), "idle and unlisted: gone");
        t.count(NodeId([1; 16]), Dir::Rx, 1, 1, 1);
        t.count(NodeId([2; 16]), Dir::Rx, 1, 1, 1);
        assert_eq!(t.meters.len(), 1, "no more than `max` meters");
    }

    #[test]
    fn rates_round_to_the_nearest_and_never_overflow() {
        assert_eq!(per_sec(1, Duration::from_secs(2)), 1, "0.5 rounds up");
        assert_eq!(per_sec(1, Duration::from_secs(3)), 0);
        assert_eq!(per_sec(5, Duration::ZERO), 0);
        assert_eq!(per_sec(u64::MAX, Duration::from_micros(1)), u64::MAX);
    }
}
