use std::time::Duration;
use netcluster_core::Config;
use netcluster_sim::{Faults, NodeIx, Sim};
fn main() {
    let mut sim = Sim::new(1);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..10).map(|i| { let h = sim.add_host(&[lan]); sim.add_node(h, Config::lan("s", format!("n{i}"))) }).collect();
    for _ in 0..100000 {
        let before = sim.steps();
        sim.run_for(Duration::from_millis(1));
        if sim.steps() - before > 100000 { println!("stuck at {:?}", sim.now()); for &n in &nodes { println!("{:?} timeout {:?}", n, sim.node(n).unwrap().poll_timeout()); } return; }
    }
}
