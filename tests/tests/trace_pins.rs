//! Pinned simulator trace hashes: the proof that a refactor of the core
//! or the simulator changed no behaviour.
//!
//! Each workload runs a fixed scenario from a fixed seed, in both link
//! modes, and its `Sim::trace_hash` (every event and counter, in order)
//! must equal the value pinned below. A change of behaviour changes the
//! hash; a pure refactor does not. When a change of behaviour is meant,
//! print the new table with `NC_PRINT_PINS=1 cargo test -p netcluster-tests
//! --test trace_pins -- --nocapture`, paste it, and say in the commit which
//! hashes changed and why.
//!
//! The workloads cover what the node does: discovery on a shared segment,
//! crash detection, a restart with a new incarnation, a clean leave, a
//! partition and its healing, a lossy network with duplication and
//! reordering, and delivery in every semantics over a multi-hop line, with
//! a group shout and a stream.

use std::time::Duration;

use bytes::Bytes;
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, Event, LinkMode};
use netcluster_sim::{Faults, Sim};
use netcluster_tests::sim_helpers::line;

fn cfg(mode: LinkMode, i: usize) -> Config {
    let mut c = Config::lan("pins", format!("p{i}"));
    c.link_mode = mode;
    c
}

/// Twelve nodes on one segment: converge, one crashes and restarts, one
/// leaves cleanly.
fn lifecycle(seed: u64, mode: LinkMode) -> u64 {
    let mut sim = Sim::new(seed);
    let seg = sim.add_segment(Faults::lan());
    let nodes: Vec<_> = (0..12)
        .map(|i| {
            let h = sim.add_host(&[seg]);
            sim.add_node(h, cfg(mode, i))
        })
        .collect();
    sim.run_for(Duration::from_secs(3));
    sim.crash(nodes[3]);
    sim.run_for(Duration::from_secs(5));
    sim.restart(nodes[3]);
    sim.run_for(Duration::from_secs(5));
    sim.shutdown(nodes[5]);
    sim.run_for(Duration::from_secs(2));
    // Not a degenerate run: the restarted node is back, the leaver gone.
    assert_eq!(sim.node(nodes[0]).map(|n| n.peers().count()), Some(10), "{mode:?}");
    sim.trace_hash()
}

/// Ten nodes on two segments joined by a host on both: the joining host is
/// partitioned away and healed.
fn partition(seed: u64, mode: LinkMode) -> u64 {
    let mut sim = Sim::new(seed);
    let a = sim.add_segment(Faults::lan());
    let b = sim.add_segment(Faults::lan());
    let mut hosts = Vec::new();
    for i in 0..10 {
        let on = if i < 5 { vec![a] } else { vec![b] };
        let h = sim.add_host(&on);
        sim.add_node(h, cfg(mode, i));
        hosts.push(h);
    }
    let bridge = sim.add_host(&[a, b]);
    sim.add_node(bridge, cfg(mode, 10));
    sim.run_for(Duration::from_secs(3));
    sim.partition(&[bridge]);
    sim.run_for(Duration::from_secs(6));
    sim.heal();
    sim.run_for(Duration::from_secs(6));
    assert_eq!(sim.node(nodes_of(&sim)[0]).map(|n| n.peers().count()), Some(10), "{mode:?}");
    sim.trace_hash()
}

/// Twenty nodes under 20% loss, 5% duplication and 10% reordering.
fn lossy(seed: u64, mode: LinkMode) -> u64 {
    let mut sim = Sim::new(seed);
    let seg = sim.add_segment(Faults::lan().with_loss(0.2, 0.05, 0.1));
    for i in 0..20 {
        let h = sim.add_host(&[seg]);
        sim.add_node(h, cfg(mode, i));
    }
    sim.run_for(Duration::from_secs(60));
    sim.trace_hash()
}

