//! `/metrics`: the agent's figures in the Prometheus text format (0.0.4),
//! encoded by `prometheus-client` from a registry built afresh at each
//! scrape out of one query per cluster node, so every figure of one
//! cluster comes from the same instant.
//!
//! Every series of a node carries a `cluster` label. Names:
//! - `netcluster_<counter>_total`: every counter of `netcluster stats`
//!   (`frames_sent`, `dropped_malformed`...);
//! - `netcluster_links_up`, `netcluster_peers_reachable`,
//!   `netcluster_messages_in_flight`: the three gauges of `stats`;
//! - `netcluster_members{state}`, `netcluster_routes`,
//!   `netcluster_node_info{node_id,name,version}`, `netcluster_clusters`;
//! - per link (`link`, `peer`, `peer_name`, `kind`): `netcluster_link_up`,
//!   `netcluster_link_rtt_seconds`, `netcluster_link_queue_bytes`,
//!   `netcluster_link_queue_data_bytes`, `netcluster_link_queue_frames`,
//!   `netcluster_link_queue_peak_bytes`, `netcluster_link_queue_dropped_total`,
//!   `netcluster_link_queue_marked_total`;
//! - per peer (`peer`, `peer_name`): `netcluster_peer_hops`,
//!   `netcluster_peer_{rx,tx}_bytes_per_second`,
//!   `netcluster_peer_{rx,tx}_messages_per_second`,
//!   `netcluster_peer_srtt_seconds`;
//! - the process, under the names every Prometheus client library uses:
//!   `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//!   `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//!   `process_threads`, `process_start_time_seconds` (Linux, from
//!   `/proc/self`).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;

use netcluster_tokio::{LinkInfo, LinkMode, Node, NodeId};
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of `/metrics`.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// The counters of `stats` that are gauges.
const STATS_GAUGES: [(&str, &str); 3] = [
    ("links_up", "Links up now"),
    ("peers_reachable", "Peers with a route now"),
    ("messages_in_flight", "Reliable messages sent and not yet acknowledged"),
];

type Labels = Vec<(String, String)>;
type IntGauges = Family<Labels, Gauge>;
type FloatGauges = Family<Labels, Gauge<f64, AtomicU64>>;
type Counters = Family<Labels, Counter>;

/// What one query of a cluster's node returns.
pub(crate) struct NodeFigures {
    id: NodeId,
    name: String,
    /// `stats`, as the admin socket gives it.
    stats: Vec<(String, u64)>,
    /// The agent's own state and each peer's.
    states: Vec<&'static str>,
    routes: usize,
    peers: Vec<netcluster_tokio::PeerInfo>,
    links: Vec<LinkInfo>,
}

impl NodeFigures {
    /// Reads them from the node.
    pub(crate) fn of(node: &Node) -> NodeFigures {
        let stats = crate::admin::handlers::counters(node)
            .into_iter()
            .map(|c| (c.name.to_string(), c.value))
            .collect();
        let mut states = vec![node.state().as_str()];
        states.extend(node.peers().map(|p| p.state.as_str()));
        NodeFigures {
            id: node.id(),
            name: node.config().name.clone(),
            stats,
            states,
            routes: node.peers().filter(|p| node.route_to(&p.id).is_some()).count(),
            peers: node.peers().cloned().collect(),
            links: node.links(),
        }
    }
}

/// The whole `/metrics` page: every cluster's node, then the process.
pub(crate) async fn render(source: &super::Source) -> String {
    let mut figures = Vec::new();
    for (cluster, handle) in source.all().await {
        // A node stopping under us is simply left out.
        if let Ok(f) = handle.query(NodeFigures::of).await {
            figures.push((cluster, f));
        }
    }
    encode(&figures, &process_figures())
}

