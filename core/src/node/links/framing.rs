//! Cutting frames out of a stream link's bytes.
//!
//! A read hands the node whatever the socket had: many whole frames, and
//! usually the start of one more. The whole frames are sliced out of the
//! read's buffer without copying; only the bytes of a frame split across
//! reads are gathered in the link's pending buffer, and only until that
//! one frame is complete, so a read that begins mid-frame costs the rest of
//! that frame in copies, not the whole read.

use bytes::{Bytes, BytesMut};
use smallvec::SmallVec;

use crate::wire::{peek_frame_len, Error, HEADER_LEN};

/// Frames cut from one read (most reads carry few; more spill to the heap).
pub(super) type Frames = SmallVec<[Bytes; 8]>;

/// Appends to `frames` every whole frame that `pending` (what earlier
/// reads left of an incomplete frame) and `data` make, and leaves the
/// start of the next frame in `pending`.
///
/// An error means the stream cannot be resynchronised (bad magic, a length
/// out of bounds): the frames before the bad one are still in `frames`, and
/// the link must be closed.
pub(super) fn cut_frames(
    pending: &mut BytesMut,
    mut data: Bytes,
    max_frame: usize,
    frames: &mut Frames,
) -> Result<(), Error> {
    // First the frame that began in an earlier read, from as few bytes of
    // `data` as it needs.
    while !pending.is_empty() {
        let need = peek_frame_len(pending, max_frame)?.unwrap_or(HEADER_LEN);
        if pending.len() >= need {
            frames.push(pending.split_to(need).freeze());
            continue;
        }
        let take = (need - pending.len()).min(data.len());
        pending.extend_from_slice(&data.split_to(take));
        if pending.len() < need {
            // `data` ran out: the frame continues in the next read.
            return Ok(());
        }
    }
    // Then the frames that lie whole in `data`: slices, no copies.
    while let Some(n) = peek_frame_len(&data, max_frame)? {
        if n > data.len() {
            break;
        }
        frames.push(data.split_to(n));
    }
    pending.extend_from_slice(&data);
    Ok(())
}

#[cfg(test)]
mod tests {
    use alloc::vec::Vec;

    use super::*;
    use crate::wire::link::{LinkMessage, Ping};
    use crate::wire::Frame;

    fn frames_of(n: u64) -> Vec<Bytes> {
        (0..n)
            .map(|t| Frame::new(LinkMessage::Ping(Ping { token: t })).to_bytes().unwrap())
            .collect()
    }

    /// Feeds `stream` in reads of the given sizes (cycled) and returns the
    /// frames cut, and how many of them were copied (not slices of the
    /// read that completed them).
    fn cut_in_reads(stream: &[u8], reads: &[usize]) -> (Vec<Bytes>, usize) {
        let mut pending = BytesMut::new();
        let mut out = Vec::new();
        let mut copied = 0;
        let mut at = 0;
        for &r in reads.iter().cycle() {
            if at >= stream.len() {
                break;
            }
            let end = (at + r.max(1)).min(stream.len());
            let mut frames = Frames::new();
            let data = Bytes::copy_from_slice(&stream[at..end]);
            let range = data.as_ptr_range();
            cut_frames(&mut pending, data, 1 << 20, &mut frames).unwrap();
            copied += frames.iter().filter(|f| !range.contains(&f.as_ptr())).count();
            out.extend(frames);
            at = end;
        }
        (out, copied)
    }

    #[test]
    fn frames_split_anywhere_across_reads_come_out_whole_and_in_order() {
        let frames = frames_of(40);
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        for reads in [&[1usize][..], &[2], &[7], &[13, 1, 200], &[stream.len()], &[64, 3]] {
            let (out, _) = cut_in_reads(&stream, reads);
            assert_eq!(out, frames, "reads of {reads:?}");
        }
    }

    #[test]
    fn only_the_frame_split_across_reads_is_copied() {
        let frames = frames_of(100);
        let len = frames[0].len();
        let stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        // Reads of 10.5 frames: every other boundary splits a frame, and
        // only that frame is gathered from two reads.
        let read = len * 21 / 2;
        let (out, copied) = cut_in_reads(&stream, &[read]);
        assert_eq!(out, frames);
        let splits =
            (1..stream.len().div_ceil(read)).filter(|k| !(k * read).is_multiple_of(len)).count();
        assert!(splits > 0);
        assert_eq!(copied, splits);
    }

    #[test]
    fn a_bad_header_keeps_the_frames_before_it_and_fails() {
        let frames = frames_of(3);
        let mut stream: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
        stream.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let mut pending = BytesMut::new();
        let mut out = Frames::new();
        let r = cut_frames(&mut pending, Bytes::from(stream), 1 << 20, &mut out);
        assert!(r.is_err());
        assert_eq!(out.to_vec(), frames);
    }

    #[test]
    fn a_frame_longer_than_the_limit_fails_once_its_header_is_in() {
        let big = Frame::new(LinkMessage::Ping(Ping { token: 1 })).to_bytes().unwrap();
        let mut pending = BytesMut::new();
        let mut out = Frames::new();
        // Half a header: not decidable yet.
        assert!(cut_frames(&mut pending, big.slice(..HEADER_LEN / 2), 8, &mut out).is_ok());
        assert!(cut_frames(&mut pending, big.slice(HEADER_LEN / 2..), 8, &mut out).is_err());
        assert!(out.is_empty());
    }
}
