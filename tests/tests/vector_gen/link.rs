//! The golden vectors of the link sub-protocol: handshake, keepalive,
//! routing and data; the field-by-field encoder and the shared values are
//! the parent module's.

use bytes::Bytes;
use netcluster_core::wire::link::data::{FLAG_BUNDLE, FLAG_GROUP, FLAG_SYN};
use netcluster_core::wire::link::handshake::CAP_AUTH;
use netcluster_core::wire::link::route::ROOT_PARENT;
use netcluster_core::wire::link::{
    bundle_payload, Ack, AckRange, Advertise, ChosenVersion, Data, Goodbye, GoodbyeReason, Hello,
    Intro, Lsa, LsaAck, LsaKey, Neighbour, Ping, Pong, Reject, RejectReason, Route, RouteError,
    Semantics, Welcome,
};
use netcluster_core::wire::{
    cluster_hash, Extensions, FixedList, Frame, HeaderList, Message, NodeId, NodeState, StrList,
};

use super::{addr, proto_name, ranges, vector, Enc, Vector, A, B, C, CLUSTER, D};

fn link(m: impl Into<netcluster_core::wire::LinkMessage>) -> Frame {
    Frame::new(Message::Link(m.into()))
}

// ---------------------------------------------------------------------------
// Link.

struct IntroSpec {
    id: NodeId,
    incarnation: u64,
    capabilities: u32,
    addr: &'static str,
    name: &'static str,
    headers: &'static [(&'static str, &'static str)],
    groups: &'static [&'static str],
    ranges: &'static [(u8, u8, u8)],
}

const ALL_V1: &[(u8, u8, u8)] = &[(1, 1, 1), (2, 1, 1), (3, 1, 1), (4, 1, 1)];

fn intro(s: &IntroSpec) -> Intro {
    Intro {
        node_id: s.id,
        incarnation: s.incarnation,
        capabilities: s.capabilities,
        state: NodeState::Ready,
        link_addr: addr(s.addr),
        cluster: CLUSTER.into(),
        name: s.name.into(),
        ranges: ranges(s.ranges),
        headers: HeaderList::from_pairs(s.headers.iter().copied()).expect("headers"),
        groups: StrList::from_names(s.groups.iter().copied()).expect("groups"),
    }
}

fn intro_fields(e: &mut Enc, s: &IntroSpec) {
    let caps = if s.capabilities == 0 {
        "capabilities = 0x00000000".to_string()
    } else {
        format!("capabilities = 0x{:08x} (CAP_AUTH)", s.capabilities)
    };
    e.id(s.id, "node_id")
        .u64(s.incarnation, "incarnation")
        .u64_hex(cluster_hash(CLUSTER), &format!("cluster_hash (FNV-1a 64 of {CLUSTER:?})"))
        .raw(&s.capabilities.to_be_bytes(), caps)
        .state(NodeState::Ready)
        .u8(s.ranges.len() as u8, "range_count")
        .addr(addr(s.addr), "link_addr")
        .str8(CLUSTER, "cluster")
        .str8(s.name, "name")
        .ranges(s.ranges, "ranges")
        .header_list(s.headers, "headers")
        .str_list(s.groups, "groups");
}

const HELLO_A: IntroSpec = IntroSpec {
    id: A,
    incarnation: 1,
    capabilities: CAP_AUTH,
    addr: "192.0.2.1:7400",
    name: "alpha",
    headers: &[("role", "worker")],
    groups: &["chat", "jobs"],
    ranges: ALL_V1,
};

const WELCOME_B: IntroSpec = IntroSpec {
    id: B,
    incarnation: 2,
    capabilities: 0,
    addr: "192.0.2.2:7400",
    name: "bravo",
    headers: &[],
    groups: &["chat"],
    ranges: ALL_V1,
};

