//! The discovery MAC: keyed BLAKE2s with a 16-byte digest over the whole
//! frame, the tag bytes read as zero (PROTOCOL section 12).

use core::fmt;
use core::ops::Range;

use blake2::digest::consts::{U16, U32};
use blake2::digest::Mac;
use blake2::Blake2sMac;
use bytes::Bytes;

use super::{ClusterKey, Keyring, KEY_LEN};
use crate::wire::codec::get_u16;
use crate::wire::ext::{Extensions, EXT_AUTH_TAG, MANDATORY};
use crate::wire::{Frame, Message, HEADER_LEN};

/// Bytes of the tag (after `key_id`) in AUTH_TAG: 128 bits, the usual
/// strength of a MAC; a forgery is one chance in 2^128 per try.
pub const TAG_LEN: usize = 16;

type Mac128 = Blake2sMac<U16>;
type Mac256 = Blake2sMac<U32>;

/// Keyed BLAKE2s-256 of `label` under `key`: the derivations of
/// [`ClusterKey`].
pub(super) fn derive(key: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    let mut m = <Mac256 as Mac>::new(key.into());
    m.update(label);
    m.finalize().into_bytes().into()
}

/// Why a frame failed authentication. Each is counted as
/// [`Stats::auth_failed`](crate::node::Stats::auth_failed) and the frame
/// dropped; none is ever reported to the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No REPLAY_COUNTER or no AUTH_TAG.
    Missing,
    /// No key in the ring has the frame's `key_id`.
    UnknownKey,
    /// The tag is not [`TAG_LEN`] bytes, or no key with its id made it.
    BadTag,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthError::Missing => "no replay counter or authentication tag",
            AuthError::UnknownKey => "authentication tag names no known key",
            AuthError::BadTag => "authentication tag does not verify",
        })
    }
}

impl core::error::Error for AuthError {}

/// The MAC of a whole frame: keyed BLAKE2s with digest length 16 under
/// `key`'s discovery MAC key, over `frame` with the bytes in `tag_at` read
/// as zeros.
fn mac_of(key: &ClusterKey, frame: &[u8], tag_at: Range<usize>) -> Mac128 {
    let mut m = <Mac128 as Mac>::new(key.mac_key().into());
    m.update(&frame[..tag_at.start]);
    m.update(&[0u8; TAG_LEN][..tag_at.len().min(TAG_LEN)]);
    m.update(&frame[tag_at.end..]);
    m
}

/// The tag of `frame` under `key`, the tag bytes at `tag_at` read as zeros.
/// `None` when `tag_at` is not a [`TAG_LEN`]-byte range inside `frame`.
pub fn frame_tag(key: &ClusterKey, frame: &[u8], tag_at: Range<usize>) -> Option<[u8; TAG_LEN]> {
    if tag_at.end > frame.len() || tag_at.len() != TAG_LEN {
        return None;
    }
    Some(mac_of(key, frame, tag_at).finalize().into_bytes().into())
}

/// Where the value of the first AUTH_TAG TLV lies in a whole frame: its
/// `key_id` byte and its tag. `None` without one (or with a block that does
/// not parse, which a parsed frame never has).
fn find_tag(frame: &[u8]) -> Option<(u8, Range<usize>)> {
    let start = HEADER_LEN + 2;
    let ext_len = usize::from(get_u16(frame.get(HEADER_LEN..start)?, 0));
    let block = frame.get(start..start.checked_add(ext_len)?)?;
    let mut pos = 0;
    while block.len().saturating_sub(pos) >= 4 {
        let ty = get_u16(block, pos) & !MANDATORY;
        let len = usize::from(get_u16(block, pos + 2));
        let value = pos + 4..pos + 4 + len;
        if value.end > block.len() {
            return None;
        }
        if ty == EXT_AUTH_TAG && len >= 1 {
            let key_id = block[value.start];
            return Some((key_id, start + value.start + 1..start + value.end));
        }
        pos = value.end;
    }
    None
}

/// Encodes `message` as a whole frame in the newest version of its
/// sub-protocol, with REPLAY_COUNTER = `counter` and AUTH_TAG (`key`'s id
/// and the tag) as its extensions, both optional (M clear), in that order.
///
/// # Errors
///
/// What encoding the frame would return: only a message with a field
/// too large for the wire fails.
pub fn sign_frame(
    key: &ClusterKey,
    counter: u64,
    message: impl Into<Message>,
) -> crate::wire::Result<Bytes> {
    let extensions = Extensions::builder()
        .replay_counter(counter)
        .auth_tag(key.id(), &[0; TAG_LEN], false)
        .build()?;
    let mut frame = Frame::new(message);
    frame.extensions = extensions;
    let mut v = alloc::vec![0u8; frame.buffer_len()];
    frame.emit(&mut v)?;
    // The tag is the last thing in the extension block.
    let end = HEADER_LEN + frame.extensions.block_len();
    let at = end - TAG_LEN..end;
    let tag = mac_of(key, &v, at.clone()).finalize().into_bytes();
    v[at].copy_from_slice(&tag);
    Ok(Bytes::from(v))
}

