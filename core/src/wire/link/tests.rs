use alloc::vec::Vec;

use bytes::Bytes;
use proptest::prelude::*;

use super::super::testutil::*;
use super::super::{Error, Frame, FrameHeader, Limits, Message, NodeId};
use super::data::{FLAG_FIN, FLAG_RST, FLAG_SYN};
use super::*;
use crate::wire::lists::{FixedList, VersionRanges};
use crate::wire::Body;

fn link(m: impl Into<LinkMessage>) -> Message {
    Message::Link(m.into())
}

fn intro() -> impl Strategy<Value = Intro> {
    (node_id(), any::<u64>(), any::<u32>(), state(), addr(), name(), name(), ranges())
        .prop_flat_map(|t| (Just(t), headers(), groups()))
        .prop_map(
            |(
                (node_id, incarnation, capabilities, state, link_addr, cluster, name, ranges),
                headers,
                groups,
            )| {
                Intro {
                    node_id,
                    incarnation,
                    capabilities,
                    state,
                    link_addr,
                    cluster,
                    name,
                    ranges,
                    headers,
                    groups,
                }
            },
        )
}

/// A tree of 1..=12 distinct ids, parents before children.
pub(crate) fn route() -> impl Strategy<Value = Route> {
    proptest::collection::btree_set(any::<[u8; 16]>(), 1..12)
        .prop_flat_map(|ids| {
            let n = ids.len();
            let parents: Vec<BoxedStrategy<u8>> = (0..n)
                .map(|i| if i == 0 { Just(0xffu8).boxed() } else { (0..i as u8).boxed() })
                .collect();
            (Just(ids), parents)
        })
        .prop_map(|(ids, parents)| {
            let ids: Vec<NodeId> = ids.into_iter().map(NodeId).collect();
            Route::tree(&ids, &parents).unwrap()
        })
}

pub(crate) fn path() -> impl Strategy<Value = Route> {
    proptest::collection::btree_set(any::<[u8; 16]>(), 1..12).prop_map(|ids| {
        let ids: Vec<NodeId> = ids.into_iter().map(NodeId).collect();
        Route::path(&ids).unwrap()
    })
}

fn semantics() -> impl Strategy<Value = Semantics> {
    (0u8..4).prop_map(|v| Semantics::from_u8(v).unwrap())
}

fn data() -> impl Strategy<Value = Data> {
    (
        prop_oneof![Just(0u8), Just(FLAG_SYN), Just(FLAG_FIN), Just(FLAG_RST | FLAG_FIN)],
        semantics(),
        0u8..8,
        any::<u32>(),
        any::<u64>(),
        (1u16..1000).prop_flat_map(|c| (0..c, Just(c))),
        (route(), path()),
        proptest::option::of(name()),
        payload(200),
    )
        .prop_map(
            |(flags, semantics, priority, channel, seq, (fi, fc), (tree, path), group, payload)| {
                Data {
                    flags,
                    semantics,
                    priority,
                    channel,
                    seq,
                    frag_index: fi,
                    frag_count: fc,
                    msg_len: payload.len() as u32 + 17,
                    // Group data may fan out over a tree; unicast data follows a path.
                    route: if group.is_some() { tree } else { path },
                    group,
                    payload,
                }
            },
        )
}

fn ack() -> impl Strategy<Value = Ack> {
    (
        semantics(),
        any::<u32>(),
        any::<u64>(),
        any::<u32>(),
        path(),
        proptest::collection::vec((any::<u64>(), 1u64..1000), 0..8),
    )
        .prop_map(|(semantics, channel, cumulative, window, route, rs)| {
            let ranges: Vec<AckRange> = rs
                .into_iter()
                .map(|(s, l)| {
                    let s = s.min(u64::MAX - l);
                    AckRange { start: s, end: s + l }
                })
                .collect();
            Ack {
                semantics,
                channel,
                cumulative,
                window,
                route,
                ranges: FixedList::from_entries(ranges.iter()),
            }
        })
}

