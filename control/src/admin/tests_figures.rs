//! Tests of the traffic and link listings (MEMBERS_TRAFFIC, LINKS): round
//! trips, bounds, and the values a record must refuse so that each record
//! has one encoding.

use alloc::vec::Vec;

use bytes::Bytes;
use netcluster_core::wire::{Body, Error, Limits, NodeId, HEADER_LEN};
use proptest::collection::vec;
use proptest::prelude::*;

use super::records::{self, link, member_traffic};
use super::responses::{links as links_field, members_traffic as members_traffic_field};
use super::tests::{arb_member, check, list};
use super::*;
use crate::testutil::{addr as arb_addr, node_id as arb_node_id};
use crate::ControlFrame;

/// A measured round trip: anything but the "not measured" value.
fn arb_us() -> impl Strategy<Value = Option<u32>> {
    proptest::option::of(0..NOT_MEASURED)
}

fn arb_traffic_member() -> impl Strategy<Value = MemberTrafficRecord> {
    (any::<[u64; 4]>(), arb_us(), arb_member()).prop_map(|(r, srtt_us, member)| {
        MemberTrafficRecord {
            traffic: TrafficFigures {
                rx_bytes_per_sec: r[0],
                tx_bytes_per_sec: r[1],
                rx_msgs_per_sec: r[2],
                tx_msgs_per_sec: r[3],
                srtt_us,
            },
            member,
        }
    })
}

fn arb_link() -> impl Strategy<Value = LinkRecord> {
    (
        (any::<u64>(), proptest::option::of(arb_node_id()), any::<bool>(), any::<bool>()),
        (any::<(bool, bool)>(), any::<u32>(), any::<[u64; 5]>(), arb_us(), arb_addr()),
    )
        .prop_map(
            |((link_id, peer, datagram, outgoing), ((up, encrypted), frames, q, rtt_us, addr))| {
                LinkRecord {
                    link_id,
                    peer,
                    kind: if datagram { LinkKind::Datagram } else { LinkKind::Stream },
                    outgoing,
                    up,
                    encrypted,
                    queued_frames: frames,
                    queued_bytes: q[0],
                    queued_data_bytes: q[1],
                    peak_bytes: q[2],
                    dropped: q[3],
                    marked: q[4],
                    rtt_us,
                    addr,
                }
            },
        )
}

pub(super) fn arb_members_traffic() -> impl Strategy<Value = MembersTraffic> {
    (any::<u32>(), vec(arb_traffic_member(), 0..4))
        .prop_map(|(request_id, m)| MembersTraffic { request_id, members: list(m) })
}

pub(super) fn arb_links() -> impl Strategy<Value = Links> {
    (any::<u32>(), vec(arb_link(), 0..5))
        .prop_map(|(request_id, l)| Links { request_id, links: list(l) })
}

proptest! {
    #[test]
    fn members_traffic_request(request_id in any::<u32>()) {
        check(&MembersTrafficRequest { request_id }, None);
    }

    #[test]
    fn links_request(request_id in any::<u32>()) {
        check(&LinksRequest { request_id }, None);
    }

    #[test]
    fn members_traffic(m in arb_members_traffic()) {
        check(&m, None);
        let records: Vec<MemberTrafficRecord> = m.members.iter().collect();
        prop_assert_eq!(list(records), m.members);
    }

    #[test]
    fn links(m in arb_links()) {
        check(&m, None);
        prop_assert_eq!(list(m.links.iter().collect()), m.links);
    }

    #[test]
    fn counts_over_max_entries_are_oversized(
        members in vec(arb_traffic_member(), 1..4),
        links in vec(arb_link(), 1..4),
    ) {
        fn over<T: Body>(m: &T, n: usize, field: &'static str) {
            let limits = Limits { max_entries: n - 1, ..Limits::DEFAULT };
            assert_eq!(
                ControlFrame::parse_with(&m.to_bytes().unwrap(), &limits),
                Err(Error::Oversized { field, len: n, max: n - 1 })
            );
        }
        let n = members.len();
        over(&MembersTraffic { request_id: 1, members: list(members) }, n, "member_count");
        let n = links.len();
        over(&Links { request_id: 1, links: list(links) }, n, "link_count");
    }
}

