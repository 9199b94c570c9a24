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

use super::discovery::Candidate;
use super::links::Link;
use super::output::{LinkCloseReason, LinkId};
use super::random::Random;
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

/// What the overlay needs to know of one link when it decides.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LinkInfo {
    pub(crate) id: LinkId,
    pub(crate) peer: Option<NodeId>,
    pub(crate) expected: Option<NodeId>,
    pub(crate) up: bool,
    pub(crate) outgoing: bool,
}

impl LinkInfo {
    pub(crate) fn of(l: &Link) -> Self {
        LinkInfo {
            id: l.id,
            peer: l.peer,
            expected: l.expected,
            up: l.is_up(),
            outgoing: l.outgoing,
        }
    }

    fn goes_to(&self, id: &NodeId) -> bool {
        self.peer.as_ref() == Some(id) || self.expected.as_ref() == Some(id)
    }
}

/// What the rest of the node knows that the overlay decides from.
pub(crate) struct Known<'a> {
    pub(crate) me: NodeId,
    pub(crate) links: &'a [LinkInfo],
    pub(crate) candidates: &'a BTreeMap<NodeId, Candidate>,
    /// Nodes with a route.
    pub(crate) routed: &'a dyn Fn(&NodeId) -> bool,
    /// Every routed node, in id order (the WAN ring without beacons).
    pub(crate) routes: &'a dyn Fn() -> Vec<NodeId>,
    /// The best known link address of a node.
    pub(crate) addr_of: &'a dyn Fn(&NodeId) -> Option<SocketAddr>,
}

/// A link the overlay wants opened: to `addr`, expecting `expected`
/// there; `seed` is the seed it dials, whose link the node then reports
/// back ([`Overlay::seed_dialled`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dial {
    pub(crate) addr: SocketAddr,
    pub(crate) expected: Option<NodeId>,
    pub(crate) seed: Option<usize>,
}

/// One overlay run's decisions, to be carried out in order: the dials,
/// then the prunes; and when to run again.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) dial: Vec<Dial>,
    pub(crate) prune: Vec<LinkId>,
    pub(crate) next: Option<Instant>,
}

impl Plan {
    /// A link (in any phase) goes to `id`; a dial made earlier in this run
    /// counts as one for what follows in it.
    fn linked(&self, k: &Known<'_>, id: &NodeId) -> bool {
        k.links.iter().any(|l| l.goes_to(id)) || self.dial.iter().any(|d| d.expected == Some(*id))
    }
}

fn note(at: Instant, next: &mut Option<Instant>) {
    *next = Some(next.map_or(at, |n: Instant| n.min(at)));
}

impl Overlay {
    /// The nodes we consider alive and linkable, this node included.
    fn live_set(&self, cfg: &Config, now: Instant, k: &Known<'_>) -> BTreeSet<NodeId> {
        // With beacons, the ring is drawn over the nodes heard directly (and
        // those linked): a node known only from routing may sit on a
        // segment we cannot reach. Without beacons (WAN), routing is all
        // there is.
        let mut live: BTreeSet<NodeId> = if cfg.beacons {
            k.links.iter().filter(|l| l.up).filter_map(|l| l.peer).collect()
        } else {
            (k.routes)().into_iter().collect()
        };
        // A candidate we cannot reach and whose link attempts fail is left
        // out of the ring (it would leave a gap there, as across a
        // partition); it is still probed in the background.
        live.extend(
            k.candidates.keys().copied().filter(|id| {
                (k.routed)(id) || self.retry.get(id).is_none_or(|r| r.backoff.is_zero())
            }),
        );
        live.retain(|id| self.held.get(id).is_none_or(|&until| now >= until));
        live.insert(k.me);
        live
    }

