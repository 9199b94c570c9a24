//! Discovery sub-protocol (id 1): UDP beacons on a multicast group or
//! broadcast address.
//!
//! BEACON, SEARCH and NOTIFY share one body, the announcement ("this is me"):
//! BEACON is sent periodically to the group, SEARCH once at start to the group
//! ("who is here? this is me"), NOTIFY as the unicast answer to a SEARCH ("I
//! am here, this is me"). A NOTIFY is never answered.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     cluster_hash (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      incarnation (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        sequence (u32)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       interval_ms (u32)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       peer_count (u16)        |     state     |  range_count  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    family     |           port (u16)          | address ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | ranges: range_count x (protocol u8, min u8, max u8)       ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::SocketAddr;

use bytes::Bytes;

use super::codec::{wire_view, Reader, Writer};
use super::error::Result;
use super::header::Protocol;
use super::lists::{FixedEntry, VersionRanges};
use super::types::{addr_len, decode_addr, encode_addr, Limits, NodeId, NodeState};
use super::{protocol_messages, Body};

wire_view! {
    /// Zero-copy view of the fixed part of an announcement body.
    pub struct AnnounceView;
    pub mod field;
    fixed_len = 44;
    /// `node_id`: the sender's id.
    node_id, set_node_id, NODE_ID: NodeId = 0;
    /// `cluster_hash`: FNV-1a 64 of the cluster name.
    cluster_hash, set_cluster_hash, CLUSTER_HASH: u64 = 16;
    /// `incarnation`: grows each time the node restarts.
    incarnation, set_incarnation, INCARNATION: u64 = 24;
    /// `sequence`: counts the sender's discovery messages.
    sequence, set_sequence, SEQUENCE: u32 = 32;
    /// `interval_ms`: longest gap before the sender's next beacon, 0 if none
    /// is scheduled.
    interval_ms, set_interval_ms, INTERVAL_MS: u32 = 36;
    /// `peer_count`: peers the sender hears on this segment.
    peer_count, set_peer_count, PEER_COUNT: u16 = 40;
    /// `state`: the sender's node state.
    state, set_state, STATE: u8 = 42;
    /// `range_count`: entries in `ranges`.
    range_count, set_range_count, RANGE_COUNT: u8 = 43;
}

/// The body shared by BEACON, SEARCH and NOTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announce {
    /// The sender's node id.
    pub node_id: NodeId,
    /// Hash of the cluster name ([`cluster_hash`](super::cluster_hash)).
    pub cluster_hash: u64,
    /// Grows on each restart; a higher incarnation replaces the old entry.
    pub incarnation: u64,
    /// Counts the sender's discovery messages (loss estimation, replay).
    pub sequence: u32,
    /// Longest gap before the sender's next beacon (0: none scheduled).
    pub interval_ms: u32,
    /// Peers the sender hears on this segment (lets beacon schedules adapt
    /// to the segment's size).
    pub peer_count: u16,
    /// The sender's state.
    pub state: NodeState,
    /// Where the sender accepts links; an unspecified IP means "the source
    /// address of this datagram".
    pub link_addr: SocketAddr,
    /// Versions offered for each sub-protocol.
    pub ranges: VersionRanges,
}

impl Announce {
    fn parse(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = AnnounceView::new_checked(&body[..])?;
        let mut r = Reader::new(body, field::FIXED_LEN, body.len());
        let link_addr = decode_addr(&mut r, "link_addr")?;
        let ranges = VersionRanges::parse(&mut r, v.range_count() as usize, 255, "ranges")?;
        r.finish("announce")?;
        let _ = limits;
        Ok(Announce {
            node_id: v.node_id(),
            cluster_hash: v.cluster_hash(),
            incarnation: v.incarnation(),
            sequence: v.sequence(),
            interval_ms: v.interval_ms(),
            peer_count: v.peer_count(),
            state: NodeState::from_u8(v.state())?,
            link_addr,
            ranges,
        })
    }

    fn body_len(&self) -> usize {
        field::FIXED_LEN + addr_len(&self.link_addr) + self.ranges.len() * 3
    }

