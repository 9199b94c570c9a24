//! Property and unit tests of the admin codecs.

use alloc::string::String;
use alloc::vec; // `prop_oneof!` with many arms expands to `vec![..]`
use alloc::vec::Vec;
use core::fmt::Debug;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::lists::{VarList, VarRecord};
use netcluster_core::wire::{
    Body, Error, FixedList, HeaderList, Limits, NodeId, NodeState, StrList, HEADER_LEN,
};
use proptest::collection::vec;
use proptest::prelude::*;

use super::event::event as event_field;
use super::records::{group, route};
use super::responses::{groups as groups_field, routes as routes_field};
use super::tests_figures as figures;
use super::*;
use crate::testutil::{addr as arb_addr, node_id as arb_node_id, state as arb_state};
use crate::{ControlFrame, ControlMessage};

// ---------------------------------------------------------------- strategies

pub(super) fn arb_text() -> impl Strategy<Value = ByteString> {
    prop_oneof![
        "[a-z0-9_.-]{0,16}".prop_map(ByteString::from),
        vec(any::<char>(), 0..12)
            .prop_map(|cs| ByteString::from(cs.into_iter().collect::<String>())),
    ]
}

fn arb_payload() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..64).prop_map(Bytes::from)
}

fn arb_mode() -> impl Strategy<Value = DeliveryMode> {
    (0u8..=3).prop_map(|v| DeliveryMode::from_u8(v).unwrap())
}

pub(super) fn arb_member() -> impl Strategy<Value = MemberRecord> {
    (
        (arb_node_id(), any::<u64>(), arb_state(), any::<u8>(), arb_addr()),
        arb_text(),
        vec(arb_text(), 0..4),
        vec((arb_text(), arb_text()), 0..4),
    )
        .prop_map(|((node_id, incarnation, state, hops, link_addr), name, groups, headers)| {
            MemberRecord {
                node_id,
                incarnation,
                state,
                hops,
                link_addr,
                name,
                groups: StrList::from_names(&groups).unwrap(),
                headers: HeaderList::from_pairs(headers).unwrap(),
            }
        })
}

fn arb_group() -> impl Strategy<Value = GroupRecord> {
    (arb_text(), vec(arb_node_id(), 0..5))
        .prop_map(|(name, ids)| GroupRecord { name, members: FixedList::from_entries(&ids) })
}

fn arb_route() -> impl Strategy<Value = RouteRecord> {
    (arb_node_id(), arb_node_id(), any::<u32>(), vec(arb_node_id(), 0..6)).prop_map(
        |(destination, next_hop, cost, path)| RouteRecord {
            destination,
            next_hop,
            cost,
            path: FixedList::from_entries(&path),
        },
    )
}

fn arb_counter() -> impl Strategy<Value = Counter> {
    (arb_text(), any::<u64>()).prop_map(|(name, value)| Counter { name, value })
}

pub(super) fn list<R: VarRecord>(records: Vec<R>) -> VarList<R> {
    VarList::from_records(records).unwrap()
}

fn arb_members() -> impl Strategy<Value = Members> {
    (any::<u32>(), vec(arb_member(), 0..4))
        .prop_map(|(request_id, m)| Members { request_id, members: list(m) })
}

fn arb_groups() -> impl Strategy<Value = Groups> {
    (any::<u32>(), vec(arb_group(), 0..5))
        .prop_map(|(request_id, g)| Groups { request_id, groups: list(g) })
}

fn arb_routes() -> impl Strategy<Value = Routes> {
    (any::<u32>(), vec(arb_route(), 0..5))
        .prop_map(|(request_id, r)| Routes { request_id, routes: list(r) })
}

fn arb_stats() -> impl Strategy<Value = Stats> {
    (any::<u32>(), vec(arb_counter(), 0..8))
        .prop_map(|(request_id, c)| Stats { request_id, counters: list(c) })
}

