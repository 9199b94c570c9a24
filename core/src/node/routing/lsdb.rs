//! The link-state database and SPF: every node's LSA, the routes they give,
//! and the bookkeeping of this node's own LSA.
//!
//! [`Routing`] owns all of it and decides what a received LSA means
//! ([`Received`]); the node carries that out over its links (flooding is a
//! link matter) and tells membership what SPF found.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::Bytes;

use super::super::output::{Outputs, PeerInfo};
use super::super::timers::Timer;
use crate::config::Config;
use crate::spf::{Graph, Ix};
use crate::time::Instant;
use crate::wire::link::routing::LSA_FLUSH;
use crate::wire::link::{Lsa, LsaKey, Route};
use crate::wire::{Frame, HeaderList, LinkMessage, NodeId, StrList};

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

impl LsaEntry {
    /// The stored LSA with its age brought up to date, for passing on.
    fn aged(&self, now: Instant) -> Lsa {
        let mut lsa = self.lsa.clone();
        let secs = (now - self.received).as_secs();
        lsa.age_s = u16::try_from(u64::from(lsa.age_s) + secs).unwrap_or(u16::MAX);
        lsa
    }
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
    /// `path` as the source route DATA carries, built once per SPF run
    /// rather than once per message; `None` past the route format's
    /// 255 entries.
    pub(crate) route: Option<Route>,
}

/// An LSA encoded once for every link it goes to.
pub(crate) type Encoded = (LsaKey, Bytes);

/// What a received LSA asks of the node.
#[derive(Debug)]
pub(crate) enum Received {
    /// Nothing: dropped and counted (too old, of a departed instance, not
    /// newer than ours, or over `max_peers`).
    Ignored,
    /// A copy of our own LSA at or above our sequence: our next one must
    /// supersede it (the sequence has been moved up).
    OwnCopy,
    /// The sender is behind: send it our copy, on its link only.
    SendBack(Encoded),
    /// Flood it on to every other link (unless it could not be encoded,
    /// which is counted); then run SPF.
    Flood(Option<Encoded>),
    /// The origin withdrew (FLUSH; its entry is gone): flood it on, then
    /// the origin's incarnation has departed.
    FloodDeparted(Option<Encoded>, NodeId, u64),
}

