//! The golden vectors of the admin and tracker sub-protocols, whose codecs
//! live in `netcluster-control`; the field-by-field encoder and the shared
//! values are the parent module's.

use bytes::Bytes;
use netcluster_control::admin::{
    AdminEvent, AdminResult, Counter, DeliveryMode, DownReason, Event, EventKind, EventMask,
    GroupRecord, Groups, GroupsRequest, JoinRequest, LeaveRequest, MemberRecord, Members,
    MembersRequest, PingReply, PingRequest, RouteRecord, Routes, RoutesRequest, SendRequest,
    ShoutRequest, Stats, StatsRequest, Status, SubscribeRequest,
};
use netcluster_control::tracker::{PeerEntry, Peers, Query, Register};
use netcluster_control::{AdminMessage, ControlFrame, ControlMessage, TrackerMessage};
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::{cluster_hash, FixedList, HeaderList, NodeId, NodeState, StrList};

use super::{addr, vector, Enc, Vector, A, B, C, CLUSTER, D};

pub(super) fn admin(m: impl Into<AdminMessage>) -> ControlFrame {
    ControlFrame::new(ControlMessage::Admin(m.into()))
}

fn tracker(m: impl Into<TrackerMessage>) -> ControlFrame {
    ControlFrame::new(ControlMessage::Tracker(m.into()))
}

// ---------------------------------------------------------------------------
// Admin.

fn mode_field(e: &mut Enc, m: DeliveryMode) {
    e.u8_as(m as u8, format!("mode = {} ({})", m as u8, m.as_str()));
}

pub(super) struct MemberSpec {
    id: NodeId,
    incarnation: u64,
    hops: u8,
    addr: &'static str,
    name: &'static str,
    groups: &'static [&'static str],
    headers: &'static [(&'static str, &'static str)],
}

pub(super) const MEMBER_A: MemberSpec = MemberSpec {
    id: A,
    incarnation: 1,
    hops: 0,
    addr: "192.0.2.1:7400",
    name: "alpha",
    groups: &["chat", "jobs"],
    headers: &[("role", "worker")],
};

pub(super) const MEMBER_B: MemberSpec = MemberSpec {
    id: B,
    incarnation: 2,
    hops: 1,
    addr: "[2001:db8::2]:7400",
    name: "bravo",
    groups: &["chat"],
    headers: &[],
};

pub(super) fn member(m: &MemberSpec) -> MemberRecord {
    MemberRecord {
        node_id: m.id,
        incarnation: m.incarnation,
        state: NodeState::Ready,
        hops: m.hops,
        link_addr: addr(m.addr),
        name: m.name.into(),
        groups: StrList::from_names(m.groups.iter().copied()).expect("groups"),
        headers: HeaderList::from_pairs(m.headers.iter().copied()).expect("headers"),
    }
}

pub(super) fn member_fields(e: &mut Enc, m: &MemberSpec, prefix: &str) {
    e.id(m.id, &format!("{prefix}node_id"))
        .u64(m.incarnation, &format!("{prefix}incarnation"))
        .state(NodeState::Ready)
        .u8(m.hops, &format!("{prefix}hops"))
        .addr(addr(m.addr), &format!("{prefix}link_addr"))
        .str8(m.name, &format!("{prefix}name"))
        .str_list(m.groups, &format!("{prefix}groups"))
        .header_list(m.headers, &format!("{prefix}headers"));
}

fn event_kind_field(e: &mut Enc, k: EventKind) {
    e.u8_as(k as u8, format!("kind = {} ({})", k as u8, k.as_str()));
}

