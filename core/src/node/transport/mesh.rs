//! What the transport reaches of the rest of the node during one call.
//!
//! The transport owns its channels, windows and streams; everything else
//! it needs is lent for the length of one call as a [`Mesh`]: the
//! configuration, this node's id and groups, the routes SPF computed, the
//! links to send on (read only) and the output sink. It never sees the
//! handshake, the database or the overlay.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;

use bytes::Bytes;

use super::super::links::{link_send, Class, Link};
use super::super::output::{LinkId, Outputs};
use super::super::routing::RouteEntry;
use crate::config::{Config, LinkMode};
use crate::wire::link::Route;
use crate::wire::{Frame, LinkMessage, NodeId};

/// The largest stream segment (see [`Mesh::stream_segment_size`]).
pub(super) const STREAM_SEGMENT: usize = 8 * 1024;

/// The rest of the node as the transport sees it, for one call.
pub(in crate::node) struct Mesh<'a> {
    pub(in crate::node) cfg: &'a Config,
    /// This node.
    pub(in crate::node) me: NodeId,
    /// The groups this node is in: group DATA down a tree is taken only by
    /// members.
    pub(in crate::node) groups: &'a BTreeSet<String>,
    /// The routes of the last SPF run.
    pub(in crate::node) routes: &'a BTreeMap<NodeId, RouteEntry>,
    pub(in crate::node) links: &'a BTreeMap<LinkId, Link>,
    pub(in crate::node) out: &'a mut Outputs,
    /// The node is leaving: nothing new is accepted.
    pub(in crate::node) shutting_down: bool,
}

impl Mesh<'_> {
    /// Whether SPF has a route to `to`.
    pub(super) fn reachable(&self, to: &NodeId) -> bool {
        self.routes.contains_key(to)
    }

    /// The current SPF path to `to` as a source route (this node first).
    pub(super) fn path_route(&self, to: &NodeId) -> Option<Route> {
        self.routes.get(to)?.route.clone()
    }

    /// The up link to neighbour `peer`.
    pub(super) fn link_to(&self, peer: &NodeId) -> Option<LinkId> {
        self.links.values().find(|l| l.is_up() && l.peer.as_ref() == Some(peer)).map(|l| l.id)
    }

    /// The link the route to `to` starts on.
    pub(super) fn first_link(&self, to: &NodeId) -> Option<LinkId> {
        self.link_to(&self.routes.get(to)?.next_hop)
    }

    /// The largest stream segment: at most [`STREAM_SEGMENT`] bytes, so
    /// that a stream's window (counted in segments) holds the same memory
    /// whatever the fragment size.
    pub(super) fn stream_segment_size(&self) -> usize {
        self.fragment_size().min(STREAM_SEGMENT)
    }

    /// The largest DATA payload per frame.
    pub(super) fn fragment_size(&self) -> usize {
        match self.cfg.link_mode {
            LinkMode::Stream => self.cfg.fragment_size,
            // The documented cap of datagram links (PROTOCOL 5.3): a frame
            // stays within one unfragmented UDP datagram; with a keyring,
            // the record around it (34 bytes) comes out of it.
            LinkMode::Datagram if self.cfg.keyring.is_some() => {
                self.cfg.fragment_size.min(1100 - crate::wire::link::SEALED_OVERHEAD)
            }
            LinkMode::Datagram => self.cfg.fragment_size.min(1100),
        }
    }

    /// Queues an encoded DATA frame on `link`. Data waits behind every
    /// control frame the caller has not taken yet (keepalive, routing,
    /// ACK...), so a burst of data never delays them by more than what the
    /// caller already holds.
    ///
    /// This node's own DATA is not marked for congestion: its sends are
    /// already held back by the queue's bound (`WouldBlock`), and a mark
    /// would halve the window of a source whose only bottleneck is its own
    /// socket.
    pub(super) fn send_data(&mut self, link: LinkId, data: Bytes, priority: u8) {
        link_send(self.links, self.out, link, data, Class::Data { priority, forwarded: false });
    }

    /// Queues DATA passing through on `link`: dropped (and counted) when
    /// the link's queue is full, marked past its threshold.
    pub(super) fn forward_data(&mut self, link: LinkId, data: Bytes, priority: u8) {
        link_send(self.links, self.out, link, data, Class::Data { priority, forwarded: true });
    }

    /// Queues an encoded control frame (ACK, ROUTE_ERROR) on `link`.
    pub(super) fn send_control(&mut self, link: LinkId, data: Bytes) {
        link_send(self.links, self.out, link, data, Class::Control);
    }

    /// Encodes a control message and queues it on `link`.
    pub(super) fn send_message(&mut self, link: LinkId, msg: LinkMessage) {
        self.send_frame(link, Frame::new(msg));
    }

    /// Encodes a control frame and queues it on `link`.
    pub(super) fn send_frame(&mut self, link: LinkId, frame: Frame) {
        match frame.to_bytes() {
            Ok(data) => self.send_control(link, data),
            Err(_) => self.out.stats.dropped_limit += 1,
        }
    }
}
