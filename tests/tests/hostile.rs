//! Hostile and bogus input: every bound holds, every drop is counted, and
//! the node keeps working for its real peers.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{DatagramSource, Transmit};
use netcluster_core::wire::discovery::{Announce, Beacon, Search};
use netcluster_core::wire::link::{Hello, Intro, Lsa};
use netcluster_core::wire::{
    cluster_hash, Body, FixedList, HeaderList, NodeId, NodeState, StrList, VersionRanges,
};
use netcluster_core::{Config, Instant, Node};
use netcluster_sim::{Faults, NodeIx, Sim};

fn announce(i: u32, cluster: &str) -> Announce {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id[15] = 0xee;
    Announce {
        node_id: NodeId(id),
        cluster_hash: cluster_hash(cluster),
        incarnation: 1,
        sequence: i,
        interval_ms: 1000,
        peer_count: 0,
        state: NodeState::Ready,
        link_addr: format!("10.99.{}.{}:7400", (i >> 8) & 0xff, i & 0xff).parse().unwrap(),
        ranges: VersionRanges::supported(),
    }
}

fn from(i: u32) -> SocketAddr {
    format!("10.99.{}.{}:17400", (i >> 8) & 0xff, i & 0xff).parse().unwrap()
}

/// Drains a node's outputs, returning (datagrams, connects).
fn drain(node: &mut Node) -> (usize, usize) {
    let (mut d, mut c) = (0, 0);
    while let Some(t) = node.poll_transmit() {
        match t {
            Transmit::Datagram { .. } => d += 1,
            Transmit::Connect { .. } => c += 1,
            // Written away, as a driver whose socket takes everything would.
            Transmit::Ready { link } => while node.poll_link(Instant::ZERO, link).is_some() {},
            _ => {}
        }
    }
    while node.poll_event().is_some() {}
    (d, c)
}

fn small_limits() -> Config {
    let mut cfg = Config::lan("c", "victim");
    cfg.max_peers = 100;
    cfg.max_links = 8;
    cfg
}

#[test]
fn garbage_datagrams_are_counted_and_never_answered() {
    let mut node = Node::new(small_limits(), NodeId([1; 16]), 1, Instant::ZERO)
        .expect("a valid configuration");
    drain(&mut node);
    let mut x: u64 = 0x1234_5678;
    let mut sent = 0;
    for i in 0..20_000u32 {
        // A cheap deterministic byte soup, with valid magic half the time so
        // the decoders past the header are exercised too.
        let len = (i % 300) as usize;
        let mut v: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        if i % 2 == 0 && len >= 2 {
            v[0] = b'N';
            v[1] = b'C';
        }
        node.handle_datagram(
            Instant::from_micros(u64::from(i)),
            from(i),
            DatagramSource::Beacon,
            Bytes::from(v),
        );
        sent += drain(&mut node).0;
    }
    let s = node.stats();
    assert_eq!(s.datagrams_received, 20_000);
    assert!(
        s.dropped_malformed + s.dropped_version + s.dropped_limit + s.dropped_unexpected >= 19_000,
        "{s:?}"
    );
    assert_eq!(sent, 0, "garbage must not make the node send anything");
}

#[test]
fn search_flood_is_rate_limited_and_candidates_are_bounded() {
    let cfg = small_limits();
    let (burst, rate) = (cfg.notify_burst as usize, cfg.notify_per_sec as usize);
    let mut node =
        Node::new(cfg, NodeId([1; 16]), 1, Instant::ZERO).expect("a valid configuration");
    drain(&mut node);
    let mut notifies = 0;
    let mut connects = 0;
    // 10,000 strangers SEARCH within one second.
    for i in 0..10_000u32 {
        let now = Instant::from_micros(u64::from(i) * 100);
        let data = Search(announce(i, "c")).to_bytes().unwrap();
        node.handle_datagram(now, from(i), DatagramSource::Beacon, data);
        let (d, c) = drain(&mut node);
        notifies += d;
        connects += c;
        if let Some(t) = node.poll_timeout() {
            if t <= now {
                node.handle_timeout(now);
                let (d, c) = drain(&mut node);
                notifies += d;
                connects += c;
            }
        }
    }
    node.handle_timeout(Instant::from_millis(2_000));
    notifies += drain(&mut node).0;
    // Beacons are datagrams too: at most a few in 2 s.
    assert!(notifies <= burst + 2 * rate + 4, "{notifies} datagrams for 10,000 searches");
    assert!(node.stats().notify_suppressed > 9_000);
    assert!(node.stats().dropped_limit > 9_000, "candidates past max_peers are refused");
    assert!(connects <= 8 * 3, "link attempts stay within the link bound: {connects}");
}

