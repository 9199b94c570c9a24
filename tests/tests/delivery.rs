//! End-to-end delivery in the simulator: every semantics over one hop and
//! over a line of segments, fragmentation, and failure reports.

use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{FailReason, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, Event, LinkMode, NodeId};
use netcluster_sim::{Faults, NodeIx, Sim};
use netcluster_tests::sim_helpers::line;

fn converge(sim: &mut Sim, nodes: &[NodeIx]) {
    let want = nodes.len() - 1;
    let ok = sim.run_until(sim.now() + Duration::from_secs(10), |s| {
        nodes.iter().all(|&n| s.node(n).is_some_and(|x| x.peers().count() == want))
    });
    assert!(ok, "the line did not converge");
}

/// Sends `count` Sequenced messages numbered 0.., waiting whenever the
/// window is full; `after` runs after each accepted send with the count.
fn send_numbered(
    sim: &mut Sim,
    src: NodeIx,
    dst: NodeId,
    count: u32,
    mut after: impl FnMut(&mut Sim, u32),
) {
    let mut sent = 0u32;
    while sent < count {
        let payload = Bytes::from(sent.to_be_bytes().to_vec());
        match sim.with_node(src, |n, now| n.send(now, dst, Semantics::Sequenced, payload)).unwrap()
        {
            Ok(_) => {
                sent += 1;
                after(sim, sent);
            }
            Err(SendError::WouldBlock) => sim.run_for(Duration::from_millis(5)),
            Err(e) => panic!("send failed: {e}"),
        }
    }
}

