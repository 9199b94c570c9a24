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
//! others. Each TCP link has a reader task and a writer task with a bounded
//! queue; a link whose queue overflows is closed (its peer stays reachable
//! through other routes while the overlay repairs itself).
//!
//! Dropping every handle shuts the node down as [`Handle::shutdown`] does.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod driver;
mod stream;

use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

pub use bytes::Bytes;
pub use futures_core::Stream;
pub use netcluster_core as core;
pub use stream::PeerStream;

use netcluster_net::streams::StreamIo;

pub use netcluster_core::node::{
    CommandError, DownReason, Event, FailReason, MessageId, PeerInfo, SendError, StreamEnd,
    StreamError,
};
pub use netcluster_core::wire::link::Semantics;
pub use netcluster_core::{Config, LinkMode, Node, NodeId, NodeState};
pub use netcluster_net as net;
pub use netcluster_net::{BeaconMode, InterfaceSelector, NetError};

/// What [`Handle::send_many`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMany {
    /// Ids of the messages accepted, in order: the first `ids.len()`
    /// payloads.
    pub ids: Vec<MessageId>,
    /// Why the next payload was refused (none after it was tried), if one
    /// was.
    pub refused: Option<SendError>,
}

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
    config: Config,
    net: net::NetConfig,
    advertise: Option<SocketAddr>,
    incarnation: Option<u64>,
    node_id: Option<NodeId>,
    rng_seed: Option<u64>,
    opts: Options,
}

/// Driver limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) event_capacity: usize,
    pub(crate) write_queue: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_reads_per_wake: usize,
    pub(crate) shutdown_linger: Duration,
}

impl Builder {
    /// A node of `cluster` named `name`, with the [`Config::lan`] preset,
    /// IPv4 and IPv6 multicast beacons on every interface, and stream links
    /// on port 7400 of every address.
    pub fn new(cluster: impl Into<String>, name: impl Into<String>) -> Builder {
        Builder::with_config(Config::lan(cluster, name))
    }

    /// A node with `config` (start from [`Config::lan`] or [`Config::wan`]).
    /// Its `link_addr` gives the link port, and if its IP is specified, the
    /// advertised address; its `link_mode` the link mode; a config with
    /// `beacons` off opens no beacon socket.
    pub fn with_config(config: Config) -> Builder {
        let net = net::NetConfig {
            link_port: config.link_addr.port(),
            link_mode: config.link_mode,
            beacons: if config.beacons { BeaconMode::multicast() } else { BeaconMode::Off },
            ..net::NetConfig::default()
        };
        let advertise =
            if config.link_addr.ip().is_unspecified() { None } else { Some(config.link_addr) };
        Builder {
            config,
            net,
            advertise,
            incarnation: None,
            node_id: None,
            rng_seed: None,
            opts: Options {
                event_capacity: 1024,
                write_queue: 1024,
                connect_timeout: Duration::from_secs(5),
                max_reads_per_wake: 64,
                shutdown_linger: Duration::from_secs(2),
            },
        }
    }

    /// Changes the configuration in place (timers, limits...).
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Builder {
        f(&mut self.config);
        self
    }

