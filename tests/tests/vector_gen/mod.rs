//! The golden-vector generator, shared by `examples/gen_vectors.rs` (which
//! writes `tests/vectors/`) and `tests/vectors.rs` (which checks that the
//! committed files are what this module produces).
//!
//! Every vector is built twice, independently:
//!
//! - once as a typed message, encoded by `netcluster-core` (discovery here,
//!   link in [`link`]) or `netcluster-control` (admin and tracker, in
//!   [`control`]);
//! - once field by field, from this module's reading of `docs/PROTOCOL.md`,
//!   each field with its name, which becomes the annotated `.hex` text.
//!
//! The two encodings must agree byte for byte, or generation panics: so the
//! annotations in the files are checked against the codec, and the layouts
//! in the specification against both.
//!
//! Regenerate with `cargo run -p netcluster-tests --example gen_vectors`.

mod control;
mod figures;
mod link;
mod local;
pub mod secure;

use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use netcluster_core::auth::{sign_frame, ClusterKey};
use netcluster_core::wire::discovery::{Announce, Beacon, Notify, Search};
use netcluster_core::wire::ext::{EXT_AUTH_TAG, EXT_REPLAY_COUNTER};
use netcluster_core::wire::link::route::ROOT_PARENT;
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::{
    cluster_hash, DiscoveryMessage, Extensions, Frame, Message, NodeId, NodeState, ProtoRange,
    Protocol, VersionRange, VersionRanges, MAGIC,
};
use netcluster_tests::AnyFrame;

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

/// Key id and tag of `discovery/beacon_auth.hex`, computed outside this
/// codec (see there).
const AUTH_KEY_ID: u8 = 0x84;
const AUTH_TAG: [u8; 16] = [
    0x1b, 0x7f, 0xe9, 0x93, 0x62, 0xb4, 0xb8, 0xdb, 0x2a, 0xca, 0xda, 0xec, 0x7c, 0xeb, 0xcb, 0x56,
];

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
        Ok(Protocol::Local) => "local",
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

/// Builds one vector: the codec's encoding of `frame` (a core or a control
/// frame) must equal the field-by-field encoding.
fn vector(
    path: &str,
    about: &[&str],
    frame: impl Into<AnyFrame>,
    ext: Option<&Enc>,
    body: &Enc,
) -> Vector {
    let frame = frame.into();
    let name = upper_name(frame.name());
    let fields =
        frame_fields(frame.protocol(), frame.version(), frame.msg_type(), &name, ext, body);
    let codec = frame.to_bytes().expect("the codec encodes the vector");
    let mine = fields.bytes();
    assert_eq!(
        hex(&codec),
        hex(&mine),
        "{path}: the codec (left) and the field-by-field encoding (right) disagree"
    );
    let parsed = AnyFrame::parse(&Bytes::from(mine)).expect("the vector parses");
    assert_eq!(parsed, frame, "{path}: the vector parses to another frame");
    Vector { path: path.to_string(), text: render(path, about, &fields) }
}

fn disc(m: impl Into<netcluster_core::wire::DiscoveryMessage>) -> Frame {
    Frame::new(Message::Discovery(m.into()))
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

    // The same beacon signed for real (PROTOCOL 12) with the fixed key
    // 00 01 02 .. 1f. The key id and tag below were computed apart from
    // this codec, from the specification, with another BLAKE2s (RFC 7693)
    // implementation (Python's hashlib): the codec's signing must agree.
    let key = ClusterKey::new(std::array::from_fn(|i| i as u8));
    assert_eq!(key.id(), AUTH_KEY_ID, "key id = first byte of BLAKE2s-256(key, label)");
    let exts = Extensions::builder()
        .replay_counter(42)
        .auth_tag(AUTH_KEY_ID, &AUTH_TAG, false)
        .build()
        .expect("valid extensions");
    let signed =
        sign_frame(&key, 42, DiscoveryMessage::Beacon(Beacon(a.clone()))).expect("a beacon signs");
    let frame = Frame {
        version: 1,
        extensions: exts,
        message: Message::Discovery(Beacon(a.clone()).into()),
    };
    assert_eq!(signed, frame.to_bytes().expect("encodes"), "the codec signs as PROTOCOL 12 says");
    let mut ext = Enc::default();
    ext.raw(&EXT_REPLAY_COUNTER.to_be_bytes(), "tlv type = 0x0001 (REPLAY_COUNTER, optional)")
        .u16(8, "tlv length")
        .u64(42, "replay_counter")
        .raw(&EXT_AUTH_TAG.to_be_bytes(), "tlv type = 0x0002 (AUTH_TAG, optional)")
        .u16(17, "tlv length")
        .u8_as(AUTH_KEY_ID, format!("key_id = 0x{AUTH_KEY_ID:02x} (of the key 000102..1f)"))
        .raw(&AUTH_TAG, "tag = keyed BLAKE2s-128 of this frame, these 16 bytes read as 0");
    out.push(vector(
        "discovery/beacon_auth.hex",
        &[
            "BEACON (discovery type 1), version 1, authenticated (PROTOCOL 12): the",
            "beacon of discovery/beacon.hex signed with the cluster key 00 01 02 .. 1f",
            "(32 bytes). key_id = first byte of BLAKE2s-256(key = K, \"netcluster key",
            "id\") = 0x84; MAC key = BLAKE2s-256(key = K, \"netcluster discovery mac",
            "v1\") = bec34e71589321e67918da7b92648ac346d6ad525d44e9337d7042cc95c99071;",
            "tag = BLAKE2s with digest length 16 (key = MAC key) over the whole",
            "frame with the 16 tag bytes set to zero. Replay counter 42.",
        ],
        frame,
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

/// Every vector, in a stable order.
pub fn all() -> Vec<Vector> {
    let mut v = discovery();
    v.extend(link::handshake());
    v.extend(link::keepalive());
    v.extend(link::routing());
    v.extend(link::data());
    v.extend(secure::vectors());
    v.extend(control::admin_requests());
    v.extend(control::admin_responses());
    v.extend(control::admin_events());
    v.extend(figures::admin_figures());
    v.extend(control::trackers());
    v.extend(local::locals());
    v
}
