//! # netcluster-async-std
//!
//! The netcluster driver on async-io: binds the sans-IO [`Node`] of
//! `netcluster-core` to real sockets (opened by `netcluster-net`), for
//! programs on async-std, smol, or no executor at all.
//!
//! ```no_run
//! use netcluster_async_std::{Builder, Semantics};
//!
//! fn main() -> Result<(), netcluster_async_std::Error> {
//!     smol::block_on(async {
//!         let handle = Builder::new("demo", "node-a").group("chat").start().await?;
//!         let mut events = handle.events();
//!         handle.shout("chat", Semantics::Reliable, &b"hello"[..]).await?;
//!         while let Some(event) = events.next().await {
//!             println!("{event:?}");
//!         }
//!         Ok(())
//!     })
//! }
//! ```
//!
//! ## Why async-io
//!
//! async-std is discontinued and its networking runs on async-io, as smol's
//! does; a driver on async-io therefore serves both (the crate keeps the
//! `async-std` name for discoverability). The API has the shape of
//! `netcluster-tokio`'s: a program moves between the two by changing an
//! import.
//!
//! ## Threading model
//!
//! async-io has a global reactor but no executor, and the caller may have
//! any executor (or none). [`Builder::start`] therefore opens the sockets,
//! registers them with the reactor, and spawns **one dedicated thread** that
//! owns the node. That thread runs `async_io::block_on` over an
//! `async_executor::LocalExecutor`: the node's loop is one future on it, and
//! each TCP link has a reader task and a writer task on the same executor.
//! Nothing the node does depends on the caller's executor being polled, and
//! nothing is spawned onto it. The [`Handle`] talks to the thread through
//! executor-independent channels, so its async methods work from async-std
//! tasks, smol tasks, or `futures_lite::future::block_on` alike.
//!
//! ## The loop
//!
//! The node's loop follows the core's calling rule: **one input, then every
//! output drained** ([`Node::poll_transmit`] until `None`, then
//! [`Node::poll_event`] until `None`), then **one `async_io::Timer`** re-armed
//! at [`Node::poll_timeout`]. The loop compares `now >= deadline` itself
//! before trusting the timer, since inputs may keep it busy past a deadline.
//! Each wake-up handles a bounded number of datagrams, accepted connections
//! and link messages per source, so no source starves the others, and then
//! yields to the link tasks that share the thread. Each TCP link's writer
//! holds at most [`Builder::write_queue`] frames and
//! [`Builder::write_buffer`] bytes; the rest waits in the node's bounded
//! link queue, so a slow link slows its senders and is never closed for
//! being slow. The writer coalesces what is queued into
//! one system call. In datagram link mode the unicast sockets ask for a
//! large receive buffer ([`Builder::datagram_buffer`]), since fragments of a
//! large message arrive as one burst.
//!
//! Dropping every handle shuts the node down as [`Handle::shutdown`] does.
//!
//! ## Streams
//!
//! [`Handle::open_stream`] opens a byte stream to a peer and
//! [`Handle::accept_stream`] takes one a peer opened: a [`PeerStream`], with
//! the `futures` `AsyncRead` / `AsyncWrite` traits, over the stream bridge
//! of `netcluster-net` (bounded buffers, half-close, drop as finish, reset).
//! Readers and writers wake the node's thread through a channel; the thread
//! moves the bytes between the bridge and the node.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod driver;
mod io;
mod link;
mod streams;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use builder::Builder;
pub use futures_core::Stream;
use netcluster_net::engine::{Command, Reply};
pub use netcluster_net::events::EventStream;
pub use netcluster_net::prelude::*;
pub use streams::PeerStream;

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be opened or configured.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Registering a socket with the async-io reactor failed.
    #[error("cannot register a socket with the async-io reactor: {0}")]
    Runtime(#[source] std::io::Error),
    /// The node's thread could not be started.
    #[error("cannot start the node's thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The node refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The node refused a message (unreachable, window full, too large...).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node refused to open a stream (unreachable, too many...).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The node has stopped (after [`Handle::shutdown`]).
    #[error("the node has stopped")]
    Stopped,
}

/// What the handles share with the node's thread.
pub(crate) struct Shared {
    pub(crate) cmd: async_channel::Sender<Command>,
    pub(crate) hub: Arc<netcluster_net::events::EventHub>,
    /// Wakes the loop for the streams' application sides.
    pub(crate) stream_wake: Arc<streams::StreamWake>,
    pub(crate) running: Arc<AtomicBool>,
    /// One `()` stops the node at once (see [`Handle::abort`]).
    pub(crate) abort: async_channel::Sender<()>,
    /// Streams peers opened, waiting for `accept_stream`.
    pub(crate) accepted: async_channel::Receiver<PeerStream>,
    /// Never sent on: closed when the node's thread ends.
    pub(crate) done: async_channel::Receiver<()>,
    pub(crate) id: NodeId,
    pub(crate) link_addr: SocketAddr,
}