fn lsa() -> impl Strategy<Value = Lsa> {
    (
        node_id(),
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        state(),
        prop_oneof![Just(0u8), Just(routing::LSA_FLUSH)],
        addr(),
        name(),
        proptest::collection::vec((node_id(), 1u16..=u16::MAX), 0..40),
        groups(),
        headers(),
    )
        .prop_map(
            |(
                origin,
                incarnation,
                sequence,
                age_s,
                state,
                flags,
                link_addr,
                name,
                ns,
                groups,
                headers,
            )| {
                let ns: Vec<Neighbour> =
                    ns.into_iter().map(|(id, cost)| Neighbour { id, cost }).collect();
                Lsa {
                    origin,
                    incarnation,
                    sequence,
                    age_s,
                    state,
                    flags,
                    link_addr,
                    name,
                    neighbours: FixedList::from_entries(ns.iter()),
                    groups,
                    headers,
                }
            },
        )
}

fn reject() -> impl Strategy<Value = Reject> {
    (any::<u8>(), any::<u8>(), ranges(), ranges(), name()).prop_map(
        |(reason, protocol, local_ranges, remote_ranges, detail)| Reject {
            reason: RejectReason(reason),
            protocol,
            local_ranges,
            remote_ranges,
            detail,
        },
    )
}

proptest! {
    #[test]
    fn hello_roundtrip(i in intro()) {
        check_roundtrip(Hello(i), link);
    }

    #[test]
    fn welcome_roundtrip(i in intro(), chosen in proptest::collection::vec((any::<u8>(), 1u8..=255), 0..5)) {
        let chosen: Vec<ChosenVersion> = chosen.into_iter().map(|(protocol, version)| ChosenVersion { protocol, version }).collect();
        check_roundtrip(Welcome { intro: i, chosen: FixedList::from_entries(chosen.iter()) }, link);
    }

    #[test]
    fn reject_roundtrip(r in reject()) {
        check_roundtrip(r, link);
    }

    #[test]
    fn keepalive_roundtrip(interval_ms in any::<u32>(), count in any::<u8>(), token in any::<u64>()) {
        check_roundtrip(Advertise { interval_ms, count }, link);
        check_roundtrip(Ping { token }, link);
        check_roundtrip(Pong { token }, link);
    }

    #[test]
    fn lsa_roundtrip(l in lsa()) {
        check_roundtrip(l, link);
    }

    #[test]
    fn data_roundtrip(d in data()) {
        check_roundtrip(d, link);
    }

    #[test]
    fn ack_roundtrip(a in ack()) {
        check_roundtrip(a, link);
    }

    #[test]
    fn goodbye_roundtrip(reason in any::<u8>(), detail in name()) {
        check_roundtrip(Goodbye { reason: GoodbyeReason(reason), detail }, link);
    }

    #[test]
    fn route_error_roundtrip(reporter in node_id(), unreachable in node_id(), seq in any::<u64>(),
                             channel in any::<u32>(), semantics in semantics(), route in path()) {
        check_roundtrip(RouteError { reporter, unreachable, seq, channel, semantics, route }, link);
    }

    #[test]
    fn lsa_ack_roundtrip(keys in proptest::collection::vec((node_id(), any::<u64>(), any::<u64>()), 0..20)) {
        let keys: Vec<LsaKey> = keys.into_iter().map(|(origin, incarnation, sequence)| LsaKey { origin, incarnation, sequence }).collect();
        check_roundtrip(LsaAck { keys: FixedList::from_entries(keys.iter()) }, link);
    }

    #[test]
    fn noise_roundtrip(key_id in any::<u8>(), m in proptest::collection::vec(any::<u8>(), 48..=48),
                       nonce in any::<u64>(), ct in proptest::collection::vec(any::<u8>(), 16..2000)) {
        let mut message = [0u8; 48];
        message.copy_from_slice(&m);
        check_roundtrip(NoiseInit { key_id, message }, link);
        check_roundtrip(NoiseResp { message }, link);
        check_roundtrip(Sealed { nonce, ciphertext: Bytes::from(ct) }, link);
    }

    #[test]
    fn route_children_cover_tree(r in route()) {
        // Every entry but the root is the child of exactly one entry, and a
        // path to every entry exists.
        let mut seen = alloc::vec![0usize; r.len()];
        for i in 0..r.len() {
            for c in r.children(i) {
                seen[c] += 1;
            }
            prop_assert_eq!(r.path_to(i).unwrap().last(), r.id(i).unwrap());
        }
        prop_assert_eq!(seen[0], 0);
        prop_assert!(seen[1..].iter().all(|&n| n == 1));
    }
}