#[test]
fn other_cluster_and_own_beacons_are_ignored() {
    let mut node = Node::new(small_limits(), NodeId([1; 16]), 1, Instant::ZERO)
        .expect("a valid configuration");
    drain(&mut node);
    for i in 0..100u32 {
        let data = Beacon(announce(i, "other")).to_bytes().unwrap();
        node.handle_datagram(Instant::from_millis(1), from(i), DatagramSource::Beacon, data);
    }
    let mut own = announce(0, "c");
    own.node_id = NodeId([1; 16]);
    node.handle_datagram(
        Instant::from_millis(2),
        from(0),
        DatagramSource::Beacon,
        Beacon(own).to_bytes().unwrap(),
    );
    node.handle_timeout(Instant::from_millis(50));
    let (_, connects) = drain(&mut node);
    assert_eq!(connects, 0);
    assert_eq!(node.stats().dropped_other_cluster, 100);
    assert_eq!(node.stats().dropped_own, 1);
}

fn lsa(i: u32) -> Lsa {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&i.to_be_bytes());
    id[15] = 0x77;
    Lsa {
        origin: NodeId(id),
        incarnation: 1,
        sequence: 1,
        age_s: 0,
        state: NodeState::Ready,
        flags: 0,
        link_addr: "10.98.0.1:7400".parse().unwrap(),
        name: "fake".into(),
        neighbours: FixedList::default(),
        groups: StrList::default(),
        headers: HeaderList::default(),
    }
}

#[test]
fn hostile_link_is_bounded_and_closed_on_bad_framing() {
    let mut node = Node::new(small_limits(), NodeId([1; 16]), 1, Instant::ZERO)
        .expect("a valid configuration");
    drain(&mut node);
    let link = accepted_link(&mut node);
    // 1,000 LSAs from made-up origins: the database holds at most max_peers.
    let mut stream = Vec::new();
    for i in 0..1_000 {
        stream.extend_from_slice(&lsa(i).to_bytes().unwrap());
    }
    node.handle_link_data(Instant::from_millis(3), link, Bytes::from(stream));
    node.handle_timeout(Instant::from_millis(10));
    drain(&mut node);
    assert!(node.stats().dropped_limit >= 900, "{:?}", node.stats());
    assert!(node.peers().count() <= 100);
    // A frame header announcing 2 GiB closes the link instead of buffering.
    let mut huge = vec![b'N', b'C', 2, 1, 5, 0];
    huge.extend_from_slice(&0x8000_0000u32.to_be_bytes());
    node.handle_link_data(Instant::from_millis(20), link, Bytes::from(huge));
    let closed = closed(&mut node, link, Instant::from_millis(20));
    assert!(closed, "bad framing must close the link");
    assert!(node.stats().dropped_malformed >= 1);
}

/// Accepts a link from node 9 and takes its HELLO; returns the link.
fn accepted_link(node: &mut Node) -> netcluster_core::node::LinkId {
    let remote: SocketAddr = "10.98.0.1:40000".parse().unwrap();
    let local: SocketAddr = "10.98.0.2:7400".parse().unwrap();
    let link = node.link_accepted(Instant::from_millis(1), remote, local);
    let hello = Hello(Intro {
        node_id: NodeId([9; 16]),
        incarnation: 1,
        capabilities: 0,
        state: NodeState::Ready,
        link_addr: "10.98.0.1:7400".parse().unwrap(),
        cluster: "c".into(),
        name: "peer".into(),
        ranges: VersionRanges::supported(),
        headers: HeaderList::default(),
        groups: StrList::default(),
    });
    node.handle_link_data(Instant::from_millis(2), link, hello.to_bytes().unwrap());
    drain(node);
    link
}

/// Whether the node closed `link` (pulling its queue so the close comes).
fn closed(node: &mut Node, link: netcluster_core::node::LinkId, now: Instant) -> bool {
    let mut closed = false;
    while let Some(t) = node.poll_transmit() {
        match t {
            Transmit::Close { link: l } => closed |= l == link,
            Transmit::Ready { link: l } => while node.poll_link(now, l).is_some() {},
            _ => {}
        }
    }
    closed
}

