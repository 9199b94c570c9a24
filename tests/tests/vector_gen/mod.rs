//! The golden-vector generator, shared by `examples/gen_vectors.rs` (which
//! writes `tests/vectors/`) and `tests/vectors.rs` (which checks that the
//! committed files are what this module produces).
//!
//! Every vector is built twice, independently:
//!
//! - once as a typed message, encoded by `netcluster-core`;
//! - once field by field, from this module's reading of `docs/PROTOCOL.md`,
//!   each field with its name, which becomes the annotated `.hex` text.
//!
//! The two encodings must agree byte for byte, or generation panics: so the
//! annotations in the files are checked against the codec, and the layouts
//! in the specification against both.
//!
//! Regenerate with `cargo run -p netcluster-tests --example gen_vectors`.

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use netcluster_core::wire::admin::{
    AdminEvent, AdminResult, Counter, DeliveryMode, DownReason, Event, EventKind, EventMask,
    GroupRecord, Groups, GroupsRequest, JoinRequest, LeaveRequest, MemberRecord, Members,
    MembersRequest, PingReply, PingRequest, RouteRecord, Routes, RoutesRequest, SendRequest,
    ShoutRequest, Stats, StatsRequest, Status, SubscribeRequest,
};
use netcluster_core::wire::discovery::{Announce, Beacon, Notify, Search};
use netcluster_core::wire::ext::{EXT_AUTH_TAG, EXT_REPLAY_COUNTER};
use netcluster_core::wire::link::data::FLAG_GROUP;
use netcluster_core::wire::link::handshake::CAP_AUTH;
use netcluster_core::wire::link::route::ROOT_PARENT;
use netcluster_core::wire::link::{
    Ack, AckRange, Advertise, ChosenVersion, Data, Goodbye, GoodbyeReason, Hello, Intro, Lsa,
    LsaAck, LsaKey, Neighbour, Ping, Pong, Reject, RejectReason, Route, RouteError, Semantics,
    Welcome,
};
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::tracker::{PeerEntry, Peers, Query, Register};
use netcluster_core::wire::{
    cluster_hash, Extensions, FixedList, Frame, HeaderList, Message, NodeId, NodeState, ProtoRange,
    Protocol, StrList, VersionRange, VersionRanges, MAGIC,
};

/// One generated vector.
pub struct Vector {
    /// Path under `tests/vectors/`, e.g. `link/ping.hex`.
    pub path: String,
    /// The annotated file contents.
    pub text: String,
}

/// The command that regenerates the files, quoted in every file.
pub const REGENERATE: &str = "cargo run -p netcluster-tests --example gen_vectors";

// ---------------------------------------------------------------------------
// Fixed, readable values.

const A: NodeId = NodeId([
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
]);
const B: NodeId = NodeId([
    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00,
]);
const C: NodeId = NodeId([
    0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11,
]);
const D: NodeId = NodeId([
    0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, 0x11, 0x22,
]);

const CLUSTER: &str = "demo";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

fn node_name(id: &NodeId) -> &'static str {
    match *id {
        A => "A",
        B => "B",
        C => "C",
        D => "D",
        _ => "?",
    }
}

/// Every sub-protocol at version 1..=1: what this codec offers.
fn supported_ranges() -> VersionRanges {
    VersionRanges::supported()
}

fn ranges(entries: &[(u8, u8, u8)]) -> VersionRanges {
    let v: Vec<ProtoRange> = entries
        .iter()
        .map(|&(protocol, min, max)| ProtoRange { protocol, range: VersionRange::new(min, max) })
        .collect();
    VersionRanges::from_entries(v.iter())
}

// ---------------------------------------------------------------------------
// The field-by-field encoder.

/// Annotated bytes: one entry per field.
#[derive(Default)]
struct Enc {
    fields: Vec<(Vec<u8>, String)>,
}