pub(super) fn handshake() -> Vec<Vector> {
    let mut out = Vec::new();

    let mut e = Enc::default();
    intro_fields(&mut e, &HELLO_A);
    out.push(vector(
        "link/hello.hex",
        &[
            "HELLO (link type 1), version 1: node A (\"alpha\", incarnation 1) opens",
            "a link. Capabilities CAP_AUTH, state READY, links at 192.0.2.1:7400,",
            "cluster \"demo\", every sub-protocol offered at 1..=1, one header",
            "role=worker, groups \"chat\" and \"jobs\".",
        ],
        link(Hello(intro(&HELLO_A))),
        None,
        &e,
    ));

    let chosen: Vec<ChosenVersion> =
        ALL_V1.iter().map(|&(protocol, _, max)| ChosenVersion { protocol, version: max }).collect();
    let mut e = Enc::default();
    intro_fields(&mut e, &WELCOME_B);
    e.u8(chosen.len() as u8, "chosen_count");
    for c in &chosen {
        e.raw(
            &[c.protocol, c.version],
            format!(
                "chosen: protocol {} ({}), version {}",
                c.protocol,
                proto_name(c.protocol),
                c.version
            ),
        );
    }
    out.push(vector(
        "link/welcome.hex",
        &[
            "WELCOME (link type 2), version 1: node B (\"bravo\") accepts A's HELLO.",
            "Its own intro (no capabilities, no headers, group \"chat\"), then the",
            "version chosen for each sub-protocol: 1 everywhere.",
        ],
        link(Welcome { intro: intro(&WELCOME_B), chosen: FixedList::from_entries(chosen.iter()) }),
        None,
        &e,
    ));

    let local: &[(u8, u8, u8)] = ALL_V1;
    let remote: &[(u8, u8, u8)] = &[(1, 1, 1), (2, 2, 3), (3, 1, 1), (4, 1, 1)];
    let detail = "no common link version";
    let mut e = Enc::default();
    e.u8_as(1, "reason = 1 (VERSION)")
        .u8_as(2, "protocol = 2 (link)")
        .u8(local.len() as u8, "local_count")
        .u8(remote.len() as u8, "remote_count")
        .ranges(local, "local_ranges")
        .ranges(remote, "remote_ranges")
        .str8(detail, "detail");
    out.push(vector(
        "link/reject.hex",
        &[
            "REJECT (link type 3), version 1: B refuses a HELLO offering link",
            "versions 2..=3 while B speaks 1..=1 only. Reason VERSION, protocol 2",
            "(link), B's own ranges then the ranges it received, and a detail.",
        ],
        link(Reject {
            reason: RejectReason::VERSION,
            protocol: 2,
            local_ranges: ranges(local),
            remote_ranges: ranges(remote),
            detail: detail.into(),
        }),
        None,
        &e,
    ));

    // A "full" REJECT with the sender's id in a NODE_ID extension, so an
    // opener that knew B only by address (a seed) learns who refused it.
    let detail = "link limit";
    let mut e = Enc::default();
    e.u8_as(4, "reason = 4 (LIMIT)")
        .u8_as(0, "protocol = 0")
        .u8(local.len() as u8, "local_count")
        .u8(local.len() as u8, "remote_count")
        .ranges(local, "local_ranges")
        .ranges(local, "remote_ranges")
        .str8(detail, "detail");
    let exts = Extensions::builder().node_id(B).build().expect("NODE_ID is a known TLV");
    let mut ext = Enc::default();
    ext.raw(&0x0003u16.to_be_bytes(), "tlv type = 0x0003 (NODE_ID, optional: M bit clear)")
        .u16(16, "tlv length")
        .id(B, "tlv value = node_id of the refuser");
    out.push(vector(
        "link/reject_node_id.hex",
        &[
            "REJECT (link type 3), version 1: B is at its link limit and refuses a",
            "HELLO. Reason LIMIT, both range lists, a detail, and an extension",
            "block with B's own id in a NODE_ID TLV (optional: receivers that do",
            "not know it skip it).",
        ],
        Frame {
            version: 1,
            extensions: exts,
            message: Message::Link(
                Reject {
                    reason: RejectReason::LIMIT,
                    protocol: 0,
                    local_ranges: ranges(local),
                    remote_ranges: ranges(local),
                    detail: detail.into(),
                }
                .into(),
            ),
        },
        Some(&ext),
        &e,
    ));

    let mut e = Enc::default();
    e.u8_as(1, "reason = 1 (SHUTDOWN)").str8("bye", "detail");
    out.push(vector(
        "link/goodbye.hex",
        &[
            "GOODBYE (link type 10), version 1: the sender is shutting down; the",
            "last frame it writes on the link.",
        ],
        link(Goodbye { reason: GoodbyeReason::SHUTDOWN, detail: "bye".into() }),
        None,
        &e,
    ));
    out
}

