//! The agent's event feed: the node's events as admin events, plus the
//! agent's own group changes (the node reports only its peers').

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use netcluster_control::admin::{AdminEvent, DeliveryMode, DownReason as WireDown, MemberRecord};
use netcluster_core::wire::{ByteString, HeaderList, StrList};
use netcluster_core::NodeId;
use netcluster_tokio::{DownReason, Event, Handle, PeerInfo, Semantics};
use tokio::sync::mpsc;

/// Fans the agent's admin events out to every subscribed connection, each
/// through a bounded queue of its own. Nothing is dropped: a queue that is
/// full holds the feed back until its connection has written, so a
/// subscriber that stops reading slows the agent's node (and, through it,
/// the peers sending to it) instead of losing events. A subscriber whose
/// connection is gone is forgotten.
#[derive(Debug, Clone)]
pub struct EventHub {
    subs: Arc<Mutex<Vec<mpsc::Sender<AdminEvent>>>>,
    capacity: usize,
}

impl EventHub {
    /// A hub queueing `capacity` events per subscriber, fed from `handle`'s
    /// events until the node stops.
    pub fn start(handle: &Handle, capacity: usize) -> EventHub {
        let hub = EventHub { subs: Arc::new(Mutex::new(Vec::new())), capacity: capacity.max(1) };
        let feed = hub.clone();
        let mut events = handle.events();
        tokio::spawn(async move {
            let mut view = View::default();
            while let Some(e) = events.next().await {
                for ev in view.admin_events(&e) {
                    feed.publish(ev).await;
                }
            }
        });
        hub
    }

    /// Publishes an event to every current subscriber, waiting for room in
    /// each one's queue.
    pub async fn publish(&self, ev: AdminEvent) {
        let subs: Vec<mpsc::Sender<AdminEvent>> = self.lock().clone();
        let mut gone = false;
        for s in subs {
            gone |= s.send(ev.clone()).await.is_err();
        }
        if gone {
            self.lock().retain(|s| !s.is_closed());
        }
    }

