//! Runs every fuzz body of `netcluster_core::fuzz` and
//! `netcluster_control::fuzz` on stable, as an ordinary test: over the golden vectors (each vector, every prefix of it and
//! byte-flipped mutations of it) and over a few thousand deterministic
//! pseudo-random inputs. cargo-fuzz (`scripts/fuzz.sh`) explores further;
//! this keeps every body exercised by `cargo test`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use netcluster_control::fuzz as control_fuzz;
use netcluster_core::fuzz;
use netcluster_core::wire::discovery::{Announce, Beacon, Notify, Search};
use netcluster_core::wire::{Body, NodeId, NodeState, Protocol, VersionRanges, HEADER_LEN, MAGIC};
use netcluster_tests::read_hex_vectors;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

type FuzzBody = fn(&[u8]);

/// Every fuzz body, by the name of its cargo-fuzz target.
const BODIES: [(&str, FuzzBody); 10] = [
    ("discovery", fuzz::discovery),
    ("discovery_auth", fuzz::discovery_auth),
    ("noise_handshake", fuzz::noise_handshake),
    ("sealed", fuzz::sealed),
    ("node", fuzz::node),
    ("link", fuzz::link),
    ("admin", control_fuzz::admin),
    ("tracker", control_fuzz::tracker),
    ("roundtrip", roundtrip),
    ("stream", fuzz::stream),
];

/// What the `roundtrip` target runs: any frame, whichever crate decodes it.
fn roundtrip(data: &[u8]) {
    fuzz::roundtrip(data);
    control_fuzz::roundtrip(data);
}

fn hex(data: &[u8]) -> String {
    data.iter().map(|b| format!("{b:02x}")).collect()
}

/// Runs one body on one input; on a panic, fails naming the body, where the
/// input came from and the input itself, so it can be replayed.
fn run(name: &str, body: FuzzBody, origin: &str, data: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| body(data))).is_err() {
        panic!("fuzz body `{name}` panicked on {origin} ({} bytes): {}", data.len(), hex(data));
    }
}

/// Runs every body on `data`.
fn run_all(origin: &str, data: &[u8]) {
    for (name, body) in BODIES {
        run(name, body, origin, data);
    }
}

/// `data` with byte `i` changed in a few ways: low bit, high bit, zeroed,
/// all ones.
fn flips(data: &[u8]) -> impl Iterator<Item = (usize, Vec<u8>)> + '_ {
    (0..data.len()).flat_map(move |i| {
        [data[i] ^ 0x01, data[i] ^ 0x80, 0x00, 0xff].into_iter().filter(move |&b| b != data[i]).map(
            move |b| {
                let mut v = data.to_vec();
                v[i] = b;
                (i, v)
            },
        )
    })
}

/// The inputs derived from one vector: itself, every prefix, the byte flips;
/// for the stream body each with a chunking seed byte in front (the body
/// takes its first byte as that seed); for the sub-protocol bodies also the
/// `msg_type | body` form they wrap in a header of their own.
fn run_vector(origin: &str, v: &[u8]) {
    run_all(origin, v);
    for len in 0..v.len() {
        run_all(&format!("{origin}, prefix of {len} bytes"), &v[..len]);
    }
    for (i, m) in flips(v) {
        run_all(&format!("{origin}, byte {i} changed"), &m);
    }
    for seed in [0x00u8, 0x07, 0x3f] {
        let mut s = vec![seed];
        s.extend_from_slice(v);
        run("stream", fuzz::stream, &format!("{origin} as a stream, seed {seed:#04x}"), &s);
    }
    if v.len() >= HEADER_LEN && v[5] == 0 {
        let bodies: [(Protocol, FuzzBody); 5] = [
            (Protocol::Discovery, fuzz::discovery),
            (Protocol::Link, fuzz::link),
            (Protocol::Admin, control_fuzz::admin),
            (Protocol::Tracker, control_fuzz::tracker),
            (Protocol::Local, control_fuzz::local),
        ];
        for (protocol, body) in bodies {
            if v[2] == protocol.id() {
                let mut inner = vec![v[4]];
                inner.extend_from_slice(&v[HEADER_LEN..]);
                let origin = format!("{origin}, msg_type and body");
                run(&protocol.to_string(), body, &origin, &inner);
                for len in 0..inner.len() {
                    run(
                        &protocol.to_string(),
                        body,
                        &format!("{origin}, prefix of {len} bytes"),
                        &inner[..len],
                    );
                }
            }
        }
    }
}