/// Checks the AUTH_TAG of a whole, parsed frame `raw` (whose extensions
/// are `extensions`) against every key of `ring` with the tag's `key_id`,
/// in constant time per key. Returns the frame's replay counter, which the
/// caller checks for freshness.
///
/// # Errors
///
/// [`AuthError`]: a missing TLV, an unknown key id, a tag of the wrong
/// length or one that does not verify.
pub fn verify_frame(ring: &Keyring, raw: &[u8], extensions: &Extensions) -> Result<u64, AuthError> {
    let counter = extensions.replay_counter().ok_or(AuthError::Missing)?;
    let (key_id, at) = find_tag(raw).ok_or(AuthError::Missing)?;
    if at.len() != TAG_LEN {
        return Err(AuthError::BadTag);
    }
    let mut known = false;
    for key in ring.by_id(key_id) {
        known = true;
        if mac_of(key, raw, at.clone()).verify_slice(&raw[at.clone()]).is_ok() {
            return Ok(counter);
        }
    }
    Err(if known { AuthError::BadTag } else { AuthError::UnknownKey })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::discovery::{Announce, Beacon};
    use crate::wire::{cluster_hash, DiscoveryMessage, NodeId, NodeState, VersionRanges};

    fn beacon() -> DiscoveryMessage {
        DiscoveryMessage::Beacon(Beacon(Announce {
            node_id: NodeId([7; 16]),
            cluster_hash: cluster_hash("demo"),
            incarnation: 1,
            sequence: 1,
            interval_ms: 1000,
            peer_count: 0,
            state: NodeState::Ready,
            link_addr: "192.0.2.1:7400".parse().unwrap(),
            ranges: VersionRanges::supported(),
        }))
    }

    fn parsed(raw: &Bytes) -> Extensions {
        Frame::parse(raw).unwrap().extensions
    }

    #[test]
    fn a_signed_frame_verifies_with_any_key_of_the_ring_that_made_it() {
        let ring = Keyring::with_keys([1; 32], [[2; 32]]).unwrap();
        let raw = sign_frame(ring.primary(), 5, beacon()).unwrap();
        assert_eq!(verify_frame(&ring, &raw, &parsed(&raw)), Ok(5));
        // A node whose primary is the other key still accepts the first.
        let rotated = Keyring::with_keys([2; 32], [[1; 32]]).unwrap();
        assert_eq!(verify_frame(&rotated, &raw, &parsed(&raw)), Ok(5));
        let other = Keyring::new([3; 32]);
        let e = verify_frame(&other, &raw, &parsed(&raw)).unwrap_err();
        assert!(matches!(e, AuthError::UnknownKey | AuthError::BadTag), "{e:?}");
    }

    #[test]
    fn any_changed_bit_fails() {
        let ring = Keyring::new([1; 32]);
        let raw = sign_frame(ring.primary(), 9, beacon()).unwrap();
        for i in 0..raw.len() {
            for bit in [0x01u8, 0x80] {
                let mut v = raw.to_vec();
                v[i] ^= bit;
                let v = Bytes::from(v);
                // Flips that break the frame's syntax are refused earlier.
                let Ok(f) = Frame::parse(&v) else { continue };
                assert!(verify_frame(&ring, &v, &f.extensions).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn frames_without_the_tlvs_are_refused() {
        let ring = Keyring::new([1; 32]);
        let plain = Frame::new(beacon()).to_bytes().unwrap();
        assert_eq!(verify_frame(&ring, &plain, &parsed(&plain)), Err(AuthError::Missing));
        // A short tag is refused whatever its bytes.
        let mut f = Frame::new(beacon());
        f.extensions = Extensions::builder()
            .replay_counter(1)
            .auth_tag(ring.primary().id(), &[0; 8], false)
            .build()
            .unwrap();
        let raw = f.to_bytes().unwrap();
        assert_eq!(verify_frame(&ring, &raw, &parsed(&raw)), Err(AuthError::BadTag));
    }

    #[test]
    fn the_tag_is_keyed_blake2s_128_over_the_zeroed_frame() {
        let ring = Keyring::new([1; 32]);
        let raw = sign_frame(ring.primary(), 1, beacon()).unwrap();
        let end = HEADER_LEN + parsed(&raw).block_len();
        let at = end - TAG_LEN..end;
        let tag = frame_tag(ring.primary(), &raw, at.clone()).unwrap();
        assert_eq!(&raw[at.clone()], &tag[..]);
        assert_eq!(frame_tag(ring.primary(), &raw, at.start..at.end - 1), None);
    }
}