#[test]
fn a_link_buffers_one_incomplete_frame_at_most_and_takes_whole_ones_in_any_amount() {
    let mut cfg = small_limits();
    cfg.max_link_buffer = 4096;
    let mut node =
        Node::new(cfg, NodeId([1; 16]), 1, Instant::ZERO).expect("a valid configuration");
    drain(&mut node);
    let link = accepted_link(&mut node);
    // 64 KiB of whole frames in one piece (as a driver hands over a read):
    // nothing waits, so nothing counts against the bound.
    let mut whole = Vec::new();
    let mut i = 0;
    while whole.len() < 64 * 1024 {
        whole.extend_from_slice(&lsa(i).to_bytes().unwrap());
        i += 1;
    }
    node.handle_link_data(Instant::from_millis(3), link, Bytes::from(whole));
    assert!(!closed(&mut node, link, Instant::from_millis(3)), "whole frames closed the link");
    // The start of one 8 KiB frame, 5,000 bytes of it, must wait: past the
    // bound, the link closes.
    let mut start = vec![b'N', b'C', 2, 1, 5, 0];
    start.extend_from_slice(&8192u32.to_be_bytes());
    start.resize(5000, 0);
    node.handle_link_data(Instant::from_millis(4), link, Bytes::from(start));
    assert!(closed(&mut node, link, Instant::from_millis(4)), "an incomplete frame past the bound");
    assert!(node.stats().dropped_limit >= 1);
}

#[test]
fn mesh_keeps_working_under_a_datagram_flood() {
    let mut sim = Sim::new(5);
    let lan = sim.add_segment(Faults::lan());
    let nodes: Vec<NodeIx> = (0..5)
        .map(|i| {
            let h = sim.add_host(&[lan]);
            sim.add_node(h, Config::lan("c", format!("n{i}")))
        })
        .collect();
    // Every millisecond for 5 s, the first node gets a SEARCH from a new
    // stranger and a malformed datagram.
    for i in 0..5_000u32 {
        let data = Search(announce(i, "c")).to_bytes().unwrap();
        sim.inject_datagram(nodes[0], from(i), DatagramSource::Beacon, data);
        sim.inject_datagram(
            nodes[0],
            from(i),
            DatagramSource::Unicast,
            Bytes::from_static(b"NC\x09"),
        );
        sim.run_for(Duration::from_millis(1));
    }
    for &n in &nodes {
        let real = sim.node(n).unwrap().peers().filter(|p| p.name.starts_with('n')).count();
        assert_eq!(real, 4, "node {n:?} lost its real peers");
    }
    let stats = sim.node(nodes[0]).unwrap().stats().clone();
    assert!(stats.notify_suppressed > 4_000, "{stats:?}");
    assert!(stats.dropped_malformed + stats.dropped_unexpected >= 5_000, "{stats:?}");
}

/// DATA from a linked peer with sequence numbers at the edge of u64, in
/// every semantics and with every flag, on every kind of channel: nothing
/// panics (overflow checks are on in tests), nothing is kept beyond the
/// receive window, and the link keeps working.
#[test]
fn data_with_extreme_sequence_numbers_is_handled_without_panic_or_growth() {
    use netcluster_core::wire::link::{Data, Route, Semantics, FLAG_FIN, FLAG_RST, FLAG_SYN};
    use netcluster_core::wire::{Frame, LinkMessage};
    let mut net = netcluster_sim::Direct::new(2);
    net.connect(0, 1);
    net.advance(Duration::from_secs(2));
    let (a, b) = (net.nodes[0].id(), net.nodes[1].id());
    let link = net.link(0, 1).expect("linked");
    let route = Route::path(&[a, b]).unwrap();
    let channels = [0u32, 1, 2, 3, 4, 0x4000_0000, 0x6000_0007, 0x8000_0001, u32::MAX];
    let seqs = [0u64, 1, 4095, 4096, u64::MAX / 2, u64::MAX - 4096, u64::MAX - 1, u64::MAX];
    let semantics =
        [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced, Semantics::Stream];
    let flags = [0u8, FLAG_SYN, FLAG_FIN, FLAG_RST, FLAG_SYN | FLAG_FIN | FLAG_RST];
    let mut frames = 0;
    for &channel in &channels {
        for &seq in &seqs {
            for &sem in &semantics {
                for &flag in &flags {
                    let d = Data {
                        flags: flag,
                        semantics: sem,
                        priority: 4,
                        channel,
                        seq,
                        frag_index: 0,
                        frag_count: 1,
                        msg_len: 3,
                        route: route.clone(),
                        group: None,
                        payload: Bytes::from_static(b"abc"),
                    };
                    let bytes = Frame::new(LinkMessage::Data(d)).to_bytes().unwrap();
                    net.deliver(0, link, bytes);
                    frames += 1;
                }
            }
        }
        net.pump();
    }
    assert!(frames > 1000);
    let node = &net.nodes[1];
    assert!(node.stream_count() <= 2, "streams opened by hostile frames stay few");
    assert_eq!(node.reassembly_bytes(), 0);
    // The link still carries real traffic both ways.
    let now = net.now();
    net.nodes[1].send(now, a, Semantics::Reliable, Bytes::from_static(b"still fine")).unwrap();
    net.advance(Duration::from_millis(100));
    assert!(net.events[0].iter().any(|e| matches!(
        e,
        netcluster_core::Event::Message { payload, .. } if &payload[..] == b"still fine"
    )));
    assert!(net.nodes[1].peer(&a).is_some(), "the peer is still up");
}

