//! SRV resolution: the SRV set, its order (RFC 2782), and each target's
//! addresses.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::rr::{Name, RData, RecordType};

use super::query::{check_rcode, exchange, parse_name, DnsError};

/// Bounds of one resolution, so that a hostile or broken server cannot make
/// the resolver do unbounded work.
#[derive(Debug, Clone, Copy)]
pub struct SrvLimits {
    /// Time allowed for each DNS exchange. Default 3 s.
    pub timeout: Duration,
    /// Most SRV records used (the first ones in priority order). Default 64.
    pub max_records: usize,
    /// Most addresses used per target. Default 16.
    pub max_addrs_per_target: usize,
}

impl Default for SrvLimits {
    fn default() -> Self {
        SrvLimits { timeout: Duration::from_secs(3), max_records: 64, max_addrs_per_target: 16 }
    }
}

/// One SRV record and the addresses of its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    /// Lower is tried first.
    pub priority: u16,
    /// Relative share among the records of the same priority.
    pub weight: u16,
    /// The port of the service on the target.
    pub port: u16,
    /// The target host, absolute (`node1.example.test.`).
    pub target: String,
    /// The target's addresses with `port`; empty when it has none.
    pub addrs: Vec<SocketAddr>,
}

/// The outcome of [`resolve_srv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvResolution {
    /// The records in the order to try them: priority ascending, then
    /// weighted random order within each priority (RFC 2782).
    pub targets: Vec<SrvTarget>,
    /// The smallest TTL of the records used: how long the answer may be
    /// kept.
    pub ttl: Duration,
}

impl SrvResolution {
    /// Every address, in the order of [`targets`](Self::targets), without
    /// repeats.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        let mut seen = HashSet::new();
        self.targets.iter().flat_map(|t| &t.addrs).filter(|a| seen.insert(**a)).copied().collect()
    }
}

#[derive(Debug, Clone)]
struct Srv {
    priority: u16,
    weight: u16,
    port: u16,
    target: Name,
}

/// Orders SRV records as RFC 2782 says: by priority, lowest first; within a
/// priority, repeatedly pick one at random with probability proportional
/// to its weight (records of weight 0 have a small chance, and come first
/// among equals so that they are picked only when drawn).
fn rfc2782_order<T: Clone>(records: &[(u16, u16, T)], rng: &mut fastrand::Rng) -> Vec<T> {
    let mut sorted: Vec<_> = records.to_vec();
    sorted.sort_by_key(|r| r.0);
    let mut out = Vec::with_capacity(sorted.len());
    let mut start = 0;
    while start < sorted.len() {
        let prio = sorted[start].0;
        let end = start + sorted[start..].iter().take_while(|r| r.0 == prio).count();
        let mut group: Vec<(u16, T)> =
            sorted[start..end].iter().map(|r| (r.1, r.2.clone())).collect();
        // Weight 0 first, as the RFC's selection algorithm requires.
        group.sort_by_key(|r| r.0 != 0);
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|r| u32::from(r.0)).sum();
            let pick = rng.u32(0..=sum);
            let mut running = 0;
            let at = group
                .iter()
                .position(|r| {
                    running += u32::from(r.0);
                    running >= pick
                })
                .unwrap_or(group.len() - 1);
            out.push(group.remove(at).1);
        }
        start = end;
    }
    out
}

/// The names `name` stands for in an answer: itself and every CNAME
/// target reached from it (an alias chain).
fn aliases(answer: &Message, name: &Name) -> Vec<Name> {
    let mut names = vec![name.clone()];
    // Bounded: each pass adds one name at most, and a chain cannot be
    // longer than the answer.
    for _ in 0..answer.answers.len() {
        let next = answer.answers.iter().find_map(|r| match &r.data {
            RData::CNAME(c) if names.contains(&r.name) && !names.contains(&c.0) => {
                Some(c.0.clone())
            }
            _ => None,
        });
        match next {
            Some(n) => names.push(n),
            None => break,
        }
    }
    names
}

/// Resolves the SRV records of `srv_name` through `server`, and each
/// target's addresses: from the additional section when the server put
/// A/AAAA records for the target there, else by asking for A and AAAA.
/// Targets whose address lookups fail are kept with no address (logged);
/// a target of `.` ("service not available here") is left out.
pub async fn resolve_srv(
    srv_name: &str,
    server: SocketAddr,
    limits: SrvLimits,
) -> Result<SrvResolution, DnsError> {
    let name = parse_name(srv_name)?;
    let answer = exchange(server, &name, RecordType::SRV, limits.timeout).await?;
    check_rcode(server, &name, &answer)?;
    let owners = aliases(&answer, &name);
    let mut ttl = u32::MAX;
    let mut records = Vec::new();
    for r in &answer.answers {
        if let RData::SRV(srv) = &r.data {
            if owners.contains(&r.name) && !srv.target.is_root() {
                ttl = ttl.min(r.ttl);
                let s = Srv {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: srv.target.clone(),
                };
                records.push((srv.priority, srv.weight, s));
            }
        }
    }
    if records.is_empty() {
        return Err(DnsError::NoRecords { name: name.to_ascii(), rtype: "SRV".into() });
    }
    let mut ordered = rfc2782_order(&records, &mut fastrand::Rng::new());
    ordered.truncate(limits.max_records);

    let mut targets = Vec::with_capacity(ordered.len());
    for s in ordered {
        let (ips, addr_ttl) = match ips_from(&answer.additionals, &s.target) {
            Some(found) => found,
            None => lookup_ips(server, &s.target, limits).await,
        };
        if let Some(t) = addr_ttl {
            ttl = ttl.min(t);
        }
        let addrs = ips
            .into_iter()
            .take(limits.max_addrs_per_target)
            .map(|ip| SocketAddr::new(ip, s.port))
            .collect();
        targets.push(SrvTarget {
            priority: s.priority,
            weight: s.weight,
            port: s.port,
            target: s.target.to_ascii(),
            addrs,
        });
    }
    Ok(SrvResolution { targets, ttl: Duration::from_secs(u64::from(ttl)) })
}

