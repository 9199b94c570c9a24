//! The output queue of one stream link: what the node has made for the
//! link and the driver has not yet pulled.
//!
//! - **Control first.** Handshake, keepalive, routing and ACK frames go
//!   before any DATA: a burst of data never delays a PONG or an LSA by
//!   more than what the driver already holds.
//! - **Priorities, without starvation.** DATA waits in one queue per
//!   priority (0 most urgent, 7 least), served by deficit round robin
//!   with weights `2^(7 - p)`: under saturation priority 0 gets 128 times
//!   the bytes of priority 7, and every non-empty queue gets its turn in
//!   every round.
//! - **Bounded.** DATA past `link_queue_bytes` is dropped and counted; the
//!   sender's end-to-end retransmission (or its congestion window) takes
//!   care of it. Past `link_queue_mark` bytes, DATA is marked (congestion
//!   experienced) so that its source slows down before anything is
//!   dropped.
//! - **Pulled.** The driver pulls frames only while its socket takes more
//!   ([`Node::poll_link`](crate::Node::poll_link)): a slow link holds its
//!   data here, within the bound, instead of in the driver.

use alloc::collections::VecDeque;

use bytes::Bytes;

/// Priorities of DATA (the `priority` field): 0 to 7.
pub const PRIORITIES: usize = 8;

/// Bytes of priority 7's share per round; priority `p` gets
/// `QUANTUM << (7 - p)`.
const QUANTUM: usize = 1024;

/// What became of a DATA frame offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    /// Queued as it was.
    Yes,
    /// Queued, past the marking threshold: the caller marks it.
    Mark,
    /// Dropped: the queue is full.
    Dropped,
}

/// Counters of one link's queue.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LinkQueueStats {
    /// DATA frames dropped because the queue was full.
    pub dropped: u64,
    /// DATA frames marked congestion-experienced here.
    pub marked: u64,
    /// The most DATA bytes queued at once.
    pub peak_bytes: usize,
}

#[derive(Debug, Default)]
pub(crate) struct LinkQueue {
    control: VecDeque<Bytes>,
    control_bytes: usize,
    data: [VecDeque<Bytes>; PRIORITIES],
    data_bytes: usize,
    deficit: [usize; PRIORITIES],
    /// The queue DRR serves now, and whether it has had its quantum for
    /// this turn.
    turn: usize,
    credited: bool,
    /// The driver was told there is something to pull, and has not yet
    /// found the queue empty.
    pub(crate) announced: bool,
    /// DATA was refused or dropped since the queue last drained to half.
    pub(crate) wanted: bool,
    /// A frame that goes after all the others.
    last: Option<Bytes>,
    /// The link closes once the queue is pulled empty.
    pub(crate) closing: bool,
    pub(crate) stats: LinkQueueStats,
}

impl LinkQueue {
    /// Queues the link's last frame (its GOODBYE): it goes after
    /// everything queued before it.
    pub(crate) fn push_last(&mut self, frame: Bytes) {
        self.control_bytes += frame.len();
        self.last = Some(frame);
    }

    pub(crate) fn push_control(&mut self, frame: Bytes) {
        self.control_bytes += frame.len();
        self.control.push_back(frame);
    }

    /// Offers a DATA frame of `len` bytes under the bound `max` bytes,
    /// marking past `mark` bytes.
    pub(crate) fn offer_data(&mut self, len: usize, max: usize, mark: usize) -> Queued {
        // One frame always fits an empty queue, however large.
        if self.data_bytes > 0 && self.data_bytes + len > max {
            self.stats.dropped += 1;
            return Queued::Dropped;
        }
        if self.data_bytes + len > mark {
            self.stats.marked += 1;
            Queued::Mark
        } else {
            Queued::Yes
        }
    }

    /// Queues a DATA frame of `priority` (7 and above mean 7) that
    /// [`offer_data`](Self::offer_data) accepted.
    pub(crate) fn push_data(&mut self, priority: u8, frame: Bytes) {
        let p = usize::from(priority).min(PRIORITIES - 1);
        self.data_bytes += frame.len();
        self.stats.peak_bytes = self.stats.peak_bytes.max(self.data_bytes);
        self.data[p].push_back(frame);
    }

