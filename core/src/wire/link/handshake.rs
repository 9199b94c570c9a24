//! Link handshake and close: HELLO, WELCOME, REJECT, GOODBYE.
//!
//! The side that opened the link sends HELLO; the other answers WELCOME
//! (with the highest common version of each sub-protocol) or REJECT (with a
//! reason and, for a version mismatch, both sides' ranges). HELLO and REJECT
//! keep this layout in every version.
//!
//! HELLO body (the "intro", also the first part of WELCOME):
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       node_id (16 bytes)                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      incarnation (u64)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      cluster_hash (u64)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      capabilities (u32)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     state     |  range_count  | link_addr (family, port, ip)..|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | cluster (str8) | name (str8) | ranges (3 x range_count)       |
//! | headers (u16 count, str8 key, str16 value ...)                |
//! | groups (u16 count, str8 ...)                                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! WELCOME = intro, then `chosen_count` (u8) and `chosen_count` x
//! (`protocol` u8, `version` u8).
//!
//! REJECT = `reason` (u8), `protocol` (u8, the sub-protocol concerned or 0),
//! `local_count` (u8), `remote_count` (u8), the rejecter's ranges, the ranges
//! it received, `detail` (str8).
//!
//! GOODBYE = `reason` (u8), `detail` (str8).

use core::fmt;
use core::net::SocketAddr;

use bytes::Bytes;
use bytestring::ByteString;

use super::super::codec::{check_len, wire_view, Reader, Writer};
use super::super::error::{Error, Result};
use super::super::header::{Protocol, VersionRange};
use super::super::lists::{FixedEntry, FixedList, HeaderList, StrList, VersionRanges};
use super::super::types::{addr_len, decode_addr, encode_addr, Limits, NodeId, NodeState};
use super::super::Body;

/// Capability bit: the sender can upgrade the link to a Noise session.
pub const CAP_NOISE: u32 = 0x0000_0001;
/// Capability bit: the sender verifies beacon authentication tags.
pub const CAP_AUTH: u32 = 0x0000_0002;
/// Capability bit: on a datagram link, the sender takes several link frames
/// in one datagram, back to back (a batch, PROTOCOL 5.3).
pub const CAP_BATCH: u32 = 0x0000_0004;

wire_view! {
    /// Zero-copy view of the fixed part of a HELLO / WELCOME intro.
    pub struct IntroView;
    pub mod intro_field;
    fixed_len = 38;
    /// `node_id`: the sender's id.
    node_id, set_node_id, NODE_ID: NodeId = 0;
    /// `incarnation`: grows on each restart of the sender.
    incarnation, set_incarnation, INCARNATION: u64 = 16;
    /// `cluster_hash`: FNV-1a 64 of `cluster`, checked against it.
    cluster_hash, set_cluster_hash, CLUSTER_HASH: u64 = 24;
    /// `capabilities`: `CAP_*` bits; unknown bits are ignored.
    capabilities, set_capabilities, CAPABILITIES: u32 = 32;
    /// `state`: the sender's node state.
    state, set_state, STATE: u8 = 36;
    /// `range_count`: entries in `ranges`.
    range_count, set_range_count, RANGE_COUNT: u8 = 37;
}

/// Who the sender is and what it speaks: the HELLO body and the first part
/// of WELCOME.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intro {
    /// The sender's node id.
    pub node_id: NodeId,
    /// Grows on each restart of the sender.
    pub incarnation: u64,
    /// `CAP_*` bits.
    pub capabilities: u32,
    /// The sender's state.
    pub state: NodeState,
    /// Where the sender accepts links (unspecified IP: the link's peer
    /// address).
    pub link_addr: SocketAddr,
    /// The cluster name; its hash is carried too and must match.
    pub cluster: ByteString,
    /// The sender's node name.
    pub name: ByteString,
    /// Version range offered for each sub-protocol.
    pub ranges: VersionRanges,
    /// Key/value attributes.
    pub headers: HeaderList,
    /// Groups the sender is in.
    pub groups: StrList,
}

impl Intro {
    fn parse(r: &mut Reader<'_>, body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = IntroView::new_checked(&body[..])?;
        r.bytes(intro_field::FIXED_LEN, "intro")?;
        let link_addr = decode_addr(r, "link_addr")?;
        let cluster = r.str8("cluster", limits.max_name)?;
        let name = r.str8("name", limits.max_name)?;
        let ranges = VersionRanges::parse(r, v.range_count() as usize, 255, "ranges")?;
        let headers = HeaderList::parse(r, limits.max_headers, "headers")?;
        let groups = StrList::parse(r, limits.max_groups, limits.max_name, "groups")?;
        if super::super::cluster_hash(&cluster) != v.cluster_hash() {
            return Err(Error::Malformed { field: "cluster_hash" });
        }
        Ok(Intro {
            node_id: v.node_id(),
            incarnation: v.incarnation(),
            capabilities: v.capabilities(),
            state: NodeState::from_u8(v.state())?,
            link_addr,
            cluster,
            name,
            ranges,
            headers,
            groups,
        })
    }

