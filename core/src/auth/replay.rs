//! Freshness of authenticated frames: a high-water mark of replay counters
//! per sender, bounded.

use alloc::collections::BTreeMap;

use crate::wire::NodeId;

/// The last accepted (incarnation, counter) of each authenticated sender.
///
/// A frame is fresh when its incarnation is above the sender's recorded
/// one (the sender restarted: its counters start again, so the old mark
/// must not lock it out), or equal with a counter above the mark. An older
/// incarnation is never fresh: its frames are captures of a past life.
///
/// Only frames whose tag verified reach this table, so only key holders
/// can make it grow. It holds at most `cap` senders; past that it forgets
/// the sender accepted least recently, whose old frames could then be
/// replayed once each until it is heard again (see `docs/SECURITY.md`).
#[derive(Debug, Default)]
pub(crate) struct ReplayTable {
    senders: BTreeMap<NodeId, Mark>,
    /// Senders by when they were last accepted, oldest first.
    by_age: BTreeMap<u64, NodeId>,
    tick: u64,
}

#[derive(Debug, Clone, Copy)]
struct Mark {
    incarnation: u64,
    counter: u64,
    tick: u64,
}

impl ReplayTable {
    /// Whether (`incarnation`, `counter`) from `id` is fresh; if so it
    /// becomes `id`'s mark. `cap` bounds the senders remembered.
    pub(crate) fn accept(
        &mut self,
        id: NodeId,
        incarnation: u64,
        counter: u64,
        cap: usize,
    ) -> bool {
        self.tick += 1;
        let tick = self.tick;
        match self.senders.get_mut(&id) {
            Some(m) => {
                let fresh = incarnation > m.incarnation
                    || (incarnation == m.incarnation && counter > m.counter);
                if !fresh {
                    return false;
                }
                self.by_age.remove(&m.tick);
                *m = Mark { incarnation, counter, tick };
            }
            None => {
                while self.senders.len() >= cap.max(1) {
                    let Some((_, oldest)) = self.by_age.pop_first() else { break };
                    self.senders.remove(&oldest);
                }
                self.senders.insert(id, Mark { incarnation, counter, tick });
            }
        }
        self.by_age.insert(tick, id);
        true
    }

    /// Senders remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.senders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: NodeId = NodeId([1; 16]);
    const B: NodeId = NodeId([2; 16]);
    const C: NodeId = NodeId([3; 16]);

    #[test]
    fn counters_must_grow_within_an_incarnation() {
        let mut t = ReplayTable::default();
        assert!(t.accept(A, 1, 5, 8));
        assert!(!t.accept(A, 1, 5, 8), "the same counter twice is a replay");
        assert!(!t.accept(A, 1, 4, 8), "an older counter is a replay");
        assert!(t.accept(A, 1, 9, 8), "gaps are fine: datagrams get lost");
    }

    #[test]
    fn a_restart_is_not_locked_out_and_its_past_stays_past() {
        let mut t = ReplayTable::default();
        assert!(t.accept(A, 1, 1000, 8));
        assert!(t.accept(A, 2, 1, 8), "a new incarnation starts its counter again");
        assert!(!t.accept(A, 1, 1001, 8), "the old incarnation is gone for good");
        assert!(t.accept(A, 2, 2, 8));
    }

    #[test]
    fn the_table_is_bounded_and_forgets_the_least_recently_accepted() {
        let mut t = ReplayTable::default();
        assert!(t.accept(A, 1, 1, 2));
        assert!(t.accept(B, 1, 1, 2));
        assert!(t.accept(A, 1, 2, 2), "A is now the most recent");
        assert!(t.accept(C, 1, 1, 2), "C takes B's place");
        assert_eq!(t.len(), 2);
        assert!(!t.accept(A, 1, 2, 2), "A is still remembered");
        assert!(t.accept(B, 1, 1, 2), "B was forgotten: its old counter passes once");
        assert!(!t.accept(B, 1, 1, 2));
    }
}
