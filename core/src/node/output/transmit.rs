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
    /// Write bytes to a stream link, in order.
    Write {
        /// The link.
        link: LinkId,
        /// The bytes (one or more whole frames).
        data: Bytes,
    },
    /// Close a link once the writes queued before this are flushed.
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