    /// Announces attribute `key` = `value`.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.config.headers.push((key.into(), value.into()));
        self
    }

    /// Joins `group` at start.
    pub fn group(mut self, group: impl Into<String>) -> Builder {
        self.config.groups.push(group.into());
        self
    }

    /// Adds a static seed: a link address to connect to, retried forever.
    pub fn seed(mut self, addr: SocketAddr) -> Builder {
        self.config.seeds.push(addr);
        self
    }

    /// Sends beacons on this interface (by name or address); may be called
    /// several times. Default: every interface that is up and not loopback.
    pub fn interface(mut self, sel: impl Into<InterfaceSelector>) -> Builder {
        self.net.interfaces.push(sel.into());
        self
    }

    /// Binds the unicast socket and the link port to `ip` (default
    /// `0.0.0.0`).
    pub fn bind_ip(mut self, ip: IpAddr) -> Builder {
        self.net.bind_ip = ip;
        self
    }

    /// The link port (default 7400; 0 picks a free one, see
    /// [`Handle::link_addr`]).
    pub fn link_port(mut self, port: u16) -> Builder {
        self.net.link_port = port;
        self
    }

    /// The link address peers should connect to, when it is not this host's
    /// own (NAT, port forwarding). Default: the bind address if specific,
    /// else "the source address of my beacons", with the bound link port.
    pub fn advertise(mut self, addr: SocketAddr) -> Builder {
        self.advertise = Some(addr);
        self
    }

    /// Stream (TCP, default) or datagram links.
    pub fn link_mode(mut self, mode: LinkMode) -> Builder {
        self.net.link_mode = mode;
        self.config.link_mode = mode;
        self
    }

    /// Multicast (default), broadcast or no beacons.
    pub fn beacons(mut self, mode: BeaconMode) -> Builder {
        self.net.beacons = mode;
        self
    }

    /// Multicast TTL / hop limit (default 1: the local segment).
    pub fn multicast_ttl(mut self, ttl: u32) -> Builder {
        self.net.multicast_ttl = ttl;
        self
    }

    /// The incarnation (default: the wall clock in milliseconds).
    pub fn incarnation(mut self, incarnation: u64) -> Builder {
        self.incarnation = Some(incarnation);
        self
    }

    /// The node id (default: a random UUID).
    pub fn node_id(mut self, id: NodeId) -> Builder {
        self.node_id = Some(id);
        self
    }

    /// Seed of the node's randomness (default: random).
    pub fn rng_seed(mut self, seed: u64) -> Builder {
        self.rng_seed = Some(seed);
        self
    }

    /// Events buffered per subscriber before the slowest one lags (default
    /// 1024); see [`EventStream`].
    pub fn event_capacity(mut self, n: usize) -> Builder {
        self.opts.event_capacity = n.max(1);
        self
    }

    /// Writes queued per TCP link before the link is closed as too slow
    /// (default 1024).
    pub fn write_queue(mut self, n: usize) -> Builder {
        self.opts.write_queue = n.max(1);
        self
    }

    /// Time allowed for an outgoing TCP connect (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Builder {
        self.opts.connect_timeout = d;
        self
    }

    /// Time [`Handle::shutdown`] waits for GOODBYEs to be written (default
    /// 2 s).
    pub fn shutdown_linger(mut self, d: Duration) -> Builder {
        self.opts.shutdown_linger = d;
        self
    }

    /// The configuration the node would start with (before the bound port
    /// is known).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens the sockets and spawns the node's task on the current tokio
    /// runtime.
    pub async fn start(self) -> Result<Handle, Error> {
        driver::start(self).await
    }
}

/// A command for the node's task. Private, so new commands are additive.
pub(crate) enum Command {
    Join(String, oneshot::Sender<Result<(), CommandError>>),
    Leave(String, oneshot::Sender<Result<(), CommandError>>),
    SetState(NodeState, oneshot::Sender<Result<(), CommandError>>),
    SetHeader(String, Option<String>, oneshot::Sender<Result<(), CommandError>>),
    AddSeed(SocketAddr, oneshot::Sender<Result<(), CommandError>>),
    Send(NodeId, Semantics, Bytes, oneshot::Sender<Result<MessageId, SendError>>),
    Shout(String, Semantics, Bytes, oneshot::Sender<Result<MessageId, SendError>>),
    Query(Box<dyn FnOnce(&Node) + Send>),
    Ping(NodeId, oneshot::Sender<Result<MessageId, SendError>>),
    OpenStream(NodeId, oneshot::Sender<Result<StreamIo, StreamError>>),
    SendMany(NodeId, Semantics, Vec<Bytes>, oneshot::Sender<Result<SendMany, SendError>>),
    Shutdown(oneshot::Sender<()>),
}

