//! Membership: the reachable peers as the application sees them, and the
//! events that tell it what changed.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::string::String;
use core::time::Duration;

use super::output::{DownReason, Event, Outputs, PeerInfo};
use super::timers::Timer;
use crate::config::Config;
use crate::time::Instant;
use crate::wire::NodeId;

#[derive(Debug, Default)]
pub(crate) struct Membership {
    peers: BTreeMap<NodeId, PeerInfo>,
    /// Nodes known to have left, by the incarnation that left and when.
    departed: BTreeMap<NodeId, (u64, Instant)>,
    /// Peers unreachable since when, not yet reported down (`down_hold`).
    pending_down: BTreeMap<NodeId, Instant>,
}

impl Membership {
    pub(crate) fn peers(&self) -> impl Iterator<Item = &PeerInfo> {
        self.peers.values()
    }

    pub(crate) fn get(&self, id: &NodeId) -> Option<&PeerInfo> {
        self.peers.get(id)
    }

    /// The listed peers, to write their traffic figures into.
    pub(crate) fn peers_mut(&mut self) -> impl Iterator<Item = &mut PeerInfo> {
        self.peers.values_mut()
    }

    /// Whether incarnation `inc` of `id` (or a later one) has left.
    pub(crate) fn is_departed(&self, id: &NodeId, inc: u64) -> bool {
        self.departed.get(id).is_some_and(|&(d, _)| inc <= d)
    }

    pub(crate) fn mark_departed(&mut self, id: NodeId, inc: u64, now: Instant, max: usize) {
        if self.departed.len() >= max && !self.departed.contains_key(&id) {
            // Bounded: forget the oldest departure first.
            if let Some(oldest) = self.departed.iter().min_by_key(|(_, (_, t))| *t).map(|(k, _)| *k)
            {
                self.departed.remove(&oldest);
            }
        }
        self.departed.insert(id, (inc, now));
    }

    /// A newer incarnation of `id` showed up: its departure is history.
    pub(crate) fn departed_superseded(&mut self, id: &NodeId, inc: u64) {
        if self.departed.get(id).is_some_and(|&(d, _)| d < inc) {
            self.departed.remove(id);
        }
    }

    pub(crate) fn expire_departed(&mut self, now: Instant, hold: Duration) {
        self.departed.retain(|_, (_, t)| now - *t < hold);
    }

    /// Replaces the membership with `view` (the reachable peers) and emits
    /// an event for every difference. `routed`: whether a node has a route
    /// now (a peer held through `down_hold` stays listed, without one).
    pub(crate) fn update(
        &mut self,
        cfg: &Config,
        now: Instant,
        mut view: BTreeMap<NodeId, PeerInfo>,
        routed: impl Fn(&NodeId) -> bool,
        out: &mut Outputs,
    ) {
        let old = core::mem::take(&mut self.peers);
        let hold = cfg.down_hold;
        let mut recheck: Option<Instant> = None;
        let events = &mut out.events;
        for (id, info) in &old {
            match view.get(id) {
                None if self.is_departed(id, info.incarnation) => {
                    self.pending_down.remove(id);
                    let reason = DownReason::Left;
                    events.push_back(Event::PeerDown { id: *id, name: info.name.clone(), reason });
                }
                None => {
                    // Unreachable: reported down only if it stays so for
                    // `down_hold`, so a route that breaks and repairs at
                    // once does not show as a departure.
                    let since = *self.pending_down.entry(*id).or_insert(now);
                    if now - since >= hold {
                        self.pending_down.remove(id);
                        let reason = DownReason::TimedOut;
                        let name = info.name.clone();
                        events.push_back(Event::PeerDown { id: *id, name, reason });
                    } else {
                        view.insert(*id, info.clone());
                        let at = since + hold;
                        recheck = Some(recheck.map_or(at, |r: Instant| r.min(at)));
                    }
                }
                Some(new) if new.incarnation != info.incarnation => {
                    events.push_back(Event::PeerDown {
                        id: *id,
                        name: info.name.clone(),
                        reason: DownReason::Restarted,
                    });
                    events.push_back(Event::PeerUp(Box::new(new.clone())));
                }
                // Route length alone changes often while routes settle; it is
                // kept current in `peers()` without an event.
                Some(new) if !same_but_hops(new, info) => {
                    group_changes(events, id, &info.groups, &new.groups);
                    events.push_back(Event::PeerUpdated(Box::new(new.clone())));
                }
                Some(_) => {}
            }
        }
        for (id, info) in &view {
            if !old.contains_key(id) {
                events.push_back(Event::PeerUp(Box::new(info.clone())));
            }
        }
        // The figures are the node's own readings, not news from routing:
        // they stay with a peer that stays (events above carried none).
        for (id, info) in view.iter_mut() {
            if let Some(was) = old.get(id) {
                info.traffic = was.traffic;
            }
        }
        self.pending_down.retain(|id, _| view.contains_key(id) && !routed(id));
        if let Some(at) = recheck {
            // The recheck is a routing run, which calls this again.
            out.timers.set_earliest(Timer::Spf, at);
        }
        self.peers = view;
    }
}

fn same_but_hops(a: &PeerInfo, b: &PeerInfo) -> bool {
    a.name == b.name
        && a.addr == b.addr
        && a.state == b.state
        && a.headers == b.headers
        && a.groups == b.groups
}

