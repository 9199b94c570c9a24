//! Authenticated discovery and encrypted links (docs/SECURITY.md,
//! PROTOCOL 12) in the simulator: nodes without the cluster key, forged
//! and replayed announcements, floods, links that only key holders can
//! set up and that carry sealed frames, and determinism with keys on.
//!
//! "Captured" frames come from a twin: a node made outside the simulation
//! with the victim's configuration, id and key. Signing is deterministic
//! and counters count from 1 in every incarnation, so the twin's frames
//! are the frames the victim sends (or sent, in that incarnation): what an
//! attacker on the segment records.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::auth::{sign_frame, Keyring};
use netcluster_core::node::{DatagramSource, SendOptions, Transmit};
use netcluster_core::wire::discovery::{Announce, Beacon, Search};
use netcluster_core::wire::link::RejectReason;
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::{
    cluster_hash, Body, DiscoveryMessage, NodeId, NodeState, VersionRanges,
};
use netcluster_core::{Config, Event, Instant, LinkMode, Node, Seed};
use netcluster_sim::{Faults, NodeIx, Sim};
use netcluster_tests::sim_helpers::{all_see_all, converge, lan_nodes_with, peer_ids};

const KEY: [u8; 32] = [0x42; 32];
const WRONG: [u8; 32] = [0x24; 32];

fn keyed(i: usize, key: Option<[u8; 32]>) -> Config {
    let mut c = Config::lan("sec", format!("n{i}"));
    c.keyring = key.map(Keyring::new);
    c
}

/// `n` keyed nodes on one LAN segment, converged.
fn keyed_lan(seed: u64, n: usize) -> (Sim, Vec<NodeIx>) {
    let mut sim = Sim::new(seed);
    let seg = sim.add_segment(Faults::lan());
    let nodes = lan_nodes_with(&mut sim, seg, n, |i| keyed(i, Some(KEY)));
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some(), "keyed nodes converge");
    (sim, nodes)
}

fn stats_sum(sim: &Sim, nodes: &[NodeIx], f: impl Fn(&netcluster_core::node::Stats) -> u64) -> u64 {
    nodes.iter().filter_map(|&n| sim.node(n)).map(|node| f(node.stats())).sum()
}

/// The datagrams a node made outside the simulation sends, in order.
fn datagrams(node: &mut Node) -> Vec<Bytes> {
    let mut v = Vec::new();
    while let Some(t) = node.poll_transmit() {
        if let Transmit::Datagram { data, .. } = t {
            v.push(data);
        }
    }
    v
}

/// A twin of node `n`: same configuration (incarnation included), id and
/// key, started at `now`.
fn twin(sim: &Sim, n: NodeIx) -> Node {
    let cfg = sim.node(n).expect("running").config().clone();
    Node::new(cfg, sim.node_id(n), Seed::deterministic(1), Instant::ZERO)
        .expect("a valid configuration")
}

fn attacker() -> SocketAddr {
    "10.66.6.6:7400".parse().unwrap()
}

fn inject_all(sim: &mut Sim, nodes: &[NodeIx], data: &Bytes) {
    for &n in nodes {
        sim.inject_datagram(n, attacker(), DatagramSource::Beacon, data.clone());
    }
}

#[test]
fn nodes_without_the_key_or_with_a_wrong_key_never_become_candidates_or_members() {
    let mut sim = Sim::new(13);
    let seg = sim.add_segment(Faults::lan());
    let members = lan_nodes_with(&mut sim, seg, 4, |i| keyed(i, Some(KEY)));
    let wrong = lan_nodes_with(&mut sim, seg, 1, |_| keyed(90, Some(WRONG)))[0];
    let keyless = lan_nodes_with(&mut sim, seg, 1, |_| keyed(91, None))[0];
    sim.run_for(Duration::from_secs(20));
    assert!(all_see_all(&sim, &members), "the keyed nodes find each other");
    let outsiders = [sim.node_id(wrong), sim.node_id(keyless)];
    for &m in &members {
        let node = sim.node(m).unwrap();
        assert!(node.candidates().all(|c| !outsiders.contains(&c)), "no outsider is a candidate");
        assert!(peer_ids(&sim, m).iter().all(|p| !outsiders.contains(p)), "nor a member");
        assert!(node.stats().auth_failed > 0, "their announcements were counted");
    }
    // The wrong key hears nothing it believes either: it stays alone.
    assert_eq!(sim.node(wrong).unwrap().candidates().count(), 0);
    assert!(peer_ids(&sim, wrong).is_empty());
    // A node without a key believes clear beacons and does hear keyed ones
    // (their TLVs are optional): it tries to link, and every keyed node
    // refuses it with AUTH at HELLO (no CAP_AUTH), which both sides
    // report. A courtesy: the Noise handshake is what authenticates (the
    // wrong-key tests below).
    assert!(peer_ids(&sim, keyless).is_empty());
    let refused_by_member = members.iter().any(|&m| {
        sim.events(m).iter().any(|(_, e)| {
            matches!(e, Event::LinkRejected { reason, by_remote: false, .. }
                if *reason == RejectReason::AUTH)
        })
    });
    let told = sim.events(keyless).iter().any(|(_, e)| {
        matches!(e, Event::LinkRejected { reason, by_remote: true, .. }
            if *reason == RejectReason::AUTH)
    });
    assert!(refused_by_member && told, "both sides report the AUTH refusal");
}

