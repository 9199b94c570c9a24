//! The traffic figures and the link view of whole nodes: two nodes joined
//! by an in-memory stream link, stepped in virtual time, with a known
//! pattern of sends.

use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::Bytes;

use super::{Event, LinkId, Node, PeerTraffic, Transmit};
use crate::config::{Config, LinkMode};
use crate::time::Instant;
use crate::wire::link::Semantics;
use crate::wire::NodeId;

const A: NodeId = NodeId([1; 16]);
const B: NodeId = NodeId([2; 16]);

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 7400))
}

/// `a` and `b`, `b` dialling `a`, every output carried at once.
struct Pair {
    a: Node,
    b: Node,
    /// `a`'s link to `b`, and `b`'s to `a`.
    links: Option<(LinkId, LinkId)>,
    now: Instant,
    /// Events each side's application took, in order.
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

impl Pair {
    fn new() -> Pair {
        let cfg = |name: &str, n| {
            let mut c = Config::lan("traffic", name);
            c.beacons = false;
            c.search_on_start = false;
            c.link_addr = addr(n);
            c
        };
        let now = Instant::ZERO;
        let a = Node::new(cfg("a", 1), A, 1, now).unwrap();
        let mut b = Node::new(cfg("b", 2), B, 2, now).unwrap();
        b.add_seed(now, addr(1));
        let mut p = Pair { a, b, links: None, now, a_events: Vec::new(), b_events: Vec::new() };
        p.run(Duration::from_secs(1), Duration::from_millis(10));
        assert!(p.a.peer(&B).is_some() && p.b.peer(&A).is_some(), "the pair did not link up");
        p
    }

    /// Steps time by `step` until `d` has passed.
    fn run(&mut self, d: Duration, step: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.tick(step);
        }
    }

