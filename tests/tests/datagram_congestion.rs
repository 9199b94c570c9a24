//! The data plane over datagram links under load, in virtual time: the
//! end-to-end window against a bottleneck whose only signal is loss.
//!
//! A datagram path with a bandwidth in the simulator serializes what it
//! carries through a bounded drop-tail queue at the sender
//! (`netcluster_sim::egress`). The core keeps no link queue for datagram
//! links and marks nothing on them (PROTOCOL 7.15): a congested hop shows
//! as delay, then as datagrams dropped at its sender, and the window must
//! answer that loss alone. These mirror the stream-link tests of
//! `congestion.rs`; every figure is in virtual time.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::SendOptions;
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, Event, Instant, LinkMode, NodeId};
use netcluster_sim::{NodeIx, Sim, DATAGRAM_TX_QUEUE};
use netcluster_tests::sim_helpers::{bottleneck_line, incast};

/// The bottleneck's messages: eight datagrams each at the 1,100-byte
/// fragments of datagram links, as `congestion.rs` sends over streams.
const LARGE: usize = 8 * 1024;
/// The incast's messages: one datagram each (see the incast test).
const SMALL: usize = 1024;

fn cfg(i: usize) -> Config {
    let mut c = Config::lan("dgload", format!("n{i}"));
    c.link_mode = LinkMode::Datagram;
    c
}

/// Which message: sender, whether Sequenced (else Reliable), number.
type Key = (u32, bool, u32);

fn message((from, sequenced, seq): Key, size: usize) -> Bytes {
    let mut v = vec![0u8; size];
    v[..4].copy_from_slice(&from.to_be_bytes());
    v[4..8].copy_from_slice(&seq.to_be_bytes());
    v[8] = u8::from(sequenced);
    Bytes::from(v)
}

fn read(p: &[u8]) -> Key {
    (
        u32::from_be_bytes(p[..4].try_into().unwrap()),
        p[8] == 1,
        u32::from_be_bytes(p[4..8].try_into().unwrap()),
    )
}

/// The senders, with what each had accepted and when.
struct Senders {
    nodes: Vec<NodeIx>,
    /// Bytes per message.
    size: usize,
    /// Per sender: Sequenced and Reliable messages accepted.
    accepted: Vec<(u32, u32)>,
    sent_at: BTreeMap<Key, Instant>,
}

impl Senders {
    fn new(nodes: &[NodeIx], size: usize) -> Senders {
        Senders {
            nodes: nodes.to_vec(),
            size,
            accepted: vec![(0, 0); nodes.len()],
            sent_at: BTreeMap::new(),
        }
    }

    /// Every sender sends to `to` until its window refuses: Sequenced and
    /// Reliable in turn when `mix` is set, Reliable only otherwise.
    fn saturate(&mut self, sim: &mut Sim, to: NodeId, mix: bool) {
        for (i, &s) in self.nodes.iter().enumerate() {
            let at = sim.now();
            let (seq, rel) = &mut self.accepted[i];
            let sent_at = &mut self.sent_at;
            let size = self.size;
            sim.with_node(s, |n, now| {
                for _ in 0..64 {
                    let sequenced = mix && *seq <= *rel;
                    let (sem, k) = if sequenced {
                        (Semantics::Sequenced, &mut *seq)
                    } else {
                        (Semantics::Reliable, &mut *rel)
                    };
                    let key = (i as u32, sequenced, *k);
                    if n.send(now, to, SendOptions::new(sem), message(key, size)).is_err() {
                        break;
                    }
                    sent_at.insert(key, at);
                    *k += 1;
                }
            });
        }
    }
}

/// What one receiver saw, checked message by message as it arrives:
/// Sequenced in exact order, Reliable exactly once.
#[derive(Default)]
struct Receiver {
    next: BTreeMap<u32, u32>,
    reliable: BTreeMap<u32, BTreeSet<u32>>,
    bytes: BTreeMap<u32, u64>,
    /// One-way delay of every message: send accepted to delivered.
    delays: Vec<Duration>,
}

