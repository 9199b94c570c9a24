//! Tracker sub-protocol (id 4): a rendezvous server reached over UDP, for
//! peers that multicast cannot find (other segments, clouds).
//!
//! A node sends REGISTER periodically (every `ttl_s / 3` or so); the tracker
//! keeps the entry for `ttl_s` seconds and answers with the first page of
//! PEERS. QUERY asks for any page of the listing without registering. PEERS
//! is never answered.
//!
//! | type | message  | direction        | answered by |
//! | ---- | -------- | ---------------- | ----------- |
//! | 1    | REGISTER | node → tracker   | PEERS (page 0), unless `ttl_s` is 0 |
//! | 2    | PEERS    | tracker → node   | nothing |
//! | 3    | QUERY    | node → tracker   | PEERS |
//!
//! Odd types go to the tracker, even types come from it.
//!
//! # Paging
//!
//! The tracker orders the entries of a cluster in a stable way (by node id)
//! and leaves out the asker (the `node_id` of the REGISTER or QUERY). A PEERS
//! reply holds the entries `offset .. offset + peer_count` of that listing,
//! where `peer_count` is at most the QUERY's `max` (0 means "as many as
//! fit"), at most [`MAX_PEERS_PER_REPLY`] and at most `total - offset`.
//! `total` is the size of the listing (entries for the cluster, the asker
//! excepted), so the asker has everything once `offset + peer_count >=
//! total`, and otherwise asks for the next page with `offset + peer_count`.
//! The listing may change between pages; a missed or repeated entry is
//! harmless because discovery is retried forever. A decoder rejects a PEERS
//! with `offset + peer_count > total`.
//!
//! # Size bound
//!
//! Every tracker datagram fits [`MAX_DATAGRAM`] (1200) bytes, so it crosses
//! any IPv6 path (minimum MTU 1280) unfragmented. A PEERS with
//! [`MAX_PEERS_PER_REPLY`] IPv6 entries, the header and room for the
//! authentication extensions ([`EXT_BUDGET`]) takes 10 + 83 + 13 + 24 × 43 =
//! 1138 bytes.
//!
//! # REGISTER (type 1)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     cluster_hash (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      incarnation (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          ttl_s (u16)          |    family     | port (u16) ...|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... port     |     address (4 or 16 bytes) ...               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! `family`, `port` and `address` form `link_addr` (see
//! [`types`](netcluster_core::wire::types)): family 4 or 6, then the port
//! and 4 or 16 address bytes.
//!
//! # QUERY (type 3)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     cluster_hash (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          offset (u16)         |           max (u16)           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! # PEERS (type 2)
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     cluster_hash (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          total (u16)          |          offset (u16)         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  peer_count   |  peers: peer_count x peer entry ...           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Peer entry (24 bytes, then `link_addr`, 7 or 19 bytes):
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                                                               |
//! +                       node_id (16 bytes)                      +
//! |                                                               |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      incarnation (u64)                        |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    family     |           port (u16)          | address ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::SocketAddr;

use bytes::Bytes;

use netcluster_core::wire::codec::{check_len, Reader, Writer};
use netcluster_core::wire::ext::MAX_AUTH_TAG;
use netcluster_core::wire::lists::{VarList, VarRecord};
use netcluster_core::wire::types::{addr_len, decode_addr, encode_addr};
use netcluster_core::wire::{Body, Error, Limits, NodeId, Protocol, Result, HEADER_LEN};
use netcluster_core::{protocol_messages, wire_view};

/// Largest tracker datagram, whole frame included: fits the IPv6 minimum
/// MTU (1280) less the IPv6 and UDP headers, with room to spare.
pub const MAX_DATAGRAM: usize = 1200;

/// Room kept in every tracker datagram for the extension block: `ext_len`,
/// a replay counter TLV (4 + 8 bytes) and the largest authentication tag TLV
/// (4 + 1 + [`MAX_AUTH_TAG`] bytes).
pub const EXT_BUDGET: usize = 2 + (4 + 8) + (4 + 1 + MAX_AUTH_TAG);

/// Largest encoded [`PeerEntry`]: 24 fixed bytes and an IPv6 `link_addr`.
pub const MAX_PEER_ENTRY_LEN: usize = peer::FIXED_LEN + 19;

/// Most entries in one PEERS: even all IPv6, with the extensions of
/// [`EXT_BUDGET`], the reply fits [`MAX_DATAGRAM`].
pub const MAX_PEERS_PER_REPLY: usize = 24;

const _: () = assert!(
    HEADER_LEN + EXT_BUDGET + peers::FIXED_LEN + MAX_PEERS_PER_REPLY * MAX_PEER_ENTRY_LEN
        <= MAX_DATAGRAM
);
const _: () = assert!(MAX_PEERS_PER_REPLY <= u8::MAX as usize);

wire_view! {
    /// Zero-copy view of the fixed part of a REGISTER body.
    pub struct RegisterView;
    pub mod register;
    fixed_len = 34;
    /// `cluster_hash`: FNV-1a 64 of the cluster name.
    cluster_hash, set_cluster_hash, CLUSTER_HASH: u64 = 0;
    /// `node_id`: the registering node.
    node_id, set_node_id, NODE_ID: NodeId = 8;
    /// `incarnation`: grows each time the node restarts.
    incarnation, set_incarnation, INCARNATION: u64 = 24;
    /// `ttl_s`: seconds the tracker keeps the entry; 0 removes it.
    ttl_s, set_ttl_s, TTL_S: u16 = 32;
}

/// REGISTER (type 1): "keep me listed for `ttl_s` seconds"; answered with
/// the first page of PEERS (unless `ttl_s` is 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Register {
    /// Hash of the cluster name
    /// ([`cluster_hash`](netcluster_core::wire::cluster_hash)).
    pub cluster_hash: u64,
    /// The registering node.
    pub node_id: NodeId,
    /// Grows on each restart; the tracker replaces an entry only with an
    /// equal or higher incarnation.
    pub incarnation: u64,
    /// Seconds the tracker keeps the entry (it may cap this to its own
    /// maximum). 0 removes the entry at once, sent on clean shutdown, and is
    /// not answered.
    pub ttl_s: u16,
    /// Where the node accepts links; an unspecified IP means "the source
    /// address of this datagram", which the tracker then lists instead.
    pub link_addr: SocketAddr,
}

