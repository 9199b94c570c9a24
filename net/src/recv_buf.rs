//! A stream link's receive buffer: reads land in one large buffer, and each
//! read's bytes leave it as a [`Bytes`] that shares the buffer rather than
//! a copy of it.
//!
//! The node slices frames and payloads out of those bytes without copying
//! (only a frame split across two reads is gathered), so a message reaches
//! the application as a slice of the very buffer the socket filled. The
//! price of sharing is memory: a payload the application keeps holds its
//! whole chunk. A chunk is replaced once less than [`MIN_SPACE`] is left;
//! the old one is freed when the last slice of it is dropped.

use bytes::{Bytes, BytesMut};

/// Bytes of each receive chunk: one read takes up to a whole 64 KiB DATA
/// fragment (`Config::fragment_size`), with room for the frame around it.
pub const RECV_CHUNK: usize = 64 * 1024 + 1024;

/// A read offered less room than this gets a fresh chunk first, so that
/// reads stay large.
pub const MIN_SPACE: usize = 16 * 1024;

/// A link's receive buffer (see the module docs).
#[derive(Debug, Default)]
pub struct RecvBuffer {
    /// The unread part of the current chunk, zero-filled so that any
    /// `Read` may write into it.
    free: BytesMut,
}

impl RecvBuffer {
    /// An empty buffer; the first read allocates its chunk.
    pub fn new() -> RecvBuffer {
        RecvBuffer::default()
    }

    /// Where the next read writes: at least [`MIN_SPACE`] bytes.
    pub fn space(&mut self) -> &mut [u8] {
        if self.free.len() < MIN_SPACE {
            self.free = BytesMut::zeroed(RECV_CHUNK);
        }
        &mut self.free[..]
    }

    /// The read wrote `n` bytes at the start of [`space`](Self::space):
    /// they leave the buffer, shared, not copied.
    pub fn take(&mut self, n: usize) -> Bytes {
        self.free.split_to(n.min(self.free.len())).freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_share_one_chunk_until_it_runs_low() {
        let mut b = RecvBuffer::new();
        b.space()[..3].copy_from_slice(b"abc");
        let first = b.take(3);
        b.space()[..2].copy_from_slice(b"de");
        let second = b.take(2);
        assert_eq!((&first[..], &second[..]), (&b"abc"[..], &b"de"[..]));
        // Consecutive reads are consecutive bytes of one chunk: no copy.
        assert_eq!(first.as_ptr().wrapping_add(3), second.as_ptr());
        // Past the low-water mark a fresh chunk is used, and the bytes
        // handed out before stay valid.
        let big = b.space().len() - MIN_SPACE + 1;
        let _ = b.take(big);
        assert!(b.space().len() >= MIN_SPACE);
        assert_eq!(&first[..], b"abc");
        assert_eq!(b.take(usize::MAX).len(), RECV_CHUNK, "a take never passes the space");
    }
}
