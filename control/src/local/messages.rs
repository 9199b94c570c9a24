//! The local messages. Every body starts with a u32 (`request_id`, or
//! `socket_id` in EVENT); fixed fields come first, then variable ones.
//!
//! # CONNECT (1)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     flags     |  cluster (str8) ...                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  name (str8) ... | tracker (str8) ... | seeds (StrList) ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # SOCKET (3)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       request_id (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   semantics   |  target_kind  |          queue (u16)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       timeout_ms (u32)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    retries    |  target (str8) ...                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # EVENT (12)
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       socket_id (u32)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     kind      |  peer (16 bytes) ...                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... peer     |  detail (str16) ...                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The other messages are drawn in `docs/PROTOCOL.md` section 16.

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::codec::{check_len, Reader, Writer};
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::lists::{VarList, VarRecord};
use netcluster_core::wire::{Body, Error, Limits, NodeId, Protocol, Result, StrList};
use netcluster_core::wire_view;

use super::{LocalEventKind, LocalStatus, TargetKind};
use crate::admin::MemberRecord;

/// Most seeds a CONNECT may carry.
pub const MAX_SEEDS: usize = 64;

/// Decodes a `semantics` byte (0 datagram, 1 reliable, 2 sequenced,
/// 3 stream).
fn semantics_from_u8(v: u8) -> Result<Semantics> {
    Ok(match v {
        0 => Semantics::Datagram,
        1 => Semantics::Reliable,
        2 => Semantics::Sequenced,
        3 => Semantics::Stream,
        _ => return Err(Error::Malformed { field: "semantics" }),
    })
}

/// The wire value of a semantics.
pub fn semantics_code(s: Semantics) -> u8 {
    match s {
        Semantics::Datagram => 0,
        Semantics::Reliable => 1,
        Semantics::Sequenced => 2,
        Semantics::Stream => 3,
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a CONNECT body.
    pub struct ConnectView;
    pub mod connect;
    fixed_len = 5;
    /// `request_id`: chosen by the application, echoed by the answer.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `flags`: [`ConnectFlags`].
    flags, set_flags, FLAGS: u8 = 4;
}

/// CONNECT's `flags`: bit 0 beacons on the LAN (Net::Cluster's broadcast
/// flag); other bits reserved, zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnectFlags(u8);

impl ConnectFlags {
    /// Beacons on (multicast discovery on the LAN).
    pub const BROADCAST: ConnectFlags = ConnectFlags(0x01);
    /// No flag.
    pub const NONE: ConnectFlags = ConnectFlags(0);

    /// From the wire value; reserved bits set are `Malformed { field:
    /// "flags" }`.
    pub fn from_bits(v: u8) -> Result<Self> {
        if v & !0x01 != 0 {
            return Err(Error::Malformed { field: "flags" });
        }
        Ok(ConnectFlags(v))
    }

    /// The wire value.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether beacons are on.
    pub const fn broadcast(self) -> bool {
        self.0 & 0x01 != 0
    }
}

/// CONNECT (type 1): attach this connection to a cluster, joining it if the
/// daemon is not in it yet. The options apply when the daemon joins the
/// cluster; a cluster the daemon is already in keeps its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connect {
    /// Chosen by the application.
    pub request_id: u32,
    /// Beacon flag.
    pub flags: ConnectFlags,
    /// The cluster's name, 1..=`max_name` bytes.
    pub cluster: ByteString,
    /// The node's name in the cluster (empty: the daemon chooses).
    pub name: ByteString,
    /// A tracker `host:port` (empty: none).
    pub tracker: ByteString,
    /// Static seeds, `host:port` each, at most [`MAX_SEEDS`].
    pub seeds: StrList,
}

