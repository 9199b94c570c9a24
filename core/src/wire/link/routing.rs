//! Routing messages: LSA (link-state advertisement) and ROUTE_ERROR.
//!
//! LSA body:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        origin (16 bytes)                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       incarnation (u64)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        sequence (u64)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          age_s (u16)          |     state     |     flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     neighbour_count (u16)     | link_addr (family, port, ip)..|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | name (str8) | neighbours: count x (id 16 bytes, cost u16)     |
//! | groups (u16 count, str8 ...) | headers (u16 count, pairs ...) |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! LSA_ACK body: `count` (u16), then `count` x (`origin` 16 bytes,
//! `incarnation` u64, `sequence` u64): the LSAs received, so the sender
//! stops retransmitting them (datagram links only; stream links are
//! reliable).
//!
//! ROUTE_ERROR body: `reporter` (16), `unreachable` (16), `seq` (u64),
//! `channel` (u32), `semantics` (u8), `route_count` (u8), then the path from
//! the reporter back to the data's source.

use core::net::SocketAddr;

use bytes::Bytes;
use bytestring::ByteString;

use super::super::codec::{check_len, get_u16, wire_view, Reader, Writer};
use super::super::error::{Error, Result};
use super::super::header::Protocol;
use super::super::lists::{FixedEntry, FixedList, HeaderList, StrList};
use super::super::types::{addr_len, decode_addr, encode_addr, Limits, NodeId, NodeState};
use super::super::Body;
use super::data::Semantics;
use super::route::Route;

/// LSA flag: the origin withdraws its advertisement (it is leaving); the
/// receivers drop it at once instead of waiting for it to age out.
pub const LSA_FLUSH: u8 = 0x01;

/// One neighbour of an LSA's origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    /// The neighbour's id.
    pub id: NodeId,
    /// Cost of the link from the origin to it (at least 1).
    pub cost: u16,
}

impl FixedEntry for Neighbour {
    const SIZE: usize = 18;
    fn validate(b: &[u8]) -> Result<()> {
        if get_u16(b, 16) == 0 {
            return Err(Error::Malformed { field: "cost" });
        }
        Ok(())
    }
    fn decode(b: &[u8]) -> Self {
        Neighbour { id: NodeId::decode(&b[..16]), cost: get_u16(b, 16) }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.id.0);
        out[16..18].copy_from_slice(&self.cost.to_be_bytes());
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of an LSA body.
    pub struct LsaView;
    pub mod lsa_field;
    fixed_len = 38;
    /// `origin`: the node the LSA describes.
    origin, set_origin, ORIGIN: NodeId = 0;
    /// `incarnation`: the origin's incarnation.
    incarnation, set_incarnation, INCARNATION: u64 = 16;
    /// `sequence`: newer LSAs of one incarnation have larger sequences.
    sequence, set_sequence, SEQUENCE: u64 = 24;
    /// `age_s`: seconds since the origin issued it.
    age_s, set_age_s, AGE_S: u16 = 32;
    /// `state`: the origin's node state.
    state, set_state, STATE: u8 = 34;
    /// `flags`: `LSA_*` bits.
    flags, set_flags, FLAGS: u8 = 35;
    /// `neighbour_count`: entries in `neighbours`.
    neighbour_count, set_neighbour_count, NEIGHBOUR_COUNT: u16 = 36;
}

/// LSA (type 7): what a node says of itself to the whole mesh: its links
/// with their costs, its groups and attributes. Flooded hop by hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsa {
    /// The node described.
    pub origin: NodeId,
    /// Its incarnation: a higher one replaces every older LSA.
    pub incarnation: u64,
    /// Newer LSAs of one incarnation have larger sequences.
    pub sequence: u64,
    /// Seconds since issue; receivers drop LSAs older than their maximum age.
    pub age_s: u16,
    /// The origin's state.
    pub state: NodeState,
    /// `LSA_*` bits.
    pub flags: u8,
    /// Where the origin accepts links.
    pub link_addr: SocketAddr,
    /// The origin's node name.
    pub name: ByteString,
    /// The origin's live links.
    pub neighbours: FixedList<Neighbour>,
    /// Groups the origin is in.
    pub groups: StrList,
    /// The origin's attributes.
    pub headers: HeaderList,
}