impl Enc {
    fn raw(&mut self, bytes: &[u8], label: impl Into<String>) -> &mut Self {
        self.fields.push((bytes.to_vec(), label.into()));
        self
    }
    fn u8(&mut self, v: u8, name: &str) -> &mut Self {
        self.raw(&[v], format!("{name} = {v}"))
    }
    fn u8_as(&mut self, v: u8, label: impl Into<String>) -> &mut Self {
        self.raw(&[v], label)
    }
    fn u16(&mut self, v: u16, name: &str) -> &mut Self {
        self.raw(&v.to_be_bytes(), format!("{name} = {v}"))
    }
    fn u32(&mut self, v: u32, name: &str) -> &mut Self {
        self.raw(&v.to_be_bytes(), format!("{name} = {v}"))
    }
    fn u64(&mut self, v: u64, name: &str) -> &mut Self {
        self.raw(&v.to_be_bytes(), format!("{name} = {v}"))
    }
    fn u64_hex(&mut self, v: u64, name: &str) -> &mut Self {
        self.raw(&v.to_be_bytes(), format!("{name} = 0x{v:016x}"))
    }
    fn id(&mut self, id: NodeId, name: &str) -> &mut Self {
        self.raw(id.as_bytes(), format!("{name} = {} ({})", id, node_name(&id)))
    }
    fn state(&mut self, s: NodeState) -> &mut Self {
        self.u8_as(s as u8, format!("state = {} ({})", s as u8, s.as_str()))
    }
    fn semantics(&mut self, s: Semantics) -> &mut Self {
        self.u8_as(s as u8, format!("semantics = {} ({})", s as u8, s.as_str()))
    }
    fn str8(&mut self, s: &str, name: &str) -> &mut Self {
        let len = u8::try_from(s.len()).expect("a str8 fits");
        self.u8_as(len, format!("{name}: len = {len}"));
        if !s.is_empty() {
            self.raw(s.as_bytes(), format!("{name} = {s:?}"));
        }
        self
    }
    fn str16(&mut self, s: &str, name: &str) -> &mut Self {
        let len = u16::try_from(s.len()).expect("a str16 fits");
        self.raw(&len.to_be_bytes(), format!("{name}: len = {len}"));
        if !s.is_empty() {
            self.raw(s.as_bytes(), format!("{name} = {s:?}"));
        }
        self
    }
    fn addr(&mut self, a: SocketAddr, name: &str) -> &mut Self {
        match a {
            SocketAddr::V4(v4) => {
                self.u8_as(4, format!("{name}: family = 4 (IPv4)"));
                self.u16(v4.port(), &format!("{name}: port"));
                let note = if v4.ip().is_unspecified() {
                    " (unspecified: the datagram's source address)"
                } else {
                    ""
                };
                self.raw(&v4.ip().octets(), format!("{name}: address = {}{note}", v4.ip()))
            }
            SocketAddr::V6(v6) => {
                self.u8_as(6, format!("{name}: family = 6 (IPv6)"));
                self.u16(v6.port(), &format!("{name}: port"));
                self.raw(&v6.ip().octets(), format!("{name}: address = {}", v6.ip()))
            }
        }
    }
    /// `count` entries of (protocol u8, min u8, max u8); the count itself is
    /// a separate field written by the caller.
    fn ranges(&mut self, rs: &[(u8, u8, u8)], name: &str) -> &mut Self {
        for &(p, min, max) in rs {
            self.raw(
                &[p, min, max],
                format!("{name}: protocol {p} ({}), versions {min}..={max}", proto_name(p)),
            );
        }
        self
    }
    /// `count` (u16) then str8 names.
    fn str_list(&mut self, names: &[&str], name: &str) -> &mut Self {
        self.u16(names.len() as u16, &format!("{name}: count"));
        for n in names {
            self.str8(n, name);
        }
        self
    }
    /// `count` (u16) then (str8 key, str16 value) pairs.
    fn header_list(&mut self, pairs: &[(&str, &str)], name: &str) -> &mut Self {
        self.u16(pairs.len() as u16, &format!("{name}: count"));
        for (k, v) in pairs {
            self.str8(k, &format!("{name}: key"));
            self.str16(v, &format!("{name}: value"));
        }
        self
    }
    /// Route entries: every id, then every parent index. The count is a
    /// separate field.
    fn route(&mut self, ids: &[NodeId], parents: &[u8]) -> &mut Self {
        for (i, id) in ids.iter().enumerate() {
            self.id(*id, &format!("route_ids[{i}]"));
        }
        for (i, &p) in parents.iter().enumerate() {
            if p == ROOT_PARENT {
                self.u8_as(p, format!("route_parents[{i}] = 0xff (root)"));
            } else {
                self.u8_as(p, format!("route_parents[{i}] = {p}"));
            }
        }
        self
    }
    fn len(&self) -> usize {
        self.fields.iter().map(|(b, _)| b.len()).sum()
    }
    fn bytes(&self) -> Vec<u8> {
        self.fields.iter().flat_map(|(b, _)| b.clone()).collect()
    }
}