fn arb_event() -> impl Strategy<Value = AdminEvent> {
    prop_oneof![
        arb_member().prop_map(AdminEvent::PeerUp),
        arb_member().prop_map(AdminEvent::PeerUpdated),
        (arb_node_id(), 0u8..=3, arb_text()).prop_map(|(node_id, r, name)| {
            AdminEvent::PeerDown { node_id, reason: DownReason::from_u8(r).unwrap(), name }
        }),
        (arb_node_id(), arb_text())
            .prop_map(|(node_id, group)| AdminEvent::Joined { node_id, group }),
        (arb_node_id(), arb_text())
            .prop_map(|(node_id, group)| AdminEvent::Left { node_id, group }),
        (arb_node_id(), arb_mode(), proptest::option::of(arb_text()), arb_payload()).prop_map(
            |(from, mode, group, payload)| AdminEvent::Message { from, mode, group, payload }
        ),
    ]
}

/// Any admin message.
fn arb_message() -> BoxedStrategy<AdminMessage> {
    let id = any::<u32>;
    prop_oneof![
        id().prop_map(|request_id| MembersRequest { request_id }.into()),
        arb_members().prop_map(AdminMessage::from),
        id().prop_map(|request_id| GroupsRequest { request_id }.into()),
        arb_groups().prop_map(AdminMessage::from),
        id().prop_map(|request_id| RoutesRequest { request_id }.into()),
        arb_routes().prop_map(AdminMessage::from),
        id().prop_map(|request_id| StatsRequest { request_id }.into()),
        arb_stats().prop_map(AdminMessage::from),
        (id(), arb_mode(), arb_text(), arb_payload()).prop_map(
            |(request_id, mode, target, payload)| {
                SendRequest { request_id, mode, target, payload }.into()
            }
        ),
        (id(), 0u8..=9, arb_text()).prop_map(|(request_id, s, detail)| {
            AdminResult { request_id, status: Status::from_u8(s).unwrap(), detail }.into()
        }),
        (id(), arb_mode(), arb_text(), arb_payload()).prop_map(
            |(request_id, mode, group, payload)| {
                ShoutRequest { request_id, mode, group, payload }.into()
            }
        ),
        (id(), arb_text()).prop_map(|(request_id, group)| JoinRequest { request_id, group }.into()),
        (id(), arb_text())
            .prop_map(|(request_id, group)| LeaveRequest { request_id, group }.into()),
        (id(), any::<u16>(), arb_text()).prop_map(|(request_id, count, target)| PingRequest {
            request_id,
            count,
            target
        }
        .into()),
        (id(), arb_node_id(), any::<u16>(), any::<u32>()).prop_map(
            |(request_id, target, sequence, rtt_us)| {
                PingReply { request_id, target, sequence, rtt_us }.into()
            }
        ),
        (id(), 0..=EventMask::ALL.bits()).prop_map(|(request_id, bits)| {
            SubscribeRequest { request_id, events: EventMask::from_bits(bits).unwrap() }.into()
        }),
        (id(), arb_event()).prop_map(|(request_id, event)| Event { request_id, event }.into()),
        id().prop_map(|request_id| MembersTrafficRequest { request_id }.into()),
        figures::arb_members_traffic().prop_map(AdminMessage::from),
        id().prop_map(|request_id| LinksRequest { request_id }.into()),
        figures::arb_links().prop_map(AdminMessage::from),
    ]
    .boxed()
}

// ------------------------------------------------------------------ checks

/// `frame` with the header's length set to its actual length.
fn with_len(frame: &[u8]) -> Bytes {
    let mut v = frame.to_vec();
    if v.len() >= HEADER_LEN {
        let len = v.len() as u32;
        v[6..10].copy_from_slice(&len.to_be_bytes());
    }
    Bytes::from(v)
}

