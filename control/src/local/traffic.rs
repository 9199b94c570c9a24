//! PEERS_TRAFFIC_REQUEST (13) and PEERS_TRAFFIC (14): the peers with what
//! the daemon's node exchanges with each (Net::Cluster's `get_bandwidth`),
//! as the admin member traffic records (`docs/PROTOCOL.md` 9.5).
//!
//! ```text
//! PEERS_TRAFFIC_REQUEST: request_id (u32), group (str8)
//! PEERS_TRAFFIC:         request_id (u32), peer_count (u16), records
//! ```

use bytes::Bytes;
use bytestring::ByteString;
use netcluster_core::wire::codec::{check_len, Reader, Writer};
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::{Body, Limits, Protocol, Result};

use super::messages::{id_only, peers, IdView, PeersView};
use crate::admin::MemberTrafficRecord;

/// PEERS_TRAFFIC_REQUEST (type 13): the reachable peers with their traffic
/// figures, those in `group` only unless it is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersTrafficRequest {
    /// Chosen by the application.
    pub request_id: u32,
    /// Only members of this group (empty: every peer).
    pub group: ByteString,
}

impl Body for PeersTrafficRequest {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 13;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = IdView::new_checked(&body[..])?;
        let mut r = Reader::new(body, id_only::FIXED_LEN, body.len());
        let group = r.str8("group", limits.max_name)?;
        r.finish("peers_traffic_request")?;
        Ok(PeersTrafficRequest { request_id: v.request_id(), group })
    }

    fn body_len(&self) -> usize {
        id_only::FIXED_LEN + 1 + self.group.len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        IdView::new_checked(&mut out[..])?.set_request_id(self.request_id);
        let mut w = Writer::new(out);
        w.skip(id_only::FIXED_LEN);
        w.str8(&self.group, "group")
    }
}

/// PEERS_TRAFFIC (type 14): the peers, each behind its traffic figures
/// (admin member traffic records), the daemon's own node not included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeersTraffic {
    /// Of the PEERS_TRAFFIC_REQUEST answered.
    pub request_id: u32,
    /// The peers with their figures.
    pub peers: VarList<MemberTrafficRecord>,
}

impl Body for PeersTraffic {
    const PROTOCOL: Protocol = Protocol::Local;
    const MSG_TYPE: u8 = 14;

    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = PeersView::new_checked(&body[..])?;
        let mut r = Reader::new(body, peers::FIXED_LEN, body.len());
        let count = usize::from(v.peer_count());
        let peers = VarList::parse(&mut r, count, limits.max_entries, limits, "peer_count")?;
        r.finish("peers_traffic")?;
        Ok(PeersTraffic { request_id: v.request_id(), peers })
    }

    fn body_len(&self) -> usize {
        peers::FIXED_LEN + self.peers.encoded_len()
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let count = self.peers.len();
        check_len("peer_count", count, u16::MAX as usize)?;
        let mut v = PeersView::new_checked(&mut out[..])?;
        v.set_request_id(self.request_id);
        v.set_peer_count(count as u16);
        let mut w = Writer::new(out);
        w.skip(peers::FIXED_LEN);
        w.put(self.peers.as_bytes());
        Ok(())
    }
}