fn proto_name(id: u8) -> &'static str {
    match Protocol::from_id(id) {
        Ok(Protocol::Discovery) => "discovery",
        Ok(Protocol::Link) => "link",
        Ok(Protocol::Admin) => "admin",
        Ok(Protocol::Tracker) => "tracker",
        _ => "unknown",
    }
}

/// Upper-case message name as in `docs/PROTOCOL.md`: `RouteError` becomes
/// `ROUTE_ERROR`.
fn upper_name(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The whole frame: header, optional extension block, body.
fn frame_fields(
    protocol: Protocol,
    version: u8,
    msg_type: u8,
    msg_name: &str,
    ext: Option<&Enc>,
    body: &Enc,
) -> Enc {
    let ext_len = ext.map_or(0, |e| 2 + e.len());
    let total = 10 + ext_len + body.len();
    let mut f = Enc::default();
    f.raw(&[], "header");
    f.raw(&MAGIC.to_be_bytes(), "magic = \"NC\"");
    f.u8_as(protocol.id(), format!("protocol = {} ({protocol})", protocol.id()));
    f.u8(version, "version");
    f.u8_as(msg_type, format!("msg_type = {msg_type} ({msg_name})"));
    match ext {
        Some(_) => f.u8_as(0x01, "flags = 0x01 (EXTENSIONS)"),
        None => f.u8_as(0x00, "flags = 0x00"),
    };
    f.u32(u32::try_from(total).expect("small frame"), "length");
    if let Some(e) = ext {
        f.raw(&[], "extensions");
        f.u16(e.len() as u16, "ext_len");
        f.fields.extend(e.fields.iter().cloned());
    }
    f.raw(&[], "body");
    f.fields.extend(body.fields.iter().cloned());
    f
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Renders the annotated file.
fn render(path: &str, about: &[&str], enc: &Enc) -> String {
    let mut s = String::new();
    for line in about {
        if line.is_empty() {
            s.push_str("#\n");
        } else {
            let _ = writeln!(s, "# {line}");
        }
    }
    let _ = writeln!(s, "#");
    let _ = writeln!(
        s,
        "# {} bytes. Hex, one field per line (fields over 16 bytes span several",
        enc.len()
    );
    let _ = writeln!(s, "# lines), `#` starts a comment. Generated: {REGENERATE}");
    let _ = writeln!(s, "# (tests/vectors/{path}).");
    for (bytes, label) in &enc.fields {
        if bytes.is_empty() {
            // A section marker: a comment line of its own.
            let _ = writeln!(s, "# --- {label} ---");
            continue;
        }
        let mut chunks = bytes.chunks(16);
        let first = chunks.next().unwrap_or(&[]);
        let _ = writeln!(s, "{:<34}# {label}", hex(first));
        for c in chunks {
            let _ = writeln!(s, "{}", hex(c));
        }
    }
    s
}

/// Builds one vector: the codec's encoding of `frame` must equal the
/// field-by-field encoding.
fn vector(path: &str, about: &[&str], frame: Frame, ext: Option<&Enc>, body: &Enc) -> Vector {
    let name = upper_name(frame.message.name());
    let fields = frame_fields(
        frame.message.protocol(),
        frame.version,
        frame.message.msg_type(),
        &name,
        ext,
        body,
    );
    let codec = frame.to_bytes().expect("the codec encodes the vector");
    let mine = fields.bytes();
    assert_eq!(
        hex(&codec),
        hex(&mine),
        "{path}: the codec (left) and the field-by-field encoding (right) disagree"
    );
    let parsed = Frame::parse(&Bytes::from(mine)).expect("the vector parses");
    assert_eq!(parsed, frame, "{path}: the vector parses to another frame");
    Vector { path: path.to_string(), text: render(path, about, &fields) }
}

fn disc(m: impl Into<netcluster_core::wire::DiscoveryMessage>) -> Frame {
    Frame::new(Message::Discovery(m.into()))
}

fn link(m: impl Into<netcluster_core::wire::LinkMessage>) -> Frame {
    Frame::new(Message::Link(m.into()))
}

fn admin(m: impl Into<netcluster_core::wire::AdminMessage>) -> Frame {
    Frame::new(Message::Admin(m.into()))
}

fn tracker(m: impl Into<netcluster_core::wire::TrackerMessage>) -> Frame {
    Frame::new(Message::Tracker(m.into()))
}

// ---------------------------------------------------------------------------
// Discovery.

fn announce_a() -> Announce {
    Announce {
        node_id: A,
        cluster_hash: cluster_hash(CLUSTER),
        incarnation: 1,
        sequence: 7,
        interval_ms: 1000,
        peer_count: 2,
        state: NodeState::Ready,
        link_addr: addr("192.0.2.1:7400"),
        ranges: supported_ranges(),
    }
}

fn announce_fields(a: &Announce) -> Enc {
    let rs: Vec<(u8, u8, u8)> =
        a.ranges.iter().map(|r| (r.protocol, r.range.min, r.range.max)).collect();
    let mut e = Enc::default();
    e.id(a.node_id, "node_id")
        .u64_hex(a.cluster_hash, &format!("cluster_hash (FNV-1a 64 of {CLUSTER:?})"))
        .u64(a.incarnation, "incarnation")
        .u32(a.sequence, "sequence")
        .u32(a.interval_ms, "interval_ms")
        .u16(a.peer_count, "peer_count")
        .state(a.state)
        .u8(rs.len() as u8, "range_count")
        .addr(a.link_addr, "link_addr")
        .ranges(&rs, "ranges");
    e
}

fn discovery() -> Vec<Vector> {
    let mut out = Vec::new();

    let a = announce_a();
    out.push(vector(
        "discovery/beacon.hex",
        &[
            "BEACON (discovery type 1), version 1: node A of cluster \"demo\",",
            "state READY, links accepted at 192.0.2.1:7400, all four sub-protocols",
            "offered at version 1..=1. Sent periodically to the beacon group.",
        ],
        disc(Beacon(a.clone())),
        None,
        &announce_fields(&a),
    ));

    // The same beacon, authenticated: replay counter and tag TLVs.
    let tag: Vec<u8> = (0xa0..=0xafu8).collect();
    let exts = Extensions::builder()
        .replay_counter(42)
        .auth_tag(1, &tag, false)
        .build()
        .expect("valid extensions");
    let mut ext = Enc::default();
    ext.raw(&EXT_REPLAY_COUNTER.to_be_bytes(), "tlv type = 0x0001 (REPLAY_COUNTER, optional)")
        .u16(8, "tlv length")
        .u64(42, "replay_counter")
        .raw(&EXT_AUTH_TAG.to_be_bytes(), "tlv type = 0x0002 (AUTH_TAG, optional)")
        .u16(17, "tlv length")
        .u8(1, "key_id")
        .raw(&tag, "tag (16 bytes; placeholder, not a real MAC)");
    out.push(vector(
        "discovery/beacon_ext.hex",
        &[
            "BEACON (discovery type 1), version 1, with an extension block: the",
            "beacon of discovery/beacon.hex carrying a REPLAY_COUNTER TLV (42) and",
            "an AUTH_TAG TLV (key_id 1, 16 tag bytes). The tag bytes are an",
            "illustrative pattern, not a MAC computed with any key.",
        ],
        Frame {
            version: 1,
            extensions: exts,
            message: Message::Discovery(Beacon(a.clone()).into()),
        },
        Some(&ext),
        &announce_fields(&a),
    ));

    let s = Announce {
        node_id: C,
        incarnation: 3,
        sequence: 0,
        interval_ms: 1000,
        peer_count: 0,
        state: NodeState::Init,
        link_addr: addr("[2001:db8::3]:7400"),
        ..announce_a()
    };
    out.push(vector(
        "discovery/search.hex",
        &[
            "SEARCH (discovery type 2), version 1: node C starting up (state INIT,",
            "first discovery message, sequence 0, hears no peer yet), links",
            "accepted at [2001:db8::3]:7400. Sent to the beacon group; receivers",
            "answer with a unicast NOTIFY.",
        ],
        disc(Search(s.clone())),
        None,
        &announce_fields(&s),
    ));

    let n = Announce {
        node_id: B,
        incarnation: 2,
        sequence: 12,
        interval_ms: 1000,
        peer_count: 1,
        state: NodeState::Ready,
        link_addr: addr("0.0.0.0:7400"),
        ..announce_a()
    };
    out.push(vector(
        "discovery/notify.hex",
        &[
            "NOTIFY (discovery type 3), version 1: node B answering a SEARCH.",
            "The unspecified link address 0.0.0.0 means \"the source address of",
            "this datagram\", port 7400. Never answered.",
        ],
        disc(Notify(n.clone())),
        None,
        &announce_fields(&n),
    ));
    out
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

fn handshake() -> Vec<Vector> {
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

fn keepalive() -> Vec<Vector> {
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

fn routing() -> Vec<Vector> {
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

fn data() -> Vec<Vector> {
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

// ---------------------------------------------------------------------------
// Admin.

fn mode_field(e: &mut Enc, m: DeliveryMode) {
    e.u8_as(m as u8, format!("mode = {} ({})", m as u8, m.as_str()));
}

struct MemberSpec {
    id: NodeId,
    incarnation: u64,
    hops: u8,
    addr: &'static str,
    name: &'static str,
    groups: &'static [&'static str],
    headers: &'static [(&'static str, &'static str)],
}

const MEMBER_A: MemberSpec = MemberSpec {
    id: A,
    incarnation: 1,
    hops: 0,
    addr: "192.0.2.1:7400",
    name: "alpha",
    groups: &["chat", "jobs"],
    headers: &[("role", "worker")],
};

const MEMBER_B: MemberSpec = MemberSpec {
    id: B,
    incarnation: 2,
    hops: 1,
    addr: "[2001:db8::2]:7400",
    name: "bravo",
    groups: &["chat"],
    headers: &[],
};

fn member(m: &MemberSpec) -> MemberRecord {
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

fn member_fields(e: &mut Enc, m: &MemberSpec, prefix: &str) {
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

fn admin_requests() -> Vec<Vector> {
    let mut out = Vec::new();
    let listing_requests: [(&str, &str, Frame, u32); 4] = [
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

fn admin_responses() -> Vec<Vector> {
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

fn admin_events() -> Vec<Vector> {
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

fn trackers() -> Vec<Vector> {
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

/// Every vector, in a stable order.
pub fn all() -> Vec<Vector> {
    let mut v = discovery();
    v.extend(handshake());
    v.extend(keepalive());
    v.extend(routing());
    v.extend(data());
    v.extend(admin_requests());
    v.extend(admin_responses());
    v.extend(admin_events());
    v.extend(trackers());
    v
}
