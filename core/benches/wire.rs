//! Parse and emit costs of the wire codecs: a beacon, DATA frames of 64 B
//! and 1 KiB, an LSA with 32 neighbours, an ACK with 8 ranges, and a HELLO.
//!
//! ```text
//! cargo bench -p netcluster-core --bench wire
//! ```

use std::hint::black_box;
use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netcluster_core::wire::discovery::{Announce, Beacon};
use netcluster_core::wire::link::{
    Ack, AckRange, Data, Hello, Intro, Lsa, Neighbour, Route, Semantics,
};
use netcluster_core::wire::{
    Body, FixedList, Frame, HeaderList, LinkMessage, Message, NodeId, NodeState, StrList,
    VersionRanges,
};

fn id(i: u8) -> NodeId {
    NodeId([i; 16])
}

fn addr() -> SocketAddr {
    "192.0.2.10:7400".parse().unwrap()
}

fn beacon() -> Frame {
    Frame::new(Message::Discovery(
        Beacon(Announce {
            node_id: id(1),
            cluster_hash: 0x0123_4567_89ab_cdef,
            incarnation: 7,
            sequence: 42,
            interval_ms: 1000,
            peer_count: 12,
            state: NodeState::Ready,
            link_addr: addr(),
            ranges: VersionRanges::supported(),
        })
        .into(),
    ))
}

fn data(len: usize) -> Frame {
    Frame::new(Message::Link(LinkMessage::Data(Data {
        flags: 0,
        semantics: Semantics::Sequenced,
        priority: 4,
        channel: 2,
        seq: 1_000_000,
        frag_index: 0,
        frag_count: 1,
        msg_len: len as u32,
        route: Route::path(&[id(1), id(2), id(3)]).unwrap(),
        group: None,
        payload: Bytes::from(vec![0x5a; len]),
    })))
}

fn lsa() -> Frame {
    let ns: Vec<Neighbour> = (0..32u8).map(|i| Neighbour { id: id(i + 10), cost: 1 }).collect();
    Frame::new(Message::Link(LinkMessage::Lsa(Lsa {
        origin: id(1),
        incarnation: 3,
        sequence: 99,
        age_s: 12,
        state: NodeState::Ready,
        flags: 0,
        link_addr: addr(),
        name: "node-1".into(),
        neighbours: FixedList::from_entries(ns.iter()),
        groups: StrList::from_names(["chat", "metrics"]).unwrap(),
        headers: HeaderList::from_pairs([("role", "worker")]).unwrap(),
    })))
}

fn ack() -> Frame {
    let ranges: Vec<AckRange> =
        (0..8u64).map(|i| AckRange { start: 100 + i * 10, end: 105 + i * 10 }).collect();
    Frame::new(Message::Link(LinkMessage::Ack(Ack {
        semantics: Semantics::Reliable,
        channel: 1,
        cumulative: 100,
        window: 256,
        route: Route::path(&[id(3), id(2), id(1)]).unwrap(),
        ranges: FixedList::from_entries(ranges.iter()),
    })))
}

fn hello() -> Frame {
    Frame::new(Message::Link(LinkMessage::Hello(Hello(Intro {
        node_id: id(1),
        incarnation: 3,
        capabilities: 0,
        state: NodeState::Ready,
        link_addr: addr(),
        cluster: "demo".into(),
        name: "node-1".into(),
        ranges: VersionRanges::supported(),
        headers: HeaderList::from_pairs([("role", "worker")]).unwrap(),
        groups: StrList::from_names(["chat"]).unwrap(),
    }))))
}

fn bench(c: &mut Criterion) {
    let cases: Vec<(&str, Frame)> = vec![
        ("beacon", beacon()),
        ("data_64", data(64)),
        ("data_1k", data(1024)),
        ("lsa_32", lsa()),
        ("ack_8", ack()),
        ("hello", hello()),
    ];
    let mut g = c.benchmark_group("wire");
    for (name, frame) in &cases {
        // A shared buffer, as a driver's receive path hands out.
        let bytes = frame.to_bytes().unwrap();
        let _warm = bytes.clone();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| Frame::parse(black_box(&bytes)).unwrap())
        });
        let mut out = vec![0u8; frame.buffer_len()];
        g.bench_function(format!("emit/{name}"), |b| {
            b.iter(|| black_box(frame).emit(black_box(&mut out)).unwrap())
        });
    }
    // The typed single-message path, without the Frame enum.
    let b = Beacon::parse(&beacon().to_bytes().unwrap()).unwrap();
    let raw = b.to_bytes().unwrap();
    g.bench_function("parse/beacon_typed", |bn| {
        bn.iter(|| Beacon::parse(black_box(&raw)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
