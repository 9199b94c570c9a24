//! Routing figures for a 200-node mesh on one LAN segment (1 ms one way):
//! steady routing overhead (LSA and LSA_ACK) per node per second, and the
//! time for every node to stop routing over a link once it has died.
//!
//! ```text
//! cargo run --release -p netcluster-sim --example mesh [N]
//! ```

use std::time::Duration;

use netcluster_core::{Config, NodeId};
use netcluster_sim::{Faults, NodeIx, Sim};

fn uses_edge(path: &[NodeId], a: NodeId, b: NodeId) -> bool {
    path.windows(2).any(|w| (w[0] == a && w[1] == b) || (w[0] == b && w[1] == a))
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(200);
    let mut sim = Sim::new(200);
    let lan = sim.add_segment(Faults::lan());
    let mut hosts = Vec::new();
    let nodes: Vec<NodeIx> = (0..n)
        .map(|i| {
            let h = sim.add_host(&[lan]);
            hosts.push(h);
            sim.add_node(h, Config::lan("mesh", format!("m{i}")))
        })
        .collect();
    sim.set_check_interval(Duration::from_millis(5));
    let ok = sim.run_until(sim.now() + Duration::from_secs(30), |s| {
        nodes.iter().all(|&x| s.node(x).is_some_and(|node| node.peers().count() == n - 1))
    });
    assert!(ok, "no convergence");
    sim.run_for(Duration::from_secs(30));
    sim.clear_records();
    // Long enough to include one LSA refresh (every 30 min) of every node.
    let window = Duration::from_secs(31 * 60);
    sim.run_for(window);
    let (mut dgrams, mut bytes) = (0u64, 0u64);
    for &x in &nodes {
        let c = sim.counters(x);
        for key in [(2u8, 7u8), (2, 12)] {
            let t = c.of(key.0, key.1);
            dgrams += t.sent;
            bytes += t.sent_bytes;
        }
    }
    let per = window.as_secs_f64() * n as f64;
    println!(
        "N = {n}: routing overhead {:.4} messages and {:.1} bytes per node per second",
        dgrams as f64 / per,
        bytes as f64 / per
    );

    // Kill one link: cut the pair and wait until one end has closed it.
    let (a, b) = {
        let node = sim.node(nodes[0]).unwrap();
        let (_, peer) = node.neighbours().next().expect("a neighbour");
        let bi = nodes.iter().position(|&x| sim.node_id(x) == peer).unwrap();
        (0usize, bi)
    };
    let (ida, idb) = (sim.node_id(nodes[a]), sim.node_id(nodes[b]));
    sim.set_check_interval(Duration::from_millis(1));
    sim.cut_pair(hosts[a], hosts[b]);
    let cut_at = sim.now();
    sim.run_until(cut_at + Duration::from_secs(10), |s| {
        !s.node(nodes[a]).unwrap().neighbours().any(|(_, p)| p == idb)
            || !s.node(nodes[b]).unwrap().neighbours().any(|(_, p)| p == ida)
    });
    let died = sim.now();
    let ids: Vec<NodeId> = nodes.iter().map(|&x| sim.node_id(x)).collect();
    let converged = sim.run_until(died + Duration::from_secs(10), |s| {
        nodes.iter().all(|&x| {
            let node = s.node(x).unwrap();
            ids.iter().all(|d| node.route_to(d).is_none_or(|p| !uses_edge(&p, ida, idb)))
        })
    });
    println!(
        "link died {:.3} s after the cut (keepalive); every node routes around it {} {:.3} s after it died",
        (died - cut_at).as_secs_f64(),
        if converged { "within" } else { "NOT within 10 s:" },
        (sim.now() - died).as_secs_f64()
    );
}
