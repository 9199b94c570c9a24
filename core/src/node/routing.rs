//! Link-state routing: this node's LSA, the database of everyone's, flooding,
//! and SPF, whose result is the membership (a peer is up while a route to it
//! exists).

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::links::truncate;
use bytes::Bytes;

use super::output::{LinkId, PeerInfo};
use super::timers::Timer;
use super::Node;
use crate::spf::{Graph, Ix};
use crate::time::Instant;
use crate::wire::link::routing::LSA_FLUSH;
use crate::wire::link::{Intro, Lsa, LsaKey, Neighbour};
use crate::wire::{FixedList, Frame, HeaderList, LinkMessage, NodeId, StrList};

/// One stored LSA.
#[derive(Debug, Clone)]
pub(crate) struct LsaEntry {
    pub(crate) lsa: Lsa,
    /// When it arrived; its age grows from `lsa.age_s` from then on.
    received: Instant,
    /// The origin's link address with an unspecified IP resolved, where the
    /// LSA came straight from the origin.
    pub(crate) addr: SocketAddr,
}

/// The route SPF found to one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RouteEntry {
    pub(crate) cost: u32,
    pub(crate) hops: u32,
    /// The neighbour the route starts with.
    pub(crate) next_hop: NodeId,
    /// The whole path, this node first, the destination last.
    pub(crate) path: Vec<NodeId>,
}

pub(crate) struct Routing {
    pub(crate) db: BTreeMap<NodeId, LsaEntry>,
    own_seq: u64,
    /// Something in our own LSA changed since it was last sent.
    pub(crate) own_dirty: bool,
    last_originated: Option<Instant>,
    pub(crate) routes: BTreeMap<NodeId, RouteEntry>,
    /// When each node in the database was last found unreachable.
    unreachable_since: BTreeMap<NodeId, Instant>,
    /// Origins that were reachable and stopped being so: their stored LSA
    /// proves no link until a newer one (or a neighbour's current copy)
    /// arrives, since it may describe an instance that has restarted.
    /// Entries that were never reachable are not stale: they are simply
    /// waiting for the rest of their path.
    stale: alloc::collections::BTreeSet<NodeId>,
    /// When SPF last ran, and the gap it keeps before the next run (see
    /// `spf_max_hold`).
    last_spf: Option<Instant>,
    spf_hold: Duration,
}

impl Routing {
    pub(crate) fn new() -> Self {
        Routing {
            db: BTreeMap::new(),
            own_seq: 0,
            own_dirty: true,
            last_originated: None,
            routes: BTreeMap::new(),
            unreachable_since: BTreeMap::new(),
            stale: alloc::collections::BTreeSet::new(),
            last_spf: None,
            spf_hold: Duration::ZERO,
        }
    }
}

impl Node {
    fn own_lsa(&self, flags: u8) -> Lsa {
        let mut peers = self.up_peers();
        peers.sort();
        peers.dedup();
        let neighbours: Vec<Neighbour> =
            peers.into_iter().map(|id| Neighbour { id, cost: 1 }).collect();
        Lsa {
            origin: self.id,
            incarnation: self.cfg.incarnation,
            sequence: self.routing.own_seq,
            age_s: 0,
            state: self.state,
            flags,
            link_addr: self.advertised_addr(),
            name: truncate(&self.cfg.name).into(),
            neighbours: FixedList::from_entries(neighbours.iter()),
            groups: StrList::from_names(self.groups.iter()).unwrap_or_default(),
            headers: HeaderList::from_pairs(self.headers.iter()).unwrap_or_default(),
        }
    }

    /// Originates our LSA at the earliest moment damping allows.
    pub(super) fn schedule_originate(&mut self, now: Instant) {
        let at = match self.routing.last_originated {
            Some(last) => (last + self.cfg.lsa_min_interval).max(now),
            None => now,
        };
        self.out.timers.set_earliest(Timer::Originate, at);
    }

    pub(super) fn schedule_spf(&mut self, now: Instant) {
        let soonest = now + self.cfg.spf_delay;
        let at = match self.routing.last_spf {
            Some(last) => soonest.max(last + self.routing.spf_hold),
            None => soonest,
        };
        self.out.timers.set_earliest(Timer::Spf, at);
    }