impl Body for Connect {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 1;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = ConnectView::new_checked(&body[..])?;
        let flags = ConnectFlags::from_bits(v.flags())?;
        let mut r = Reader::new(body, connect::FIXED_LEN, body.len());
        let cluster = r.str8("cluster", limits.max_name)?;
        let name = r.str8("name", limits.max_name)?;
        let tracker = r.str8("tracker", 255)?;
        let seeds = StrList::parse(&mut r, MAX_SEEDS, 255, "seeds")?;
        r.finish("connect")?;
        Ok(Connect { request_id: v.request_id(), flags, cluster, name, tracker, seeds })
    }

    fn body_len(&self) -> usize {
        connect::FIXED_LEN
            + 3
            + self.cluster.len()
            + self.name.len()
            + self.tracker.len()
            + self.seeds.encoded_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("seeds", self.seeds.len(), MAX_SEEDS)?;
        let mut v = ConnectView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_flags(self.flags.bits());
        let mut w = Writer::new(out);
        w.skip(connect::FIXED_LEN);
        w.str8(&self.cluster, "cluster")?;
        w.str8(&self.name, "name")?;
        w.str8(&self.tracker, "tracker")?;
        w.put(self.seeds.as_bytes());
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of a CONNECTED body (all of it is fixed).
    pub struct ConnectedView;
    pub mod connected;
    fixed_len = 20;
    /// `request_id`: of the CONNECT answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `node_id`: the daemon's node in the cluster.
    node_id, set_node_id, NODE_ID: NodeId = 4;
}

/// CONNECTED (type 2): the connection is attached to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connected {
    /// Of the CONNECT answered.
    pub request_id: u32,
    /// The daemon's node in the cluster.
    pub node_id: NodeId,
}

impl Body for Connected {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 2;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = ConnectedView::new_checked(&body[..])?;
        Reader::new(body, connected::FIXED_LEN, body.len()).finish("connected")?;
        Ok(Connected { request_id: v.request_id(), node_id: v.node_id() })
    }

    fn body_len(&self) -> usize {
        connected::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = ConnectedView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_node_id(self.node_id);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a SOCKET body.
    pub struct SocketView;
    pub mod socket;
    fixed_len = 13;
    /// `request_id`: chosen by the application.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `semantics`: 0 datagram, 1 reliable, 2 sequenced, 3 stream.
    semantics, set_semantics, SEMANTICS: u8 = 4;
    /// `target_kind`: [`TargetKind`].
    target_kind, set_target_kind, TARGET_KIND: u8 = 5;
    /// `queue`: messages the daemon holds for the socket (0: its default).
    queue, set_queue, QUEUE: u16 = 6;
    /// `timeout_ms`: delivery timeout override (0: the node's).
    timeout_ms, set_timeout_ms, TIMEOUT_MS: u32 = 8;
    /// `retries`: retry override (0: the node's).
    retries, set_retries, RETRIES: u8 = 12;
}

/// SOCKET (type 3): open a mesh socket. Answered by SOCKET_OPENED with the
/// descriptor, or RESULT with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketRequest {
    /// Chosen by the application.
    pub request_id: u32,
    /// Delivery semantics.
    pub semantics: Semantics,
    /// What the socket is for.
    pub target_kind: TargetKind,
    /// Messages the daemon holds for the socket before it stops reading the
    /// mesh for it (0: the daemon's default).
    pub queue: u16,
    /// Delivery timeout override in ms (0: the node's own).
    pub timeout_ms: u32,
    /// Retry override (0: the node's own).
    pub retries: u8,
    /// A peer (name or node id), or a group, or empty.
    pub target: ByteString,
}

impl Body for SocketRequest {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 3;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = SocketView::new_checked(&body[..])?;
        let semantics = semantics_from_u8(v.semantics())?;
        let target_kind = TargetKind::from_u8(v.target_kind())?;
        let mut r = Reader::new(body, socket::FIXED_LEN, body.len());
        let target = r.str8("target", limits.max_name)?;
        r.finish("socket")?;
        Ok(SocketRequest {
            request_id: v.request_id(),
            semantics,
            target_kind,
            queue: v.queue(),
            timeout_ms: v.timeout_ms(),
            retries: v.retries(),
            target,
        })
    }

    fn body_len(&self) -> usize {
        socket::FIXED_LEN + 1 + self.target.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = SocketView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_semantics(semantics_code(self.semantics));
        v.set_target_kind(self.target_kind as u8);
        v.set_queue(self.queue);
        v.set_timeout_ms(self.timeout_ms);
        v.set_retries(self.retries);
        let mut w = Writer::new(out);
        w.skip(socket::FIXED_LEN);
        w.str8(&self.target, "target")
    }
}