fn sample_hello(link_max: u8) -> Hello {
    let ranges = VersionRanges::from_entries(
        [
            ProtoRangeAlias { protocol: 1, range: crate::wire::VersionRange::new(1, 1) },
            ProtoRangeAlias {
                protocol: 2,
                range: crate::wire::VersionRange::new(link_max, link_max),
            },
        ]
        .iter(),
    );
    Hello(Intro {
        node_id: NodeId([7; 16]),
        incarnation: 1,
        capabilities: 0,
        state: crate::wire::NodeState::Ready,
        link_addr: "10.0.0.1:7400".parse().unwrap(),
        cluster: "c".into(),
        name: "n".into(),
        ranges,
        headers: Default::default(),
        groups: Default::default(),
    })
}

use crate::wire::lists::ProtoRange as ProtoRangeAlias;

#[test]
fn hello_of_any_version_parses_but_other_messages_do_not() {
    let mut bytes = sample_hello(99).to_bytes().unwrap().to_vec();
    bytes[3] = 99; // header version
    let frame = Frame::parse(&Bytes::from(bytes)).unwrap();
    let Message::Link(LinkMessage::Hello(h)) = frame.message else { panic!("not a hello") };
    assert_eq!(frame.version, 99);
    assert_eq!(h.0.ranges.range_of(2), Some(crate::wire::VersionRange::new(99, 99)));

    let mut ping = Ping { token: 1 }.to_bytes().unwrap().to_vec();
    ping[3] = 99;
    match Frame::parse(&Bytes::from(ping)) {
        Err(Error::UnsupportedVersion { protocol, remote, local }) => {
            assert_eq!(protocol, crate::wire::Protocol::Link);
            assert_eq!(remote, 99);
            assert_eq!(local, crate::wire::VersionRange::new(1, 1));
        }
        other => panic!("expected a version error, got {other:?}"),
    }
}

#[test]
fn route_rules_are_enforced() {
    let a = NodeId([1; 16]);
    let b = NodeId([2; 16]);
    assert!(Route::path(&[a, b, a]).is_err(), "repeated id accepted");
    assert!(Route::tree(&[a, b], &[0xff, 1]).is_err(), "self-parent accepted");
    assert!(Route::path(&[]).is_err());
    let p = Route::path(&[a, b]).unwrap();
    assert_eq!(p.reversed_path().unwrap().origin(), b);
}

#[test]
fn data_limits_are_enforced() {
    let ids: Vec<NodeId> = (0..70u8).map(|i| NodeId([i; 16])).collect();
    let d = Data {
        flags: 0,
        semantics: Semantics::Reliable,
        priority: 0,
        channel: 0,
        seq: 0,
        frag_index: 0,
        frag_count: 1,
        msg_len: 0,
        route: Route::path(&ids).unwrap(),
        group: None,
        payload: Bytes::new(),
    };
    let bytes = d.to_bytes().unwrap();
    assert!(matches!(
        Frame::parse(&bytes),
        Err(Error::Oversized { field: "route_ids", len: 70, max: 64 })
    ));
    let roomy = Limits { max_route: 128, ..Limits::DEFAULT };
    assert!(Frame::parse_with(&bytes, &roomy).is_ok());
    // A header that lies about the length is refused.
    let mut v = bytes.to_vec();
    v[9] ^= 1;
    assert!(matches!(Frame::parse(&Bytes::from(v)), Err(Error::LengthMismatch { .. })));
    assert_eq!(FrameHeader::new_checked(&bytes[..]).unwrap().msg_type(), Data::MSG_TYPE);
}