fn group_changes(events: &mut VecDeque<Event>, peer: &NodeId, old: &[String], new: &[String]) {
    for g in new.iter().filter(|g| !old.contains(g)) {
        events.push_back(Event::GroupJoined { peer: *peer, group: g.clone() });
    }
    for g in old.iter().filter(|g| !new.contains(g)) {
        events.push_back(Event::GroupLeft { peer: *peer, group: g.clone() });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    fn peer(id: u8, incarnation: u64) -> PeerInfo {
        PeerInfo {
            id: NodeId([id; 16]),
            incarnation,
            name: "p".into(),
            addr: "10.77.0.9:7400".parse().unwrap(),
            state: crate::wire::NodeState::Ready,
            headers: Vec::new(),
            groups: Vec::new(),
            hops: 1,
            traffic: Default::default(),
        }
    }

    fn view(peers: &[PeerInfo]) -> BTreeMap<NodeId, PeerInfo> {
        peers.iter().map(|p| (p.id, p.clone())).collect()
    }

    struct Fixture {
        cfg: Config,
        m: Membership,
        out: Outputs,
    }

    impl Fixture {
        fn new() -> Self {
            Fixture {
                cfg: Config::lan("m", "us"),
                m: Membership::default(),
                out: Outputs::default(),
            }
        }

        /// Updates with `peers` as the view, all of them routed, and
        /// returns the events.
        fn update(&mut self, now: Instant, peers: &[PeerInfo]) -> Vec<Event> {
            let routed: Vec<NodeId> = peers.iter().map(|p| p.id).collect();
            let v = view(peers);
            self.m.update(&self.cfg, now, v, |id| routed.contains(id), &mut self.out);
            self.out.events.drain(..).collect()
        }
    }

    #[test]
    fn peers_come_up_and_a_restart_is_a_down_then_an_up() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        assert_eq!(f.update(t, &[peer(2, 1)]), vec![Event::PeerUp(Box::new(peer(2, 1)))]);
        assert!(f.update(t, &[peer(2, 1)]).is_empty(), "nothing changed, nothing said");
        let ev = f.update(t, &[peer(2, 2)]);
        let down = Event::PeerDown {
            id: NodeId([2; 16]),
            name: "p".into(),
            reason: DownReason::Restarted,
        };
        assert_eq!(ev, vec![down, Event::PeerUp(Box::new(peer(2, 2)))]);
    }

    #[test]
    fn an_unreachable_peer_is_held_for_down_hold_then_reported() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        f.update(t, &[peer(2, 1)]);
        assert!(f.update(t, &[]).is_empty(), "held, not reported yet");
        assert_eq!(f.m.peers().count(), 1, "still listed while held");
        // The recheck is due when the hold ends.
        assert_eq!(f.out.timers.next(), Some(t + f.cfg.down_hold));
        // Back within the hold: nothing was ever said.
        assert!(f.update(t + f.cfg.down_hold / 2, &[peer(2, 1)]).is_empty());
        f.update(t + f.cfg.down_hold, &[]);
        let ev = f.update(t + f.cfg.down_hold * 2, &[]);
        let reason = DownReason::TimedOut;
        assert_eq!(ev, vec![Event::PeerDown { id: NodeId([2; 16]), name: "p".into(), reason }]);
        assert_eq!(f.m.peers().count(), 0);
    }

    #[test]
    fn a_departed_peer_is_down_at_once() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        f.update(t, &[peer(2, 1)]);
        f.m.mark_departed(NodeId([2; 16]), 1, t, 16);
        let ev = f.update(t, &[]);
        let reason = DownReason::Left;
        assert_eq!(ev, vec![Event::PeerDown { id: NodeId([2; 16]), name: "p".into(), reason }]);
    }

    #[test]
    fn attribute_changes_are_updates_and_hops_alone_are_not() {
        let mut f = Fixture::new();
        let t = Instant::ZERO;
        f.update(t, &[peer(2, 1)]);
        let mut farther = peer(2, 1);
        farther.hops = 3;
        assert!(f.update(t, &[farther.clone()]).is_empty());
        assert_eq!(f.m.get(&NodeId([2; 16])).map(|p| p.hops), Some(3), "kept current");
        let mut joined = farther.clone();
        joined.groups = vec!["g".into()];
        let ev = f.update(t, &[joined.clone()]);
        let group = Event::GroupJoined { peer: NodeId([2; 16]), group: "g".into() };
        assert_eq!(ev, vec![group, Event::PeerUpdated(Box::new(joined))]);
        let ev = f.update(t, &[farther.clone()]);
        let group = Event::GroupLeft { peer: NodeId([2; 16]), group: "g".into() };
        assert_eq!(ev, vec![group, Event::PeerUpdated(Box::new(farther))]);
    }

    #[test]
    fn departures_are_bounded_superseded_and_expire() {
        let mut m = Membership::default();
        let t = Instant::ZERO;
        let sec = Duration::from_secs(1);
        m.mark_departed(NodeId([1; 16]), 5, t, 2);
        m.mark_departed(NodeId([2; 16]), 5, t + sec, 2);
        m.mark_departed(NodeId([3; 16]), 5, t + sec * 2, 2);
        assert!(!m.is_departed(&NodeId([1; 16]), 5), "the oldest went to make room");
        assert!(m.is_departed(&NodeId([2; 16]), 4) && m.is_departed(&NodeId([2; 16]), 5));
        assert!(!m.is_departed(&NodeId([2; 16]), 6), "a later incarnation is new");
        m.departed_superseded(&NodeId([2; 16]), 6);
        assert!(!m.is_departed(&NodeId([2; 16]), 5));
        m.expire_departed(t + sec * 12, Duration::from_secs(10));
        assert!(!m.is_departed(&NodeId([3; 16]), 5));
    }
}