/// A line of five under 5% loss: messages in every semantics end to end,
/// a group shout, and a stream.
fn delivery(seed: u64, mode: LinkMode) -> u64 {
    let (mut sim, nodes) = line(5, seed, mode, Faults::lan().with_loss(0.05, 0.0, 0.0));
    sim.with_node(nodes[4], |n, now| n.join(now, "g").ok());
    sim.run_for(Duration::from_secs(5));
    let to = sim.node_id(nodes[4]);
    // Sends the congestion window refuses (WouldBlock) are not retried:
    // what must arrive is what was accepted.
    let mut accepted = 0;
    for k in 0..40u32 {
        let payload = Bytes::from(vec![k as u8; 100 + 300 * (k as usize % 5)]);
        for s in [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced] {
            let sent = sim.with_node(nodes[0], |n, now| n.send(now, to, s, payload.clone()).ok());
            if s != Semantics::Datagram && sent.flatten().is_some() {
                accepted += 1;
            }
        }
        sim.with_node(nodes[0], |n, now| {
            n.shout(now, "g", Semantics::Reliable, payload.clone()).ok()
        });
        sim.run_for(Duration::from_millis(50));
    }
    let stream = sim.with_node(nodes[0], |n, now| n.open_stream(now, to).ok()).flatten();
    if let Some(s) = stream {
        sim.with_node(nodes[0], |n, now| {
            let _ = n.stream_write(now, s, Bytes::from(vec![7u8; 50_000]));
            let _ = n.stream_finish(now, s);
        });
    }
    sim.run_for(Duration::from_secs(10));
    let got =
        sim.events(nodes[4]).iter().filter(|(_, e)| matches!(e, Event::Message { .. })).count();
    assert!(accepted > 20, "{mode:?}: only {accepted} reliable sends accepted");
    assert!(got >= accepted, "{mode:?}: {got} messages arrived, {accepted} reliable accepted");
    sim.trace_hash()
}

fn nodes_of(sim: &Sim) -> Vec<netcluster_sim::NodeIx> {
    sim.node_ixs().collect()
}

type Workload = fn(u64, LinkMode) -> u64;

const WORKLOADS: [(&str, Workload); 4] =
    [("lifecycle", lifecycle), ("partition", partition), ("lossy", lossy), ("delivery", delivery)];
const SEEDS: [u64; 2] = [1, 2];

/// (workload, link mode, seed, trace hash).
const PINS: &[(&str, &str, u64, u64)] = &[
    ("lifecycle", "stream", 1, 0xb7fdf25512e0b5f0),
    ("lifecycle", "stream", 2, 0x132ec59aa053b9dc),
    ("lifecycle", "datagram", 1, 0x1210b2dddb1474c5),
    ("lifecycle", "datagram", 2, 0xc825ac5641af09e1),
    ("partition", "stream", 1, 0x429b6ae1d9f870e1),
    ("partition", "stream", 2, 0xf993210bd18bcd80),
    ("partition", "datagram", 1, 0x9abb6d22c79d2706),
    ("partition", "datagram", 2, 0x9ce0d5b5cee41c1a),
    ("lossy", "stream", 1, 0xaefa9e0a6b333b4e),
    ("lossy", "stream", 2, 0x2f1056cc53c903c1),
    ("lossy", "datagram", 1, 0x2a0793b2bf4191c3),
    ("lossy", "datagram", 2, 0x81999d5c13fa5295),
    ("delivery", "stream", 1, 0x86c45d9b9dd4d8d4),
    ("delivery", "stream", 2, 0xba60636a10267678),
    ("delivery", "datagram", 1, 0x6c7ea699e2f7b6bb),
    ("delivery", "datagram", 2, 0x9e2510635772d456),
];

fn mode_name(m: LinkMode) -> &'static str {
    match m {
        LinkMode::Stream => "stream",
        LinkMode::Datagram => "datagram",
    }
}

#[test]
fn trace_hashes_are_pinned() {
    let mut table = Vec::new();
    for (name, run) in WORKLOADS {
        for mode in [LinkMode::Stream, LinkMode::Datagram] {
            for seed in SEEDS {
                table.push((name, mode_name(mode), seed, run(seed, mode)));
            }
        }
    }
    if std::env::var_os("NC_PRINT_PINS").is_some() {
        for (w, m, s, h) in &table {
            println!("    ({w:?}, {m:?}, {s}, {h:#018x}),");
        }
    }
    // The same seed twice gives the same trace: the pins mean something.
    assert_eq!(lifecycle(1, LinkMode::Stream), lifecycle(1, LinkMode::Stream));
    let got: Vec<(&str, &str, u64, u64)> = table;
    assert_eq!(got.len(), PINS.len(), "every workload is pinned");
    for (g, p) in got.iter().zip(PINS) {
        assert_eq!(g, p, "trace of {} ({}, seed {}) changed", p.0, p.1, p.2);
    }
}
