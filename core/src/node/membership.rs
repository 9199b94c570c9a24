//! Membership: the reachable peers as the application sees them, and the
//! events that tell it what changed.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::output::{DownReason, Event, PeerInfo};
use super::Node;
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
}

impl Node {
    /// Replaces the membership with `view` (the reachable peers) and emits
    /// an event for every difference.
    pub(super) fn update_membership(&mut self, now: Instant, mut view: BTreeMap<NodeId, PeerInfo>) {
        let old = core::mem::take(&mut self.membership.peers);
        let mut events = Vec::new();
        let hold = self.cfg.down_hold;
        let mut recheck: Option<Instant> = None;
        for (id, info) in &old {
            match view.get(id) {
                None if self.membership.is_departed(id, info.incarnation) => {
                    self.membership.pending_down.remove(id);
                    let reason = DownReason::Left;
                    events.push(Event::PeerDown { id: *id, name: info.name.clone(), reason });
                }
                None => {
                    // Unreachable: reported down only if it stays so for
                    // `down_hold`, so a route that breaks and repairs at
                    // once does not show as a departure.
                    let since = *self.membership.pending_down.entry(*id).or_insert(now);
                    if now - since >= hold {
                        self.membership.pending_down.remove(id);
                        let reason = DownReason::TimedOut;
                        events.push(Event::PeerDown { id: *id, name: info.name.clone(), reason });
                    } else {
                        view.insert(*id, info.clone());
                        let at = since + hold;
                        recheck = Some(recheck.map_or(at, |r: Instant| r.min(at)));
                    }
                }
                Some(new) if new.incarnation != info.incarnation => {
                    events.push(Event::PeerDown {
                        id: *id,
                        name: info.name.clone(),
                        reason: DownReason::Restarted,
                    });
                    events.push(Event::PeerUp(new.clone()));
                }
                // Route length alone changes often while routes settle; it is
                // kept current in `peers()` without an event.
                Some(new) if !same_but_hops(new, info) => {
                    group_changes(&mut events, id, &info.groups, &new.groups);
                    events.push(Event::PeerUpdated(new.clone()));
                }
                Some(_) => {}
            }
        }
        for (id, info) in &view {
            if !old.contains_key(id) {
                events.push(Event::PeerUp(info.clone()));
            }
        }
        let pending = &mut self.membership.pending_down;
        pending.retain(|id, _| view.contains_key(id) && !self.routing.routes.contains_key(id));
        if let Some(at) = recheck {
            self.out.timers.set_earliest(super::timers::Timer::Spf, at);
        }
        self.membership.peers = view;
        for e in events {
            self.push_event(e);
        }
    }
}

fn same_but_hops(a: &PeerInfo, b: &PeerInfo) -> bool {
    a.name == b.name
        && a.addr == b.addr
        && a.state == b.state
        && a.headers == b.headers
        && a.groups == b.groups
}

fn group_changes(events: &mut Vec<Event>, peer: &NodeId, old: &[String], new: &[String]) {
    for g in new.iter().filter(|g| !old.contains(g)) {
        events.push(Event::GroupJoined { peer: *peer, group: g.clone() });
    }
    for g in old.iter().filter(|g| !new.contains(g)) {
        events.push(Event::GroupLeft { peer: *peer, group: g.clone() });
    }
}
