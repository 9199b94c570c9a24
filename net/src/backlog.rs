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

use bytes::{Bytes, BytesMut};

use crate::settings::DriverLimits;

/// Small frames pulled together are gathered into writes of up to this
/// many bytes: one hand-over (and one system call) for a burst of small
/// messages instead of one per frame. 64 KiB is what a loopback or LAN
/// socket takes in one call without waiting.
pub const GATHER: usize = 64 * 1024;

/// A frame at least this long is written as it is, never copied into a
/// gathered write.
const GATHER_ALONE: usize = GATHER / 4;

/// One write for a link's writer: `first`, and the frames `next` gives
/// after it while they are small and the write is under [`GATHER`] bytes.
/// A large frame that ends the gathering is returned as the second value,
/// to be written next, uncopied.
pub fn gather(first: Bytes, mut next: impl FnMut() -> Option<Bytes>) -> (Bytes, Option<Bytes>) {
    if first.len() >= GATHER_ALONE {
        return (first, None);
    }
    let mut buf: Option<BytesMut> = None;
    loop {
        if buf.as_ref().map_or(first.len(), BytesMut::len) >= GATHER {
            break;
        }
        let Some(frame) = next() else { break };
        if frame.len() >= GATHER_ALONE {
            return (buf.map_or(first, BytesMut::freeze), Some(frame));
        }
        let b = buf.get_or_insert_with(|| {
            let mut b = BytesMut::with_capacity(GATHER + GATHER_ALONE);
            b.extend_from_slice(&first);
            b
        });
        b.extend_from_slice(&frame);
    }
    (buf.map_or(first, BytesMut::freeze), None)
}

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

    fn frames(lens: &[usize]) -> Vec<Bytes> {
        lens.iter().enumerate().map(|(i, &n)| Bytes::from(vec![i as u8; n])).collect()
    }

    /// Gathers `frames` into writes as the engine does.
    fn writes(frames: Vec<Bytes>) -> Vec<Bytes> {
        let mut it = frames.into_iter();
        let mut out = Vec::new();
        while let Some(first) = it.next() {
            let (w, rest) = gather(first, || it.next());
            out.push(w);
            out.extend(rest);
        }
        out
    }

    #[test]
    fn small_frames_are_gathered_up_to_the_limit_and_large_ones_go_alone() {
        let small = frames(&[100; 2000]);
        let all: Vec<u8> = small.iter().flat_map(|f| f.to_vec()).collect();
        let w = writes(small);
        assert_eq!(w.iter().flat_map(|f| f.to_vec()).collect::<Vec<u8>>(), all, "order kept");
        // Each write but the last is full (at least GATHER, by less than
        // one frame more), so there are as few as there can be.
        assert!(w.iter().all(|f| f.len() < GATHER + 100));
        assert!(w[..w.len() - 1].iter().all(|f| f.len() >= GATHER));
        assert_eq!(w.len(), all.len().div_ceil(65_600));

        let big = GATHER_ALONE;
        let mixed = frames(&[10, 20, big, 30, big, big]);
        let ptrs: Vec<*const u8> = mixed.iter().map(|f| f.as_ptr()).collect();
        let w = writes(mixed);
        let lens: Vec<usize> = w.iter().map(Bytes::len).collect();
        assert_eq!(lens, [30, big, 30, big, big]);
        // The large frames are the very buffers handed in: not copied.
        assert_eq!(w[1].as_ptr(), ptrs[2]);
        assert_eq!(w[4].as_ptr(), ptrs[5]);
        // A lone small frame is not copied either.
        let one = frames(&[5]);
        let p = one[0].as_ptr();
        assert_eq!(writes(one)[0].as_ptr(), p);
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
