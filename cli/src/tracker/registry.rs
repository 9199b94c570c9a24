//! The tracker's table: entries per cluster with expiry and caps, pages of
//! the listing, and per-source rate limits. No I/O: the server feeds it
//! datagrams with the time, so every rule is testable without sockets.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use netcluster_control::tracker::{PeerEntry, Peers, Register, MAX_PEERS_PER_REPLY};
use netcluster_core::wire::lists::VarList;
use netcluster_core::NodeId;

use super::TrackerConfig;

#[derive(Debug, Clone, Copy)]
struct Entry {
    incarnation: u64,
    link_addr: SocketAddr,
    expires: Instant,
}

/// What a REGISTER did to the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registered {
    /// A new entry.
    Added,
    /// An existing entry renewed (or replaced by a newer incarnation).
    Renewed,
    /// `ttl_s` 0: the entry is gone (or was not there).
    Removed,
    /// An entry with a higher incarnation is kept; this one is ignored.
    Stale,
    /// No room: the cluster, the table or the cluster count is at its cap.
    Full,
    /// `link_addr` has port 0, or is an unspecified address while the
    /// source is one too: nothing another node could connect to.
    BadAddr,
}

/// The registered nodes of every cluster.
pub(crate) struct Registry {
    clusters: HashMap<u64, BTreeMap<NodeId, Entry>>,
    total: usize,
    max_ttl: Duration,
    max_per_cluster: usize,
    max_entries: usize,
    max_clusters: usize,
}

impl Registry {
    pub(crate) fn new(cfg: &TrackerConfig) -> Registry {
        Registry {
            clusters: HashMap::new(),
            total: 0,
            max_ttl: cfg.max_ttl,
            max_per_cluster: cfg.max_per_cluster,
            max_entries: cfg.max_entries,
            max_clusters: cfg.max_clusters,
        }
    }

    /// Entries held, all clusters together (expired ones not yet swept
    /// included).
    pub(crate) fn len(&self) -> usize {
        self.total
    }

    /// Applies a REGISTER received from `src`.
    pub(crate) fn register(&mut self, now: Instant, reg: &Register, src: SocketAddr) -> Registered {
        self.sweep_cluster(now, reg.cluster_hash);
        if reg.ttl_s == 0 {
            self.remove(reg.cluster_hash, reg.node_id, reg.incarnation);
            return Registered::Removed;
        }
        let mut link_addr = reg.link_addr;
        if link_addr.ip().is_unspecified() {
            link_addr.set_ip(src.ip().to_canonical());
        }
        if link_addr.port() == 0 || link_addr.ip().is_unspecified() {
            return Registered::BadAddr;
        }
        let ttl = Duration::from_secs(u64::from(reg.ttl_s)).min(self.max_ttl);
        let entry = Entry { incarnation: reg.incarnation, link_addr, expires: now + ttl };
        if let Some(cluster) = self.clusters.get_mut(&reg.cluster_hash) {
            if let Some(old) = cluster.get_mut(&reg.node_id) {
                if old.incarnation > reg.incarnation {
                    return Registered::Stale;
                }
                *old = entry;
                return Registered::Renewed;
            }
            if cluster.len() >= self.max_per_cluster || self.total >= self.max_entries {
                return Registered::Full;
            }
            cluster.insert(reg.node_id, entry);
        } else {
            if self.clusters.len() >= self.max_clusters || self.total >= self.max_entries {
                return Registered::Full;
            }
            self.clusters.entry(reg.cluster_hash).or_default().insert(reg.node_id, entry);
        }
        self.total += 1;
        Registered::Added
    }

    fn remove(&mut self, cluster_hash: u64, id: NodeId, incarnation: u64) {
        let Some(cluster) = self.clusters.get_mut(&cluster_hash) else { return };
        // A late deregistration of an earlier run must not remove the
        // entry of the node's current run.
        if cluster.get(&id).is_some_and(|e| e.incarnation <= incarnation) {
            cluster.remove(&id);
            self.total -= 1;
        }
        if cluster.is_empty() {
            self.clusters.remove(&cluster_hash);
        }
    }