    /// Events from now on.
    pub fn subscribe(&self) -> mpsc::Receiver<AdminEvent> {
        let (tx, rx) = mpsc::channel(self.capacity);
        self.lock().push(tx);
        rx
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<mpsc::Sender<AdminEvent>>> {
        self.subs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The peers the feed has reported, so that a `Resync` (membership events
/// the feed was too slow for) becomes the events that bring a subscriber
/// from what it was told to the current list: `peer_down` (unreachable)
/// for those gone, `peer_up` or `peer_updated` for the others.
#[derive(Default)]
struct View {
    known: BTreeMap<NodeId, MemberRecord>,
}

impl View {
    fn admin_events(&mut self, e: &Event) -> Vec<AdminEvent> {
        match e {
            Event::Resync { peers } => {
                let now: BTreeMap<NodeId, MemberRecord> =
                    peers.iter().map(|p| (p.id, member_record(p))).collect();
                let mut out = Vec::new();
                for (id, old) in &self.known {
                    if !now.contains_key(id) {
                        out.push(AdminEvent::PeerDown {
                            node_id: *id,
                            reason: WireDown::Unreachable,
                            name: old.name.clone(),
                        });
                    }
                }
                for (id, rec) in &now {
                    match self.known.get(id) {
                        None => out.push(AdminEvent::PeerUp(rec.clone())),
                        Some(old) if old != rec => out.push(AdminEvent::PeerUpdated(rec.clone())),
                        Some(_) => {}
                    }
                }
                self.known = now;
                out
            }
            _ => {
                let Some(ev) = admin_event(e) else { return Vec::new() };
                match &ev {
                    AdminEvent::PeerUp(r) | AdminEvent::PeerUpdated(r) => {
                        self.known.insert(r.node_id, r.clone());
                    }
                    AdminEvent::PeerDown { node_id, .. } => {
                        self.known.remove(node_id);
                    }
                    _ => {}
                }
                vec![ev]
            }
        }
    }
}

/// The admin form of a node event; `None` for events the admin protocol
/// does not carry (delivery reports, link rejects).
pub fn admin_event(e: &Event) -> Option<AdminEvent> {
    Some(match e {
        Event::PeerUp(p) => AdminEvent::PeerUp(member_record(p)),
        Event::PeerUpdated(p) => AdminEvent::PeerUpdated(member_record(p)),
        Event::PeerDown { id, name, reason } => AdminEvent::PeerDown {
            node_id: *id,
            reason: down_reason(*reason),
            name: ByteString::from(name.as_str()),
        },
        Event::GroupJoined { peer, group } => {
            AdminEvent::Joined { node_id: *peer, group: ByteString::from(group.as_str()) }
        }
        Event::GroupLeft { peer, group } => {
            AdminEvent::Left { node_id: *peer, group: ByteString::from(group.as_str()) }
        }
        Event::Message { from, group, semantics, payload } => AdminEvent::Message {
            from: *from,
            mode: delivery_mode(*semantics),
            group: group.as_deref().map(ByteString::from),
            payload: payload.clone(),
        },
        _ => return None,
    })
}

/// The node's down reason as the admin protocol codes it (one for one).
fn down_reason(r: DownReason) -> WireDown {
    match r {
        DownReason::Left => WireDown::Left,
        DownReason::TimedOut => WireDown::TimedOut,
        DownReason::Restarted => WireDown::Restarted,
        DownReason::Rejected => WireDown::Rejected,
    }
}

/// The admin `mode` of a message's semantics.
pub fn delivery_mode(s: Semantics) -> DeliveryMode {
    match s {
        Semantics::Datagram => DeliveryMode::Datagram,
        Semantics::Reliable => DeliveryMode::Reliable,
        Semantics::Sequenced => DeliveryMode::Sequenced,
        Semantics::Stream => DeliveryMode::Stream,
    }
}

/// The semantics of an admin `mode`.
pub fn semantics(m: DeliveryMode) -> Semantics {
    match m {
        DeliveryMode::Datagram => Semantics::Datagram,
        DeliveryMode::Reliable => Semantics::Reliable,
        DeliveryMode::Sequenced => Semantics::Sequenced,
        DeliveryMode::Stream => Semantics::Stream,
    }
}

/// A peer as a member record. Names, groups and headers that do not fit
/// the record's limits are cut rather than failing the whole listing.
pub fn member_record(p: &PeerInfo) -> MemberRecord {
    MemberRecord {
        node_id: p.id,
        incarnation: p.incarnation,
        state: p.state,
        hops: u8::try_from(p.hops).unwrap_or(u8::MAX),
        link_addr: p.addr,
        name: ByteString::from(truncate(&p.name, 255)),
        groups: str_list(&p.groups),
        headers: header_list(&p.headers),
    }
}

pub(crate) fn str_list(names: &[String]) -> StrList {
    let ok: Vec<&str> = names.iter().map(String::as_str).filter(|g| g.len() <= 255).collect();
    StrList::from_names(ok).unwrap_or_default()
}

pub(crate) fn header_list(pairs: &[(String, String)]) -> HeaderList {
    let ok: Vec<(&str, &str)> = pairs
        .iter()
        .filter(|(k, v)| k.len() <= 255 && v.len() <= usize::from(u16::MAX))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    HeaderList::from_pairs(ok).unwrap_or_default()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8, name: &str) -> PeerInfo {
        PeerInfo {
            id: NodeId([n; 16]),
            incarnation: 1,
            name: name.into(),
            addr: "127.0.0.1:7400".parse().unwrap(),
            state: netcluster_core::NodeState::Init,
            headers: Vec::new(),
            groups: Vec::new(),
            hops: 1,
            traffic: Default::default(),
        }
    }

    #[test]
    fn a_resync_becomes_the_events_from_the_reported_view_to_the_current_one() {
        let mut v = View::default();
        let (a, b, c) = (peer(1, "a"), peer(2, "b"), peer(3, "c"));
        assert_eq!(v.admin_events(&Event::PeerUp(Box::new(a.clone()))).len(), 1);
        assert_eq!(v.admin_events(&Event::PeerUp(Box::new(b.clone()))).len(), 1);
        // Missed: a went down, b moved two hops away, c came up.
        let mut b2 = b.clone();
        b2.hops = 2;
        let out = v.admin_events(&Event::Resync { peers: vec![b2.clone(), c.clone()] });
        assert_eq!(
            out,
            vec![
                AdminEvent::PeerDown {
                    node_id: a.id,
                    reason: WireDown::Unreachable,
                    name: ByteString::from("a"),
                },
                AdminEvent::PeerUpdated(member_record(&b2)),
                AdminEvent::PeerUp(member_record(&c)),
            ]
        );
        // Nothing missed since: a resync says nothing.
        assert!(v.admin_events(&Event::Resync { peers: vec![b2, c] }).is_empty());
    }
}
