//! Per-peer traffic figures and the per-link view in the simulator: a flow
//! across a relay shows at both ends as the peer's rates (not at the relay,
//! which only forwards), the source's round trip to the destination is
//! measured, and the relay's links are listed with their queues.

use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{PeerTraffic, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Event, LinkMode, NodeId};
use netcluster_sim::{Faults, NodeIx, Sim};
use netcluster_tests::sim_helpers::line;

fn converge(sim: &mut Sim, nodes: &[NodeIx]) {
    let want = nodes.len() - 1;
    let ok = sim.run_until(sim.now() + Duration::from_secs(10), |s| {
        nodes.iter().all(|&n| s.node(n).is_some_and(|x| x.peers().count() == want))
    });
    assert!(ok, "the line did not converge");
}

fn traffic(sim: &Sim, n: NodeIx, peer: NodeId) -> PeerTraffic {
    sim.node(n).and_then(|x| x.peer(&peer)).map(|p| p.traffic).expect("listed")
}

/// `src` sends 20 messages of 500 bytes to `dst` every 100 ms for `secs`
/// seconds of virtual time (100,000 bytes and 200 messages a second).
fn flow(sim: &mut Sim, src: NodeIx, dst: NodeId, secs: u64, s: Semantics) {
    let payload = Bytes::from(vec![3u8; 500]);
    for _ in 0..secs * 10 {
        for _ in 0..20 {
            let sent = sim.with_node(src, |n, now| n.send(now, dst, s, payload.clone()));
            match sent.expect("the source runs") {
                Ok(_) => {}
                Err(SendError::WouldBlock) => panic!("the flow is well within the windows"),
                Err(e) => panic!("send failed: {e}"),
            }
        }
        sim.run_for(Duration::from_millis(100));
    }
}

#[test]
fn a_flow_through_a_relay_shows_at_both_ends_and_not_at_the_relay() {
    for mode in [LinkMode::Stream, LinkMode::Datagram] {
        let (mut sim, nodes) = line(3, 12, mode, Faults::lan());
        converge(&mut sim, &nodes);
        let (a, relay, c) = (nodes[0], nodes[1], nodes[2]);
        let (id_a, id_relay, id_c) = (sim.node_id(a), sim.node_id(relay), sim.node_id(c));
        flow(&mut sim, a, id_c, 6, Semantics::Reliable);

        let sent = traffic(&sim, a, id_c);
        let got = traffic(&sim, c, id_a);
        // Within 3 %: the window sees whole ticks of the flow, give or take
        // the one a sample cuts, and the LAN's delay shifts c's by a little.
        for (what, v, want) in [
            ("a's tx bytes/s", sent.tx_bytes_per_sec, 100_000),
            ("a's tx msgs/s", sent.tx_msgs_per_sec, 200),
            ("c's rx bytes/s", got.rx_bytes_per_sec, 100_000),
            ("c's rx msgs/s", got.rx_msgs_per_sec, 200),
        ] {
            assert!(v.abs_diff(want) * 100 <= want * 3, "{mode:?}: {what} = {v}, want {want}");
        }
        let rtt = sent.srtt.expect("the acknowledgements measured a's round trip to c");
        assert!(rtt > Duration::ZERO && rtt < Duration::from_millis(100), "{mode:?}: {rtt:?}");
        // The relay forwards; it exchanged no application data with anyone.
        for peer in [id_a, id_c] {
            let t = traffic(&sim, relay, peer);
            assert_eq!(t, PeerTraffic::default(), "{mode:?}: relay counted {t:?}");
        }
        assert_eq!(traffic(&sim, a, id_relay), PeerTraffic::default(), "{mode:?}");

        // The relay has a link to each end, each with its peer and kind.
        let links = sim.node(relay).unwrap().links();
        let mut peers: Vec<NodeId> = links.iter().filter(|l| l.up).filter_map(|l| l.peer).collect();
        peers.sort();
        let mut want = vec![id_a, id_c];
        want.sort();
        assert_eq!(peers, want, "{mode:?}: {links:?}");
        assert!(links.iter().all(|l| l.kind == mode), "{mode:?}: {links:?}");
        if mode == LinkMode::Stream {
            let to_c = links.iter().find(|l| l.peer == Some(id_c)).unwrap();
            assert!(to_c.queue.peak_bytes >= 500, "{mode:?}: data went through: {to_c:?}");
        }

        // Idle for the window: the rates fall to 0.
        sim.run_for(Duration::from_secs(6));
        let idle = traffic(&sim, a, id_c);
        assert_eq!((idle.tx_bytes_per_sec, idle.tx_msgs_per_sec), (0, 0), "{mode:?}");
        assert_eq!(idle.srtt, sent.srtt, "{mode:?}: the round trip stays as measured");
        let got = sim
            .events(c)
            .iter()
            .filter(|(_, e)| matches!(e, Event::Message { from, .. } if *from == id_a))
            .count();
        assert_eq!(got, 6 * 10 * 20, "{mode:?}: all arrived");
    }
}