    pub(super) fn on_originate_timer(&mut self, now: Instant) {
        if self.shutting_down || !self.routing.own_dirty {
            return;
        }
        if let Some(last) = self.routing.last_originated {
            if now - last < self.cfg.lsa_min_interval {
                self.schedule_originate(now);
                return;
            }
        }
        self.routing.own_seq += 1;
        self.routing.own_dirty = false;
        self.routing.last_originated = Some(now);
        self.out.stats.lsa_originated += 1;
        let lsa = self.own_lsa(0);
        self.flood(&lsa, None);
    }

    /// Withdraws our LSA from the mesh (clean shutdown).
    pub(super) fn flood_flush(&mut self) {
        self.routing.own_seq += 1;
        let lsa = self.own_lsa(LSA_FLUSH);
        self.flood(&lsa, None);
    }

    /// Sends `lsa` on every up link but `except`, encoded once.
    fn flood(&mut self, lsa: &Lsa, except: Option<LinkId>) {
        let Some((key, data)) = self.encode_lsa(lsa) else { return };
        for link in self.up_links() {
            if Some(link) != except {
                self.send_lsa(link, key, data.clone());
            }
        }
    }

    fn encode_lsa(&mut self, lsa: &Lsa) -> Option<(LsaKey, Bytes)> {
        let key =
            LsaKey { origin: lsa.origin, incarnation: lsa.incarnation, sequence: lsa.sequence };
        match Frame::new(LinkMessage::Lsa(lsa.clone())).to_bytes() {
            Ok(d) => Some((key, d)),
            Err(_) => {
                self.out.stats.dropped_limit += 1;
                None
            }
        }
    }

    fn send_one_lsa(&mut self, link: LinkId, lsa: &Lsa) {
        if let Some((key, data)) = self.encode_lsa(lsa) {
            self.send_lsa(link, key, data);
        }
    }

    /// A link came up: our LSA changes, and the new neighbour gets our whole
    /// database so it converges at once.
    pub(super) fn routing_link_up(&mut self, now: Instant, link: LinkId, intro: &Intro) {
        if let Some(e) = self.routing.db.get(&intro.node_id) {
            if e.lsa.incarnation < intro.incarnation {
                self.routing.db.remove(&intro.node_id);
            }
        }
        // Our own LSA follows from the origination this change schedules.
        self.self_changed(now);
        // Stale entries (origins found unreachable) are not passed on: they
        // may describe an instance that is gone.
        let all: Vec<Lsa> = self
            .routing
            .db
            .iter()
            .filter(|(id, _)| !self.routing.stale.contains(*id))
            .map(|(_, e)| self.aged(e, now))
            .collect();
        for lsa in all {
            self.send_one_lsa(link, &lsa);
        }
        self.schedule_spf(now);
    }

    pub(super) fn routing_link_down(&mut self, now: Instant, _peer: NodeId) {
        self.self_changed(now);
        self.schedule_spf(now);
    }

    /// A stored LSA with its age brought up to date, for forwarding.
    fn aged(&self, e: &LsaEntry, now: Instant) -> Lsa {
        let mut lsa = e.lsa.clone();
        let secs = (now - e.received).as_secs();
        lsa.age_s = u16::try_from(u64::from(lsa.age_s) + secs).unwrap_or(u16::MAX);
        lsa
    }

