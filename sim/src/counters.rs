//! Per-node traffic counters, by sub-protocol and message type.

use std::collections::BTreeMap;

use netcluster_core::wire::{FrameHeader, HEADER_LEN};

/// Sent and received totals for one kind of traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Units sent (datagrams or frames).
    pub sent: u64,
    /// Bytes sent.
    pub sent_bytes: u64,
    /// Units received.
    pub received: u64,
    /// Bytes received.
    pub received_bytes: u64,
}

/// What one node sent and received.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// UDP datagrams (beacons, SEARCH, NOTIFY, datagram-link frames).
    pub datagrams: Tally,
    /// Frames on stream links.
    pub frames: Tally,
    /// Per (sub-protocol id, message type), datagrams and frames together.
    pub by_type: BTreeMap<(u8, u8), Tally>,
}

impl Counters {
    /// Datagrams plus stream frames: every message the node sent.
    pub fn messages_sent(&self) -> u64 {
        self.datagrams.sent + self.frames.sent
    }

    /// Datagrams plus stream frames received.
    pub fn messages_received(&self) -> u64 {
        self.datagrams.received + self.frames.received
    }

    /// Bytes of datagrams plus stream frames sent.
    pub fn bytes_sent(&self) -> u64 {
        self.datagrams.sent_bytes + self.frames.sent_bytes
    }

    /// Units of one message type, sent and received.
    pub fn of(&self, protocol: u8, msg_type: u8) -> Tally {
        self.by_type.get(&(protocol, msg_type)).copied().unwrap_or_default()
    }

    pub(crate) fn sent(&mut self, data: &[u8], datagram: bool) {
        self.count(data, datagram, true);
    }

    pub(crate) fn received(&mut self, data: &[u8], datagram: bool) {
        self.count(data, datagram, false);
    }

    fn count(&mut self, data: &[u8], datagram: bool, sent: bool) {
        // A stream write may hold several frames: count each.
        let mut rest = data;
        let mut units = Vec::new();
        if datagram {
            units.push(rest);
        } else {
            while rest.len() >= HEADER_LEN {
                let len = FrameHeader::new_unchecked(rest).length() as usize;
                if len < HEADER_LEN || len > rest.len() {
                    units.push(rest);
                    break;
                }
                units.push(&rest[..len]);
                rest = &rest[len..];
            }
        }
        for u in units {
            let key = if u.len() >= HEADER_LEN {
                let h = FrameHeader::new_unchecked(u);
                (h.protocol_id(), h.msg_type())
            } else {
                (0, 0)
            };
            let n = u.len() as u64;
            let total = if datagram { &mut self.datagrams } else { &mut self.frames };
            for t in [total, self.by_type.entry(key).or_default()] {
                if sent {
                    t.sent += 1;
                    t.sent_bytes += n;
                } else {
                    t.received += 1;
                    t.received_bytes += n;
                }
            }
        }
    }
}