impl Body for Register {
    const PROTOCOL: Protocol = Protocol::Tracker;
    const MSG_TYPE: u8 = 1;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = RegisterView::new_checked(&body[..])?;
        let mut r = Reader::new(body, register::FIXED_LEN, body.len());
        let link_addr = decode_addr(&mut r, "link_addr")?;
        r.finish("register")?;
        Ok(Register {
            cluster_hash: v.cluster_hash(),
            node_id: v.node_id(),
            incarnation: v.incarnation(),
            ttl_s: v.ttl_s(),
            link_addr,
        })
    }

    fn body_len(&self) -> usize {
        register::FIXED_LEN + addr_len(&self.link_addr)
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = RegisterView::new_checked(&mut out[..])?;
        v.set_cluster_hash(self.cluster_hash);
        v.set_node_id(self.node_id);
        v.set_incarnation(self.incarnation);
        v.set_ttl_s(self.ttl_s);
        let mut w = Writer::new(out);
        w.skip(register::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of a QUERY body (all of it is fixed).
    pub struct QueryView;
    pub mod query;
    fixed_len = 28;
    /// `cluster_hash`: FNV-1a 64 of the cluster name.
    cluster_hash, set_cluster_hash, CLUSTER_HASH: u64 = 0;
    /// `node_id`: the asker, left out of the answer.
    node_id, set_node_id, NODE_ID: NodeId = 8;
    /// `offset`: first entry of the listing wanted.
    offset, set_offset, OFFSET: u16 = 24;
    /// `max`: most entries wanted, 0 for as many as fit.
    max, set_max, MAX: u16 = 26;
}

/// QUERY (type 3): "who is in this cluster?", one page of the listing,
/// answered with PEERS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// Hash of the cluster name.
    pub cluster_hash: u64,
    /// The asker, left out of the listing.
    pub node_id: NodeId,
    /// First entry of the listing wanted (see the paging rule in the
    /// [module docs](self)).
    pub offset: u16,
    /// Most entries wanted; 0 means as many as fit. The tracker never sends
    /// more than [`MAX_PEERS_PER_REPLY`].
    pub max: u16,
}

impl Body for Query {
    const PROTOCOL: Protocol = Protocol::Tracker;
    const MSG_TYPE: u8 = 3;

    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = QueryView::new_checked(&body[..])?;
        Reader::new(body, query::FIXED_LEN, body.len()).finish("query")?;
        Ok(Query {
            cluster_hash: v.cluster_hash(),
            node_id: v.node_id(),
            offset: v.offset(),
            max: v.max(),
        })
    }

    fn body_len(&self) -> usize {
        query::FIXED_LEN
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = QueryView::new_checked(&mut out[..])?;
        v.set_cluster_hash(self.cluster_hash);
        v.set_node_id(self.node_id);
        v.set_offset(self.offset);
        v.set_max(self.max);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a peer entry.
    pub struct PeerEntryView;
    pub mod peer;
    fixed_len = 24;
    /// `node_id`: the listed node.
    node_id, set_node_id, NODE_ID: NodeId = 0;
    /// `incarnation`: as registered.
    incarnation, set_incarnation, INCARNATION: u64 = 16;
}

