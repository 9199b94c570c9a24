//! The overlay: which nodes to keep links to, seeds, and retries.
//!
//! Up to `full_mesh_max` known nodes every node links to every other. Past
//! that, each node links to its two neighbours on a ring of the known node
//! ids (which keeps the overlay connected whenever views agree) and, with
//! probability `chord_percent`, to one more node chosen by hashing its own id
//! (a chord, which keeps the diameter short). Whoever opened a link that is
//! no longer wanted closes it after a grace period.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::links::Link;
use super::output::{LinkCloseReason, LinkId};
use super::timers::Timer;
use super::Node;
use crate::config::Config;
use crate::time::Instant;
use crate::wire::link::{GoodbyeReason, RejectReason};
use crate::wire::NodeId;

/// Delay between a change and the overlay's re-evaluation, so that a burst
/// of discoveries costs one evaluation.
const OVERLAY_DELAY: Duration = Duration::from_millis(5);
/// How long a peer that refused us for version or cluster is left alone.
const REJECT_HOLD: Duration = Duration::from_secs(60);
/// One extra chord per salt while links flap.
const FLAP_CHORD_SALTS: [u64; 2] = [0x5bd1_e995, 0x27d4_eb2f];
/// How long after a keepalive timeout the extra chords are kept.
const FLAP_WINDOW: Duration = Duration::from_secs(120);
/// Background probes of unreachable candidates per overlay run.
const PROBES_PER_RUN: usize = 2;
/// How long an unwanted link we opened is kept before it is closed.
const PRUNE_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
struct Seed {
    addr: SocketAddr,
    link: Option<LinkId>,
    backoff: Duration,
    next_attempt: Instant,
    /// The node found there.
    peer: Option<NodeId>,
    /// The seed is this node itself.
    is_self: bool,
}

#[derive(Debug, Clone, Copy)]
struct Retry {
    backoff: Duration,
    next_attempt: Instant,
}

pub(crate) struct Overlay {
    seeds: Vec<Seed>,
    retry: BTreeMap<NodeId, Retry>,
    held: BTreeMap<NodeId, Instant>,
    /// When each up link we opened stopped being wanted.
    unwanted_since: BTreeMap<LinkId, Instant>,
    /// When a link of ours last died of a keepalive timeout.
    last_flap: Option<Instant>,
}

impl Overlay {
    pub(crate) fn new(cfg: &Config) -> Self {
        let mut o = Overlay {
            seeds: Vec::new(),
            retry: BTreeMap::new(),
            held: BTreeMap::new(),
            unwanted_since: BTreeMap::new(),
            last_flap: None,
        };
        for &s in &cfg.seeds {
            o.add_seed(s);
        }
        o
    }

    pub(crate) fn add_seed(&mut self, addr: SocketAddr) {
        if self.seeds.iter().any(|s| s.addr == addr) {
            return;
        }
        self.seeds.push(Seed {
            addr,
            link: None,
            backoff: Duration::ZERO,
            next_attempt: Instant::ZERO,
            peer: None,
            is_self: false,
        });
    }
}

/// 64-bit mix (SplitMix64 finaliser): spreads ids and seeds evenly.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn id_hash(id: &NodeId) -> u64 {
    let b = id.as_bytes();
    let hi = u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
    let lo = u64::from_be_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
    mix(hi ^ mix(lo))
}

impl Node {
    /// Something the overlay depends on changed.
    pub(super) fn overlay_changed(&mut self, now: Instant) {
        self.out.timers.set_earliest(Timer::Overlay, now + OVERLAY_DELAY);
    }

    /// The nodes we consider alive and linkable, this node included.
    fn live_set(&self, now: Instant) -> BTreeSet<NodeId> {
        // With beacons, the ring is drawn over the nodes heard directly (and
        // those linked): a node known only from routing may sit on a
        // segment we cannot reach. Without beacons (WAN), routing is all
        // there is.
        let mut live: BTreeSet<NodeId> = if self.cfg.beacons {
            self.up_peers().into_iter().collect()
        } else {
            self.routing.routes.keys().copied().collect()
        };
        // A candidate we cannot reach and whose link attempts fail is left
        // out of the ring (it would leave a gap there, as across a
        // partition); it is still probed in the background.
        live.extend(self.discovery.candidates.keys().copied().filter(|id| {
            self.routing.routes.contains_key(id)
                || self.overlay.retry.get(id).is_none_or(|r| r.backoff.is_zero())
        }));
        live.retain(|id| self.overlay.held.get(id).is_none_or(|&until| now >= until));
        live.insert(self.id);
        live
    }

