//! Temporary diagnostics for the scenario tests (to be removed).
use netcluster_core::{Event, NodeId};
use netcluster_sim::{Faults, Sim};
use netcluster_tests::sim_helpers::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn main() {
    let seed: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(404);
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment(Faults::lan().with_loss(0.2, 0.05, 0.1));
    let nodes = lan_nodes(&mut sim, lan, 20, "scn", "n");
    sim.set_check_interval(Duration::from_millis(10));
    let t = converge(&mut sim, &nodes, Duration::from_secs(30));
    println!("converged {t:?}");
    let t0 = sim.now();
    let ids: BTreeMap<NodeId, usize> = nodes.iter().map(|&n| (sim.node_id(n), n.0)).collect();
    let mut zero_link_ms = vec![0u64; 20];
    let mut last_ev = vec![0usize; 20];
    for n in &nodes {
        last_ev[n.0] = sim.events(*n).len();
    }
    let mut split_checks = 0u64;
    let mut pair_state: BTreeMap<(usize, usize), (bool, u64)> = BTreeMap::new();
    let mut outages: Vec<u64> = Vec::new();
    for step in 0..60000u64 {
        sim.run_for(Duration::from_millis(10));
        // undirected graph of up links (either side)
        let mut adj: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
        for &n in &nodes {
            let node = sim.node(n).unwrap();
            let c = node.neighbours().count();
            if c == 0 {
                zero_link_ms[n.0] += 10;
            }
            for (_, p) in node.neighbours() {
                let o = ids[&p];
                adj.entry(n.0).or_default().insert(o);
                adj.entry(o).or_default().insert(n.0);
            }
        }
        {
            let mut both = BTreeSet::new();
            for (&a, bs) in &adj {
                for &b in bs {
                    if a < b {
                        let an = sim
                            .node(netcluster_sim::NodeIx(a))
                            .unwrap()
                            .neighbours()
                            .any(|(_, p)| ids[&p] == b);
                        let bn = sim
                            .node(netcluster_sim::NodeIx(b))
                            .unwrap()
                            .neighbours()
                            .any(|(_, p)| ids[&p] == a);
                        if an && bn {
                            both.insert((a, b));
                        }
                    }
                }
            }
            let now = step * 10;
            let keys: Vec<(usize, usize)> =
                pair_state.keys().copied().chain(both.iter().copied()).collect();
            for k in keys {
                let up = both.contains(&k);
                let e = pair_state.entry(k).or_insert((up, now));
                if e.0 != up {
                    if up {
                        outages.push(now - e.1);
                    }
                    *e = (up, now);
                }
            }
        }
        // components of graph using edges up on BOTH sides
        let mut seen = BTreeSet::new();
        let mut stack = vec![0usize];
        while let Some(x) = stack.pop() {
            if !seen.insert(x) {
                continue;
            }
            for &y in adj.get(&x).into_iter().flatten() {
                stack.push(y);
            }
        }
        if seen.len() < 20 {
            split_checks += 1;
        }
        for &n in &nodes {
            let ev = sim.events(n);
            for (at, e) in &ev[last_ev[n.0]..] {
                if let Event::PeerDown { id, reason, .. } = e {
                    let o = ids[id];
                    let ol = sim
                        .node(netcluster_sim::NodeIx(o))
                        .unwrap()
                        .neighbours()
                        .map(|(_, p)| ids[&p])
                        .collect::<Vec<_>>();
                    let nl =
                        sim.node(n).unwrap().neighbours().map(|(_, p)| ids[&p]).collect::<Vec<_>>();
                    println!("{:?} n{} sees n{} down {:?}; n{} links {:?}; n{} links {:?}; comp-of-0 size {}", elapsed(*at,t0), n.0, o, reason, n.0, nl, o, ol, seen.len());
                }
            }
            last_ev[n.0] = ev.len();
        }
        let _ = step;
    }
    outages.sort();
    let n = outages.len();
    if n > 0 {
        println!(
            "outages {} : p50 {} p90 {} p99 {} max {} ms; >=1s: {}",
            n,
            outages[n / 2],
            outages[n * 9 / 10],
            outages[n * 99 / 100],
            outages[n - 1],
            outages.iter().filter(|&&o| o >= 1000).count()
        );
    }
    println!(
        "zero-link ms per node {:?}; split (either-side graph) checks {}",
        zero_link_ms, split_checks
    );
    let (mut ka, mut rej, mut op) = (0, 0, 0);
    for &n in &nodes {
        let s = sim.node(n).unwrap().stats();
        ka += s.keepalive_timeouts;
        rej += s.links_rejected;
        op += s.links_opened;
    }
    println!("keepalive timeouts {ka} rejected {rej} opened {op}");
}
