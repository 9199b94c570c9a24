//! What the application is told: peers, messages, streams, links.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;

use bytes::Bytes;

use super::{MessageId, StreamId};
use crate::wire::link::{RejectReason, Semantics};
use crate::wire::{NodeId, NodeState, VersionRange};

/// How a node came to be known as gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// It left cleanly: an EXIT beacon, a GOODBYE, or a flushed LSA.
    Left,
    /// It stopped answering: no route reaches it after keepalive timeouts.
    TimedOut,
    /// Its link was refused (see the [`Event::LinkRejected`] before this).
    Rejected,
    /// It restarted: a newer incarnation replaced this one. A
    /// [`Event::PeerUp`] for the new incarnation follows.
    Restarted,
}

impl DownReason {
    /// Lower-case name, as tools print it.
    pub fn as_str(&self) -> &'static str {
        match self {
            DownReason::Left => "left",
            DownReason::TimedOut => "timed_out",
            DownReason::Rejected => "rejected",
            DownReason::Restarted => "restarted",
        }
    }
}

/// What the node knows of a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// Its id.
    pub id: NodeId,
    /// Its incarnation.
    pub incarnation: u64,
    /// Its name.
    pub name: String,
    /// Its link address as it advertises it (unspecified IP resolved to the
    /// address it was heard from, where known).
    pub addr: SocketAddr,
    /// Its state.
    pub state: NodeState,
    /// Its attributes.
    pub headers: Vec<(String, String)>,
    /// Its groups.
    pub groups: Vec<String>,
    /// Hops on the current route (1: a direct link).
    pub hops: u32,
}

/// Why a message was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// No acknowledgement within the delivery timeout.
    Timeout,
    /// The destination is not reachable any more.
    Unreachable,
    /// The node shut down with the message in flight.
    Shutdown,
}

impl FailReason {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::Unreachable => "unreachable",
            FailReason::Shutdown => "shutdown",
        }
    }
}

/// How a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamEnd {
    /// Both sides finished and every byte was acknowledged and read.
    Finished,
    /// The peer reset (aborted) the stream, or refused to open it.
    Reset,
    /// Bytes could not be delivered: the stream is aborted.
    Failed(FailReason),
}

impl StreamEnd {
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            StreamEnd::Finished => "finished",
            StreamEnd::Reset => "reset",
            StreamEnd::Failed(r) => r.as_str(),
        }
    }
}

/// An event for the application. Drain with
/// [`Node::poll_event`](crate::node::Node::poll_event).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message arrived. Its source may not have been reported up yet:
    /// a message can overtake the routing news of its sender, so look
    /// senders up by id, not in the peer list alone.
    Message {
        /// Its source.
        from: NodeId,
        /// The group it was sent to (`Some("")`: broadcast), `None` for a
        /// message to this node.
        group: Option<String>,
        /// Its delivery semantics.
        semantics: Semantics,
        /// Its bytes.
        payload: Bytes,
    },
    /// A reliable or sequenced message was acknowledged by its destination.
    Delivered {
        /// The message.
        id: MessageId,
        /// The destination that acknowledged it.
        to: NodeId,
    },
    /// A reliable or sequenced message will not be delivered.
    SendFailed {
        /// The message.
        id: MessageId,
        /// Its destination.
        to: NodeId,
        /// Why.
        reason: FailReason,
    },
    /// A destination that refused a send with `WouldBlock` has room again.
    Writable {
        /// The destination.
        to: NodeId,
    },
    /// The path to a destination is congested: a link on it marked its
    /// data, or data was lost, and the congestion window towards it was
    /// reduced. Sends still go, at a lower rate.
    Congested {
        /// The destination.
        to: NodeId,
    },
    /// A round trip passed since the last congestion signal from `to`.
    CongestionCleared {
        /// The destination.
        to: NodeId,
    },
    /// The answer to a [`Node::ping`](crate::node::Node::ping).
    Pong {
        /// The node pinged.
        from: NodeId,
        /// The id `ping` returned.
        id: MessageId,
        /// Round-trip time through the mesh.
        rtt: core::time::Duration,
    },
    /// A peer opened a stream to this node: read it with
    /// [`Node::stream_read`](crate::node::Node::stream_read), write with
    /// [`Node::stream_write`](crate::node::Node::stream_write).
    StreamOpened {
        /// The new stream.
        stream: StreamId,
        /// The peer that opened it.
        peer: NodeId,
    },
    /// Bytes or the end of a stream can be read (sent once each time the
    /// receive buffer goes from empty to not empty).
    StreamReadable {
        /// The stream.
        stream: StreamId,
    },
    /// A stream whose `stream_write` returned `WouldBlock` has room again.
    StreamWritable {
        /// The stream.
        stream: StreamId,
    },
    /// A stream ended; its id is no longer valid.
    StreamClosed {
        /// The stream.
        stream: StreamId,
        /// How.
        reason: StreamEnd,
    },
    /// A peer became reachable.
    PeerUp(PeerInfo),
    /// A reachable peer changed state, headers, groups or route length.
    PeerUpdated(PeerInfo),
    /// A peer is gone.
    PeerDown {
        /// Its id.
        id: NodeId,
        /// Its name.
        name: String,
        /// Why.
        reason: DownReason,
    },
    /// A reachable peer joined a group.
    GroupJoined {
        /// The peer.
        peer: NodeId,
        /// The group.
        group: String,
    },
    /// A reachable peer left a group (or went down while in it).
    GroupLeft {
        /// The peer.
        peer: NodeId,
        /// The group.
        group: String,
    },
    /// The current peer list, standing for membership events a subscriber
    /// did not read in time. Never produced by the node: a driver whose
    /// subscriber's queue is full of unread events replaces the membership
    /// events (`PeerUp`, `PeerUpdated`, `PeerDown`, `GroupJoined`,
    /// `GroupLeft`) it cannot hold by one `Resync`, taken when it is read,
    /// so a slow reader's view is never left with a hole.
    Resync {
        /// Every reachable peer, in id order, when the event was read.
        peers: Vec<PeerInfo>,
    },
    /// A link was refused, by us or by the remote side. Both sides of a
    /// version mismatch report it, with both ranges.
    LinkRejected {
        /// The peer, when its HELLO got far enough to tell.
        peer: Option<NodeId>,
        /// The link's remote address.
        addr: SocketAddr,
        /// Why.
        reason: RejectReason,
        /// True if the remote side refused, false if we did.
        by_remote: bool,
        /// For version rejects: the sub-protocol and both ranges
        /// `(ours, theirs)`.
        versions: Option<(u8, Option<VersionRange>, Option<VersionRange>)>,
        /// Detail text.
        detail: String,
    },
}
