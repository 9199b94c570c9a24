//! The messages one channel has in flight, in sequence order.
//!
//! A channel sends sequence numbers in increasing order and its
//! destination acknowledges them mostly from the oldest, so the messages
//! live in a ring sorted by sequence number: a send appends, an
//! acknowledgement of the oldest pops the front, and everything else is a
//! binary search. A `BTreeMap` did the same job at several times the cost
//! per message (node splits and merges, and the shifting of whole
//! `Outgoing` values inside its leaves, were a fifth of a sender's CPU time
//! for small messages).
//!
//! A message acknowledged out of order leaves a hole that is dropped when
//! it reaches an end of the ring; holes are also compacted away whenever
//! they outnumber the messages, so the ring never holds more than about
//! twice what is in flight. Sequence numbers may have gaps (a group
//! channel's numbers are shared by its members): a gap costs nothing, since
//! slots are keyed by number, not by offset.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::ops::{Bound, RangeBounds};

use super::Outgoing;

/// Holes tolerated beyond the number of live messages before a compaction.
const SLACK: usize = 16;

#[derive(Debug)]
struct Slot {
    seq: u64,
    /// `None`: acknowledged out of order, waiting to be trimmed.
    msg: Option<Outgoing>,
}

/// One channel's messages in flight, by sequence number.
#[derive(Debug, Default)]
pub(super) struct InFlight {
    /// Strictly increasing `seq`.
    slots: VecDeque<Slot>,
    /// Slots holding a message.
    live: usize,
}

impl InFlight {
    /// Messages in flight.
    pub(super) fn len(&self) -> usize {
        self.live
    }

    pub(super) fn is_empty(&self) -> bool {
        self.live == 0
    }

    fn find(&self, seq: u64) -> Result<usize, usize> {
        self.slots.binary_search_by_key(&seq, |s| s.seq)
    }

    /// Puts `msg` in flight as `seq`, returning what was there before.
    pub(super) fn insert(&mut self, seq: u64, msg: Outgoing) -> Option<Outgoing> {
        if self.slots.back().is_none_or(|b| b.seq < seq) {
            self.slots.push_back(Slot { seq, msg: Some(msg) });
            self.live += 1;
            return None;
        }
        match self.find(seq) {
            Ok(i) => {
                let old = self.slots[i].msg.replace(msg);
                if old.is_none() {
                    self.live += 1;
                }
                old
            }
            Err(i) => {
                self.slots.insert(i, Slot { seq, msg: Some(msg) });
                self.live += 1;
                None
            }
        }
    }

    /// Takes `seq` out of flight.
    pub(super) fn remove(&mut self, seq: u64) -> Option<Outgoing> {
        let msg = if self.slots.front().is_some_and(|f| f.seq == seq) {
            self.slots.front_mut().and_then(|f| f.msg.take())
        } else {
            let i = self.find(seq).ok()?;
            self.slots[i].msg.take()
        };
        if msg.is_some() {
            self.live -= 1;
            self.trim();
        }
        msg
    }

    /// Takes the oldest message out if its number is below `seq`.
    pub(super) fn pop_below(&mut self, seq: u64) -> Option<Outgoing> {
        let front = self.slots.front_mut().filter(|f| f.seq < seq)?;
        // The front is never a hole (`trim` drops them), so `None` here
        // would only end the caller's loop early.
        let msg = front.msg.take();
        if msg.is_some() {
            self.live -= 1;
        }
        self.trim();
        msg
    }

    /// Drops holes at both ends, and all of them once they outnumber the
    /// messages.
    fn trim(&mut self) {
        while self.slots.front().is_some_and(|s| s.msg.is_none()) {
            self.slots.pop_front();
        }
        while self.slots.back().is_some_and(|s| s.msg.is_none()) {
            self.slots.pop_back();
        }
        if self.slots.len() > 2 * self.live + SLACK {
            self.slots.retain(|s| s.msg.is_some());
        }
    }

    pub(super) fn get_mut(&mut self, seq: u64) -> Option<&mut Outgoing> {
        let i = self.find(seq).ok()?;
        self.slots[i].msg.as_mut()
    }

