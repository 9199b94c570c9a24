//! What the caller must carry out: datagrams, connects, writes, closes.

use core::net::SocketAddr;

use bytes::Bytes;

use super::LinkId;

/// Where a datagram goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramTarget {
    /// To the beacon group: every multicast group (or broadcast address) the
    /// driver is configured for.
    Beacon,
    /// To one address.
    Unicast(SocketAddr),
}

/// Where a received datagram came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramSource {
    /// On the beacon socket (multicast or broadcast).
    Beacon,
    /// On a unicast socket.
    Unicast,
}

/// Something the caller must carry out. Drain with
/// [`Node::poll_transmit`](crate::node::Node::poll_transmit) after every input.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a transmit must be carried out"]
pub enum Transmit {
    /// Send a datagram.
    Datagram {
        /// Destination.
        to: DatagramTarget,
        /// The bytes, one whole datagram.
        data: Bytes,
    },
    /// Open a stream link to `addr` and report the result with
    /// [`Node::link_connected`](crate::node::Node::link_connected) or
    /// [`Node::link_closed`](crate::node::Node::link_closed).
    Connect {
        /// The handle the core will use for this link.
        link: LinkId,
        /// Where to connect.
        addr: SocketAddr,
    },
    /// Frames wait for stream link `link`: pull them with
    /// [`Node::poll_link`](crate::node::Node::poll_link) while the link's
    /// socket takes more, and write them in order. Said once, when the
    /// link's queue stops being empty; again only after `poll_link` has
    /// returned `None`.
    Ready {
        /// The link.
        link: LinkId,
    },
    /// Close a stream link once everything pulled from it is written
    /// (it comes after the link's last frame has been pulled).
    Close {
        /// The link.
        link: LinkId,
    },
}

/// Why a link ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCloseReason {
    /// The other side closed it (EOF or GOODBYE).
    Remote,
    /// A connect attempt failed.
    ConnectFailed,
    /// An I/O error.
    Error,
}