/// Round trip through `ControlFrame` and `Body`, exact `emit` size, and every
/// strict prefix refused without panicking, both as is (the header length
/// disagrees) and with the header fixed up (the body parser sees a short
/// body). A body ending in a payload of `payload` bytes accepts the
/// prefixes that only shorten the payload, and a trailing byte; any other
/// body refuses both.
pub(super) fn check<T>(m: &T, payload: Option<usize>)
where
    T: Body + Clone + Debug + PartialEq + Into<AdminMessage>,
{
    let bytes = m.to_bytes().unwrap();
    let len = m.buffer_len();
    assert_eq!(bytes.len(), len);
    let mut buf = alloc::vec![0xa5u8; len + 9];
    assert_eq!(m.emit(&mut buf).unwrap(), len);
    assert!(buf[len..].iter().all(|&b| b == 0xa5), "emit wrote past buffer_len");
    assert_eq!(&buf[..len], &bytes[..]);
    assert!(matches!(m.emit(&mut buf[..len - 1]), Err(Error::BufferTooSmall { .. })));

    let frame = ControlFrame::new(ControlMessage::Admin(m.clone().into()));
    assert_eq!(frame.buffer_len(), len);
    assert_eq!(frame.to_bytes().unwrap(), bytes);
    assert_eq!(ControlFrame::parse(&bytes).unwrap(), frame);
    assert_eq!(&T::parse(&bytes).unwrap(), m);

    let payload_start = payload.map(|p| len - p);
    for n in 0..len {
        assert!(ControlFrame::parse(&bytes.slice(..n)).is_err());
        let got = ControlFrame::parse(&with_len(&bytes[..n]));
        match payload_start {
            Some(start) if n >= start => assert!(got.is_ok(), "prefix {n}: {got:?}"),
            _ => assert!(got.is_err(), "prefix {n} of {len} parsed: {got:?}"),
        }
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    let got = ControlFrame::parse(&with_len(&longer));
    assert_eq!(got.is_ok(), payload.is_some(), "trailing byte: {got:?}");
}

fn event_payload(e: &AdminEvent) -> Option<usize> {
    match e {
        AdminEvent::Message { payload, .. } => Some(payload.len()),
        _ => None,
    }
}

proptest! {
    #[test]
    fn members_request(request_id in any::<u32>()) {
        check(&MembersRequest { request_id }, None);
    }

    #[test]
    fn groups_request(request_id in any::<u32>()) {
        check(&GroupsRequest { request_id }, None);
    }

    #[test]
    fn routes_request(request_id in any::<u32>()) {
        check(&RoutesRequest { request_id }, None);
    }

    #[test]
    fn stats_request(request_id in any::<u32>()) {
        check(&StatsRequest { request_id }, None);
    }

    #[test]
    fn members(m in arb_members()) {
        check(&m, None);
        let records: Vec<MemberRecord> = m.members.iter().collect();
        prop_assert_eq!(records.len(), m.members.len());
        prop_assert_eq!(list(records), m.members);
    }

    #[test]
    fn groups(m in arb_groups()) {
        check(&m, None);
        prop_assert_eq!(list(m.groups.iter().collect()), m.groups);
    }

    #[test]
    fn routes(m in arb_routes()) {
        check(&m, None);
        prop_assert_eq!(list(m.routes.iter().collect()), m.routes);
    }

    #[test]
    fn stats(m in arb_stats()) {
        check(&m, None);
        prop_assert_eq!(list(m.counters.iter().collect()), m.counters);
    }

    #[test]
    fn send(request_id in any::<u32>(), mode in arb_mode(), target in arb_text(), payload in arb_payload()) {
        let m = SendRequest { request_id, mode, target, payload };
        check(&m, Some(m.payload.len()));
    }

    #[test]
    fn shout(request_id in any::<u32>(), mode in arb_mode(), group in arb_text(), payload in arb_payload()) {
        let m = ShoutRequest { request_id, mode, group, payload };
        check(&m, Some(m.payload.len()));
    }

    #[test]
    fn join(request_id in any::<u32>(), group in arb_text()) {
        check(&JoinRequest { request_id, group }, None);
    }

    #[test]
    fn leave(request_id in any::<u32>(), group in arb_text()) {
        check(&LeaveRequest { request_id, group }, None);
    }

    #[test]
    fn ping(request_id in any::<u32>(), count in any::<u16>(), target in arb_text()) {
        check(&PingRequest { request_id, count, target }, None);
    }

    #[test]
    fn subscribe(request_id in any::<u32>(), bits in 0..=EventMask::ALL.bits()) {
        let events = EventMask::from_bits(bits).unwrap();
        check(&SubscribeRequest { request_id, events }, None);
    }

    #[test]
    fn result(request_id in any::<u32>(), status in 0u8..=9, detail in arb_text()) {
        let status = Status::from_u8(status).unwrap();
        check(&AdminResult { request_id, status, detail }, None);
    }

    #[test]
    fn ping_reply(request_id in any::<u32>(), target in arb_node_id(), sequence in any::<u16>(), rtt_us in any::<u32>()) {
        check(&PingReply { request_id, target, sequence, rtt_us }, None);
    }

    #[test]
    fn event(request_id in any::<u32>(), event in arb_event()) {
        let payload = event_payload(&event);
        let m = Event { request_id, event };
        check(&m, payload);
        prop_assert_eq!(AdminMessage::from(m.clone()).request_id(), request_id);
    }

    /// Corrupted frames never panic, and whatever still parses is
    /// canonical: it re-emits byte for byte.
    #[test]
    fn corrupted_frames_parse_canonically(
        m in arb_message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut v = ControlFrame::new(m).to_bytes().unwrap().to_vec();
        for (at, b) in edits {
            let i = HEADER_LEN + at.index(v.len() - HEADER_LEN);
            v[i] = b;
        }
        let bytes = Bytes::from(v);
        if let Ok(f) = ControlFrame::parse(&bytes) {
            prop_assert_eq!(f.to_bytes().unwrap(), bytes);
        }
    }

    #[test]
    fn listing_count_over_max_entries_is_oversized(
        members in vec(arb_member(), 1..4),
        groups in vec(arb_group(), 1..4),
        routes in vec(arb_route(), 1..4),
        counters in vec(arb_counter(), 1..4),
    ) {
        fn over<T: Body>(m: &T, n: usize, field: &'static str) {
            let limits = Limits { max_entries: n - 1, ..Limits::DEFAULT };
            assert_eq!(
                ControlFrame::parse_with(&m.to_bytes().unwrap(), &limits),
                Err(Error::Oversized { field, len: n, max: n - 1 })
            );
        }
        over(&Members { request_id: 1, members: list(members.clone()) }, members.len(), "member_count");
        over(&Groups { request_id: 1, groups: list(groups.clone()) }, groups.len(), "group_count");
        over(&Routes { request_id: 1, routes: list(routes.clone()) }, routes.len(), "route_count");
        over(&Stats { request_id: 1, counters: list(counters.clone()) }, counters.len(), "counter_count");
    }

    #[test]
    fn group_member_count_over_max_entries_is_oversized(
        g in arb_group(),
        count in (Limits::DEFAULT.max_entries as u32 + 1)..=u32::MAX,
    ) {
        let mut v = Groups { request_id: 7, groups: list(alloc::vec![g]) }.to_bytes().unwrap().to_vec();
        let at = HEADER_LEN + groups_field::FIXED_LEN + group::MEMBER_COUNT;
        v[at..at + 4].copy_from_slice(&count.to_be_bytes());
        prop_assert_eq!(
            ControlFrame::parse(&Bytes::from(v)),
            Err(Error::Oversized { field: "member_count", len: count as usize, max: Limits::DEFAULT.max_entries })
        );
    }

    #[test]
    fn route_hops_over_max_route_is_oversized(
        r in arb_route(),
        hops in (Limits::DEFAULT.max_route as u8 + 1)..=u8::MAX,
    ) {
        let mut v = Routes { request_id: 7, routes: list(alloc::vec![r]) }.to_bytes().unwrap().to_vec();
        v[HEADER_LEN + routes_field::FIXED_LEN + route::HOPS] = hops;
        prop_assert_eq!(
            ControlFrame::parse(&Bytes::from(v)),
            Err(Error::Oversized { field: "hops", len: hops as usize, max: Limits::DEFAULT.max_route })
        );
    }
}

// -------------------------------------------------------------- unit tests

pub(super) fn sample_member(groups: &[&str], headers: &[(&str, &str)]) -> MemberRecord {
    MemberRecord {
        node_id: NodeId([3; 16]),
        incarnation: 9,
        state: NodeState::Ready,
        hops: 1,
        link_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), 7946),
        name: ByteString::from_static("web-1"),
        groups: StrList::from_names(groups).unwrap(),
        headers: HeaderList::from_pairs(headers.iter().copied()).unwrap(),
    }
}

