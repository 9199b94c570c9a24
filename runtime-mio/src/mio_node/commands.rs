//! The node's commands. Each is one input: its outputs are carried out
//! before it returns.

use std::net::SocketAddr;

use bytes::Bytes;
use netcluster_core::node::{CommandError, MessageId, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{NodeId, NodeState};

use netcluster_net::engine::Command;

use super::MioNode;
#[cfg(doc)]
use crate::Builder;
use crate::SendMany;

impl MioNode {
    /// Carries out a `Handle`'s command (not `Shutdown`, which its thread
    /// handles with [`shutdown`](Self::shutdown)).
    pub(crate) fn command(&mut self, c: Command) {
        self.engine.command(&mut self.io, c);
    }

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
        self.engine.send(&mut self.io, to, semantics, payload.into())
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
        self.engine.send_many(&mut self.io, to, semantics, payloads.into_iter().collect())
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// node).
    pub fn shout(
        &mut self,
        group: &str,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, SendError> {
        self.engine.shout(&mut self.io, group, semantics, payload.into())
    }

    /// Measures the round trip to `to` through the mesh: an `Event::Pong`
    /// with the returned id reports it (nothing does if a ping is lost).
    pub fn ping(&mut self, to: NodeId) -> Result<MessageId, SendError> {
        self.engine.ping(&mut self.io, to)
    }

    /// Joins `group`.
    pub fn join(&mut self, group: &str) -> Result<(), CommandError> {
        self.engine.join(&mut self.io, group)
    }

    /// Leaves `group`.
    pub fn leave(&mut self, group: &str) -> Result<(), CommandError> {
        self.engine.leave(&mut self.io, group)
    }

    /// Sets the announced state (use [`shutdown`](Self::shutdown) to leave).
    pub fn set_state(&mut self, state: NodeState) -> Result<(), CommandError> {
        self.engine.set_state(&mut self.io, state)
    }

    /// Sets (or with `None`, removes) one announced attribute.
    pub fn set_header(&mut self, key: &str, value: Option<&str>) -> Result<(), CommandError> {
        self.engine.set_header(&mut self.io, key, value)
    }

    /// Adds a static seed: a link address to connect to, retried forever.
    pub fn add_seed(&mut self, addr: SocketAddr) {
        self.engine.add_seed(&mut self.io, addr);
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
        self.engine.shutdown(&mut self.io);
        self.stopping = Some(std::time::Instant::now() + self.io.opts.shutdown_linger);
    }

    /// Whether a [`shutdown`](Self::shutdown) has finished: every link
    /// flushed and closed, or the linger over.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_some() && self.io.closing.is_empty() && self.engine.has_no_links()
    }
}