pub(super) fn keepalive() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut e = Enc::default();
    e.u32(5000, "interval_ms").u8(3, "count");
    out.push(vector(
        "link/advertise.hex",
        &[
            "ADVERTISE (link type 4), version 1: the sender pings after 5000 ms",
            "of idle link and gives up after 3 unanswered pings.",
        ],
        link(Advertise { interval_ms: 5000, count: 3 }),
        None,
        &e,
    ));

    let token = 0x0123_4567_89ab_cdef;
    let mut e = Enc::default();
    e.u64_hex(token, "token");
    out.push(vector(
        "link/ping.hex",
        &["PING (link type 5), version 1, token 0x0123456789abcdef."],
        link(Ping { token }),
        None,
        &e,
    ));
    out.push(vector(
        "link/pong.hex",
        &[
            "PONG (link type 6), version 1: the answer to link/ping.hex, echoing",
            "its token. Never answered.",
        ],
        link(Pong { token }),
        None,
        &e,
    ));

    // A PING with an unknown optional TLV: skipped by the receiver.
    let exts = Extensions::builder()
        .raw_tlv(0x0100, false, b"opt")
        .build()
        .expect("an optional TLV is accepted");
    let mut ext = Enc::default();
    ext.raw(&0x0100u16.to_be_bytes(), "tlv type = 0x0100 (unknown, optional: M bit clear)")
        .u16(3, "tlv length")
        .raw(b"opt", "tlv value = \"opt\"");
    out.push(vector(
        "link/ping_unknown_optional_tlv.hex",
        &[
            "PING (link type 5), version 1, token 0x0123456789abcdef, with an",
            "extension block holding one TLV of unknown type 0x0100 with the",
            "mandatory bit clear: a receiver skips it and takes the PING.",
            "The same TLV with type 0x8100 (mandatory) is refused.",
        ],
        Frame { version: 1, extensions: exts, message: Message::Link(Ping { token }.into()) },
        Some(&ext),
        &e,
    ));
    out
}

