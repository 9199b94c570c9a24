//! The per-link view: each link with its peer and what its output queue
//! holds and has done (PROTOCOL 7.15), for tools and tests.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use super::super::output::{LinkId, LinkQueueStats};
use super::super::Node;
use super::Carrier;
use crate::config::LinkMode;
use crate::wire::NodeId;

/// One link as [`Node::links`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkInfo {
    /// The link.
    pub id: LinkId,
    /// The peer, once its HELLO or WELCOME said who it is.
    pub peer: Option<NodeId>,
    /// The remote address: the one dialled, or the one accepted from.
    pub addr: SocketAddr,
    /// How it carries frames: a byte stream, or datagrams.
    pub kind: LinkMode,
    /// This node opened it.
    pub outgoing: bool,
    /// The handshake is done: it carries routing and data.
    pub up: bool,
    /// Frames in its output queue now, control frames included. Datagram
    /// links have no queue (their frames go out as they are made): 0.
    pub queued_frames: usize,
    /// Bytes in its output queue now, control frames included.
    pub queued_bytes: usize,
    /// DATA bytes in its output queue now: what `link_queue_bytes` bounds.
    pub queued_data_bytes: usize,
    /// What the queue has done: DATA dropped for lack of room, DATA marked
    /// congestion-experienced, the most DATA bytes it held at once.
    pub queue: LinkQueueStats,
    /// The shortest keepalive round trip seen on the link (PING to PONG,
    /// PROTOCOL 7.5): pings go only when the link is idle, so a busy link
    /// may have none.
    pub min_rtt: Option<Duration>,
    /// The link runs over a Noise session: every frame is sealed
    /// (PROTOCOL 12). False until the handshake completes.
    pub encrypted: bool,
}

impl Node {
    /// Every link, up or still in its handshake, in id order, with its
    /// queue's figures now. O(links) per call: for tools, not for a hot
    /// loop.
    pub fn links(&self) -> Vec<LinkInfo> {
        self.links
            .values()
            .map(|l| {
                let q = self.out.link_queues.get(&l.id);
                LinkInfo {
                    id: l.id,
                    peer: l.peer,
                    addr: l.addr,
                    kind: match l.carrier {
                        Carrier::Stream { .. } => LinkMode::Stream,
                        Carrier::Datagram(_) => LinkMode::Datagram,
                    },
                    outgoing: l.outgoing,
                    up: l.is_up(),
                    queued_frames: q.map_or(0, |q| q.frames()),
                    queued_bytes: q.map_or(0, |q| q.bytes()),
                    queued_data_bytes: q.map_or(0, |q| q.data_bytes()),
                    queue: q.map(|q| q.stats).unwrap_or_default(),
                    min_rtt: l.best_rtt,
                    encrypted: self.out.ciphers.contains_key(&l.id),
                }
            })
            .collect()
    }
}