pub(crate) struct Shared {
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) events: broadcast::Receiver<Event>,
    pub(crate) peers: watch::Receiver<Arc<Vec<PeerInfo>>>,
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
    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.shared.id
    }

    /// The local address of the link port (TCP listener or datagram
    /// socket), with the port actually bound: what to give other nodes as a
    /// seed.
    pub fn link_addr(&self) -> SocketAddr {
        self.shared.link_addr
    }

    /// Every reachable peer, in id order, as of the latest event.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.shared.peers.borrow().as_ref().clone()
    }

    /// Whether the node's task still runs.
    pub fn is_running(&self) -> bool {
        !*self.shared.done.borrow()
    }

    /// A stream of the node's events from now on (earlier ones are not
    /// replayed: read [`peers`](Self::peers) for the current state).
    pub fn events(&self) -> EventStream {
        EventStream { inner: BroadcastStream::new(self.shared.events.resubscribe()), missed: 0 }
    }

    async fn call<T, E: Into<Error>>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, E>>) -> Command,
    ) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.shared.cmd.send(make(tx)).await.map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?.map_err(Into::into)
    }

    /// Sends `payload` to the node `to` with the given semantics. Reliable
    /// and Sequenced messages are reported later as `Event::Delivered` or
    /// `Event::SendFailed` with the returned id; a full window is refused
    /// with `SendError::WouldBlock` until `Event::Writable`.
    pub async fn send(
        &self,
        to: NodeId,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, Error> {
        let payload = payload.into();
        self.call(|tx| Command::Send(to, semantics, payload, tx)).await
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// node).
    pub async fn shout(
        &self,
        group: impl Into<String>,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, Error> {
        let (group, payload) = (group.into(), payload.into());
        self.call(|tx| Command::Shout(group, semantics, payload, tx)).await
    }

    /// Measures the round trip to `to` through the mesh: an `Event::Pong`
    /// with the returned id reports it (subscribe with
    /// [`events`](Self::events) before calling, so as not to miss it).
    /// Nothing is reported if the ping or its answer is lost: wait with a
    /// timeout of your own.
    pub async fn ping(&self, to: NodeId) -> Result<MessageId, Error> {
        self.call(|tx| Command::Ping(to, tx)).await
    }

    /// Sends several messages to `to` in one call to the node, in order,
    /// stopping at the first one it refuses: the ids of those accepted
    /// (the first `ids.len()` payloads), and why the next was refused, if
    /// one was. For many small messages this is much cheaper than one
    /// [`send`](Self::send) each, which waits for the node's answer.
    pub async fn send_many(
        &self,
        to: NodeId,
        semantics: Semantics,
        payloads: impl IntoIterator<Item = Bytes>,
    ) -> Result<SendMany, Error> {
        let payloads: Vec<Bytes> = payloads.into_iter().collect();
        self.call(|tx| Command::SendMany(to, semantics, payloads, tx)).await
    }

    /// Opens a stream to `peer` (see [`PeerStream`]). The peer takes it
    /// with [`accept_stream`](Self::accept_stream).
    pub async fn open_stream(&self, peer: NodeId) -> Result<PeerStream, Error> {
        self.call(|tx| Command::OpenStream(peer, tx)).await.map(PeerStream::new)
    }

    /// The next stream a peer opened to this node. Streams wait in a
    /// queue of 64; past it a new stream is reset (and a warning logged).
    /// Returns [`Error::Stopped`] once the node has stopped.
    pub async fn accept_stream(&self) -> Result<PeerStream, Error> {
        let mut rx = self.shared.accept.lock().await;
        rx.recv().await.map(PeerStream::new).ok_or(Error::Stopped)
    }

    /// Joins `group`.
    pub async fn join(&self, group: impl Into<String>) -> Result<(), Error> {
        let g = group.into();
        self.call(|tx| Command::Join(g, tx)).await
    }

    /// Leaves `group`.
    pub async fn leave(&self, group: impl Into<String>) -> Result<(), Error> {
        let g = group.into();
        self.call(|tx| Command::Leave(g, tx)).await
    }

    /// Sets the announced state (use [`shutdown`](Self::shutdown) to leave).
    pub async fn set_state(&self, state: NodeState) -> Result<(), Error> {
        self.call(|tx| Command::SetState(state, tx)).await
    }

    /// Sets (or with `None`, removes) one announced attribute.
    pub async fn set_header(
        &self,
        key: impl Into<String>,
        value: Option<impl Into<String>>,
    ) -> Result<(), Error> {
        let (k, v) = (key.into(), value.map(Into::into));
        self.call(|tx| Command::SetHeader(k, v, tx)).await
    }

    /// Adds a static seed.
    pub async fn add_seed(&self, addr: SocketAddr) -> Result<(), Error> {
        self.call(|tx| Command::AddSeed(addr, tx)).await
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
        if self.shared.cmd.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let mut done = self.shared.done.clone();
        let _ = done.wait_for(|d| *d).await;
    }
}

/// The node's events, as a [`Stream`].
///
/// Each stream has its own buffer of [`Builder::event_capacity`] events. A
/// stream read too slowly **lags**: the oldest events it has not read are
/// dropped, a warning is logged, and [`missed`](Self::missed) counts them;
/// the node itself never waits for a reader. After a lag, read
/// [`Handle::peers`] to resynchronise. The stream ends when the node stops.
pub struct EventStream {
    inner: BroadcastStream<Event>,
    missed: u64,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("missed", &self.missed).finish()
    }
}

impl EventStream {
    /// Events dropped so far because this stream lagged.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            match Pin::new(&mut self.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(e))) => return Poll::Ready(Some(e)),
                Poll::Ready(Some(Err(BroadcastStreamRecvError::Lagged(n)))) => {
                    tracing::warn!(missed = n, "event stream lagged; events dropped");
                    self.missed += n;
                }
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
