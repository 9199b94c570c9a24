//! Scale figures in virtual time: for N nodes started together on one LAN
//! segment (1 ms one way), the time until every node sees every other, the
//! steady-state traffic per node, the time for everyone to report a crash,
//! and the wall-clock cost of a simulated second. Under the simulator's
//! socket receive-buffer model (on by default, `RxModel::LINUX`) it also
//! reports the datagrams dropped at full receive buffers during start-up
//! (until full view, plus 20 s) and the most messages any node sent or
//! received in a 100 ms window then (`peak` columns). `nobuf` turns the model off.
//!
//! ```text
//! cargo run --release -p netcluster-sim --example scale [N ...] [datagram] [lossy] [nobuf]
//! ```

use std::time::{Duration, Instant as WallInstant};

use netcluster_core::{Config, Event, LinkMode};
use netcluster_sim::{Faults, NodeIx, RxModel, Sim};

struct Row {
    n: usize,
    full_view: Option<Duration>,
    sent_per_s: f64,
    recv_per_s: f64,
    bytes_sent_per_s: f64,
    bytes_recv_per_s: f64,
    crash_detect: Option<Duration>,
    wall_per_sim_s: f64,
    startup_drops: u64,
    peak_sent: u64,
    peak_recv: u64,
}

fn everyone_sees_everyone(sim: &Sim, nodes: &[NodeIx]) -> bool {
    let want = nodes.len() - 1;
    nodes.iter().all(|&n| sim.node(n).is_some_and(|node| node.peers().count() == want))
}

fn measure(n: usize, seed: u64, mode: LinkMode, faults: Faults, rx: RxModel) -> Row {
    let mut sim = Sim::new(seed);
    sim.set_rx_model(rx);
    let lan = sim.add_segment(faults);
    let nodes: Vec<NodeIx> = (0..n)
        .map(|i| {
            let host = sim.add_host(&[lan]);
            let mut cfg = Config::lan("scale", format!("n{i}"));
            cfg.link_mode = mode;
            sim.add_node(host, cfg)
        })
        .collect();
    let start = sim.now();
    let wall = WallInstant::now();
    sim.set_check_interval(Duration::from_millis(5));
    let converged =
        sim.run_until(start + Duration::from_secs(30), |s| everyone_sees_everyone(s, &nodes));
    let full_view = converged.then(|| sim.now() - start);

    // Let start-up traffic settle, then measure a steady minute.
    sim.run_for(Duration::from_secs(20));
    let startup = |sim: &Sim, f: fn(&netcluster_sim::Counters) -> u64| {
        nodes.iter().map(|&x| f(sim.counters(x))).collect::<Vec<u64>>()
    };
    let startup_drops = startup(&sim, |c| c.rx_dropped).iter().sum();
    let peak_sent = startup(&sim, |c| c.peak_sent_100ms).into_iter().max().unwrap_or(0);
    let peak_recv = startup(&sim, |c| c.peak_received_100ms).into_iter().max().unwrap_or(0);
    sim.clear_records();
    let window = Duration::from_secs(60);
    let t0 = WallInstant::now();
    sim.run_for(window);
    let wall_steady = t0.elapsed().as_secs_f64();
    let secs = window.as_secs_f64() * n as f64;
    let (mut sent, mut recv, mut bsent, mut brecv) = (0u64, 0u64, 0u64, 0u64);
    for &node in &nodes {
        let c = sim.counters(node);
        sent += c.messages_sent();
        recv += c.messages_received();
        bsent += c.bytes_sent();
        brecv += c.datagrams.received_bytes + c.frames.received_bytes;
    }

    // Crash one node and time until every other reports it down.
    let victim = nodes[n / 2];
    let victim_id = sim.node_id(victim);
    sim.clear_records();
    sim.crash(victim);
    let crashed_at = sim.now();
    let others: Vec<NodeIx> = nodes.iter().copied().filter(|&x| x != victim).collect();
    let detected = sim.run_until(crashed_at + Duration::from_secs(30), |s| {
        others.iter().all(|&o| {
            s.events(o)
                .iter()
                .any(|(_, e)| matches!(e, Event::PeerDown { id, .. } if *id == victim_id))
        })
    });
    let crash_detect = detected.then(|| sim.now() - crashed_at);
    let _ = wall;
    Row {
        n,
        full_view,
        sent_per_s: sent as f64 / secs,
        recv_per_s: recv as f64 / secs,
        bytes_sent_per_s: bsent as f64 / secs,
        bytes_recv_per_s: brecv as f64 / secs,
        crash_detect,
        wall_per_sim_s: wall_steady / window.as_secs_f64(),
        startup_drops,
        peak_sent,
        peak_recv,
    }
}

fn fmt(d: Option<Duration>) -> String {
    d.map_or("never".into(), |d| format!("{:.3} s", d.as_secs_f64()))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let sizes = if sizes.is_empty() { vec![10, 100, 1000] } else { sizes };
    // `datagram` runs the nodes with datagram links; `lossy` adds 20% loss,
    // 5% duplication and 10% reordering.
    let mode =
        if args.iter().any(|a| a == "datagram") { LinkMode::Datagram } else { LinkMode::Stream };
    let faults = if args.iter().any(|a| a == "lossy") {
        Faults::lan().with_loss(0.2, 0.05, 0.1)
    } else {
        Faults::lan()
    };
    let rx = if args.iter().any(|a| a == "nobuf") { RxModel::UNLIMITED } else { RxModel::LINUX };
    println!("link mode {mode:?}, faults {faults:?}, receive buffers {rx:?}");
    println!(
        "| N | full view | msgs sent/node/s | msgs recv/node/s | bytes sent/node/s | bytes recv/node/s | crash seen by all | wall s per sim s | start-up drops | peak sent/100 ms | peak recv/100 ms |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for n in sizes {
        let r = measure(n, 1, mode, faults, rx);
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.0} | {:.0} | {} | {:.4} | {} | {} | {} |",
            r.n,
            fmt(r.full_view),
            r.sent_per_s,
            r.recv_per_s,
            r.bytes_sent_per_s,
            r.bytes_recv_per_s,
            fmt(r.crash_detect),
            r.wall_per_sim_s,
            r.startup_drops,
            r.peak_sent,
            r.peak_recv
        );
    }
}