    /// Moves time by `d`, fires both nodes' due timers, and pumps.
    fn tick(&mut self, d: Duration) {
        self.now += d;
        let now = self.now;
        for n in [&mut self.a, &mut self.b] {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        self.pump();
    }

    fn pump(&mut self) {
        let now = self.now;
        for _ in 0..64 {
            let mut busy = false;
            while let Some(t) = self.b.poll_transmit() {
                busy = true;
                match t {
                    Transmit::Connect { link, addr: to } if to == addr(1) => {
                        let theirs = self.a.link_accepted(now, addr(2), addr(1));
                        self.links = Some((theirs, link));
                        self.b.link_connected(now, link, addr(2));
                    }
                    Transmit::Ready { link } => {
                        while let Some(data) = self.b.poll_link(now, link) {
                            if let Some((la, _)) = self.links.filter(|l| l.1 == link) {
                                self.a.handle_link_data(now, la, data);
                            }
                        }
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.a.poll_transmit() {
                busy = true;
                if let Transmit::Ready { link } = t {
                    while let Some(data) = self.a.poll_link(now, link) {
                        if let Some((_, lb)) = self.links.filter(|l| l.0 == link) {
                            self.b.handle_link_data(now, lb, data);
                        }
                    }
                }
            }
            while let Some(e) = self.a.poll_event() {
                self.a_events.push(e);
            }
            while let Some(e) = self.b.poll_event() {
                self.b_events.push(e);
            }
            if !busy {
                return;
            }
        }
    }

    /// `a` sends `per_tick` messages of `len` bytes to `b` every 100 ms for
    /// `secs` seconds.
    fn flow(&mut self, secs: u64, per_tick: usize, len: usize, s: Semantics) {
        let payload = Bytes::from(alloc::vec![7u8; len]);
        for _ in 0..secs * 10 {
            for _ in 0..per_tick {
                self.a.send(self.now, B, s, payload.clone()).expect("the window has room");
            }
            self.pump();
            self.run(Duration::from_millis(100), Duration::from_millis(10));
        }
    }
}

fn traffic(n: &Node, peer: NodeId) -> PeerTraffic {
    n.peer(&peer).expect("listed").traffic
}

/// Whether `got` is within `pct` percent of `want`.
fn near(got: u64, want: u64, pct: u64) -> bool {
    got.abs_diff(want) * 100 <= want * pct
}

#[test]
fn a_known_flow_reads_its_rates_both_ways_then_decays_to_zero() {
    let mut p = Pair::new();
    assert_eq!(traffic(&p.a, B), PeerTraffic::default(), "nothing sent yet");
    // 10 x 1000 bytes every 100 ms: 100 messages and 100,000 bytes a second.
    p.flow(8, 10, 1000, Semantics::Reliable);
    let (tx, rx) = (traffic(&p.a, B), traffic(&p.b, A));
    // Within 2 %: the 5 s window sees the flow's ticks, give or take the
    // one that straddles a sample.
    assert!(near(tx.tx_bytes_per_sec, 100_000, 2), "{tx:?}");
    assert!(near(tx.tx_msgs_per_sec, 100, 2), "{tx:?}");
    assert!(near(rx.rx_bytes_per_sec, 100_000, 2), "{rx:?}");
    assert!(near(rx.rx_msgs_per_sec, 100, 2), "{rx:?}");
    let got = p.b_events.iter().filter(|e| matches!(e, Event::Message { .. })).count();
    assert_eq!(got, 800, "everything arrived");
    assert_eq!((tx.rx_bytes_per_sec, rx.tx_bytes_per_sec), (0, 0), "nothing the other way");
    assert!(tx.srtt.is_some(), "acknowledged data measured the round trip");
    assert_eq!(rx.srtt, None, "b sent nothing to be acknowledged");
    // Idle for a whole window: every rate is 0, the totals stay.
    let generation = p.a.traffic_generation();
    p.run(Duration::from_secs(6), Duration::from_millis(100));
    assert!(p.a.traffic_generation() > generation, "the figures changed");
    let idle = traffic(&p.a, B);
    assert_eq!((idle.tx_bytes_per_sec, idle.tx_msgs_per_sec), (0, 0), "{idle:?}");
    assert_eq!(idle.srtt, tx.srtt, "the round trip stays as last measured");
    // Nothing changes once the rates are 0: no new generation.
    let generation = p.a.traffic_generation();
    p.run(Duration::from_secs(3), Duration::from_millis(100));
    assert_eq!(p.a.traffic_generation(), generation);
}

#[test]
fn rates_rise_with_the_flow_and_datagrams_measure_no_round_trip() {
    let mut p = Pair::new();
    p.flow(2, 5, 200, Semantics::Datagram);
    let low = traffic(&p.a, B).tx_bytes_per_sec;
    p.flow(6, 20, 200, Semantics::Datagram);
    let high = traffic(&p.a, B);
    assert!(low > 0 && high.tx_bytes_per_sec > 3 * low, "{low} then {high:?}");
    assert!(near(high.tx_bytes_per_sec, 40_000, 2), "{high:?}");
    assert_eq!(high.srtt, None, "datagrams are never acknowledged");
    assert!(near(traffic(&p.b, A).rx_msgs_per_sec, 200, 2));
}

#[test]
fn streams_count_bytes_and_no_messages() {
    let mut p = Pair::new();
    let s = p.a.open_stream(p.now, B).unwrap();
    p.pump();
    let theirs = p
        .b_events
        .iter()
        .find_map(|e| match e {
            Event::StreamOpened { stream, .. } => Some(*stream),
            _ => None,
        })
        .expect("b was told of the stream");
    let n = p.a.stream_write(p.now, s, Bytes::from(alloc::vec![1u8; 3000])).unwrap();
    p.pump();
    let mut read = 0;
    while let Ok(Some(b)) = p.b.stream_read(p.now, theirs, usize::MAX) {
        read += b.len();
    }
    p.run(Duration::from_secs(1), Duration::from_millis(100));
    let (tx, rx) = (traffic(&p.a, B), traffic(&p.b, A));
    assert_eq!((n, read), (3000, 3000));
    // Written and read at the same instant, sampled at the same instants.
    assert!(tx.tx_bytes_per_sec > 0 && tx.tx_bytes_per_sec == rx.rx_bytes_per_sec, "{tx:?}");
    assert_eq!((tx.tx_msgs_per_sec, rx.rx_msgs_per_sec), (0, 0), "a stream has no messages");
}

#[test]
fn events_carry_no_figures_and_read_as_before() {
    let mut p = Pair::new();
    p.flow(2, 5, 100, Semantics::Reliable);
    p.b.join(p.now, "g").unwrap();
    p.run(Duration::from_secs(1), Duration::from_millis(10));
    let updated = p
        .a_events
        .iter()
        .find_map(|e| match e {
            Event::PeerUpdated(info) if info.groups.iter().any(|g| g == "g") => Some(info),
            _ => None,
        })
        .expect("a heard that b joined g");
    assert_eq!(updated.traffic, PeerTraffic::default());
    assert!(!alloc::format!("{updated:?}").contains("traffic"));
    let listed = p.a.peer(&B).unwrap();
    assert!(listed.traffic.tx_bytes_per_sec > 0, "the list kept its figures through the update");
    assert!(alloc::format!("{listed:?}").contains("traffic"));
}

#[test]
fn the_link_view_shows_each_side_of_the_link() {
    let p = Pair::new();
    let (la, lb) = p.links.unwrap();
    let a = p.a.links();
    assert_eq!(a.len(), 1, "{a:?}");
    let l = &a[0];
    assert_eq!((l.id, l.peer, l.addr), (la, Some(B), addr(2)));
    assert_eq!(l.kind, LinkMode::Stream);
    assert!(l.up && !l.outgoing);
    assert_eq!((l.queued_frames, l.queued_bytes, l.queued_data_bytes), (0, 0, 0), "pulled");
    assert_eq!((l.queue.dropped, l.queue.marked), (0, 0));
    let b = p.b.links();
    assert_eq!((b[0].id, b[0].peer, b[0].outgoing), (lb, Some(A), true));
}

#[test]
fn the_link_view_counts_what_waits_in_a_queue() {
    let mut p = Pair::new();
    let (la, _) = p.links.unwrap();
    // a sends and its queue is not pulled, as if its socket were full.
    let payload = Bytes::from(alloc::vec![0u8; 500]);
    for _ in 0..3 {
        p.a.send(p.now, B, Semantics::Datagram, payload.clone()).unwrap();
    }
    let l = p.a.links().into_iter().find(|l| l.id == la).unwrap();
    assert_eq!(l.queued_frames, 3, "{l:?}");
    assert!(l.queued_data_bytes > 1500 && l.queued_bytes >= l.queued_data_bytes, "{l:?}");
    assert_eq!(l.queue.peak_bytes, l.queued_data_bytes);
}
