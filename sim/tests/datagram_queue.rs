//! The sender's queue of a datagram path with a bandwidth, seen through
//! two nodes: what fits leaves at the path's rate, what does not is
//! dropped and counted, and a path without a bandwidth has no queue.

use std::time::Duration;

use bytes::Bytes;
use netcluster_sim::core::wire::link::Semantics;
use netcluster_sim::core::{Config, Event, Instant, LinkMode};
use netcluster_sim::{Counters, Faults, Sim};

const BURST: u32 = 40;
const PAYLOAD: usize = 1000;

/// Two nodes on datagram links over one segment of `bandwidth`; once
/// linked, the first sends `BURST` unacknowledged messages of one
/// datagram each to the second at one instant. Returns when it sent them,
/// when each arrived (by number), and the sender's counters since.
fn burst(bandwidth: u64, queue: Option<usize>) -> (Instant, Vec<(u32, Instant)>, Counters) {
    let mut sim = Sim::new(5);
    if let Some(bytes) = queue {
        sim.set_datagram_tx_queue(bytes);
    }
    let seg = sim.add_segment(Faults::lan().with_bandwidth(bandwidth));
    let [a, b] = [0, 1].map(|i| {
        let h = sim.add_host(&[seg]);
        let mut cfg = Config::lan("q", format!("n{i}"));
        cfg.link_mode = LinkMode::Datagram;
        sim.add_node(h, cfg)
    });
    let linked = sim.run_until(sim.now() + Duration::from_secs(5), |s| {
        [a, b].iter().all(|&n| s.node(n).is_some_and(|x| x.peers().count() == 1))
    });
    assert!(linked, "the two nodes did not link");
    let to = sim.node_id(b);
    sim.clear_records();
    let t0 = sim.now();
    sim.with_node(a, |n, now| {
        for k in 0..BURST {
            let mut p = vec![0u8; PAYLOAD];
            p[..4].copy_from_slice(&k.to_be_bytes());
            n.send(now, to, Semantics::Datagram, Bytes::from(p)).expect("datagrams have no window");
        }
    });
    sim.run_for(Duration::from_millis(200));
    let arrivals = sim
        .events(b)
        .iter()
        .filter_map(|(t, e)| match e {
            Event::Message { payload, .. } => {
                Some((u32::from_be_bytes(payload[..4].try_into().unwrap()), *t))
            }
            _ => None,
        })
        .collect();
    (t0, arrivals, sim.counters(a).clone())
}

#[test]
fn a_full_queue_drops_the_tail_and_counts_it() {
    // 1 MB/s: a byte per microsecond, so a datagram's size is the gap
    // between two arrivals.
    let limit = 10_000;
    let (t0, got, sent) = burst(1_000_000, Some(limit));
    let gap = (got[1].1 - got[0].1).as_micros() as usize;
    assert!((PAYLOAD..PAYLOAD + 200).contains(&gap), "a datagram of {gap} bytes?");
    // What fitted the queue at the instant of the burst went, in order, one
    // datagram's time apart, each after its own serialization and the
    // segment's 1 ms.
    let fitted = limit / gap;
    let numbers: Vec<u32> = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(numbers, (0..fitted as u32).collect::<Vec<_>>());
    for (i, (_, at)) in got.iter().enumerate() {
        let due = t0 + Duration::from_micros(((i + 1) * gap) as u64 + 1_000);
        assert!(
            at.as_micros().abs_diff(due.as_micros()) <= 1,
            "datagram {i} at {at:?}, not {due:?}"
        );
    }
    // The rest were dropped at the sender, counted, and nothing else was.
    assert_eq!(sent.tx_queue_dropped, u64::from(BURST) - fitted as u64);
    assert!(sent.tx_queue_peak_bytes <= limit as u64, "peak {}", sent.tx_queue_peak_bytes);
    assert!(sent.tx_queue_peak_bytes + gap as u64 > limit as u64, "the queue was filled");
}

#[test]
fn a_path_without_bandwidth_has_no_queue() {
    let (t0, got, sent) = burst(0, Some(1));
    // Everything arrives one latency later, as before queues existed: the
    // receiver reads them in turn (its socket buffer takes the burst).
    let numbers: Vec<u32> = got.iter().map(|(k, _)| *k).collect();
    assert_eq!(numbers, (0..BURST).collect::<Vec<_>>());
    assert_eq!(got[0].1, t0 + Duration::from_millis(1));
    assert_eq!(sent.tx_queue_dropped, 0);
    assert_eq!(sent.tx_queue_peak_bytes, 0, "no queue was used");
}