    /// The peers this node wants links to.
    fn desired(&self, cfg: &Config, now: Instant, k: &Known<'_>) -> BTreeSet<NodeId> {
        let me = k.me;
        let live = self.live_set(cfg, now, k);
        let mut want = BTreeSet::new();
        if live.len() <= cfg.full_mesh_max + 1 {
            want.extend(live.iter().copied().filter(|id| *id != me));
            return want;
        }
        let ring: Vec<NodeId> = live.iter().copied().collect();
        let n = ring.len();
        let at = ring.iter().position(|id| *id == me).unwrap_or(0);
        want.insert(ring[(at + 1) % n]);
        want.insert(ring[(at + n - 1) % n]);
        // Chords pair the nodes up: the nodes taking part, sorted by a hash
        // of their id, are matched two by two. Every node computes the same
        // matching from the same view, so both ends want the same chord, and
        // each node gets at most one: degree 3, a random-looking graph with a
        // short diameter.
        let joins = |id: &NodeId| id_hash(id) % 100 < u64::from(cfg.chord_percent);
        if joins(&me) {
            let mut by_hash: Vec<(u64, NodeId)> =
                ring.iter().filter(|id| joins(id)).map(|id| (mix(id_hash(id)), *id)).collect();
            by_hash.sort_unstable();
            if let Some(p) = by_hash.iter().position(|(_, id)| *id == me) {
                if let Some(&(_, partner)) = by_hash.get(p ^ 1) {
                    want.insert(partner);
                }
            }
        }
        // Links that die of keepalive timeouts mean a lossy network: add two
        // random chords for a while, so that no node depends on two or
        // three links that may all flap at once. A clean network keeps its
        // low degree and its low keepalive traffic.
        if self.last_flap.is_some_and(|t| now - t < FLAP_WINDOW) {
            for salt in FLAP_CHORD_SALTS {
                let point = mix(id_hash(&me) ^ salt);
                let pick = ring
                    .iter()
                    .filter(|id| **id != me && !want.contains(*id))
                    .min_by_key(|id| id_hash(id).wrapping_sub(point));
                if let Some(&c) = pick {
                    want.insert(c);
                }
            }
        }
        want
    }

    /// One overlay run: which links to open (wanted nodes within
    /// `max_links`, then probes, then seeds) and which of ours to prune.
    pub(crate) fn plan(&mut self, cfg: &Config, now: Instant, k: &Known<'_>) -> Plan {
        let want = self.desired(cfg, now, k);
        let mut plan = Plan::default();
        let connecting = k.links.iter().filter(|l| !l.up).count();
        let mut budget = cfg
            .max_links
            .saturating_sub(k.links.len())
            .min(cfg.max_links.saturating_sub(connecting));
        for peer in &want {
            if plan.linked(k, peer) {
                continue;
            }
            if let Some(r) = self.retry.get(peer) {
                if now < r.next_attempt {
                    note(r.next_attempt, &mut plan.next);
                    continue;
                }
            }
            let Some(addr) = (k.addr_of)(peer) else {
                continue;
            };
            if budget == 0 {
                break;
            }
            budget -= 1;
            plan.dial.push(Dial { addr, expected: Some(*peer), seed: None });
        }
        self.probe(now, k, &want, &mut plan);
        self.run_seeds(now, k, &mut plan);
        self.prune(cfg, now, k, &want, &mut plan);
        plan
    }

    /// Background attempts to candidates left out of the ring because they
    /// could not be reached: how a partition is noticed to have healed.
    fn probe(&self, now: Instant, k: &Known<'_>, want: &BTreeSet<NodeId>, plan: &mut Plan) {
        let mut budget = PROBES_PER_RUN;
        let due: Vec<(NodeId, SocketAddr)> = k
            .candidates
            .iter()
            .filter(|(id, _)| !want.contains(id) && !(k.routed)(id))
            .filter(|(id, _)| self.held.get(id).is_none_or(|&until| now >= until))
            .filter_map(|(id, c)| {
                let r = self.retry.get(id)?;
                if r.backoff.is_zero() {
                    return None;
                }
                if now < r.next_attempt {
                    note(r.next_attempt, &mut plan.next);
                    return None;
                }
                Some((*id, c.addr))
            })
            .collect();
        for (id, addr) in due {
            if budget == 0 || plan.linked(k, &id) {
                continue;
            }
            budget -= 1;
            plan.dial.push(Dial { addr, expected: Some(id), seed: None });
        }
    }

    fn run_seeds(&self, now: Instant, k: &Known<'_>, plan: &mut Plan) {
        for (i, s) in self.seeds.iter().enumerate() {
            if s.is_self || s.link.is_some() {
                continue;
            }
            // A seed whose node we reach anyway needs no link of its own.
            if s.peer.is_some_and(|p| (k.routed)(&p) || plan.linked(k, &p)) {
                continue;
            }
            if now < s.next_attempt {
                note(s.next_attempt, &mut plan.next);
                continue;
            }
            plan.dial.push(Dial { addr: s.addr, expected: None, seed: Some(i) });
        }
    }

    /// The node opened `link` for seed `seed` of a plan.
    pub(crate) fn seed_dialled(&mut self, seed: usize, link: LinkId) {
        if let Some(s) = self.seeds.get_mut(seed) {
            s.link = Some(link);
        }
    }