#[test]
fn member_record_limits() {
    let m = Members {
        request_id: 1,
        members: list(alloc::vec![sample_member(&["a", "b"], &[("role", "db")])]),
    };
    let bytes = m.to_bytes().unwrap();
    let strict = |f: fn(&mut Limits)| {
        let mut l = Limits::DEFAULT;
        f(&mut l);
        ControlFrame::parse_with(&bytes, &l)
    };
    assert_eq!(
        strict(|l| l.max_groups = 1),
        Err(Error::Oversized { field: "groups", len: 2, max: 1 })
    );
    assert_eq!(strict(|l| l.max_name = 4), Err(Error::Oversized { field: "name", len: 5, max: 4 }));
    assert!(matches!(
        strict(|l| l.max_headers = 4),
        Err(Error::Oversized { field: "headers", .. })
    ));
    assert!(ControlFrame::parse(&bytes).is_ok());
}

#[test]
fn names_over_max_name_are_oversized() {
    let limits = Limits { max_name: 3, ..Limits::DEFAULT };
    let send = SendRequest {
        request_id: 1,
        mode: DeliveryMode::Reliable,
        target: ByteString::from_static("node"),
        payload: Bytes::from_static(b"hi"),
    };
    assert_eq!(
        ControlFrame::parse_with(&send.to_bytes().unwrap(), &limits),
        Err(Error::Oversized { field: "target", len: 4, max: 3 })
    );
    let join = JoinRequest { request_id: 1, group: ByteString::from_static("chat") };
    assert_eq!(
        ControlFrame::parse_with(&join.to_bytes().unwrap(), &limits),
        Err(Error::Oversized { field: "group", len: 4, max: 3 })
    );
}