fn received(sim: &Sim, n: NodeIx, from: NodeId) -> Vec<(Semantics, Bytes)> {
    sim.events(n)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { from: f, semantics, payload, .. } if *f == from => {
                Some((*semantics, payload.clone()))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn every_semantics_crosses_a_line_of_six() {
    for mode in [LinkMode::Stream, LinkMode::Datagram] {
        let (mut sim, nodes) = line(6, 3, mode, Faults::lan());
        converge(&mut sim, &nodes);
        let (src, dst) = (nodes[0], nodes[5]);
        let dst_id = sim.node_id(dst);
        let hops = sim.node(src).unwrap().peer(&dst_id).unwrap().hops;
        assert_eq!(hops, 5, "peer event reports 5 hops");
        let big = Bytes::from((0..20_000u32).map(|i| i as u8).collect::<Vec<u8>>());
        for (i, s) in
            [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced].into_iter().enumerate()
        {
            sim.with_node(src, |n, now| n.send(now, dst_id, s, Bytes::from(vec![i as u8; 10])))
                .unwrap()
                .unwrap();
            sim.with_node(src, |n, now| n.send(now, dst_id, s, big.clone())).unwrap().unwrap();
        }
        sim.run_for(Duration::from_secs(2));
        let got = received(&sim, dst, sim.node_id(src));
        assert_eq!(got.len(), 6, "{mode:?}: {got:?}");
        assert!(
            got.iter().filter(|(_, p)| *p == big).count() == 3,
            "fragmented messages reassembled"
        );
        let delivered =
            sim.events(src).iter().filter(|(_, e)| matches!(e, Event::Delivered { .. })).count();
        assert_eq!(delivered, 4, "{mode:?}: reliable and sequenced are acknowledged");
    }
}

#[test]
fn sequenced_stays_in_order_and_exact_under_loss() {
    let (mut sim, nodes) = line(4, 9, LinkMode::Datagram, Faults::lan().with_loss(0.2, 0.05, 0.2));
    converge(&mut sim, &nodes);
    let (src, dst) = (nodes[0], nodes[3]);
    let dst_id = sim.node_id(dst);
    send_numbered(&mut sim, src, dst_id, 500, |_, _| {});
    sim.run_for(Duration::from_secs(20));
    let got: Vec<u32> = received(&sim, dst, sim.node_id(src))
        .into_iter()
        .map(|(_, p)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..500).collect::<Vec<u32>>(), "exactly once, in order");
}

#[test]
fn messages_to_a_crashed_node_fail_with_a_reason_and_memory_stays_bounded() {
    let (mut sim, nodes) = line(3, 4, LinkMode::Stream, Faults::lan());
    converge(&mut sim, &nodes);
    let (src, dst) = (nodes[0], nodes[2]);
    let dst_id = sim.node_id(dst);
    sim.crash(dst);
    let window = Config::lan("x", "y").send_window;
    let (mut accepted, mut refused) = (0usize, 0usize);
    for i in 0..10_000u32 {
        match sim
            .with_node(src, |n, now| {
                n.send(now, dst_id, Semantics::Reliable, Bytes::from(i.to_be_bytes().to_vec()))
            })
            .unwrap()
        {
            Ok(_) => accepted += 1,
            Err(SendError::WouldBlock | SendError::Unreachable) => refused += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(sim.node(src).unwrap().in_flight() <= window);
    }
    assert_eq!(accepted + refused, 10_000);
    assert!(accepted <= window);
    let timeout = Config::lan("x", "y").delivery_timeout;
    sim.run_for(timeout + Duration::from_secs(5));
    let failed = sim
        .events(src)
        .iter()
        .filter(|(_, e)| {
            matches!(
                e,
                Event::SendFailed { reason: FailReason::Timeout | FailReason::Unreachable, .. }
            )
        })
        .count();
    assert_eq!(failed, accepted, "every accepted message ends as failed");
    assert_eq!(sim.node(src).unwrap().in_flight(), 0);
}

/// A ring of `n` hosts: host i shares a segment with host i+1 (mod n).
fn ring(n: usize, seed: u64) -> (Sim, Vec<NodeIx>) {
    let mut sim = Sim::new(seed);
    let segs: Vec<_> = (0..n).map(|_| sim.add_segment(Faults::lan())).collect();
    let nodes = (0..n)
        .map(|i| {
            let h = sim.add_host(&[segs[(i + n - 1) % n], segs[i]]);
            sim.add_node(h, Config::lan("ring", format!("r{i}")))
        })
        .collect();
    (sim, nodes)
}

#[test]
fn sequenced_survives_a_crash_on_the_path_of_a_ring() {
    let (mut sim, nodes) = ring(8, 21);
    converge(&mut sim, &nodes);
    let (src, dst) = (nodes[0], nodes[4]);
    let dst_id = sim.node_id(dst);
    // Find the node on the current path and crash it mid-flight.
    let path_hop = {
        let node = sim.node(src).unwrap();
        let p = node.peer(&dst_id).unwrap();
        assert_eq!(p.hops, 4, "opposite side of a ring of 8");
        nodes[1..4]
            .iter()
            .chain(nodes[5..8].iter())
            .copied()
            .find(|&n| {
                sim.node(src)
                    .unwrap()
                    .route_to(&dst_id)
                    .is_some_and(|r| r.contains(&sim.node_id(n)))
            })
            .expect("a node on the path")
    };
    send_numbered(&mut sim, src, dst_id, 1000, |sim, sent| {
        if sent == 300 {
            sim.crash(path_hop);
        }
    });
    sim.run_for(Duration::from_secs(15));
    let got: Vec<u32> = received(&sim, dst, sim.node_id(src))
        .into_iter()
        .map(|(_, p)| u32::from_be_bytes(p[..4].try_into().unwrap()))
        .collect();
    assert_eq!(got, (0..1000).collect::<Vec<u32>>(), "exactly once, in order, the other way round");
}

#[test]
fn a_node_joining_a_mesh_of_100_reaches_everyone_within_2s() {
    let mut sim = Sim::new(77);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..100)
        .map(|i| {
            let h = sim.add_host(&[lan]);
            sim.add_node(h, Config::lan("mesh", format!("m{i}")))
        })
        .collect();
    converge(&mut sim, &nodes);
    sim.run_for(Duration::from_secs(5));
    let h = sim.add_host(&[lan]);
    let newcomer = sim.add_node(h, Config::lan("mesh", "new"));
    let start = sim.now();
    let ids: Vec<NodeId> = nodes.iter().map(|&n| sim.node_id(n)).collect();
    let ok = sim.run_until(start + Duration::from_secs(2), |s| {
        let node = s.node(newcomer).unwrap();
        ids.iter().all(|id| node.route_to(id).is_some())
    });
    assert!(ok, "routes to all 100 within 2 s");
    for (i, id) in ids.iter().enumerate() {
        sim.with_node(newcomer, |n, now| {
            n.send(now, *id, Semantics::Reliable, Bytes::from(vec![i as u8]))
        })
        .unwrap()
        .unwrap();
    }
    sim.run_for(Duration::from_secs(1));
    let delivered =
        sim.events(newcomer).iter().filter(|(_, e)| matches!(e, Event::Delivered { .. })).count();
    assert_eq!(delivered, 100, "it reaches every node");
}

#[test]
fn incomplete_reassemblies_are_dropped_after_the_delivery_timeout() {
    // Big datagrams over a lossy hop: some lose a fragment for good.
    let (mut sim, nodes) = line(2, 5, LinkMode::Datagram, Faults::lan().with_loss(0.3, 0.0, 0.0));
    converge(&mut sim, &nodes);
    let dst_id = sim.node_id(nodes[1]);
    let big = Bytes::from(vec![7u8; 30_000]);
    for _ in 0..20 {
        sim.with_node(nodes[0], |n, now| n.send(now, dst_id, Semantics::Datagram, big.clone()))
            .unwrap()
            .unwrap();
    }
    sim.run_for(Duration::from_secs(1));
    let held = sim.node(nodes[1]).unwrap().reassembly_bytes();
    assert!(held > 0, "some messages are incomplete");
    let timeout = Config::lan("x", "y").delivery_timeout;
    sim.run_for(timeout + Duration::from_secs(2));
    assert_eq!(sim.node(nodes[1]).unwrap().reassembly_bytes(), 0, "partial messages expire");
}

#[test]
fn a_group_message_crosses_each_tree_link_once_on_a_grid() {
    // 5 x 5 hosts; each host shares one segment with its right neighbour
    // and one with the one below: links can only follow the grid.
    let n = 5;
    let mut sim = Sim::new(55);
    let mut segs_of: Vec<Vec<netcluster_sim::SegmentId>> = vec![Vec::new(); n * n];
    for r in 0..n {
        for c in 0..n {
            let me = r * n + c;
            if c + 1 < n {
                let s = sim.add_segment(Faults::lan());
                segs_of[me].push(s);
                segs_of[me + 1].push(s);
            }
            if r + 1 < n {
                let s = sim.add_segment(Faults::lan());
                segs_of[me].push(s);
                segs_of[me + n].push(s);
            }
        }
    }
    let members: Vec<usize> = vec![1, 4, 7, 10, 13, 16, 19, 20, 22, 24];
    let nodes: Vec<NodeIx> = (0..n * n)
        .map(|i| {
            let h = sim.add_host(&segs_of[i]);
            let mut cfg = Config::lan("grid", format!("g{i}"));
            if members.contains(&i) {
                cfg.groups = vec!["g".into()];
            }
            sim.add_node(h, cfg)
        })
        .collect();
    let ok = sim.run_until(sim.now() + Duration::from_secs(20), |s| {
        nodes.iter().all(|&x| s.node(x).is_some_and(|node| node.peers().count() == n * n - 1))
    });
    assert!(ok, "the grid converges");
    sim.run_for(Duration::from_secs(1));
    sim.clear_records();
    let src = nodes[0];
    sim.with_node(src, |node, now| {
        node.shout(now, "g", Semantics::Datagram, Bytes::from_static(b"hi"))
    })
    .unwrap()
    .unwrap();
    sim.run_for(Duration::from_millis(200));
    let data = |s: &Sim, x: NodeIx| s.counters(x).of(2, 8);
    let sent: u64 = nodes.iter().map(|&x| data(&sim, x).sent).sum();
    let receivers: Vec<u64> =
        nodes.iter().map(|&x| data(&sim, x).received).filter(|&r| r > 0).collect();
    assert!(receivers.iter().all(|&r| r == 1), "a node got the message twice: {receivers:?}");
    assert_eq!(sent, receivers.len() as u64, "each tree link carries the message once");
    assert!(sent < members.len() as u64 * 3, "one tree, not one path per member ({sent} frames)");
    for (i, &x) in nodes.iter().enumerate() {
        let got = received(&sim, x, sim.node_id(src)).len();
        assert_eq!(got, usize::from(members.contains(&i)), "node {i}");
    }
    // A reliable shout is acknowledged by every member.
    sim.with_node(src, |node, now| {
        node.shout(now, "g", Semantics::Reliable, Bytes::from_static(b"ok"))
    })
    .unwrap()
    .unwrap();
    sim.run_for(Duration::from_secs(1));
    let delivered =
        sim.events(src).iter().filter(|(_, e)| matches!(e, Event::Delivered { .. })).count();
    assert_eq!(delivered, members.len());
}