/// A node with a wrong key that sets CAP_AUTH and CAP_NOISE, as a real
/// attacker would, and is given a member's address as a seed: HELLO and
/// WELCOME pass (they are clear and claim nothing), the Noise handshake
/// does not. It never becomes a member, and both sides report REJECT AUTH
/// "authentication failed".
fn a_wrong_key_is_refused_at_the_noise_handshake(mode: LinkMode, seed: u64) {
    let mut sim = Sim::new(seed);
    let seg = sim.add_segment(Faults::lan());
    let members = lan_nodes_with(&mut sim, seg, 3, |i| keyed_mode(i, Some(KEY), mode));
    sim.run_for(Duration::from_secs(3));
    let target = sim.link_addr(members[0]);
    let intruder = lan_nodes_with(&mut sim, seg, 1, |_| {
        let mut c = keyed_mode(99, Some(WRONG), mode);
        c.seeds.push(target);
        c
    })[0];
    sim.run_for(Duration::from_secs(10));
    let id = sim.node_id(intruder);
    for &m in &members {
        assert!(!peer_ids(&sim, m).contains(&id), "{mode:?}: the intruder is no member");
        let links = sim.node(m).unwrap().links();
        assert!(links.iter().all(|l| l.peer != Some(id) || !l.up), "{mode:?}: nor a neighbour");
    }
    assert!(peer_ids(&sim, intruder).is_empty(), "{mode:?}: and sees nobody");
    let member = sim.node(members[0]).unwrap();
    assert!(member.stats().link_auth_failed > 0, "{mode:?}: the member counted it");
    let auth = |e: &Event, remote: bool| {
        matches!(e, Event::LinkRejected { reason, by_remote, detail, .. }
            if *reason == RejectReason::AUTH && *by_remote == remote
                && detail == "authentication failed")
    };
    assert!(
        sim.events(members[0]).iter().any(|(_, e)| auth(e, false)),
        "{mode:?}: the member reports the refusal"
    );
    assert!(
        sim.events(intruder).iter().any(|(_, e)| auth(e, true)),
        "{mode:?}: the intruder is told, and not which key would have worked"
    );
    assert!(all_see_all(&sim, &members), "{mode:?}: the members are undisturbed");
}

#[test]
fn a_wrong_key_seeded_to_a_member_never_links_stream() {
    a_wrong_key_is_refused_at_the_noise_handshake(LinkMode::Stream, 14);
}

#[test]
fn a_wrong_key_seeded_to_a_member_never_links_datagram() {
    a_wrong_key_is_refused_at_the_noise_handshake(LinkMode::Datagram, 15);
}

fn keyed_mode(i: usize, key: Option<[u8; 32]>, mode: LinkMode) -> Config {
    let mut c = keyed(i, key);
    c.link_mode = mode;
    c
}

/// A line a - b - c of keyed nodes (a reaches c only through b).
fn keyed_line(seed: u64, mode: LinkMode, faults: Faults) -> (Sim, [NodeIx; 3]) {
    let mut sim = Sim::new(seed);
    let s1 = sim.add_segment(faults);
    let s2 = sim.add_segment(faults);
    let hosts = [sim.add_host(&[s1]), sim.add_host(&[s1, s2]), sim.add_host(&[s2])];
    let nodes = [0, 1, 2].map(|i| sim.add_node(hosts[i], keyed_mode(i, Some(KEY), mode)));
    (sim, nodes)
}

