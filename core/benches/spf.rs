//! SPF on random graphs of 100, 1,000 and 10,000 nodes, average degree 8:
//! a ring (so the graph is connected) plus random chords, costs 1..=10.
//!
//! ```text
//! cargo bench -p netcluster-core --bench spf
//! ```

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use netcluster_core::spf::Graph;
use netcluster_core::NodeId;

fn graph(n: usize, degree: usize, seed: u64) -> Graph {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut g = Graph::new();
    let ix: Vec<u32> = (0..n)
        .map(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            g.intern(NodeId(id))
        })
        .collect();
    // Undirected edges: n from the ring, the rest random, n * degree / 2 in all.
    let add = |g: &mut Graph, a: u32, b: u32, c: u32| {
        g.edge(a, b, c);
        g.edge(b, a, c);
    };
    for i in 0..n {
        let c = (next() % 10 + 1) as u32;
        add(&mut g, ix[i], ix[(i + 1) % n], c);
    }
    for _ in 0..(n * degree / 2).saturating_sub(n) {
        let (a, b) = ((next() % n as u64) as usize, (next() % n as u64) as usize);
        if a != b {
            let c = (next() % 10 + 1) as u32;
            add(&mut g, ix[a], ix[b], c);
        }
    }
    g
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("spf");
    for n in [100usize, 1_000, 10_000] {
        let g = graph(n, 8, 0x9e37_79b9_7f4a_7c15);
        let tree = g.shortest_paths(0);
        assert_eq!(tree.reachable().count(), n - 1, "the graph is connected");
        group.bench_with_input(BenchmarkId::from_parameter(n), &g, |b, g| {
            b.iter(|| black_box(g.shortest_paths(black_box(0))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