wire_view! {
    /// Zero-copy view of a SOCKET_OPENED body (all of it is fixed).
    pub struct SocketOpenedView;
    pub mod socket_opened;
    fixed_len = 8;
    /// `request_id`: of the SOCKET answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `socket_id`: the daemon's name for the socket, in EVENTs.
    socket_id, set_socket_id, SOCKET_ID: u32 = 4;
}

/// SOCKET_OPENED (type 4): the socket is open. The daemon sends its frame
/// in one `sendmsg` whose `SCM_RIGHTS` control message carries exactly one
/// descriptor, the application's end of the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOpened {
    /// Of the SOCKET answered.
    pub request_id: u32,
    /// The daemon's name for the socket, carried by its EVENTs; never 0.
    pub socket_id: u32,
}

impl Body for SocketOpened {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 4;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = SocketOpenedView::new_checked(&body[..])?;
        Reader::new(body, socket_opened::FIXED_LEN, body.len()).finish("socket_opened")?;
        Ok(SocketOpened { request_id: v.request_id(), socket_id: v.socket_id() })
    }

    fn body_len(&self) -> usize {
        socket_opened::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = SocketOpenedView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_socket_id(self.socket_id);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of PEERS_REQUEST and NODE_REQUEST.
    pub struct IdView;
    pub mod id_only;
    fixed_len = 4;
    /// `request_id`: chosen by the application.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
}

/// PEERS_REQUEST (type 5): list the reachable peers, those in `group` only
/// unless it is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersRequest {
    /// Chosen by the application.
    pub request_id: u32,
    /// Only members of this group (empty: every peer).
    pub group: ByteString,
}

impl Body for PeersRequest {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 5;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = IdView::new_checked(&body[..])?;
        let mut r = Reader::new(body, id_only::FIXED_LEN, body.len());
        let group = r.str8("group", limits.max_name)?;
        r.finish("peers_request")?;
        Ok(PeersRequest { request_id: v.request_id(), group })
    }

    fn body_len(&self) -> usize {
        id_only::FIXED_LEN + 1 + self.group.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        IdView::new_checked(&mut out[..])?.set_request_id(self.request_id);
        let mut w = Writer::new(out);
        w.skip(id_only::FIXED_LEN);
        w.str8(&self.group, "group")
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a PEERS body.
    pub struct PeersView;
    pub mod peers;
    fixed_len = 6;
    /// `request_id`: of the PEERS_REQUEST answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `peer_count`: member records that follow.
    peer_count, set_peer_count, PEER_COUNT: u16 = 4;
}

/// PEERS (type 6): the reachable peers, as admin member records (9.5),
/// the daemon's own node not included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// Of the PEERS_REQUEST answered.
    pub request_id: u32,
    /// The peers.
    pub peers: VarList<MemberRecord>,
}

impl Body for Peers {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 6;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = PeersView::new_checked(&body[..])?;
        let mut r = Reader::new(body, peers::FIXED_LEN, body.len());
        let count = usize::from(v.peer_count());
        let peers = VarList::parse(&mut r, count, limits.max_entries, limits, "peer_count")?;
        r.finish("peers")?;
        Ok(Peers { request_id: v.request_id(), peers })
    }

    fn body_len(&self) -> usize {
        peers::FIXED_LEN + self.peers.encoded_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let count = self.peers.len();
        check_len("peer_count", count, u16::MAX as usize)?;
        let mut v = PeersView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_peer_count(count as u16);
        let mut w = Writer::new(out);
        w.skip(peers::FIXED_LEN);
        w.put(self.peers.as_bytes());
        Ok(())
    }
}

/// NODE_REQUEST (type 7): describe the daemon's node in the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NodeRequest {
    /// Chosen by the application.
    pub request_id: u32,
}