#[test]
fn a_batch_cuts_into_its_frames_and_nothing_else_does() {
    let a = Frame::new(LinkMessage::Ping(Ping { token: 1 })).to_bytes().unwrap();
    let b = Frame::new(LinkMessage::Pong(Pong { token: 2 })).to_bytes().unwrap();
    let mut v = a.to_vec();
    v.extend_from_slice(&b);
    let batch = Bytes::from(v);
    let (first, rest) = Frame::split_batch(&batch).expect("two frames");
    assert_eq!((first, rest.clone()), (a.clone(), b.clone()));
    // The last frame of a batch, or any single frame, is not cut.
    assert!(Frame::split_batch(&rest).is_none());
    assert!(Frame::parse(&rest).is_ok());
    // A length pointing past the datagram is no boundary: the whole
    // datagram then fails to parse, as a lone frame would.
    let mut long = batch.to_vec();
    long[9] = 0xff;
    assert!(Frame::split_batch(&Bytes::from(long.clone())).is_none());
    assert!(Frame::parse(&Bytes::from(long)).is_err());
    // Only link frames are batched: a discovery frame with trailing bytes
    // is not cut, and stays a length mismatch.
    let announce = crate::wire::discovery::Announce {
        node_id: NodeId([7; 16]),
        cluster_hash: 1,
        incarnation: 1,
        sequence: 1,
        interval_ms: 0,
        peer_count: 0,
        state: crate::wire::NodeState::Ready,
        link_addr: "10.77.0.1:7400".parse().unwrap(),
        ranges: VersionRanges::supported(),
    };
    let search = crate::wire::DiscoveryMessage::Search(crate::wire::discovery::Search(announce));
    let search = Frame::new(search).to_bytes().unwrap();
    let mut v = search.to_vec();
    v.extend_from_slice(&b);
    let v = Bytes::from(v);
    assert!(Frame::split_batch(&v).is_none());
    assert!(matches!(Frame::parse(&v), Err(Error::LengthMismatch { .. })));
}

#[test]
fn noise_messages_of_the_wrong_size_and_short_records_are_refused() {
    let limits = Limits::DEFAULT;
    let body = |n: usize| Bytes::from(alloc::vec![0u8; n]);
    assert_eq!(
        NoiseInit::parse_body(&body(48), &limits),
        Err(Error::Truncated { field: "noise_init" })
    );
    assert_eq!(
        NoiseInit::parse_body(&body(50), &limits),
        Err(Error::Malformed { field: "noise_init" })
    );
    assert_eq!(
        NoiseResp::parse_body(&body(47), &limits),
        Err(Error::Truncated { field: "noise_resp" })
    );
    assert_eq!(
        NoiseResp::parse_body(&body(49), &limits),
        Err(Error::Malformed { field: "noise_resp" })
    );
    assert_eq!(
        Sealed::parse_body(&body(7), &limits),
        Err(Error::Truncated { field: "sealed_field" })
    );
    assert_eq!(
        Sealed::parse_body(&body(8 + 15), &limits),
        Err(Error::Truncated { field: "sealed" })
    );
    assert!(Sealed::parse_body(&body(8 + 16), &limits).is_ok(), "an empty plaintext is a tag");
    assert_eq!(
        Sealed::parse_body(&body(8 + 65_536), &limits),
        Err(Error::Oversized { field: "sealed", len: 65_536, max: 65_535 })
    );
}