/// Builds the registry and encodes it.
pub(crate) fn encode(clusters: &[(String, NodeFigures)], process: &ProcessFigures) -> String {
    let mut reg = Registry::default();
    let lbl = |pairs: &[(&str, &str)]| -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let int_gauge = |reg: &mut Registry, name: &str, help: &str| {
        let f = IntGauges::default();
        reg.register(name, help, f.clone());
        f
    };
    let float_gauge = |reg: &mut Registry, name: &str, help: &str| {
        let f = FloatGauges::default();
        reg.register(name, help, f.clone());
        f
    };
    let counter = |reg: &mut Registry, name: &str, help: &str| {
        let f = Counters::default();
        reg.register(name, help, f.clone());
        f
    };

    let n_clusters = Gauge::<i64>::default();
    reg.register("netcluster_clusters", "Clusters the agent is in", n_clusters.clone());
    n_clusters.set(i64::try_from(clusters.len()).unwrap_or(i64::MAX));
    let info = int_gauge(&mut reg, "netcluster_node_info", "The agent's node in each cluster");
    let members = int_gauge(&mut reg, "netcluster_members", "Members by state, the agent included");
    let routes = int_gauge(&mut reg, "netcluster_routes", "Routes the agent's node holds");

    // `stats`: one family per name, in the order the node lists them.
    let mut stat_counters: BTreeMap<String, Counters> = BTreeMap::new();
    let mut stat_gauges: BTreeMap<String, IntGauges> = BTreeMap::new();
    for (name, help) in STATS_GAUGES {
        stat_gauges.insert(name.into(), int_gauge(&mut reg, &format!("netcluster_{name}"), help));
    }
    for (_, f) in clusters {
        for (name, _) in &f.stats {
            if stat_gauges.contains_key(name) || stat_counters.contains_key(name) {
                continue;
            }
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            let help = format!("The node's `{name}` counter (netcluster stats)");
            stat_counters
                .insert(name.clone(), counter(&mut reg, &format!("netcluster_{name}"), &help));
        }
    }

    let link_up =
        int_gauge(&mut reg, "netcluster_link_up", "1 if the link is up, 0 while it opens");
    let link_rtt = float_gauge(
        &mut reg,
        "netcluster_link_rtt_seconds",
        "The link's least round trip measured",
    );
    let q_bytes =
        int_gauge(&mut reg, "netcluster_link_queue_bytes", "Bytes in the link's output queue");
    let q_data = int_gauge(
        &mut reg,
        "netcluster_link_queue_data_bytes",
        "DATA bytes in the link's output queue",
    );
    let q_frames =
        int_gauge(&mut reg, "netcluster_link_queue_frames", "Frames in the link's output queue");
    let q_peak = int_gauge(
        &mut reg,
        "netcluster_link_queue_peak_bytes",
        "Most bytes the link's queue has held",
    );
    let q_drop = counter(
        &mut reg,
        "netcluster_link_queue_dropped",
        "DATA frames dropped on the link's full queue",
    );
    let q_mark = counter(
        &mut reg,
        "netcluster_link_queue_marked",
        "DATA frames marked congestion-experienced on the link",
    );

    let p_hops = int_gauge(&mut reg, "netcluster_peer_hops", "Hops on the route to the peer");
    let p_rx_b = int_gauge(
        &mut reg,
        "netcluster_peer_rx_bytes_per_second",
        "Bytes a second received from the peer",
    );
    let p_tx_b = int_gauge(
        &mut reg,
        "netcluster_peer_tx_bytes_per_second",
        "Bytes a second sent to the peer",
    );
    let p_rx_m = int_gauge(
        &mut reg,
        "netcluster_peer_rx_messages_per_second",
        "Messages a second received from the peer",
    );
    let p_tx_m = int_gauge(
        &mut reg,
        "netcluster_peer_tx_messages_per_second",
        "Messages a second sent to the peer",
    );
    let p_srtt =
        float_gauge(&mut reg, "netcluster_peer_srtt_seconds", "Smoothed round trip to the peer");

    let int = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let size = |v: usize| i64::try_from(v).unwrap_or(i64::MAX);
    for (cluster, f) in clusters {
        let c = cluster.as_str();
        let id = f.id.to_string();
        info.get_or_create(&lbl(&[
            ("cluster", c),
            ("node_id", &id),
            ("name", &f.name),
            ("version", env!("CARGO_PKG_VERSION")),
        ]))
        .set(1);
        for (name, value) in &f.stats {
            let l = lbl(&[("cluster", c)]);
            if let Some(g) = stat_gauges.get(name) {
                g.get_or_create(&l).set(int(*value));
            } else if let Some(k) = stat_counters.get(name) {
                k.get_or_create(&l).inc_by(*value);
            }
        }
        let mut by_state: BTreeMap<&str, i64> = BTreeMap::new();
        for s in &f.states {
            *by_state.entry(s).or_default() += 1;
        }
        for (state, n) in by_state {
            members.get_or_create(&lbl(&[("cluster", c), ("state", state)])).set(n);
        }
        routes.get_or_create(&lbl(&[("cluster", c)])).set(size(f.routes));
        let names: BTreeMap<NodeId, &str> =
            f.peers.iter().map(|p| (p.id, p.name.as_str())).collect();
        for l in &f.links {
            let peer = l.peer.map(|p| p.to_string()).unwrap_or_default();
            let peer_name = l.peer.and_then(|p| names.get(&p).copied()).unwrap_or_default();
            let kind = match l.kind {
                LinkMode::Stream => "stream",
                LinkMode::Datagram => "datagram",
            };
            let link = l.id.0.to_string();
            let ls = lbl(&[
                ("cluster", c),
                ("link", &link),
                ("peer", &peer),
                ("peer_name", peer_name),
                ("kind", kind),
            ]);
            link_up.get_or_create(&ls).set(i64::from(l.up));
            if let Some(rtt) = l.min_rtt {
                link_rtt.get_or_create(&ls).set(rtt.as_secs_f64());
            }
            q_bytes.get_or_create(&ls).set(size(l.queued_bytes));
            q_data.get_or_create(&ls).set(size(l.queued_data_bytes));
            q_frames.get_or_create(&ls).set(size(l.queued_frames));
            q_peak.get_or_create(&ls).set(size(l.queue.peak_bytes));
            q_drop.get_or_create(&ls).inc_by(l.queue.dropped);
            q_mark.get_or_create(&ls).inc_by(l.queue.marked);
        }
        for p in &f.peers {
            let peer = p.id.to_string();
            let ls = lbl(&[("cluster", c), ("peer", &peer), ("peer_name", &p.name)]);
            let t = &p.traffic;
            p_hops.get_or_create(&ls).set(i64::from(p.hops));
            p_rx_b.get_or_create(&ls).set(int(t.rx_bytes_per_sec));
            p_tx_b.get_or_create(&ls).set(int(t.tx_bytes_per_sec));
            p_rx_m.get_or_create(&ls).set(int(t.rx_msgs_per_sec));
            p_tx_m.get_or_create(&ls).set(int(t.tx_msgs_per_sec));
            if let Some(srtt) = t.srtt {
                p_srtt.get_or_create(&ls).set(srtt.as_secs_f64());
            }
        }
    }
    process.register(&mut reg);

    let mut out = String::new();
    if let Err(e) = prometheus_text::encode(&mut out, &reg) {
        tracing::warn!(error = %e, "metrics encoding failed");
    }
    out
}

