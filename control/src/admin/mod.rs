//! Admin sub-protocol (id 3): local clients (the `netcluster` CLI) talking
//! to an agent over a UNIX stream socket.
//!
//! Frames follow one another on the stream, each delimited by the header's
//! `length` (see [`peek_frame_len`](netcluster_core::wire::peek_frame_len)).
//! Listings are the only frames that come near [`Limits::max_frame`].
//!
//! # Requests, responses, events
//!
//! Every body starts with `request_id` (u32), chosen by the client. Every
//! response carries the `request_id` of the request it answers; EVENT
//! carries the `request_id` of the SUBSCRIBE that asked for it. Odd types go
//! from the client to the agent, even types from the agent to the client;
//! the agent never answers an even type.
//!
//! | type | message         | answered by |
//! | ---- | --------------- | ----------- |
//! | 1    | MEMBERS_REQUEST | MEMBERS |
//! | 2    | MEMBERS         | |
//! | 3    | GROUPS_REQUEST  | GROUPS |
//! | 4    | GROUPS          | |
//! | 5    | ROUTES_REQUEST  | ROUTES |
//! | 6    | ROUTES          | |
//! | 7    | STATS_REQUEST   | STATS |
//! | 8    | STATS           | |
//! | 9    | SEND            | RESULT |
//! | 10   | RESULT          | |
//! | 11   | SHOUT           | RESULT |
//! | 13   | JOIN            | RESULT |
//! | 15   | LEAVE           | RESULT |
//! | 17   | PING            | one PING_REPLY per answered ping, then RESULT |
//! | 18   | PING_REPLY      | |
//! | 19   | SUBSCRIBE       | RESULT, then EVENTs until unsubscribed |
//! | 20   | EVENT           | |
//! | 21   | MEMBERS_TRAFFIC_REQUEST | MEMBERS_TRAFFIC |
//! | 22   | MEMBERS_TRAFFIC | |
//! | 23   | LINKS_REQUEST   | LINKS |
//! | 24   | LINKS           | |
//!
//! Any request may instead be answered by a RESULT carrying an error
//! [`Status`]. SEND and SHOUT are answered once the message is handed to the
//! mesh (datagram mode) or delivered (the reliable modes). PING ends with a
//! RESULT: [`Status::Ok`] if every ping was answered, [`Status::Timeout`]
//! otherwise. SUBSCRIBE with an empty [`EventMask`] unsubscribes.
//!
//! # Compatibility
//!
//! The admin sub-protocol grows by new message types within version 1,
//! never by changing a body: an agent answers a request type it does not
//! know with RESULT [`Status::Unsupported`] (the `request_id` is the first
//! four body bytes whatever the type), so a newer client asks, and falls
//! back to the older request on `unsupported`. That is how the traffic
//! figures came: MEMBERS_TRAFFIC carries each member record behind its
//! figures, and MEMBERS, its member record and the `peer_up` /
//! `peer_updated` events are as they were.
//!
//! # Layout conventions
//!
//! - Fixed-size fields come first (each message has a `wire_view!` over
//!   them), then variable ones in the order given.
//! - `str8` / `str16`: a u8 / u16 length, then that many bytes of UTF-8.
//! - Lists carry their count in the fixed part; listing counts are u16 and
//!   at most [`Limits::max_entries`].
//! - A `payload` takes the rest of the body; every other body must be
//!   consumed exactly (trailing bytes are [`Error::Malformed`]).
//! - Names (targets, groups, member and counter names) are at most
//!   [`Limits::max_name`] bytes.
//!
//! The layouts are drawn in [`requests`], [`responses`], [`event`] and
//! [`records`] (the entries of the listings).
//!
//! [`Error::Malformed`]: netcluster_core::wire::Error::Malformed
//! [`Limits::max_frame`]: netcluster_core::wire::Limits::max_frame
//! [`Limits::max_entries`]: netcluster_core::wire::Limits::max_entries
//! [`Limits::max_name`]: netcluster_core::wire::Limits::max_name

use core::fmt;

use netcluster_core::protocol_messages;
use netcluster_core::wire::{Error, Protocol, Result};

pub mod event;
pub mod records;
pub mod requests;
pub mod responses;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_figures;

pub use event::{AdminEvent, Event};
pub use records::{
    Counter, CounterList, GroupList, GroupRecord, LinkKind, LinkList, LinkRecord, MemberList,
    MemberRecord, MemberTrafficList, MemberTrafficRecord, RouteList, RouteRecord, TrafficFigures,
    NOT_MEASURED,
};
pub use requests::{
    GroupsRequest, JoinRequest, LeaveRequest, LinksRequest, MembersRequest, MembersTrafficRequest,
    PingRequest, RoutesRequest, SendRequest, ShoutRequest, StatsRequest, SubscribeRequest,
};
pub use responses::{
    AdminResult, Groups, Links, Members, MembersTraffic, PingReply, Routes, Stats,
};

