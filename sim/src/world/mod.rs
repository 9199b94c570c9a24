//! The simulation engine: one event queue in virtual time, nodes driven by
//! the core's calling rule, and the network model.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{DatagramSource, LinkId};
use netcluster_core::{Config, Event, Instant, Node, NodeId, Seed};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;

use crate::counters::Counters;
use crate::datagram::{RxModel, RxState};
use crate::egress::{Egress, DATAGRAM_TX_QUEUE};
use crate::net::{host_ip, Faults, Host, HostId, Segment, SegmentId};
use crate::stream::{Conn, ConnId, Dir};

mod carry;

/// Port of the first node's link listener on a host; the k-th node on a
/// host listens on `LINK_PORT + k`.
pub const LINK_PORT: u16 = 7400;
/// Port of the first node's unicast discovery socket on a host.
pub const DISCOVERY_PORT: u16 = 17400;

/// Index of a node in the simulation (stable across crash and restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIx(pub usize);

pub(crate) struct SimNode {
    pub(crate) node: Option<Node>,
    pub(crate) id: NodeId,
    pub(crate) host: HostId,
    pub(crate) slot: u16,
    pub(crate) cfg: Config,
    pub(crate) clock_offset: Duration,
    pub(crate) events: Vec<(Instant, Event)>,
    pub(crate) counters: Counters,
    /// Bumped on crash: queued deliveries for an older life are dropped.
    pub(crate) life: u32,
    pub(crate) timer: Option<Instant>,
    /// Link handle -> connection.
    pub(crate) links: BTreeMap<LinkId, ConnId>,
    /// Datagrams waiting in its sockets.
    pub(crate) rx: RxState,
    /// Outputs (transmits and events) carried out so far, to tell a
    /// wake-up that did something from one that did nothing.
    pub(crate) outputs: u64,
}

/// Which runs first when a timer and an input (a datagram, stream bytes, a
/// connect) fall due at the same virtual instant. Real drivers see either
/// order, so a scenario can run under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TieOrder {
    /// Inputs first, then timers (the default, and the simulator's order
    /// from the start: trace hashes recorded under it stay valid).
    #[default]
    InputsFirst,
    /// Timers first, then inputs.
    TimersFirst,
}

#[derive(Debug)]
pub(crate) enum Action {
    Datagram {
        to: usize,
        life: u32,
        from: SocketAddr,
        source: DatagramSource,
        data: Bytes,
    },
    /// The node reads the next datagram waiting in its sockets.
    RxRead {
        to: usize,
        life: u32,
    },
    Accept {
        conn: ConnId,
    },
    Connected {
        conn: ConnId,
    },
    ConnectFailed {
        node: usize,
        life: u32,
        link: LinkId,
    },
    Deliver {
        conn: ConnId,
        dir: Dir,
        seq: u64,
        chunk: Option<Bytes>,
    },
    Retry {
        conn: ConnId,
        dir: Dir,
    },
    /// A stream link's send buffer has room again: pull the node's frames.
    Pull {
        node: usize,
        life: u32,
        link: LinkId,
    },
}

struct Scheduled {
    at: Instant,
    seq: u64,
    action: Action,
}

