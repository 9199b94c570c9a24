//! All of a node's timers in one table keyed by [`Timer`], one deadline out.

use alloc::collections::{BTreeMap, BTreeSet};

use super::output::LinkId;
use crate::time::Instant;

/// Every timer a node can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Timer {
    /// Next beacon.
    Beacon,
    /// Next pending NOTIFY answer is due.
    Notify,
    /// Re-evaluate which links to open (also drives retries and seeds).
    Overlay,
    /// Originate this node's LSA (damped by `lsa_min_interval`).
    Originate,
    /// Run SPF and update membership.
    Spf,
    /// Periodic housekeeping: LSA ageing and refresh, candidate expiry.
    Housekeeping,
    /// End-to-end retransmissions and delivery deadlines.
    Retransmit,
    /// One link's handshake deadline or keepalive.
    Link(LinkId),
    /// The flood bucket has a token for a queued LSA.
    Flood,
    /// Pending LSA_ACKs are due.
    LsaAck,
    /// The SEARCH sent at start.
    Search,
}

/// Deadlines by timer, and timers by deadline, kept in step.
#[derive(Debug, Default)]
pub(crate) struct Timers {
    by_timer: BTreeMap<Timer, Instant>,
    by_deadline: BTreeSet<(Instant, Timer)>,
}

impl Timers {
    /// Sets (or moves) `timer` to fire at `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        // Every frame of a read re-arms its link's timer to the same
        // deadline: that costs one lookup, not three tree updates.
        if self.by_timer.get(&timer) == Some(&at) {
            return;
        }
        if let Some(old) = self.by_timer.insert(timer, at) {
            self.by_deadline.remove(&(old, timer));
        }
        self.by_deadline.insert((at, timer));
    }

    /// Sets `timer` to `at` unless it is already due earlier.
    pub(crate) fn set_earliest(&mut self, timer: Timer, at: Instant) {
        match self.by_timer.get(&timer) {
            Some(&cur) if cur <= at => {}
            _ => self.set(timer, at),
        }
    }

    /// Cancels `timer`.
    pub(crate) fn cancel(&mut self, timer: Timer) {
        if let Some(old) = self.by_timer.remove(&timer) {
            self.by_deadline.remove(&(old, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_deadline.first().map(|(at, _)| *at)
    }

    /// Removes and returns one timer due at `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let &(at, timer) = self.by_deadline.first()?;
        if at > now {
            return None;
        }
        self.by_deadline.remove(&(at, timer));
        self.by_timer.remove(&timer);
        Some(timer)
    }

    /// Number of timers set.
    /// When `timer` is due, if it is set.
    #[cfg(test)]
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.by_timer.get(&timer).copied()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_timer.len()
    }
}
