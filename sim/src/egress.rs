//! The sender's side of a datagram path with a bandwidth: a bounded
//! drop-tail queue drained at the path's rate.
//!
//! # Granularity: one queue per path
//!
//! A queue belongs to one sending node, one destination host and the
//! segment the datagram crosses. That is how the simulator models paths:
//! a segment is not a shared medium, its [`Faults`](crate::Faults) apply
//! to each pair of hosts on their own (and [`Sim::set_pair_faults`]
//! overrides one pair), and a stream link gets the whole bandwidth in each
//! direction of each connection. A queue per path gives a datagram link
//! the same capacity as a stream link between the same two nodes, so a
//! scenario keeps its bottleneck when it switches link mode; a queue per
//! interface would split a segment's bandwidth among all of a sender's
//! peers for datagrams and not for streams. The price: two paths from one
//! sender do not compete for one NIC, as they do on a real host.
//!
//! A multicast datagram is queued once per receiving host and goes to
//! every node of that host, as one frame on the wire reaches every socket
//! that joined the group.
//!
//! # What is modelled
//!
//! - A datagram leaves the queue when the last of its bytes has gone out
//!   at the path's bandwidth, after everything queued before it, and
//!   arrives one latency (plus jitter, reordering) later. Loss and
//!   duplication happen on the wire, after the queue: a lost datagram has
//!   used its share of the bandwidth.
//! - The queue holds at most [`DATAGRAM_TX_QUEUE`] bytes (or the limit
//!   set with [`Sim::set_datagram_tx_queue`]), counting each datagram from
//!   the moment it is sent until it has left. A datagram that does not fit
//!   is dropped at the sender, as a full qdisc or socket send buffer drops
//!   it, and counted in
//!   [`Counters::tx_queue_dropped`](crate::Counters::tx_queue_dropped).
//!   An empty queue takes any datagram, so a limit below one datagram
//!   slows a path down rather than cutting it.
//! - Sizes are the datagram's bytes, without IP and UDP headers, as for
//!   stream links. Time is kept in nanoseconds so that rounding does not
//!   add up over many small datagrams.
//! - Stream links and datagrams do not share a queue: each stream
//!   connection has its own send buffer.
//! - A path with bandwidth 0 has no queue: each datagram leaves at once.
//!
//! The queue outlives a crash of its node, as a kernel's does a process's
//! exit: what was queued still goes out.

use std::collections::VecDeque;

use netcluster_core::Instant;

#[cfg(doc)]
use crate::Sim;

/// Bytes a datagram path's queue holds by default (see
/// [`Sim::set_datagram_tx_queue`]).
///
/// What bounds one sender's unsent UDP datagrams on Linux is, before the
/// qdisc's `txqueuelen` (1,000 packets), the socket's send buffer:
/// `net.core.wmem_default` is 212,992 bytes, charged per datagram as its
/// `skb->truesize`, about the payload plus 768 bytes (see
/// [`RxModel::LINUX`](crate::RxModel::LINUX)). For the core's datagram
/// link fragments (1,100 bytes of payload plus headers) that is about 110
/// datagrams, some 128 KiB of datagram bytes. It is also what a simulated
/// stream link's sender holds before its node keeps the rest (128 KiB),
/// so the two link modes buffer alike between a node and the wire.
///
/// The limit is in bytes rather than packets because the delay a full
/// queue adds is then `limit / bandwidth` whatever the datagrams' sizes,
/// and because the socket buffer that bounds a sender first counts bytes.
pub const DATAGRAM_TX_QUEUE: usize = 128 * 1024;

/// The queue of one path.
#[derive(Debug, Default)]
pub(crate) struct Egress {
    /// What has not left yet, oldest first: when its last byte leaves (ns
    /// of virtual time) and its size.
    queue: VecDeque<(u64, usize)>,
    /// Bytes in `queue`.
    bytes: usize,
    /// When everything queued so far has left (ns of virtual time).
    busy_until: u64,
}

/// What became of a datagram offered to a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offered {
    /// It leaves at this instant; the queue now holds this many bytes.
    Leaves(Instant, usize),
    /// The queue was full: dropped.
    Dropped,
}

impl Egress {
    /// Queues a datagram of `len` bytes sent at `now` on a path of
    /// `bandwidth` bytes/s (more than 0) whose queue holds `limit` bytes.
    pub(crate) fn offer(
        &mut self,
        now: Instant,
        len: usize,
        bandwidth: u64,
        limit: usize,
    ) -> Offered {
        let now_ns = now.as_micros().saturating_mul(1_000);
        while let Some(&(left, n)) = self.queue.front() {
            if left > now_ns {
                break;
            }
            self.queue.pop_front();
            self.bytes -= n;
        }
        if !self.queue.is_empty() && self.bytes.saturating_add(len) > limit {
            return Offered::Dropped;
        }
        let wire = (len as u128 * 1_000_000_000).div_ceil(u128::from(bandwidth.max(1)));
        let start = now_ns.max(self.busy_until);
        self.busy_until = start.saturating_add(u64::try_from(wire).unwrap_or(u64::MAX));
        self.queue.push_back((self.busy_until, len));
        self.bytes += len;
        // The datagram has left once its last bit has: round up.
        let leaves = Instant::from_micros(self.busy_until.div_ceil(1_000));
        Offered::Leaves(leaves, self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BW: u64 = 1_000_000; // 1 byte per µs

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn datagrams_leave_one_after_another_at_the_bandwidth() {
        let mut q = Egress::default();
        assert_eq!(q.offer(at(0), 100, BW, 1000), Offered::Leaves(at(100), 100));
        assert_eq!(q.offer(at(10), 100, BW, 1000), Offered::Leaves(at(200), 200));
        // An idle path starts at once.
        assert_eq!(q.offer(at(500), 50, BW, 1000), Offered::Leaves(at(550), 50));
    }

    #[test]
    fn a_full_queue_drops_the_tail_and_takes_more_once_it_drains() {
        let mut q = Egress::default();
        for k in 0..10 {
            assert!(matches!(q.offer(at(0), 100, BW, 1000), Offered::Leaves(..)), "{k}");
        }
        assert_eq!(q.offer(at(0), 1, BW, 1000), Offered::Dropped);
        // One datagram has left by 100 µs: room for one more.
        assert_eq!(q.offer(at(100), 100, BW, 1000), Offered::Leaves(at(1100), 1000));
        assert_eq!(q.offer(at(100), 100, BW, 1000), Offered::Dropped);
    }

    #[test]
    fn an_empty_queue_takes_a_datagram_larger_than_its_limit() {
        let mut q = Egress::default();
        assert_eq!(q.offer(at(0), 5000, BW, 1000), Offered::Leaves(at(5000), 5000));
        assert_eq!(q.offer(at(0), 1, BW, 1000), Offered::Dropped);
    }

    #[test]
    fn rounding_does_not_accumulate() {
        // 3 bytes at 7 MB/s take 428.57 ns: microseconds would round
        // each to 0 or 1 µs, an error of up to 133%.
        let mut q = Egress::default();
        let mut last = Offered::Dropped;
        for _ in 0..7_000 {
            last = q.offer(at(0), 3, 7_000_000, usize::MAX);
        }
        // 21,000 bytes at 7 MB/s: 3 ms, plus at most a nanosecond per
        // datagram rounded up.
        let Offered::Leaves(t, _) = last else { panic!("dropped") };
        assert!(t >= at(3_000) && t <= at(3_007), "{t:?}");
    }
}