impl PartialEq for Scheduled {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

/// How long a stream connection may stay stalled by a partition before it
/// breaks (both ends see the link closed, the bytes in flight are lost).
pub const STREAM_BREAK_AFTER: Duration = Duration::from_secs(20);
/// Time a connect to an unreachable address takes to fail.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Steps at one virtual instant after which the simulation reports a
/// livelock instead of spinning.
const LIVELOCK_STEPS: u64 = 5_000_000;

/// How much later than the instant it was woken at a node that stalled (see
/// [`Counters::stalled_wakeups`]) is woken again: a real clock would have
/// moved on by then, and the simulation must not spin at one instant.
pub const STALL_TICK: Duration = Duration::from_millis(1);

/// A deterministic network simulation. See the [crate documentation](crate).
pub struct Sim {
    now: Instant,
    rng: Xoshiro256PlusPlus,
    pub(crate) segments: Vec<Segment>,
    pub(crate) hosts: Vec<Host>,
    pub(crate) nodes: Vec<SimNode>,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    timers: BTreeSet<(Instant, usize)>,
    conns: BTreeMap<ConnId, Conn>,
    next_conn: u64,
    routed: BTreeSet<(SegmentId, SegmentId)>,
    pair_faults: BTreeMap<(HostId, HostId), Faults>,
    /// Host pairs that cannot reach each other (one cut link each).
    cut_pairs: BTreeSet<(HostId, HostId)>,
    next_label: u32,
    trace: u64,
    processed: u64,
    check_every: Duration,
    tie: TieOrder,
    pub(crate) rx_model: RxModel,
    /// Stream links waiting for send-buffer room, with a pull scheduled.
    pulls: BTreeSet<(usize, LinkId)>,
    /// The queues of datagram paths with a bandwidth, by sending node,
    /// receiving host and segment crossed (see [`crate::egress`]).
    pub(crate) egress: BTreeMap<(usize, HostId, SegmentId), Egress>,
    /// Bytes each of those queues holds at most.
    pub(crate) tx_queue_limit: usize,
}

impl Sim {
    /// An empty simulation whose every random choice derives from `seed`.
    pub fn new(seed: u64) -> Sim {
        Sim {
            now: Instant::ZERO,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            segments: Vec::new(),
            hosts: Vec::new(),
            nodes: Vec::new(),
            queue: BinaryHeap::new(),
            seq: 0,
            timers: BTreeSet::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            routed: BTreeSet::new(),
            pair_faults: BTreeMap::new(),
            cut_pairs: BTreeSet::new(),
            next_label: 1,
            trace: 0xcbf2_9ce4_8422_2325,
            processed: 0,
            check_every: Duration::from_millis(1),
            tie: TieOrder::default(),
            rx_model: RxModel::default(),
            pulls: BTreeSet::new(),
            egress: BTreeMap::new(),
            tx_queue_limit: DATAGRAM_TX_QUEUE,
        }
    }

    /// Sets which runs first when a timer and an input are due at the same
    /// instant (default [`TieOrder::InputsFirst`]).
    pub fn set_tie_order(&mut self, tie: TieOrder) {
        self.tie = tie;
    }

    /// Sets the socket receive-buffer model of every node (default
    /// [`RxModel::LINUX`]; [`RxModel::UNLIMITED`] turns it off).
    pub fn set_rx_model(&mut self, model: RxModel) {
        self.rx_model = model;
    }

    /// Sets how many bytes the sender's queue of each datagram path with a
    /// bandwidth holds (default [`DATAGRAM_TX_QUEUE`]); a datagram that
    /// does not fit is dropped and counted in
    /// [`Counters::tx_queue_dropped`]. Paths without a bandwidth have no
    /// queue. See the [`egress` model](crate::egress) for what is modelled.
    pub fn set_datagram_tx_queue(&mut self, bytes: usize) {
        self.tx_queue_limit = bytes;
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Adds a segment with the given faults; beacons are multicast on it.
    pub fn add_segment(&mut self, faults: Faults) -> SegmentId {
        self.segments.push(Segment { faults, multicast: true, hosts: Vec::new() });
        SegmentId(self.segments.len() - 1)
    }

    /// Turns multicast (beacons) on or off for a segment.
    pub fn set_multicast(&mut self, seg: SegmentId, on: bool) {
        self.segments[seg.0].multicast = on;
    }

    /// Changes a segment's faults from now on.
    pub fn set_faults(&mut self, seg: SegmentId, faults: Faults) {
        self.segments[seg.0].faults = faults;
    }

    /// Overrides the faults between two hosts (both directions).
    pub fn set_pair_faults(&mut self, a: HostId, b: HostId, faults: Faults) {
        self.pair_faults.insert((a.min(b), a.max(b)), faults);
    }

    /// Lets unicast (not multicast) cross between two segments, as a router
    /// would.
    pub fn route_segments(&mut self, a: SegmentId, b: SegmentId) {
        self.routed.insert((a.min(b), a.max(b)));
    }

    /// Adds a host with one address on each of `segments`.
    pub fn add_host(&mut self, segments: &[SegmentId]) -> HostId {
        let id = HostId(self.hosts.len());
        let addrs = segments.iter().map(|&s| (s, host_ip(s, id))).collect();
        self.hosts.push(Host { addrs, label: 0, nodes: Vec::new() });
        for s in segments {
            self.segments[s.0].hosts.push(id);
        }
        id
    }

    /// Starts a node on `host` now. The simulation sets the node's link
    /// address (port), keeps everything else of `cfg`, and draws its id and
    /// seed from the simulation's seed.
    ///
    /// # Panics
    ///
    /// If `cfg` fails [`Config::validate`]: a scenario with an invalid
    /// configuration is a mistake in the scenario, named in the message.
    pub fn add_node(&mut self, host: HostId, mut cfg: Config) -> NodeIx {
        if let Err(e) = cfg.validate() {
            panic!("add_node: invalid configuration: {e}");
        }
        let slot = self.hosts[host.0].nodes.len() as u16;
        let mut id = [0u8; 16];
        self.rng.fill_bytes(&mut id);
        let ix = self.nodes.len();
        cfg.link_addr =
            SocketAddr::new(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), LINK_PORT + slot);
        self.hosts[host.0].nodes.push(ix);
        self.nodes.push(SimNode {
            node: None,
            id: NodeId(id),
            host,
            slot,
            cfg,
            clock_offset: Duration::ZERO,
            events: Vec::new(),
            counters: Counters::default(),
            life: 0,
            timer: None,
            links: BTreeMap::new(),
            rx: RxState::default(),
            outputs: 0,
        });
        self.boot(ix);
        NodeIx(ix)
    }