    fn encoded_len(&self) -> usize {
        intro_field::FIXED_LEN
            + addr_len(&self.link_addr)
            + 1
            + self.cluster.len()
            + 1
            + self.name.len()
            + self.ranges.len() * 3
            + self.headers.encoded_len()
            + self.groups.encoded_len()
    }

    /// Writes the intro at the start of `out`; returns its length.
    fn emit(&self, out: &mut [u8]) -> Result<usize> {
        check_len("range_count", self.ranges.len(), 255)?;
        let mut v = IntroView::new_checked(&mut out[..])?;
        v.set_node_id(self.node_id);
        v.set_incarnation(self.incarnation);
        v.set_cluster_hash(super::super::cluster_hash(&self.cluster));
        v.set_capabilities(self.capabilities);
        v.set_state(self.state as u8);
        v.set_range_count(self.ranges.len() as u8);
        let mut w = Writer::new(out);
        w.skip(intro_field::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        w.str8(&self.cluster, "cluster")?;
        w.str8(&self.name, "name")?;
        w.put(self.ranges.as_bytes());
        w.put(self.headers.as_bytes());
        w.put(self.groups.as_bytes());
        Ok(w.position())
    }
}

/// HELLO (type 1): sent by the side that opened the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello(pub Intro);

impl Body for Hello {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 1;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(body, 0, body.len());
        let intro = Intro::parse(&mut r, body, limits)?;
        r.finish("hello")?;
        Ok(Hello(intro))
    }
    fn body_len(&self) -> usize {
        self.0.encoded_len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        self.0.emit(out).map(|_| ())
    }
}

/// The version chosen for one sub-protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChosenVersion {
    /// Sub-protocol id.
    pub protocol: u8,
    /// The highest version both sides offered.
    pub version: u8,
}

impl FixedEntry for ChosenVersion {
    const SIZE: usize = 2;
    fn validate(b: &[u8]) -> Result<()> {
        if b[1] == 0 {
            return Err(Error::Malformed { field: "chosen" });
        }
        Ok(())
    }
    fn decode(b: &[u8]) -> Self {
        ChosenVersion { protocol: b[0], version: b[1] }
    }
    fn encode(&self, out: &mut [u8]) {
        out[0] = self.protocol;
        out[1] = self.version;
    }
}

/// WELCOME (type 2): the accepting side's intro plus the version chosen for
/// each sub-protocol both sides offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Welcome {
    /// Who the accepting side is.
    pub intro: Intro,
    /// The versions in use on this link from now on.
    pub chosen: FixedList<ChosenVersion>,
}

impl Body for Welcome {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 2;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(body, 0, body.len());
        let intro = Intro::parse(&mut r, body, limits)?;
        let n = r.u8("chosen_count")? as usize;
        let chosen = FixedList::parse(&mut r, n, 255, "chosen")?;
        r.finish("welcome")?;
        Ok(Welcome { intro, chosen })
    }
    fn body_len(&self) -> usize {
        self.intro.encoded_len() + 1 + self.chosen.len() * ChosenVersion::SIZE
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("chosen_count", self.chosen.len(), 255)?;
        let at = self.intro.emit(out)?;
        let mut w = Writer::new(&mut out[at..]);
        w.u8(self.chosen.len() as u8);
        w.put(self.chosen.as_bytes());
        Ok(())
    }
}

/// Why a link was refused. Unknown codes are kept, so a newer peer's reason
/// is still reported.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RejectReason(pub u8);

impl RejectReason {
    /// Anything else; see `detail`.
    pub const OTHER: RejectReason = RejectReason(0);
    /// No common version for some sub-protocol.
    pub const VERSION: RejectReason = RejectReason(1);
    /// The peer is in another cluster.
    pub const CLUSTER: RejectReason = RejectReason(2);
    /// A node with the same id is already linked (or it is the receiver's
    /// own id).
    pub const DUPLICATE_ID: RejectReason = RejectReason(3);
    /// The receiver is at its link limit.
    pub const LIMIT: RejectReason = RejectReason(4);
    /// Authentication failed or is required.
    pub const AUTH: RejectReason = RejectReason(5);
    /// The receiver is shutting down.
    pub const SHUTTING_DOWN: RejectReason = RejectReason(6);
    /// The HELLO broke the protocol (malformed, out of order).
    pub const PROTOCOL: RejectReason = RejectReason(7);
    /// Both sides connected at once and this link lost the tie-break.
    pub const DUPLICATE_LINK: RejectReason = RejectReason(8);

    /// A short name for logs and tools.
    pub fn name(&self) -> &'static str {
        match self.0 {
            0 => "other",
            1 => "version",
            2 => "cluster",
            3 => "duplicate_id",
            4 => "limit",
            5 => "auth",
            6 => "shutting_down",
            7 => "protocol",
            8 => "duplicate_link",
            _ => "unknown",
        }
    }
}

