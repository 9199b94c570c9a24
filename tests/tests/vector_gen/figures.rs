//! The golden vectors of the admin listings added for traffic figures and
//! links (MEMBERS_TRAFFIC_REQUEST / MEMBERS_TRAFFIC, LINKS_REQUEST / LINKS).

use netcluster_control::admin::{
    LinkKind, LinkRecord, Links, LinksRequest, MemberTrafficRecord, MembersTraffic,
    MembersTrafficRequest, TrafficFigures,
};
use netcluster_core::wire::lists::VarList;

use super::control::{admin, member, member_fields, MEMBER_A, MEMBER_B};
use super::{addr, vector, Enc, Vector, B};

pub(super) fn admin_figures() -> Vec<Vector> {
    let mut out = Vec::new();

    let mut e = Enc::default();
    e.u32(21, "request_id");
    out.push(vector(
        "admin/members_traffic_request.hex",
        &["MEMBERS_TRAFFIC_REQUEST (admin type 21), version 1, request_id 21: a listing request."],
        admin(MembersTrafficRequest { request_id: 21 }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(23, "request_id");
    out.push(vector(
        "admin/links_request.hex",
        &["LINKS_REQUEST (admin type 23), version 1, request_id 23: a listing request."],
        admin(LinksRequest { request_id: 23 }),
        None,
        &e,
    ));

    let own = TrafficFigures::default();
    let to_b = TrafficFigures {
        rx_bytes_per_sec: 2_000,
        tx_bytes_per_sec: 100_000,
        rx_msgs_per_sec: 20,
        tx_msgs_per_sec: 100,
        srtt_us: Some(1_500),
    };
    let mut e = Enc::default();
    e.u32(21, "request_id").u16(2, "member_count");
    for (i, (t, m)) in [(own, &MEMBER_A), (to_b, &MEMBER_B)].into_iter().enumerate() {
        let p = format!("members[{i}]: ");
        e.u64(t.rx_bytes_per_sec, &format!("{p}rx_bytes_per_sec"))
            .u64(t.tx_bytes_per_sec, &format!("{p}tx_bytes_per_sec"))
            .u64(t.rx_msgs_per_sec, &format!("{p}rx_msgs_per_sec"))
            .u64(t.tx_msgs_per_sec, &format!("{p}tx_msgs_per_sec"));
        match t.srtt_us {
            Some(us) => e.u32(us, &format!("{p}srtt_us")),
            None => e.raw(&[0xff; 4], format!("{p}srtt_us = 0xffffffff (not measured)")),
        };
        member_fields(&mut e, m, &p);
    }
    let records = [
        MemberTrafficRecord { traffic: own, member: member(&MEMBER_A) },
        MemberTrafficRecord { traffic: to_b, member: member(&MEMBER_B) },
    ];
    out.push(vector(
        "admin/members_traffic.hex",
        &[
            "MEMBERS_TRAFFIC (admin type 22), version 1, answering request_id 21:",
            "the agent's own node A first (no figures), then B, to which A sends",
            "100 messages (100,000 bytes) a second and from which it gets 20",
            "(2,000 bytes), 1.5 ms away; each member record as MEMBERS has it.",
        ],
        admin(MembersTraffic {
            request_id: 21,
            members: VarList::from_records(records).expect("records"),
        }),
        None,
        &e,
    ));

    let to_b = LinkRecord {
        link_id: 1,
        peer: Some(B),
        kind: LinkKind::Stream,
        outgoing: true,
        up: true,
        encrypted: true,
        queued_frames: 3,
        queued_bytes: 3_120,
        queued_data_bytes: 3_072,
        peak_bytes: 262_144,
        dropped: 2,
        marked: 40,
        rtt_us: Some(310),
        addr: addr("192.0.2.2:7400"),
    };
    let from_c = LinkRecord {
        link_id: 2,
        peer: None,
        kind: LinkKind::Stream,
        outgoing: false,
        up: false,
        encrypted: false,
        queued_frames: 0,
        queued_bytes: 0,
        queued_data_bytes: 0,
        peak_bytes: 0,
        dropped: 0,
        marked: 0,
        rtt_us: None,
        addr: addr("[2001:db8::3]:41000"),
    };
    let mut e = Enc::default();
    e.u32(23, "request_id").u16(2, "link_count");
    e.u64(1, "links[0]: link_id")
        .id(B, "links[0]: peer")
        .u8_as(0, "links[0]: kind = 0 (stream)")
        .u8_as(0x0f, "links[0]: link_flags = 0x0f (outgoing | up | peer known | encrypted)")
        .u32(3, "links[0]: queued_frames")
        .u64(3_120, "links[0]: queued_bytes")
        .u64(3_072, "links[0]: queued_data_bytes")
        .u64(262_144, "links[0]: peak_bytes")
        .u64(2, "links[0]: dropped")
        .u64(40, "links[0]: marked")
        .u32(310, "links[0]: rtt_us")
        .addr(to_b.addr, "links[0]: addr");
    e.u64(2, "links[1]: link_id")
        .raw(&[0; 16], "links[1]: peer = zeros (not known yet)")
        .u8_as(0, "links[1]: kind = 0 (stream)")
        .u8_as(0, "links[1]: link_flags = 0x00 (accepted, in its handshake)")
        .u32(0, "links[1]: queued_frames")
        .u64(0, "links[1]: queued_bytes")
        .u64(0, "links[1]: queued_data_bytes")
        .u64(0, "links[1]: peak_bytes")
        .u64(0, "links[1]: dropped")
        .u64(0, "links[1]: marked")
        .raw(&[0xff; 4], "links[1]: rtt_us = 0xffffffff (not measured)")
        .addr(from_c.addr, "links[1]: addr");
    out.push(vector(
        "admin/links.hex",
        &[
            "LINKS (admin type 24), version 1, answering request_id 23: link 1 to",
            "B, opened by the agent, up and encrypted, with three frames queued, 2 DATA frames",
            "dropped and 40 marked so far; link 2, accepted from an IPv6 address,",
            "still in its handshake.",
        ],
        admin(Links {
            request_id: 23,
            links: VarList::from_records([to_b, from_c]).expect("records"),
        }),
        None,
        &e,
    ));
    out
}