#[test]
fn emit_refuses_what_does_not_fit() {
    let long = ByteString::from(String::from_utf8(alloc::vec![b'x'; 256]).unwrap());
    let send = SendRequest {
        request_id: 1,
        mode: DeliveryMode::Datagram,
        target: long,
        payload: Bytes::new(),
    };
    assert_eq!(send.to_bytes(), Err(Error::Oversized { field: "target", len: 256, max: 255 }));

    let ids: Vec<NodeId> = (0..256u32).map(|i| NodeId([i as u8; 16])).collect();
    let route = RouteRecord {
        destination: NodeId([1; 16]),
        next_hop: NodeId([2; 16]),
        cost: 1,
        path: FixedList::from_entries(&ids),
    };
    assert_eq!(
        VarList::<RouteRecord>::from_records([route]),
        Err(Error::Oversized { field: "hops", len: 256, max: 255 })
    );

    let counters = list(
        (0..=u16::MAX as usize).map(|_| Counter { name: ByteString::new(), value: 0 }).collect(),
    );
    let stats = Stats { request_id: 1, counters };
    assert_eq!(
        stats.to_bytes(),
        Err(Error::Oversized { field: "counter_count", len: 65_536, max: 65_535 })
    );
}

#[test]
fn bad_enum_values_are_malformed() {
    fn patched<T: Body>(m: &T, at: usize, value: u8) -> Result<ControlFrame> {
        let mut v = m.to_bytes().unwrap().to_vec();
        v[HEADER_LEN + at] = value;
        ControlFrame::parse(&Bytes::from(v))
    }
    let send = SendRequest {
        request_id: 1,
        mode: DeliveryMode::Stream,
        target: ByteString::from_static("n"),
        payload: Bytes::new(),
    };
    assert_eq!(patched(&send, requests::send::MODE, 4), Err(Error::Malformed { field: "mode" }));

    let res = AdminResult { request_id: 1, status: Status::Ok, detail: ByteString::new() };
    assert_eq!(
        patched(&res, responses::result::STATUS, 10),
        Err(Error::Malformed { field: "status" })
    );

    let sub = SubscribeRequest { request_id: 1, events: EventMask::ALL };
    assert_eq!(
        patched(&sub, requests::subscribe::EVENT_MASK + 3, 0x40),
        Err(Error::Malformed { field: "event_mask" })
    );

    let ev = Event {
        request_id: 1,
        event: AdminEvent::Message {
            from: NodeId([1; 16]),
            mode: DeliveryMode::Datagram,
            group: None,
            payload: Bytes::from_static(b"x"),
        },
    };
    assert_eq!(patched(&ev, event_field::KIND, 6), Err(Error::Malformed { field: "kind" }));
    assert_eq!(
        patched(&ev, event_field::FIXED_LEN + event::message::HAS_GROUP, 2),
        Err(Error::Malformed { field: "has_group" })
    );

    let down = Event {
        request_id: 1,
        event: AdminEvent::PeerDown {
            node_id: NodeId([1; 16]),
            reason: DownReason::TimedOut,
            name: ByteString::new(),
        },
    };
    assert_eq!(
        patched(&down, event_field::FIXED_LEN + event::peer_down::REASON, 5),
        Err(Error::Malformed { field: "reason" })
    );

    let up = Event { request_id: 1, event: AdminEvent::PeerUp(sample_member(&[], &[])) };
    assert_eq!(
        patched(&up, event_field::FIXED_LEN + records::member::STATE, 5),
        Err(Error::Malformed { field: "state" })
    );
}

