//! Admin responses: the even message types but EVENT, sent by the agent and
//! carrying the `request_id` of the request they answer.
//!
//! # MEMBERS (2), GROUPS (4), ROUTES (6), STATS (8), MEMBERS_TRAFFIC (22), LINKS (24)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          count (u16)          |  count x record ...           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! | message | `count` field   | records |
//! | ------- | --------------- | ------- |
//! | MEMBERS | `member_count`  | member records, the agent's own node first (`hops` 0) |
//! | GROUPS  | `group_count`   | group records |
//! | ROUTES  | `route_count`   | route records, one per reachable destination |
//! | STATS   | `counter_count` | counter records |
//! | MEMBERS_TRAFFIC | `member_count` | member traffic records, the agent's own node first |
//! | LINKS   | `link_count`    | link records, in link id order |
//!
//! The records are drawn in [`records`](super::records); `count` is at most
//! [`Limits::max_entries`](netcluster_core::wire::Limits::max_entries).
//!
//! # RESULT (10)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    status     |       detail_len (u16)        | detail ...    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `status`: 0 ok, 1 unknown_target, 2 unreachable, 3 delivery_failed,
//! 4 timeout, 5 bad_request, 6 limit, 7 not_subscribed, 8 not_member,
//! 9 unsupported ([`Status`]). `detail`: a UTF-8 message for people, may be
//! empty.
//!
//! # PING_REPLY (18)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       target (16 bytes)                       +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        sequence (u16)         |         rtt_us (u32) ...      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     ... rtt_us                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::codec::{check_len, Reader, Writer};
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::{Body, Limits, NodeId, Protocol, Result};
use netcluster_core::wire_view;

use super::records::{
    Counter, GroupRecord, LinkRecord, MemberRecord, MemberTrafficRecord, RouteRecord,
};
use super::Status;

