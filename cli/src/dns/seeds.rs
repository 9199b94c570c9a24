//! The task that keeps a node's seeds in step with an SRV name.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use netcluster_tokio::Handle;
use tokio::task::JoinHandle;

use super::query::system_nameserver;
use super::srv::{resolve_srv, SrvLimits};

/// Settings of [`spawn_srv_seeds_with`]; [`SrvSeedsConfig::new`] gives the
/// defaults.
#[derive(Debug, Clone)]
pub struct SrvSeedsConfig {
    /// The SRV name, such as `_netcluster._tcp.example.org`.
    pub srv_name: String,
    /// The DNS server; `None`: the first `nameserver` of
    /// `/etc/resolv.conf`, read again on every lookup.
    pub server: Option<SocketAddr>,
    /// Shortest time between two lookups, whatever the TTL. Default 10 s:
    /// local servers such as dnsmasq hand out TTL 0, which must not turn
    /// into a query loop.
    pub min_refresh: Duration,
    /// Longest time between two lookups, whatever the TTL. Default 300 s,
    /// so that nodes added to DNS are found within five minutes even under
    /// long TTLs.
    pub max_refresh: Duration,
    /// First retry delay after a failed lookup. Default 1 s.
    pub retry_min: Duration,
    /// The retry delay doubles up to this. Default 60 s.
    pub retry_max: Duration,
    /// Bounds of each lookup.
    pub limits: SrvLimits,
    /// Most addresses given to the node over the task's life. Default
    /// 1 024. The node retries a seed with capped backoff for as long as it
    /// runs (an address removed from DNS stays a seed), so this bounds the
    /// node's seed list.
    pub max_known: usize,
}

impl SrvSeedsConfig {
    /// The defaults for `srv_name` through `server`.
    pub fn new(srv_name: impl Into<String>, server: Option<SocketAddr>) -> Self {
        SrvSeedsConfig {
            srv_name: srv_name.into(),
            server,
            min_refresh: Duration::from_secs(10),
            max_refresh: Duration::from_secs(300),
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            limits: SrvLimits::default(),
            max_known: 1024,
        }
    }
}

/// Resolves `srv_name` through `server` (or the system's name server) and
/// gives every address found to the node as a seed, again and again; see
/// [`spawn_srv_seeds_with`].
///
/// ```no_run
/// # async fn demo(handle: netcluster_tokio::Handle) {
/// let task = netcluster_cli::dns::spawn_srv_seeds(
///     handle.clone(),
///     "_netcluster._tcp.example.org".to_string(),
///     None,
/// );
/// # }
/// ```
pub fn spawn_srv_seeds(
    handle: Handle,
    srv_name: String,
    server: Option<SocketAddr>,
) -> JoinHandle<()> {
    spawn_srv_seeds_with(handle, SrvSeedsConfig::new(srv_name, server))
}

/// Spawns the task: each round resolves the SRV name
/// ([`resolve_srv`]) and calls [`Handle::add_seed`] for every address
/// not given before, in RFC 2782 order. The next round comes after the
/// answer's TTL, bounded by `min_refresh` and `max_refresh`; a failed
/// round (timeout, NXDOMAIN, no records, malformed answer, no server) is
/// logged and retried after a delay doubling from `retry_min` to
/// `retry_max`.
///
/// The task holds a clone of `handle`: it ends when the node stops
/// ([`Handle::shutdown`]) or when the returned handle is aborted.
pub fn spawn_srv_seeds_with(handle: Handle, cfg: SrvSeedsConfig) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut events = handle.events();
        let stopped = async { while events.next().await.is_some() {} };
        tokio::select! {
            _ = stopped => {}
            _ = run(&handle, &cfg) => {}
        }
    })
}

async fn run(handle: &Handle, cfg: &SrvSeedsConfig) {
    let mut known: HashSet<SocketAddr> = HashSet::new();
    let mut backoff = Duration::ZERO;
    loop {
        let server = match cfg.server {
            Some(s) => Ok(s),
            None => system_nameserver(),
        };
        let result = match server {
            Ok(server) => resolve_srv(&cfg.srv_name, server, cfg.limits).await,
            Err(e) => Err(e),
        };
        let wait = match result {
            Ok(res) => {
                if !backoff.is_zero() {
                    tracing::info!(srv = %cfg.srv_name, "SRV lookup works again");
                }
                backoff = Duration::ZERO;
                let mut added = 0;
                for addr in res.addrs() {
                    if known.len() >= cfg.max_known || known.contains(&addr) {
                        continue;
                    }
                    if handle.add_seed(addr).await.is_err() {
                        return; // the node has stopped
                    }
                    known.insert(addr);
                    added += 1;
                }
                tracing::debug!(
                    srv = %cfg.srv_name,
                    targets = res.targets.len(),
                    added,
                    ttl = ?res.ttl,
                    "SRV seeds resolved"
                );
                res.ttl.clamp(cfg.min_refresh, cfg.max_refresh.max(cfg.min_refresh))
            }
            Err(e) => {
                if backoff.is_zero() {
                    tracing::warn!(srv = %cfg.srv_name, error = %e, "SRV lookup failed; retrying");
                } else {
                    tracing::debug!(srv = %cfg.srv_name, error = %e, "SRV lookup failed");
                }
                backoff = backoff
                    .saturating_mul(2)
                    .clamp(cfg.retry_min, cfg.retry_max.max(cfg.retry_min));
                backoff
            }
        };
        tokio::time::sleep(wait).await;
    }
}