impl fmt::Debug for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a REJECT body.
    pub struct RejectView;
    pub mod reject_field;
    fixed_len = 4;
    /// `reason`: a [reject reason code](crate::wire::link::RejectReason).
    reason, set_reason, REASON: u8 = 0;
    /// `protocol`: sub-protocol concerned (version rejects), else 0.
    protocol, set_protocol, PROTOCOL: u8 = 1;
    /// `local_count`: entries in `local_ranges`.
    local_count, set_local_count, LOCAL_COUNT: u8 = 2;
    /// `remote_count`: entries in `remote_ranges`.
    remote_count, set_remote_count, REMOTE_COUNT: u8 = 3;
}

/// REJECT (type 3): the link is refused and will be closed by the sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why.
    pub reason: RejectReason,
    /// The sub-protocol concerned (a [`Protocol`] id), 0 if none.
    pub protocol: u8,
    /// The rejecter's own ranges.
    pub local_ranges: VersionRanges,
    /// The ranges the rejecter received from the peer.
    pub remote_ranges: VersionRanges,
    /// Human-readable detail.
    pub detail: ByteString,
}

impl Reject {
    /// The version ranges both sides had for the sub-protocol concerned:
    /// `(rejecter's, peer's)`.
    pub fn version_ranges(&self) -> (Option<VersionRange>, Option<VersionRange>) {
        (self.local_ranges.range_of(self.protocol), self.remote_ranges.range_of(self.protocol))
    }
}

impl Body for Reject {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 3;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = RejectView::new_checked(&body[..])?;
        let mut r = Reader::new(body, reject_field::FIXED_LEN, body.len());
        let local_ranges = FixedList::parse(&mut r, v.local_count() as usize, 255, "local_ranges")?;
        let remote_ranges =
            FixedList::parse(&mut r, v.remote_count() as usize, 255, "remote_ranges")?;
        let detail = r.str8("detail", limits.max_name)?;
        r.finish("reject")?;
        Ok(Reject {
            reason: RejectReason(v.reason()),
            protocol: v.protocol(),
            local_ranges,
            remote_ranges,
            detail,
        })
    }
    fn body_len(&self) -> usize {
        reject_field::FIXED_LEN
            + 3 * (self.local_ranges.len() + self.remote_ranges.len())
            + 1
            + self.detail.len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("local_count", self.local_ranges.len(), 255)?;
        check_len("remote_count", self.remote_ranges.len(), 255)?;
        let mut v = RejectView::new_checked(&mut out[..])?;
        v.set_reason(self.reason.0);
        v.set_protocol(self.protocol);
        v.set_local_count(self.local_ranges.len() as u8);
        v.set_remote_count(self.remote_ranges.len() as u8);
        let mut w = Writer::new(out);
        w.skip(reject_field::FIXED_LEN);
        w.put(self.local_ranges.as_bytes());
        w.put(self.remote_ranges.as_bytes());
        w.str8(&self.detail, "detail")
    }
}

/// Why a link is being closed cleanly. Unknown codes are kept.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct GoodbyeReason(pub u8);

impl GoodbyeReason {
    /// No particular reason.
    pub const OTHER: GoodbyeReason = GoodbyeReason(0);
    /// The sender is shutting down: it leaves the mesh.
    pub const SHUTDOWN: GoodbyeReason = GoodbyeReason(1);
    /// The sender drops this link (overlay repair, link limit) but stays in
    /// the mesh.
    pub const LINK_DROPPED: GoodbyeReason = GoodbyeReason(2);
    /// The sender closes after `count` unanswered pings.
    pub const KEEPALIVE_TIMEOUT: GoodbyeReason = GoodbyeReason(3);
    /// The peer broke the protocol.
    pub const PROTOCOL: GoodbyeReason = GoodbyeReason(4);

    /// A short name for logs and tools.
    pub fn name(&self) -> &'static str {
        match self.0 {
            0 => "other",
            1 => "shutdown",
            2 => "link_dropped",
            3 => "keepalive_timeout",
            4 => "protocol",
            _ => "unknown",
        }
    }
}

impl fmt::Debug for GoodbyeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// GOODBYE (type 10): the last frame the sender writes on the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goodbye {
    /// Why.
    pub reason: GoodbyeReason,
    /// Human-readable detail.
    pub detail: ByteString,
}

impl Body for Goodbye {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 10;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(body, 0, body.len());
        let reason = GoodbyeReason(r.u8("reason")?);
        let detail = r.str8("detail", limits.max_name)?;
        r.finish("goodbye")?;
        Ok(Goodbye { reason, detail })
    }
    fn body_len(&self) -> usize {
        2 + self.detail.len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut w = Writer::new(out);
        w.u8(self.reason.0);
        w.str8(&self.detail, "detail")
    }
}