    /// Links we opened that the overlay no longer wants, after a grace
    /// period. Only the opener prunes, so the two ends never race.
    fn prune(
        &mut self,
        cfg: &Config,
        now: Instant,
        k: &Known<'_>,
        want: &BTreeSet<NodeId>,
        plan: &mut Plan,
    ) {
        let live = self.live_set(cfg, now, k).len();
        let mut still: BTreeMap<LinkId, Instant> = BTreeMap::new();
        if live > cfg.full_mesh_max + 1 {
            for l in k.links.iter().filter(|l| l.up && l.outgoing) {
                let Some(peer) = l.peer else { continue };
                let seeded = self.seeds.iter().any(|s| s.link == Some(l.id));
                if want.contains(&peer) || seeded {
                    continue;
                }
                let since = self.unwanted_since.get(&l.id).copied().unwrap_or(now);
                if now - since >= PRUNE_GRACE {
                    plan.prune.push(l.id);
                } else {
                    still.insert(l.id, since);
                    note(since + PRUNE_GRACE, &mut plan.next);
                }
            }
        }
        self.unwanted_since = still;
    }

    /// Whether link attempts to `id` are failing (it is backing off).
    pub(crate) fn failing(&self, id: &NodeId) -> bool {
        self.retry.get(id).is_some_and(|r| !r.backoff.is_zero())
    }

    /// A node we hear directly but cannot reach (`routed` false): its retry
    /// moves to now rather than the end of its backoff (the partition may
    /// have healed), unless a link to it is being attempted. True if the
    /// overlay should run again.
    pub(crate) fn heard(&mut self, now: Instant, id: NodeId, routed: bool, dialling: bool) -> bool {
        if routed || self.held.get(&id).is_some_and(|&until| now < until) {
            return false;
        }
        match self.retry.get_mut(&id) {
            Some(r) if r.next_attempt > now && !dialling => {
                r.next_attempt = now;
                true
            }
            _ => false,
        }
    }

    /// One of our links died of a keepalive timeout, or its round trips say
    /// frames are being lost: the network is lossy.
    pub(crate) fn flapped(&mut self, now: Instant) {
        self.last_flap = Some(now);
    }

    /// A WELCOME told us who answers at a link we opened.
    pub(crate) fn seed_peer(&mut self, link: LinkId, peer: NodeId) {
        for s in &mut self.seeds {
            if s.link == Some(link) {
                s.peer = Some(peer);
            }
        }
    }

    pub(crate) fn link_up(&mut self, link: LinkId, peer: NodeId) {
        self.retry.remove(&peer);
        self.held.remove(&peer);
        for s in &mut self.seeds {
            if s.link == Some(link) {
                s.backoff = Duration::ZERO;
                s.peer = Some(peer);
            }
        }
    }

    pub(crate) fn link_down(&mut self, cfg: &Config, now: Instant, l: &LinkInfo, rng: &mut Random) {
        let (min, max) = (cfg.retry_min, cfg.retry_max);
        // A longer hold set by a refusal is kept; otherwise double up to max.
        let grow = |b: Duration| match b {
            b if b.is_zero() => min,
            b if b > max => b,
            b => (b * 2).min(max),
        };
        let was_up = l.up;
        if l.outgoing {
            if let Some(peer) = l.peer.or(l.expected) {
                let r = self
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
                    let extra = if spread == 0 { 0 } else { rng.next_u64() % spread };
                    r.next_attempt += Duration::from_micros(extra);
                }
            }
        }
        for s in &mut self.seeds {
            if s.link == Some(l.id) {
                s.link = None;
                s.backoff = if was_up { Duration::ZERO } else { grow(s.backoff) };
                s.next_attempt = now + if was_up { min } else { s.backoff };
            }
        }
        self.unwanted_since.remove(&l.id);
    }

    /// The remote side refused link `l` that we opened; `sender` is its id
    /// when the REJECT carries it (never `me`).
    pub(crate) fn rejected(
        &mut self,
        cfg: &Config,
        now: Instant,
        l: &LinkInfo,
        reason: RejectReason,
        sender: Option<NodeId>,
    ) {
        let link = l.id;
        let peer = l.peer.or(l.expected);
        // A seed is known by address only until it answers: a refusal that
        // names its sender tells us whose address it is, so the seed is left
        // alone while that node is reachable another way (`run_seeds`).
        if let Some(id) = sender {
            for s in &mut self.seeds {
                if s.link == Some(link) {
                    s.peer = Some(id);
                }
            }
        }
        if reason == RejectReason::LIMIT {
            // The node is full: asking again at the usual pace only adds to
            // its load. Wait at least `retry_max`, doubling on each further
            // refusal up to REJECT_HOLD; `link_down` keeps a backoff already
            // above `retry_max`.
            let max = cfg.retry_max;
            let full = |b: Duration| (b * 2).max(max).min(REJECT_HOLD.max(max));
            if let Some(p) = peer {
                if let Some(r) = self.retry.get_mut(&p) {
                    r.backoff = full(r.backoff);
                } else {
                    self.retry
                        .insert(p, Retry { backoff: full(Duration::ZERO), next_attempt: now });
                }
            }
            for s in &mut self.seeds {
                if s.link == Some(link) {
                    s.backoff = full(s.backoff);
                }
            }
        }
        if reason == RejectReason::DUPLICATE_ID {
            for s in &mut self.seeds {
                if s.link == Some(link) {
                    s.is_self = true;
                }
            }
        }
        if matches!(reason, RejectReason::VERSION | RejectReason::CLUSTER) {
            if let Some(p) = peer {
                self.held.insert(p, now + REJECT_HOLD);
            }
            for s in &mut self.seeds {
                if s.link == Some(link) {
                    s.backoff = REJECT_HOLD;
                }
            }
        }
    }
}

