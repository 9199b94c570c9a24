//! EVENT (type 20): something happened that a SUBSCRIBE asked to hear
//! about. It carries the SUBSCRIBE's `request_id`.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     kind      |  kind-specific part ...                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `kind` ([`EventKind`]) selects the rest; the offsets of each part's own
//! view count from the start of the part (body offset 5).
//!
//! ## `peer_up` (0), `peer_updated` (1)
//!
//! A member record (see [`records`](super::records)) taking the rest of the
//! body exactly.
//!
//! ## `peer_down` (2)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    reason     |   name_len    |  name (UTF-8) ...             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `reason`: 0 left, 1 timed_out, 2 rejected, 3 unreachable, 4 restarted
//! ([`DownReason`]).
//!
//! ## `joined` (3), `left` (4)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   group_len   |  group (UTF-8) ...                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! ## `message` (5)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                        from (16 bytes)                        +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     mode      |   has_group   | [group_len, group] payload ...|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `has_group`: 0 for a message sent to this node alone (no group field
//! follows), 1 for a message shouted to a group (`group_len` and `group`
//! follow, `""` being everyone); other values are malformed. `payload`
//! takes the rest of the body.

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::codec::{Reader, Writer};
use netcluster_core::wire::lists::VarRecord;
use netcluster_core::wire::{Body, Error, Limits, NodeId, Protocol, Result};
use netcluster_core::wire_view;

use super::records::MemberRecord;
use super::{DeliveryMode, DownReason, EventKind};

wire_view! {
    /// Zero-copy view of the fixed part of an EVENT body.
    pub struct EventView;
    pub mod event;
    fixed_len = 5;
    /// `request_id`: of the SUBSCRIBE that asked for the event.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `kind`: which event, and so the layout of the rest.
    kind, set_kind, KIND: u8 = 4;
}

wire_view! {
    /// Zero-copy view of the fixed part of a `peer_down` event (offsets from
    /// the start of the kind-specific part).
    pub struct PeerDownView;
    pub mod peer_down;
    fixed_len = 17;
    /// `node_id`: the peer.
    node_id, set_node_id, NODE_ID: NodeId = 0;
    /// `reason`: why it went down.
    reason, set_reason, REASON: u8 = 16;
}

wire_view! {
    /// Zero-copy view of the fixed part of a `joined` or `left` event
    /// (offsets from the start of the kind-specific part).
    pub struct GroupChangeView;
    pub mod group_change;
    fixed_len = 16;
    /// `node_id`: the node that joined or left.
    node_id, set_node_id, NODE_ID: NodeId = 0;
}

wire_view! {
    /// Zero-copy view of the fixed part of a `message` event (offsets from
    /// the start of the kind-specific part).
    pub struct MessageView;
    pub mod message;
    fixed_len = 18;
    /// `from`: the sender.
    from, set_from, FROM: NodeId = 0;
    /// `mode`: how it was sent.
    mode, set_mode, MODE: u8 = 16;
    /// `has_group`: 1 if a group name follows, 0 if not.
    has_group, set_has_group, HAS_GROUP: u8 = 17;
}

/// What happened, by kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminEvent {
    /// `peer_up`: a peer became reachable.
    PeerUp(MemberRecord),
    /// `peer_updated`: a reachable peer changed (state, groups, headers,
    /// address or distance); the record is its new description.
    PeerUpdated(MemberRecord),
    /// `peer_down`: a peer is gone.
    PeerDown {
        /// The peer.
        node_id: NodeId,
        /// Why it went down.
        reason: DownReason,
        /// Its name, as last known.
        name: ByteString,
    },
    /// `joined`: a node (possibly the agent's own) joined a group.
    Joined {
        /// The node.
        node_id: NodeId,
        /// The group.
        group: ByteString,
    },
    /// `left`: a node left a group.
    Left {
        /// The node.
        node_id: NodeId,
        /// The group.
        group: ByteString,
    },
    /// `message`: a message arrived for the agent's node.
    Message {
        /// The sender.
        from: NodeId,
        /// How it was sent.
        mode: DeliveryMode,
        /// The group it was shouted to (`""`: everyone), `None` if it was
        /// sent to this node alone.
        group: Option<ByteString>,
        /// The message, the rest of the body.
        payload: Bytes,
    },
}

impl AdminEvent {
    /// The event's kind.
    pub fn kind(&self) -> EventKind {
        match self {
            AdminEvent::PeerUp(_) => EventKind::PeerUp,
            AdminEvent::PeerUpdated(_) => EventKind::PeerUpdated,
            AdminEvent::PeerDown { .. } => EventKind::PeerDown,
            AdminEvent::Joined { .. } => EventKind::Joined,
            AdminEvent::Left { .. } => EventKind::Left,
            AdminEvent::Message { .. } => EventKind::Message,
        }
    }