pub(crate) struct Routing {
    pub(crate) db: BTreeMap<NodeId, LsaEntry>,
    own_seq: u64,
    /// Something in our own LSA changed since it was last sent.
    own_dirty: bool,
    last_originated: Option<Instant>,
    pub(crate) routes: BTreeMap<NodeId, RouteEntry>,
    /// When each node in the database was last found unreachable.
    unreachable_since: BTreeMap<NodeId, Instant>,
    /// Origins that were reachable and stopped being so: their stored LSA
    /// proves no link until a newer one (or a neighbour's current copy)
    /// arrives, since it may describe an instance that has restarted.
    /// Entries that were never reachable are not stale: they are simply
    /// waiting for the rest of their path.
    stale: BTreeSet<NodeId>,
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
            stale: BTreeSet::new(),
            last_spf: None,
            spf_hold: Duration::ZERO,
        }
    }

    /// Our own LSA must be issued again; the caller schedules it.
    pub(crate) fn mark_dirty(&mut self) {
        self.own_dirty = true;
    }

    /// Arms origination at the earliest moment damping allows.
    pub(crate) fn schedule_originate(&self, cfg: &Config, now: Instant, out: &mut Outputs) {
        let at = match self.last_originated {
            Some(last) => (last + cfg.lsa_min_interval).max(now),
            None => now,
        };
        out.timers.set_earliest(Timer::Originate, at);
    }

    /// Arms SPF `spf_delay` from now, or later while throttled.
    pub(crate) fn schedule_spf(&self, cfg: &Config, now: Instant, out: &mut Outputs) {
        let soonest = now + cfg.spf_delay;
        let at = match self.last_spf {
            Some(last) => soonest.max(last + self.spf_hold),
            None => soonest,
        };
        out.timers.set_earliest(Timer::Spf, at);
    }

    /// The origination timer fired: the sequence of our next LSA, if one is
    /// due now (`None`: nothing changed, or damping moved it later).
    pub(crate) fn originate(
        &mut self,
        cfg: &Config,
        now: Instant,
        out: &mut Outputs,
    ) -> Option<u64> {
        if !self.own_dirty {
            return None;
        }
        if let Some(last) = self.last_originated {
            if now - last < cfg.lsa_min_interval {
                self.schedule_originate(cfg, now, out);
                return None;
            }
        }
        self.own_seq += 1;
        self.own_dirty = false;
        self.last_originated = Some(now);
        out.stats.lsa_originated += 1;
        Some(self.own_seq)
    }

    /// The sequence of our withdrawal (FLUSH), which is not damped.
    pub(crate) fn flush_sequence(&mut self) -> u64 {
        self.own_seq += 1;
        self.own_seq
    }

    /// Our last origination is `lsa_refresh` old.
    pub(crate) fn refresh_due(&self, cfg: &Config, now: Instant) -> bool {
        self.last_originated.is_some_and(|t| now - t >= cfg.lsa_refresh)
    }

    /// A neighbour (`peer`, `incarnation` from its HELLO or WELCOME) came
    /// up: an entry of an older instance goes, and it is owed every entry
    /// we hold but stale ones, aged.
    pub(crate) fn neighbour_up(
        &mut self,
        now: Instant,
        peer: NodeId,
        incarnation: u64,
        out: &mut Outputs,
    ) -> Vec<Encoded> {
        if self.db.get(&peer).is_some_and(|e| e.lsa.incarnation < incarnation) {
            self.db.remove(&peer);
        }
        // Stale entries (origins found unreachable) are not passed on: they
        // may describe an instance that is gone.
        let stale = &self.stale;
        self.db
            .iter()
            .filter(|(id, _)| !stale.contains(*id))
            .filter_map(|(_, e)| encode(&e.aged(now), out))
            .collect()
    }

    /// `id` (incarnation `inc`) left: its entry goes unless newer.
    pub(crate) fn forget(&mut self, id: &NodeId, inc: u64) {
        if self.db.get(id).is_some_and(|e| e.lsa.incarnation <= inc) {
            self.db.remove(id);
        }
    }

    /// An LSA arrived from a neighbour (PROTOCOL 7.6). `me`: our id and
    /// incarnation. `departed`: membership has seen that instance leave.
    /// `origin_addr`: the link's address when the LSA came straight from
    /// its origin (to resolve an unspecified IP).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn receive(
        &mut self,
        cfg: &Config,
        now: Instant,
        me: (NodeId, u64),
        lsa: Lsa,
        departed: bool,
        origin_addr: Option<SocketAddr>,
        out: &mut Outputs,
    ) -> Received {
        let origin = lsa.origin;
        if Duration::from_secs(u64::from(lsa.age_s)) >= cfg.lsa_max_age
            && lsa.flags & LSA_FLUSH == 0
        {
            out.stats.lsa_ignored += 1;
            return Received::Ignored;
        }
        if origin == me.0 {
            out.stats.lsa_ignored += 1;
            // A copy of ours from before: make sure ours supersedes it.
            if lsa.incarnation == me.1 && lsa.sequence >= self.own_seq {
                self.own_seq = lsa.sequence;
                return Received::OwnCopy;
            }
            return Received::Ignored;
        }
        if departed {
            out.stats.lsa_ignored += 1;
            return Received::Ignored;
        }
        let key = (lsa.incarnation, lsa.sequence);
        if let Some(e) = self.db.get(&origin) {
            let have = (e.lsa.incarnation, e.lsa.sequence);
            // Only an entry stale for a while is trusted again this way: in
            // the first moments after an origin vanishes, a neighbour whose
            // routing has not caught up yet may still hand us its copy.
            let stale = self.stale.contains(&origin)
                && self
                    .unreachable_since
                    .get(&origin)
                    .is_some_and(|&t| now - t >= cfg.keepalive_interval);
            if key == have && stale {
                // Ours went stale while its origin was unreachable; a
                // neighbour holds it current: trust it again and pass it on,
                // so a healed partition does not wait for a refresh.
                self.stale.remove(&origin);
                return Received::Flood(encode(&lsa, out));
            }
            if key <= have {
                out.stats.lsa_ignored += 1;
                if key < have {
                    // The sender is behind: give it ours.
                    let newer = e.aged(now);
                    return encode(&newer, out).map_or(Received::Ignored, Received::SendBack);
                }
                return Received::Ignored;
            }
        } else if self.db.len() >= cfg.max_peers {
            out.stats.dropped_limit += 1;
            return Received::Ignored;
        }
        out.stats.lsa_accepted += 1;
        let encoded = encode(&lsa, out);
        if lsa.flags & LSA_FLUSH != 0 {
            self.db.remove(&origin);
            return Received::FloodDeparted(encoded, origin, lsa.incarnation);
        }
        let addr = match origin_addr {
            Some(from) => super::super::resolve_addr(lsa.link_addr, from),
            None => lsa.link_addr,
        };
        self.db.insert(origin, LsaEntry { lsa, received: now, addr });
        self.stale.remove(&origin);
        Received::Flood(encoded)
    }

    /// Notes an SPF run at `now` for the throttle: a run soon after the
    /// previous one doubles the gap before the next; a quiet spell resets
    /// it.
    pub(crate) fn spf_started(&mut self, cfg: &Config, now: Instant, out: &mut Outputs) {
        let busy =
            self.last_spf.is_some_and(|t| now - t < (self.spf_hold * 2).max(cfg.spf_delay * 2));
        self.spf_hold = if busy {
            (self.spf_hold * 2).max(cfg.spf_delay).min(cfg.spf_max_hold)
        } else {
            cfg.spf_delay
        };
        self.last_spf = Some(now);
        out.stats.spf_runs += 1;
    }

    /// Dijkstra from `me` over links both ends advertise. Our own edges
    /// are `up_peers`, our up links (fresher than any LSA); a neighbour
    /// without an LSA yet is reachable but leads nowhere.
    pub(crate) fn spf(&self, me: NodeId, up_peers: &[NodeId]) -> BTreeMap<NodeId, RouteEntry> {
        let mut g = Graph::new();
        let me = g.intern(me);
        // Each origin's advertised neighbours, by index, sorted for the
        // two-way check.
        let mut adv: Vec<(Ix, Vec<(Ix, u16)>)> = Vec::with_capacity(self.db.len());
        for (origin, e) in &self.db {
            // An origin found unreachable keeps its entry, but the entry
            // proves no link until a newer one (or a neighbour's copy)
            // arrives: it may describe an instance that has restarted.
            if self.stale.contains(origin) {
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
        for peer in up_peers {
            let p = g.intern(*peer);
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
            let path: Vec<NodeId> = tree.path(ix).into_iter().map(|i| g.id(i)).collect();
            let route = Route::path(&path).ok();
            best.insert(g.id(ix), RouteEntry { cost, hops, next_hop: g.id(first), path, route });
        }
        best
    }

    /// Installs what SPF found: origins without a route start counting as
    /// unreachable, and those that had one before go stale.
    pub(crate) fn install(&mut self, now: Instant, routes: BTreeMap<NodeId, RouteEntry>) {
        for id in self.db.keys() {
            if routes.contains_key(id) {
                self.unreachable_since.remove(id);
                self.stale.remove(id);
            } else {
                self.unreachable_since.entry(*id).or_insert(now);
            }
        }
        for id in self.routes.keys() {
            if !routes.contains_key(id) && self.db.contains_key(id) {
                self.stale.insert(*id);
            }
        }
        self.routes = routes;
    }

    /// What a (non-stale) stored LSA says of its origin, `hops` away.
    pub(crate) fn peer_info(&self, id: &NodeId, hops: u32) -> Option<PeerInfo> {
        let e = self.db.get(id).filter(|_| !self.stale.contains(id))?;
        let l = &e.lsa;
        Some(peer_info(*id, l.incarnation, &l.name, e.addr, l.state, &l.headers, &l.groups, hops))
    }

    /// Ages the database: drops entries at `lsa_max_age` and those whose
    /// origin has been unreachable for `unreachable_hold`. True if any went.
    pub(crate) fn expire(&mut self, cfg: &Config, now: Instant) -> bool {
        let (max_age, hold) = (cfg.lsa_max_age, cfg.unreachable_hold);
        let mut dropped = false;
        let unreachable = &self.unreachable_since;
        self.db.retain(|id, e| {
            let age = Duration::from_secs(u64::from(e.lsa.age_s)) + (now - e.received);
            let gone = unreachable.get(id).is_some_and(|&t| now - t >= hold);
            let keep = age < max_age && !gone;
            dropped |= !keep;
            keep
        });
        let db = &self.db;
        self.unreachable_since.retain(|id, _| db.contains_key(id));
        self.stale.retain(|id| db.contains_key(id));
        dropped
    }

    /// Whether `id`'s entry is stale (see `stale`).
    pub(crate) fn is_stale(&self, id: &NodeId) -> bool {
        self.stale.contains(id)
    }

    /// The link address an origin's LSA gives, if its IP is known.
    pub(crate) fn addr(&self, id: &NodeId) -> Option<SocketAddr> {
        self.db.get(id).map(|e| e.addr).filter(|a| !a.ip().is_unspecified())
    }
}

/// Encodes an LSA once for every link; an LSA too large to encode (only a
/// peer's oversized one could be) is counted and goes nowhere.
pub(crate) fn encode(lsa: &Lsa, out: &mut Outputs) -> Option<Encoded> {
    let key = LsaKey { origin: lsa.origin, incarnation: lsa.incarnation, sequence: lsa.sequence };
    match Frame::new(LinkMessage::Lsa(lsa.clone())).to_bytes() {
        Ok(d) => Some((key, d)),
        Err(_) => {
            out.stats.dropped_limit += 1;
            None
        }
    }
}

/// A [`PeerInfo`] from what an LSA or a HELLO says of a node.
#[allow(clippy::too_many_arguments)]
pub(crate) fn peer_info(
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
        traffic: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::link::Neighbour;
    use crate::wire::{FixedList, NodeState};

    const ME: NodeId = NodeId([1; 16]);

    fn id(n: u8) -> NodeId {
        NodeId([n; 16])
    }

    fn lsa(origin: u8, sequence: u64, neighbours: &[u8]) -> Lsa {
        let ns: Vec<Neighbour> =
            neighbours.iter().map(|&n| Neighbour { id: id(n), cost: 1 }).collect();
        Lsa {
            origin: id(origin),
            incarnation: 1,
            sequence,
            age_s: 0,
            state: NodeState::Ready,
            flags: 0,
            link_addr: "0.0.0.0:7400".parse().unwrap(),
            name: "n".into(),
            neighbours: FixedList::from_entries(ns.iter()),
            groups: StrList::default(),
            headers: HeaderList::default(),
        }
    }

    struct Fixture {
        cfg: Config,
        r: Routing,
        out: Outputs,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture { cfg: Config::lan("r", "me"), r: Routing::new(), out: Outputs::default() }
        }

        fn receive(&mut self, now: Instant, l: Lsa) -> Received {
            self.r.receive(&self.cfg, now, (ME, 1), l, false, None, &mut self.out)
        }

        fn seq_of(&self, n: u8) -> Option<u64> {
            self.r.db.get(&id(n)).map(|e| e.lsa.sequence)
        }
    }

    #[test]
    fn newer_replaces_equal_is_ignored_and_an_older_sender_gets_ours() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        assert!(matches!(f.receive(t, lsa(2, 5, &[])), Received::Flood(Some(_))));
        assert!(matches!(f.receive(t, lsa(2, 5, &[])), Received::Ignored));
        assert!(matches!(f.receive(t, lsa(2, 6, &[])), Received::Flood(Some(_))));
        assert_eq!(f.seq_of(2), Some(6));
        // Three seconds later an older copy comes in: ours goes back, aged.
        let later = t + Duration::from_secs(3);
        let Received::SendBack((key, data)) = f.receive(later, lsa(2, 4, &[])) else {
            panic!("the older sender is not sent ours");
        };
        assert_eq!(key.sequence, 6);
        let Ok(frame) = Frame::parse(&data) else { panic!("our copy does not parse") };
        let crate::wire::Message::Link(LinkMessage::Lsa(back)) = frame.message else {
            panic!("not an LSA")
        };
        assert_eq!(back.age_s, 3);
        assert_eq!((f.out.stats.lsa_accepted, f.out.stats.lsa_ignored), (2, 2));
    }

    #[test]
    fn a_copy_of_our_own_lsa_moves_our_sequence_above_it() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        assert_eq!(f.r.originate(&f.cfg, t, &mut f.out), Some(1));
        assert!(matches!(f.receive(t, lsa(1, 9, &[])), Received::OwnCopy));
        f.r.mark_dirty();
        let next = f.r.originate(&f.cfg, t + f.cfg.lsa_min_interval, &mut f.out);
        assert_eq!(next, Some(10), "ours must supersede the copy");
        // An older copy of ours changes nothing.
        assert!(matches!(f.receive(t, lsa(1, 3, &[])), Received::Ignored));
        assert!(f.r.db.is_empty(), "our own LSA is never stored");
    }

    #[test]
    fn origination_is_damped_and_only_when_something_changed() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        assert_eq!(f.r.originate(&f.cfg, t, &mut f.out), Some(1));
        assert_eq!(f.r.originate(&f.cfg, t, &mut f.out), None, "nothing changed");
        f.r.mark_dirty();
        let soon = t + f.cfg.lsa_min_interval / 2;
        assert_eq!(f.r.originate(&f.cfg, soon, &mut f.out), None, "damped");
        assert_eq!(f.out.timers.next(), Some(t + f.cfg.lsa_min_interval));
        assert_eq!(f.r.originate(&f.cfg, t + f.cfg.lsa_min_interval, &mut f.out), Some(2));
        assert_eq!(f.out.stats.lsa_originated, 2);
    }

    #[test]
    fn a_flush_removes_its_origin_and_says_it_departed() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        f.receive(t, lsa(2, 1, &[]));
        let mut flush = lsa(2, 2, &[]);
        flush.flags = LSA_FLUSH;
        // However old: a withdrawal is never dropped for its age.
        flush.age_s = u16::MAX;
        let got = f.receive(t, flush);
        assert!(matches!(got, Received::FloodDeparted(Some(_), o, 1) if o == id(2)));
        assert!(f.r.db.is_empty());
    }

    #[test]
    fn old_departed_and_overflowing_lsas_are_dropped() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        let mut old = lsa(2, 1, &[]);
        old.age_s = f.cfg.lsa_max_age.as_secs() as u16;
        assert!(matches!(f.receive(t, old), Received::Ignored));
        let got = f.r.receive(&f.cfg, t, (ME, 1), lsa(3, 1, &[]), true, None, &mut f.out);
        assert!(matches!(got, Received::Ignored), "a departed instance's");
        f.cfg.max_peers = 1;
        f.receive(t, lsa(4, 1, &[]));
        assert!(matches!(f.receive(t, lsa(5, 1, &[])), Received::Ignored));
        assert_eq!((f.r.db.len(), f.out.stats.dropped_limit), (1, 1));
        // An unspecified IP takes the address of the link it came straight
        // from.
        let from: SocketAddr = "10.77.0.4:40000".parse().unwrap();
        f.r.receive(&f.cfg, t, (ME, 1), lsa(4, 2, &[]), false, Some(from), &mut f.out);
        assert_eq!(f.r.addr(&id(4)), Some("10.77.0.4:7400".parse().unwrap()));
    }

    #[test]
    fn spf_uses_only_links_both_ends_list_and_skips_stale_origins() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        // ME - 2 (our up link), 2 - 3 both ways, 3 - 4 listed by 3 only.
        f.receive(t, lsa(2, 1, &[1, 3]));
        f.receive(t, lsa(3, 1, &[2, 4]));
        f.receive(t, lsa(4, 1, &[]));
        let routes = f.r.spf(ME, &[id(2)]);
        assert_eq!(routes[&id(3)].path, [ME, id(2), id(3)]);
        assert_eq!((routes[&id(3)].hops, routes[&id(3)].next_hop), (2, id(2)));
        assert!(!routes.contains_key(&id(4)), "one-way link used");
        f.r.install(t, routes);
        // Our link to 2 goes: 2 and 3 become unreachable, and stale.
        let routes = f.r.spf(ME, &[]);
        f.r.install(t, routes);
        assert!(f.r.peer_info(&id(3), 2).is_none(), "a stale entry describes no one");
        // Back up: the stale entries prove nothing, so only 2 (our link).
        let routes = f.r.spf(ME, &[id(2)]);
        assert_eq!(routes.keys().copied().collect::<Vec<_>>(), [id(2)]);
        // A neighbour's current copy, once stale long enough, revives 3.
        let late = t + f.cfg.keepalive_interval;
        assert!(matches!(f.receive(late, lsa(3, 1, &[2, 4])), Received::Flood(Some(_))));
        assert!(f.r.peer_info(&id(3), 2).is_some());
    }

    #[test]
    fn busy_spf_runs_double_the_hold_up_to_the_cap_and_a_quiet_spell_resets() {
        let mut f = Fixture::new();
        let mut t = Instant::ZERO;
        let mut last = t;
        let mut holds = Vec::new();
        for _ in 0..10 {
            f.r.spf_started(&f.cfg, t, &mut f.out);
            holds.push(f.r.spf_hold);
            last = t;
            t += f.r.spf_hold;
        }
        assert_eq!(holds[0], f.cfg.spf_delay);
        assert!(holds.windows(2).all(|w| w[1] == (w[0] * 2).min(f.cfg.spf_max_hold)));
        assert_eq!(*holds.last().unwrap(), f.cfg.spf_max_hold);
        // A change right after a run waits a whole hold.
        f.out.timers = Default::default();
        f.r.schedule_spf(&f.cfg, last, &mut f.out);
        assert_eq!(f.out.timers.next(), Some(last + f.cfg.spf_max_hold));
        f.r.spf_started(&f.cfg, t + f.cfg.spf_max_hold * 3, &mut f.out);
        assert_eq!(f.r.spf_hold, f.cfg.spf_delay, "quiet spell");
        assert_eq!(f.out.stats.spf_runs, 11);
    }

    #[test]
    fn entries_expire_with_age_and_after_the_unreachable_hold() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        let mut old = lsa(2, 1, &[]);
        old.age_s = (f.cfg.lsa_max_age.as_secs() - 10) as u16;
        f.receive(t, old);
        f.receive(t, lsa(3, 1, &[]));
        // Neither has a route: both count as unreachable from now.
        f.r.install(t, BTreeMap::new());
        assert!(f.r.expire(&f.cfg, t + Duration::from_secs(10)), "the old one aged out");
        assert_eq!(f.r.db.len(), 1);
        assert!(!f.r.expire(&f.cfg, t + Duration::from_secs(11)));
        assert!(f.r.expire(&f.cfg, t + f.cfg.unreachable_hold));
        assert!(f.r.db.is_empty());
    }
}
