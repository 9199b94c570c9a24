//! Simulation scenarios: discovery, membership, failure detection, partitions,
//! versions, clusters, seeds, restarts and determinism, all in virtual time
//! on the deterministic simulator (`netcluster-sim`).
//!
//! Unless a scenario says otherwise: default [`Config::lan`], one host per
//! node, one segment with [`Faults::lan`] (1 ms one way, nothing else).
//! Every bound asserted is the real requirement; a scenario that fails points
//! at a defect in the node (or the simulator), not at the test.
//!
//! Times are printed with `--nocapture`:
//! `cargo test -p netcluster-tests --test scenarios -- --nocapture`.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant as WallInstant};

use netcluster_core::node::DownReason;
use netcluster_core::wire::link::RejectReason;
use netcluster_core::wire::{ProtoRange, Protocol, VersionRange, VersionRanges};
use netcluster_core::{Config, Event, Instant, NodeId};
use netcluster_sim::{Faults, NodeIx, Sim, LINK_PORT};
use netcluster_tests::sim_helpers::{
    all_see_all, converge, describe_views, downs_of, elapsed, events_matching, first_event, ids_of,
    is_down_of, is_up_of, lan_nodes, lan_nodes_with, peer_ids, sees_exactly, view_from_events,
};

const MS: Duration = Duration::from_millis(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

/// Prints a scenario's wall-clock time (visible with `--nocapture`).
struct Timing(&'static str, WallInstant);

impl Timing {
    fn start(name: &'static str) -> Timing {
        Timing(name, WallInstant::now())
    }
}

impl Drop for Timing {
    fn drop(&mut self) {
        eprintln!("[{}] wall time {:.2?}", self.0, self.1.elapsed());
    }
}

/// The other nodes of `nodes`.
fn others(nodes: &[NodeIx], me: NodeIx) -> Vec<NodeIx> {
    nodes.iter().copied().filter(|&n| n != me).collect()
}

/// Builds `n` nodes on one clean LAN segment and waits for full views
/// (asserted within `within`). Returns the sim, the nodes and the time it
/// took.
fn converged_lan(seed: u64, n: usize, within: Duration) -> (Sim, Vec<NodeIx>, Duration) {
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment(Faults::lan());
    let nodes = lan_nodes(&mut sim, lan, n, "scn", "n");
    sim.set_check_interval(5 * MS);
    let took = converge(&mut sim, &nodes, within);
    assert!(
        took.is_some(),
        "{n} nodes did not converge within {within:?}:\n{}",
        describe_views(&sim, &nodes)
    );
    (sim, nodes, took.unwrap())
}

// ---------------------------------------------------------------------------
// 1. 50 nodes on one segment see each other within 3 s.
// ---------------------------------------------------------------------------

#[test]
fn s01_fifty_nodes_full_view_within_3s() {
    let _t = Timing::start("s01");
    let mut sim = Sim::new(101);
    let lan = sim.add_segment(Faults::lan());
    let nodes = lan_nodes(&mut sim, lan, 50, "scn", "n");
    let start = sim.now();
    sim.set_check_interval(5 * MS);
    let ok = sim.run_until(start + secs(3), |s| all_see_all(s, &nodes));
    eprintln!("[s01] full view: {ok} at {:?}", elapsed(sim.now(), start));
    assert!(ok, "not every node sees all 49 others within 3 s:\n{}", describe_views(&sim, &nodes));
    for &n in &nodes {
        let node = sim.node(n).expect("running");
        assert_eq!(node.peers().count(), 49, "{n:?} peer count");
        for o in others(&nodes, n) {
            let id = sim.node_id(o);
            let up = first_event(&sim, n, start, |e| is_up_of(e, id));
            assert!(
                up.is_some_and(|t| elapsed(t, start) <= secs(3)),
                "{n:?} has no PeerUp for {o:?} within 3 s"
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 2. A clean shutdown is reported as Left by everyone within 50 ms.
// ---------------------------------------------------------------------------

#[test]
fn s02_clean_shutdown_reported_left_within_50ms() {
    let _t = Timing::start("s02");
    let (mut sim, nodes, took) = converged_lan(202, 10, secs(5));
    eprintln!("[s02] converged in {took:?}");
    sim.run_for(secs(2));
    let victim = nodes[3];
    let vid = sim.node_id(victim);
    let rest = others(&nodes, victim);
    let t0 = sim.now();
    sim.shutdown(victim);
    sim.set_check_interval(MS);
    sim.run_until(t0 + ms(50), |s| {
        rest.iter().all(|&n| first_event(s, n, t0, |e| is_down_of(e, vid)).is_some())
    });
    // Keep running a while: nothing else may be said about it.
    sim.run_for(secs(5));
    let mut worst = Duration::ZERO;
    for &n in &rest {
        let downs = downs_of(&sim, n, vid, t0);
        assert!(!downs.is_empty(), "{n:?} never reported the shut-down node down");
        let (t, reason) = downs[0];
        assert_eq!(reason, DownReason::Left, "{n:?} reported the clean shutdown as {reason:?}");
        let d = elapsed(t, t0);
        worst = worst.max(d);
        assert!(d <= ms(50), "{n:?} reported it Left only after {d:?}");
        assert_eq!(downs.len(), 1, "{n:?} reported it down more than once");
        assert!(sim.node(n).unwrap().peer(&vid).is_none(), "{n:?} still lists it");
        // No ghost return of the departed instance.
        assert!(
            first_event(&sim, n, t, |e| is_up_of(e, vid)).is_none(),
            "{n:?} saw the departed node come back"
        );
    }
    eprintln!("[s02] slowest Left report after {worst:?}");
}

// ---------------------------------------------------------------------------
// 3. A silent crash is reported as TimedOut within the keepalive bound.
// ---------------------------------------------------------------------------

#[test]
fn s03_crash_reported_timed_out_within_keepalive_bound() {
    let _t = Timing::start("s03");
    let cfg = Config::lan("scn", "x");
    let interval = cfg.keepalive_interval;
    let count = u32::from(cfg.keepalive_count);
    let upper = interval * count + secs(1);
    let lower = interval * (count - 1);
    let (mut sim, nodes, took) = converged_lan(303, 10, secs(5));
    eprintln!("[s03] converged in {took:?}");
    sim.run_for(secs(3));
    let victim = nodes[6];
    let vid = sim.node_id(victim);
    let rest = others(&nodes, victim);
    let t0 = sim.now();
    sim.crash(victim);
    sim.set_check_interval(10 * MS);
    sim.run_until(t0 + upper, |s| {
        rest.iter().all(|&n| first_event(s, n, t0, |e| is_down_of(e, vid)).is_some())
    });
    sim.run_for(secs(2));
    let (mut first, mut last) = (Duration::MAX, Duration::ZERO);
    for &n in &rest {
        let downs = downs_of(&sim, n, vid, t0);
        assert!(!downs.is_empty(), "{n:?} never reported the crashed node down (bound {upper:?})");
        let (t, reason) = downs[0];
        let d = elapsed(t, t0);
        first = first.min(d);
        last = last.max(d);
        assert_eq!(reason, DownReason::TimedOut, "{n:?}: reason");
        assert!(d <= upper, "{n:?} reported the crash after {d:?} > {upper:?}");
        assert!(d >= lower, "{n:?} reported the crash after only {d:?} < {lower:?}");
    }
    eprintln!("[s03] crash reported between {first:?} and {last:?} (bounds {lower:?}..{upper:?})");
}

// ---------------------------------------------------------------------------
// 4. 10 minutes of 20% loss, duplication and reordering: no flapping, and
//    a newcomer still converges within 10 s.
// ---------------------------------------------------------------------------

#[test]
fn s04_lossy_network_no_flapping_and_join() {
    let _t = Timing::start("s04");
    let faults = Faults::lan().with_loss(0.2, 0.05, 0.1);
    let mut sim = Sim::new(404);
    let lan = sim.add_segment(faults);
    let nodes = lan_nodes(&mut sim, lan, 20, "scn", "n");
    sim.set_check_interval(10 * MS);
    let took = converge(&mut sim, &nodes, secs(30));
    assert!(
        took.is_some(),
        "20 nodes did not converge under 20% loss within 30 s:\n{}",
        describe_views(&sim, &nodes)
    );
    eprintln!("[s04] converged under loss in {:?}", took.unwrap());
    let t_conv = sim.now();
    sim.set_check_interval(secs(1));
    sim.run_for(secs(600));
    // Every phase is checked before failing, so one run reports them all.
    let mut problems: Vec<String> = Vec::new();
    let mut downs = Vec::new();
    for &n in &nodes {
        for (t, e) in events_matching(&sim, n, t_conv, |e| matches!(e, Event::PeerDown { .. })) {
            downs.push((n, elapsed(t, t_conv), e));
        }
    }
    let stats: (u64, u64) = nodes.iter().fold((0, 0), |acc, &n| {
        let s = sim.node(n).unwrap().stats();
        (acc.0 + s.keepalive_timeouts, acc.1 + s.links_opened)
    });
    eprintln!(
        "[s04] after 600 s: {} PeerDown events, keepalive timeouts {}, links opened {}",
        downs.len(),
        stats.0,
        stats.1
    );
    if !downs.is_empty() {
        problems.push(format!(
            "{} PeerDown events during 10 minutes of loss after convergence; first ones: {:?}",
            downs.len(),
            &downs[..downs.len().min(5)]
        ));
    }
    if !all_see_all(&sim, &nodes) {
        problems.push(format!("views after 10 minutes:\n{}", describe_views(&sim, &nodes)));
    }

    let host = sim.add_host(&[lan]);
    let newbie = sim.add_node(host, Config::lan("scn", "late"));
    let t_join = sim.now();
    let mut all = nodes.clone();
    all.push(newbie);
    sim.set_check_interval(10 * MS);
    let ok = sim.run_until(t_join + secs(10), |s| all_see_all(s, &all));
    eprintln!("[s04] newcomer converged: {ok} after {:?}", elapsed(sim.now(), t_join));
    if !ok {
        problems.push(format!(
            "the newcomer did not converge within 10 s under loss:\n{}",
            describe_views(&sim, &all)
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// 5. A 60 s partition of a 20-node segment: each half sees the other go, and
//    all 20 see each other within 5 s of healing.
// ---------------------------------------------------------------------------

/// Splits a converged 20-node segment in two halves for `split`, heals it,
/// and returns what went wrong (empty: nothing).
fn partition_and_heal(seed: u64, split: Duration) -> Vec<String> {
    let tag = format!("[s05 {}s]", split.as_secs());
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment(Faults::lan());
    let hosts: Vec<_> = (0..20).map(|_| sim.add_host(&[lan])).collect();
    let nodes: Vec<NodeIx> = hosts
        .iter()
        .enumerate()
        .map(|(i, &h)| sim.add_node(h, Config::lan("scn", format!("n{i}"))))
        .collect();
    sim.set_check_interval(10 * MS);
    let took = converge(&mut sim, &nodes, secs(5));
    assert!(took.is_some(), "no convergence:\n{}", describe_views(&sim, &nodes));
    sim.run_for(secs(3));
    let (a, b) = nodes.split_at(10);
    let t_split = sim.now();
    sim.partition(&hosts[..10]);
    sim.run_for(split);
    // Every phase is checked before failing, so one run reports them all.
    let mut problems: Vec<String> = Vec::new();
    let mut latest_down = Duration::ZERO;
    for (mine, theirs) in [(a, b), (b, a)] {
        for &n in mine {
            for &o in theirs {
                let oid = sim.node_id(o);
                match first_event(&sim, n, t_split, |e| is_down_of(e, oid)) {
                    Some(t) => latest_down = latest_down.max(elapsed(t, t_split)),
                    None => problems.push(format!(
                        "{n:?} never reported {o:?} (other side) down during the partition"
                    )),
                }
            }
            if !sees_exactly(&sim, n, mine) {
                problems.push(format!(
                    "{n:?} does not see exactly its own half at the end of the partition"
                ));
            }
        }
    }
    eprintln!("{tag} other half reported down, the last after {latest_down:?}");
    if !problems.is_empty() {
        problems
            .push(format!("views at the end of the partition:\n{}", describe_views(&sim, &nodes)));
    }
    let t_heal = sim.now();
    sim.heal();
    let ok = sim.run_until(t_heal + secs(5), |s| all_see_all(s, &nodes));
    let d = elapsed(sim.now(), t_heal);
    eprintln!("{tag} healed within 5 s: {ok} ({d:?})");
    if !ok {
        let views = describe_views(&sim, &nodes);
        let late = sim.run_until(t_heal + secs(60), |s| all_see_all(s, &nodes));
        let when = elapsed(sim.now(), t_heal);
        eprintln!("{tag} healed at all: {late} after {when:?}");
        problems.push(format!(
            "all 20 did not see each other within 5 s of healing (full view: {late} after {when:?}); views at 5 s:\n{views}"
        ));
    }
    for p in &mut problems {
        p.insert_str(0, &format!("{tag} "));
    }
    problems
}

#[test]
fn s05_partition_and_heal() {
    let _t = Timing::start("s05");
    // The 60 s of the scenario, and 56 s: healing must not depend on where
    // the partition's end falls in the nodes' retry schedule (with retries
    // every CONNECT_TIMEOUT + retry_max = 8 s, 56 s ends just after one).
    let mut problems = partition_and_heal(505, secs(60));
    problems.extend(partition_and_heal(505, secs(56)));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------
// 6. A node speaking only link version 99 is rejected, visibly, on both sides.
// ---------------------------------------------------------------------------

#[test]
fn s06_incompatible_link_version_rejected_both_sides() {
    let _t = Timing::start("s06");
    let mut sim = Sim::new(606);
    let lan = sim.add_segment(Faults::lan());
    let normal = lan_nodes(&mut sim, lan, 4, "scn", "n");
    let link = Protocol::Link.id();
    let v99 = VersionRange::new(99, 99);
    let ranges: Vec<ProtoRange> = Protocol::ALL
        .iter()
        .map(|p| ProtoRange {
            protocol: p.id(),
            range: if p.id() == link { v99 } else { p.supported() },
        })
        .collect();
    let mut cfg = Config::lan("scn", "v99");
    cfg.versions = VersionRanges::from_entries(ranges.iter());
    assert_eq!(cfg.versions.range_of(Protocol::Discovery.id()), Some(VersionRange::new(1, 1)));
    let host = sim.add_host(&[lan]);
    let odd = sim.add_node(host, cfg);
    let odd_id = sim.node_id(odd);
    let ours = Protocol::Link.supported();
    sim.set_check_interval(10 * MS);
    sim.run_for(secs(5));

    assert!(
        all_see_all(&sim, &normal),
        "the normal nodes should still see each other:\n{}",
        describe_views(&sim, &normal)
    );
    // Nobody has the v99 node up, and it has nobody.
    for &n in &normal {
        assert!(
            first_event(&sim, n, Instant::ZERO, |e| is_up_of(e, odd_id)).is_none(),
            "{n:?} reported the v99 node up"
        );
        assert!(sim.node(n).unwrap().peer(&odd_id).is_none());
    }
    assert!(
        first_event(&sim, odd, Instant::ZERO, |e| matches!(e, Event::PeerUp(_))).is_none(),
        "the v99 node reported a peer up"
    );
    assert_eq!(sim.node(odd).unwrap().peers().count(), 0);

    // The v99 node reports the version reject, with both ranges.
    let version_reject = |e: &Event, want_ours: VersionRange, want_theirs: VersionRange| {
        matches!(e, Event::LinkRejected { reason, versions, .. }
            if *reason == RejectReason::VERSION
            && *versions == Some((link, Some(want_ours), Some(want_theirs))))
    };
    let odd_rejects = events_matching(&sim, odd, Instant::ZERO, |e| version_reject(e, v99, ours));
    assert!(
        !odd_rejects.is_empty(),
        "the v99 node reported no VERSION LinkRejected with ranges (ours 99..=99, theirs 1..=1); its events: {:?}",
        sim.events(odd)
    );
    for (_, e) in &odd_rejects {
        let Event::LinkRejected { peer: Some(p), .. } = e else { continue };
        assert!(ids_of(&sim, &normal).contains(p), "reject names an unknown peer {p:?}");
    }
    // Both directions happen, each reported as such: the v99 node refuses
    // the HELLOs of normal nodes that try it (by_remote false), and normal
    // nodes refuse the links it opens to them (by_remote true).
    let by_remote_kinds: BTreeSet<bool> = odd_rejects
        .iter()
        .map(|(_, e)| matches!(e, Event::LinkRejected { by_remote: true, .. }))
        .collect();
    eprintln!(
        "[s06] v99 node rejects: {} (by_remote kinds {by_remote_kinds:?})",
        odd_rejects.len()
    );
    assert_eq!(
        by_remote_kinds,
        BTreeSet::from([false, true]),
        "the v99 node should report both rejects it sent and rejects it received"
    );

    // At least one normal node reports it, with the ranges the other way round.
    let mut normal_reports = 0;
    for &n in &normal {
        for (_, e) in events_matching(&sim, n, Instant::ZERO, |e| version_reject(e, ours, v99)) {
            if let Event::LinkRejected { peer: Some(p), .. } = &e {
                assert_eq!(*p, odd_id, "{n:?}: version reject names the wrong peer");
            }
            normal_reports += 1;
        }
    }
    assert!(
        normal_reports > 0,
        "no normal node reported a VERSION LinkRejected with ranges (ours 1..=1, theirs 99..=99)"
    );
    // Consistency of by_remote: a reject the v99 node sent (by_remote false
    // there) is one the normal node received (by_remote true), and back.
    let odd_sent = odd_rejects
        .iter()
        .filter(|(_, e)| matches!(e, Event::LinkRejected { by_remote: false, .. }))
        .count();
    let normal_received: usize = normal
        .iter()
        .map(|&n| {
            events_matching(&sim, n, Instant::ZERO, |e| {
                version_reject(e, ours, v99)
                    && matches!(e, Event::LinkRejected { by_remote: true, .. })
            })
            .len()
        })
        .sum();
    assert_eq!(
        odd_sent, normal_received,
        "each reject the v99 node sends must be reported by_remote at the other end"
    );
    let odd_received = odd_rejects.len() - odd_sent;
    let normal_sent = normal_reports - normal_received;
    assert_eq!(
        odd_received, normal_sent,
        "each reject a normal node sends must be reported by_remote on the v99 node"
    );
    // And it is not retried in a loop: a handful of attempts in 5 s.
    assert!(
        odd_rejects.len() <= 4 * normal.len(),
        "{} rejects in 5 s: version mismatch is retried without a hold",
        odd_rejects.len()
    );
}

// ---------------------------------------------------------------------------
// 7. Two clusters share a segment and one host runs a node of each: each
//    node sees exactly its own cluster.
// ---------------------------------------------------------------------------

#[test]
fn s07_two_clusters_stay_apart() {
    let _t = Timing::start("s07");
    let mut sim = Sim::new(707);
    let lan = sim.add_segment(Faults::lan());
    let mut a = lan_nodes(&mut sim, lan, 4, "a", "a");
    let mut b = lan_nodes(&mut sim, lan, 4, "b", "b");
    // One process in both clusters: one node of each on the same host.
    let both = sim.add_host(&[lan]);
    a.push(sim.add_node(both, Config::lan("a", "both-a")));
    b.push(sim.add_node(both, Config::lan("b", "both-b")));
    let mut all = a.clone();
    all.extend(&b);
    sim.set_check_interval(10 * MS);
    let ok = sim.run_until(sim.now() + secs(3), |s| all_see_all(s, &a) && all_see_all(s, &b));
    assert!(
        ok,
        "clusters did not converge within 3 s:\na:\n{}b:\n{}",
        describe_views(&sim, &a),
        describe_views(&sim, &b)
    );
    sim.run_for(secs(10));
    for (mine, theirs, name) in [(&a, &b, "a"), (&b, &a, "b")] {
        let foreign = ids_of(&sim, theirs);
        for &n in mine.iter() {
            assert!(
                sees_exactly(&sim, n, mine),
                "{n:?} (cluster {name}) does not see exactly its cluster:\n{}",
                describe_views(&sim, &all)
            );
            let leaked = events_matching(
                &sim,
                n,
                Instant::ZERO,
                |e| matches!(e, Event::PeerUp(p) if foreign.contains(&p.id)),
            );
            assert!(leaked.is_empty(), "{n:?} saw the other cluster: {leaked:?}");
        }
    }
}

// ---------------------------------------------------------------------------
// 8. Five nodes on one host (one address) find each other.
// ---------------------------------------------------------------------------

#[test]
fn s08_five_nodes_on_one_host() {
    let _t = Timing::start("s08");
    let mut sim = Sim::new(808);
    let lan = sim.add_segment(Faults::lan());
    let host = sim.add_host(&[lan]);
    let nodes: Vec<NodeIx> =
        (0..5).map(|i| sim.add_node(host, Config::lan("scn", format!("h{i}")))).collect();
    sim.set_check_interval(5 * MS);
    let took = converge(&mut sim, &nodes, secs(3));
    eprintln!("[s08] converged: {took:?}");
    assert!(
        took.is_some(),
        "five nodes on one host did not find each other within 3 s:\n{}",
        describe_views(&sim, &nodes)
    );
    sim.run_for(secs(10));
    assert!(all_see_all(&sim, &nodes), "unstable:\n{}", describe_views(&sim, &nodes));
}

// ---------------------------------------------------------------------------
// 9. Two segments joined only by a static seed that appears after 30 s.
// ---------------------------------------------------------------------------

#[test]
fn s09_segments_joined_by_late_seed() {
    let _t = Timing::start("s09");
    let mut sim = Sim::new(909);
    let seg_a = sim.add_segment(Faults::lan());
    let seg_b = sim.add_segment(Faults::lan());
    sim.route_segments(seg_a, seg_b);
    // The seed's host exists from the start; its node is started at 30 s.
    // Its address follows the simulator's scheme 10.seg.(h/256).(h%256)
    // with h = host index + 1, first node on LINK_PORT; checked below.
    let seed_host = sim.add_host(&[seg_b]);
    let h = seed_host.0 + 1;
    let seed_addr = SocketAddr::new(
        IpAddr::V4(Ipv4Addr::new(10, seg_b.0 as u8, (h / 256) as u8, (h % 256) as u8)),
        LINK_PORT,
    );
    let a = lan_nodes_with(&mut sim, seg_a, 5, |i| {
        let mut c = Config::lan("scn", format!("a{i}"));
        c.seeds = vec![seed_addr];
        c
    });
    let mut b = lan_nodes(&mut sim, seg_b, 4, "scn", "b");
    sim.set_check_interval(10 * MS);
    sim.run_for(secs(30));
    for (mine, name) in [(&a, "a"), (&b, "b")] {
        for &n in mine.iter() {
            assert!(
                sees_exactly(&sim, n, mine),
                "before the seed, {n:?} (segment {name}) should see exactly its segment"
            );
        }
    }
    let seed = sim.add_node(seed_host, Config::lan("scn", "seed"));
    assert_eq!(sim.link_addr(seed), seed_addr, "predicted seed address");
    let t_seed = sim.now();
    b.push(seed);
    let mut all = a.clone();
    all.extend(&b);
    let ok = sim.run_until(t_seed + secs(10), |s| all_see_all(s, &all));
    let d = elapsed(sim.now(), t_seed);
    eprintln!("[s09] everyone sees everyone: {ok} after {d:?}");
    assert!(
        ok,
        "not everyone sees everyone within 10 s of the seed appearing:\n{}",
        describe_views(&sim, &all)
    );
}

// ---------------------------------------------------------------------------
// 10. A newcomer to a converged 50-node segment sees all 50 within 300 ms,
//     through SEARCH/NOTIFY, with the answers spread out.
// ---------------------------------------------------------------------------

#[test]
fn s10_newcomer_fast_join_with_spread_notifies() {
    let _t = Timing::start("s10");
    let (mut sim, nodes, took) = converged_lan(1010, 50, secs(5));
    eprintln!("[s10] 50 converged in {took:?}");
    sim.run_for(secs(5));
    // `converged_lan` built the one segment there is.
    let seg = netcluster_sim::SegmentId(0);
    let host = sim.add_host(&[seg]);
    let newbie = sim.add_node(host, Config::lan("scn", "new"));
    let t0 = sim.now();
    let notify = (Protocol::Discovery.id(), 3u8);
    let beacon = (Protocol::Discovery.id(), 1u8);
    let mut last = sim.counters(newbie).of(notify.0, notify.1).received;
    let mut worst_ms = 0u64;
    let mut full_at = None;
    for step in 1..=300u64 {
        sim.run_for(MS);
        let now = sim.counters(newbie).of(notify.0, notify.1).received;
        let in_ms = now - last;
        last = now;
        assert!(in_ms <= 10, "{in_ms} NOTIFYs reached the newcomer in millisecond {step}");
        worst_ms = worst_ms.max(in_ms);
        if full_at.is_none() && sees_exactly(&sim, newbie, &nodes) {
            full_at = Some(step);
        }
    }
    let notifies = last;
    let beacons = sim.counters(newbie).of(beacon.0, beacon.1).received;
    eprintln!(
        "[s10] full view after {full_at:?} ms; NOTIFYs received {notifies}, worst ms {worst_ms}, beacons received {beacons}"
    );
    assert!(
        full_at.is_some(),
        "the newcomer did not see all 50 within 300 ms: {} peers",
        peer_ids(&sim, newbie).len()
    );
    for &o in &nodes {
        let id = sim.node_id(o);
        let up = first_event(&sim, newbie, t0, |e| is_up_of(e, id));
        assert!(
            up.is_some_and(|t| elapsed(t, t0) <= ms(300)),
            "the newcomer has no PeerUp for {o:?} within 300 ms"
        );
    }
    // Found through SEARCH/NOTIFY: (nearly) every node answered.
    assert!(notifies >= 45, "only {notifies} NOTIFYs answered the newcomer's SEARCH");
}

// ---------------------------------------------------------------------------
// 11. A crashed node restarts: down, then up with its new incarnation, never
//     listed twice.
// ---------------------------------------------------------------------------

#[test]
fn s11_crash_restart_new_incarnation() {
    let _t = Timing::start("s11");
    let (mut sim, nodes, took) = converged_lan(1111, 10, secs(5));
    eprintln!("[s11] converged in {took:?}");
    sim.run_for(secs(2));
    let victim = nodes[4];
    let vid = sim.node_id(victim);
    let old_inc = sim.node(victim).unwrap().config().incarnation;
    let rest = others(&nodes, victim);
    // When the victim's current life began (its older events describe the
    // crashed instance).
    let victim_life = std::cell::Cell::new(Instant::ZERO);
    // Checks every 10 ms: ids unique, the count matches what the events say.
    let check = |s: &Sim| {
        for &n in &nodes {
            if s.node(n).is_none() {
                continue;
            }
            let ids = peer_ids(s, n);
            let uniq: BTreeSet<NodeId> = ids.iter().copied().collect();
            assert_eq!(ids.len(), uniq.len(), "{n:?} lists a peer twice at {:?}", s.now());
            assert!(ids.len() < nodes.len(), "{n:?} lists too many peers");
            let since = if n == victim { victim_life.get() } else { Instant::ZERO };
            let from_events = view_from_events(s, n, since);
            assert_eq!(
                uniq,
                from_events,
                "{n:?} at {:?}: peers() disagrees with its PeerUp/PeerDown events",
                s.now()
            );
            let me = s.node_id(n);
            assert!(!uniq.contains(&me), "{n:?} lists itself");
        }
        false
    };
    sim.set_check_interval(10 * MS);
    let t_crash = sim.now();
    sim.crash(victim);
    sim.run_until(t_crash + secs(10), check);
    let t_restart = sim.now();
    sim.restart(victim);
    victim_life.set(t_restart);
    let new_inc = sim.node(victim).unwrap().config().incarnation;
    assert!(new_inc > old_inc);
    sim.run_until(t_restart + secs(10), check);

    for &n in &rest {
        // What this node said about the victim since the crash, for messages.
        let story: Vec<String> =
            events_matching(&sim, n, t_crash, |e| is_up_of(e, vid) || is_down_of(e, vid))
                .iter()
                .map(|(t, e)| {
                    let at = elapsed(*t, t_crash);
                    match e {
                        Event::PeerUp(p) => format!("{at:?} PeerUp(incarnation {})", p.incarnation),
                        Event::PeerDown { reason, .. } => format!("{at:?} PeerDown({reason:?})"),
                        _ => unreachable!(),
                    }
                })
                .collect();
        let story = format!(
            "{n:?} about the victim (crash at 0, restart at {:?}): {story:?}",
            elapsed(t_restart, t_crash)
        );
        let downs = downs_of(&sim, n, vid, t_crash);
        assert!(!downs.is_empty(), "never saw the crashed node down: {story}");
        let down_at = downs[0].0;
        assert!(down_at < t_restart, "down only after the restart: {story}");
        let up = events_matching(&sim, n, t_crash, |e| is_up_of(e, vid));
        assert!(!up.is_empty(), "never saw the restarted node up: {story}");
        let (up_at, Event::PeerUp(info)) = &up[0] else { unreachable!() };
        assert!(*up_at >= t_restart && *up_at > down_at, "up before down/restart: {story}");
        assert_eq!(
            info.incarnation, new_inc,
            "first PeerUp after the restart has the crashed instance's incarnation: {story}"
        );
        assert_eq!(
            sim.node(n).unwrap().peer(&vid).map(|p| p.incarnation),
            Some(new_inc),
            "{n:?} does not list the new incarnation at the end"
        );
        assert_eq!(downs.len(), 1, "went down more than once: {story}");
        assert_eq!(up.len(), 1, "came up more than once: {story}");
    }
    assert!(all_see_all(&sim, &nodes), "final views:\n{}", describe_views(&sim, &nodes));
    let took_up = rest
        .iter()
        .filter_map(|&n| first_event(&sim, n, t_restart, |e| is_up_of(e, vid)))
        .max()
        .map(|t| elapsed(t, t_restart));
    eprintln!("[s11] everyone saw the new incarnation after {took_up:?}");
}

// ---------------------------------------------------------------------------
// 12. Same seed, same trace; another seed, another trace.
// ---------------------------------------------------------------------------

fn determinism_run(seed: u64) -> u64 {
    let mut sim = Sim::new(seed);
    let lan = sim.add_segment(Faults::lan().with_loss(0.05, 0.02, 0.05));
    let nodes = lan_nodes(&mut sim, lan, 10, "scn", "n");
    sim.set_check_interval(50 * MS);
    sim.run_for(secs(5));
    sim.crash(nodes[2]);
    sim.run_for(secs(5));
    sim.restart(nodes[2]);
    sim.run_for(secs(5));
    // The scenario did something worth hashing.
    assert!(sim.events(nodes[0]).len() >= 9, "too few events to compare");
    sim.trace_hash()
}

#[test]
fn s12_determinism() {
    let _t = Timing::start("s12");
    let a = determinism_run(1212);
    let b = determinism_run(1212);
    let c = determinism_run(1213);
    eprintln!("[s12] hashes {a:#x} {b:#x} {c:#x}");
    assert_eq!(a, b, "same seed, different trace");
    assert_ne!(a, c, "different seeds, same trace");
}