    fn emit(&self, out: &mut [u8]) -> Result<()> {
        super::codec::check_len("range_count", self.ranges.len(), 255)?;
        let mut v = AnnounceView::new_checked(&mut out[..])?;
        v.set_node_id(self.node_id);
        v.set_cluster_hash(self.cluster_hash);
        v.set_incarnation(self.incarnation);
        v.set_sequence(self.sequence);
        v.set_interval_ms(self.interval_ms);
        v.set_peer_count(self.peer_count);
        v.set_state(self.state as u8);
        v.set_range_count(self.ranges.len() as u8);
        let mut w = Writer::new(out);
        w.skip(field::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        w.put(self.ranges.as_bytes());
        Ok(())
    }
}

macro_rules! announce_message {
    ($(#[$meta:meta])* $name:ident = $code:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(pub Announce);

        impl Body for $name {
            const PROTOCOL: Protocol = Protocol::Discovery;
            const MSG_TYPE: u8 = $code;
            fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
                Announce::parse(body, limits).map($name)
            }
            fn body_len(&self) -> usize {
                self.0.body_len()
            }
            fn emit_body(&self, out: &mut [u8]) -> Result<()> {
                self.0.emit(out)
            }
        }
    };
}

announce_message! {
    /// BEACON (type 1): periodic announcement to the beacon group. A beacon
    /// with state EXIT is sent on shutdown so peers drop the node at once.
    Beacon = 1
}
announce_message! {
    /// SEARCH (type 2): "who is here? this is me", sent at start.
    Search = 2
}
announce_message! {
    /// NOTIFY (type 3): "I am here, this is me", the unicast answer to a
    /// SEARCH, after a random delay. Never answered.
    Notify = 3
}

protocol_messages! {
    /// Any discovery message.
    pub enum DiscoveryMessage(Protocol::Discovery) {
        /// Periodic announcement.
        Beacon(Beacon),
        /// Start-up query.
        Search(Search),
        /// Answer to a query.
        Notify(Notify),
    }
}

impl DiscoveryMessage {
    /// The announcement every discovery message carries.
    pub fn announce(&self) -> &Announce {
        match self {
            DiscoveryMessage::Beacon(m) => &m.0,
            DiscoveryMessage::Search(m) => &m.0,
            DiscoveryMessage::Notify(m) => &m.0,
        }
    }
}

const _: () = assert!(<super::lists::ProtoRange as FixedEntry>::SIZE == 3);

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::wire::testutil::*;
    use crate::wire::{Frame, Message};

    fn announce() -> impl Strategy<Value = Announce> {
        (
            node_id(),
            any::<u64>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            state(),
            addr(),
            ranges(),
        )
            .prop_map(
                |(
                    node_id,
                    cluster_hash,
                    incarnation,
                    sequence,
                    interval_ms,
                    peer_count,
                    state,
                    link_addr,
                    ranges,
                )| {
                    Announce {
                        node_id,
                        cluster_hash,
                        incarnation,
                        sequence,
                        interval_ms,
                        peer_count,
                        state,
                        link_addr,
                        ranges,
                    }
                },
            )
    }

    fn disc(m: impl Into<DiscoveryMessage>) -> Message {
        Message::Discovery(m.into())
    }

    proptest! {
        #[test]
        fn beacon_roundtrip(a in announce()) {
            check_roundtrip(Beacon(a), disc);
        }

        #[test]
        fn search_roundtrip(a in announce()) {
            check_roundtrip(Search(a), disc);
        }

        #[test]
        fn notify_roundtrip(a in announce()) {
            check_roundtrip(Notify(a), disc);
        }
    }

    #[test]
    fn unknown_state_and_family_are_malformed() {
        let a = Announce {
            node_id: NodeId([1; 16]),
            cluster_hash: 2,
            incarnation: 3,
            sequence: 4,
            interval_ms: 1000,
            peer_count: 0,
            state: NodeState::Ready,
            link_addr: "127.0.0.1:1".parse().unwrap(),
            ranges: VersionRanges::supported(),
        };
        let good = Beacon(a).to_bytes().unwrap();
        let mut bad = good.to_vec();
        bad[crate::wire::HEADER_LEN + field::STATE] = 9;
        assert_eq!(
            Frame::parse(&Bytes::from(bad)),
            Err(crate::wire::Error::Malformed { field: "state" })
        );
        let mut bad = good.to_vec();
        bad[crate::wire::HEADER_LEN + field::FIXED_LEN] = 5;
        assert_eq!(
            Frame::parse(&Bytes::from(bad)),
            Err(crate::wire::Error::Malformed { field: "link_addr" })
        );
    }
}
