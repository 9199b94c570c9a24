//! The node's streams: opened and accepted here, served through the shared
//! bridge on every turn of the loop.

use std::sync::Arc;

use netcluster_core::node::StreamError;
use netcluster_core::NodeId;

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
        self.engine.open_stream(&mut self.io, peer).map(PeerStream::new)
    }

    /// The oldest stream a peer opened that is not yet taken, if any. Up to
    /// [`Builder::accept_queue`](crate::Builder::accept_queue) streams wait;
    /// past that, a new stream is reset and a warning logged.
    pub fn accept_stream(&mut self) -> Option<PeerStream> {
        self.io.accepted.try_pop()
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
        Arc::clone(&self.io.accepted)
    }

    /// Moves what the application's side of the streams asked for.
    pub(super) fn serve_streams(&mut self) {
        self.stream_wake.clear();
        self.engine.serve_streams(&mut self.io, []);
    }
}