    pub(super) fn on_lsa(&mut self, now: Instant, link: LinkId, lsa: Lsa) {
        let origin = lsa.origin;
        // Datagram links: whatever becomes of it, it arrived.
        let key = LsaKey { origin, incarnation: lsa.incarnation, sequence: lsa.sequence };
        self.ack_lsa(now, link, key);
        if Duration::from_secs(u64::from(lsa.age_s)) >= self.cfg.lsa_max_age
            && lsa.flags & LSA_FLUSH == 0
        {
            self.out.stats.lsa_ignored += 1;
            return;
        }
        if origin == self.id {
            // A copy of ours from before: make sure ours supersedes it.
            if lsa.incarnation == self.cfg.incarnation && lsa.sequence >= self.routing.own_seq {
                self.routing.own_seq = lsa.sequence;
                self.self_changed(now);
            }
            self.out.stats.lsa_ignored += 1;
            return;
        }
        if self.membership.is_departed(&origin, lsa.incarnation) {
            self.out.stats.lsa_ignored += 1;
            return;
        }
        let key = (lsa.incarnation, lsa.sequence);
        if let Some(e) = self.routing.db.get(&origin) {
            let have = (e.lsa.incarnation, e.lsa.sequence);
            // Only an entry stale for a while is trusted again this way: in
            // the first moments after an origin vanishes, a neighbour whose
            // routing has not caught up yet may still hand us its copy.
            let stale = self.routing.stale.contains(&origin)
                && self
                    .routing
                    .unreachable_since
                    .get(&origin)
                    .is_some_and(|&t| now - t >= self.cfg.keepalive_interval);
            if key == have && stale {
                // Ours went stale while its origin was unreachable; a
                // neighbour holds it current: trust it again and pass it on,
                // so a healed partition does not wait for a refresh.
                self.routing.stale.remove(&origin);
                self.flood(&lsa, Some(link));
                self.schedule_spf(now);
                return;
            }
            if key <= have {
                self.out.stats.lsa_ignored += 1;
                if key < have {
                    // The sender is behind: give it ours.
                    let newer = self.aged(e, now);
                    self.send_one_lsa(link, &newer);
                }
                return;
            }
        } else if self.routing.db.len() >= self.cfg.max_peers {
            self.out.stats.dropped_limit += 1;
            return;
        }
        self.out.stats.lsa_accepted += 1;
        self.flood(&lsa, Some(link));
        if lsa.flags & LSA_FLUSH != 0 {
            self.routing.db.remove(&origin);
            self.peer_departed(now, origin, lsa.incarnation);
            return;
        }
        let addr = match self.links.get(&link) {
            Some(l) if l.peer == Some(origin) => super::resolve_addr(lsa.link_addr, l.addr),
            _ => lsa.link_addr,
        };
        self.routing.db.insert(origin, LsaEntry { lsa, received: now, addr });
        self.routing.stale.remove(&origin);
        self.schedule_spf(now);
    }

    /// `id` (incarnation `inc`) left the mesh: forget its routing entry and
    /// let SPF report it down as left.
    pub(super) fn peer_departed(&mut self, now: Instant, id: NodeId, inc: u64) {
        if self.membership.is_departed(&id, inc) {
            return;
        }
        self.membership.mark_departed(id, inc, now, self.cfg.max_peers);
        if self.routing.db.get(&id).is_some_and(|e| e.lsa.incarnation <= inc) {
            self.routing.db.remove(&id);
        }
        self.schedule_spf(now);
        self.overlay_changed(now);
    }

    pub(super) fn on_spf_timer(&mut self, now: Instant) {
        // Throttling: a run soon after the previous one doubles the gap
        // before the next; a quiet spell resets it.
        let r = &mut self.routing;
        let busy =
            r.last_spf.is_some_and(|t| now - t < (r.spf_hold * 2).max(self.cfg.spf_delay * 2));
        r.spf_hold = if busy {
            (r.spf_hold * 2).max(self.cfg.spf_delay).min(self.cfg.spf_max_hold)
        } else {
            self.cfg.spf_delay
        };
        r.last_spf = Some(now);
        self.out.stats.spf_runs += 1;
        let routes = self.spf();
        let mut view: BTreeMap<NodeId, PeerInfo> = BTreeMap::new();
        for (id, r) in &routes {
            if let Some(info) = self.peer_info(id, r.hops) {
                view.insert(*id, info);
            }
        }
        for id in self.routing.db.keys() {
            if routes.contains_key(id) {
                self.routing.unreachable_since.remove(id);
                self.routing.stale.remove(id);
            } else {
                self.routing.unreachable_since.entry(*id).or_insert(now);
            }
        }
        for id in self.routing.routes.keys() {
            if !routes.contains_key(id) && self.routing.db.contains_key(id) {
                self.routing.stale.insert(*id);
            }
        }
        self.routing.routes = routes;
        let routes = &self.routing.routes;
        let routed = |id: &NodeId| routes.contains_key(id);
        self.membership.update(&self.cfg, now, view, routed, &mut self.out);
        self.overlay_changed(now);
    }

    /// What we know of a reachable node: its LSA, or for a neighbour whose
    /// LSA has not arrived yet, its HELLO.
    fn peer_info(&self, id: &NodeId, hops: u32) -> Option<PeerInfo> {
        if let Some(e) = self.routing.db.get(id).filter(|_| !self.routing.stale.contains(id)) {
            let l = &e.lsa;
            return Some(peer_info(
                *id,
                l.incarnation,
                &l.name,
                e.addr,
                l.state,
                &l.headers,
                &l.groups,
                hops,
            ));
        }
        let (i, link_addr) = self.neighbour_intro(id)?;
        let addr = super::resolve_addr(i.link_addr, link_addr);
        Some(peer_info(*id, i.incarnation, &i.name, addr, i.state, &i.headers, &i.groups, hops))
    }

