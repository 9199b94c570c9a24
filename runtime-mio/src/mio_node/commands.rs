//! The node's commands. Each is one input: its outputs are carried out
//! before it returns.

use std::net::SocketAddr;

use bytes::Bytes;
use netcluster_core::node::{CommandError, LinkId, MessageId, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{NodeId, NodeState};

use super::MioNode;
#[cfg(doc)]
use crate::Builder;
use crate::SendMany;

impl MioNode {
    /// Sends `payload` to the node `to` with the given semantics. Reliable
    /// and Sequenced messages are reported later as `Event::Delivered` or
    /// `Event::SendFailed` with the returned id; a full window is refused
    /// with `SendError::WouldBlock` until `Event::Writable`.
    pub fn send(
        &mut self,
        to: NodeId,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, SendError> {
        let now = self.now();
        let r = self.hub.send(&mut self.node, now, to, semantics, payload.into());
        self.drain();
        r
    }

    /// Sends several messages to `to`, in order, stopping at the first one
    /// the node refuses: the ids of those accepted (the first `ids.len()`
    /// payloads), and why the next was refused, if one was. The node's
    /// outputs are carried out once, after the last message.
    pub fn send_many(
        &mut self,
        to: NodeId,
        semantics: Semantics,
        payloads: impl IntoIterator<Item = Bytes>,
    ) -> SendMany {
        let now = self.now();
        let r =
            self.hub.send_many(&mut self.node, now, to, semantics, payloads.into_iter().collect());
        self.drain();
        r
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// node).
    pub fn shout(
        &mut self,
        group: &str,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, SendError> {
        let r = self.node.shout(self.now(), group, semantics, payload.into());
        self.drain();
        r
    }

    /// Measures the round trip to `to` through the mesh: an `Event::Pong`
    /// with the returned id reports it (nothing does if a ping is lost).
    pub fn ping(&mut self, to: NodeId) -> Result<MessageId, SendError> {
        let r = self.node.ping(self.now(), to);
        self.drain();
        r
    }

    /// Joins `group`.
    pub fn join(&mut self, group: &str) -> Result<(), CommandError> {
        let r = self.node.join(self.now(), group);
        self.drain();
        r
    }

    /// Leaves `group`.
    pub fn leave(&mut self, group: &str) -> Result<(), CommandError> {
        let r = self.node.leave(self.now(), group);
        self.drain();
        r
    }

    /// Sets the announced state (use [`shutdown`](Self::shutdown) to leave).
    pub fn set_state(&mut self, state: NodeState) -> Result<(), CommandError> {
        let r = self.node.set_state(self.now(), state);
        self.drain();
        r
    }

    /// Sets (or with `None`, removes) one announced attribute.
    pub fn set_header(&mut self, key: &str, value: Option<&str>) -> Result<(), CommandError> {
        let r = self.node.set_header(self.now(), key, value);
        self.drain();
        r
    }

    /// Adds a static seed: a link address to connect to, retried forever.
    pub fn add_seed(&mut self, addr: SocketAddr) {
        self.node.add_seed(self.now(), addr);
        self.drain();
    }

    /// Starts leaving the mesh cleanly: the EXIT beacon and a GOODBYE on
    /// every link are sent, and links are flushed and closed. Keep calling
    /// the node until [`is_stopped`](Self::is_stopped); the
    /// [shutdown linger](Builder::shutdown_linger) bounds the wait. Calling
    /// it again does nothing.
    pub fn shutdown(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        tracing::info!("shutting down");
        self.node.shutdown(self.now());
        self.drain();
        // Links still open after the node's own closes (none expected).
        let open: Vec<LinkId> = self.links.keys().copied().collect();
        for link in open {
            self.close(link);
        }
        self.stopping = Some(std::time::Instant::now() + self.opts.shutdown_linger);
    }

    /// Whether a [`shutdown`](Self::shutdown) has finished: every link
    /// flushed and closed, or the linger over.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_some() && self.links.is_empty()
    }
}
