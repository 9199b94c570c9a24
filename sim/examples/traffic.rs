//! Steady-state traffic by message type for N nodes on one LAN segment.
//!
//! ```text
//! cargo run --release -p netcluster-sim --example traffic [N]
//! ```

use netcluster_core::Config;
use netcluster_sim::{Faults, NodeIx, Sim};
use std::time::Duration;
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100);
    let mut sim = Sim::new(1);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..n)
        .map(|i| {
            let h = sim.add_host(&[lan]);
            sim.add_node(h, Config::lan("s", format!("n{i}")))
        })
        .collect();
    sim.run_for(Duration::from_secs(30));
    sim.clear_records();
    sim.run_for(Duration::from_secs(60));
    let mut by = std::collections::BTreeMap::new();
    let mut deg = 0;
    for &x in &nodes {
        for (k, t) in &sim.counters(x).by_type {
            let e = by.entry(*k).or_insert((0u64, 0u64));
            e.0 += t.sent;
            e.1 += t.received;
        }
        deg += sim.node(x).unwrap().neighbours().count();
    }
    println!("N = {n}, average degree {:.2}", deg as f64 / n as f64);
    for (k, (s, r)) in by {
        println!(
            "{:?} sent/node/s {:.3} recv/node/s {:.3}",
            k,
            s as f64 / 60.0 / n as f64,
            r as f64 / 60.0 / n as f64
        );
    }
}