    /// One page of `cluster_hash`'s listing as seen by `asker`: the entries
    /// `offset ..` in node id order, the asker left out, at most `max` (0:
    /// as many as fit). An `offset` past the end gives an empty page at the
    /// end of the listing.
    pub(crate) fn page(
        &mut self,
        now: Instant,
        cluster_hash: u64,
        asker: NodeId,
        offset: u16,
        max: u16,
    ) -> Peers {
        self.sweep_cluster(now, cluster_hash);
        let empty = BTreeMap::new();
        let cluster = self.clusters.get(&cluster_hash).unwrap_or(&empty);
        let listed = cluster.len() - usize::from(cluster.contains_key(&asker));
        // The per-cluster cap is configurable past what `total` can say:
        // such a listing is reported (and paged) as its first 65 535.
        let total = u16::try_from(listed).unwrap_or(u16::MAX);
        let offset = offset.min(total);
        let want = if max == 0 { MAX_PEERS_PER_REPLY } else { usize::from(max) };
        let count = want.min(MAX_PEERS_PER_REPLY).min(usize::from(total - offset));
        let entries: Vec<PeerEntry> = cluster
            .iter()
            .filter(|(id, _)| **id != asker)
            .skip(usize::from(offset))
            .take(count)
            .map(|(id, e)| PeerEntry {
                node_id: *id,
                incarnation: e.incarnation,
                link_addr: e.link_addr,
            })
            .collect();
        let peers = VarList::from_records(&entries).unwrap_or_default();
        Peers { cluster_hash, total, offset, peers }
    }

    fn sweep_cluster(&mut self, now: Instant, cluster_hash: u64) {
        let Some(cluster) = self.clusters.get_mut(&cluster_hash) else { return };
        let before = cluster.len();
        cluster.retain(|_, e| e.expires > now);
        self.total -= before - cluster.len();
        if cluster.is_empty() {
            self.clusters.remove(&cluster_hash);
        }
    }

