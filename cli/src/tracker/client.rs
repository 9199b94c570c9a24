//! The tracker client: registers a running node with a tracker and feeds
//! the nodes it learns there to the node as seeds.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use netcluster_control::tracker::{
    PeerEntry, Peers, Query, Register, TrackerMessage, MAX_DATAGRAM,
};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::{cluster_hash, Limits};
use netcluster_tokio::Handle;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tokio::time::{timeout_at, Instant};

/// Settings of a tracker client; [`TrackerClientConfig::new`] gives the
/// defaults.
#[derive(Debug, Clone)]
pub struct TrackerClientConfig {
    /// The tracker, as `HOST:PORT`; resolved again on every round, so a
    /// tracker that moves to another address is followed.
    pub tracker: String,
    /// The cluster to register in.
    pub cluster: String,
    /// `ttl_s` asked for in REGISTER; the client re-registers every third
    /// of it. Default 30 s: a tracker restart is healed within 10 s, at one
    /// datagram per 10 s per node.
    pub ttl: Duration,
    /// The link address to register instead of the one the node announces
    /// (its configured `link_addr`: the address given to
    /// `Builder::advertise`, else the bind address with the bound port).
    /// An unspecified IP asks the tracker to list the source address of the
    /// REGISTER.
    pub advertise: Option<SocketAddr>,
    /// How long to wait for each PEERS. Default 2 s.
    pub reply_timeout: Duration,
    /// First retry delay after a failed round (tracker unreachable, no
    /// answer, name not resolved). Default 1 s.
    pub retry_min: Duration,
    /// The retry delay doubles up to this. Default 30 s.
    pub retry_max: Duration,
    /// Most pages of the listing read per round. Default 16 (384 nodes):
    /// one live seed is enough to join a mesh.
    pub max_pages: usize,
    /// Most new seeds given to the node per round. Default 8: each seed is
    /// a link the node opens; the mesh tells it about everybody else.
    pub seeds_per_round: usize,
    /// Most seed addresses remembered (and so given to the node) over the
    /// client's life. Default 4 096. The node keeps retrying a seed with
    /// capped backoff for as long as it runs, so this also bounds the
    /// node's seed list.
    pub max_known: usize,
}

impl TrackerClientConfig {
    /// The defaults for `tracker` (`HOST:PORT`) and `cluster`.
    pub fn new(tracker: impl Into<String>, cluster: impl Into<String>) -> Self {
        TrackerClientConfig {
            tracker: tracker.into(),
            cluster: cluster.into(),
            ttl: Duration::from_secs(30),
            advertise: None,
            reply_timeout: Duration::from_secs(2),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(30),
            max_pages: 16,
            seeds_per_round: 8,
            max_known: 4096,
        }
    }
}

/// Why a round with the tracker failed (logged, then retried with
/// backoff).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrackerClientError {
    /// `HOST:PORT` could not be resolved.
    #[error("cannot resolve tracker {0}: {1}")]
    Resolve(String, #[source] std::io::Error),
    /// `HOST:PORT` resolved to no address.
    #[error("tracker {0} resolves to no address")]
    NoAddress(String),
    /// The socket failed (for example the tracker's host answered "port
    /// unreachable").
    #[error("tracker {0}: {1}")]
    Io(SocketAddr, #[source] std::io::Error),
    /// No PEERS came back in time.
    #[error("tracker {0} did not answer within {1:?}")]
    Timeout(SocketAddr, Duration),
    /// The node has stopped.
    #[error("the node has stopped")]
    Stopped,
}

/// Registers the node of `handle` with the tracker at `tracker`
/// (`HOST:PORT`) in `cluster`, with the defaults of
/// [`TrackerClientConfig::new`]; see [`spawn_tracker_client_with`].
///
/// ```no_run
/// # async fn demo(handle: netcluster_tokio::Handle) {
/// let task = netcluster_cli::tracker::spawn_tracker_client(
///     handle.clone(),
///     "tracker.example.org:7401".to_string(),
///     "demo".to_string(),
/// );
/// handle.shutdown().await;
/// task.await.unwrap(); // ends once the node has stopped
/// # }
/// ```
pub fn spawn_tracker_client(handle: Handle, tracker: String, cluster: String) -> JoinHandle<()> {
    spawn_tracker_client_with(handle, TrackerClientConfig::new(tracker, cluster))
}

/// Spawns the client task: every round it resolves the tracker, sends
/// REGISTER, reads the listing page by page, and gives the node the
/// addresses of listed nodes it does not reach yet
/// ([`Handle::add_seed`]). Rounds repeat every `ttl / 3`; a failed round
/// is retried after a delay that doubles from `retry_min` to `retry_max`,
/// so a tracker that restarts (and has forgotten everybody) is registered
/// with again as soon as it answers.
///
/// The task holds a clone of `handle`, so it does not stop the node by
/// being dropped: it ends when the node stops ([`Handle::shutdown`]),
/// after sending a last REGISTER with `ttl_s` 0 so the tracker forgets the
/// node at once, or when the returned handle is aborted.
pub fn spawn_tracker_client_with(handle: Handle, cfg: TrackerClientConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = handle.events();
        // What the node announces to its peers: the advertised address and
        // the incarnation that grows across restarts.
        let announced = handle.query(|n| (n.config().link_addr, n.config().incarnation)).await;
        let Ok((link_addr, incarnation)) = announced else {
            return; // the node has already stopped
        };
        let link_addr = cfg.advertise.unwrap_or(link_addr);
        let mut client = Client::new(handle, cfg, link_addr, incarnation);
        {
            let stopped = async { while events.next().await.is_some() {} };
            tokio::select! {
                _ = stopped => {}
                _ = client.run() => {}
            }
        }
        client.deregister().await;
    })
}