fn keyed_links_carry_reliable_messages(mode: LinkMode, faults: Faults, seed: u64) {
    let (mut sim, [a, b, c]) = keyed_line(seed, mode, faults);
    let nodes = [a, b, c];
    assert!(converge(&mut sim, &nodes, Duration::from_secs(20)).is_some(), "{mode:?}: converge");
    for &n in &nodes {
        let links = sim.node(n).unwrap().links();
        assert!(!links.is_empty());
        assert!(links.iter().all(|l| l.up && l.encrypted), "{mode:?}: {links:?}");
    }
    let to = sim.node_id(c);
    // Small messages, and on stream links one larger than a record
    // (its 64 KiB fragments make DATA frames of more than 65,519 bytes).
    let mut sizes: Vec<usize> = (0..150).map(|i| 1 + i * 37 % 3000).collect();
    if mode == LinkMode::Stream {
        sizes.push(300_000);
    }
    let opts = SendOptions::new(Semantics::Reliable);
    let mut sent = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let payload: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
        sent.push(payload.clone());
        let ok = sim.with_node(a, |n, t| n.send(t, to, opts, Bytes::from(payload)).is_ok());
        assert_eq!(ok, Some(true), "{mode:?}: message {i} accepted");
        sim.run_for(Duration::from_millis(5));
    }
    sim.run_for(Duration::from_secs(10));
    let mut got: Vec<Vec<u8>> = sim
        .events(c)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { payload, .. } => Some(payload.to_vec()),
            _ => None,
        })
        .collect();
    got.sort();
    sent.sort();
    assert_eq!(got.len(), sent.len(), "{mode:?}: every message, once");
    assert!(got == sent, "{mode:?}: the same bytes");
    let forged = stats_sum(&sim, &nodes, |s| s.sealed_forged + s.dropped_clear);
    assert_eq!(forged, 0, "{mode:?}: nothing forged or clear between honest nodes");
    assert_eq!(stats_sum(&sim, &nodes, |s| s.link_auth_failed), 0);
}

#[test]
fn keyed_stream_links_are_encrypted_and_deliver_reliable_messages() {
    keyed_links_carry_reliable_messages(LinkMode::Stream, Faults::lan(), 31);
}

#[test]
fn keyed_datagram_links_are_encrypted_and_deliver_reliable_messages_under_loss() {
    let lossy = Faults { loss: 0.05, ..Faults::lan() };
    keyed_links_carry_reliable_messages(LinkMode::Datagram, lossy, 32);
}

#[test]
fn a_forged_exit_and_a_replayed_captured_exit_leave_the_victim_listed() {
    let (mut sim, nodes) = keyed_lan(15, 5);
    let victim = nodes[4];
    let watchers = &nodes[..4];
    let vid = sim.node_id(victim);
    let cfg = sim.node(victim).unwrap().config().clone();

    // Forged: an EXIT in the victim's name, signed with another key, and
    // one with the victim's own id and incarnation but no tag at all.
    let exit = DiscoveryMessage::Beacon(Beacon(Announce {
        node_id: vid,
        cluster_hash: cluster_hash("sec"),
        incarnation: cfg.incarnation,
        sequence: 99,
        interval_ms: 0,
        peer_count: 4,
        state: NodeState::Exit,
        link_addr: cfg.link_addr,
        ranges: VersionRanges::supported(),
    }));
    let forged = sign_frame(Keyring::new(WRONG).primary(), u64::MAX, exit.clone()).unwrap();
    let bare = netcluster_core::wire::Frame::new(exit).to_bytes().unwrap();
    inject_all(&mut sim, watchers, &forged);
    inject_all(&mut sim, watchers, &bare);
    sim.run_for(Duration::from_secs(2));
    assert!(all_see_all(&sim, &nodes), "a forged EXIT drops nobody");
    assert_eq!(stats_sum(&sim, watchers, |s| s.auth_failed), 8);

    // Replayed: the victim's real EXIT of an incarnation that ended. The
    // twin leaves as the victim would have; the victim meanwhile crashed
    // and came back as the next incarnation.
    let mut old = twin(&sim, victim);
    datagrams(&mut old);
    old.shutdown(Instant::from_millis(1));
    let captured = datagrams(&mut old);
    assert_eq!(captured.len(), 1, "one EXIT beacon");
    sim.crash(victim);
    sim.restart(victim);
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some(), "the victim is back");
    let before = stats_sum(&sim, watchers, |s| s.replayed);
    inject_all(&mut sim, watchers, &captured[0]);
    sim.run_for(Duration::from_secs(2));
    assert!(all_see_all(&sim, &nodes), "a replayed EXIT drops nobody");
    assert_eq!(stats_sum(&sim, watchers, |s| s.replayed) - before, 4, "each counted a replay");
    // The same EXIT replayed against the live incarnation's own counter:
    // a twin of the current incarnation leaves at once, its counter far
    // below what the victim has sent since.
    let mut now_twin = twin(&sim, victim);
    datagrams(&mut now_twin);
    now_twin.shutdown(Instant::from_millis(1));
    let early_exit = datagrams(&mut now_twin).remove(0);
    let before = stats_sum(&sim, watchers, |s| s.replayed);
    inject_all(&mut sim, watchers, &early_exit);
    sim.run_for(Duration::from_secs(2));
    assert!(all_see_all(&sim, &nodes));
    assert_eq!(stats_sum(&sim, watchers, |s| s.replayed) - before, 4);
}

