//! A stream link's receive buffer: reads land in one large chunk, and what
//! they bring leaves it in whole frames, as [`Bytes`] that share the chunk
//! rather than copies of it.
//!
//! The node slices frames and payloads out of those bytes without copying,
//! so a message reaches the application as a slice of the very memory the
//! socket filled. Handing over whole frames only (the start of a frame
//! waits in the chunk for the read that completes it) means the node never
//! gathers a frame split across two reads; the only copy left is of a
//! frame cut by the end of a chunk, moved to the start of the next.
//!
//! The price of sharing is memory: a payload the application keeps holds
//! its whole chunk, which is freed when the last slice of it is dropped.

use bytes::{Bytes, BytesMut};
use netcluster_core::wire::peek_frame_len;

/// Bytes of each receive chunk: four 64 KiB DATA fragments
/// (`Config::fragment_size`), so a frame is cut by a chunk's end about once
/// in four.
pub const RECV_CHUNK: usize = 256 * 1024;

/// A read offered less room than this gets a fresh chunk first, so that
/// reads stay large.
pub const MIN_SPACE: usize = 16 * 1024;

/// A link's receive buffer (see the module docs).
#[derive(Debug)]
pub struct RecvBuffer {
    /// `[..filled]` read and not handed over (the start of a frame), then
    /// zero-filled room that any `Read` may write into.
    chunk: BytesMut,
    filled: usize,
    /// The largest frame the node accepts: a chunk grows to hold one.
    max_frame: usize,
}

impl Default for RecvBuffer {
    /// A buffer for the default frame limit (`Limits::DEFAULT`).
    fn default() -> RecvBuffer {
        RecvBuffer::new(netcluster_core::wire::Limits::DEFAULT.max_frame)
    }
}

impl RecvBuffer {
    /// An empty buffer for frames of at most `max_frame` bytes (the node's
    /// `limits.max_frame`: a chunk grows to hold one, never more); the
    /// first read allocates its chunk.
    pub fn new(max_frame: usize) -> RecvBuffer {
        RecvBuffer { chunk: BytesMut::new(), filled: 0, max_frame }
    }

    /// Where the next read writes: at least [`MIN_SPACE`] bytes, and
    /// enough for the rest of the frame begun, if it is known.
    pub fn space(&mut self) -> &mut [u8] {
        let want = match peek_frame_len(&self.chunk[..self.filled], self.max_frame) {
            Ok(Some(n)) => n.max(self.filled) + MIN_SPACE,
            _ => self.filled + MIN_SPACE,
        };
        if self.chunk.len() < want {
            let mut fresh = BytesMut::zeroed(want.max(RECV_CHUNK));
            fresh[..self.filled].copy_from_slice(&self.chunk[..self.filled]);
            self.chunk = fresh;
        }
        &mut self.chunk[self.filled..]
    }

    /// The read wrote `n` bytes at the start of [`space`](Self::space).
    /// Returns the whole frames now held, shared, not copied (`None` until
    /// a frame is complete). Bytes that cannot start a frame (bad magic, a
    /// length out of bounds) are handed over as they are, for the node to
    /// refuse.
    pub fn take(&mut self, n: usize) -> Option<Bytes> {
        self.filled = (self.filled + n).min(self.chunk.len());
        let mut whole = 0;
        loop {
            match peek_frame_len(&self.chunk[whole..self.filled], self.max_frame) {
                Ok(Some(len)) if whole + len <= self.filled => whole += len,
                Ok(_) => break,
                Err(_) => {
                    whole = self.filled;
                    break;
                }
            }
        }
        if whole == 0 {
            return None;
        }
        self.filled -= whole;
        Some(self.chunk.split_to(whole).freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcluster_core::wire::link::{LinkMessage, Ping};
    use netcluster_core::wire::Frame;

    fn frame(token: u64) -> Bytes {
        Frame::new(LinkMessage::Ping(Ping { token })).to_bytes().unwrap()
    }

    /// Feeds `stream` in reads of `read` bytes; returns what was handed
    /// over, in the pieces it came in.
    fn feed(b: &mut RecvBuffer, stream: &[u8], read: usize) -> Vec<Bytes> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < stream.len() {
            let space = b.space();
            let n = read.min(space.len()).min(stream.len() - at);
            space[..n].copy_from_slice(&stream[at..at + n]);
            at += n;
            out.extend(b.take(n));
        }
        out
    }

    #[test]
    fn only_whole_frames_leave_and_reads_share_the_chunk() {
        let frames: Vec<Bytes> = (0..50).map(frame).collect();
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.to_vec()).collect();
        let mut b = RecvBuffer::new(1 << 20);
        let pieces = feed(&mut b, &stream, 7);
        let flat: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
        assert_eq!(flat, stream, "everything, in order");
        // Every piece is whole frames: it parses as a run of them.
        for p in &pieces {
            let mut at = 0;
            while at < p.len() {
                let n = peek_frame_len(&p[at..], 1 << 20).unwrap().unwrap();
                assert!(at + n <= p.len(), "a piece ends mid-frame");
                at += n;
            }
        }
        // Consecutive pieces are consecutive bytes of one chunk.
        for w in pieces.windows(2) {
            assert_eq!(w[0].as_ptr().wrapping_add(w[0].len()), w[1].as_ptr());
        }
    }

    #[test]
    fn a_frame_larger_than_a_chunk_gets_a_chunk_of_its_own() {
        let big = vec![0xa5u8; 3 * RECV_CHUNK];
        let mut payload_frame = Vec::new();
        // A PING frame's header with a length that covers `big`: only the
        // cutting is under test, not the body.
        let head = frame(1);
        let len = (head.len() + big.len()) as u32;
        payload_frame.extend_from_slice(&head);
        payload_frame.extend_from_slice(&big);
        // The length field sits at bytes 6..10 of the header.
        payload_frame[6..10].copy_from_slice(&len.to_be_bytes());
        let mut b = RecvBuffer::new(4 * RECV_CHUNK);
        let pieces = feed(&mut b, &payload_frame, 64 * 1024);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].len(), payload_frame.len());
    }

    #[test]
    fn bytes_that_cannot_start_a_frame_are_handed_over_for_the_node_to_refuse() {
        let mut b = RecvBuffer::new(1 << 20);
        let space = b.space();
        space[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(b.take(4).as_deref(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    }
}
