//! What the application is told: peers, messages, streams, links.

use alloc::boxed::Box;
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
///
/// Its `Debug` form leaves `traffic` out while it is all zero, as it is in
/// membership events: a node's event log reads the same whether or not
/// anything measured it.
#[derive(Clone, PartialEq, Eq)]
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
    /// What the application exchanged with the peer, and the round trip
    /// to it, as of the node's last sample (once a second). Membership
    /// events carry [`PeerTraffic::default()`]: they report a change of
    /// membership, and a figure is a reading, not a change; read current
    /// figures with [`Node::peers`](crate::node::Node::peers) or
    /// [`Node::peer`](crate::node::Node::peer).
    pub traffic: PeerTraffic,
}

impl core::fmt::Debug for PeerInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut s = f.debug_struct("PeerInfo");
        s.field("id", &self.id)
            .field("incarnation", &self.incarnation)
            .field("name", &self.name)
            .field("addr", &self.addr)
            .field("state", &self.state)
            .field("headers", &self.headers)
            .field("groups", &self.groups)
            .field("hops", &self.hops);
        // The simulator's pinned traces hash events by this form: a
        // membership event, whose figures are zero, must read as it did
        // before the figures existed.
        if self.traffic != PeerTraffic::default() {
            s.field("traffic", &self.traffic);
        }
        s.finish()
    }
}

/// What the application exchanges with one peer (Net::Cluster's
/// `get_bandwidth`): the rate in each direction, and the smoothed
/// end-to-end round trip.
///
/// **What is counted** is application data crossing the node's API, per
/// peer, end to end: a message [`send`](crate::node::Node::send) accepted
/// for the peer, or a [`shout`](crate::node::Node::shout) it was a member
/// for, counts one message and its payload bytes sent; a message from the
/// peer taken with [`poll_event`](crate::node::Node::poll_event) counts one
/// message and its bytes received. Stream bytes taken by
/// [`stream_write`](crate::node::Node::stream_write) and returned by
/// [`stream_read`](crate::node::Node::stream_read) count as bytes only: a
/// stream has no messages. Headers, fragments, retransmissions,
/// acknowledgements, keepalives and traffic this node forwards for others
/// are not counted (see [`Stats`](crate::node::Stats) and
/// [`Node::links`](crate::node::Node::links) for those).
///
/// **Rates** are averages over the last [`TRAFFIC_WINDOW`] (5 s): the node
/// samples each peer's totals on its once-a-second housekeeping timer, at
/// the `now` that timer runs with, and a rate is the growth of a total
/// between the oldest and the newest of the last six samples divided by
/// the time between them, rounded to the nearest unit per second. So a
/// steady flow reads its true rate within a second's worth of samples, a
/// burst is spread over the window, and a peer idle for a whole window
/// reads exactly 0.
///
/// No totals: every [`Event`] is as large as a [`PeerInfo`], and events
/// are moved on every message's way to the application, so the figures
/// carried here are kept to what the rates need.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerTraffic {
    /// Payload bytes received from the peer per second, over the window.
    pub rx_bytes_per_sec: u64,
    /// Payload bytes sent to the peer per second, over the window.
    pub tx_bytes_per_sec: u64,
    /// Messages received from the peer per second, over the window.
    pub rx_msgs_per_sec: u64,
    /// Messages sent to the peer per second, over the window.
    pub tx_msgs_per_sec: u64,
    /// The smoothed end-to-end round trip to the peer (RFC 6298's SRTT, the
    /// one its retransmission timeout is made from): measured on the
    /// acknowledgements of reliable, sequenced and stream data this node
    /// sent to it, never on a retransmitted message (Karn). `None` until
    /// such an acknowledgement has come; then the last estimate, kept while
    /// nothing new is acknowledged.
    pub srtt: Option<core::time::Duration>,
}

/// The window [`PeerTraffic`] rates are averaged over.
pub const TRAFFIC_WINDOW: core::time::Duration = core::time::Duration::from_secs(5);

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
    /// A reliable or sequenced message was acknowledged by its destination
    /// (unless it was sent with [`SendOptions::confirm`](crate::node::SendOptions::confirm)
    /// off).
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
    /// A peer became reachable. (Boxed: every event is as large as its
    /// largest variant, and events are moved several times on their way to
    /// the application; a message should not pay for a peer's record.)
    PeerUp(Box<PeerInfo>),
    /// A reachable peer changed state, headers, groups or route length.
    PeerUpdated(Box<PeerInfo>),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_stays_small() {
        // Each received message is moved as an `Event` several times on
        // its way to the application (inbox, poll, hub, subscriber): a
        // large variant makes every message pay for it.
        let size = core::mem::size_of::<Event>();
        assert!(size <= 96, "Event is {size} bytes");
    }
}