/// The process's own figures, where `/proc/self` gives them.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ProcessFigures {
    cpu_seconds: Option<f64>,
    resident_bytes: Option<u64>,
    virtual_bytes: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
    threads: Option<u64>,
    start_time_seconds: Option<f64>,
}

/// Clock ticks a second of `/proc` times (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// Reads the process's figures (all `None` where `/proc` is missing).
pub(crate) fn process_figures() -> ProcessFigures {
    let mut p = ProcessFigures::default();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..].split_whitespace().next()?.parse::<u64>().ok()
    };
    p.resident_bytes = kb("VmRSS:").map(|k| k * 1024);
    p.virtual_bytes = kb("VmSize:").map(|k| k * 1024);
    p.threads = kb("Threads:");
    p.open_fds =
        std::fs::read_dir("/proc/self/fd").ok().map(|d| d.filter_map(Result::ok).count() as u64);
    p.max_fds = std::fs::read_to_string("/proc/self/limits").ok().and_then(|l| {
        let line = l.lines().find(|l| l.starts_with("Max open files"))?;
        line["Max open files".len()..].split_whitespace().next()?.parse().ok()
    });
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which is in parentheses and may
        // hold spaces: state is field 3, utime 14, stime 15, starttime 22.
        if let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i - 3).and_then(|s| s.parse::<u64>().ok());
            if let (Some(u), Some(s)) = (num(14), num(15)) {
                p.cpu_seconds = Some((u + s) as f64 / USER_HZ);
            }
            let boot = std::fs::read_to_string("/proc/stat").ok().and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())
            });
            if let (Some(start), Some(boot)) = (num(22), boot) {
                p.start_time_seconds = Some(boot as f64 + start as f64 / USER_HZ);
            }
        }
    }
    p
}

