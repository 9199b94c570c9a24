//! Forwarding cost per DATA frame at an intermediate node: node 1 of a line
//! 0 - 1 - 2 takes a frame from node 0's link and passes it to node 2's
//! (`handle_link_data` plus draining `poll_transmit`), for several payload
//! sizes. The frame is the one node 0 really wrote.

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use netcluster_core::node::Transmit;
use netcluster_core::wire::link::Semantics;
use netcluster_sim::Direct;

fn forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("forward_data");
    for size in [64usize, 1024, 8 * 1024] {
        let mut net = Direct::new(3);
        net.connect(0, 1);
        net.connect(1, 2);
        net.advance(Duration::from_secs(2));
        let dest = net.nodes[2].id();
        let now = net.now();
        net.nodes[0].send(now, dest, Semantics::Datagram, Bytes::from(vec![7u8; size])).unwrap();
        let Some(Transmit::Ready { link }) = net.nodes[0].poll_transmit() else {
            panic!("node 0 queued no frame")
        };
        let frame = net.nodes[0].poll_link(now, link).expect("the frame queued");
        let from_0 = net.link(1, 0).expect("node 1 links node 0");
        group.throughput(Throughput::Elements(1));
        group.bench_with_input(BenchmarkId::from_parameter(size), &frame, |b, frame| {
            b.iter(|| {
                net.nodes[1].handle_link_data(now, from_0, frame.clone());
                while let Some(t) = net.nodes[1].poll_transmit() {
                    if let Transmit::Ready { link } = t {
                        while let Some(f) = net.nodes[1].poll_link(now, link) {
                            let _ = black_box(f);
                        }
                    }
                }
            })
        });
        assert!(net.nodes[1].stats().forwarded > 0, "the bench forwarded nothing");
    }
    group.finish();
}

criterion_group!(benches, forward);
criterion_main!(benches);
