//! Admin requests: the odd message types, sent by a client to the agent.
//!
//! # MEMBERS_REQUEST (1), GROUPS_REQUEST (3), ROUTES_REQUEST (5), STATS_REQUEST (7), MEMBERS_TRAFFIC_REQUEST (21), LINKS_REQUEST (23)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # SEND (9)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     mode      |  target_len   |  target (UTF-8) ...           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  payload (the rest of the body) ...                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `mode`: 0 datagram, 1 reliable, 2 sequenced, 3 stream
//! ([`DeliveryMode`]). `target`: a node name or the text form of a node id;
//! the agent resolves it.
//!
//! # SHOUT (11)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     mode      |  group_len    |  group (UTF-8) ...            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  payload (the rest of the body) ...                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The empty group `""` is everyone (broadcast).
//!
//! # JOIN (13), LEAVE (15)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  group_len    |  group (UTF-8) ...                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # PING (17)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          count (u16)          |  target_len   |  target ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # SUBSCRIBE (19)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       event_mask (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `event_mask`: bit `1 << k` selects event kind `k` ([`EventMask`]);
//! reserved bits must be zero; 0 unsubscribes.

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::codec::{Reader, Writer};
use netcluster_core::wire::{Body, Limits, Protocol, Result};
use netcluster_core::wire_view;

use super::{DeliveryMode, EventMask};

wire_view! {
    /// Zero-copy view of the fixed part of the requests whose only fixed
    /// field is `request_id`: the six listing requests, JOIN and LEAVE.
    pub struct RequestView;
    pub mod request;
    fixed_len = 4;
    /// `request_id`: chosen by the client, echoed by the answer.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
}

/// Declares a request made of `request_id` alone.
macro_rules! id_only_request {
    ($(#[$meta:meta])* $name:ident = $code:expr, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub struct $name {
            /// Chosen by the client, echoed by the answer.
            pub request_id: u32,
        }

        impl Body for $name {
            const PROTOCOL: Protocol = Protocol::Admin;
            const MSG_TYPE: u8 = $code;

            fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
                let v = RequestView::new_checked(&body[..])?;
                Reader::new(body, request::FIXED_LEN, body.len()).finish($field)?;
                Ok($name {
                    request_id: v.request_id(),
                })
            }

            fn body_len(&self) -> usize {
                request::FIXED_LEN
            }

            fn emit_body(&self, out: &mut [u8]) -> Result<()> {
                RequestView::new_checked(&mut out[..])?.set_request_id(self.request_id);
                Ok(())
            }
        }
    };
}

id_only_request! {
    /// MEMBERS_REQUEST (type 1): list the members; answered with MEMBERS.
    MembersRequest = 1, "members_request"
}
id_only_request! {
    /// GROUPS_REQUEST (type 3): list the groups; answered with GROUPS.
    GroupsRequest = 3, "groups_request"
}
id_only_request! {
    /// ROUTES_REQUEST (type 5): list the routes; answered with ROUTES.
    RoutesRequest = 5, "routes_request"
}
id_only_request! {
    /// STATS_REQUEST (type 7): list the counters; answered with STATS.
    StatsRequest = 7, "stats_request"
}
id_only_request! {
    /// MEMBERS_TRAFFIC_REQUEST (type 21): list the members with their
    /// traffic figures; answered with MEMBERS_TRAFFIC. An agent that
    /// predates it answers RESULT `unsupported`: ask MEMBERS_REQUEST then.
    MembersTrafficRequest = 21, "members_traffic_request"
}
id_only_request! {
    /// LINKS_REQUEST (type 23): list the agent's links; answered with LINKS
    /// (RESULT `unsupported` from an agent that predates it).
    LinksRequest = 23, "links_request"
}

/// Declares a request made of `request_id` and a group name.
macro_rules! group_request {
    ($(#[$meta:meta])* $name:ident = $code:expr, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// Chosen by the client, echoed by the RESULT.
            pub request_id: u32,
            /// The group.
            pub group: ByteString,
        }

        impl Body for $name {
            const PROTOCOL: Protocol = Protocol::Admin;
            const MSG_TYPE: u8 = $code;

            fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
                let v = RequestView::new_checked(&body[..])?;
                let mut r = Reader::new(body, request::FIXED_LEN, body.len());
                let group = r.str8("group", limits.max_name)?;
                r.finish($field)?;
                Ok($name {
                    request_id: v.request_id(),
                    group,
                })
            }

            fn body_len(&self) -> usize {
                request::FIXED_LEN + 1 + self.group.len()
            }

            fn emit_body(&self, out: &mut [u8]) -> Result<()> {
                RequestView::new_checked(&mut out[..])?.set_request_id(self.request_id);
                let mut w = Writer::new(out);
                w.skip(request::FIXED_LEN);
                w.str8(&self.group, "group")
            }
        }
    };
}

group_request! {
    /// JOIN (type 13): make the agent's node join a group; answered with
    /// RESULT.
    JoinRequest = 13, "join"
}
group_request! {
    /// LEAVE (type 15): make the agent's node leave a group; answered with
    /// RESULT ([`Status::NotMember`](super::Status::NotMember) if it was not
    /// in it).
    LeaveRequest = 15, "leave"
}

wire_view! {
    /// Zero-copy view of the fixed part of a SEND body.
    pub struct SendView;
    pub mod send;
    fixed_len = 5;
    /// `request_id`: chosen by the client, echoed by the RESULT.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `mode`: delivery mode.
    mode, set_mode, MODE: u8 = 4;
}

