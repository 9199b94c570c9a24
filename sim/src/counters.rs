//! Per-node traffic counters, by sub-protocol and message type.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use netcluster_core::wire::{FrameHeader, HEADER_LEN};
use netcluster_core::Instant;

/// The window of [`Counters::peak_sent_100ms`] and
/// [`Counters::peak_received_100ms`].
pub const PEAK_WINDOW: Duration = Duration::from_millis(100);

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
    /// Most messages (datagrams plus stream frames) sent in any window of
    /// [`PEAK_WINDOW`] (sliding, not aligned).
    pub peak_sent_100ms: u64,
    /// Most messages received (read by the node) in any window of
    /// [`PEAK_WINDOW`].
    pub peak_received_100ms: u64,
    /// Datagrams dropped because the socket they arrived at had a full
    /// receive buffer (see [`RxModel`](crate::RxModel)).
    pub rx_dropped: u64,
    /// Most bytes (kernel accounting) one of the node's sockets held.
    pub rx_peak_bytes: u64,
    /// Datagrams the node sent that were dropped at once because the
    /// queue of their path was full (paths with a bandwidth; see
    /// [`egress`](crate::egress)). They are also counted as sent, as a
    /// real `sendto` reports no error for a datagram its qdisc drops.
    pub tx_queue_dropped: u64,
    /// Most bytes one of the node's datagram path queues held, the
    /// datagram just queued included (at most the queue's limit, or one
    /// datagram when that is larger).
    pub tx_queue_peak_bytes: u64,
    /// Timer wake-ups at which the node did nothing (sent nothing, opened
    /// or closed nothing, reported nothing) and asked to be woken again no
    /// later than the instant it was woken at: a real driver would spin on
    /// them. A correct node has none.
    pub stalled_wakeups: u64,
    sent_window: VecDeque<Instant>,
    received_window: VecDeque<Instant>,
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

    pub(crate) fn sent(&mut self, now: Instant, data: &[u8], datagram: bool) {
        let n = self.count(data, datagram, true);
        self.peak_sent_100ms = self.peak_sent_100ms.max(slide(&mut self.sent_window, now, n));
    }

    pub(crate) fn received(&mut self, now: Instant, data: &[u8], datagram: bool) {
        let n = self.count(data, datagram, false);
        let peak = slide(&mut self.received_window, now, n);
        self.peak_received_100ms = self.peak_received_100ms.max(peak);
    }

    /// Counts the units in `data`; returns how many there were.
    fn count(&mut self, data: &[u8], datagram: bool, sent: bool) -> usize {
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
        let count = units.len();
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
        count
    }
}

/// Adds `n` units at `now` to a sliding window; returns the units in it.
fn slide(window: &mut VecDeque<Instant>, now: Instant, n: usize) -> u64 {
    while window.front().is_some_and(|&t| now - t >= PEAK_WINDOW) {
        window.pop_front();
    }
    window.extend(std::iter::repeat_n(now, n));
    window.len() as u64
}