    /// Dijkstra from this node over links both ends advertise. Our own edges
    /// are our up links (fresher than any LSA); a neighbour without an LSA
    /// yet is reachable but leads nowhere.
    fn spf(&self) -> BTreeMap<NodeId, RouteEntry> {
        let mut g = Graph::new();
        let me = g.intern(self.id);
        // Each origin's advertised neighbours, by index, sorted for the
        // two-way check.
        let mut adv: Vec<(Ix, Vec<(Ix, u16)>)> = Vec::with_capacity(self.routing.db.len());
        for (origin, e) in &self.routing.db {
            // An origin found unreachable keeps its entry, but the entry
            // proves no link until a newer one (or a neighbour's copy)
            // arrives: it may describe an instance that has restarted.
            if self.routing.stale.contains(origin) {
                continue;
            }
            let u = g.intern(*origin);
            let mut ns: Vec<(Ix, u16)> =
                e.lsa.neighbours.iter().map(|n| (g.intern(n.id), n.cost)).collect();
            ns.sort_unstable();
            adv.push((u, ns));
        }
        let mut by_ix: Vec<Option<usize>> = alloc::vec![None; g.len()];
        for (k, (u, _)) in adv.iter().enumerate() {
            by_ix[*u as usize] = Some(k);
        }
        for (u, ns) in &adv {
            for &(v, cost) in ns {
                if v == me {
                    continue;
                }
                let back = by_ix[v as usize]
                    .is_some_and(|k| adv[k].1.binary_search_by_key(u, |&(x, _)| x).is_ok());
                if back {
                    g.edge(*u, v, u32::from(cost));
                }
            }
        }
        for peer in self.up_peers() {
            let p = g.intern(peer);
            g.edge(me, p, 1);
        }
        let tree = g.shortest_paths(me);
        let mut best = BTreeMap::new();
        for ix in tree.reachable() {
            let (Some(cost), Some(hops), Some(first)) =
                (tree.cost(ix), tree.hops(ix), tree.first_hop(ix))
            else {
                continue;
            };
            let path = tree.path(ix).into_iter().map(|i| g.id(i)).collect();
            best.insert(g.id(ix), RouteEntry { cost, hops, next_hop: g.id(first), path });
        }
        best
    }

    /// Once a second: age the database, refresh our LSA, expire candidates.
    pub(super) fn on_housekeeping(&mut self, now: Instant) {
        let max_age = self.cfg.lsa_max_age;
        let hold = self.cfg.unreachable_hold;
        let mut dropped = false;
        let unreachable = &self.routing.unreachable_since;
        self.routing.db.retain(|id, e| {
            let age = Duration::from_secs(u64::from(e.lsa.age_s)) + (now - e.received);
            let gone = unreachable.get(id).is_some_and(|&t| now - t >= hold);
            let keep = age < max_age && !gone;
            dropped |= !keep;
            keep
        });
        let db = &self.routing.db;
        self.routing.unreachable_since.retain(|id, _| db.contains_key(id));
        self.routing.stale.retain(|id| db.contains_key(id));
        if dropped {
            self.schedule_spf(now);
        }
        if self.routing.last_originated.is_some_and(|t| now - t >= self.cfg.lsa_refresh) {
            self.self_changed(now);
        }
        self.expire_candidates(now);
        self.expire_reassembly(now);
        self.expire_streams(now);
        self.membership.expire_departed(now, self.cfg.lsa_max_age);
        self.out.timers.set(Timer::Housekeeping, now + super::HOUSEKEEPING);
    }

    /// The best known link address of `id`.
    pub(super) fn addr_of(&self, id: &NodeId) -> Option<SocketAddr> {
        if let Some(c) = self.discovery.candidates.get(id) {
            return Some(c.addr);
        }
        if let Some(e) = self.routing.db.get(id) {
            if !e.addr.ip().is_unspecified() {
                return Some(e.addr);
            }
        }
        None
    }
}

/// A [`PeerInfo`] from what an LSA or a HELLO says of a node.
#[allow(clippy::too_many_arguments)]
fn peer_info(
    id: NodeId,
    incarnation: u64,
    name: &str,
    addr: SocketAddr,
    state: crate::wire::NodeState,
    headers: &HeaderList,
    groups: &StrList,
    hops: u32,
) -> PeerInfo {
    PeerInfo {
        id,
        incarnation,
        name: name.into(),
        addr,
        state,
        headers: headers.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
        groups: groups.iter().map(|g| (*g).into()).collect(),
        hops,
    }
}