    /// The peers this node wants links to.
    fn desired(&self, now: Instant) -> BTreeSet<NodeId> {
        let live = self.live_set(now);
        let mut want = BTreeSet::new();
        if live.len() <= self.cfg.full_mesh_max + 1 {
            want.extend(live.iter().copied().filter(|id| *id != self.id));
            return want;
        }
        let ring: Vec<NodeId> = live.iter().copied().collect();
        let n = ring.len();
        let me = ring.iter().position(|id| *id == self.id).unwrap_or(0);
        want.insert(ring[(me + 1) % n]);
        want.insert(ring[(me + n - 1) % n]);
        // Chords pair the nodes up: the nodes taking part, sorted by a hash
        // of their id, are matched two by two. Every node computes the same
        // matching from the same view, so both ends want the same chord, and
        // each node gets at most one: degree 3, a random-looking graph with a
        // short diameter.
        let joins = |id: &NodeId| id_hash(id) % 100 < u64::from(self.cfg.chord_percent);
        if joins(&self.id) {
            let mut by_hash: Vec<(u64, NodeId)> =
                ring.iter().filter(|id| joins(id)).map(|id| (mix(id_hash(id)), *id)).collect();
            by_hash.sort_unstable();
            if let Some(p) = by_hash.iter().position(|(_, id)| *id == self.id) {
                if let Some(&(_, partner)) = by_hash.get(p ^ 1) {
                    want.insert(partner);
                }
            }
        }
        // Links that die of keepalive timeouts mean a lossy network: add two
        // random chords for a while, so that no node depends on two or
        // three links that may all flap at once. A clean network keeps its
        // low degree and its low keepalive traffic.
        if self.overlay.last_flap.is_some_and(|t| now - t < FLAP_WINDOW) {
            for salt in FLAP_CHORD_SALTS {
                let point = mix(id_hash(&self.id) ^ salt);
                let pick = ring
                    .iter()
                    .filter(|id| **id != self.id && !want.contains(*id))
                    .min_by_key(|id| id_hash(id).wrapping_sub(point));
                if let Some(&c) = pick {
                    want.insert(c);
                }
            }
        }
        want
    }

    pub(super) fn on_overlay_timer(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let want = self.desired(now);
        let mut next: Option<Instant> = None;
        let note = |at: Instant, next: &mut Option<Instant>| {
            *next = Some(next.map_or(at, |n: Instant| n.min(at)));
        };
        let connecting = self.links.values().filter(|l| !l.is_up()).count();
        let mut budget = self
            .cfg
            .max_links
            .saturating_sub(self.links.len())
            .min(self.cfg.max_links.saturating_sub(connecting));
        for peer in &want {
            if self.has_link_to(peer) {
                continue;
            }
            if let Some(r) = self.overlay.retry.get(peer) {
                if now < r.next_attempt {
                    note(r.next_attempt, &mut next);
                    continue;
                }
            }
            let Some(addr) = self.addr_of(peer) else {
                continue;
            };
            if budget == 0 {
                break;
            }
            budget -= 1;
            self.open_link(now, addr, Some(*peer));
        }
        self.probe(now, &want, &mut next);
        self.run_seeds(now, &mut next);
        self.prune(now, &want, &mut next);
        if let Some(at) = next {
            self.out.timers.set_earliest(Timer::Overlay, at.max(now + OVERLAY_DELAY));
        }
    }