/// Delivery semantics of a message (SEND, SHOUT, message events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum DeliveryMode {
    /// Best effort, may be lost, duplicated or reordered.
    #[default]
    Datagram = 0,
    /// Exactly once, in any order (RDM).
    Reliable = 1,
    /// Exactly once, in order, message boundaries kept (SEQPACKET).
    Sequenced = 2,
    /// Ordered bytes, boundaries not kept.
    Stream = 3,
}

impl DeliveryMode {
    /// Decodes the wire value of field `mode`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => DeliveryMode::Datagram,
            1 => DeliveryMode::Reliable,
            2 => DeliveryMode::Sequenced,
            3 => DeliveryMode::Stream,
            _ => return Err(Error::Malformed { field: "mode" }),
        })
    }

    /// Lower-case name, as shown by tools.
    pub fn as_str(&self) -> &'static str {
        match self {
            DeliveryMode::Datagram => "datagram",
            DeliveryMode::Reliable => "reliable",
            DeliveryMode::Sequenced => "sequenced",
            DeliveryMode::Stream => "stream",
        }
    }
}

impl fmt::Display for DeliveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome carried by RESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Status {
    /// Done.
    #[default]
    Ok = 0,
    /// No node has that name or id.
    UnknownTarget = 1,
    /// The target is known but no route leads to it.
    Unreachable = 2,
    /// The mesh gave up delivering (retries exhausted, link lost).
    DeliveryFailed = 3,
    /// No answer in time (PING: some pings went unanswered).
    Timeout = 4,
    /// The request is malformed or makes no sense (empty name, ping count 0).
    BadRequest = 5,
    /// A resource limit refused it (too many groups, queue full, payload too
    /// large).
    Limit = 6,
    /// Unsubscribing without a subscription.
    NotSubscribed = 7,
    /// Leaving a group the node is not in.
    NotMember = 8,
    /// The agent does not implement this request type.
    Unsupported = 9,
}

impl Status {
    /// Decodes the wire value of field `status`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Status::Ok,
            1 => Status::UnknownTarget,
            2 => Status::Unreachable,
            3 => Status::DeliveryFailed,
            4 => Status::Timeout,
            5 => Status::BadRequest,
            6 => Status::Limit,
            7 => Status::NotSubscribed,
            8 => Status::NotMember,
            9 => Status::Unsupported,
            _ => return Err(Error::Malformed { field: "status" }),
        })
    }

    /// Whether the request succeeded.
    pub fn is_ok(&self) -> bool {
        *self == Status::Ok
    }

    /// Snake-case name, as shown by tools and in `docs/PROTOCOL.md`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::UnknownTarget => "unknown_target",
            Status::Unreachable => "unreachable",
            Status::DeliveryFailed => "delivery_failed",
            Status::Timeout => "timeout",
            Status::BadRequest => "bad_request",
            Status::Limit => "limit",
            Status::NotSubscribed => "not_subscribed",
            Status::NotMember => "not_member",
            Status::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a peer went down (`peer_down` events).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DownReason {
    /// It said goodbye (EXIT beacon, clean link close).
    Left = 0,
    /// Its keepalives stopped.
    TimedOut = 1,
    /// The handshake failed (no common version, wrong cluster key).
    Rejected = 2,
    /// It is alive somewhere but no route leads to it any more.
    Unreachable = 3,
    /// A newer incarnation of it replaced it (a `peer_up` of the new one
    /// follows).
    Restarted = 4,
}

impl DownReason {
    /// Decodes the wire value of field `reason`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => DownReason::Left,
            1 => DownReason::TimedOut,
            2 => DownReason::Rejected,
            3 => DownReason::Unreachable,
            4 => DownReason::Restarted,
            _ => return Err(Error::Malformed { field: "reason" }),
        })
    }

    /// Snake-case name, as shown by tools.
    pub fn as_str(&self) -> &'static str {
        match self {
            DownReason::Left => "left",
            DownReason::TimedOut => "timed_out",
            DownReason::Rejected => "rejected",
            DownReason::Unreachable => "unreachable",
            DownReason::Restarted => "restarted",
        }
    }
}

impl fmt::Display for DownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of EVENT; kind `k` is selected by bit `1 << k` of an
/// [`EventMask`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EventKind {
    /// `peer_up`: a peer became reachable.
    PeerUp = 0,
    /// `peer_updated`: a reachable peer changed (state, groups, headers,
    /// address, distance).
    PeerUpdated = 1,
    /// `peer_down`: a peer is gone.
    PeerDown = 2,
    /// `joined`: a node joined a group.
    Joined = 3,
    /// `left`: a node left a group.
    Left = 4,
    /// `message`: a message arrived for the local node.
    Message = 5,
}

impl EventKind {
    /// Every kind, in code order.
    pub const ALL: [EventKind; 6] = [
        EventKind::PeerUp,
        EventKind::PeerUpdated,
        EventKind::PeerDown,
        EventKind::Joined,
        EventKind::Left,
        EventKind::Message,
    ];

    /// Decodes the wire value of field `kind`.
    pub fn from_u8(v: u8) -> Result<Self> {
        EventKind::ALL.get(usize::from(v)).copied().ok_or(Error::Malformed { field: "kind" })
    }