impl Receiver {
    fn take(&mut self, sim: &Sim, n: NodeIx, tx: &Senders) {
        for (t, e) in sim.events(n) {
            if let Event::Message { payload, .. } = e {
                let key @ (from, sequenced, seq) = read(payload);
                if sequenced {
                    let next = self.next.entry(from).or_default();
                    assert_eq!(seq, *next, "sender {from}: out of order or lost");
                    *next += 1;
                } else {
                    let fresh = self.reliable.entry(from).or_default().insert(seq);
                    assert!(fresh, "sender {from}: message {seq} delivered twice");
                }
                *self.bytes.entry(from).or_default() += payload.len() as u64;
                self.delays.push(*t - tx.sent_at[&key]);
            }
        }
    }

    /// Sequenced and Reliable messages that arrived from `from`: all of
    /// them, since each kind is checked as it arrives.
    fn count(&self, from: u32) -> (u32, u32) {
        let seq = self.next.get(&from).copied().unwrap_or(0);
        let rel = self.reliable.get(&from).map_or(0, |s| s.len() as u32);
        (seq, rel)
    }
}

/// A node's datagram queues over a run whose records are cleared as it
/// goes.
#[derive(Default)]
struct Queue {
    peak: u64,
    dropped: u64,
}

impl Queue {
    fn note(&mut self, sim: &Sim, n: NodeIx) {
        let c = sim.counters(n);
        self.peak = self.peak.max(c.tx_queue_peak_bytes);
        self.dropped += c.tx_queue_dropped;
    }
}

/// Every node's events so far hold no peer going down and no message
/// given up on; no keepalive ever timed out.
fn no_false_down(sim: &Sim, nodes: &[NodeIx]) {
    for &n in nodes {
        for (t, e) in sim.events(n) {
            assert!(!matches!(e, Event::PeerDown { .. }), "node {n:?} saw a peer go down at {t:?}");
            assert!(!matches!(e, Event::SendFailed { .. }), "node {n:?}: {e:?} at {t:?}");
        }
        let stats = sim.node(n).unwrap().stats();
        assert_eq!(stats.keepalive_timeouts, 0, "node {n:?}");
    }
}

fn links_opened(sim: &Sim, nodes: &[NodeIx]) -> Vec<u64> {
    nodes.iter().map(|&n| sim.node(n).unwrap().stats().links_opened).collect()
}

fn jain(xs: &[f64]) -> f64 {
    let sum: f64 = xs.iter().sum();
    let sq: f64 = xs.iter().map(|x| x * x).sum();
    sum * sum / (xs.len() as f64 * sq)
}

fn p99(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() * 99 / 100]
}

#[test]
fn a_datagram_bottleneck_is_kept_busy_with_a_bounded_delay() {
    const BW: u64 = 10_000_000;
    const SECS: u64 = 10;
    let (mut sim, nodes @ [a, b, _, d]) = bottleneck_line(21, BW, cfg);
    let to = sim.node_id(d);
    let opened = links_opened(&sim, &nodes);
    let mut tx = Senders::new(&[a], LARGE);
    let mut rx = Receiver::default();
    let mut queue = Queue::default();
    let start = sim.now();
    while sim.now() < start + Duration::from_secs(SECS) {
        tx.saturate(&mut sim, to, true);
        sim.run_for(Duration::from_millis(2));
        rx.take(&sim, d, &tx);
        no_false_down(&sim, &nodes);
        queue.note(&sim, b);
        sim.clear_records();
    }
    let goodput = rx.bytes.values().sum::<u64>() as f64 / SECS as f64;
    // Let what was accepted arrive: all of it, exactly once.
    sim.run_for(Duration::from_secs(5));
    rx.take(&sim, d, &tx);
    no_false_down(&sim, &nodes);
    assert_eq!(rx.count(0), tx.accepted[0], "(Sequenced, Reliable) accepted != delivered");
    assert_eq!(opened, links_opened(&sim, &nodes), "a link was closed and opened again");
    assert!(goodput >= 0.8 * BW as f64, "goodput {goodput:.0} B/s of {BW}");
    assert!(queue.peak <= DATAGRAM_TX_QUEUE as u64, "queue peak {} bytes", queue.peak);
    // One way, a message waits at most for the bottleneck's full queue
    // (13 ms at 10 MB/s), then crosses three 1 ms hops and spends under
    // 1 ms serializing its eight datagrams. Most messages do no worse. A
    // few percent lose a datagram at the full queue and go again whole:
    // the loss shows when the ACK of a later message comes back (3 ms),
    // and the copy crosses once more. So the p99 is bounded by two
    // crossings and the ACK's way back, with slack.
    let one_way = Duration::from_micros(DATAGRAM_TX_QUEUE as u64 * 1_000_000 / BW)
        + Duration::from_millis(3 + 1);
    let bound = one_way * 2 + Duration::from_millis(3 + 5);
    rx.delays.sort();
    let p50 = rx.delays[rx.delays.len() / 2];
    let p99 = rx.delays[rx.delays.len() * 99 / 100];
    assert!(p50 <= one_way, "median one-way delay {p50:?} over {one_way:?}");
    assert!(p99 <= bound, "p99 one-way delay {p99:?} over {bound:?}");
    println!(
        "datagram bottleneck: goodput {goodput:.0} B/s, one-way p50 {p50:?}, p99 {p99:?} \
         (bound {bound:?}), queue peak {} B, {} datagrams dropped at the queue",
        queue.peak, queue.dropped
    );
}