/// A handle to a running node. Cheap to clone; every clone drives the same
/// node. When the last one is dropped, the node shuts down.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.shared.id)
            .field("link_addr", &self.shared.link_addr)
            .finish()
    }
}

impl Handle {
    /// Whether the node's thread still runs.
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// A stream of the node's events from now on (earlier ones are not
    /// replayed: read [`peers`](Self::peers) for the current state).
    pub fn events(&self) -> EventStream {
        EventStream::new(self.shared.hub.subscribe())
    }

    async fn call<T, E>(
        &self,
        make: impl FnOnce(Reply<Result<T, E>>) -> Command,
    ) -> Result<T, Error>
    where
        T: Send + 'static,
        E: Into<Error> + Send + 'static,
    {
        let (tx, rx) = async_channel::bounded(1);
        let reply: Reply<Result<T, E>> = Box::new(move |v| {
            let _ = tx.try_send(v);
        });
        self.shared.cmd.send(make(reply)).await.map_err(|_| Error::Stopped)?;
        rx.recv().await.map_err(|_| Error::Stopped)?.map_err(Into::into)
    }

    netcluster_net::handle_methods!(async);

    /// Opens a byte stream to the node `peer` (one this node can reach);
    /// see [`PeerStream`] for its semantics. Returns once the node has sent
    /// the opening segment: the peer takes the stream with
    /// [`accept_stream`](Self::accept_stream).
    ///
    /// ```no_run
    /// # async fn demo(handle: netcluster_async_std::Handle, peer: netcluster_async_std::NodeId)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use futures_lite::{AsyncReadExt, AsyncWriteExt};
    ///
    /// let mut stream = handle.open_stream(peer).await?;
    /// stream.write_all(b"request").await?;
    /// stream.finish().await?;
    /// let mut answer = Vec::new();
    /// stream.read_to_end(&mut answer).await?;
    /// # Ok(()) }
    /// ```
    pub async fn open_stream(&self, peer: NodeId) -> Result<PeerStream, Error> {
        let io = self.call(|tx| Command::OpenStream(peer, tx)).await?;
        Ok(PeerStream::new(io, Arc::clone(&self.shared.stream_wake)))
    }

    /// The next stream a peer opened, waiting as long as it takes;
    /// `Err(Error::Stopped)` once the node has stopped. Streams wait in a
    /// queue of [`Builder::accept_queue`] (64 by default); one that finds it
    /// full is reset. Several tasks may accept at once: each stream goes to
    /// one of them.
    pub async fn accept_stream(&self) -> Result<PeerStream, Error> {
        self.shared.accepted.recv().await.map_err(|_| Error::Stopped)
    }

    /// Runs `f` on the node's thread with the node as it is between two
    /// inputs, and returns its result: a consistent view of anything the
    /// node exposes (peers, routes, counters, groups). `f` blocks the node
    /// while it runs, so keep it short.
    ///
    /// ```no_run
    /// # async fn demo(handle: netcluster_async_std::Handle) -> Result<(), netcluster_async_std::Error> {
    /// let sent = handle.query(|node| node.stats().datagrams_sent).await?;
    /// # Ok(()) }
    /// ```
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = async_channel::bounded(1);
        let run = Box::new(move |node: &Node| {
            let _ = tx.try_send(f(node));
        });
        self.shared.cmd.send(Command::Query(run)).await.map_err(|_| Error::Stopped)?;
        rx.recv().await.map_err(|_| Error::Stopped)
    }

    /// Stops the node at once, as a crash would: no EXIT beacon, no
    /// GOODBYE, nothing flushed. Its sockets close as the thread's
    /// resources are dropped, and peers find out by themselves (a link that
    /// drops without a GOODBYE, keepalives that stop), reporting the node
    /// down as timed out. Meant for demonstrations and tests of failure
    /// detection; use [`shutdown`](Self::shutdown) to leave. Returns at
    /// once; [`is_running`](Self::is_running) turns false when the thread
    /// has ended.
    pub fn abort(&self) {
        tracing::info!(id = %self.shared.id.as_uuid(), "node aborted");
        // Full: an abort is already pending. Closed: the node has stopped.
        let _ = self.shared.abort.try_send(());
    }

    /// Leaves the mesh cleanly and stops the node: the EXIT beacon and a
    /// GOODBYE on every link are written (waiting up to the
    /// [shutdown linger](Builder::shutdown_linger)), then the thread ends.
    /// Returns once it has; calling it again, or on a stopped node, returns
    /// at once.
    pub async fn shutdown(&self) {
        // A closed channel means the thread is already gone or going.
        let _ = self.shared.cmd.send(Command::Shutdown(Box::new(|()| {}))).await;
        // Nothing is ever sent on `done`: this returns when it closes.
        let _ = self.shared.done.recv().await;
    }
}