    /// Makes node `n`'s clock read `offset` ahead of virtual time (takes
    /// effect at its next restart if already running, from the start
    /// otherwise).
    pub fn set_clock_offset(&mut self, n: NodeIx, offset: Duration) {
        self.nodes[n.0].clock_offset = offset;
    }

    fn boot(&mut self, ix: usize) {
        let seed = self.rng.next_u64();
        let sn = &mut self.nodes[ix];
        let local = self.now + sn.clock_offset;
        // Validated when the node was added.
        sn.node = Node::new(sn.cfg.clone(), sn.id, Seed::deterministic(seed), local).ok();
        self.drain(ix);
    }

    /// Drops every bit of node `n`'s state at once, as a power cut would:
    /// nothing is sent, its links go silent.
    pub fn crash(&mut self, n: NodeIx) {
        let sn = &mut self.nodes[n.0];
        sn.node = None;
        sn.life += 1;
        sn.rx.clear();
        if let Some(at) = sn.timer.take() {
            self.timers.remove(&(at, n.0));
        }
        let links: Vec<ConnId> = std::mem::take(&mut sn.links).into_values().collect();
        for c in links {
            if let Some(conn) = self.conns.get_mut(&c) {
                conn.dead_end(n.0);
            }
        }
        self.note(n.0, "crash");
    }

    /// Restarts a crashed node with the same id and addresses and the next
    /// incarnation.
    pub fn restart(&mut self, n: NodeIx) {
        if self.nodes[n.0].node.is_some() {
            return;
        }
        self.nodes[n.0].cfg.incarnation += 1;
        // Connections to the old life answer with a reset from now on.
        for conn in self.conns.values_mut() {
            conn.reset_dead_end(n.0);
        }
        self.note(n.0, "restart");
        self.boot(n.0);
    }

    /// Shuts node `n` down cleanly now (EXIT beacon, GOODBYEs).
    pub fn shutdown(&mut self, n: NodeIx) {
        let local = self.local_now(n.0);
        if let Some(node) = self.nodes[n.0].node.as_mut() {
            node.shutdown(local);
        }
        self.drain(n.0);
    }

    /// Runs a command against node `n` at the current time, then drains its
    /// outputs. The closure gets the node and its local `now`.
    pub fn with_node<R>(
        &mut self,
        n: NodeIx,
        f: impl FnOnce(&mut Node, Instant) -> R,
    ) -> Option<R> {
        let local = self.local_now(n.0);
        let r = self.nodes[n.0].node.as_mut().map(|node| f(node, local));
        self.drain(n.0);
        r
    }

    /// Hands node `n` a datagram now, as if it had arrived from `from`
    /// (hostile or malformed input, traffic from outside the simulation).
    pub fn inject_datagram(
        &mut self,
        n: NodeIx,
        from: SocketAddr,
        source: DatagramSource,
        data: Bytes,
    ) {
        let life = self.nodes[n.0].life;
        self.schedule(self.now, Action::Datagram { to: n.0, life, from, source, data });
    }