/// One node listed in PEERS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerEntry {
    /// The listed node.
    pub node_id: NodeId,
    /// Its incarnation, as registered.
    pub incarnation: u64,
    /// Where it accepts links, as registered, an unspecified IP replaced by
    /// the source address of its REGISTER.
    pub link_addr: SocketAddr,
}

impl VarRecord for PeerEntry {
    fn parse_record(buf: &Bytes, _limits: &Limits) -> Result<(Self, usize)> {
        let v = PeerEntryView::new_checked(&buf[..])?;
        let mut r = Reader::new(buf, peer::FIXED_LEN, buf.len());
        let link_addr = decode_addr(&mut r, "link_addr")?;
        let entry = PeerEntry { node_id: v.node_id(), incarnation: v.incarnation(), link_addr };
        Ok((entry, r.pos()))
    }

    fn encoded_len(&self) -> usize {
        peer::FIXED_LEN + addr_len(&self.link_addr)
    }

    fn emit_record(&self, out: &mut [u8]) -> Result<()> {
        let mut v = PeerEntryView::new_checked(&mut out[..])?;
        v.set_node_id(self.node_id);
        v.set_incarnation(self.incarnation);
        let mut w = Writer::new(out);
        w.skip(peer::FIXED_LEN);
        encode_addr(&mut w, &self.link_addr);
        Ok(())
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a PEERS body.
    pub struct PeersView;
    pub mod peers;
    fixed_len = 13;
    /// `cluster_hash`: FNV-1a 64 of the cluster name.
    cluster_hash, set_cluster_hash, CLUSTER_HASH: u64 = 0;
    /// `total`: size of the whole listing (the asker excepted).
    total, set_total, TOTAL: u16 = 8;
    /// `offset`: position of the first entry of `peers` in the listing.
    offset, set_offset, OFFSET: u16 = 10;
    /// `peer_count`: entries in `peers`, at most `MAX_PEERS_PER_REPLY`.
    peer_count, set_peer_count, PEER_COUNT: u8 = 12;
}

/// PEERS (type 2): one page of the nodes registered for a cluster, the
/// answer to a REGISTER or a QUERY. Never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// Hash of the cluster name.
    pub cluster_hash: u64,
    /// Size of the whole listing: entries the tracker holds for the cluster,
    /// the asker excepted.
    pub total: u16,
    /// Position of the first entry of `peers` in the listing.
    pub offset: u16,
    /// The entries `offset .. offset + peers.len()` of the listing; at most
    /// [`MAX_PEERS_PER_REPLY`], and `offset + peers.len() <= total`.
    pub peers: VarList<PeerEntry>,
}

impl Peers {
    /// Whether this page ends the listing (no further QUERY needed).
    pub fn is_last_page(&self) -> bool {
        usize::from(self.offset) + self.peers.len() >= usize::from(self.total)
    }

    fn check_total(total: u16, offset: u16, count: usize) -> Result<()> {
        if usize::from(offset) + count > usize::from(total) {
            return Err(Error::Malformed { field: "total" });
        }
        Ok(())
    }
}

impl Body for Peers {
    const PROTOCOL: Protocol = Protocol::Tracker;
    const MSG_TYPE: u8 = 2;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = PeersView::new_checked(&body[..])?;
        let mut r = Reader::new(body, peers::FIXED_LEN, body.len());
        let count = usize::from(v.peer_count());
        let max = MAX_PEERS_PER_REPLY.min(limits.max_entries);
        let peers = VarList::parse(&mut r, count, max, limits, "peer_count")?;
        r.finish("peers")?;
        Self::check_total(v.total(), v.offset(), count)?;
        Ok(Peers { cluster_hash: v.cluster_hash(), total: v.total(), offset: v.offset(), peers })
    }

    fn body_len(&self) -> usize {
        peers::FIXED_LEN + self.peers.encoded_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let count = self.peers.len();
        check_len("peer_count", count, MAX_PEERS_PER_REPLY)?;
        Self::check_total(self.total, self.offset, count)?;
        let mut v = PeersView::new_checked(&mut out[..])?;
        v.set_cluster_hash(self.cluster_hash);
        v.set_total(self.total);
        v.set_offset(self.offset);
        v.set_peer_count(count as u8);
        let mut w = Writer::new(out);
        w.skip(peers::FIXED_LEN);
        w.put(self.peers.as_bytes());
        Ok(())
    }
}

