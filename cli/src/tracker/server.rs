//! The tracker server: one UDP socket, the [`Registry`], a sweep timer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use netcluster_control::tracker::{TrackerMessage, MAX_DATAGRAM};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::Limits;
use tokio::net::UdpSocket;

use super::registry::{RateLimiter, Registered, Registry};

/// Limits and timers of a [`TrackerServer`].
///
/// Every bound exists so that a tracker on a public address keeps a fixed
/// memory footprint and cannot be used to amplify traffic, whatever it
/// receives.
#[derive(Debug, Clone)]
pub struct TrackerConfig {
    /// Longest time an entry is kept without renewal, whatever `ttl_s` a
    /// REGISTER asks for. Default 300 s: a node that dies without
    /// deregistering is handed out for at most five minutes, while nodes
    /// re-register every `ttl_s / 3` (the client default is every 10 s).
    pub max_ttl: Duration,
    /// Most entries per cluster. Default 4 096: far more than a node needs
    /// to find its mesh (it only needs one live seed), small enough that a
    /// full listing is 171 pages.
    pub max_per_cluster: usize,
    /// Most entries over all clusters. Default 65 536 (about 6 MiB).
    pub max_entries: usize,
    /// Most clusters. Default 4 096, so that one-entry clusters cannot
    /// fill the table with per-cluster overhead either.
    pub max_clusters: usize,
    /// Datagrams handled per second from one source IP address, sustained.
    /// Default 50. A PEERS answer is up to 20 times larger than the
    /// request, so without this a tracker would amplify traffic sent with a
    /// forged source address; a node needs one REGISTER per period plus
    /// one QUERY per further page.
    pub rate_per_source: u32,
    /// Datagrams one source IP may send at once before the rate applies.
    /// Default 200: a whole paged listing, and many agents behind one
    /// address.
    pub burst_per_source: u32,
    /// Most source addresses tracked by the rate limiter. Default 65 536.
    /// When full, idle sources are forgotten; if none are, datagrams from
    /// new sources are dropped (and counted) until some are.
    pub max_sources: usize,
    /// How often expired entries are swept from memory. Default 1 s.
    /// Expired entries are never listed, swept or not.
    pub sweep_interval: Duration,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            max_ttl: Duration::from_secs(300),
            max_per_cluster: 4096,
            max_entries: 65_536,
            max_clusters: 4096,
            rate_per_source: 50,
            burst_per_source: 200,
            max_sources: 65_536,
            sweep_interval: Duration::from_secs(1),
        }
    }
}

/// Counters of a running tracker, shared with [`TrackerServer::stats`].
#[derive(Debug, Default)]
pub struct TrackerStats {
    registers: AtomicU64,
    queries: AtomicU64,
    replies: AtomicU64,
    malformed: AtomicU64,
    unexpected: AtomicU64,
    refused_full: AtomicU64,
    refused_addr: AtomicU64,
    stale: AtomicU64,
    rate_limited: AtomicU64,
    expired: AtomicU64,
    entries: AtomicU64,
}