pub(super) fn admin_requests() -> Vec<Vector> {
    let mut out = Vec::new();
    let listing_requests: [(&str, &str, ControlFrame, u32); 4] = [
        (
            "admin/members_request.hex",
            "MEMBERS_REQUEST (admin type 1)",
            admin(MembersRequest { request_id: 1 }),
            1,
        ),
        (
            "admin/groups_request.hex",
            "GROUPS_REQUEST (admin type 3)",
            admin(GroupsRequest { request_id: 3 }),
            3,
        ),
        (
            "admin/routes_request.hex",
            "ROUTES_REQUEST (admin type 5)",
            admin(RoutesRequest { request_id: 5 }),
            5,
        ),
        (
            "admin/stats_request.hex",
            "STATS_REQUEST (admin type 7)",
            admin(StatsRequest { request_id: 7 }),
            7,
        ),
    ];
    for (path, what, frame, id) in listing_requests {
        let mut e = Enc::default();
        e.u32(id, "request_id");
        let line = format!("{what}, version 1, request_id {id}: a listing request.");
        out.push(vector(path, &[&line], frame, None, &e));
    }

    let mut e = Enc::default();
    e.u32(9, "request_id");
    mode_field(&mut e, DeliveryMode::Reliable);
    e.str8("bravo", "target").raw(b"hello", "payload = \"hello\"");
    out.push(vector(
        "admin/send.hex",
        &[
            "SEND (admin type 9), version 1, request_id 9: send \"hello\" reliably",
            "to the node named \"bravo\".",
        ],
        admin(SendRequest {
            request_id: 9,
            mode: DeliveryMode::Reliable,
            target: "bravo".into(),
            payload: Bytes::from_static(b"hello"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(11, "request_id");
    mode_field(&mut e, DeliveryMode::Datagram);
    e.str8("chat", "group").raw(b"hi all", "payload = \"hi all\"");
    out.push(vector(
        "admin/shout.hex",
        &[
            "SHOUT (admin type 11), version 1, request_id 11: send \"hi all\" as a",
            "datagram to group \"chat\".",
        ],
        admin(ShoutRequest {
            request_id: 11,
            mode: DeliveryMode::Datagram,
            group: "chat".into(),
            payload: Bytes::from_static(b"hi all"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(13, "request_id").str8("jobs", "group");
    out.push(vector(
        "admin/join.hex",
        &["JOIN (admin type 13), version 1, request_id 13: join group \"jobs\"."],
        admin(JoinRequest { request_id: 13, group: "jobs".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(15, "request_id").str8("jobs", "group");
    out.push(vector(
        "admin/leave.hex",
        &["LEAVE (admin type 15), version 1, request_id 15: leave group \"jobs\"."],
        admin(LeaveRequest { request_id: 15, group: "jobs".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(17, "request_id").u16(3, "count").str8("bravo", "target");
    out.push(vector(
        "admin/ping.hex",
        &["PING (admin type 17), version 1, request_id 17: ping \"bravo\" 3 times."],
        admin(PingRequest { request_id: 17, count: 3, target: "bravo".into() }),
        None,
        &e,
    ));

    let mask: EventMask =
        [EventKind::PeerUp, EventKind::PeerDown, EventKind::Message].into_iter().collect();
    let mut e = Enc::default();
    e.u32(19, "request_id").raw(
        &mask.bits().to_be_bytes(),
        format!("event_mask = 0x{:08x} (peer_up | peer_down | message)", mask.bits()),
    );
    out.push(vector(
        "admin/subscribe.hex",
        &[
            "SUBSCRIBE (admin type 19), version 1, request_id 19: events peer_up,",
            "peer_down and message (bits 0, 2, 5).",
        ],
        admin(SubscribeRequest { request_id: 19, events: mask }),
        None,
        &e,
    ));
    out
}

pub(super) fn admin_responses() -> Vec<Vector> {
    let mut out = Vec::new();

    let mut e = Enc::default();
    e.u32(1, "request_id").u16(2, "member_count");
    member_fields(&mut e, &MEMBER_A, "members[0]: ");
    member_fields(&mut e, &MEMBER_B, "members[1]: ");
    out.push(vector(
        "admin/members.hex",
        &[
            "MEMBERS (admin type 2), version 1, answering request_id 1: the agent's",
            "own node A (\"alpha\", hops 0) first, then B (\"bravo\", hops 1, IPv6).",
        ],
        admin(Members {
            request_id: 1,
            members: VarList::from_records([member(&MEMBER_A), member(&MEMBER_B)])
                .expect("records"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(3, "request_id")
        .u16(2, "group_count")
        .u32(2, "groups[0]: member_count")
        .str8("chat", "groups[0]: name")
        .id(A, "groups[0]: members")
        .id(B, "groups[0]: members")
        .u32(1, "groups[1]: member_count")
        .str8("jobs", "groups[1]: name")
        .id(A, "groups[1]: members");
    out.push(vector(
        "admin/groups.hex",
        &[
            "GROUPS (admin type 4), version 1, answering request_id 3: group",
            "\"chat\" (A, B) and group \"jobs\" (A).",
        ],
        admin(Groups {
            request_id: 3,
            groups: VarList::from_records([
                GroupRecord {
                    name: "chat".into(),
                    members: FixedList::from_entries([A, B].iter()),
                },
                GroupRecord { name: "jobs".into(), members: FixedList::from_entries([A].iter()) },
            ])
            .expect("records"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(5, "request_id")
        .u16(2, "route_count")
        .id(B, "routes[0]: destination")
        .id(B, "routes[0]: next_hop")
        .u32(1, "routes[0]: cost")
        .u8(1, "routes[0]: hops")
        .id(B, "routes[0]: path")
        .id(C, "routes[1]: destination")
        .id(B, "routes[1]: next_hop")
        .u32(2, "routes[1]: cost")
        .u8(2, "routes[1]: hops")
        .id(B, "routes[1]: path")
        .id(C, "routes[1]: path");
    out.push(vector(
        "admin/routes.hex",
        &[
            "ROUTES (admin type 6), version 1, answering request_id 5: from A, B",
            "directly (cost 1) and C through B (cost 2, path B, C).",
        ],
        admin(Routes {
            request_id: 5,
            routes: VarList::from_records([
                RouteRecord {
                    destination: B,
                    next_hop: B,
                    cost: 1,
                    path: FixedList::from_entries([B].iter()),
                },
                RouteRecord {
                    destination: C,
                    next_hop: B,
                    cost: 2,
                    path: FixedList::from_entries([B, C].iter()),
                },
            ])
            .expect("records"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(7, "request_id")
        .u16(2, "counter_count")
        .u64(1234, "counters[0]: value")
        .str8("frames_received", "counters[0]: name")
        .u64(2, "counters[1]: value")
        .str8("links_open", "counters[1]: name");
    out.push(vector(
        "admin/stats.hex",
        &[
            "STATS (admin type 8), version 1, answering request_id 7: two counters,",
            "frames_received = 1234 and links_open = 2.",
        ],
        admin(Stats {
            request_id: 7,
            counters: VarList::from_records([
                Counter { name: "frames_received".into(), value: 1234 },
                Counter { name: "links_open".into(), value: 2 },
            ])
            .expect("records"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(9, "request_id").u8_as(Status::Ok as u8, "status = 0 (ok)").str16("delivered", "detail");
    out.push(vector(
        "admin/result.hex",
        &["RESULT (admin type 10), version 1, answering request_id 9 (the SEND): ok."],
        admin(AdminResult { request_id: 9, status: Status::Ok, detail: "delivered".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(17, "request_id").id(B, "target").u16(0, "sequence").u32(1500, "rtt_us");
    out.push(vector(
        "admin/ping_reply.hex",
        &[
            "PING_REPLY (admin type 18), version 1, answering request_id 17: B",
            "answered ping 0 in 1500 microseconds.",
        ],
        admin(PingReply { request_id: 17, target: B, sequence: 0, rtt_us: 1500 }),
        None,
        &e,
    ));
    out
}

pub(super) fn admin_events() -> Vec<Vector> {
    let mut out = Vec::new();
    let ev = |event: AdminEvent| admin(Event { request_id: 19, event });

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::PeerUp);
    member_fields(&mut e, &MEMBER_B, "");
    out.push(vector(
        "admin/event.hex",
        &[
            "EVENT (admin type 20), version 1, for the SUBSCRIBE with request_id 19:",
            "peer_up, B became reachable (a member record).",
        ],
        ev(AdminEvent::PeerUp(member(&MEMBER_B))),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::PeerUpdated);
    member_fields(&mut e, &MEMBER_B, "");
    out.push(vector(
        "admin/event_peer_updated.hex",
        &["EVENT (admin type 20), version 1: peer_updated, B's new description."],
        ev(AdminEvent::PeerUpdated(member(&MEMBER_B))),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::PeerDown);
    e.id(B, "node_id")
        .u8_as(DownReason::TimedOut as u8, "reason = 1 (timed_out)")
        .str8("bravo", "name");
    out.push(vector(
        "admin/event_peer_down.hex",
        &["EVENT (admin type 20), version 1: peer_down, B (\"bravo\") timed out."],
        ev(AdminEvent::PeerDown { node_id: B, reason: DownReason::TimedOut, name: "bravo".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::Joined);
    e.id(C, "node_id").str8("chat", "group");
    out.push(vector(
        "admin/event_joined.hex",
        &["EVENT (admin type 20), version 1: joined, C joined group \"chat\"."],
        ev(AdminEvent::Joined { node_id: C, group: "chat".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::Left);
    e.id(C, "node_id").str8("chat", "group");
    out.push(vector(
        "admin/event_left.hex",
        &["EVENT (admin type 20), version 1: left, C left group \"chat\"."],
        ev(AdminEvent::Left { node_id: C, group: "chat".into() }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::Message);
    e.id(B, "from");
    mode_field(&mut e, DeliveryMode::Datagram);
    e.u8_as(1, "has_group = 1").str8("chat", "group").raw(b"hi all", "payload = \"hi all\"");
    out.push(vector(
        "admin/event_message.hex",
        &[
            "EVENT (admin type 20), version 1: message, B shouted the datagram",
            "\"hi all\" to group \"chat\".",
        ],
        ev(AdminEvent::Message {
            from: B,
            mode: DeliveryMode::Datagram,
            group: Some("chat".into()),
            payload: Bytes::from_static(b"hi all"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(19, "request_id");
    event_kind_field(&mut e, EventKind::Message);
    e.id(B, "from");
    mode_field(&mut e, DeliveryMode::Reliable);
    e.u8_as(0, "has_group = 0 (sent to this node alone)").raw(b"hello", "payload = \"hello\"");
    out.push(vector(
        "admin/event_message_direct.hex",
        &[
            "EVENT (admin type 20), version 1: message, B sent \"hello\" reliably",
            "to this node alone (no group field).",
        ],
        ev(AdminEvent::Message {
            from: B,
            mode: DeliveryMode::Reliable,
            group: None,
            payload: Bytes::from_static(b"hello"),
        }),
        None,
        &e,
    ));
    out
}

// ---------------------------------------------------------------------------
// Tracker.

pub(super) fn trackers() -> Vec<Vector> {
    let mut out = Vec::new();
    let hash = cluster_hash(CLUSTER);
    let hash_label = format!("cluster_hash (FNV-1a 64 of {CLUSTER:?})");

    let mut e = Enc::default();
    e.u64_hex(hash, &hash_label)
        .id(A, "node_id")
        .u64(1, "incarnation")
        .u16(60, "ttl_s")
        .addr(addr("0.0.0.0:7400"), "link_addr");
    out.push(vector(
        "tracker/register.hex",
        &[
            "REGISTER (tracker type 1), version 1: node A asks to be listed in",
            "cluster \"demo\" for 60 s; its link address 0.0.0.0:7400 means \"the",
            "source address of this datagram, port 7400\". Answered by PEERS.",
        ],
        tracker(Register {
            cluster_hash: hash,
            node_id: A,
            incarnation: 1,
            ttl_s: 60,
            link_addr: addr("0.0.0.0:7400"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u64_hex(hash, &hash_label)
        .u16(2, "total")
        .u16(0, "offset")
        .u8(2, "peer_count")
        .id(B, "peers[0]: node_id")
        .u64(2, "peers[0]: incarnation")
        .addr(addr("192.0.2.2:7400"), "peers[0]: link_addr")
        .id(C, "peers[1]: node_id")
        .u64(3, "peers[1]: incarnation")
        .addr(addr("[2001:db8::3]:7400"), "peers[1]: link_addr");
    out.push(vector(
        "tracker/peers.hex",
        &[
            "PEERS (tracker type 2), version 1: the answer to A's REGISTER, the",
            "whole listing (total 2, offset 0) without A: B over IPv4, C over IPv6.",
            "Never answered.",
        ],
        tracker(Peers {
            cluster_hash: hash,
            total: 2,
            offset: 0,
            peers: VarList::from_records([
                PeerEntry { node_id: B, incarnation: 2, link_addr: addr("192.0.2.2:7400") },
                PeerEntry { node_id: C, incarnation: 3, link_addr: addr("[2001:db8::3]:7400") },
            ])
            .expect("records"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u64_hex(hash, &hash_label)
        .id(D, "node_id")
        .u16(0, "offset")
        .u16(0, "max = 0 (as many as fit)");
    out.push(vector(
        "tracker/query.hex",
        &[
            "QUERY (tracker type 3), version 1: node D asks for the first page of",
            "cluster \"demo\" without registering. Answered by PEERS.",
        ],
        tracker(Query { cluster_hash: hash, node_id: D, offset: 0, max: 0 }),
        None,
        &e,
    ));
    out
}
