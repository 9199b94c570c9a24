//! Proptest strategies for the shared field types, and the round-trip
//! checks every message's property test runs.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Debug;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use bytestring::ByteString;
use proptest::prelude::*;

use super::header::VersionRange;
use super::{
    Body, Frame, HeaderList, Message, NodeId, NodeState, ProtoRange, StrList, VersionRanges,
};

pub(crate) fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 16]>().prop_map(NodeId)
}

pub(crate) fn state() -> impl Strategy<Value = NodeState> {
    (0u8..5).prop_map(|v| NodeState::from_u8(v).unwrap())
}

pub(crate) fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}

/// UTF-8 text of at most `max` bytes (multi-byte characters included).
pub(crate) fn text(max: usize) -> impl Strategy<Value = ByteString> {
    proptest::collection::vec(any::<char>(), 0..24).prop_map(move |cs| {
        let mut s = String::new();
        for c in cs {
            if s.len() + c.len_utf8() > max {
                break;
            }
            s.push(c);
        }
        ByteString::from(s)
    })
}

pub(crate) fn name() -> impl Strategy<Value = ByteString> {
    text(255)
}

pub(crate) fn ranges() -> impl Strategy<Value = VersionRanges> {
    proptest::collection::vec((any::<u8>(), 1u8..=255, 0u8..=254), 0..6).prop_map(|v| {
        let entries: Vec<ProtoRange> = v
            .into_iter()
            .map(|(p, min, span)| ProtoRange {
                protocol: p,
                range: VersionRange::new(min, min.saturating_add(span)),
            })
            .collect();
        VersionRanges::from_entries(entries.iter())
    })
}

pub(crate) fn groups() -> impl Strategy<Value = StrList> {
    proptest::collection::vec(text(40), 0..6).prop_map(|v| StrList::from_names(v).unwrap())
}

pub(crate) fn headers() -> impl Strategy<Value = HeaderList> {
    proptest::collection::vec((text(30), text(60)), 0..5)
        .prop_map(|v| HeaderList::from_pairs(v).unwrap())
}

pub(crate) fn payload(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

/// Emits `msg` as a frame and checks everything the wire contract promises:
/// the size is exactly `buffer_len()`, bytes past it are untouched, the frame
/// parses back to the same value (as a frame and as the message type), and
/// every strict prefix fails cleanly.
pub(crate) fn check_roundtrip<M>(msg: M, wrap: impl Fn(M) -> Message)
where
    M: Body + Clone + PartialEq + Debug,
{
    let len = msg.buffer_len();
    let mut buf = alloc::vec![0xa5u8; len + 7];
    assert_eq!(msg.emit(&mut buf).unwrap(), len);
    assert!(buf[len..].iter().all(|&b| b == 0xa5), "emit wrote past buffer_len");
    let bytes = Bytes::copy_from_slice(&buf[..len]);
    assert_eq!(M::parse(&bytes).unwrap(), msg);

    let mut small = alloc::vec![0u8; len - 1];
    assert!(matches!(msg.emit(&mut small), Err(super::Error::BufferTooSmall { .. })));

    let frame = Frame::new(wrap(msg));
    assert_eq!(frame.buffer_len(), len);
    let again = frame.to_bytes().unwrap();
    assert_eq!(again, bytes);
    assert_eq!(Frame::parse(&again).unwrap(), frame);
    for cut in 0..len {
        assert!(Frame::parse(&bytes.slice(..cut)).is_err(), "prefix of {cut} bytes parsed");
    }
}