    /// Drops every expired entry; returns how many went.
    pub(crate) fn sweep(&mut self, now: Instant) -> usize {
        let before = self.total;
        self.clusters.retain(|_, cluster| {
            cluster.retain(|_, e| e.expires > now);
            !cluster.is_empty()
        });
        self.total = self.clusters.values().map(BTreeMap::len).sum();
        before - self.total
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets per source IP address (not per port: a sender picks its
/// ports freely), in a table of bounded size.
pub(crate) struct RateLimiter {
    buckets: HashMap<IpAddr, Bucket>,
    rate: f64,
    burst: f64,
    max_sources: usize,
}

impl RateLimiter {
    pub(crate) fn new(cfg: &TrackerConfig) -> RateLimiter {
        RateLimiter {
            buckets: HashMap::new(),
            rate: f64::from(cfg.rate_per_source),
            burst: f64::from(cfg.burst_per_source.max(1)),
            max_sources: cfg.max_sources,
        }
    }

    /// Whether one more datagram from `ip` may be handled now.
    pub(crate) fn allow(&mut self, now: Instant, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        if !self.buckets.contains_key(&ip) && self.buckets.len() >= self.max_sources {
            self.forget_idle(now);
            if self.buckets.len() >= self.max_sources {
                return false;
            }
        }
        let (rate, burst) = (self.rate, self.burst);
        let b = self.buckets.entry(ip).or_insert(Bucket { tokens: burst, last: now });
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Forgets the sources whose bucket has refilled: they would start full
    /// anyway.
    pub(crate) fn forget_idle(&mut self, now: Instant) {
        let (rate, burst) = (self.rate, self.burst);
        self.buckets.retain(|_, b| {
            b.tokens + now.saturating_duration_since(b.last).as_secs_f64() * rate < burst
        });
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn cfg() -> TrackerConfig {
        TrackerConfig { max_per_cluster: 3, max_entries: 5, max_clusters: 2, ..Default::default() }
    }

    fn reg(cluster_hash: u64, id: u8, incarnation: u64, ttl_s: u16) -> Register {
        Register {
            cluster_hash,
            node_id: NodeId([id; 16]),
            incarnation,
            ttl_s,
            link_addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 7400 + u16::from(id)),
        }
    }

    fn src() -> SocketAddr {
        SocketAddr::new(Ipv4Addr::new(192, 0, 2, 7).into(), 5555)
    }

    fn ids(p: &Peers) -> Vec<u8> {
        p.peers.iter().map(|e| e.node_id.0[0]).collect()
    }

    #[test]
    fn unspecified_address_becomes_the_source() {
        let mut r = Registry::new(&cfg());
        let now = Instant::now();
        assert_eq!(r.register(now, &reg(1, 1, 1, 60), src()), Registered::Added);
        let p = r.page(now, 1, NodeId([9; 16]), 0, 0);
        let e = p.peers.iter().next().unwrap();
        assert_eq!(e.link_addr, SocketAddr::new(src().ip(), 7401));
        // A v4-mapped source (dual-stack socket) is listed as plain IPv4.
        let mapped = SocketAddr::new(Ipv4Addr::new(192, 0, 2, 8).to_ipv6_mapped().into(), 1);
        assert_eq!(r.register(now, &reg(1, 2, 1, 60), mapped), Registered::Added);
        let p = r.page(now, 1, NodeId([9; 16]), 0, 0);
        let e = p.peers.iter().nth(1).unwrap();
        assert_eq!(e.link_addr.ip(), IpAddr::from(Ipv4Addr::new(192, 0, 2, 8)));
    }

    #[test]
    fn caps_refuse_new_entries_but_renew_old_ones() {
        let mut r = Registry::new(&cfg());
        let now = Instant::now();
        for id in 1..=3 {
            assert_eq!(r.register(now, &reg(1, id, 1, 60), src()), Registered::Added);
        }
        assert_eq!(r.register(now, &reg(1, 4, 1, 60), src()), Registered::Full);
        assert_eq!(r.register(now, &reg(1, 2, 1, 60), src()), Registered::Renewed);
        assert_eq!(r.register(now, &reg(2, 1, 1, 60), src()), Registered::Added);
        assert_eq!(r.register(now, &reg(3, 1, 1, 60), src()), Registered::Full, "clusters");
        assert_eq!(r.register(now, &reg(2, 2, 1, 60), src()), Registered::Added);
        assert_eq!(r.register(now, &reg(2, 3, 1, 60), src()), Registered::Full, "in all");
        assert_eq!(r.len(), 5);
    }

    #[test]
    fn stale_incarnations_neither_replace_nor_remove() {
        let mut r = Registry::new(&cfg());
        let now = Instant::now();
        r.register(now, &reg(1, 1, 5, 60), src());
        assert_eq!(r.register(now, &reg(1, 1, 4, 60), src()), Registered::Stale);
        r.register(now, &reg(1, 1, 4, 0), src());
        assert_eq!(r.page(now, 1, NodeId([9; 16]), 0, 0).total, 1);
        r.register(now, &reg(1, 1, 5, 0), src());
        assert_eq!(r.page(now, 1, NodeId([9; 16]), 0, 0).total, 0);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn entries_expire_after_the_capped_ttl() {
        let mut c = cfg();
        c.max_ttl = Duration::from_secs(10);
        let mut r = Registry::new(&c);
        let now = Instant::now();
        r.register(now, &reg(1, 1, 1, 5), src());
        r.register(now, &reg(1, 2, 1, 600), src());
        let asker = NodeId([9; 16]);
        assert_eq!(r.page(now + Duration::from_secs(4), 1, asker, 0, 0).total, 2);
        assert_eq!(ids(&r.page(now + Duration::from_secs(6), 1, asker, 0, 0)), [2]);
        assert_eq!(r.sweep(now + Duration::from_secs(11)), 1);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn pages_leave_out_the_asker_and_stop_at_the_end() {
        let mut c = cfg();
        c.max_per_cluster = 100;
        c.max_entries = 100;
        let mut r = Registry::new(&c);
        let now = Instant::now();
        for id in 1..=30 {
            r.register(now, &reg(1, id, 1, 60), src());
        }
        let asker = NodeId([5; 16]);
        let p0 = r.page(now, 1, asker, 0, 0);
        assert_eq!((p0.total, p0.offset, p0.peers.len()), (29, 0, MAX_PEERS_PER_REPLY));
        assert!(!ids(&p0).contains(&5));
        let p1 = r.page(now, 1, asker, 24, 0);
        assert_eq!(ids(&p1), [26, 27, 28, 29, 30]);
        assert!(p1.is_last_page());
        assert_eq!(ids(&r.page(now, 1, asker, 2, 3)), [3, 4, 6]);
        let past = r.page(now, 1, asker, 500, 0);
        assert_eq!((past.total, past.offset, past.peers.len()), (29, 29, 0));
        let ipv6 = SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 1);
        assert_eq!(r.register(now, &reg(1, 31, 1, 60), ipv6), Registered::Added);
    }

    #[test]
    fn unusable_addresses_are_refused() {
        let mut r = Registry::new(&cfg());
        let now = Instant::now();
        let mut m = reg(1, 1, 1, 60);
        m.link_addr.set_port(0);
        assert_eq!(r.register(now, &m, src()), Registered::BadAddr);
        let unspecified = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 9);
        assert_eq!(r.register(now, &reg(1, 1, 1, 60), unspecified), Registered::BadAddr);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn rate_limit_per_source_ip_with_bounded_table() {
        let c = TrackerConfig {
            rate_per_source: 2,
            burst_per_source: 3,
            max_sources: 2,
            ..Default::default()
        };
        let mut l = RateLimiter::new(&c);
        let now = Instant::now();
        let a: IpAddr = Ipv4Addr::new(192, 0, 2, 1).into();
        let b: IpAddr = Ipv4Addr::new(192, 0, 2, 2).into();
        let d: IpAddr = Ipv4Addr::new(192, 0, 2, 3).into();
        assert_eq!((0..5).filter(|_| l.allow(now, a)).count(), 3);
        assert!(l.allow(now + Duration::from_millis(500), a), "refilled at 2/s");
        assert!(!l.allow(now + Duration::from_millis(500), a));
        assert!(l.allow(now, b));
        assert!(!l.allow(now, d), "table full of busy sources");
        // Both refill after 1.5 s and are forgotten: room again.
        assert!(l.allow(now + Duration::from_secs(3), d));
    }
}
