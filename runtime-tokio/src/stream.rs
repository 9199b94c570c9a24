//! Streams between peers as tokio `AsyncRead` / `AsyncWrite`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use netcluster_core::node::StreamEnd;
use netcluster_core::NodeId;
use netcluster_net::streams::StreamIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream to or from a peer: an ordered, reliable byte stream through
/// the mesh, opened with [`Handle::open_stream`](crate::Handle::open_stream)
/// or taken with [`Handle::accept_stream`](crate::Handle::accept_stream).
///
/// - Reads return 0 at the end: the peer finished its side.
/// - [`shutdown`](tokio::io::AsyncWriteExt::shutdown) (or
///   [`finish`](Self::finish)) half-closes: the peer reads the end after
///   every byte written, and this side can still read.
/// - Dropping the stream finishes it after the bytes already written;
///   what the peer still sends is discarded.
/// - [`reset`](Self::reset) aborts it: the peer's reads and writes fail
///   with `ConnectionReset`.
/// - Writes wait while the stream's buffers are full (the peer reads
///   slowly, or the path is slow): backpressure, with bounded memory.
#[derive(Debug)]
pub struct PeerStream {
    io: StreamIo,
}

impl PeerStream {
    pub(crate) fn new(io: StreamIo) -> PeerStream {
        PeerStream { io }
    }

    /// The peer at the other end.
    pub fn peer(&self) -> NodeId {
        self.io.peer()
    }

    /// Half-closes the stream (as `shutdown`): returns once the node has
    /// queued the end after every byte written.
    pub async fn finish(&mut self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.io.poll_finish(cx)).await
    }

    /// Aborts the stream at once.
    pub fn reset(&self) {
        self.io.reset();
    }

    /// How the stream ended, once it has.
    pub fn ended(&self) -> Option<StreamEnd> {
        self.io.ended()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let dst = buf.initialize_unfilled();
        match self.io.poll_read(cx, dst) {
            Poll::Ready(Ok(n)) => {
                buf.advance(n);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_finish(cx)
    }
}