/// Declares a listing response: `request_id`, a u16 count, the records.
macro_rules! listing {
    (
        $(#[$meta:meta])*
        $name:ident = $code:expr, $view:ident, $fieldmod:ident, $finish:literal;
        $(#[$lmeta:meta])*
        $list:ident: $rec:ty, $count_field:literal, $get:ident, $set:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name {
            /// The `request_id` of the request answered.
            pub request_id: u32,
            $(#[$lmeta])*
            pub $list: VarList<$rec>,
        }

        impl Body for $name {
            const PROTOCOL: Protocol = Protocol::Admin;
            const MSG_TYPE: u8 = $code;

            fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
                let v = $view::new_checked(&body[..])?;
                let mut r = Reader::new(body, $fieldmod::FIXED_LEN, body.len());
                let count = usize::from(v.$get());
                let $list = VarList::parse(&mut r, count, limits.max_entries, limits, $count_field)?;
                r.finish($finish)?;
                Ok($name {
                    request_id: v.request_id(),
                    $list,
                })
            }

            fn body_len(&self) -> usize {
                $fieldmod::FIXED_LEN + self.$list.encoded_len()
            }

            fn emit_body(&self, out: &mut [u8]) -> Result<()> {
                let count = self.$list.len();
                check_len($count_field, count, u16::MAX as usize)?;
                let mut v = $view::new_checked(&mut out[..])?;
                v.set_request_id(self.request_id);
                v.$set(count as u16);
                let mut w = Writer::new(out);
                w.skip($fieldmod::FIXED_LEN);
                w.put(self.$list.as_bytes());
                Ok(())
            }
        }
    };
}

wire_view! {
    /// Zero-copy view of the fixed part of a MEMBERS body.
    pub struct MembersView;
    pub mod members;
    fixed_len = 6;
    /// `request_id`: of the MEMBERS_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `member_count`: records in `members`.
    member_count, set_member_count, MEMBER_COUNT: u16 = 4;
}

listing! {
    /// MEMBERS (type 2): every member the agent knows, the answer to a
    /// MEMBERS_REQUEST.
    Members = 2, MembersView, members, "members";
    /// The members, the agent's own node first.
    members: MemberRecord, "member_count", member_count, set_member_count;
}

wire_view! {
    /// Zero-copy view of the fixed part of a GROUPS body.
    pub struct GroupsView;
    pub mod groups;
    fixed_len = 6;
    /// `request_id`: of the GROUPS_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `group_count`: records in `groups`.
    group_count, set_group_count, GROUP_COUNT: u16 = 4;
}

listing! {
    /// GROUPS (type 4): every group with at least one member, the answer to
    /// a GROUPS_REQUEST.
    Groups = 4, GroupsView, groups, "groups";
    /// The groups and their members.
    groups: GroupRecord, "group_count", group_count, set_group_count;
}

wire_view! {
    /// Zero-copy view of the fixed part of a ROUTES body.
    pub struct RoutesView;
    pub mod routes;
    fixed_len = 6;
    /// `request_id`: of the ROUTES_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `route_count`: records in `routes`.
    route_count, set_route_count, ROUTE_COUNT: u16 = 4;
}

listing! {
    /// ROUTES (type 6): the agent's routing table, the answer to a
    /// ROUTES_REQUEST.
    Routes = 6, RoutesView, routes, "routes";
    /// One route per reachable destination.
    routes: RouteRecord, "route_count", route_count, set_route_count;
}

wire_view! {
    /// Zero-copy view of the fixed part of a STATS body.
    pub struct StatsView;
    pub mod stats;
    fixed_len = 6;
    /// `request_id`: of the STATS_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `counter_count`: records in `counters`.
    counter_count, set_counter_count, COUNTER_COUNT: u16 = 4;
}

listing! {
    /// STATS (type 8): the agent's counters, the answer to a STATS_REQUEST.
    Stats = 8, StatsView, stats, "stats";
    /// The counters, by name.
    counters: Counter, "counter_count", counter_count, set_counter_count;
}

impl Stats {
    /// The value of the counter named `name`, if present.
    pub fn get(&self, name: &str) -> Option<u64> {
        self.counters.iter().find(|c| c.name == name).map(|c| c.value)
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a MEMBERS_TRAFFIC body.
    pub struct MembersTrafficView;
    pub mod members_traffic;
    fixed_len = 6;
    /// `request_id`: of the MEMBERS_TRAFFIC_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `member_count`: records in `members`.
    member_count, set_member_count, MEMBER_COUNT: u16 = 4;
}

listing! {
    /// MEMBERS_TRAFFIC (type 22): every member the agent knows with its
    /// traffic figures, the answer to a MEMBERS_TRAFFIC_REQUEST. MEMBERS
    /// stays as it was, so clients that predate this message keep working.
    MembersTraffic = 22, MembersTrafficView, members_traffic, "members_traffic";
    /// The members with their figures, the agent's own node first.
    members: MemberTrafficRecord, "member_count", member_count, set_member_count;
}

wire_view! {
    /// Zero-copy view of the fixed part of a LINKS body.
    pub struct LinksView;
    pub mod links;
    fixed_len = 6;
    /// `request_id`: of the LINKS_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `link_count`: records in `links`.
    link_count, set_link_count, LINK_COUNT: u16 = 4;
}

listing! {
    /// LINKS (type 24): the agent's links and their output queues, the
    /// answer to a LINKS_REQUEST.
    Links = 24, LinksView, links, "links";
    /// The links, in id order.
    links: LinkRecord, "link_count", link_count, set_link_count;
}

wire_view! {
    /// Zero-copy view of the fixed part of a RESULT body.
    pub struct ResultView;
    pub mod result;
    fixed_len = 5;
    /// `request_id`: of the request answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `status`: outcome code.
    status, set_status, STATUS: u8 = 4;
}

/// RESULT (type 10): the outcome of SEND, SHOUT, JOIN, LEAVE, PING or
/// SUBSCRIBE, or an error answering any request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminResult {
    /// The `request_id` of the request answered.
    pub request_id: u32,
    /// The outcome.
    pub status: Status,
    /// A message for people (may be empty), at most 65535 bytes.
    pub detail: ByteString,
}

impl Body for AdminResult {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 10;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = ResultView::new_checked(&body[..])?;
        let status = Status::from_u8(v.status())?;
        let mut r = Reader::new(body, result::FIXED_LEN, body.len());
        let detail = r.str16("detail", u16::MAX as usize)?;
        r.finish("result")?;
        Ok(AdminResult { request_id: v.request_id(), status, detail })
    }

    fn body_len(&self) -> usize {
        result::FIXED_LEN + 2 + self.detail.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = ResultView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_status(self.status as u8);
        let mut w = Writer::new(out);
        w.skip(result::FIXED_LEN);
        w.str16(&self.detail, "detail")
    }
}

wire_view! {
    /// Zero-copy view of a PING_REPLY body (all of it is fixed).
    pub struct PingReplyView;
    pub mod ping_reply;
    fixed_len = 26;
    /// `request_id`: of the PING answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `target`: the node that answered.
    target, set_target, TARGET: NodeId = 4;
    /// `sequence`: which ping, from 0.
    sequence, set_sequence, SEQUENCE: u16 = 20;
    /// `rtt_us`: round-trip time in microseconds.
    rtt_us, set_rtt_us, RTT_US: u32 = 22;
}

/// PING_REPLY (type 18): one answered ping of a PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingReply {
    /// The `request_id` of the PING.
    pub request_id: u32,
    /// The node that answered (the resolved target).
    pub target: NodeId,
    /// Which ping this answers, counting from 0.
    pub sequence: u16,
    /// Round-trip time in microseconds (saturates at `u32::MAX`).
    pub rtt_us: u32,
}

impl Body for PingReply {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 18;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = PingReplyView::new_checked(&body[..])?;
        Reader::new(body, ping_reply::FIXED_LEN, body.len()).finish("ping_reply")?;
        Ok(PingReply {
            request_id: v.request_id(),
            target: v.target(),
            sequence: v.sequence(),
            rtt_us: v.rtt_us(),
        })
    }

    fn body_len(&self) -> usize {
        ping_reply::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = PingReplyView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_target(self.target);
        v.set_sequence(self.sequence);
        v.set_rtt_us(self.rtt_us);
        Ok(())
    }
}
