//! What a link's writer holds and has not written yet, shared between the
//! engine, which adds what it hands over, and the writer, which takes off
//! what reached the socket.
//!
//! The engine pulls frames from the node only while the backlog is under
//! both limits ([`DriverLimits::write_queue`] frames and
//! [`DriverLimits::write_buffer`] bytes). When it stops, it asks to hear of
//! room ([`Backlog::want`]); the writer answers once it has written the
//! backlog down to half, and the engine pulls again. So a slow link holds
//! its data in the node's bounded queue, where it slows its senders, and a
//! link is never closed for being slow.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::settings::DriverLimits;

/// A link writer's backlog. Cheap to share (`Arc`).
#[derive(Debug, Default)]
pub struct Backlog {
    frames: AtomicUsize,
    bytes: AtomicUsize,
    /// The engine stopped pulling for lack of room and waits to hear.
    want: AtomicBool,
}

impl Backlog {
    /// Whether the writer may take another frame.
    pub fn has_room(&self, limits: &DriverLimits) -> bool {
        self.frames.load(Ordering::Acquire) < limits.write_queue
            && self.bytes.load(Ordering::Acquire) < limits.write_buffer
    }

    /// The engine handed the writer a frame of `len` bytes.
    pub fn add(&self, len: usize) {
        self.frames.fetch_add(1, Ordering::AcqRel);
        self.bytes.fetch_add(len, Ordering::AcqRel);
    }

    /// The writer has written `frames` frames of `bytes` in all. Returns
    /// true when the engine is waiting to hear of room and the backlog is
    /// down to half of both limits: the writer tells the engine then (once).
    #[must_use]
    pub fn written(&self, frames: usize, bytes: usize, limits: &DriverLimits) -> bool {
        let f = sub(&self.frames, frames);
        let b = sub(&self.bytes, bytes);
        let low = f <= limits.write_queue / 2 && b <= limits.write_buffer / 2;
        low && self.want.swap(false, Ordering::AcqRel)
    }

    /// The engine found no room: it asks to hear of it. Returns true when
    /// room appeared meanwhile (the writer may have drained before seeing
    /// the request), and the engine should go on pulling.
    #[must_use]
    pub fn want(&self, limits: &DriverLimits) -> bool {
        self.want.store(true, Ordering::Release);
        if self.has_room(limits) {
            // Whoever clears it first goes on; a second wake-up is harmless.
            return self.want.swap(false, Ordering::AcqRel);
        }
        false
    }

    /// Frames and bytes held.
    pub fn held(&self) -> (usize, usize) {
        (self.frames.load(Ordering::Acquire), self.bytes.load(Ordering::Acquire))
    }
}

/// Takes `n` off `a`, never below zero; returns what is left.
fn sub(a: &AtomicUsize, n: usize) -> usize {
    let old = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |v| Some(v.saturating_sub(n)));
    old.unwrap_or(0).saturating_sub(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> DriverLimits {
        DriverLimits { write_queue: 4, write_buffer: 1000, ..DriverLimits::default() }
    }

    #[test]
    fn room_ends_at_either_limit_and_the_writer_says_when_it_is_back() {
        let l = limits();
        let b = Backlog::default();
        b.add(600);
        assert!(b.has_room(&l));
        b.add(600);
        assert!(!b.has_room(&l), "past the byte limit");
        assert!(!b.want(&l));
        assert!(!b.written(1, 600, &l), "600 bytes left: above half");
        assert!(b.written(1, 600, &l), "down to nothing: the engine hears");
        assert!(!b.written(0, 0, &l), "once");
        for _ in 0..4 {
            b.add(1);
        }
        assert!(!b.has_room(&l), "past the frame limit");
        assert_eq!(b.held(), (4, 4));
    }

    #[test]
    fn a_drain_before_the_request_is_not_missed() {
        let l = limits();
        let b = Backlog::default();
        b.add(2000);
        // The writer drains before the engine asks.
        assert!(!b.written(1, 2000, &l));
        assert!(b.want(&l), "room already: go on pulling");
    }
}