impl Node {
    /// Something the overlay depends on changed.
    pub(super) fn overlay_changed(&mut self, now: Instant) {
        self.out.timers.set_earliest(Timer::Overlay, now + OVERLAY_DELAY);
    }

    fn link_infos(&self) -> Vec<LinkInfo> {
        self.links.values().map(LinkInfo::of).collect()
    }

    pub(super) fn on_overlay_timer(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        let links = self.link_infos();
        let routes = &self.routing.routes;
        let routed = |id: &NodeId| routes.contains_key(id);
        let all_routes = || routes.keys().copied().collect();
        let (candidates, routing) = (&self.discovery.candidates, &self.routing);
        // Where a node was heard first, else where its LSA says.
        let addr_of = |id: &NodeId| candidates.get(id).map(|c| c.addr).or_else(|| routing.addr(id));
        let known = Known {
            me: self.id,
            links: &links,
            candidates: &self.discovery.candidates,
            routed: &routed,
            routes: &all_routes,
            addr_of: &addr_of,
        };
        let plan = self.overlay.plan(&self.cfg, now, &known);
        for d in plan.dial {
            let link = self.open_link(now, d.addr, d.expected);
            if let Some(seed) = d.seed {
                self.overlay.seed_dialled(seed, link);
            }
        }
        for link in plan.prune {
            self.close_link(now, link, Some(GoodbyeReason::LINK_DROPPED), "overlay pruned");
        }
        if let Some(at) = plan.next {
            self.out.timers.set_earliest(Timer::Overlay, at.max(now + OVERLAY_DELAY));
        }
    }

    /// Whether link attempts to `id` are failing (it is backing off).
    pub(super) fn overlay_failing(&self, id: &NodeId) -> bool {
        self.overlay.failing(id)
    }

    /// A node we hear directly: if we cannot reach it, try it again now.
    pub(super) fn overlay_heard(&mut self, now: Instant, id: NodeId) {
        let routed = self.routing.routes.contains_key(&id);
        let dialling = self.links.values().any(|l| l.expected == Some(id));
        if self.overlay.heard(now, id, routed, dialling) {
            self.overlay_changed(now);
        }
    }

    /// One of our links died of a keepalive timeout, or its round trips say
    /// frames are being lost: the network is lossy.
    pub(super) fn overlay_flapped(&mut self, now: Instant) {
        self.overlay.flapped(now);
        self.overlay_changed(now);
    }

    /// A WELCOME told us who answers at a link we opened.
    pub(super) fn overlay_seed_peer(&mut self, link: LinkId, peer: NodeId) {
        self.overlay.seed_peer(link, peer);
    }

    pub(super) fn overlay_link_up(&mut self, now: Instant, link: LinkId, peer: NodeId) {
        self.overlay.link_up(link, peer);
        self.overlay_changed(now);
    }

    pub(super) fn overlay_link_down(&mut self, now: Instant, l: &Link, _reason: LinkCloseReason) {
        self.overlay.link_down(&self.cfg, now, &LinkInfo::of(l), &mut self.rng);
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
        let info = LinkInfo::of(l);
        let sender = sender.filter(|id| *id != self.id);
        self.overlay.rejected(&self.cfg, now, &info, reason, sender);
    }
}

#[cfg(test)]
mod tests;