macro_rules! getters {
    ($($(#[$doc:meta])* $name:ident;)*) => {
        $( $(#[$doc])* pub fn $name(&self) -> u64 { self.$name.load(Ordering::Relaxed) } )*
    };
}

impl TrackerStats {
    getters! {
        /// REGISTER datagrams handled (deregistrations included).
        registers;
        /// QUERY datagrams handled.
        queries;
        /// PEERS answers sent.
        replies;
        /// Datagrams that are not a valid tracker frame (bad magic, other
        /// sub-protocol, unsupported version, malformed or oversized body):
        /// dropped.
        malformed;
        /// Valid frames the tracker never accepts (PEERS): dropped.
        unexpected;
        /// REGISTERs of new entries refused because a cap was reached.
        refused_full;
        /// REGISTERs refused because `link_addr` was unusable (port 0).
        refused_addr;
        /// REGISTERs ignored because a higher incarnation is registered.
        stale;
        /// Datagrams dropped by the per-source rate limit.
        rate_limited;
        /// Entries removed because their node stopped renewing them.
        expired;
        /// Entries held right now.
        entries;
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// A tracker: a rendezvous server over UDP (`docs/PROTOCOL.md` section 10).
///
/// ```no_run
/// # async fn demo() -> std::io::Result<()> {
/// use netcluster_cli::tracker::{TrackerConfig, TrackerServer};
///
/// let server = TrackerServer::bind("0.0.0.0:7401".parse().unwrap(), TrackerConfig::default())
///     .await?;
/// println!("tracker on {}", server.local_addr());
/// server.run().await
/// # }
/// ```
#[derive(Debug)]
pub struct TrackerServer {
    socket: UdpSocket,
    local_addr: SocketAddr,
    cfg: TrackerConfig,
    stats: Arc<TrackerStats>,
}

impl TrackerServer {
    /// Binds the UDP socket (port 0 picks a free port, see
    /// [`local_addr`](Self::local_addr)).
    ///
    /// On a host with several addresses, listen on the one nodes are given:
    /// clients only accept answers from the address they sent to, and a
    /// socket bound to a wildcard address answers from whichever address
    /// the routing table picks.
    pub async fn bind(listen: SocketAddr, cfg: TrackerConfig) -> std::io::Result<TrackerServer> {
        let socket = UdpSocket::bind(listen).await?;
        let local_addr = socket.local_addr()?;
        Ok(TrackerServer { socket, local_addr, cfg, stats: Arc::default() })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's counters, readable while it runs.
    pub fn stats(&self) -> Arc<TrackerStats> {
        self.stats.clone()
    }

    /// Serves until the socket fails (drop or abort the future to stop it).
    /// Nothing a client sends ends it: bad datagrams are counted and
    /// dropped, and errors a remote host can cause (ICMP unreachable
    /// reported on the socket) are logged and ignored.
    pub async fn run(self) -> std::io::Result<()> {
        let TrackerServer { socket, local_addr, cfg, stats } = self;
        tracing::info!(%local_addr, "tracker listening");
        let mut registry = Registry::new(&cfg);
        let mut limiter = RateLimiter::new(&cfg);
        let limits = Limits { max_frame: MAX_DATAGRAM, ..Limits::DEFAULT };
        let mut sweep = tokio::time::interval(cfg.sweep_interval.max(Duration::from_millis(10)));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // One byte more than the largest valid datagram: a longer one is
        // seen as such instead of silently truncated into a valid length.
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            tokio::select! {
                _ = sweep.tick() => {
                    let now = Instant::now();
                    let gone = registry.sweep(now);
                    if gone > 0 {
                        tracing::debug!(gone, "entries expired");
                        stats.expired.fetch_add(gone as u64, Ordering::Relaxed);
                    }
                    limiter.forget_idle(now);
                    stats.entries.store(registry.len() as u64, Ordering::Relaxed);
                }
                r = socket.recv_from(&mut buf) => {
                    let (n, src) = match r {
                        Ok(x) => x,
                        Err(e) if remote_caused(&e) => {
                            tracing::debug!(error = %e, "ignoring a socket error caused by a peer");
                            continue;
                        }
                        Err(e) => return Err(e),
                    };
                    let now = Instant::now();
                    if !limiter.allow(now, src.ip()) {
                        TrackerStats::bump(&stats.rate_limited);
                        tracing::trace!(%src, "rate limited");
                        continue;
                    }
                    let datagram = Bytes::copy_from_slice(&buf[..n]);
                    if let Some(reply) = handle(&mut registry, &stats, &limits, now, &datagram, src) {
                        match socket.send_to(&reply, src).await {
                            Ok(_) => TrackerStats::bump(&stats.replies),
                            Err(e) => tracing::debug!(%src, error = %e, "reply not sent"),
                        }
                    }
                    stats.entries.store(registry.len() as u64, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Errors a UDP socket reports because of what a remote host did (an ICMP
/// error for an earlier reply), not because the socket is broken.
fn remote_caused(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionRefused
            | ConnectionReset
            | HostUnreachable
            | NetworkUnreachable
            | Interrupted
            | WouldBlock
    )
}

/// Handles one datagram; returns the encoded answer, if any.
fn handle(
    registry: &mut Registry,
    stats: &TrackerStats,
    limits: &Limits,
    now: Instant,
    datagram: &Bytes,
    src: SocketAddr,
) -> Option<Bytes> {
    let frame = match ControlFrame::parse_with(datagram, limits) {
        Ok(f) => f,
        Err(e) => {
            TrackerStats::bump(&stats.malformed);
            tracing::debug!(%src, error = %e, "dropping a bad datagram");
            return None;
        }
    };
    let msg = match frame.message {
        ControlMessage::Tracker(m) => m,
        other => {
            TrackerStats::bump(&stats.malformed);
            let protocol = other.protocol();
            tracing::debug!(%src, %protocol, "dropping a frame of another sub-protocol");
            return None;
        }
    };
    let peers = match msg {
        TrackerMessage::Register(reg) => {
            TrackerStats::bump(&stats.registers);
            let outcome = registry.register(now, &reg, src);
            tracing::debug!(%src, node = %reg.node_id, ttl_s = reg.ttl_s, ?outcome, "REGISTER");
            match outcome {
                Registered::Removed => return None,
                Registered::Full => {
                    TrackerStats::bump(&stats.refused_full);
                    tracing::warn!(%src, node = %reg.node_id, "tracker full: entry refused");
                }
                Registered::BadAddr => TrackerStats::bump(&stats.refused_addr),
                Registered::Stale => TrackerStats::bump(&stats.stale),
                Registered::Added | Registered::Renewed => {}
            }
            registry.page(now, reg.cluster_hash, reg.node_id, 0, 0)
        }
        TrackerMessage::Query(q) => {
            TrackerStats::bump(&stats.queries);
            registry.page(now, q.cluster_hash, q.node_id, q.offset, q.max)
        }
        TrackerMessage::Peers(_) => {
            TrackerStats::bump(&stats.unexpected);
            tracing::debug!(%src, "dropping a PEERS sent to the tracker");
            return None;
        }
    };
    match ControlFrame::new(ControlMessage::Tracker(peers.into())).to_bytes() {
        Ok(b) => Some(b),
        Err(e) => {
            // Unreachable with pages built by the registry; never worth a
            // panic in a server.
            tracing::error!(error = %e, "cannot encode PEERS");
            None
        }
    }
}