/// SEND (type 9): send a message to one node; answered with RESULT once the
/// message is handed to the mesh (datagram) or delivered (other modes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendRequest {
    /// Chosen by the client, echoed by the RESULT.
    pub request_id: u32,
    /// Delivery semantics.
    pub mode: DeliveryMode,
    /// A node name or the text form of a node id; the agent resolves it
    /// ([`Status::UnknownTarget`](super::Status::UnknownTarget) if it
    /// cannot).
    pub target: ByteString,
    /// The message, the rest of the body.
    pub payload: Bytes,
}

impl Body for SendRequest {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 9;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = SendView::new_checked(&body[..])?;
        let mode = DeliveryMode::from_u8(v.mode())?;
        let mut r = Reader::new(body, send::FIXED_LEN, body.len());
        let target = r.str8("target", limits.max_name)?;
        Ok(SendRequest { request_id: v.request_id(), mode, target, payload: r.rest() })
    }

    fn body_len(&self) -> usize {
        send::FIXED_LEN + 1 + self.target.len() + self.payload.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = SendView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_mode(self.mode as u8);
        let mut w = Writer::new(out);
        w.skip(send::FIXED_LEN);
        w.str8(&self.target, "target")?;
        w.put(&self.payload);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a SHOUT body.
    pub struct ShoutView;
    pub mod shout;
    fixed_len = 5;
    /// `request_id`: chosen by the client, echoed by the RESULT.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `mode`: delivery mode.
    mode, set_mode, MODE: u8 = 4;
}

/// SHOUT (type 11): send a message to every member of a group; answered
/// with RESULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShoutRequest {
    /// Chosen by the client, echoed by the RESULT.
    pub request_id: u32,
    /// Delivery semantics.
    pub mode: DeliveryMode,
    /// The group; `""` is everyone (broadcast).
    pub group: ByteString,
    /// The message, the rest of the body.
    pub payload: Bytes,
}

impl Body for ShoutRequest {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 11;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = ShoutView::new_checked(&body[..])?;
        let mode = DeliveryMode::from_u8(v.mode())?;
        let mut r = Reader::new(body, shout::FIXED_LEN, body.len());
        let group = r.str8("group", limits.max_name)?;
        Ok(ShoutRequest { request_id: v.request_id(), mode, group, payload: r.rest() })
    }

    fn body_len(&self) -> usize {
        shout::FIXED_LEN + 1 + self.group.len() + self.payload.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = ShoutView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_mode(self.mode as u8);
        let mut w = Writer::new(out);
        w.skip(shout::FIXED_LEN);
        w.str8(&self.group, "group")?;
        w.put(&self.payload);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a PING body.
    pub struct PingView;
    pub mod ping;
    fixed_len = 6;
    /// `request_id`: chosen by the client, echoed by the answers.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `count`: pings to send.
    count, set_count, COUNT: u16 = 4;
}

/// PING (type 17): ping a node end to end `count` times; answered with one
/// PING_REPLY per answered ping, then a RESULT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingRequest {
    /// Chosen by the client, echoed by the answers.
    pub request_id: u32,
    /// Pings to send (0 is a [`Status::BadRequest`](super::Status::BadRequest)).
    pub count: u16,
    /// A node name or the text form of a node id.
    pub target: ByteString,
}

impl Body for PingRequest {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 17;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = PingView::new_checked(&body[..])?;
        let mut r = Reader::new(body, ping::FIXED_LEN, body.len());
        let target = r.str8("target", limits.max_name)?;
        r.finish("ping")?;
        Ok(PingRequest { request_id: v.request_id(), count: v.count(), target })
    }

    fn body_len(&self) -> usize {
        ping::FIXED_LEN + 1 + self.target.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = PingView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_count(self.count);
        let mut w = Writer::new(out);
        w.skip(ping::FIXED_LEN);
        w.str8(&self.target, "target")
    }
}

wire_view! {
    /// Zero-copy view of a SUBSCRIBE body (all of it is fixed).
    pub struct SubscribeView;
    pub mod subscribe;
    fixed_len = 8;
    /// `request_id`: chosen by the client, carried by every EVENT.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `event_mask`: bit `1 << k` selects event kind `k`.
    event_mask, set_event_mask, EVENT_MASK: u32 = 4;
}

/// SUBSCRIBE (type 19): receive EVENTs of the selected kinds on this
/// connection, replacing any earlier subscription; answered with RESULT,
/// then EVENTs carrying this `request_id`. The empty mask unsubscribes
/// ([`Status::NotSubscribed`](super::Status::NotSubscribed) if there was
/// nothing to cancel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscribeRequest {
    /// Chosen by the client, carried by every EVENT.
    pub request_id: u32,
    /// The event kinds wanted.
    pub events: EventMask,
}

impl Body for SubscribeRequest {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 19;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = SubscribeView::new_checked(&body[..])?;
        Reader::new(body, subscribe::FIXED_LEN, body.len()).finish("subscribe")?;
        Ok(SubscribeRequest {
            request_id: v.request_id(),
            events: EventMask::from_bits(v.event_mask())?,
        })
    }

    fn body_len(&self) -> usize {
        subscribe::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = SubscribeView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_event_mask(self.events.bits());
        Ok(())
    }
}