    /// Parses the kind-specific part, `body[event::FIXED_LEN..]`.
    fn parse(kind: EventKind, body: &Bytes, limits: &Limits) -> Result<Self> {
        let at = event::FIXED_LEN;
        match kind {
            EventKind::PeerUp | EventKind::PeerUpdated => {
                let part = body.slice(at..);
                let (rec, used) = MemberRecord::parse_record(&part, limits)?;
                if used != part.len() {
                    return Err(Error::Malformed { field: "event" });
                }
                Ok(if kind == EventKind::PeerUp {
                    AdminEvent::PeerUp(rec)
                } else {
                    AdminEvent::PeerUpdated(rec)
                })
            }
            EventKind::PeerDown => {
                let v = PeerDownView::new_checked(&body[at..])?;
                let reason = DownReason::from_u8(v.reason())?;
                let mut r = Reader::new(body, at + peer_down::FIXED_LEN, body.len());
                let name = r.str8("name", limits.max_name)?;
                r.finish("event")?;
                Ok(AdminEvent::PeerDown { node_id: v.node_id(), reason, name })
            }
            EventKind::Joined | EventKind::Left => {
                let v = GroupChangeView::new_checked(&body[at..])?;
                let mut r = Reader::new(body, at + group_change::FIXED_LEN, body.len());
                let group = r.str8("group", limits.max_name)?;
                r.finish("event")?;
                let node_id = v.node_id();
                Ok(if kind == EventKind::Joined {
                    AdminEvent::Joined { node_id, group }
                } else {
                    AdminEvent::Left { node_id, group }
                })
            }
            EventKind::Message => {
                let v = MessageView::new_checked(&body[at..])?;
                let mode = DeliveryMode::from_u8(v.mode())?;
                let mut r = Reader::new(body, at + message::FIXED_LEN, body.len());
                let group = match v.has_group() {
                    0 => None,
                    1 => Some(r.str8("group", limits.max_name)?),
                    _ => return Err(Error::Malformed { field: "has_group" }),
                };
                Ok(AdminEvent::Message { from: v.from(), mode, group, payload: r.rest() })
            }
        }
    }

    /// Encoded size of the kind-specific part.
    fn part_len(&self) -> usize {
        match self {
            AdminEvent::PeerUp(rec) | AdminEvent::PeerUpdated(rec) => rec.encoded_len(),
            AdminEvent::PeerDown { name, .. } => peer_down::FIXED_LEN + 1 + name.len(),
            AdminEvent::Joined { group, .. } | AdminEvent::Left { group, .. } => {
                group_change::FIXED_LEN + 1 + group.len()
            }
            AdminEvent::Message { group, payload, .. } => {
                message::FIXED_LEN + group.as_ref().map_or(0, |g| 1 + g.len()) + payload.len()
            }
        }
    }

    /// Writes the kind-specific part into `out` (the body after the fixed
    /// part), which holds exactly [`part_len`](Self::part_len) bytes.
    fn emit(&self, out: &mut [u8]) -> Result<()> {
        match self {
            AdminEvent::PeerUp(rec) | AdminEvent::PeerUpdated(rec) => rec.emit_record(out),
            AdminEvent::PeerDown { node_id, reason, name } => {
                let mut v = PeerDownView::new_checked(&mut out[..])?;
                v.set_node_id(*node_id);
                v.set_reason(*reason as u8);
                let mut w = Writer::new(out);
                w.skip(peer_down::FIXED_LEN);
                w.str8(name, "name")
            }
            AdminEvent::Joined { node_id, group } | AdminEvent::Left { node_id, group } => {
                GroupChangeView::new_checked(&mut out[..])?.set_node_id(*node_id);
                let mut w = Writer::new(out);
                w.skip(group_change::FIXED_LEN);
                w.str8(group, "group")
            }
            AdminEvent::Message { from, mode, group, payload } => {
                let mut v = MessageView::new_checked(&mut out[..])?;
                v.set_from(*from);
                v.set_mode(*mode as u8);
                v.set_has_group(u8::from(group.is_some()));
                let mut w = Writer::new(out);
                w.skip(message::FIXED_LEN);
                if let Some(g) = group {
                    w.str8(g, "group")?;
                }
                w.put(payload);
                Ok(())
            }
        }
    }
}

/// EVENT (type 20): one event for a subscribed client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `request_id` of the SUBSCRIBE that asked for it.
    pub request_id: u32,
    /// What happened.
    pub event: AdminEvent,
}

impl Body for Event {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 20;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = EventView::new_checked(&body[..])?;
        let kind = EventKind::from_u8(v.kind())?;
        Ok(Event { request_id: v.request_id(), event: AdminEvent::parse(kind, body, limits)? })
    }

    fn body_len(&self) -> usize {
        event::FIXED_LEN + self.event.part_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = EventView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_kind(self.event.kind() as u8);
        self.event.emit(&mut out[event::FIXED_LEN..])
    }
}