#[test]
fn parsing_is_zero_copy() {
    let m = SendRequest {
        request_id: 5,
        mode: DeliveryMode::Sequenced,
        target: ByteString::from_static("db-2"),
        payload: Bytes::from_static(b"hello"),
    };
    let bytes = m.to_bytes().unwrap();
    let parsed = SendRequest::parse(&bytes).unwrap();
    let range = bytes.as_ptr_range();
    assert!(range.contains(&parsed.payload.as_ptr()));
    assert!(range.contains(&parsed.target.as_bytes().as_ptr()));
}

#[test]
fn message_types_and_request_ids() {
    let msgs: Vec<AdminMessage> = alloc::vec![
        MembersRequest { request_id: 1 }.into(),
        GroupsRequest { request_id: 1 }.into(),
        RoutesRequest { request_id: 1 }.into(),
        StatsRequest { request_id: 1 }.into(),
        JoinRequest { request_id: 1, group: ByteString::new() }.into(),
        SubscribeRequest { request_id: 1, events: EventMask::NONE.with(EventKind::Message) }.into(),
        AdminResult { request_id: 1, status: Status::NotSubscribed, detail: ByteString::new() }
            .into(),
    ];
    let mut seen = Vec::new();
    for m in &msgs {
        assert_eq!(m.request_id(), 1);
        assert_eq!(m.is_request(), !matches!(m, AdminMessage::Result(_)));
        assert!(!seen.contains(&m.msg_type()));
        seen.push(m.msg_type());
    }
    let mask: EventMask = [EventKind::PeerUp, EventKind::Left].into_iter().collect();
    assert_eq!(mask.bits(), 0b1_0001);
    assert!(mask.contains(EventKind::Left) && !mask.contains(EventKind::Joined));
    assert_eq!(EventMask::ALL.bits(), 0x3f);
}

#[test]
fn debug_lists_records() {
    let m = Stats {
        request_id: 1,
        counters: list(alloc::vec![Counter {
            name: ByteString::from_static("links_open"),
            value: 3
        }]),
    };
    let s = alloc::format!("{m:?}");
    assert!(s.contains("links_open"), "{s}");
    assert_eq!(m.get("links_open"), Some(3));
    assert_eq!(m.get("nope"), None);
}