/// Eight senders through one relay whose hop to the sink is the
/// bottleneck, as in `congestion.rs`, with messages of one datagram. With
/// 8 KiB messages (eight datagrams) this scenario locks a sender out: the
/// eight windows' floors (two 8 KiB fragments each) fill the relay's
/// 128 KiB queue by themselves, and a sender that lost part of every
/// message of its first window resends them whole after each timeout into
/// a full queue, until they fail after `delivery_timeout` (PROTOCOL,
/// open questions, congestion on datagram links).
#[test]
fn incast_over_datagram_links_shares_the_bottleneck_fairly() {
    const BW: u64 = 2_000_000;
    const SECS: u64 = 60;
    let (mut sim, senders, relay, sink, all) = incast::<8>(22, BW, cfg);
    let to = sim.node_id(sink);
    let opened = links_opened(&sim, &all);
    let mut tx = Senders::new(&senders, SMALL);
    let mut rx = Receiver::default();
    let mut queue = Queue::default();
    let start = sim.now();
    while sim.now() < start + Duration::from_secs(SECS) {
        tx.saturate(&mut sim, to, false);
        sim.run_for(Duration::from_millis(5));
        rx.take(&sim, sink, &tx);
        no_false_down(&sim, &all);
        queue.note(&sim, relay);
        sim.clear_records();
    }
    let goodput: Vec<f64> =
        (0..8u32).map(|i| rx.bytes.get(&i).copied().unwrap_or(0) as f64).collect();
    sim.run_for(Duration::from_secs(10));
    rx.take(&sim, sink, &tx);
    no_false_down(&sim, &all);
    for (i, accepted) in tx.accepted.iter().enumerate() {
        assert_eq!(rx.count(i as u32), *accepted, "sender {i}: accepted != delivered");
    }
    assert_eq!(opened, links_opened(&sim, &all), "a link was closed and opened again");
    assert!(queue.peak <= DATAGRAM_TX_QUEUE as u64, "queue peak {} bytes", queue.peak);
    let total: f64 = goodput.iter().sum();
    let fairness = jain(&goodput);
    assert!(fairness >= 0.9, "Jain's index {fairness:.3} over {goodput:?}");
    // Loss is the only signal here and the queue overflows often: the
    // link is still kept busy at least half the time, as with streams.
    assert!(total >= 0.5 * BW as f64 * SECS as f64, "goodput {total} bytes in {SECS} s");
    println!(
        "datagram incast: fairness {fairness:.3}, goodput {:.0} B/s, p99 one-way {:?}, \
         queue peak {} B, {} datagrams dropped at the queue",
        total / SECS as f64,
        p99(rx.delays),
        queue.peak,
        queue.dropped
    );
}