    /// The next frame to write: control first, then DATA by deficit round
    /// robin over the priorities.
    pub(crate) fn pop(&mut self) -> Option<Bytes> {
        if let Some(f) = self.control.pop_front() {
            self.control_bytes -= f.len();
            return Some(f);
        }
        if self.data_bytes == 0 {
            let f = self.last.take()?;
            self.control_bytes -= f.len();
            return Some(f);
        }
        loop {
            let p = self.turn;
            let Some(len) = self.data[p].front().map(Bytes::len) else {
                self.deficit[p] = 0;
                self.next_turn();
                continue;
            };
            if !self.credited {
                self.deficit[p] += QUANTUM << (PRIORITIES - 1 - p);
                self.credited = true;
            }
            if len <= self.deficit[p] {
                self.deficit[p] -= len;
                self.data_bytes -= len;
                let f = self.data[p].pop_front();
                if self.data[p].is_empty() {
                    self.deficit[p] = 0;
                    self.next_turn();
                }
                return f;
            }
            self.next_turn();
        }
    }

    fn next_turn(&mut self) {
        self.turn = (self.turn + 1) % PRIORITIES;
        self.credited = false;
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.control.is_empty() && self.data_bytes == 0 && self.last.is_none()
    }

    /// DATA bytes queued.
    pub(crate) fn data_bytes(&self) -> usize {
        self.data_bytes
    }

    /// Every byte queued, control included.
    pub(crate) fn bytes(&self) -> usize {
        self.data_bytes + self.control_bytes
    }

    /// Every frame queued, control and the last frame included.
    pub(crate) fn frames(&self) -> usize {
        let data: usize = self.data.iter().map(VecDeque::len).sum();
        self.control.len() + data + usize::from(self.last.is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn frame(tag: u8, len: usize) -> Bytes {
        Bytes::from(alloc::vec![tag; len])
    }

    #[test]
    fn control_goes_first_then_data_in_order_then_the_last_frame() {
        let mut q = LinkQueue::default();
        q.push_data(4, frame(1, 10));
        q.push_last(frame(8, 5));
        q.push_data(4, frame(2, 10));
        q.push_control(frame(9, 5));
        assert_eq!(q.frames(), 4);
        let order: Vec<u8> = core::iter::from_fn(|| q.pop()).map(|f| f[0]).collect();
        assert_eq!(order, [9, 1, 2, 8], "control first, the last frame last");
        assert!(q.is_empty());
    }

    #[test]
    fn data_past_the_bound_is_dropped_and_past_the_mark_is_marked() {
        let mut q = LinkQueue::default();
        assert_eq!(q.offer_data(5000, 1000, 500), Queued::Mark, "one frame always fits");
        q.push_data(4, frame(1, 5000));
        assert_eq!(q.offer_data(10, 1000, 500), Queued::Dropped);
        q.pop();
        assert_eq!(q.offer_data(400, 1000, 500), Queued::Yes);
        q.push_data(4, frame(1, 400));
        assert_eq!(q.offer_data(200, 1000, 500), Queued::Mark);
        assert_eq!(q.stats, LinkQueueStats { dropped: 1, marked: 2, peak_bytes: 5000 });
    }

    #[test]
    fn urgent_data_overtakes_bulk_and_bulk_still_gets_its_share() {
        let mut q = LinkQueue::default();
        for _ in 0..1000 {
            q.push_data(7, frame(7, 1000));
        }
        q.pop();
        q.push_data(0, frame(0, 1000));
        assert_eq!(q.pop().map(|f| f[0]), Some(0), "the urgent frame goes next");
        // Both saturated: bytes are shared by weight, and 7 is not starved.
        for _ in 0..1000 {
            q.push_data(0, frame(0, 1000));
        }
        let taken: Vec<u8> = (0..516).filter_map(|_| q.pop()).map(|f| f[0]).collect();
        let bulk = taken.iter().filter(|&&p| p == 7).count();
        assert!(bulk >= 2, "priority 7 got {bulk} of {} frames", taken.len());
        assert!(bulk <= 10, "priority 7 got {bulk}: more than its weight");
    }
}