fn sample_link() -> LinkRecord {
    LinkRecord {
        link_id: 3,
        peer: Some(NodeId([2; 16])),
        kind: LinkKind::Stream,
        outgoing: true,
        up: true,
        encrypted: true,
        queued_frames: 1,
        queued_bytes: 100,
        queued_data_bytes: 90,
        peak_bytes: 4000,
        dropped: 2,
        marked: 5,
        rtt_us: Some(250),
        addr: "192.0.2.2:7400".parse().unwrap(),
    }
}

fn one_link(l: LinkRecord) -> Links {
    Links { request_id: 1, links: list(alloc::vec![l]) }
}

/// The LINKS frame of `l` with the record's byte `at` set to `value`.
fn patched_link(
    l: LinkRecord,
    at: usize,
    value: u8,
) -> netcluster_core::wire::Result<ControlFrame> {
    let mut v = one_link(l).to_bytes().unwrap().to_vec();
    v[HEADER_LEN + links_field::FIXED_LEN + at] = value;
    ControlFrame::parse(&Bytes::from(v))
}

#[test]
fn link_records_have_one_encoding() {
    let l = sample_link();
    assert_eq!(patched_link(l.clone(), link::KIND, 2), Err(Error::Malformed { field: "kind" }));
    assert_eq!(
        patched_link(l.clone(), link::LINK_FLAGS, 0x10 | 0x0f),
        Err(Error::Malformed { field: "link_flags" })
    );
    // Without "peer known", the peer must be all zeros.
    let anon = LinkRecord { peer: None, ..l.clone() };
    assert!(patched_link(anon.clone(), link::PEER, 0).is_ok());
    assert_eq!(patched_link(anon, link::PEER, 1), Err(Error::Malformed { field: "peer" }));
    // The flags and the "not measured" value read back as set.
    let bytes = one_link(l.clone()).to_bytes().unwrap();
    let at = HEADER_LEN + links_field::FIXED_LEN;
    let all = records::LINK_OUTGOING | records::LINK_UP | 0x04 | records::LINK_ENCRYPTED;
    assert_eq!(bytes[at + link::LINK_FLAGS], all);
    let none = one_link(LinkRecord { rtt_us: None, ..l }).to_bytes().unwrap();
    assert_eq!(none[at + link::RTT_US..at + link::RTT_US + 4], [0xff; 4]);
}

#[test]
fn a_measured_value_cannot_say_not_measured() {
    let (len, max) = (NOT_MEASURED as usize, NOT_MEASURED as usize - 1);
    let l = LinkRecord { rtt_us: Some(NOT_MEASURED), ..sample_link() };
    let got = LinkList::from_records([l]);
    assert_eq!(got.err(), Some(Error::Oversized { field: "rtt_us", len, max }));
    let m = MemberTrafficRecord {
        traffic: TrafficFigures { srtt_us: Some(NOT_MEASURED), ..TrafficFigures::default() },
        member: super::tests::sample_member(&[], &[]),
    };
    let got = MemberTrafficList::from_records([m]);
    assert_eq!(got.err(), Some(Error::Oversized { field: "srtt_us", len, max }));
}

#[test]
fn a_member_traffic_record_is_the_figures_then_a_member_record() {
    let member = super::tests::sample_member(&["g"], &[("k", "v")]);
    let traffic = TrafficFigures {
        rx_bytes_per_sec: 1,
        tx_bytes_per_sec: 2,
        rx_msgs_per_sec: 3,
        tx_msgs_per_sec: 4,
        srtt_us: Some(1500),
    };
    let m = MembersTraffic {
        request_id: 9,
        members: list(alloc::vec![MemberTrafficRecord { traffic, member: member.clone() }]),
    };
    let plain = Members { request_id: 9, members: list(alloc::vec![member]) };
    let (ext, base) = (m.to_bytes().unwrap(), plain.to_bytes().unwrap());
    let fixed = HEADER_LEN + members_traffic_field::FIXED_LEN;
    assert_eq!(ext.len(), base.len() + member_traffic::FIXED_LEN);
    assert_eq!(
        ext[fixed + member_traffic::FIXED_LEN..],
        base[fixed..],
        "the member as MEMBERS has it"
    );
    assert_eq!(
        ext[fixed + member_traffic::SRTT_US..fixed + member_traffic::FIXED_LEN],
        1500u32.to_be_bytes()
    );
    // A truncated figures block is refused by name.
    let mut short = ext[..fixed + 10].to_vec();
    let len = short.len() as u32;
    short[6..10].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        ControlFrame::parse(&Bytes::from(short)),
        Err(Error::Truncated { field: "member_traffic" })
    );
}
