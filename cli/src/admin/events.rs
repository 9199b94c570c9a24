//! The agent's event feed: the node's events as admin events, plus the
//! agent's own group changes (the node reports only its peers').

use netcluster_core::wire::admin::{
    AdminEvent, DeliveryMode, DownReason as WireDown, MemberRecord,
};
use netcluster_core::wire::{ByteString, HeaderList, StrList};
use netcluster_tokio::{DownReason, Event, Handle, PeerInfo, Semantics};
use tokio::sync::broadcast;

/// Fans the agent's admin events out to every subscribed connection.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<AdminEvent>,
}

impl EventHub {
    /// A hub buffering `capacity` events per subscriber (a slower one lags
    /// and loses the oldest), fed from `handle`'s events until the node
    /// stops.
    pub fn start(handle: &Handle, capacity: usize) -> EventHub {
        let (tx, _) = broadcast::channel(capacity.max(1));
        let hub = EventHub { tx };
        let feed = hub.clone();
        let mut events = handle.events();
        tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if let Some(ev) = admin_event(&e) {
                    feed.publish(ev);
                }
            }
        });
        hub
    }

    /// Publishes an event to every current subscriber.
    pub fn publish(&self, ev: AdminEvent) {
        // Nobody listening is fine.
        let _ = self.tx.send(ev);
    }

    /// Events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<AdminEvent> {
        self.tx.subscribe()
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
