//! Small helpers for simulation scenarios (`tests/tests/scenarios.rs`):
//! building nodes on a segment, asking who sees whom, and finding events
//! with their virtual times.
//!
//! Everything here only reads the simulation or adds nodes to it; time
//! moves only through the [`Sim`] calls the test makes itself.
//!
//! ```
//! use std::time::Duration;
//! use netcluster_sim::{Faults, Sim};
//! use netcluster_tests::sim_helpers::{all_see_all, lan_nodes};
//!
//! let mut sim = Sim::new(1);
//! let lan = sim.add_segment(Faults::lan());
//! let nodes = lan_nodes(&mut sim, lan, 3, "demo", "n");
//! let deadline = sim.now() + Duration::from_secs(2);
//! assert!(sim.run_until(deadline, |s| all_see_all(s, &nodes)));
//! ```

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{DownReason, StreamError, StreamId};
use netcluster_core::{Config, Event, Instant, LinkMode, NodeId};
use netcluster_sim::{Faults, NodeIx, SegmentId, Sim};

/// A line of `n` nodes: node i and i+1 share a segment, nothing else does,
/// so node 0 reaches node n-1 only through every node between.
pub fn line(n: usize, seed: u64, mode: LinkMode, faults: Faults) -> (Sim, Vec<NodeIx>) {
    let mut sim = Sim::new(seed);
    let segs: Vec<_> = (0..n - 1).map(|_| sim.add_segment(faults)).collect();
    let nodes = (0..n)
        .map(|i| {
            let mut on = Vec::new();
            if i > 0 {
                on.push(segs[i - 1]);
            }
            if i + 1 < n {
                on.push(segs[i]);
            }
            let h = sim.add_host(&on);
            let mut cfg = Config::lan("line", format!("n{i}"));
            cfg.link_mode = mode;
            sim.add_node(h, cfg)
        })
        .collect();
    (sim, nodes)
}

/// Adds `n` nodes of cluster `cluster` to segment `seg`, each on a host of
/// its own, with the default [`Config::lan`] and names `{prefix}{i}`.
pub fn lan_nodes(
    sim: &mut Sim,
    seg: SegmentId,
    n: usize,
    cluster: &str,
    prefix: &str,
) -> Vec<NodeIx> {
    lan_nodes_with(sim, seg, n, |i| Config::lan(cluster, format!("{prefix}{i}")))
}

/// Like [`lan_nodes`], with the configuration of node `i` from `cfg(i)`.
pub fn lan_nodes_with(
    sim: &mut Sim,
    seg: SegmentId,
    n: usize,
    mut cfg: impl FnMut(usize) -> Config,
) -> Vec<NodeIx> {
    (0..n)
        .map(|i| {
            let host = sim.add_host(&[seg]);
            sim.add_node(host, cfg(i))
        })
        .collect()
}

/// The ids of the peers node `n` lists in [`peers()`](netcluster_core::Node::peers),
/// in its order (empty while `n` is crashed).
pub fn peer_ids(sim: &Sim, n: NodeIx) -> Vec<NodeId> {
    sim.node(n).map(|node| node.peers().map(|p| p.id).collect()).unwrap_or_default()
}

/// The ids of `nodes`.
pub fn ids_of(sim: &Sim, nodes: &[NodeIx]) -> BTreeSet<NodeId> {
    nodes.iter().map(|&n| sim.node_id(n)).collect()
}

/// Whether node `n` is running and lists exactly the nodes of `expected`
/// (its own index is ignored if present) as its peers: no more, no fewer.
pub fn sees_exactly(sim: &Sim, n: NodeIx, expected: &[NodeIx]) -> bool {
    if sim.node(n).is_none() {
        return false;
    }
    let me = sim.node_id(n);
    let want: BTreeSet<NodeId> =
        expected.iter().map(|&o| sim.node_id(o)).filter(|id| *id != me).collect();
    let have = peer_ids(sim, n);
    have.len() == want.len() && have.iter().all(|id| want.contains(id))
}

/// Whether every node of `nodes` is running and sees exactly the others of
/// `nodes`.
pub fn all_see_all(sim: &Sim, nodes: &[NodeIx]) -> bool {
    nodes.iter().all(|&n| sees_exactly(sim, n, nodes))
}

/// Whether every node of `watchers` lists `target` among its peers.
pub fn all_see(sim: &Sim, watchers: &[NodeIx], target: NodeIx) -> bool {
    let id = sim.node_id(target);
    watchers
        .iter()
        .filter(|&&w| w != target)
        .all(|&w| sim.node(w).is_some_and(|node| node.peer(&id).is_some()))
}

