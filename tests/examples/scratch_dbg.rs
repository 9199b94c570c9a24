use netcluster_core::Config;
use netcluster_sim::{Faults, Sim};
use netcluster_tests::sim_helpers::*;
use std::time::Duration;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let seed: u64 = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(202);
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment(Faults::lan());
    let nodes = lan_nodes(&mut sim, lan, n, "scn", "n");
    let _ = Config::lan("a", "b");
    sim.set_check_interval(Duration::from_millis(5));
    for i in 0..200 {
        if i == 40 {
            println!("SHUTDOWN");
            sim.shutdown(nodes[3]);
        }
        let s0 = sim.steps();
        let w = std::time::Instant::now();
        sim.run_for(Duration::from_millis(50));
        let links: usize = nodes
            .iter()
            .map(|&x| sim.node(x).map_or(0, |nd| nd.neighbours().count()))
            .sum();
        let opened: u64 = nodes
            .iter()
            .map(|&x| sim.node(x).map_or(0, |nd| nd.stats().links_opened))
            .sum();
        println!(
            "t={:?} steps+{} wall {:?} all_see_all={} links_up={} opened={}",
            sim.now(),
            sim.steps() - s0,
            w.elapsed(),
            all_see_all(&sim, &nodes),
            links,
            opened
        );
        let _ = i;
    }
}