#[test]
fn a_replayed_old_beacon_is_ignored_and_counted() {
    let (mut sim, nodes) = keyed_lan(16, 4);
    let victim = nodes[3];
    let mut t = twin(&sim, victim);
    // The victim's first SEARCH and BEACON, replayed from elsewhere
    // (which would move its candidate address to the attacker if believed).
    t.handle_timeout(Instant::ZERO);
    let captured = datagrams(&mut t);
    assert_eq!(captured.len(), 2);
    let watchers = &nodes[..3];
    let before = stats_sum(&sim, watchers, |s| s.replayed);
    for c in &captured {
        inject_all(&mut sim, watchers, c);
    }
    sim.run_for(Duration::from_millis(500));
    assert_eq!(stats_sum(&sim, watchers, |s| s.replayed) - before, 6);
    assert_eq!(stats_sum(&sim, watchers, |s| s.auth_failed), 0);
    assert!(all_see_all(&sim, &nodes));
}

#[test]
fn ten_thousand_forged_searches_leave_no_candidate_and_get_no_reply() {
    let mut cfg = keyed(0, Some(KEY));
    cfg.max_peers = 100;
    let mut node = Node::new(cfg, NodeId([1; 16]), Seed::deterministic(1), Instant::ZERO).unwrap();
    datagrams(&mut node);
    let mut sent = 0;
    for i in 0..10_000u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        id[15] = 0xee;
        let search = Search(Announce {
            node_id: NodeId(id),
            cluster_hash: cluster_hash("sec"),
            incarnation: 1,
            sequence: 1,
            interval_ms: 0,
            peer_count: 0,
            state: NodeState::Ready,
            link_addr: "0.0.0.0:7400".parse().unwrap(),
            ranges: VersionRanges::supported(),
        });
        // Half carry no tag, half a tag made with a key the node lacks.
        let data = if i % 2 == 0 {
            search.to_bytes().unwrap()
        } else {
            sign_frame(
                Keyring::new(WRONG).primary(),
                u64::from(i),
                DiscoveryMessage::Search(search),
            )
            .unwrap()
        };
        let now = Instant::from_micros(u64::from(i) * 100);
        let from: SocketAddr =
            format!("10.99.{}.{}:7400", i >> 8 & 0xff, i & 0xff).parse().unwrap();
        node.handle_datagram(now, from, DatagramSource::Beacon, data);
        if node.poll_timeout().is_some_and(|d| d <= now) {
            node.handle_timeout(now);
        }
        sent += datagrams(&mut node).len();
    }
    node.handle_timeout(Instant::from_millis(1_100));
    let s = node.stats();
    assert_eq!(node.candidates().count(), 0, "the candidate table stays empty");
    assert_eq!(s.auth_failed, 10_000);
    assert_eq!(s.notify_suppressed, 0, "no SEARCH got as far as the NOTIFY limiter");
    // The node's own beacons (one a second) are all it sent.
    assert!(sent + datagrams(&mut node).len() <= 2, "no replies: {sent} datagrams");
}

fn keyed_trace(seed: u64) -> u64 {
    let (mut sim, nodes) = keyed_lan(seed, 6);
    let encrypted = nodes.iter().all(|&n| sim.node(n).unwrap().links().iter().all(|l| l.encrypted));
    assert!(encrypted, "every link of the keyed LAN runs over Noise");
    sim.crash(nodes[2]);
    sim.run_for(Duration::from_secs(4));
    sim.restart(nodes[2]);
    sim.run_for(Duration::from_secs(4));
    sim.shutdown(nodes[5]);
    sim.run_for(Duration::from_secs(2));
    sim.trace_hash()
}

#[test]
fn trace_hashes_are_deterministic_with_keys_and_encrypted_links_on() {
    assert_eq!(keyed_trace(21), keyed_trace(21));
    assert_ne!(keyed_trace(21), keyed_trace(22), "the seed matters");
}

/// The fuzz body of authenticated discovery reaches its signed path: a
/// beacon changed at every byte in turn is never believed, the beacon as
/// signed is, once.
#[test]
fn the_authenticated_discovery_fuzz_body_covers_every_byte() {
    let mut input = vec![1u8];
    input.extend([7u8; 16]);
    input.extend([0, 0, 0, 1, 0, 0, 0, 5, 0, 0x10]);
    for at in 0..=255u8 {
        input[25] = at;
        netcluster_core::fuzz::discovery_auth(&input);
    }
}
