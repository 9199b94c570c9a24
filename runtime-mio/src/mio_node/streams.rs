//! The node's streams: opened and accepted here, served through the shared
//! bridge on every turn of the loop.

use std::sync::Arc;

use netcluster_core::node::{Event, StreamError};
use netcluster_core::NodeId;
use netcluster_core::{Instant, Node};
use netcluster_net::streams::{StreamBridge, StreamIo};

use super::MioNode;
use crate::streams::{AcceptQueue, PeerStream};

impl MioNode {
    /// Opens a stream to `peer` (a node this one can reach). The peer's
    /// application takes it from its accept queue.
    ///
    /// The stream's reads and writes block until this node's loop moves
    /// the bytes: use it from another thread than the loop's, and give the
    /// node the loop's waker ([`set_stream_waker`](Self::set_stream_waker))
    /// so that those threads can wake the loop.
    pub fn open_stream(&mut self, peer: NodeId) -> Result<PeerStream, StreamError> {
        let now = self.now();
        let r = self.streams.open(&mut self.node, now, peer);
        self.drain();
        Ok(PeerStream::new(r?))
    }

    /// The oldest stream a peer opened that is not yet taken, if any. Up to
    /// [`Builder::accept_queue`](crate::Builder::accept_queue) streams wait;
    /// past that, a new stream is reset and a warning logged.
    pub fn accept_stream(&mut self) -> Option<PeerStream> {
        self.accepted.try_pop()
    }

    /// The waker of the caller's poll (any token): the node wakes it when a
    /// thread reading, writing, finishing, resetting or dropping one of its
    /// streams needs the loop, which then serves the stream at its next
    /// [`handle_deadline`](Self::handle_deadline). Without one, streams are
    /// served only when the loop turns for other reasons (at the latest at
    /// [`poll_timeout`](Self::poll_timeout)), which makes them slow.
    pub fn set_stream_waker(&mut self, waker: Arc<mio::Waker>) {
        self.stream_wake.set_waker(waker);
    }

    pub(crate) fn accept_queue(&self) -> Arc<AcceptQueue> {
        Arc::clone(&self.accepted)
    }

    /// Moves what the application's side of the streams asked for.
    pub(super) fn serve_streams(&mut self) {
        self.stream_wake.clear();
        let now = self.now();
        self.streams.service_pending(&mut self.node, now);
        self.drain();
    }
}

/// Hands one of the node's events to the bridge; a stream a peer opened
/// goes to the accept queue. Returns whether the application should see the
/// event too: readiness of a stream is the bridge's business, the stream's
/// opening and end are news.
pub(super) fn stream_event(
    bridge: &mut StreamBridge,
    accepted: &AcceptQueue,
    node: &mut Node,
    now: Instant,
    event: &Event,
) -> bool {
    if let Some(io) = bridge.on_event(node, now, event) {
        incoming(accepted, io);
    }
    !matches!(event, Event::StreamReadable { .. } | Event::StreamWritable { .. })
}

fn incoming(accepted: &AcceptQueue, io: StreamIo) {
    let s = PeerStream::new(io);
    if let Err(s) = accepted.push(s) {
        tracing::warn!(
            stream = ?s.id(),
            peer = %s.peer().as_uuid(),
            "accept queue full (or node stopping); stream reset"
        );
        s.reset();
    }
}
