//! A guided tour of a netcluster mesh in the simulator, in virtual time:
//! five nodes on a LAN discover each other, join groups, one crashes and is
//! detected, it restarts and rejoins, one leaves cleanly.
//!
//! ```text
//! cargo run --release -p netcluster-sim --example demo
//! ```

use std::time::Duration;

use netcluster_core::{Config, Event};
use netcluster_sim::{Faults, NodeIx, Sim};

fn show(sim: &Sim, nodes: &[NodeIx], from: &mut [usize]) {
    let mut lines = Vec::new();
    for (i, &n) in nodes.iter().enumerate() {
        for (t, e) in &sim.events(n)[from[i].min(sim.events(n).len())..] {
            let line = match e {
                Event::PeerUp(p) => {
                    format!("sees {} up ({} hops, groups {:?})", p.name, p.hops, p.groups)
                }
                Event::PeerUpdated(p) => format!("sees {} updated (groups {:?})", p.name, p.groups),
                Event::PeerDown { name, reason, .. } => {
                    format!("sees {name} down: {}", reason.as_str())
                }
                Event::GroupJoined { group, .. } => format!("sees a peer join {group:?}"),
                Event::GroupLeft { group, .. } => format!("sees a peer leave {group:?}"),
                Event::LinkRejected { reason, .. } => format!("link rejected: {reason:?}"),
                _ => continue,
            };
            lines.push((*t, i, line));
        }
        from[i] = sim.events(n).len();
    }
    lines.sort_by_key(|(t, i, _)| (*t, *i));
    for (t, i, line) in lines {
        println!("  {:>9.3} s  n{i} {line}", t.as_micros() as f64 / 1e6);
    }
}

fn everyone_sees(sim: &Sim, nodes: &[NodeIx], count: usize) -> bool {
    nodes.iter().all(|&n| sim.node(n).is_some_and(|node| node.peers().count() == count))
}

fn main() {
    let mut sim = Sim::new(2026);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..5)
        .map(|i| {
            let host = sim.add_host(&[lan]);
            let mut cfg = Config::lan("demo", format!("n{i}"));
            cfg.groups = vec![if i % 2 == 0 { "even" } else { "odd" }.into()];
            sim.add_node(host, cfg)
        })
        .collect();
    let mut seen = vec![0usize; nodes.len()];

    println!("1. five nodes start on one LAN (1 ms one way)");
    let t0 = sim.now();
    sim.run_until(t0 + Duration::from_secs(5), |s| everyone_sees(s, &nodes, 4));
    show(&sim, &nodes, &mut seen);
    println!("   -> everyone sees everyone after {:?}\n", sim.now() - t0);

    println!("2. n1 joins \"chat\"");
    sim.with_node(nodes[1], |node, now| node.join(now, "chat")).expect("running").expect("joined");
    sim.run_for(Duration::from_millis(100));
    show(&sim, &nodes, &mut seen);

    println!("\n3. n2 crashes without a word (keepalive detects it)");
    sim.crash(nodes[2]);
    let crashed = sim.now();
    let others: Vec<NodeIx> = nodes.iter().copied().filter(|&n| n != nodes[2]).collect();
    sim.run_until(crashed + Duration::from_secs(10), |s| everyone_sees(s, &others, 3));
    show(&sim, &nodes, &mut seen);
    println!("   -> detected by all after {:?}\n", sim.now() - crashed);

    println!("4. n2 restarts (new incarnation) and rejoins");
    sim.restart(nodes[2]);
    let back = sim.now();
    sim.run_until(back + Duration::from_secs(5), |s| everyone_sees(s, &nodes, 4));
    show(&sim, &nodes, &mut seen);
    println!("   -> back in the mesh after {:?}\n", sim.now() - back);

    println!("5. n4 shuts down cleanly (EXIT beacon, flushed LSA, GOODBYE)");
    sim.shutdown(nodes[4]);
    let left = sim.now();
    sim.run_until(left + Duration::from_secs(5), |s| everyone_sees(s, &nodes[..4], 3));
    show(&sim, &nodes, &mut seen);
    println!("   -> everyone knows after {:?}\n", sim.now() - left);

    let c = sim.counters(nodes[0]);
    println!(
        "n0 sent {} messages ({} bytes) and received {} in {:.1} s of virtual time; trace hash {:016x}",
        c.messages_sent(),
        c.bytes_sent(),
        c.messages_received(),
        sim.now().as_micros() as f64 / 1e6,
        sim.trace_hash()
    );
}
