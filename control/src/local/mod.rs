//! Local sub-protocol (id 5): applications talking to the host daemon (the
//! agent) over its UNIX stream socket, to join clusters and open mesh
//! sockets.
//!
//! An application connects to the daemon's socket, the same one the admin
//! clients use (the daemon tells the two apart by the sub-protocol id of the
//! first frame), and sends CONNECT naming a cluster. From then on it may ask
//! for the peers, its own node, and mesh sockets; each mesh socket comes back
//! as a file descriptor passed with `SCM_RIGHTS` alongside the SOCKET_OPENED
//! frame. Frames follow one another on the stream, each delimited by the
//! header's `length`, as on the admin socket.
//!
//! | type | message         | answered by |
//! | ---- | --------------- | ----------- |
//! | 1    | CONNECT         | CONNECTED, or RESULT with an error |
//! | 2    | CONNECTED       | |
//! | 3    | SOCKET          | SOCKET_OPENED (with the descriptor), or RESULT |
//! | 4    | SOCKET_OPENED   | |
//! | 5    | PEERS_REQUEST   | PEERS |
//! | 6    | PEERS           | |
//! | 7    | NODE_REQUEST    | NODE |
//! | 8    | NODE            | |
//! | 10   | RESULT          | |
//! | 12   | EVENT           | |
//! | 13   | PEERS_TRAFFIC_REQUEST | PEERS_TRAFFIC |
//! | 14   | PEERS_TRAFFIC   | |
//!
//! Odd types go from the application to the daemon, even types back. Every
//! body starts with a u32: the `request_id` chosen by the application and
//! echoed by the answer, or, in EVENT, the `socket_id` the event is about.
//! The layouts are drawn in [`messages`] and specified byte by byte in
//! `docs/PROTOCOL.md` section 16.

use core::fmt;

use netcluster_core::protocol_messages;
use netcluster_core::wire::{Error, Protocol, Result};

pub mod messages;
pub mod traffic;

#[cfg(test)]
mod tests;

pub use messages::{
    Connect, ConnectFlags, Connected, LocalEvent, LocalResult, NodeInfo, NodeRequest, Peers,
    PeersRequest, SocketOpened, SocketRequest,
};
pub use traffic::{PeersTraffic, PeersTrafficRequest};

/// The version of the local sub-protocol this crate speaks.
pub const VERSION: u8 = 1;

/// What a mesh socket is for (SOCKET's `target_kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TargetKind {
    /// One peer, named by `target` (a node name or the text form of a node
    /// id): writes go to it, reads are what it sends to this node in the
    /// socket's semantics.
    Peer = 0,
    /// A group, named by `target` (`""`: everyone): writes are shouted to
    /// it; nothing is read.
    Group = 1,
    /// Streams other nodes open to this node: each is handed over as a new
    /// descriptor read from this socket. `target` must be empty and the
    /// semantics stream.
    ListenStreams = 2,
    /// The messages shouted to a group, named by `target`, in the socket's
    /// semantics: the node joins the group while the socket is open; writes
    /// are dropped.
    GroupReceive = 3,
}

impl TargetKind {
    /// Decodes the wire value of field `target_kind`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => TargetKind::Peer,
            1 => TargetKind::Group,
            2 => TargetKind::ListenStreams,
            3 => TargetKind::GroupReceive,
            _ => return Err(Error::Malformed { field: "target_kind" }),
        })
    }

    /// Snake-case name, as in `docs/PROTOCOL.md`.
    pub fn as_str(&self) -> &'static str {
        match self {
            TargetKind::Peer => "peer",
            TargetKind::Group => "group",
            TargetKind::ListenStreams => "listen_streams",
            TargetKind::GroupReceive => "group_receive",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The outcome carried by a local RESULT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum LocalStatus {
    /// Done.
    #[default]
    Ok = 0,
    /// The request is malformed or makes no sense (empty cluster name,
    /// a target where none belongs, a semantics the target cannot take).
    BadRequest = 1,
    /// No node has that name or id.
    UnknownTarget = 2,
    /// The target is known but no route leads to it.
    Unreachable = 3,
    /// A limit refused it (too many sockets, clusters or groups).
    Limit = 4,
    /// The daemon does not implement this (a request type, a timeout or
    /// retry override on a stream socket).
    Unsupported = 5,
    /// A request that needs a cluster came before CONNECT.
    NotConnected = 6,
    /// A second CONNECT on a connection that already has a cluster.
    AlreadyConnected = 7,
    /// The daemon could not do it (the cluster's node failed to start, a
    /// socket could not be made).
    Failed = 8,
}

impl LocalStatus {
    /// Decodes the wire value of field `status`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => LocalStatus::Ok,
            1 => LocalStatus::BadRequest,
            2 => LocalStatus::UnknownTarget,
            3 => LocalStatus::Unreachable,
            4 => LocalStatus::Limit,
            5 => LocalStatus::Unsupported,
            6 => LocalStatus::NotConnected,
            7 => LocalStatus::AlreadyConnected,
            8 => LocalStatus::Failed,
            _ => return Err(Error::Malformed { field: "status" }),
        })
    }

    /// Snake-case name, as in `docs/PROTOCOL.md`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LocalStatus::Ok => "ok",
            LocalStatus::BadRequest => "bad_request",
            LocalStatus::UnknownTarget => "unknown_target",
            LocalStatus::Unreachable => "unreachable",
            LocalStatus::Limit => "limit",
            LocalStatus::Unsupported => "unsupported",
            LocalStatus::NotConnected => "not_connected",
            LocalStatus::AlreadyConnected => "already_connected",
            LocalStatus::Failed => "failed",
        }
    }
}