struct Client {
    handle: Handle,
    cfg: TrackerClientConfig,
    cluster_hash: u64,
    incarnation: u64,
    /// The link address registered.
    link_addr: SocketAddr,
    /// Addresses already given to the node.
    known: HashSet<SocketAddr>,
    /// The tracker address of the latest round, for the deregistration.
    last_tracker: Option<SocketAddr>,
}

impl Client {
    fn new(
        handle: Handle,
        cfg: TrackerClientConfig,
        link_addr: SocketAddr,
        incarnation: u64,
    ) -> Client {
        Client {
            cluster_hash: cluster_hash(&cfg.cluster),
            handle,
            cfg,
            incarnation,
            link_addr,
            known: HashSet::new(),
            last_tracker: None,
        }
    }

    async fn run(&mut self) {
        let mut backoff = Duration::ZERO;
        loop {
            let wait = match self.round().await {
                Ok(added) => {
                    if !backoff.is_zero() {
                        tracing::info!(tracker = %self.cfg.tracker, "tracker reachable again");
                    }
                    if added > 0 {
                        tracing::debug!(added, "seeds from the tracker");
                    }
                    backoff = Duration::ZERO;
                    jitter(self.cfg.ttl / 3)
                }
                Err(TrackerClientError::Stopped) => return,
                Err(e) => {
                    if backoff.is_zero() {
                        tracing::warn!(error = %e, "tracker round failed; retrying with backoff");
                    } else {
                        tracing::debug!(error = %e, "tracker round failed");
                    }
                    let (min, max) =
                        (self.cfg.retry_min, self.cfg.retry_max.max(self.cfg.retry_min));
                    backoff = backoff.saturating_mul(2).clamp(min, max);
                    jitter(backoff)
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn link_addr(&self) -> SocketAddr {
        self.link_addr
    }

    async fn resolve(&self) -> Result<SocketAddr, TrackerClientError> {
        let name = &self.cfg.tracker;
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host(name)
            .await
            .map_err(|e| TrackerClientError::Resolve(name.clone(), e))?
            .collect();
        // An unspecified IPv4 link address means "the address you see me
        // at", which must then be an IPv4 one for peers to reach the
        // listener; likewise for IPv6.
        let own = self.link_addr().ip();
        let same_family = |a: &&SocketAddr| !own.is_unspecified() || a.is_ipv4() == own.is_ipv4();
        addrs
            .iter()
            .find(same_family)
            .or(addrs.first())
            .copied()
            .ok_or_else(|| TrackerClientError::NoAddress(name.clone()))
    }

    /// One registration and a read of the listing; returns the number of
    /// new seeds.
    async fn round(&mut self) -> Result<usize, TrackerClientError> {
        let tracker = self.resolve().await?;
        self.last_tracker = Some(tracker);
        let io = |e| TrackerClientError::Io(tracker, e);
        let socket = UdpSocket::bind(unspecified(tracker.ip())).await.map_err(io)?;
        socket.connect(tracker).await.map_err(io)?;
        let ttl_s = u16::try_from(self.cfg.ttl.as_secs()).unwrap_or(u16::MAX).max(1);
        let register = Register {
            cluster_hash: self.cluster_hash,
            node_id: self.handle.id(),
            incarnation: self.incarnation,
            ttl_s,
            link_addr: self.link_addr(),
        };
        send(&socket, tracker, register.into()).await?;
        let mut page = self.await_page(&socket, tracker, 0).await?;
        let mut entries: Vec<PeerEntry> = page.peers.iter().collect();
        let mut pages = 1;
        while !page.is_last_page() && pages < self.cfg.max_pages {
            let offset = page.offset + page.peers.len() as u16;
            let query = Query {
                cluster_hash: self.cluster_hash,
                node_id: self.handle.id(),
                offset,
                max: 0,
            };
            send(&socket, tracker, query.into()).await?;
            page = self.await_page(&socket, tracker, offset).await?;
            entries.extend(page.peers.iter());
            pages += 1;
        }
        self.feed(&entries).await
    }

    /// Waits for the PEERS of this cluster at `offset`, ignoring anything
    /// else (late answers of earlier requests, garbage).
    async fn await_page(
        &self,
        socket: &UdpSocket,
        tracker: SocketAddr,
        offset: u16,
    ) -> Result<Peers, TrackerClientError> {
        let deadline = Instant::now() + self.cfg.reply_timeout;
        let limits = Limits { max_frame: MAX_DATAGRAM, ..Limits::DEFAULT };
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => return Err(TrackerClientError::Timeout(tracker, self.cfg.reply_timeout)),
                Ok(Err(e)) => return Err(TrackerClientError::Io(tracker, e)),
                Ok(Ok(n)) => n,
            };
            match ControlFrame::parse_with(&Bytes::copy_from_slice(&buf[..n]), &limits) {
                Ok(ControlFrame {
                    message: ControlMessage::Tracker(TrackerMessage::Peers(p)),
                    ..
                }) if p.cluster_hash == self.cluster_hash && p.offset == offset => return Ok(p),
                Ok(f) => tracing::debug!(message = f.message.name(), "unexpected tracker answer"),
                Err(e) => tracing::debug!(error = %e, "bad datagram from the tracker"),
            }
        }
    }

    /// Gives the node the addresses of listed nodes it does not reach.
    async fn feed(&mut self, entries: &[PeerEntry]) -> Result<usize, TrackerClientError> {
        let me = self.handle.id();
        let reachable: HashSet<_> = self.handle.peers().into_iter().map(|p| p.id).collect();
        let mut added = 0;
        for e in entries {
            if added >= self.cfg.seeds_per_round || self.known.len() >= self.cfg.max_known {
                break;
            }
            let addr = e.link_addr;
            if e.node_id == me
                || reachable.contains(&e.node_id)
                || addr.port() == 0
                || addr.ip().is_unspecified()
                || self.known.contains(&addr)
            {
                continue;
            }
            tracing::debug!(node = %e.node_id, %addr, "seed from the tracker");
            self.handle.add_seed(addr).await.map_err(|_| TrackerClientError::Stopped)?;
            self.known.insert(addr);
            added += 1;
        }
        Ok(added)
    }

    /// Best effort: one REGISTER with `ttl_s` 0 so that the tracker stops
    /// listing a node that has left.
    async fn deregister(&self) {
        let Some(tracker) = self.last_tracker else { return };
        let register = Register {
            cluster_hash: self.cluster_hash,
            node_id: self.handle.id(),
            incarnation: self.incarnation,
            ttl_s: 0,
            link_addr: self.link_addr(),
        };
        let result = async {
            let socket = UdpSocket::bind(unspecified(tracker.ip()))
                .await
                .map_err(|e| TrackerClientError::Io(tracker, e))?;
            send(&socket, tracker, register.into()).await
        };
        match result.await {
            Ok(()) => tracing::debug!(%tracker, "deregistered from the tracker"),
            Err(e) => tracing::debug!(error = %e, "deregistration not sent"),
        }
    }
}

async fn send(
    socket: &UdpSocket,
    tracker: SocketAddr,
    msg: TrackerMessage,
) -> Result<(), TrackerClientError> {
    let bytes = ControlFrame::new(ControlMessage::Tracker(msg))
        .to_bytes()
        .map_err(|e| TrackerClientError::Io(tracker, std::io::Error::other(e)))?;
    socket.send_to(&bytes, tracker).await.map_err(|e| TrackerClientError::Io(tracker, e))?;
    Ok(())
}

fn unspecified(like: IpAddr) -> SocketAddr {
    match like {
        IpAddr::V4(_) => SocketAddr::from(([0, 0, 0, 0], 0)),
        IpAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// `d` give or take 10 %, so that nodes started together spread out.
fn jitter(d: Duration) -> Duration {
    d.mul_f64(0.9 + fastrand::f64() * 0.2)
}