    /// Background attempts to candidates left out of the ring because they
    /// could not be reached: how a partition is noticed to have healed.
    fn probe(&mut self, now: Instant, want: &BTreeSet<NodeId>, next: &mut Option<Instant>) {
        let mut budget = PROBES_PER_RUN;
        let due: Vec<(NodeId, core::net::SocketAddr)> = self
            .discovery
            .candidates
            .iter()
            .filter(|(id, _)| !want.contains(id) && !self.routing.routes.contains_key(id))
            .filter(|(id, _)| self.overlay.held.get(id).is_none_or(|&until| now >= until))
            .filter_map(|(id, c)| {
                let r = self.overlay.retry.get(id)?;
                if r.backoff.is_zero() {
                    return None;
                }
                if now < r.next_attempt {
                    *next = Some(next.map_or(r.next_attempt, |n| n.min(r.next_attempt)));
                    return None;
                }
                Some((*id, c.addr))
            })
            .collect();
        for (id, addr) in due {
            if budget == 0 || self.has_link_to(&id) {
                continue;
            }
            budget -= 1;
            self.open_link(now, addr, Some(id));
        }
    }

    /// Whether link attempts to `id` are failing (it is backing off).
    pub(super) fn overlay_failing(&self, id: &NodeId) -> bool {
        self.overlay.retry.get(id).is_some_and(|r| !r.backoff.is_zero())
    }

    /// A node we hear directly but cannot reach: try it again now rather
    /// than at the end of its backoff (the partition may have healed).
    pub(super) fn overlay_heard(&mut self, now: Instant, id: NodeId) {
        if self.routing.routes.contains_key(&id)
            || self.overlay.held.get(&id).is_some_and(|&until| now < until)
        {
            return;
        }
        if let Some(r) = self.overlay.retry.get_mut(&id) {
            if r.next_attempt > now && !self.links.values().any(|l| l.expected == Some(id)) {
                r.next_attempt = now;
                self.overlay_changed(now);
            }
        }
    }

    fn run_seeds(&mut self, now: Instant, next: &mut Option<Instant>) {
        for i in 0..self.overlay.seeds.len() {
            let s = &self.overlay.seeds[i];
            if s.is_self || s.link.is_some() {
                continue;
            }
            // A seed whose node we reach anyway needs no link of its own.
            if s.peer.is_some_and(|p| self.routing.routes.contains_key(&p) || self.has_link_to(&p))
            {
                continue;
            }
            if now < s.next_attempt {
                *next = Some(next.map_or(s.next_attempt, |n| n.min(s.next_attempt)));
                continue;
            }
            let addr = s.addr;
            let link = self.open_link(now, addr, None);
            self.overlay.seeds[i].link = Some(link);
        }
    }

    /// Closes links we opened that the overlay no longer wants, after a
    /// grace period. Only the opener prunes, so the two ends never race.
    fn prune(&mut self, now: Instant, want: &BTreeSet<NodeId>, next: &mut Option<Instant>) {
        let live = self.live_set(now).len();
        let mut close = Vec::new();
        let mut still: BTreeMap<LinkId, Instant> = BTreeMap::new();
        if live > self.cfg.full_mesh_max + 1 {
            for l in self.links.values().filter(|l| l.is_up() && l.outgoing) {
                let Some(peer) = l.peer else { continue };
                let seeded = self.overlay.seeds.iter().any(|s| s.link == Some(l.id));
                if want.contains(&peer) || seeded {
                    continue;
                }
                let since = self.overlay.unwanted_since.get(&l.id).copied().unwrap_or(now);
                if now - since >= PRUNE_GRACE {
                    close.push(l.id);
                } else {
                    still.insert(l.id, since);
                    let at = since + PRUNE_GRACE;
                    *next = Some(next.map_or(at, |n| n.min(at)));
                }
            }
        }
        self.overlay.unwanted_since = still;
        for link in close {
            self.close_link(now, link, Some(GoodbyeReason::LINK_DROPPED), "overlay pruned");
        }
    }

    /// One of our links died of a keepalive timeout, or its round trips say
    /// frames are being lost: the network is lossy.
    pub(super) fn overlay_flapped(&mut self, now: Instant) {
        self.overlay.last_flap = Some(now);
        self.overlay_changed(now);
    }

    /// A WELCOME told us who answers at a link we opened.
    pub(super) fn overlay_seed_peer(&mut self, link: LinkId, peer: NodeId) {
        for s in &mut self.overlay.seeds {
            if s.link == Some(link) {
                s.peer = Some(peer);
            }
        }
    }