    /// Cuts `hosts` off from every other host: they still reach each other.
    pub fn partition(&mut self, hosts: &[HostId]) {
        let label = self.next_label;
        self.next_label += 1;
        for h in hosts {
            self.hosts[h.0].label = label;
        }
    }

    /// Removes every partition and every cut pair.
    pub fn heal(&mut self) {
        for h in &mut self.hosts {
            h.label = 0;
        }
        self.cut_pairs.clear();
    }

    /// Cuts the path between two hosts only (one broken link), both ways:
    /// streams between them stall, datagrams are lost.
    pub fn cut_pair(&mut self, a: HostId, b: HostId) {
        self.cut_pairs.insert((a.min(b), a.max(b)));
    }

    /// Restores the path between two hosts.
    pub fn heal_pair(&mut self, a: HostId, b: HostId) {
        self.cut_pairs.remove(&(a.min(b), a.max(b)));
    }

    pub(crate) fn is_cut(&self, a: HostId, b: HostId) -> bool {
        self.cut_pairs.contains(&(a.min(b), a.max(b)))
    }

    /// The host node `n` runs on.
    pub fn host_of(&self, n: NodeIx) -> HostId {
        self.nodes[n.0].host
    }

    /// The node (`None` while crashed).
    pub fn node(&self, n: NodeIx) -> Option<&Node> {
        self.nodes[n.0].node.as_ref()
    }

    /// Node `n`'s id.
    pub fn node_id(&self, n: NodeIx) -> NodeId {
        self.nodes[n.0].id
    }

    /// Every node index.
    pub fn node_ixs(&self) -> impl Iterator<Item = NodeIx> {
        (0..self.nodes.len()).map(NodeIx)
    }

    /// Node `n`'s link address on its host's first segment (for seeds).
    pub fn link_addr(&self, n: NodeIx) -> SocketAddr {
        let sn = &self.nodes[n.0];
        let ip = self.hosts[sn.host.0].addrs[0].1;
        SocketAddr::new(ip, LINK_PORT + sn.slot)
    }

    /// The events node `n` has emitted, with their (virtual) times.
    pub fn events(&self, n: NodeIx) -> &[(Instant, Event)] {
        &self.nodes[n.0].events
    }

    /// Node `n`'s counters.
    pub fn counters(&self, n: NodeIx) -> &Counters {
        &self.nodes[n.0].counters
    }

    /// Clears every node's recorded events and counters (the trace hash is
    /// kept).
    pub fn clear_records(&mut self) {
        for sn in &mut self.nodes {
            sn.events.clear();
            sn.counters = Counters::default();
        }
    }

    /// A hash of everything that happened: every application event of every
    /// node with its time, crashes and restarts. Same seed and scenario, same
    /// hash.
    pub fn trace_hash(&self) -> u64 {
        self.trace
    }

    /// Inputs processed so far (for wall-clock cost figures).
    pub fn steps(&self) -> u64 {
        self.processed
    }

    /// How often (virtual time) `run_until` checks its predicate.
    pub fn set_check_interval(&mut self, every: Duration) {
        self.check_every = every;
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until, |_| false);
    }