/// Runs until [`all_see_all`] holds for `nodes` or `within` has passed;
/// returns the time it took, `None` if it never held.
pub fn converge(sim: &mut Sim, nodes: &[NodeIx], within: Duration) -> Option<Duration> {
    let start = sim.now();
    sim.run_until(start + within, |s| all_see_all(s, nodes)).then(|| sim.now() - start)
}

/// The time of node `n`'s first event at or after `since` that matches
/// `pred`.
pub fn first_event(
    sim: &Sim,
    n: NodeIx,
    since: Instant,
    mut pred: impl FnMut(&Event) -> bool,
) -> Option<Instant> {
    sim.events(n).iter().find(|(t, e)| *t >= since && pred(e)).map(|(t, _)| *t)
}

/// Node `n`'s events at or after `since` that match `pred`, with their
/// times.
pub fn events_matching(
    sim: &Sim,
    n: NodeIx,
    since: Instant,
    mut pred: impl FnMut(&Event) -> bool,
) -> Vec<(Instant, Event)> {
    sim.events(n).iter().filter(|(t, e)| *t >= since && pred(e)).cloned().collect()
}

/// Whether `e` is a [`Event::PeerUp`] for `id`.
pub fn is_up_of(e: &Event, id: NodeId) -> bool {
    matches!(e, Event::PeerUp(p) if p.id == id)
}

/// Whether `e` is a [`Event::PeerDown`] for `id`.
pub fn is_down_of(e: &Event, id: NodeId) -> bool {
    matches!(e, Event::PeerDown { id: d, .. } if *d == id)
}

/// Node `n`'s [`Event::PeerDown`]s for `id` at or after `since`: times and
/// reasons.
pub fn downs_of(sim: &Sim, n: NodeIx, id: NodeId, since: Instant) -> Vec<(Instant, DownReason)> {
    sim.events(n)
        .iter()
        .filter(|(t, _)| *t >= since)
        .filter_map(|(t, e)| match e {
            Event::PeerDown { id: d, reason, .. } if *d == id => Some((*t, *reason)),
            _ => None,
        })
        .collect()
}

/// The peer set node `n`'s events since `since` imply: every
/// [`Event::PeerUp`] adds its peer, every [`Event::PeerDown`] removes it, in
/// order. Pass the time the node (re)started as `since`: the events of an
/// earlier life, before a crash, stay recorded but describe another
/// instance. Panics, naming the event, on a PeerUp for a peer already up or
/// a PeerDown for one not up: the event stream must tell a consistent story.
pub fn view_from_events(sim: &Sim, n: NodeIx, since: Instant) -> BTreeSet<NodeId> {
    let mut up = BTreeSet::new();
    for (t, e) in sim.events(n).iter().filter(|(t, _)| *t >= since) {
        match e {
            Event::PeerUp(p) => assert!(
                up.insert(p.id),
                "node {n:?}: PeerUp at {t:?} for {:?}, which was already up",
                p.id
            ),
            Event::PeerDown { id, .. } => {
                assert!(up.remove(id), "node {n:?}: PeerDown at {t:?} for {id:?}, which was not up")
            }
            _ => {}
        }
    }
    up
}

/// `t - since`, or zero when `t` is earlier.
pub fn elapsed(t: Instant, since: Instant) -> Duration {
    t.saturating_duration_since(since)
}

/// One line per node: its index, whether it runs, how many peers it lists
/// out of how many of `nodes` it should. For assertion messages.
pub fn describe_views(sim: &Sim, nodes: &[NodeIx]) -> String {
    let mut s = String::new();
    for &n in nodes {
        match sim.node(n) {
            None => {
                let _ = writeln!(s, "  {n:?}: not running");
            }
            Some(node) => {
                let me = sim.node_id(n);
                let want: BTreeSet<NodeId> =
                    nodes.iter().map(|&o| sim.node_id(o)).filter(|i| *i != me).collect();
                let have: BTreeSet<NodeId> = node.peers().map(|p| p.id).collect();
                let missing = want.difference(&have).count();
                let extra = have.difference(&want).count();
                let _ = writeln!(
                    s,
                    "  {n:?}: {} peers, {} links up, missing {missing}, extra {extra}",
                    have.len(),
                    node.neighbours().count()
                );
            }
        }
    }
    s
}