    pub(super) fn overlay_link_up(&mut self, now: Instant, link: LinkId, peer: NodeId) {
        self.overlay.retry.remove(&peer);
        self.overlay.held.remove(&peer);
        for s in &mut self.overlay.seeds {
            if s.link == Some(link) {
                s.backoff = Duration::ZERO;
                s.peer = Some(peer);
            }
        }
        self.overlay_changed(now);
    }

    pub(super) fn overlay_link_down(&mut self, now: Instant, l: &Link, _reason: LinkCloseReason) {
        let (min, max) = (self.cfg.retry_min, self.cfg.retry_max);
        // A longer hold set by a refusal is kept; otherwise double up to max.
        let grow = |b: Duration| match b {
            b if b.is_zero() => min,
            b if b > max => b,
            b => (b * 2).min(max),
        };
        let was_up = l.is_up();
        if l.outgoing {
            if let Some(peer) = l.peer.or(l.expected) {
                let r = self
                    .overlay
                    .retry
                    .entry(peer)
                    .or_insert(Retry { backoff: Duration::ZERO, next_attempt: now });
                r.backoff = if was_up { Duration::ZERO } else { grow(r.backoff) };
                // A link that was up is reopened at once: its peer is most
                // likely alive and the route through it is wanted.
                r.next_attempt = now + if was_up { Duration::ZERO } else { r.backoff };
                // Spread retries so nodes cut off together do not retry in
                // lockstep.
                if !was_up {
                    let spread = r.backoff.as_micros() as u64 / 4;
                    let extra = if spread == 0 { 0 } else { self.next_random() % spread };
                    if let Some(r) = self.overlay.retry.get_mut(&peer) {
                        r.next_attempt += Duration::from_micros(extra);
                    }
                }
            }
        }
        for s in &mut self.overlay.seeds {
            if s.link == Some(l.id) {
                s.link = None;
                s.backoff = if was_up { Duration::ZERO } else { grow(s.backoff) };
                s.next_attempt = now + if was_up { min } else { s.backoff };
            }
        }
        self.overlay.unwanted_since.remove(&l.id);
        self.overlay_changed(now);
    }

    /// The remote side refused a link we opened; `sender` is its id when
    /// the REJECT carries it.
    pub(super) fn overlay_rejected(
        &mut self,
        now: Instant,
        link: LinkId,
        reason: RejectReason,
        sender: Option<NodeId>,
    ) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let peer = l.peer.or(l.expected);
        // A seed is known by address only until it answers: a refusal that
        // names its sender tells us whose address it is, so the seed is left
        // alone while that node is reachable another way (`run_seeds`).
        if let Some(id) = sender.filter(|id| *id != self.id) {
            for s in &mut self.overlay.seeds {
                if s.link == Some(link) {
                    s.peer = Some(id);
                }
            }
        }
        if reason == RejectReason::LIMIT {
            // The node is full: asking again at the usual pace only adds to
            // its load. Wait at least `retry_max`, doubling on each further
            // refusal up to REJECT_HOLD; `overlay_link_down` keeps a backoff
            // already above `retry_max`.
            let max = self.cfg.retry_max;
            let full = |b: Duration| (b * 2).max(max).min(REJECT_HOLD.max(max));
            if let Some(p) = peer {
                if let Some(r) = self.overlay.retry.get_mut(&p) {
                    r.backoff = full(r.backoff);
                } else {
                    self.overlay
                        .retry
                        .insert(p, Retry { backoff: full(Duration::ZERO), next_attempt: now });
                }
            }
            for s in &mut self.overlay.seeds {
                if s.link == Some(link) {
                    s.backoff = full(s.backoff);
                }
            }
        }
        if reason == RejectReason::DUPLICATE_ID {
            for s in &mut self.overlay.seeds {
                if s.link == Some(link) {
                    s.is_self = true;
                }
            }
        }
        if matches!(reason, RejectReason::VERSION | RejectReason::CLUSTER) {
            if let Some(p) = peer {
                self.overlay.held.insert(p, now + REJECT_HOLD);
            }
            for s in &mut self.overlay.seeds {
                if s.link == Some(link) {
                    s.backoff = REJECT_HOLD;
                }
            }
        }
    }
}
