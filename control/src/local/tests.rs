//! Round trips of every local message, and garbage refused without a panic.

use alloc::vec::Vec;

use bytes::Bytes;
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::{Error, HeaderList, NodeId, NodeState, StrList};
use proptest::prelude::*;

use super::*;
use crate::admin::{MemberRecord, MemberTrafficRecord, TrafficFigures};
use crate::testutil::{addr, node_id, state};
use crate::{ControlFrame, ControlMessage};

fn member(id: NodeId, st: NodeState, a: core::net::SocketAddr) -> MemberRecord {
    MemberRecord {
        node_id: id,
        incarnation: 9,
        state: st,
        hops: 1,
        link_addr: a,
        name: "bravo".into(),
        groups: StrList::from_names(["chat"]).unwrap(),
        headers: HeaderList::from_pairs([("role", "app")]).unwrap(),
    }
}

fn roundtrip(m: LocalMessage) {
    let frame = ControlFrame::new(ControlMessage::Local(m));
    let bytes = frame.to_bytes().unwrap();
    assert_eq!(ControlFrame::parse(&bytes).unwrap(), frame);
    assert_eq!(bytes[2], 5, "protocol id");
}

fn semantics() -> impl Strategy<Value = Semantics> {
    prop_oneof![
        Just(Semantics::Datagram),
        Just(Semantics::Reliable),
        Just(Semantics::Sequenced),
        Just(Semantics::Stream),
    ]
}

proptest! {
    #[test]
    fn every_message_round_trips(
        id in any::<u32>(),
        node in node_id(),
        st in state(),
        a in addr(),
        sem in semantics(),
        kind in 0u8..4,
        queue in any::<u16>(),
        timeout in any::<u32>(),
        retries in any::<u8>(),
        name in "[a-z]{0,20}",
        status in 0u8..9,
        ev in 0u8..4,
    ) {
        let seeds = StrList::from_names(["192.0.2.1:7400", "[2001:db8::1]:7400"]).unwrap();
        roundtrip(LocalMessage::Connect(Connect {
            request_id: id,
            flags: ConnectFlags::BROADCAST,
            cluster: "demo".into(),
            name: name.as_str().into(),
            tracker: "".into(),
            seeds,
        }));
        roundtrip(LocalMessage::Connected(Connected { request_id: id, node_id: node }));
        roundtrip(LocalMessage::Socket(SocketRequest {
            request_id: id,
            semantics: sem,
            target_kind: TargetKind::from_u8(kind).unwrap(),
            queue,
            timeout_ms: timeout,
            retries,
            target: name.as_str().into(),
        }));
        roundtrip(LocalMessage::SocketOpened(SocketOpened { request_id: id, socket_id: 3 }));
        roundtrip(LocalMessage::PeersRequest(PeersRequest { request_id: id, group: name.as_str().into() }));
        let peers = VarList::from_records([member(node, st, a), member(node, st, a)]).unwrap();
        roundtrip(LocalMessage::Peers(Peers { request_id: id, peers }));
        roundtrip(LocalMessage::NodeRequest(NodeRequest { request_id: id }));
        roundtrip(LocalMessage::Node(NodeInfo { request_id: id, node: member(node, st, a) }));
        roundtrip(LocalMessage::Result(LocalResult {
            request_id: id,
            status: LocalStatus::from_u8(status).unwrap(),
            detail: name.as_str().into(),
        }));
        let figures = TrafficFigures {
            rx_bytes_per_sec: u64::from(id),
            tx_bytes_per_sec: 7,
            rx_msgs_per_sec: 1,
            tx_msgs_per_sec: 2,
            srtt_us: (id % 2 == 0).then_some(1500),
        };
        let rec = MemberTrafficRecord { traffic: figures, member: member(node, st, a) };
        roundtrip(LocalMessage::PeersTraffic(PeersTraffic {
            request_id: id,
            peers: VarList::from_records([rec]).unwrap(),
        }));
        roundtrip(LocalMessage::PeersTrafficRequest(PeersTrafficRequest {
            request_id: id,
            group: name.as_str().into(),
        }));
        roundtrip(LocalMessage::Event(LocalEvent {
            socket_id: id,
            kind: LocalEventKind::from_u8(ev).unwrap(),
            peer: node,
            detail: name.as_str().into(),
        }));
    }

    #[test]
    fn garbage_bodies_are_refused_or_round_trip(t in 0u8..20, body in proptest::collection::vec(any::<u8>(), 0..96)) {
        let mut v = Vec::with_capacity(10 + body.len());
        v.extend_from_slice(&[0x4e, 0x43, 5, 1, t, 0]);
        v.extend_from_slice(&((10 + body.len()) as u32).to_be_bytes());
        v.extend_from_slice(&body);
        let v = Bytes::from(v);
        if let Ok(f) = ControlFrame::parse(&v) {
            prop_assert_eq!(f.to_bytes().unwrap(), v);
        }
    }
}

#[test]
fn reserved_values_are_refused_by_name() {
    let ok = ControlFrame::new(ControlMessage::Local(LocalMessage::Socket(SocketRequest {
        request_id: 1,
        semantics: Semantics::Reliable,
        target_kind: TargetKind::Peer,
        queue: 0,
        timeout_ms: 0,
        retries: 0,
        target: "bravo".into(),
    })))
    .to_bytes()
    .unwrap();
    let mut bad: Vec<u8> = ok.to_vec();
    bad[10 + 4] = 9;
    assert_eq!(
        ControlFrame::parse(&Bytes::from(bad.clone())),
        Err(Error::Malformed { field: "semantics" })
    );
    bad[10 + 4] = 1;
    bad[10 + 5] = 7;
    assert_eq!(
        ControlFrame::parse(&Bytes::from(bad)),
        Err(Error::Malformed { field: "target_kind" })
    );
    assert_eq!(ConnectFlags::from_bits(2), Err(Error::Malformed { field: "flags" }));
}