impl fmt::Display for LocalStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an EVENT reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum LocalEventKind {
    /// A reliable or sequenced message written to the socket will not be
    /// delivered (`detail`: timeout, unreachable, shutdown).
    DeliveryFailed = 0,
    /// The mesh stream behind a stream socket was reset by the peer or
    /// failed; the daemon closed the socket.
    StreamReset = 1,
    /// The daemon closed the socket (its peer went away, the cluster's node
    /// stopped).
    SocketClosed = 2,
    /// Datagrams for the socket were dropped because the application did not
    /// read them in time (`detail`: how many); datagram sockets only.
    Dropped = 3,
}

impl LocalEventKind {
    /// Decodes the wire value of field `kind`.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => LocalEventKind::DeliveryFailed,
            1 => LocalEventKind::StreamReset,
            2 => LocalEventKind::SocketClosed,
            3 => LocalEventKind::Dropped,
            _ => return Err(Error::Malformed { field: "kind" }),
        })
    }

    /// Snake-case name, as in `docs/PROTOCOL.md`.
    pub fn as_str(&self) -> &'static str {
        match self {
            LocalEventKind::DeliveryFailed => "delivery_failed",
            LocalEventKind::StreamReset => "stream_reset",
            LocalEventKind::SocketClosed => "socket_closed",
            LocalEventKind::Dropped => "dropped",
        }
    }
}

impl fmt::Display for LocalEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

protocol_messages! {
    /// Any local message.
    pub enum LocalMessage(Protocol::Local) {
        /// Join (or attach to) a cluster.
        Connect(Connect),
        /// The cluster is joined.
        Connected(Connected),
        /// Open a mesh socket.
        Socket(SocketRequest),
        /// The socket is open; its descriptor rides along.
        SocketOpened(SocketOpened),
        /// List the peers.
        PeersRequest(PeersRequest),
        /// The peers.
        Peers(Peers),
        /// Describe the daemon's node in the cluster.
        NodeRequest(NodeRequest),
        /// The daemon's node.
        Node(NodeInfo),
        /// Outcome of a request.
        Result(LocalResult),
        /// Something happened to a socket.
        Event(LocalEvent),
        /// List the peers with their traffic figures.
        PeersTrafficRequest(PeersTrafficRequest),
        /// The peers with their traffic figures.
        PeersTraffic(PeersTraffic),
    }
}

impl LocalMessage {
    /// The first body field: `request_id`, or `socket_id` for EVENT.
    pub fn request_id(&self) -> u32 {
        match self {
            LocalMessage::Connect(m) => m.request_id,
            LocalMessage::Connected(m) => m.request_id,
            LocalMessage::Socket(m) => m.request_id,
            LocalMessage::SocketOpened(m) => m.request_id,
            LocalMessage::PeersRequest(m) => m.request_id,
            LocalMessage::Peers(m) => m.request_id,
            LocalMessage::NodeRequest(m) => m.request_id,
            LocalMessage::Node(m) => m.request_id,
            LocalMessage::Result(m) => m.request_id,
            LocalMessage::Event(m) => m.socket_id,
            LocalMessage::PeersTrafficRequest(m) => m.request_id,
            LocalMessage::PeersTraffic(m) => m.request_id,
        }
    }

    /// Whether this goes from the application to the daemon (odd type).
    pub fn is_request(&self) -> bool {
        self.msg_type() % 2 == 1
    }
}