/// One direction of a stream as the test application drives it.
pub struct StreamWriter {
    /// Everything to send.
    pub data: Vec<u8>,
    /// How much the stream has taken.
    pub written: usize,
    /// Whether `stream_finish` was called.
    pub finished: bool,
}

impl StreamWriter {
    /// A writer of `data`, nothing written yet.
    pub fn new(data: Vec<u8>) -> StreamWriter {
        StreamWriter { data, written: 0, finished: false }
    }

    /// Writes what the stream takes; finishes once everything is taken.
    pub fn pump(&mut self, sim: &mut Sim, n: NodeIx, s: StreamId) {
        while self.written < self.data.len() {
            let end = (self.written + 100_000).min(self.data.len());
            let chunk = Bytes::copy_from_slice(&self.data[self.written..end]);
            match sim.with_node(n, |node, now| node.stream_write(now, s, chunk)).unwrap() {
                Ok(k) => self.written += k,
                Err(StreamError::WouldBlock) => return,
                Err(e) => panic!("write: {e}"),
            }
        }
        if !self.finished {
            sim.with_node(n, |node, now| node.stream_finish(now, s)).unwrap().unwrap();
            self.finished = true;
        }
    }
}

/// Reads everything there is on stream `s` of node `n` into `out`; true
/// at the end of the stream.
pub fn drain_stream(sim: &mut Sim, n: NodeIx, s: StreamId, out: &mut Vec<u8>) -> bool {
    loop {
        match sim.with_node(n, |node, now| node.stream_read(now, s, 1 << 20)).unwrap() {
            Ok(Some(b)) => out.extend_from_slice(&b),
            Ok(None) => return true,
            Err(StreamError::WouldBlock) => return false,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// The stream `from` opened to node `n`, once announced.
pub fn stream_opened_by(sim: &Sim, n: NodeIx, from: NodeId) -> Option<StreamId> {
    sim.events(n).iter().find_map(|(_, e)| match e {
        Event::StreamOpened { stream, peer } if *peer == from => Some(*stream),
        _ => None,
    })
}

/// A converged line a - b - c - d whose middle hop (b - c) has `bw`
/// bytes/s; node `i` runs `cfg(i)`.
pub fn bottleneck_line(seed: u64, bw: u64, cfg: impl Fn(usize) -> Config) -> (Sim, [NodeIx; 4]) {
    let mut sim = Sim::new(seed);
    let ab = sim.add_segment(Faults::lan());
    let bc = sim.add_segment(Faults::lan().with_bandwidth(bw));
    let cd = sim.add_segment(Faults::lan());
    let segs = [vec![ab], vec![ab, bc], vec![bc, cd], vec![cd]];
    let nodes: Vec<NodeIx> = segs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let h = sim.add_host(s);
            sim.add_node(h, cfg(i))
        })
        .collect();
    let nodes = [nodes[0], nodes[1], nodes[2], nodes[3]];
    let deadline = sim.now() + Duration::from_secs(5);
    assert!(sim.run_until(deadline, |s| all_see_all(s, &nodes)), "the line did not converge");
    sim.clear_records();
    (sim, nodes)
}

/// A converged incast: `N` senders on a fast segment, a relay on it and on
/// a segment of `bw` bytes/s, and a sink behind the relay. Nodes are
/// numbered senders first, then relay, then sink; node `i` runs `cfg(i)`.
/// Returns the senders, the relay, the sink and all of them.
pub fn incast<const N: usize>(
    seed: u64,
    bw: u64,
    cfg: impl Fn(usize) -> Config,
) -> (Sim, [NodeIx; N], NodeIx, NodeIx, Vec<NodeIx>) {
    let mut sim = Sim::new(seed);
    let fast = sim.add_segment(Faults::lan());
    let slow = sim.add_segment(Faults::lan().with_bandwidth(bw));
    let senders: [NodeIx; N] = core::array::from_fn(|i| {
        let h = sim.add_host(&[fast]);
        sim.add_node(h, cfg(i))
    });
    let h = sim.add_host(&[fast, slow]);
    let relay = sim.add_node(h, cfg(N));
    let h = sim.add_host(&[slow]);
    let sink = sim.add_node(h, cfg(N + 1));
    let mut all = senders.to_vec();
    all.extend([relay, sink]);
    let deadline = sim.now() + Duration::from_secs(5);
    assert!(sim.run_until(deadline, |s| all_see_all(s, &all)), "the mesh did not converge");
    sim.clear_records();
    (sim, senders, relay, sink, all)
}
