//! # netcluster-tokio
//!
//! The netcluster driver on tokio: binds the sans-IO [`Node`] of
//! `netcluster-core` to real sockets (opened by `netcluster-net`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), netcluster_tokio::Error> {
//! use netcluster_tokio::Builder;
//!
//! let handle = Builder::new("demo", "node-a").group("workers").start().await?;
//! let mut events = handle.events();
//! while let Some(event) = events.next().await {
//!     println!("{event:?}");
//! #   break;
//! }
//! handle.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! [`Builder::start`] spawns one task that owns the node, its sockets and
//! its one timer, and returns a cloneable [`Handle`]. The task follows the
//! node's calling rule: one input, then every output drained, then the timer
//! re-armed at [`Node::poll_timeout`]. It reads at most a bounded number of
//! datagrams and link messages per wake-up so that no source starves the
//! others. Each TCP link has a reader task and a writer task; the engine
//! hands the writer frames only while it holds less than
//! [`Builder::write_queue`] frames and [`Builder::write_buffer`] bytes, so a
//! slow link keeps its data in the node's bounded link queue, slows its
//! senders, and is never closed for being slow.
//!
//! Dropping every handle shuts the node down as [`Handle::shutdown`] does.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod stream;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, watch};

pub use futures_core::Stream;
pub use stream::PeerStream;

use netcluster_net::streams::StreamIo;

pub use netcluster_net::events::EventStream;
pub use netcluster_net::prelude::*;

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be opened or configured.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Wrapping a socket in tokio failed (no runtime, or the reactor
    /// refused it).
    #[error("cannot register a socket with tokio: {0}")]
    Runtime(#[source] std::io::Error),
    /// The node refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The node refused a message (unreachable, window full, too large...).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node has stopped (after [`Handle::shutdown`]).
    #[error("the node has stopped")]
    Stopped,
    /// The node refused a stream operation (peer unreachable, too many
    /// streams...).
    #[error(transparent)]
    Stream(#[from] StreamError),
}

/// Builds and starts a node.
#[derive(Debug, Clone)]
pub struct Builder {
    settings: net::NodeSettings,
}

/// Driver limits.
pub(crate) type Options = net::DriverLimits;

impl Builder {
    fn from_settings(settings: net::NodeSettings) -> Builder {
        Builder { settings }
    }

    netcluster_net::builder_methods!(events = "EventStream");

    /// Opens the sockets and spawns the node's task on the current tokio
    /// runtime.
    pub async fn start(self) -> Result<Handle, Error> {
        driver::start(self).await
    }
}

use netcluster_net::engine::{Command, Reply};

pub(crate) struct Shared {
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) hub: Arc<netcluster_net::events::EventHub>,
    pub(crate) done: watch::Receiver<bool>,
    pub(crate) id: NodeId,
    pub(crate) link_addr: SocketAddr,
    pub(crate) task: tokio::task::AbortHandle,
    /// Streams peers opened, waiting for `accept_stream`.
    pub(crate) accept: tokio::sync::Mutex<mpsc::Receiver<StreamIo>>,
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
    /// Whether the node's task still runs.
    pub fn is_running(&self) -> bool {
        !*self.shared.done.borrow()
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
        let (tx, rx) = oneshot::channel();
        let reply: Reply<Result<T, E>> = Box::new(move |v| {
            let _ = tx.send(v);
        });
        self.shared.cmd.send(make(reply)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?.map_err(Into::into)
    }

    netcluster_net::handle_methods!(async);

    /// Opens a stream to `peer` (see [`PeerStream`]). The peer takes it
    /// with [`accept_stream`](Self::accept_stream).
    pub async fn open_stream(&self, peer: NodeId) -> Result<PeerStream, Error> {
        self.call(|tx| Command::OpenStream(peer, tx)).await.map(PeerStream::new)
    }

    /// The next stream a peer opened to this node. Streams wait in a
    /// queue ([`Builder::accept_queue`], 64 by default); past it a new
    /// stream is reset (and a warning logged).
    /// Returns [`Error::Stopped`] once the node has stopped.
    pub async fn accept_stream(&self) -> Result<PeerStream, Error> {
        let mut rx = self.shared.accept.lock().await;
        rx.recv().await.map(PeerStream::new).ok_or(Error::Stopped)
    }

    /// Runs `f` on the node's task with the node as it is between two
    /// inputs, and returns its result: a consistent view of anything the
    /// node exposes (peers, routes, counters, groups). `f` blocks the node
    /// while it runs, so keep it short.
    ///
    /// ```no_run
    /// # async fn demo(handle: netcluster_tokio::Handle) -> Result<(), netcluster_tokio::Error> {
    /// let sent = handle.query(|node| node.stats().datagrams_sent).await?;
    /// # Ok(()) }
    /// ```
    pub async fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |node: &Node| {
            let _ = tx.send(f(node));
        });
        self.shared.cmd.send(Command::Query(run)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Stops the node's task at once, as a crash would: no EXIT beacon, no
    /// GOODBYE, nothing flushed. Its sockets close as the task's resources
    /// are dropped, and peers find out by themselves (a link that drops
    /// without a GOODBYE, keepalives that stop), reporting the node down as
    /// timed out. Meant for demonstrations and tests of failure detection;
    /// use [`shutdown`](Self::shutdown) to leave.
    pub fn abort(&self) {
        tracing::info!(id = %self.shared.id.as_uuid(), "node aborted");
        self.shared.task.abort();
    }

    /// Leaves the mesh cleanly and stops the node: the EXIT beacon and a
    /// GOODBYE on every link are written (waiting up to the
    /// [shutdown linger](Builder::shutdown_linger)), then the task ends.
    /// Returns once it has; calling it again, or on a stopped node, returns
    /// at once.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        let reply: Reply<()> = Box::new(move |()| {
            let _ = tx.send(());
        });
        if self.shared.cmd.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = rx.await;
        }
        let mut done = self.shared.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}