impl Body for NodeRequest {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 7;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = IdView::new_checked(&body[..])?;
        Reader::new(body, id_only::FIXED_LEN, body.len()).finish("node_request")?;
        Ok(NodeRequest { request_id: v.request_id() })
    }

    fn body_len(&self) -> usize {
        id_only::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        IdView::new_checked(&mut out[..])?.set_request_id(self.request_id);
        Ok(())
    }
}

/// NODE (type 8): the daemon's node in the cluster, as an admin member
/// record (`hops` 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Of the NODE_REQUEST answered.
    pub request_id: u32,
    /// The node.
    pub node: MemberRecord,
}

impl Body for NodeInfo {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 8;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = IdView::new_checked(&body[..])?;
        let rest = body.slice(id_only::FIXED_LEN..);
        let (node, used) = MemberRecord::parse_record(&rest, limits)?;
        if used != rest.len() {
            return Err(Error::Malformed { field: "node" });
        }
        Ok(NodeInfo { request_id: v.request_id(), node })
    }

    fn body_len(&self) -> usize {
        id_only::FIXED_LEN + self.node.encoded_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        IdView::new_checked(&mut out[..])?.set_request_id(self.request_id);
        self.node.emit_record(&mut out[id_only::FIXED_LEN..])
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a RESULT body.
    pub struct ResultView;
    pub mod result;
    fixed_len = 5;
    /// `request_id`: of the request answered.
    request_id, set_request_id, REQUEST_ID: u32 = 0;
    /// `status`: [`LocalStatus`].
    status, set_status, STATUS: u8 = 4;
}

/// RESULT (type 10): an error answering any request (or `ok` where a
/// request has no answer of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResult {
    /// Of the request answered.
    pub request_id: u32,
    /// The outcome.
    pub status: LocalStatus,
    /// A UTF-8 message for people, may be empty.
    pub detail: ByteString,
}

impl Body for LocalResult {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 10;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = ResultView::new_checked(&body[..])?;
        let status = LocalStatus::from_u8(v.status())?;
        let mut r = Reader::new(body, result::FIXED_LEN, body.len());
        let detail = r.str16("detail", u16::MAX as usize)?;
        r.finish("result")?;
        Ok(LocalResult { request_id: v.request_id(), status, detail })
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
    /// Zero-copy view of the fixed part of an EVENT body.
    pub struct EventView;
    pub mod event;
    fixed_len = 21;
    /// `socket_id`: the socket concerned.
    socket_id, set_socket_id, SOCKET_ID: u32 = 0;
    /// `kind`: [`LocalEventKind`].
    kind, set_kind, KIND: u8 = 4;
    /// `peer`: the peer concerned, all zeros if none.
    peer, set_peer, PEER: NodeId = 5;
}

/// EVENT (type 12): something happened to a socket of this connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalEvent {
    /// The socket concerned (its SOCKET_OPENED `socket_id`).
    pub socket_id: u32,
    /// What happened.
    pub kind: LocalEventKind,
    /// The peer concerned, all zeros if none.
    pub peer: NodeId,
    /// A UTF-8 message for people, may be empty.
    pub detail: ByteString,
}

impl Body for LocalEvent {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 12;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = EventView::new_checked(&body[..])?;
        let kind = LocalEventKind::from_u8(v.kind())?;
        let mut r = Reader::new(body, event::FIXED_LEN, body.len());
        let detail = r.str16("detail", u16::MAX as usize)?;
        r.finish("event")?;
        Ok(LocalEvent { socket_id: v.socket_id(), kind, peer: v.peer(), detail })
    }

    fn body_len(&self) -> usize {
        event::FIXED_LEN + 2 + self.detail.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = EventView::new_checked(&mut out[..])?;
        v.set_socket_id(self.socket_id);
        v.set_kind(self.kind as u8);
        v.set_peer(self.peer);
        let mut w = Writer::new(out);
        w.skip(event::FIXED_LEN);
        w.str16(&self.detail, "detail")
    }
}
