//! Streams between peers on the application's side: [`PeerStream`] (the
//! `futures` `AsyncRead` / `AsyncWrite` traits over the shared bridge of
//! `netcluster-net`), and how a stream's reader or writer wakes the node's
//! loop.

use std::collections::BTreeSet;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use netcluster_core::node::{StreamEnd, StreamId};
use netcluster_core::NodeId;
use netcluster_net::streams::StreamIo;

/// How the application's side of the streams reaches the node's loop.
pub(crate) struct StreamWake {
    /// One `()` asks the loop for a turn; a full channel already has.
    nudge: async_channel::Sender<()>,
    /// Streams read from since the loop last looked. The bridge asks for a
    /// refill only when one read takes its buffer from full to below half,
    /// so reads in smaller pieces would leave bytes in the node with no
    /// event to move them; the loop serves these streams again instead.
    read_from: Mutex<BTreeSet<StreamId>>,
}

impl StreamWake {
    pub(crate) fn new(nudge: async_channel::Sender<()>) -> StreamWake {
        StreamWake { nudge, read_from: Mutex::new(BTreeSet::new()) }
    }

    /// Asks the loop for a turn.
    pub(crate) fn wake(&self) {
        // Closed: the node has stopped and has nothing left to serve.
        let _ = self.nudge.try_send(());
    }

    /// The streams read from since the last call.
    pub(crate) fn take_read_from(&self) -> BTreeSet<StreamId> {
        std::mem::take(&mut *self.read_from.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn read_from(&self, id: StreamId) {
        let first = {
            let mut ids = self.read_from.lock().unwrap_or_else(|p| p.into_inner());
            let first = ids.is_empty();
            ids.insert(id);
            first
        };
        if first {
            self.wake();
        }
    }
}

/// A byte stream to one peer, through the mesh: opened by
/// [`Handle::open_stream`](crate::Handle::open_stream), or opened by a peer
/// and taken with [`Handle::accept_stream`](crate::Handle::accept_stream).
///
/// It implements the `futures` [`AsyncRead`] and [`AsyncWrite`] traits
/// (use them through `futures_lite::{AsyncReadExt, AsyncWriteExt}` or the
/// `futures` crate's), also through `&PeerStream`, so one task may read
/// while another writes. It works under any executor: the node's own
/// thread moves the bytes.
///
/// - **Half-close**: [`finish`](Self::finish) (or `AsyncWrite::poll_close`,
///   i.e. `close().await`) ends the writing direction after the bytes
///   written; the peer reads the end (`Ok(0)`), and both sides may still
///   read what the other sends.
/// - **Drop** finishes the stream the same way (after the bytes already
///   written), and whatever the peer still sends is discarded.
/// - **Reset**: [`reset`](Self::reset) aborts both directions at once; the
///   peer's reads and writes then fail with
///   [`io::ErrorKind::ConnectionReset`].
/// - **Backpressure**: each direction is buffered up to
///   [`STREAM_BUFFER`](netcluster_net::streams::STREAM_BUFFER) bytes on this
///   side plus the node's own stream buffer and window; past that, writes
///   wait until the peer reads.
/// - A stream whose bytes cannot be delivered (the peer went away) fails:
///   reads and writes return [`io::ErrorKind::TimedOut`] or
///   [`io::ErrorKind::ConnectionAborted`] (also when the node stops).
pub struct PeerStream {
    io: StreamIo,
    wake: Arc<StreamWake>,
}

impl std::fmt::Debug for PeerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStream")
            .field("id", &self.io.id())
            .field("peer", &self.io.peer())
            .finish()
    }
}

impl PeerStream {
    pub(crate) fn new(io: StreamIo, wake: Arc<StreamWake>) -> PeerStream {
        PeerStream { io, wake }
    }

    /// The peer at the other end.
    pub fn peer(&self) -> NodeId {
        self.io.peer()
    }

    /// The stream's id in the node (as in `Event::StreamOpened` and
    /// `Event::StreamClosed`).
    pub fn id(&self) -> StreamId {
        self.io.id()
    }

    /// Half-closes the stream: the peer reads the end after every byte
    /// written so far. Returns once the node has taken the last byte and
    /// the end; reading goes on. An error if the stream was reset or failed
    /// first.
    pub async fn finish(&self) -> io::Result<()> {
        std::future::poll_fn(|cx| self.io.poll_finish(cx)).await
    }

    /// Aborts the stream: bytes not yet sent or read are dropped and the
    /// peer sees a reset.
    pub fn reset(&self) {
        self.io.reset();
    }

    /// How the stream ended, once it has: `Finished` when both sides
    /// finished and every byte was read; `Reset`; or `Failed`.
    pub fn ended(&self) -> Option<StreamEnd> {
        self.io.ended()
    }

    fn poll_read_into(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let r = self.io.poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            if n > 0 {
                self.wake.read_from(self.io.id());
            }
        }
        r
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_into(cx, buf)
    }
}

impl AsyncRead for &PeerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_read_into(cx, buf)
    }
}

impl AsyncWrite for &PeerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }

    /// Ready once every byte written has been handed to the node (not once
    /// the peer has it).
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    /// Half-closes the stream, as [`PeerStream::finish`] does.
    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_finish(cx)
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

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_finish(cx)
    }
}
