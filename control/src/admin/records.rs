//! The entries of the admin listings (MEMBERS, GROUPS, ROUTES, STATS,
//! MEMBERS_TRAFFIC, LINKS) and of the `peer_up` / `peer_updated` events.
//!
//! Each record starts with its fixed fields (a `wire_view!` with named
//! offsets, from the start of the record), then its variable ones. Records
//! follow one another with no padding; the listing's count says how many.
//!
//! # Member record
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      incarnation (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     state     |     hops      |    family     | port (u16) ...|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... port     |     address (4 or 16 bytes) ...               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | name_len (u8) |  name (UTF-8) ...                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | groups: count (u16), count x (len u8, UTF-8 name)         ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | headers: count (u16), count x (key_len u8, key,               |
//! |          value_len u16, value), all UTF-8                 ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `family`, `port` and `address` form `link_addr` (family 4 or 6, then 4
//! or 16 address bytes). `groups` holds at most [`Limits::max_groups`] names;
//! `headers` at most [`Limits::max_headers`] encoded bytes.
//!
//! # Group record
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      member_count (u32)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | name_len (u8) |  name (UTF-8) ...                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | members: member_count x node_id (16 bytes)                ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `member_count` is at most [`Limits::max_entries`].
//!
//! # Route record
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                     destination (16 bytes)                    +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                      next_hop (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          cost (u32)                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  hops (u8)    |  path: hops x node_id (16 bytes)          ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `hops` is both the distance and the number of ids in `path`, at most
//! [`Limits::max_route`].
//!
//! # Counter record
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          value (u64)                          |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | name_len (u8) |  name (UTF-8) ...                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # Member traffic record
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    rx_bytes_per_sec (u64)                     |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    tx_bytes_per_sec (u64)                     |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     rx_msgs_per_sec (u64)                     |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     tx_msgs_per_sec (u64)                     |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         srtt_us (u32)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  a member record (above) ...                                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The figures of the member that follows, as its agent measured them
//! (rates averaged over the last 5 s; `docs/PROTOCOL.md` 7.17).
//! `srtt_us`: the smoothed end-to-end round trip in microseconds,
//! `0xffff_ffff` when not measured (a measured one is at most
//! `0xffff_fffe`). The agent's own record carries zeros and
//! `0xffff_ffff`.
//!
//! # Link record
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         link_id (u64)                         |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                         peer (16 bytes)                       +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     kind      |  link_flags   |    queued_frames (u32) ...    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... frames   |  queued_bytes, queued_data_bytes, peak_bytes, |
//! +-+-+-+-+-+-+-+-+                                               +
//! |  dropped, marked: five u64 ...                                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  rtt_us (u32)                 |  addr (7 or 19 bytes) ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Offsets: `link_id` 0, `peer` 8, `kind` 24, `link_flags` 25,
//! `queued_frames` 26, `queued_bytes` 30, `queued_data_bytes` 38,
//! `peak_bytes` 46, `dropped` 54, `marked` 62, `rtt_us` 70, `addr` 74.
//! `kind`: 0 stream, 1 datagram ([`LinkKind`]). `link_flags`: `0x01`
//! outgoing (the agent opened it), `0x02` up (handshake done), `0x04` the
//! peer is known; other bits are reserved and must be zero, and `peer` must
//! be all zeros without `0x04`. `rtt_us`: the shortest keepalive round
//! trip seen on the link, `0xffff_ffff` if none.
//!
//! [`Limits::max_groups`]: netcluster_core::wire::Limits::max_groups
//! [`Limits::max_headers`]: netcluster_core::wire::Limits::max_headers
//! [`Limits::max_entries`]: netcluster_core::wire::Limits::max_entries
//! [`Limits::max_route`]: netcluster_core::wire::Limits::max_route

use core::net::SocketAddr;

use bytes::Bytes;
use bytestring::ByteString;

use netcluster_core::wire::codec::{check_len, Reader, Writer};
use netcluster_core::wire::lists::{FixedList, HeaderList, StrList, VarList, VarRecord};
use netcluster_core::wire::types::{addr_len, decode_addr, encode_addr};
use netcluster_core::wire::{Error, Limits, NodeId, NodeState, Result};
use netcluster_core::wire_view;

/// The records of MEMBERS.
pub type MemberList = VarList<MemberRecord>;
/// The records of GROUPS.
pub type GroupList = VarList<GroupRecord>;
/// The records of ROUTES.
pub type RouteList = VarList<RouteRecord>;
/// The records of STATS.
pub type CounterList = VarList<Counter>;
/// The records of MEMBERS_TRAFFIC.
pub type MemberTrafficList = VarList<MemberTrafficRecord>;
/// The records of LINKS.
pub type LinkList = VarList<LinkRecord>;

/// `srtt_us` and `rtt_us` when nothing was measured.
pub const NOT_MEASURED: u32 = u32::MAX;

wire_view! {
    /// Zero-copy view of the fixed part of a member record.
    pub struct MemberView;
    pub mod member;
    fixed_len = 26;
    /// `node_id`: the member.
    node_id, set_node_id, NODE_ID: NodeId = 0;
    /// `incarnation`: grows each time the member restarts.
    incarnation, set_incarnation, INCARNATION: u64 = 16;
    /// `state`: the member's announced state.
    state, set_state, STATE: u8 = 24;
    /// `hops`: distance from the agent, 0 for the agent itself.
    hops, set_hops, HOPS: u8 = 25;
}

/// One member of the mesh as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// The member's id.
    pub node_id: NodeId,
    /// Grows each time the member restarts.
    pub incarnation: u64,
    /// The state the member announces.
    pub state: NodeState,
    /// Distance in hops from the agent: 0 is the agent itself, 1 a
    /// neighbour.
    pub hops: u8,
    /// Where the member accepts links.
    pub link_addr: SocketAddr,
    /// The member's name (may be empty).
    pub name: ByteString,
    /// The groups the member is in.
    pub groups: StrList,
    /// The member's attributes.
    pub headers: HeaderList,
}

impl VarRecord for MemberRecord {
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)> {
        let v = MemberView::new_checked(&buf[..])?;
        let mut r = Reader::new(buf, member::FIXED_LEN, buf.len());
        let link_addr = decode_addr(&mut r, "link_addr")?;
        let name = r.str8("name", limits.max_name)?;
        let groups = StrList::parse(&mut r, limits.max_groups, limits.max_name, "groups")?;
        let headers = HeaderList::parse(&mut r, limits.max_headers, "headers")?;
        let rec = MemberRecord {
            node_id: v.node_id(),
            incarnation: v.incarnation(),
            state: NodeState::from_u8(v.state())?,
            hops: v.hops(),
            link_addr,
            name,
            groups,
            headers,
        };
        Ok((rec, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        member::FIXED_LEN
            + addr_len(&self.link_addr)
            + 1
            + self.name.len()
            + self.groups.encoded_len()
            + self.headers.encoded_len()
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let mut v = MemberView::new_checked(&mut out[..])?;
        v.set_node_id(self.node_id);
        v.set_incarnation(self.incarnation);
        v.set_state(self.state as u8);
        v.set_hops(self.hops);
        let mut w = Writer::new(out);
        w.skip(member::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        w.str8(&self.name, "name")?;
        w.put(self.groups.as_bytes());
        w.put(self.headers.as_bytes());
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a group record.
    pub struct GroupView;
    pub mod group;
    fixed_len = 4;
    /// `member_count`: ids in `members`.
    member_count, set_member_count, MEMBER_COUNT: u32 = 0;
}

/// One group and its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group's name ("" is the broadcast group every node is in).
    pub name: ByteString,
    /// The members, the agent's own node included if it is one.
    pub members: FixedList<NodeId>,
}

impl VarRecord for GroupRecord {
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)> {
        let v = GroupView::new_checked(&buf[..])?;
        let mut r = Reader::new(buf, group::FIXED_LEN, buf.len());
        let name = r.str8("name", limits.max_name)?;
        let count = usize::try_from(v.member_count()).unwrap_or(usize::MAX);
        let members = FixedList::parse(&mut r, count, limits.max_entries, "member_count")?;
        Ok((GroupRecord { name, members }, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        group::FIXED_LEN + 1 + self.name.len() + self.members.as_bytes().len()
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let count = self.members.len();
        check_len("member_count", count, u32::MAX as usize)?;
        GroupView::new_checked(&mut out[..])?.set_member_count(count as u32);
        let mut w = Writer::new(out);
        w.skip(group::FIXED_LEN);
        w.str8(&self.name, "name")?;
        w.put(self.members.as_bytes());
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a route record.
    pub struct RouteView;
    pub mod route;
    fixed_len = 37;
    /// `destination`: the node the route leads to.
    destination, set_destination, DESTINATION: NodeId = 0;
    /// `next_hop`: the neighbour traffic to the destination goes to.
    next_hop, set_next_hop, NEXT_HOP: NodeId = 16;
    /// `cost`: sum of the link costs along the path.
    cost, set_cost, COST: u32 = 32;
    /// `hops`: length of the route, and ids in `path`.
    hops, set_hops, HOPS: u8 = 36;
}

/// The agent's route to one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRecord {
    /// The node the route leads to.
    pub destination: NodeId,
    /// The neighbour traffic to `destination` is handed to.
    pub next_hop: NodeId,
    /// Sum of the link costs along the path.
    pub cost: u32,
    /// The nodes after the agent, in order: `path[0]` is `next_hop`, the
    /// last is `destination`. Its length is the hop count (`hops` on the
    /// wire).
    pub path: FixedList<NodeId>,
}

impl RouteRecord {
    /// Length of the route in hops.
    pub fn hops(&self) -> usize {
        self.path.len()
    }
}

impl VarRecord for RouteRecord {
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)> {
        let v = RouteView::new_checked(&buf[..])?;
        let mut r = Reader::new(buf, route::FIXED_LEN, buf.len());
        let path = FixedList::parse(&mut r, usize::from(v.hops()), limits.max_route, "hops")?;
        let rec = RouteRecord {
            destination: v.destination(),
            next_hop: v.next_hop(),
            cost: v.cost(),
            path,
        };
        Ok((rec, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        route::FIXED_LEN + self.path.as_bytes().len()
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let hops = self.path.len();
        check_len("hops", hops, u8::MAX as usize)?;
        let mut v = RouteView::new_checked(&mut out[..])?;
        v.set_destination(self.destination);
        v.set_next_hop(self.next_hop);
        v.set_cost(self.cost);
        v.set_hops(hops as u8);
        let mut w = Writer::new(out);
        w.skip(route::FIXED_LEN);
        w.put(self.path.as_bytes());
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a counter record.
    pub struct CounterView;
    pub mod counter;
    fixed_len = 8;
    /// `value`: the counter's value.
    value, set_value, VALUE: u64 = 0;
}

/// One named counter of STATS. Counters are named, so new ones need no
/// format change; a client shows the ones it does not know as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counter {
    /// The counter's name, `snake_case` (`frames_dropped`, `links_open`).
    pub name: ByteString,
    /// Its value.
    pub value: u64,
}

impl VarRecord for Counter {
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)> {
        let v = CounterView::new_checked(&buf[..])?;
        let mut r = Reader::new(buf, counter::FIXED_LEN, buf.len());
        let name = r.str8("name", limits.max_name)?;
        let value = v.value();
        Ok((Counter { name, value }, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        counter::FIXED_LEN + 1 + self.name.len()
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        CounterView::new_checked(&mut out[..])?.set_value(self.value);
        let mut w = Writer::new(out);
        w.skip(counter::FIXED_LEN);
        w.str8(&self.name, "name")
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a member traffic record.
    pub struct MemberTrafficView;
    pub mod member_traffic;
    fixed_len = 36;
    /// `rx_bytes_per_sec`: application bytes from the member per second.
    rx_bytes_per_sec, set_rx_bytes_per_sec, RX_BYTES_PER_SEC: u64 = 0;
    /// `tx_bytes_per_sec`: application bytes to the member per second.
    tx_bytes_per_sec, set_tx_bytes_per_sec, TX_BYTES_PER_SEC: u64 = 8;
    /// `rx_msgs_per_sec`: messages from the member per second.
    rx_msgs_per_sec, set_rx_msgs_per_sec, RX_MSGS_PER_SEC: u64 = 16;
    /// `tx_msgs_per_sec`: messages to the member per second.
    tx_msgs_per_sec, set_tx_msgs_per_sec, TX_MSGS_PER_SEC: u64 = 24;
    /// `srtt_us`: smoothed round trip, [`NOT_MEASURED`] if none.
    srtt_us, set_srtt_us, SRTT_US: u32 = 32;
}

/// What the agent's node exchanges with one member: rates averaged over the
/// last 5 s, and the smoothed end-to-end round trip.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficFigures {
    /// Application bytes received from the member per second.
    pub rx_bytes_per_sec: u64,
    /// Application bytes sent to the member per second.
    pub tx_bytes_per_sec: u64,
    /// Messages received from the member per second.
    pub rx_msgs_per_sec: u64,
    /// Messages sent to the member per second.
    pub tx_msgs_per_sec: u64,
    /// The smoothed end-to-end round trip in microseconds, once measured;
    /// at most `0xffff_fffe` (emitting more is
    /// [`Error::Oversized`]).
    pub srtt_us: Option<u32>,
}

/// One member with its traffic figures: the record of MEMBERS_TRAFFIC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberTrafficRecord {
    /// The figures.
    pub traffic: TrafficFigures,
    /// The member, as MEMBERS describes it.
    pub member: MemberRecord,
}

/// A microsecond figure as written: `None` is [`NOT_MEASURED`], which a
/// measured one cannot take.
fn measured_us(v: Option<u32>, field: &'static str) -> Result<u32> {
    match v {
        None => Ok(NOT_MEASURED),
        Some(us) if us == NOT_MEASURED => {
            Err(Error::Oversized { field, len: us as usize, max: NOT_MEASURED as usize - 1 })
        }
        Some(us) => Ok(us),
    }
}

fn read_measured(us: u32) -> Option<u32> {
    (us != NOT_MEASURED).then_some(us)
}

impl VarRecord for MemberTrafficRecord {
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)> {
        let v = MemberTrafficView::new_checked(&buf[..])?;
        let traffic = TrafficFigures {
            rx_bytes_per_sec: v.rx_bytes_per_sec(),
            tx_bytes_per_sec: v.tx_bytes_per_sec(),
            rx_msgs_per_sec: v.rx_msgs_per_sec(),
            tx_msgs_per_sec: v.tx_msgs_per_sec(),
            srtt_us: read_measured(v.srtt_us()),
        };
        let rest = buf.slice(member_traffic::FIXED_LEN..);
        let (member, used) = MemberRecord::parse_record(&rest, limits)?;
        Ok((MemberTrafficRecord { traffic, member }, member_traffic::FIXED_LEN + used))
    }

    fn encoded_len(&self) -> usize {
        member_traffic::FIXED_LEN + self.member.encoded_len()
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let t = &self.traffic;
        let srtt = measured_us(t.srtt_us, "srtt_us")?;
        let (fixed, rest) = out.split_at_mut(member_traffic::FIXED_LEN);
        let mut v = MemberTrafficView::new_checked(fixed)?;
        v.set_rx_bytes_per_sec(t.rx_bytes_per_sec);
        v.set_tx_bytes_per_sec(t.tx_bytes_per_sec);
        v.set_rx_msgs_per_sec(t.rx_msgs_per_sec);
        v.set_tx_msgs_per_sec(t.tx_msgs_per_sec);
        v.set_srtt_us(srtt);
        self.member.emit_record(rest)
    }
}

/// How a link carries its frames (field `kind` of a link record).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LinkKind {
    /// A byte stream (TCP).
    #[default]
    Stream = 0,
    /// UDP datagrams.
    Datagram = 1,
}

impl LinkKind {
    /// Decodes the wire value of field `kind`.
    pub fn from_u8(v: u8) -> Result<Self> {
        match v {
            0 => Ok(LinkKind::Stream),
            1 => Ok(LinkKind::Datagram),
            _ => Err(Error::Malformed { field: "kind" }),
        }
    }

    /// Lower-case name, as tools show it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LinkKind::Stream => "stream",
            LinkKind::Datagram => "datagram",
        }
    }
}

/// `link_flags`: the agent opened the link.
pub const LINK_OUTGOING: u8 = 0x01;
/// `link_flags`: the handshake is done.
pub const LINK_UP: u8 = 0x02;
/// `link_flags`: `peer` holds the peer's id.
pub const LINK_PEER_KNOWN: u8 = 0x04;
/// `link_flags`: the link runs over a Noise session (every frame sealed).
pub const LINK_ENCRYPTED: u8 = 0x08;

wire_view! {
    /// Zero-copy view of the fixed part of a link record.
    pub struct LinkView;
    pub mod link;
    fixed_len = 74;
    /// `link_id`: the agent's handle of the link, never reused.
    link_id, set_link_id, LINK_ID: u64 = 0;
    /// `peer`: the peer's id, all zeros while unknown.
    peer, set_peer, PEER: NodeId = 8;
    /// `kind`: 0 stream, 1 datagram.
    kind, set_kind, KIND: u8 = 24;
    /// `link_flags`: outgoing, up, peer known.
    link_flags, set_link_flags, LINK_FLAGS: u8 = 25;
    /// `queued_frames`: frames in the link's output queue now.
    queued_frames, set_queued_frames, QUEUED_FRAMES: u32 = 26;
    /// `queued_bytes`: bytes in the output queue now, control included.
    queued_bytes, set_queued_bytes, QUEUED_BYTES: u64 = 30;
    /// `queued_data_bytes`: DATA bytes in the output queue now.
    queued_data_bytes, set_queued_data_bytes, QUEUED_DATA_BYTES: u64 = 38;
    /// `peak_bytes`: the most DATA bytes the queue held at once.
    peak_bytes, set_peak_bytes, PEAK_BYTES: u64 = 46;
    /// `dropped`: DATA frames dropped for a full queue.
    dropped, set_dropped, DROPPED: u64 = 54;
    /// `marked`: DATA frames marked congestion-experienced.
    marked, set_marked, MARKED: u64 = 62;
    /// `rtt_us`: the shortest keepalive round trip, [`NOT_MEASURED`] if none.
    rtt_us, set_rtt_us, RTT_US: u32 = 70;
}

/// One link of the agent's node and its output queue: the record of LINKS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    /// The agent's handle of the link.
    pub link_id: u64,
    /// The peer, once its handshake said who it is.
    pub peer: Option<NodeId>,
    /// How the link carries frames.
    pub kind: LinkKind,
    /// The agent's node opened it.
    pub outgoing: bool,
    /// Its handshake is done.
    pub up: bool,
    /// It runs over a Noise session: every frame is sealed (PROTOCOL 12).
    pub encrypted: bool,
    /// Frames in its output queue now (datagram links have none).
    pub queued_frames: u32,
    /// Bytes in its output queue now, control frames included.
    pub queued_bytes: u64,
    /// DATA bytes in its output queue now.
    pub queued_data_bytes: u64,
    /// The most DATA bytes the queue held at once.
    pub peak_bytes: u64,
    /// DATA frames dropped because the queue was full.
    pub dropped: u64,
    /// DATA frames marked congestion-experienced.
    pub marked: u64,
    /// The shortest keepalive round trip seen, in microseconds; at most
    /// `0xffff_fffe`.
    pub rtt_us: Option<u32>,
    /// The remote address.
    pub addr: SocketAddr,
}

impl VarRecord for LinkRecord {
    fn parse_record(buf: &Bytes, _limits: &Limits) -> Result<(Self, usize)> {
        let v = LinkView::new_checked(&buf[..])?;
        let flags = v.link_flags();
        if flags & !(LINK_OUTGOING | LINK_UP | LINK_PEER_KNOWN | LINK_ENCRYPTED) != 0 {
            return Err(Error::Malformed { field: "link_flags" });
        }
        // One encoding per record: an unknown peer is all zeros.
        let peer = if flags & LINK_PEER_KNOWN != 0 {
            Some(v.peer())
        } else if v.peer() == NodeId::default() {
            None
        } else {
            return Err(Error::Malformed { field: "peer" });
        };
        let mut r = Reader::new(buf, link::FIXED_LEN, buf.len());
        let addr = decode_addr(&mut r, "addr")?;
        let rec = LinkRecord {
            link_id: v.link_id(),
            peer,
            kind: LinkKind::from_u8(v.kind())?,
            outgoing: flags & LINK_OUTGOING != 0,
            up: flags & LINK_UP != 0,
            encrypted: flags & LINK_ENCRYPTED != 0,
            queued_frames: v.queued_frames(),
            queued_bytes: v.queued_bytes(),
            queued_data_bytes: v.queued_data_bytes(),
            peak_bytes: v.peak_bytes(),
            dropped: v.dropped(),
            marked: v.marked(),
            rtt_us: read_measured(v.rtt_us()),
            addr,
        };
        Ok((rec, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        link::FIXED_LEN + addr_len(&self.addr)
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let rtt = measured_us(self.rtt_us, "rtt_us")?;
        let mut flags = 0;
        for (set, bit) in [
            (self.outgoing, LINK_OUTGOING),
            (self.up, LINK_UP),
            (self.peer.is_some(), LINK_PEER_KNOWN),
            (self.encrypted, LINK_ENCRYPTED),
        ] {
            if set {
                flags |= bit;
            }
        }
        let mut v = LinkView::new_checked(&mut out[..])?;
        v.set_link_id(self.link_id);
        v.set_peer(self.peer.unwrap_or_default());
        v.set_kind(self.kind as u8);
        v.set_link_flags(flags);
        v.set_queued_frames(self.queued_frames);
        v.set_queued_bytes(self.queued_bytes);
        v.set_queued_data_bytes(self.queued_data_bytes);
        v.set_peak_bytes(self.peak_bytes);
        v.set_dropped(self.dropped);
        v.set_marked(self.marked);
        v.set_rtt_us(rtt);
        let mut w = Writer::new(out);
        w.skip(link::FIXED_LEN);
        encode_addr(&mut w, &self.addr);
        Ok(())
    }
}