    /// The bit selecting this kind in an [`EventMask`].
    pub const fn bit(self) -> u32 {
        1 << self as u8
    }

    /// Snake-case name, as in `docs/PROTOCOL.md`.
    pub fn as_str(&self) -> &'static str {
        match self {
            EventKind::PeerUp => "peer_up",
            EventKind::PeerUpdated => "peer_updated",
            EventKind::PeerDown => "peer_down",
            EventKind::Joined => "joined",
            EventKind::Left => "left",
            EventKind::Message => "message",
        }
    }
}

/// The event kinds a SUBSCRIBE asks for: bit `1 << k` selects
/// [`EventKind`] `k` (bit 0 `peer_up`, 1 `peer_updated`, 2 `peer_down`,
/// 3 `joined`, 4 `left`, 5 `message`). Other bits are reserved and must be
/// zero. The empty mask unsubscribes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EventMask(u32);

impl EventMask {
    /// No event: unsubscribes.
    pub const NONE: EventMask = EventMask(0);

    /// Every event kind defined.
    pub const ALL: EventMask = EventMask((1 << EventKind::ALL.len()) - 1);

    /// A mask from its wire value; reserved bits set are
    /// [`Error::Malformed`] (`event_mask`).
    pub fn from_bits(bits: u32) -> Result<Self> {
        if bits & !Self::ALL.0 != 0 {
            return Err(Error::Malformed { field: "event_mask" });
        }
        Ok(EventMask(bits))
    }

    /// The wire value.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// This mask with `kind` added.
    pub const fn with(self, kind: EventKind) -> Self {
        EventMask(self.0 | kind.bit())
    }

    /// Whether `kind` is selected.
    pub const fn contains(self, kind: EventKind) -> bool {
        self.0 & kind.bit() != 0
    }

    /// Whether no kind is selected (an unsubscription).
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl FromIterator<EventKind> for EventMask {
    fn from_iter<I: IntoIterator<Item = EventKind>>(kinds: I) -> Self {
        kinds.into_iter().fold(EventMask::NONE, EventMask::with)
    }
}

protocol_messages! {
    /// Any admin message.
    pub enum AdminMessage(Protocol::Admin) {
        /// List the members.
        MembersRequest(MembersRequest),
        /// The members.
        Members(Members),
        /// List the groups.
        GroupsRequest(GroupsRequest),
        /// The groups.
        Groups(Groups),
        /// List the routes.
        RoutesRequest(RoutesRequest),
        /// The routes.
        Routes(Routes),
        /// List the counters.
        StatsRequest(StatsRequest),
        /// The counters.
        Stats(Stats),
        /// Send to one node.
        Send(SendRequest),
        /// Outcome of a request.
        Result(AdminResult),
        /// Send to a group.
        Shout(ShoutRequest),
        /// Join a group.
        Join(JoinRequest),
        /// Leave a group.
        Leave(LeaveRequest),
        /// Ping a node.
        Ping(PingRequest),
        /// One answered ping.
        PingReply(PingReply),
        /// Ask for events.
        Subscribe(SubscribeRequest),
        /// Something happened.
        Event(Event),
        /// List the members with their traffic figures.
        MembersTrafficRequest(MembersTrafficRequest),
        /// The members with their traffic figures.
        MembersTraffic(MembersTraffic),
        /// List the links.
        LinksRequest(LinksRequest),
        /// The links.
        Links(Links),
    }
}

impl AdminMessage {
    /// The `request_id` every admin message starts with.
    pub fn request_id(&self) -> u32 {
        match self {
            AdminMessage::MembersRequest(m) => m.request_id,
            AdminMessage::Members(m) => m.request_id,
            AdminMessage::GroupsRequest(m) => m.request_id,
            AdminMessage::Groups(m) => m.request_id,
            AdminMessage::RoutesRequest(m) => m.request_id,
            AdminMessage::Routes(m) => m.request_id,
            AdminMessage::StatsRequest(m) => m.request_id,
            AdminMessage::Stats(m) => m.request_id,
            AdminMessage::Send(m) => m.request_id,
            AdminMessage::Result(m) => m.request_id,
            AdminMessage::Shout(m) => m.request_id,
            AdminMessage::PingReply(m) => m.request_id,
            AdminMessage::Join(m) => m.request_id,
            AdminMessage::Event(m) => m.request_id,
            AdminMessage::Leave(m) => m.request_id,
            AdminMessage::Ping(m) => m.request_id,
            AdminMessage::Subscribe(m) => m.request_id,
            AdminMessage::MembersTrafficRequest(m) => m.request_id,
            AdminMessage::MembersTraffic(m) => m.request_id,
            AdminMessage::LinksRequest(m) => m.request_id,
            AdminMessage::Links(m) => m.request_id,
        }
    }

    /// Whether this is a request (odd type, client to agent) rather than a
    /// response or event (even type, agent to client).
    pub fn is_request(&self) -> bool {
        self.msg_type() % 2 == 1
    }
}