/// The A/AAAA records for `target` among `records`, with their smallest
/// TTL; `None` when there are none.
fn ips_from(
    records: &[hickory_proto::rr::Record],
    target: &Name,
) -> Option<(Vec<IpAddr>, Option<u32>)> {
    let mut ips = Vec::new();
    let mut ttl = None::<u32>;
    for r in records.iter().filter(|r| &r.name == target) {
        if let Some(ip) = r.data.ip_addr() {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
            ttl = Some(ttl.map_or(r.ttl, |t| t.min(r.ttl)));
        }
    }
    (!ips.is_empty()).then_some((ips, ttl))
}

/// Asks for the A and AAAA records of `target`; a failure of either is
/// logged and leaves its addresses out.
async fn lookup_ips(
    server: SocketAddr,
    target: &Name,
    limits: SrvLimits,
) -> (Vec<IpAddr>, Option<u32>) {
    let (a, aaaa) = tokio::join!(
        lookup_type(server, target, RecordType::A, limits),
        lookup_type(server, target, RecordType::AAAA, limits),
    );
    let mut ips = Vec::new();
    let mut ttl = None::<u32>;
    for result in [a, aaaa] {
        match result {
            Ok((found, t)) => {
                ips.extend(found);
                if let Some(t) = t {
                    ttl = Some(ttl.map_or(t, |x| x.min(t)));
                }
            }
            Err(e) => tracing::debug!(%target, error = %e, "address lookup failed"),
        }
    }
    if ips.is_empty() {
        tracing::warn!(%target, "SRV target has no address");
    }
    (ips, ttl)
}

async fn lookup_type(
    server: SocketAddr,
    target: &Name,
    rtype: RecordType,
    limits: SrvLimits,
) -> Result<(Vec<IpAddr>, Option<u32>), DnsError> {
    let answer = exchange(server, target, rtype, limits.timeout).await?;
    check_rcode(server, target, &answer)?;
    let owners = aliases(&answer, target);
    let mut ips = Vec::new();
    let mut ttl = None::<u32>;
    for r in answer.answers.iter().filter(|r| owners.contains(&r.name)) {
        let ip = match (&r.data, rtype) {
            (RData::A(a), RecordType::A) => IpAddr::from(a.0),
            (RData::AAAA(a), RecordType::AAAA) => IpAddr::from(a.0),
            _ => continue,
        };
        ips.push(ip);
        ttl = Some(ttl.map_or(r.ttl, |t| t.min(r.ttl)));
    }
    Ok((ips, ttl))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_priority_always_first() {
        let records = [(20, 100, "c"), (10, 0, "a"), (10, 5, "b"), (30, 1, "d")];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200 {
            let order = rfc2782_order(&records, &mut rng);
            assert_eq!(order.len(), 4);
            assert!(order[..2].contains(&"a") && order[..2].contains(&"b"));
            assert_eq!(&order[2..], ["c", "d"]);
        }
    }

    #[test]
    fn weights_share_first_place() {
        let records = [(1, 10, "light"), (1, 90, "heavy"), (1, 0, "zero")];
        let mut rng = fastrand::Rng::with_seed(42);
        let (mut heavy, mut zero) = (0, 0);
        let n = 4000;
        for _ in 0..n {
            match rfc2782_order(&records, &mut rng)[0] {
                "heavy" => heavy += 1,
                "zero" => zero += 1,
                _ => {}
            }
        }
        // Expected: heavy 90/101, zero 1/101 of the draws.
        let share = f64::from(heavy) / f64::from(n);
        assert!((0.85..0.93).contains(&share), "heavy first in {share}");
        assert!(zero < n / 40, "weight 0 first {zero} times");
    }

    #[test]
    fn all_zero_weights_still_order_everything() {
        let records = [(1, 0, 1), (1, 0, 2), (1, 0, 3)];
        let mut rng = fastrand::Rng::with_seed(1);
        let mut order = rfc2782_order(&records, &mut rng);
        order.sort();
        assert_eq!(order, [1, 2, 3]);
    }
}
