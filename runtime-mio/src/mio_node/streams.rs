//! The node's streams: opened and accepted here, served through the shared
//! bridge on every turn of the loop.

use std::sync::Arc;

use netcluster_core::node::{Event, StreamError};
use netcluster_core::NodeId;
use netcluster_net::streams::StreamIo;

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
        let io = r?;
        self.stream_ids.insert(io.id());
        Ok(PeerStream::new(io, Arc::clone(&self.stream_wake)))
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

    /// Moves what the application's side of the streams asked for, then
    /// serves every open stream once more. The shared bridge can leave a
    /// stream waiting with no event to come: after a write the node took
    /// only in part (the node signals room only after refusing a write
    /// outright), or after reads that each took less than half of a full
    /// buffer (it asks for a refill only when one read does). Serving every
    /// stream on each turn moves those bytes at the next turn: while bytes
    /// are in flight, acknowledgements turn the loop, and a read wakes it.
    pub(super) fn serve_streams(&mut self) {
        self.stream_wake.clear();
        let now = self.now();
        self.streams.service_pending(&mut self.node, now);
        let node = &self.node;
        self.stream_ids.retain(|id| node.stream_peer(*id).is_some());
        for &stream in &self.stream_ids {
            self.streams.on_event(&mut self.node, now, &Event::StreamWritable { stream });
        }
        self.drain();
    }

    /// Hands one of the node's events to the bridge. Returns whether the
    /// application should see it too: readiness of a stream is the
    /// bridge's business, the stream's opening and end are news.
    pub(super) fn stream_event(&mut self, event: &Event) -> bool {
        let now = self.now();
        if let Some(io) = self.streams.on_event(&mut self.node, now, event) {
            self.stream_ids.insert(io.id());
            self.incoming(io);
        }
        if let Event::StreamClosed { stream, .. } = event {
            self.stream_ids.remove(stream);
        }
        !matches!(event, Event::StreamReadable { .. } | Event::StreamWritable { .. })
    }

    fn incoming(&mut self, io: StreamIo) {
        let s = PeerStream::new(io, Arc::clone(&self.stream_wake));
        if let Err(s) = self.accepted.push(s) {
            tracing::warn!(
                stream = ?s.id(),
                peer = %s.peer().as_uuid(),
                "accept queue full (or node stopping); stream reset"
            );
            s.reset();
        }
    }
}
