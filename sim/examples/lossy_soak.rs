//! Soak under loss: N nodes on a segment with 20% loss, 5% duplication and
//! 10% reordering for ten virtual minutes, for several seeds; prints the
//! false "down" reports (there should be none) and link churn.
//!
//! ```text
//! cargo run --release -p netcluster-sim --example lossy_soak [SEEDS]
//! ```

use std::time::Duration;

use netcluster_core::{Config, Event, LinkMode};
use netcluster_sim::{Faults, NodeIx, Sim};

fn main() {
    let seeds: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(5);
    for mode in [LinkMode::Stream, LinkMode::Datagram] {
        for seed in 1..=seeds {
            let mut sim = Sim::new(seed);
            let seg = sim.add_segment(Faults::lan().with_loss(0.2, 0.05, 0.1));
            let nodes: Vec<NodeIx> = (0..20)
                .map(|i| {
                    let h = sim.add_host(&[seg]);
                    let mut cfg = Config::lan("soak", format!("n{i}"));
                    cfg.link_mode = mode;
                    sim.add_node(h, cfg)
                })
                .collect();
            let ok = sim.run_until(sim.now() + Duration::from_secs(30), |s| {
                nodes.iter().all(|&n| s.node(n).is_some_and(|x| x.peers().count() == 19))
            });
            sim.clear_records();
            sim.run_for(Duration::from_secs(600));
            let downs: usize = nodes
                .iter()
                .map(|&n| {
                    sim.events(n)
                        .iter()
                        .filter(|(_, e)| matches!(e, Event::PeerDown { .. }))
                        .count()
                })
                .sum();
            let timeouts: u64 =
                nodes.iter().map(|&n| sim.node(n).unwrap().stats().keepalive_timeouts).sum();
            println!("{mode:?} seed {seed}: converged {ok}, false downs {downs}, keepalive timeouts {timeouts}");
        }
    }
}