impl ProcessFigures {
    fn register(&self, reg: &mut Registry) {
        let int = |reg: &mut Registry, name: &str, help: &str, v: Option<u64>| {
            if let Some(v) = v {
                let g = Gauge::<i64>::default();
                g.set(i64::try_from(v).unwrap_or(i64::MAX));
                reg.register(name, help, g);
            }
        };
        let float = |reg: &mut Registry, name: &str, help: &str, v: Option<f64>| {
            if let Some(v) = v {
                let g = Gauge::<f64, AtomicU64>::default();
                g.set(v);
                reg.register(name, help, g);
            }
        };
        if let Some(cpu) = self.cpu_seconds {
            let c = Counter::<f64, AtomicU64>::default();
            c.inc_by(cpu);
            reg.register("process_cpu_seconds", "User and system CPU time spent", c);
        }
        int(reg, "process_resident_memory_bytes", "Resident memory size", self.resident_bytes);
        int(reg, "process_virtual_memory_bytes", "Virtual memory size", self.virtual_bytes);
        int(reg, "process_open_fds", "Open file descriptors", self.open_fds);
        int(reg, "process_max_fds", "Most file descriptors the process may open", self.max_fds);
        int(reg, "process_threads", "Threads of the process", self.threads);
        float(
            reg,
            "process_start_time_seconds",
            "Start time of the process since the Unix epoch",
            self.start_time_seconds,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_total_and_gauges_do_not() {
        let f = NodeFigures {
            id: NodeId([7; 16]),
            name: "a".into(),
            stats: vec![("frames_sent".into(), 12), ("links_up".into(), 2)],
            states: vec!["ready", "ready", "init"],
            routes: 2,
            peers: Vec::new(),
            links: Vec::new(),
        };
        let text = encode(&[("c".into(), f)], &ProcessFigures::default());
        assert!(text.contains("# TYPE netcluster_frames_sent_total counter"), "{text}");
        assert!(text.contains("netcluster_frames_sent_total{cluster=\"c\"} 12\n"), "{text}");
        assert!(text.contains("netcluster_links_up{cluster=\"c\"} 2\n"), "{text}");
        assert!(text.contains("netcluster_members{cluster=\"c\",state=\"ready\"} 2\n"), "{text}");
        assert!(text.contains("netcluster_members{cluster=\"c\",state=\"init\"} 1\n"), "{text}");
        assert!(text.contains("netcluster_routes{cluster=\"c\"} 2\n"), "{text}");
        assert!(text.contains("netcluster_clusters 1\n"), "{text}");
    }

    #[test]
    fn a_peer_name_cannot_break_the_exposition() {
        let peer = netcluster_tokio::PeerInfo {
            id: NodeId([9; 16]),
            incarnation: 1,
            name: "x\"} 1\nnetcluster_fake 2 \\".into(),
            addr: "127.0.0.1:7400".parse().unwrap(),
            state: netcluster_tokio::NodeState::Ready,
            headers: Vec::new(),
            groups: Vec::new(),
            hops: 1,
            traffic: Default::default(),
        };
        let f = NodeFigures {
            id: NodeId([7; 16]),
            name: "a".into(),
            stats: Vec::new(),
            states: vec!["ready"],
            routes: 0,
            peers: vec![peer],
            links: Vec::new(),
        };
        let text = encode(&[("c".into(), f)], &ProcessFigures::default());
        assert!(!text.lines().any(|l| l.starts_with("netcluster_fake")), "{text}");
        let hops = text.lines().find(|l| l.starts_with("netcluster_peer_hops{")).unwrap();
        assert!(hops.contains(r#"peer_name="x\"} 1\nnetcluster_fake 2 \\""#), "{hops}");
        assert!(hops.ends_with("} 1"), "{hops}");
    }

    #[test]
    fn process_figures_are_read_on_linux() {
        let p = process_figures();
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(p.resident_bytes.is_some_and(|b| b > 0), "{p:?}");
            assert!(p.cpu_seconds.is_some(), "{p:?}");
            assert!(p.open_fds.is_some_and(|n| n > 0), "{p:?}");
        }
    }
}
