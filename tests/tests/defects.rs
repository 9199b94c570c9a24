//! Regression tests for defects found by an independent discrete-event
//! simulator (issue #10): timers armed at instants where nothing is due,
//! seeds retried forever after refusing for being full, and an unbounded
//! start-up burst. They run on `netcluster-sim` in virtual time.
//!
//! `cargo test -p netcluster-tests --test defects -- --nocapture` prints the
//! figures behind each verdict.

use std::time::{Duration, Instant as WallInstant};

use netcluster_core::{Config, LinkMode};
use netcluster_sim::{Faults, NodeIx, Sim, TieOrder};
use netcluster_tests::sim_helpers::{all_see_all, lan_nodes_with};

/// Prints a test's wall-clock time (visible with `--nocapture`).
struct Timing(&'static str, WallInstant);

impl Drop for Timing {
    fn drop(&mut self) {
        eprintln!("[{}] wall time {:.2?}", self.0, self.1.elapsed());
    }
}

fn lan_in(mode: LinkMode) -> impl FnMut(usize) -> Config {
    move |i| {
        let mut cfg = Config::lan("defects", format!("n{i}"));
        cfg.link_mode = mode;
        cfg
    }
}

// ---------------------------------------------------------------------------
// 1. No stalled wake-ups: a timer is armed only where something is due.
// ---------------------------------------------------------------------------

/// Runs 20 nodes with `mode` links at 20% independent loss for three
/// virtual minutes (one with stream links) under `tie`, and returns the
/// stalled wake-ups per node.
///
/// A stalled wake-up (see `netcluster_sim::Counters::stalled_wakeups`) is a
/// call of `handle_timeout(t)` after which the node has sent nothing, opened
/// or closed no link, emitted no event, and `poll_timeout()` is still at or
/// before `t`: a real driver would call it again at once, and again, until
/// its clock moved past whatever the node was waiting for.
fn stalls_under_loss(mode: LinkMode, tie: TieOrder, seed: u64) -> Vec<u64> {
    let mut sim = Sim::new(seed);
    sim.set_tie_order(tie);
    let seg = sim.add_segment(Faults::lan().with_loss(0.2, 0.0, 0.0));
    let nodes = lan_nodes_with(&mut sim, seg, 20, lan_in(mode));
    sim.set_check_interval(Duration::from_millis(50));
    let converged = sim.run_until(sim.now() + Duration::from_secs(30), |s| all_see_all(s, &nodes));
    assert!(converged, "20 nodes at 20% loss never converged ({mode:?}, {tie:?})");
    // Stream links are much slower to simulate under loss (every lost
    // segment is a retransmission event): one minute of them suffices.
    let minutes = if mode == LinkMode::Datagram { 3 } else { 1 };
    sim.run_for(Duration::from_secs(60 * minutes));
    let pings: u64 = nodes.iter().map(|&n| sim.counters(n).of(2, 5).sent).sum();
    assert!(pings > 300, "too few PINGs ({pings}) for the scenario to mean anything");
    nodes.iter().map(|&n: &NodeIx| sim.counters(n).stalled_wakeups).collect()
}

#[test]
fn no_stalled_wakeups_under_loss_either_tie_order() {
    let _t = Timing("stalls", WallInstant::now());
    // Datagram links are where the defect showed (a PING and a frame in
    // the same tick, then the PONG lost); stream links share the timers.
    for mode in [LinkMode::Datagram, LinkMode::Stream] {
        for tie in [TieOrder::InputsFirst, TieOrder::TimersFirst] {
            let stalls = stalls_under_loss(mode, tie, 10);
            let total: u64 = stalls.iter().sum();
            eprintln!("[stalls] {mode:?} {tie:?}: {total} stalled wake-ups, per node {stalls:?}");
            assert_eq!(total, 0, "{mode:?} {tie:?}: stalled wake-ups per node {stalls:?}");
        }
    }
}