protocol_messages! {
    /// Any tracker message.
    pub enum TrackerMessage(Protocol::Tracker) {
        /// Keep me listed; answered with PEERS.
        Register(Register),
        /// One page of the listing.
        Peers(Peers),
        /// Ask for one page of the listing; answered with PEERS.
        Query(Query),
    }
}

impl TrackerMessage {
    /// The cluster hash every tracker message carries.
    pub fn cluster_hash(&self) -> u64 {
        match self {
            TrackerMessage::Register(m) => m.cluster_hash,
            TrackerMessage::Peers(m) => m.cluster_hash,
            TrackerMessage::Query(m) => m.cluster_hash,
        }
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;
    use core::fmt::Debug;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    use proptest::prelude::*;

    use super::*;
    use crate::testutil::{addr as arb_addr, node_id as arb_node_id};
    use crate::{ControlFrame, ControlMessage};

    fn arb_register() -> impl Strategy<Value = Register> {
        (any::<u64>(), arb_node_id(), any::<u64>(), any::<u16>(), arb_addr()).prop_map(
            |(cluster_hash, node_id, incarnation, ttl_s, link_addr)| Register {
                cluster_hash,
                node_id,
                incarnation,
                ttl_s,
                link_addr,
            },
        )
    }

    fn arb_query() -> impl Strategy<Value = Query> {
        (any::<u64>(), arb_node_id(), any::<u16>(), any::<u16>()).prop_map(
            |(cluster_hash, node_id, offset, max)| Query { cluster_hash, node_id, offset, max },
        )
    }

    fn arb_entry() -> impl Strategy<Value = PeerEntry> {
        (arb_node_id(), any::<u64>(), arb_addr()).prop_map(|(node_id, incarnation, link_addr)| {
            PeerEntry { node_id, incarnation, link_addr }
        })
    }

    fn arb_peers() -> impl Strategy<Value = Peers> {
        (
            any::<u64>(),
            proptest::collection::vec(arb_entry(), 0..=MAX_PEERS_PER_REPLY),
            any::<u16>(),
            any::<u16>(),
        )
            .prop_map(|(cluster_hash, entries, offset, extra)| {
                let offset = offset.min(u16::MAX - entries.len() as u16);
                let end = offset + entries.len() as u16;
                Peers {
                    cluster_hash,
                    total: end.saturating_add(extra % 100),
                    offset,
                    peers: VarList::from_records(&entries).unwrap(),
                }
            })
    }

    /// Round trip through `ControlFrame` and `Body`, exact `emit` size, and every
    /// strict prefix (of the frame, and of the body under a fixed-up
    /// header) refused without panicking, as is one trailing byte.
    fn check<T>(m: &T)
    where
        T: Body + Clone + Debug + PartialEq + Into<TrackerMessage>,
    {
        let bytes = m.to_bytes().unwrap();
        assert_eq!(bytes.len(), m.buffer_len());
        let mut buf = alloc::vec![0xa5u8; m.buffer_len() + 9];
        assert_eq!(m.emit(&mut buf).unwrap(), m.buffer_len());
        assert!(buf[m.buffer_len()..].iter().all(|&b| b == 0xa5));
        assert_eq!(&buf[..m.buffer_len()], &bytes[..]);

        let frame = ControlFrame::new(ControlMessage::Tracker(m.clone().into()));
        assert_eq!(frame.buffer_len(), bytes.len());
        assert_eq!(frame.to_bytes().unwrap(), bytes);
        assert_eq!(ControlFrame::parse(&bytes).unwrap(), frame);
        assert_eq!(&T::parse(&bytes).unwrap(), m);

        for n in 0..bytes.len() {
            assert!(ControlFrame::parse(&bytes.slice(..n)).is_err());
            let fixed = with_len(&bytes[..n]);
            assert!(ControlFrame::parse(&fixed).is_err(), "prefix {n} parsed");
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(ControlFrame::parse(&with_len(&longer)).is_err());
    }

    /// `frame` with the header's length set to its actual length.
    fn with_len(frame: &[u8]) -> Bytes {
        let mut v: Vec<u8> = frame.to_vec();
        if v.len() >= HEADER_LEN {
            let len = v.len() as u32;
            v[6..10].copy_from_slice(&len.to_be_bytes());
        }
        Bytes::from(v)
    }

    proptest! {
        #[test]
        fn register_roundtrip(m in arb_register()) {
            check(&m);
        }

        #[test]
        fn query_roundtrip(m in arb_query()) {
            check(&m);
        }

        #[test]
        fn peers_roundtrip(m in arb_peers()) {
            check(&m);
            prop_assert!(m.buffer_len() + EXT_BUDGET <= MAX_DATAGRAM);
            let entries: Vec<PeerEntry> = m.peers.iter().collect();
            prop_assert_eq!(VarList::from_records(&entries).unwrap(), m.peers.clone());
        }

        /// Corrupted frames never panic, and whatever still parses is
        /// canonical: it re-emits byte for byte.
        #[test]
        fn corrupted_frames_parse_canonically(
            m in prop_oneof![
                arb_register().prop_map(TrackerMessage::from),
                arb_query().prop_map(TrackerMessage::from),
                arb_peers().prop_map(TrackerMessage::from),
            ],
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut v = ControlFrame::new(ControlMessage::Tracker(m)).to_bytes().unwrap().to_vec();
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
        fn peers_count_over_bound_is_oversized(
            m in arb_peers(),
            count in (MAX_PEERS_PER_REPLY as u8 + 1)..=u8::MAX,
        ) {
            let mut v = m.to_bytes().unwrap().to_vec();
            v[HEADER_LEN + peers::PEER_COUNT] = count;
            prop_assert_eq!(
                ControlFrame::parse(&Bytes::from(v)),
                Err(Error::Oversized {
                    field: "peer_count",
                    len: count as usize,
                    max: MAX_PEERS_PER_REPLY,
                })
            );
        }
    }

    fn sample_peers(n: usize) -> Vec<PeerEntry> {
        (0..n)
            .map(|i| PeerEntry {
                node_id: NodeId([i as u8; 16]),
                incarnation: i as u64,
                link_addr: SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7000 + i as u16),
            })
            .collect()
    }

    #[test]
    fn full_reply_fits_one_datagram() {
        let m = Peers {
            cluster_hash: 1,
            total: 100,
            offset: 0,
            peers: VarList::from_records(sample_peers(MAX_PEERS_PER_REPLY)).unwrap(),
        };
        assert_eq!(
            m.buffer_len(),
            HEADER_LEN + peers::FIXED_LEN + MAX_PEERS_PER_REPLY * MAX_PEER_ENTRY_LEN
        );
        assert!(m.buffer_len() + EXT_BUDGET <= MAX_DATAGRAM);
        assert!(!m.is_last_page());
        check(&m);
    }

    #[test]
    fn emit_refuses_too_many_peers() {
        let m = Peers {
            cluster_hash: 1,
            total: 100,
            offset: 0,
            peers: VarList::from_records(sample_peers(MAX_PEERS_PER_REPLY + 1)).unwrap(),
        };
        assert_eq!(
            m.to_bytes(),
            Err(Error::Oversized {
                field: "peer_count",
                len: MAX_PEERS_PER_REPLY + 1,
                max: MAX_PEERS_PER_REPLY,
            })
        );
    }

    #[test]
    fn peers_beyond_total_are_malformed() {
        let m = Peers {
            cluster_hash: 1,
            total: 3,
            offset: 2,
            peers: VarList::from_records(sample_peers(1)).unwrap(),
        };
        assert!(m.is_last_page());
        let mut v = m.to_bytes().unwrap().to_vec();
        v[HEADER_LEN + peers::TOTAL..HEADER_LEN + peers::TOTAL + 2]
            .copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(ControlFrame::parse(&Bytes::from(v)), Err(Error::Malformed { field: "total" }));
        let bad = Peers { total: 2, ..m };
        assert_eq!(bad.to_bytes(), Err(Error::Malformed { field: "total" }));
    }

    #[test]
    fn peer_count_bounded_by_limits() {
        let m = Peers {
            cluster_hash: 1,
            total: 3,
            offset: 0,
            peers: VarList::from_records(sample_peers(3)).unwrap(),
        };
        let limits = Limits { max_entries: 2, ..Limits::DEFAULT };
        assert_eq!(
            ControlFrame::parse_with(&m.to_bytes().unwrap(), &limits),
            Err(Error::Oversized { field: "peer_count", len: 3, max: 2 })
        );
    }

    #[test]
    fn bad_family_is_malformed() {
        let m = Register {
            cluster_hash: 9,
            node_id: NodeId([1; 16]),
            incarnation: 2,
            ttl_s: 60,
            link_addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 7946),
        };
        let mut v = m.to_bytes().unwrap().to_vec();
        v[HEADER_LEN + register::FIXED_LEN] = 5;
        assert_eq!(
            ControlFrame::parse(&Bytes::from(v)),
            Err(Error::Malformed { field: "link_addr" })
        );
    }
}