/// Admin and tracker frames have no business on the mesh. By UDP or on a
/// link, the node checks only the frame around the body (header, length,
/// flags, version, extensions) and drops the frame as unexpected: its body
/// is never decoded, so one that would not decode counts the same. A frame
/// that fails those checks counts as what is wrong with it.
#[test]
fn admin_and_tracker_frames_are_dropped_unexpected_without_decoding_their_bodies() {
    use netcluster_control::admin::MembersRequest;
    use netcluster_control::tracker::Query;
    use netcluster_core::wire::{Protocol, HEADER_LEN, MAGIC};

    fn raw(protocol: Protocol, version: u8, msg_type: u8, body: &[u8]) -> Bytes {
        let mut v = MAGIC.to_be_bytes().to_vec();
        v.extend_from_slice(&[protocol.id(), version, msg_type, 0]);
        v.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_be_bytes());
        v.extend_from_slice(body);
        Bytes::from(v)
    }
    let unexpected = [
        MembersRequest { request_id: 7 }.to_bytes().unwrap(),
        Query { cluster_hash: 1, node_id: NodeId([9; 16]), offset: 0, max: 0 }.to_bytes().unwrap(),
        // No such admin type, and a body no admin decoder would take.
        raw(Protocol::Admin, 1, 200, &[0xff; 9]),
        // A QUERY without its body.
        raw(Protocol::Tracker, 1, 3, &[]),
    ];

    let mut node = Node::new(small_limits(), NodeId([1; 16]), 1, Instant::ZERO)
        .expect("a valid configuration");
    drain(&mut node);
    for (i, f) in unexpected.iter().enumerate() {
        node.handle_datagram(Instant::ZERO, from(i as u32), DatagramSource::Unicast, f.clone());
    }
    // The frame checks still apply: a version nobody speaks.
    let future = raw(Protocol::Admin, 9, 1, &[0, 0, 0, 7]);
    node.handle_datagram(Instant::ZERO, from(9), DatagramSource::Unicast, future);
    let s = node.stats().clone();
    assert_eq!(s.dropped_unexpected, unexpected.len() as u64, "{s:?}");
    assert_eq!(s.dropped_version, 1, "{s:?}");
    assert_eq!(s.dropped_malformed, 0, "{s:?}");
    assert_eq!(drain(&mut node), (0, 0), "nothing answered");

    // The same on a link, which stays up.
    let mut net = netcluster_sim::Direct::new(2);
    net.connect(0, 1);
    net.advance(Duration::from_secs(2));
    let link = net.link(0, 1).expect("linked");
    let before = net.nodes[1].stats().clone();
    for f in &unexpected {
        net.deliver(0, link, f.clone());
    }
    net.pump();
    let after = net.nodes[1].stats().clone();
    assert_eq!(after.dropped_unexpected - before.dropped_unexpected, unexpected.len() as u64);
    assert_eq!(after.dropped_malformed, before.dropped_malformed);
    assert!(net.link(1, 0).is_some(), "the link is still up");
}
