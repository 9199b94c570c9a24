//! The entries of the admin listings (MEMBERS, GROUPS, ROUTES, STATS) and
//! of the `peer_up` / `peer_updated` events.
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
use netcluster_core::wire::{Limits, NodeId, NodeState, Result};
use netcluster_core::wire_view;

/// The records of MEMBERS.
pub type MemberList = VarList<MemberRecord>;
/// The records of GROUPS.
pub type GroupList = VarList<GroupRecord>;
/// The records of ROUTES.
pub type RouteList = VarList<RouteRecord>;
/// The records of STATS.
pub type CounterList = VarList<Counter>;

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
