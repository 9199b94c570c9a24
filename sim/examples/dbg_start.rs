use std::time::Duration;
use netcluster_core::Config;
use netcluster_sim::{Faults, NodeIx, Sim};
fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let mut sim = Sim::new(1);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..n).map(|i| { let h = sim.add_host(&[lan]); sim.add_node(h, Config::lan("s", format!("n{i}"))) }).collect();
    let t = std::time::Instant::now();
    for step in 0..40 {
        sim.run_for(Duration::from_millis(50));
        let full = nodes.iter().filter(|&&x| sim.node(x).unwrap().peers().count() == n - 1).count();
        let avg: f64 = nodes.iter().map(|&x| sim.node(x).unwrap().peers().count() as f64).sum::<f64>() / n as f64;
        println!("t={}ms full={} avg={:.1} wall={:.1}s steps={}", (step+1)*50, full, avg, t.elapsed().as_secs_f64(), sim.steps());
        if full == n { break; }
    }
}