    /// The messages whose numbers fall in `range`, in order.
    pub(super) fn range(
        &self,
        range: impl RangeBounds<u64>,
    ) -> impl Iterator<Item = (u64, &Outgoing)> + '_ {
        let start = match range.start_bound() {
            Bound::Included(&s) => self.slots.partition_point(|x| x.seq < s),
            Bound::Excluded(&s) => self.slots.partition_point(|x| x.seq <= s),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => self.slots.partition_point(|x| x.seq <= e),
            Bound::Excluded(&e) => self.slots.partition_point(|x| x.seq < e),
            Bound::Unbounded => self.slots.len(),
        };
        self.slots.range(start..end.max(start)).filter_map(|s| s.msg.as_ref().map(|m| (s.seq, m)))
    }

    /// Every message, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &Outgoing)> + '_ {
        self.slots.iter().filter_map(|s| s.msg.as_ref().map(|m| (s.seq, m)))
    }

    /// Every message, in order, to change.
    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Outgoing)> + '_ {
        self.slots.iter_mut().filter_map(|s| s.msg.as_mut().map(|m| (s.seq, m)))
    }

    pub(super) fn values(&self) -> impl Iterator<Item = &Outgoing> + '_ {
        self.iter().map(|(_, m)| m)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Outgoing> + '_ {
        self.iter_mut().map(|(_, m)| m)
    }

    pub(super) fn keys(&self) -> impl Iterator<Item = u64> + '_ {
        self.iter().map(|(s, _)| s)
    }

    /// Takes every message out, in order.
    pub(super) fn take_all(&mut self) -> Vec<(u64, Outgoing)> {
        self.live = 0;
        self.slots.drain(..).filter_map(|s| s.msg.map(|m| (s.seq, m))).collect()
    }

    /// Slots held, holes included (for the bound's test).
    #[cfg(test)]
    fn slots(&self) -> usize {
        self.slots.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::output::MessageId;
    use crate::time::Instant;
    use crate::wire::link::Semantics;
    use alloc::collections::BTreeMap;
    use bytes::Bytes;
    use core::time::Duration;
    use proptest::prelude::*;

    /// A message whose id is its sequence number.
    fn outgoing(seq: u64) -> Outgoing {
        Outgoing {
            id: MessageId(seq),
            semantics: Semantics::Reliable,
            payload: Bytes::new(),
            group: None,
            first_sent: Instant::ZERO,
            last_sent: Instant::ZERO,
            rto: Duration::ZERO,
            retransmitted: false,
            deadline: Instant::ZERO,
            flags: 0,
            priority: 0,
            reroute_at: None,
            confirm: true,
            timeout: Duration::ZERO,
            retransmissions: 0,
            max_retransmissions: None,
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64),
        Remove(u64),
        RemoveBelow(u64),
        PopBelow(u64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..400).prop_map(Op::Insert),
            3 => (0u64..400).prop_map(Op::Remove),
            1 => (0u64..400).prop_map(Op::RemoveBelow),
            1 => (0u64..400).prop_map(Op::PopBelow),
        ]
    }

    proptest! {
        /// The ring answers every query as the ordered map it replaced,
        /// and never holds more than about twice what is in flight.
        #[test]
        fn behaves_as_an_ordered_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut ring = InFlight::default();
            let mut map: BTreeMap<u64, u64> = BTreeMap::new();
            for op in ops {
                match op {
                    Op::Insert(s) => {
                        let old = ring.insert(s, outgoing(s));
                        prop_assert_eq!(old.map(|o| o.id.0), map.insert(s, s));
                    }
                    Op::Remove(s) => {
                        prop_assert_eq!(ring.remove(s).map(|o| o.id.0), map.remove(&s));
                    }
                    Op::PopBelow(s) => {
                        let mut popped = Vec::new();
                        while let Some(o) = ring.pop_below(s) {
                            popped.push(o.id.0);
                        }
                        let want: Vec<u64> = map.range(..s).map(|(q, _)| *q).collect();
                        prop_assert_eq!(&popped, &want);
                        map.retain(|q, _| *q >= s);
                    }
                    Op::RemoveBelow(s) => {
                        let below: Vec<u64> = ring.range(..s).map(|(q, _)| q).collect();
                        let want: Vec<u64> = map.range(..s).map(|(q, _)| *q).collect();
                        prop_assert_eq!(&below, &want);
                        for q in below {
                            prop_assert!(ring.remove(q).is_some());
                            map.remove(&q);
                        }
                    }
                }
                prop_assert_eq!(ring.len(), map.len());
                prop_assert!(ring.slots() <= 2 * ring.len() + SLACK + 1);
                let got: Vec<(u64, u64)> = ring.iter().map(|(s, o)| (s, o.id.0)).collect();
                let want: Vec<(u64, u64)> = map.iter().map(|(s, v)| (*s, *v)).collect();
                prop_assert_eq!(got, want);
                let mid: Vec<u64> = ring.range(100..=250).map(|(s, _)| s).collect();
                let want: Vec<u64> = map.range(100..=250).map(|(s, _)| *s).collect();
                prop_assert_eq!(mid, want);
            }
            let all: Vec<u64> = ring.take_all().into_iter().map(|(s, _)| s).collect();
            prop_assert_eq!(all, map.keys().copied().collect::<Vec<_>>());
            prop_assert!(ring.is_empty());
        }
    }
}