pub(super) fn routing() -> Vec<Vector> {
    let mut out = Vec::new();
    let neighbours = [Neighbour { id: B, cost: 1 }, Neighbour { id: C, cost: 10 }];
    let lsa = Lsa {
        origin: A,
        incarnation: 1,
        sequence: 5,
        age_s: 0,
        state: NodeState::Ready,
        flags: 0,
        link_addr: addr("192.0.2.1:7400"),
        name: "alpha".into(),
        neighbours: FixedList::from_entries(neighbours.iter()),
        groups: StrList::from_names(["chat"]).expect("groups"),
        headers: HeaderList::from_pairs([("role", "worker")]).expect("headers"),
    };
    let mut e = Enc::default();
    e.id(A, "origin")
        .u64(1, "incarnation")
        .u64(5, "sequence")
        .u16(0, "age_s")
        .state(NodeState::Ready)
        .u8_as(0, "flags = 0x00")
        .u16(2, "neighbour_count")
        .addr(addr("192.0.2.1:7400"), "link_addr")
        .str8("alpha", "name");
    for n in &neighbours {
        e.id(n.id, "neighbours: id").u16(n.cost, "neighbours: cost");
    }
    e.str_list(&["chat"], "groups").header_list(&[("role", "worker")], "headers");
    out.push(vector(
        "link/lsa.hex",
        &[
            "LSA (link type 7), version 1: node A (\"alpha\", incarnation 1,",
            "sequence 5, age 0 s, READY) has links to B (cost 1) and C (cost 10),",
            "is in group \"chat\" and has the header role=worker.",
        ],
        link(lsa),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.id(B, "reporter")
        .id(C, "unreachable")
        .u64(1, "seq")
        .u32(1, "channel")
        .semantics(Semantics::Reliable)
        .u8(2, "route_count")
        .route(&[B, A], &[ROOT_PARENT, 0]);
    out.push(vector(
        "link/route_error.hex",
        &[
            "ROUTE_ERROR (link type 11), version 1: B could not forward the DATA",
            "of link/data.hex (channel 1, seq 1, reliable) to C; sent back to the",
            "source A along the path B -> A.",
        ],
        link(RouteError {
            reporter: B,
            unreachable: C,
            seq: 1,
            channel: 1,
            semantics: Semantics::Reliable,
            route: Route::path(&[B, A]).expect("path"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u16(1, "count").id(A, "origin").u64(1, "incarnation").u64(5, "sequence");
    out.push(vector(
        "link/lsa_ack.hex",
        &[
            "LSA_ACK (link type 12), version 1: on a datagram link, B acknowledges",
            "the LSA of link/lsa.hex (origin A, incarnation 1, sequence 5).",
        ],
        link(LsaAck {
            keys: FixedList::from_entries(
                [LsaKey { origin: A, incarnation: 1, sequence: 5 }].iter(),
            ),
        }),
        None,
        &e,
    ));
    out
}

pub(super) fn data() -> Vec<Vector> {
    let mut out = Vec::new();
    let payload = b"hello";
    let mut e = Enc::default();
    e.u8_as(0, "flags = 0x00")
        .semantics(Semantics::Reliable)
        .u8(3, "route_count")
        .u8(4, "priority")
        .u32(1, "channel")
        .u64(1, "seq")
        .u16(0, "frag_index")
        .u16(1, "frag_count")
        .u32(5, "msg_len")
        .route(&[A, B, C], &[ROOT_PARENT, 0, 1])
        .raw(payload, "payload = \"hello\"");
    out.push(vector(
        "link/data.hex",
        &[
            "DATA (link type 8), version 1: a reliable message \"hello\" (one",
            "fragment, channel 1, seq 1, priority 4) from A to C along the source",
            "route A -> B -> C.",
        ],
        link(Data {
            flags: 0,
            semantics: Semantics::Reliable,
            priority: 4,
            channel: 1,
            seq: 1,
            frag_index: 0,
            frag_count: 1,
            msg_len: 5,
            route: Route::path(&[A, B, C]).expect("path"),
            group: None,
            payload: Bytes::from_static(payload),
        }),
        None,
        &e,
    ));

    let payload = b"hi all";
    let parents = [ROOT_PARENT, 0, 0, 1];
    let mut e = Enc::default();
    e.u8_as(FLAG_GROUP, "flags = 0x01 (GROUP)")
        .semantics(Semantics::Datagram)
        .u8(4, "route_count")
        .u8(4, "priority")
        .u32(0, "channel")
        .u64(9, "seq")
        .u16(0, "frag_index")
        .u16(1, "frag_count")
        .u32(6, "msg_len")
        .route(&[A, B, C, D], &parents)
        .str8("chat", "group")
        .raw(payload, "payload = \"hi all\"");
    out.push(vector(
        "link/data_group.hex",
        &[
            "DATA (link type 8), version 1, to group \"chat\": a datagram \"hi all\"",
            "from A down the distribution tree A -> {B, C}, B -> D (parents",
            "0xff, 0, 0, 1). A sends the frame to B and C; B forwards it,",
            "unchanged, to D.",
        ],
        link(Data {
            flags: 0,
            semantics: Semantics::Datagram,
            priority: 4,
            channel: 0,
            seq: 9,
            frag_index: 0,
            frag_count: 1,
            msg_len: 6,
            route: Route::tree(&[A, B, C, D], &parents).expect("tree"),
            group: Some("chat".into()),
            payload: Bytes::from_static(payload),
        }),
        None,
        &e,
    ));

    // A bundle (7.7.1): three sequenced messages of different lengths, one
    // of them empty, with seqs 7, 8 and 9, in one frame; the first restarts
    // the channel's sequence (SYN).
    let messages: [&[u8]; 3] = [b"hi", b"", b"hello"];
    let seq = 7;
    let body: usize = messages.iter().map(|m| 2 + m.len()).sum();
    let msg_len = u32::try_from(body).expect("a small bundle");
    let mut e = Enc::default();
    e.u8_as(FLAG_SYN | FLAG_BUNDLE, "flags = 0x12 (SYN, BUNDLE)")
        .semantics(Semantics::Sequenced)
        .u8(3, "route_count")
        .u8(4, "priority")
        .u32(2, "channel")
        .u64(seq, "seq")
        .u16(0, "frag_index")
        .u16(messages.len() as u16, "frag_count (messages in the bundle)")
        .u32(msg_len, "msg_len (the payload's length)")
        .route(&[A, B, C], &[ROOT_PARENT, 0, 1]);
    for (i, m) in messages.iter().enumerate() {
        let s = seq + i as u64;
        let len = u16::try_from(m.len()).expect("a small message");
        let empty = if m.is_empty() { ", empty" } else { "" };
        e.raw(&len.to_be_bytes(), format!("bundle[{i}]: len = {len} (seq {s}{empty})"));
        if !m.is_empty() {
            let text = std::str::from_utf8(m).expect("text");
            e.raw(m, format!("bundle[{i}] = {text:?}"));
        }
    }
    let messages: Vec<Bytes> = messages.iter().map(|m| Bytes::from_static(m)).collect();
    out.push(vector(
        "link/data_bundle.hex",
        &[
            "DATA (link type 8), version 1, flag BUNDLE (7.7.1): three sequenced",
            "messages from A to C along A -> B -> C in one frame, \"hi\" (seq 7),",
            "\"\" (seq 8, empty) and \"hello\" (seq 9), each preceded by its length",
            "(u16). frag_count is the number of messages, msg_len the payload's",
            "length; SYN is the first message's (the channel restarts at seq 7).",
        ],
        link(Data {
            flags: FLAG_SYN | FLAG_BUNDLE,
            semantics: Semantics::Sequenced,
            priority: 4,
            channel: 2,
            seq,
            frag_index: 0,
            frag_count: messages.len() as u16,
            msg_len,
            route: Route::path(&[A, B, C]).expect("path"),
            group: None,
            payload: bundle_payload(&messages).expect("small messages"),
        }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u8_as(0, "flags = 0x00")
        .semantics(Semantics::Reliable)
        .u8(3, "route_count")
        .u8(1, "range_count")
        .u32(1, "channel")
        .u64(2, "cumulative")
        .u32(64, "window")
        .route(&[C, B, A], &[ROOT_PARENT, 0, 1])
        .u64(4, "ranges[0]: start")
        .u64(6, "ranges[0]: end");
    out.push(vector(
        "link/ack.hex",
        &[
            "ACK (link type 9), version 1: C acknowledges to A, along C -> B -> A,",
            "every seq below 2 on reliable channel 1 plus seqs 4 and 5 (range",
            "[4, 6)); window 64.",
        ],
        link(Ack {
            semantics: Semantics::Reliable,
            channel: 1,
            cumulative: 2,
            window: 64,
            route: Route::path(&[C, B, A]).expect("path"),
            ranges: FixedList::from_entries([AckRange { start: 4, end: 6 }].iter()),
        }),
        None,
        &e,
    ));
    out
}