impl Body for Lsa {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 7;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = LsaView::new_checked(&body[..])?;
        if v.flags() & !LSA_FLUSH != 0 {
            return Err(Error::Malformed { field: "flags" });
        }
        let mut r = Reader::new(body, lsa_field::FIXED_LEN, body.len());
        let link_addr = decode_addr(&mut r, "link_addr")?;
        let name = r.str8("name", limits.max_name)?;
        let neighbours = FixedList::parse(
            &mut r,
            v.neighbour_count() as usize,
            limits.max_neighbours,
            "neighbours",
        )?;
        let groups = StrList::parse(&mut r, limits.max_groups, limits.max_name, "groups")?;
        let headers = HeaderList::parse(&mut r, limits.max_headers, "headers")?;
        r.finish("lsa")?;
        Ok(Lsa {
            origin: v.origin(),
            incarnation: v.incarnation(),
            sequence: v.sequence(),
            age_s: v.age_s(),
            state: NodeState::from_u8(v.state())?,
            flags: v.flags(),
            link_addr,
            name,
            neighbours,
            groups,
            headers,
        })
    }
    fn body_len(&self) -> usize {
        lsa_field::FIXED_LEN
            + addr_len(&self.link_addr)
            + 1
            + self.name.len()
            + self.neighbours.len() * Neighbour::SIZE
            + self.groups.encoded_len()
            + self.headers.encoded_len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("neighbour_count", self.neighbours.len(), u16::MAX as usize)?;
        let mut v = LsaView::new_checked(&mut out[..])?;
        v.set_origin(self.origin);
        v.set_incarnation(self.incarnation);
        v.set_sequence(self.sequence);
        v.set_age_s(self.age_s);
        v.set_state(self.state as u8);
        v.set_flags(self.flags);
        v.set_neighbour_count(self.neighbours.len() as u16);
        let mut w = Writer::new(out);
        w.skip(lsa_field::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        w.str8(&self.name, "name")?;
        w.put(self.neighbours.as_bytes());
        w.put(self.groups.as_bytes());
        w.put(self.headers.as_bytes());
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a ROUTE_ERROR body.
    pub struct RouteErrorView;
    pub mod route_error_field;
    fixed_len = 46;
    /// `reporter`: the node that could not forward.
    reporter, set_reporter, REPORTER: NodeId = 0;
    /// `unreachable`: the next hop it could not reach.
    unreachable, set_unreachable, UNREACHABLE: NodeId = 16;
    /// `seq`: of the DATA that could not be forwarded.
    seq, set_seq, SEQ: u64 = 32;
    /// `channel`: of that DATA.
    channel, set_channel, CHANNEL: u32 = 40;
    /// `semantics`: of that DATA.
    semantics, set_semantics, SEMANTICS: u8 = 44;
    /// `route_count`: entries in the path back to the source.
    route_count, set_route_count, ROUTE_COUNT: u8 = 45;
}

/// ROUTE_ERROR (type 11): a forwarding node could not reach the next hop of
/// a DATA frame's route; sent back to the frame's source, which retries on a
/// new route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    /// The node that could not forward.
    pub reporter: NodeId,
    /// The next hop it could not reach.
    pub unreachable: NodeId,
    /// Seq of the DATA concerned.
    pub seq: u64,
    /// Channel of the DATA concerned.
    pub channel: u32,
    /// Semantics of the DATA concerned.
    pub semantics: Semantics,
    /// Path from the reporter (entry 0) back to the DATA's source.
    pub route: Route,
}

impl Body for RouteError {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 11;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = RouteErrorView::new_checked(&body[..])?;
        let mut r = Reader::new(body, route_error_field::FIXED_LEN, body.len());
        let route = Route::parse(&mut r, v.route_count() as usize, limits.max_route)?;
        if !route.is_path() {
            return Err(Error::Malformed { field: "route_parents" });
        }
        r.finish("route_error")?;
        Ok(RouteError {
            reporter: v.reporter(),
            unreachable: v.unreachable(),
            seq: v.seq(),
            channel: v.channel(),
            semantics: Semantics::from_u8(v.semantics())?,
            route,
        })
    }
    fn body_len(&self) -> usize {
        route_error_field::FIXED_LEN + self.route.encoded_len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("route_count", self.route.len(), 255)?;
        let mut v = RouteErrorView::new_checked(&mut out[..])?;
        v.set_reporter(self.reporter);
        v.set_unreachable(self.unreachable);
        v.set_seq(self.seq);
        v.set_channel(self.channel);
        v.set_semantics(self.semantics as u8);
        v.set_route_count(self.route.len() as u8);
        let mut w = Writer::new(out);
        w.skip(route_error_field::FIXED_LEN);
        w.put(self.route.id_bytes());
        w.put(self.route.parent_bytes());
        Ok(())
    }
}

/// One acknowledged LSA instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LsaKey {
    /// The LSA's origin.
    pub origin: NodeId,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its sequence.
    pub sequence: u64,
}

impl FixedEntry for LsaKey {
    const SIZE: usize = 32;
    fn decode(b: &[u8]) -> Self {
        LsaKey {
            origin: NodeId::decode(&b[..16]),
            incarnation: super::super::codec::get_u64(b, 16),
            sequence: super::super::codec::get_u64(b, 24),
        }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.origin.0);
        out[16..24].copy_from_slice(&self.incarnation.to_be_bytes());
        out[24..32].copy_from_slice(&self.sequence.to_be_bytes());
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of an LSA_ACK body.
    pub struct LsaAckView;
    pub mod lsa_ack_field;
    fixed_len = 2;
    /// `count`: entries that follow.
    count, set_count, COUNT: u16 = 0;
}

/// LSA_ACK (type 12): acknowledges LSAs received on a datagram link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsaAck {
    /// The LSA instances received.
    pub keys: FixedList<LsaKey>,
}

impl Body for LsaAck {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 12;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = LsaAckView::new_checked(&body[..])?;
        let mut r = Reader::new(body, lsa_ack_field::FIXED_LEN, body.len());
        let keys = FixedList::parse(&mut r, v.count() as usize, limits.max_entries, "keys")?;
        r.finish("lsa_ack")?;
        Ok(LsaAck { keys })
    }
    fn body_len(&self) -> usize {
        lsa_ack_field::FIXED_LEN + self.keys.len() * LsaKey::SIZE
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("count", self.keys.len(), u16::MAX as usize)?;
        LsaAckView::new_checked(&mut out[..])?.set_count(self.keys.len() as u16);
        let mut w = Writer::new(out);
        w.skip(lsa_ack_field::FIXED_LEN);
        w.put(self.keys.as_bytes());
        Ok(())
    }
}