#[test]
fn fuzz_bodies_on_golden_vectors() {
    let vectors = read_hex_vectors();
    let root = netcluster_tests::vectors_dir();
    for (path, bytes) in &vectors {
        let name = path.strip_prefix(&root).unwrap_or(path).display().to_string();
        run_vector(&format!("vector {name}"), bytes);
    }
    // All vectors back to back, as one stream, delivered in small chunks.
    let stream: Vec<u8> = vectors.iter().flat_map(|(_, b)| b.iter().copied()).collect();
    for seed in [0x00u8, 0x05, 0x3f] {
        let mut s = vec![seed];
        s.extend_from_slice(&stream);
        run("stream", fuzz::stream, &format!("all vectors as a stream, seed {seed:#04x}"), &s);
    }
    eprintln!("fuzz bodies ran over {} golden vector(s)", vectors.len());
}

/// A frame header of `protocol` (any byte, so unknown ids too) with the
/// exact total length, in front of `body`.
fn with_header(protocol: u8, version: u8, msg_type: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(HEADER_LEN + body.len());
    f.extend_from_slice(&MAGIC.to_be_bytes());
    f.extend_from_slice(&[protocol, version, msg_type, flags]);
    f.extend_from_slice(&((HEADER_LEN + body.len()) as u32).to_be_bytes());
    f.extend_from_slice(body);
    f
}

/// Arbitrary bytes, half of them behind a plausible header so that the
/// decoders past the header get exercised too.
fn input() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..256);
    let framed = (
        0u8..=5,
        prop_oneof![Just(1u8), any::<u8>()],
        0u8..=16,
        prop_oneof![3 => Just(0u8), 1 => Just(1u8), 1 => any::<u8>()],
        proptest::collection::vec(any::<u8>(), 0..256),
    )
        .prop_map(|(p, v, t, fl, body)| with_header(p, v, t, fl, &body));
    prop_oneof![raw, framed]
}

/// Valid discovery frames from the typed API, so that the success paths
/// (re-emit, re-parse, compare) run on random field values.
fn discovery_frame() -> impl Strategy<Value = Vec<u8>> {
    let addr = prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ];
    (any::<[u8; 16]>(), any::<(u64, u64, u32, u32, u16)>(), 0u8..5, addr, 0u8..3).prop_map(
        |(id, (hash, inc, seq, interval, peers), state, link_addr, kind)| {
            let a = Announce {
                node_id: NodeId(id),
                cluster_hash: hash,
                incarnation: inc,
                sequence: seq,
                interval_ms: interval,
                peer_count: peers,
                state: NodeState::from_u8(state).expect("0..5 are states"),
                link_addr,
                ranges: VersionRanges::supported(),
            };
            let bytes = match kind {
                0 => Beacon(a).to_bytes(),
                1 => Search(a).to_bytes(),
                _ => Notify(a).to_bytes(),
            };
            bytes.expect("a valid announcement emits").to_vec()
        },
    )
}

fn deterministic_runner(cases: u32) -> TestRunner {
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
}

#[test]
fn fuzz_bodies_on_pseudo_random_inputs() {
    let mut runner = deterministic_runner(4000);
    runner
        .run(&input(), |data| {
            for (_, body) in BODIES {
                body(&data);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_bodies_on_valid_and_mutated_discovery_frames() {
    let mut runner = deterministic_runner(500);
    runner
        .run(&(discovery_frame(), any::<usize>(), any::<u8>()), |(frame, at, b)| {
            for (_, body) in BODIES {
                body(&frame);
            }
            let mut mutated = frame.clone();
            let i = at % mutated.len();
            mutated[i] ^= b | 1;
            for (_, body) in BODIES {
                body(&mutated);
            }
            Ok(())
        })
        .unwrap();
}