    /// Runs until `pred` holds (checked every check interval of virtual time)
    /// or virtual time reaches `deadline`. Returns whether `pred` held.
    pub fn run_until(&mut self, deadline: Instant, mut pred: impl FnMut(&Sim) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        let mut next_check = self.now + self.check_every;
        let mut same_instant = 0u64;
        loop {
            let q = self.queue.peek().map(|Reverse(s)| s.at);
            let t = self.timers.first().map(|&(at, _)| at);
            let next = match (q, t) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => deadline,
            };
            while next_check <= next.min(deadline) {
                self.now = self.now.max(next_check.min(deadline));
                if pred(self) {
                    return true;
                }
                next_check += self.check_every;
            }
            if next > deadline {
                self.now = deadline;
                return pred(self);
            }
            if next == self.now {
                same_instant += 1;
                // A node that keeps asking to be woken at the instant it was
                // just woken would spin a real driver too: report it.
                assert!(
                    same_instant < LIVELOCK_STEPS,
                    "livelock at {:?}: {}",
                    self.now,
                    self.livelock_report()
                );
            } else {
                same_instant = 0;
            }
            self.now = next;
            self.step();
        }
    }

    fn livelock_report(&self) -> String {
        let mut out = String::new();
        for (at, ix) in self.timers.iter().take(5) {
            let _ = write!(out, "node {ix} timer {at:?}; ");
        }
        out
    }

    /// Runs the single earliest thing due.
    fn step(&mut self) {
        self.processed += 1;
        let q = self.queue.peek().map(|Reverse(s)| (s.at, s.seq));
        let t = self.timers.first().copied();
        let timer_first = match (q, t) {
            (Some((qa, _)), Some((ta, _))) => match self.tie {
                TieOrder::InputsFirst => ta < qa,
                TieOrder::TimersFirst => ta <= qa,
            },
            (None, Some(_)) => true,
            _ => false,
        };
        if timer_first {
            let (at, ix) = self.timers.pop_first().expect("peeked");
            self.nodes[ix].timer = None;
            let local = at + self.nodes[ix].clock_offset;
            let before = self.nodes[ix].outputs;
            if let Some(node) = self.nodes[ix].node.as_mut() {
                node.handle_timeout(local);
            }
            self.drain(ix);
            self.check_stall(ix, local, before);
            return;
        }
        if let Some(Reverse(s)) = self.queue.pop() {
            self.run_action(s.action);
        }
    }

    /// A wake-up that produced nothing and left the deadline at or before
    /// the instant woken at would spin a real driver: count it, and wake
    /// the node one [`STALL_TICK`] later rather than at the same instant.
    fn check_stall(&mut self, ix: usize, local: Instant, before: u64) {
        let sn = &mut self.nodes[ix];
        let Some(node) = sn.node.as_ref() else { return };
        if sn.outputs != before || node.poll_timeout().is_none_or(|t| t > local) {
            return;
        }
        sn.counters.stalled_wakeups += 1;
        if let Some(old) = sn.timer.take() {
            self.timers.remove(&(old, ix));
        }
        let at = self.now + STALL_TICK;
        sn.timer = Some(at);
        self.timers.insert((at, ix));
    }

    pub(crate) fn schedule(&mut self, at: Instant, action: Action) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled { at, seq: self.seq, action }));
    }

    pub(crate) fn local_now(&self, ix: usize) -> Instant {
        self.now + self.nodes[ix].clock_offset
    }

    pub(crate) fn random(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn random_duration(&mut self, max: Duration) -> Duration {
        if max.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_micros(self.rng.next_u64() % (max.as_micros() as u64 + 1))
    }

    fn note(&mut self, ix: usize, what: &str) {
        let mut s = String::new();
        let _ = write!(s, "{}|{}|{}", self.now.as_micros(), ix, what);
        self.hash_str(&s);
    }

    fn hash_str(&mut self, s: &str) {
        for b in s.as_bytes() {
            self.trace ^= u64::from(*b);
            self.trace = self.trace.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    /// Carries out every output of node `ix` and re-arms its timer.
    pub(crate) fn drain(&mut self, ix: usize) {
        while let Some(t) = self.nodes[ix].node.as_mut().and_then(|n| n.poll_transmit()) {
            self.nodes[ix].outputs += 1;
            self.transmit(ix, t);
        }
        while let Some(e) = self.nodes[ix].node.as_mut().and_then(|n| n.poll_event()) {
            self.nodes[ix].outputs += 1;
            let mut s = String::new();
            let _ = write!(s, "{}|{}|{:?}", self.now.as_micros(), ix, e);
            self.hash_str(&s);
            self.nodes[ix].events.push((self.now, e));
        }
        let next = self.nodes[ix].node.as_ref().and_then(|n| n.poll_timeout());
        let sn = &mut self.nodes[ix];
        if let Some(old) = sn.timer.take() {
            self.timers.remove(&(old, ix));
        }
        if let Some(local) = next {
            // Back to virtual time; a deadline in the past runs next.
            let at = local.saturating_sub(sn.clock_offset).max(self.now);
            sn.timer = Some(at);
            self.timers.insert((at, ix));
        }
    }
}
