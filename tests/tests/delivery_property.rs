//! Delivery guarantees over many seeds: random link failures that keep the
//! graph connected, with datagram links under 30% loss, duplication and
//! reordering, and with stream links whose breaks lose the frames in
//! flight. Reliable delivers each message exactly once, Sequenced exactly
//! once and in order, Datagram never twice, and a Stream written all along
//! carries the exact bytes.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::SendError;
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, Event, LinkMode, NodeId};
use netcluster_sim::{Faults, HostId, NodeIx, Sim};
use netcluster_tests::sim_helpers::{drain_stream, stream_opened_by, StreamWriter};

const HOSTS: usize = 6;
/// Ring edges plus two chords: every node has two independent ways round.
const EDGES: [(usize, usize); 8] = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3), (1, 4)];

fn connected_without(cut: &[(usize, usize)]) -> bool {
    let mut seen = [false; HOSTS];
    let mut stack = vec![0];
    seen[0] = true;
    while let Some(a) = stack.pop() {
        for &(x, y) in EDGES.iter().filter(|e| !cut.contains(e)) {
            let other = if x == a {
                y
            } else if y == a {
                x
            } else {
                continue;
            };
            if !seen[other] {
                seen[other] = true;
                stack.push(other);
            }
        }
    }
    seen.iter().all(|&s| s)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn run(seed: u64, mode: LinkMode) {
    let faults = match mode {
        LinkMode::Datagram => Faults::lan().with_loss(0.3, 0.1, 0.2),
        LinkMode::Stream => Faults::lan(),
    };
    let mut sim = Sim::new(seed);
    let segs: Vec<_> = EDGES.iter().map(|_| sim.add_segment(faults)).collect();
    let hosts: Vec<HostId> = (0..HOSTS)
        .map(|h| {
            let on: Vec<_> = EDGES
                .iter()
                .enumerate()
                .filter(|(_, (a, b))| *a == h || *b == h)
                .map(|(i, _)| segs[i])
                .collect();
            sim.add_host(&on)
        })
        .collect();
    let nodes: Vec<NodeIx> = hosts
        .iter()
        .enumerate()
        .map(|(i, &h)| {
            let mut cfg = Config::lan("prop", format!("p{i}"));
            cfg.link_mode = mode;
            sim.add_node(h, cfg)
        })
        .collect();
    let ok = sim.run_until(sim.now() + Duration::from_secs(30), |s| {
        nodes.iter().all(|&n| s.node(n).is_some_and(|x| x.peers().count() == HOSTS - 1))
    });
    assert!(ok, "seed {seed} {mode:?}: no convergence");

    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (src, dst) = (nodes[0], nodes[(1 + rng.next() % 5) as usize]);
    let dst_id: NodeId = sim.node_id(dst);
    let src_id = sim.node_id(src);
    let per = 40u32;
    let stream = sim.with_node(src, |n, now| n.open_stream(now, dst_id)).unwrap().unwrap();
    let stream_bytes: Vec<u8> =
        (0..per as usize * 3 * 1000).map(|i| (i as u64 ^ seed).wrapping_mul(0x9d) as u8).collect();
    let mut writer = StreamWriter::new(Vec::new());
    let mut read = Vec::new();
    let mut reader = None;
    let mut sent: BTreeMap<u8, u32> = BTreeMap::new();
    let mut cut: Vec<(usize, usize)> = Vec::new();
    for step in 0..per * 3 {
        // Now and then, fail or repair a random link, keeping the graph
        // connected.
        if rng.next().is_multiple_of(8) {
            if !cut.is_empty() && rng.next().is_multiple_of(2) {
                let (a, b) = cut.remove(0);
                sim.heal_pair(hosts[a], hosts[b]);
            } else {
                let e = EDGES[(rng.next() % EDGES.len() as u64) as usize];
                let mut trial = cut.clone();
                trial.push(e);
                if !cut.contains(&e) && connected_without(&trial) {
                    sim.cut_pair(hosts[e.0], hosts[e.1]);
                    cut = trial;
                }
            }
        }
        let s =
            [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced][(step % 3) as usize];
        let k = sent.entry(s as u8).or_default();
        let payload = Bytes::from([&[s as u8][..], &k.to_be_bytes()[..]].concat());
        loop {
            let r = sim.with_node(src, |n, now| n.send(now, dst_id, s, payload.clone())).unwrap();
            match r {
                Ok(_) => break,
                Err(SendError::WouldBlock) | Err(SendError::Unreachable) => {
                    sim.run_for(Duration::from_millis(50))
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
        }
        *sent.get_mut(&(s as u8)).unwrap() += 1;
        // The stream gets 1000 more bytes per step; the reader keeps up.
        writer.data.extend_from_slice(&stream_bytes[step as usize * 1000..][..1000]);
        if step + 1 < per * 3 {
            stream_step(&mut sim, (src, dst, src_id), stream, &mut writer, &mut reader, &mut read);
        }
        sim.run_for(Duration::from_millis(20));
    }
    sim.heal();
    let end = sim.now() + Duration::from_secs(40);
    let mut eof = false;
    while sim.now() < end {
        writer.pump(&mut sim, src, stream);
        eof = eof
            || stream_step(
                &mut sim,
                (src, dst, src_id),
                stream,
                &mut writer,
                &mut reader,
                &mut read,
            );
        sim.run_for(Duration::from_millis(100));
    }
    assert!(
        eof,
        "seed {seed} {mode:?}: the stream did not end ({} of {} bytes)",
        read.len(),
        stream_bytes.len()
    );
    assert!(read == stream_bytes, "seed {seed} {mode:?}: stream bytes differ");

    let mut got: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
    for (_, e) in sim.events(dst) {
        if let Event::Message { from, payload, .. } = e {
            if *from == src_id {
                let n = u32::from_be_bytes(payload[1..5].try_into().unwrap());
                got.entry(payload[0]).or_default().push(n);
            }
        }
    }
    let all: Vec<u32> = (0..per).collect();
    let mut reliable = got.remove(&(Semantics::Reliable as u8)).unwrap_or_default();
    reliable.sort_unstable();
    assert_eq!(reliable, all, "seed {seed} {mode:?}: reliable not exactly once");
    let sequenced = got.remove(&(Semantics::Sequenced as u8)).unwrap_or_default();
    assert_eq!(sequenced, all, "seed {seed} {mode:?}: sequenced not exactly once in order");
    let mut datagrams = got.remove(&(Semantics::Datagram as u8)).unwrap_or_default();
    let n = datagrams.len();
    datagrams.sort_unstable();
    datagrams.dedup();
    assert_eq!(datagrams.len(), n, "seed {seed} {mode:?}: a datagram arrived twice");
}

/// Writes what the stream takes (finishing once `writer` is complete and
/// marked finished) and reads what arrived; true at the end of the stream.
fn stream_step(
    sim: &mut Sim,
    (src, dst, src_id): (NodeIx, NodeIx, NodeId),
    stream: netcluster_core::node::StreamId,
    writer: &mut StreamWriter,
    reader: &mut Option<netcluster_core::node::StreamId>,
    read: &mut Vec<u8>,
) -> bool {
    if !writer.finished {
        // `pump` finishes once everything is taken: only let it when the
        // test has appended the last bytes (see the final phase).
        let data = std::mem::take(&mut writer.data);
        while writer.written < data.len() {
            let chunk = Bytes::copy_from_slice(&data[writer.written..]);
            match sim.with_node(src, |n, now| n.stream_write(now, stream, chunk)).unwrap() {
                Ok(k) => writer.written += k,
                Err(_) => break,
            }
        }
        writer.data = data;
    }
    *reader = reader.or_else(|| stream_opened_by(sim, dst, src_id));
    match *reader {
        Some(r) => drain_stream(sim, dst, r, read),
        None => false,
    }
}

#[test]
fn guarantees_hold_over_200_seeds_with_datagram_links_under_loss() {
    for seed in 1..=200 {
        run(seed, LinkMode::Datagram);
    }
}

#[test]
fn guarantees_hold_over_200_seeds_with_breaking_stream_links() {
    for seed in 1..=200 {
        run(seed, LinkMode::Stream);
    }
}
