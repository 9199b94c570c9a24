//! The payload of a bundle: several whole messages in one DATA frame.
//!
//! A DATA frame with [`FLAG_BUNDLE`](super::FLAG_BUNDLE) carries
//! `frag_count` messages with consecutive sequence numbers, the first one
//! being the frame's `seq`. Its payload is the messages one after the other,
//! each preceded by its length:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          len (u16)            |  message (len bytes)      ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          len (u16)            |  message (len bytes)      ... |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Small messages are where a per-frame cost (header, route, parse, write)
//! dominates; a bundle pays it once for many messages.

use bytes::{BufMut, Bytes, BytesMut};

use super::super::error::{Error, Result};

/// Bytes of an entry's length prefix.
pub const BUNDLE_ENTRY_HEADER: usize = 2;

/// Largest message a bundle entry can hold.
pub const BUNDLE_ENTRY_MAX: usize = u16::MAX as usize;

/// Checks that `payload` is exactly `count` entries.
pub(super) fn check_bundle(payload: &[u8], count: u16) -> Result<()> {
    let mut at = 0;
    for _ in 0..count {
        let Some(len) = payload.get(at..at + BUNDLE_ENTRY_HEADER) else {
            return Err(Error::Malformed { field: "bundle" });
        };
        at += BUNDLE_ENTRY_HEADER + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if at > payload.len() {
            return Err(Error::Malformed { field: "bundle" });
        }
    }
    if at != payload.len() {
        return Err(Error::Malformed { field: "bundle" });
    }
    Ok(())
}

/// The messages of a bundle's payload, zero-copy, in order.
///
/// Made from a payload that parsed as a bundle, it yields exactly
/// `frag_count` messages; on other bytes it stops at the first entry that
/// does not fit.
#[derive(Debug, Clone)]
pub struct BundleIter {
    payload: Bytes,
    at: usize,
}

impl BundleIter {
    /// The entries of `payload`.
    pub fn new(payload: Bytes) -> Self {
        BundleIter { payload, at: 0 }
    }
}

impl Iterator for BundleIter {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        let len = self.payload.get(self.at..self.at + BUNDLE_ENTRY_HEADER)?;
        let start = self.at + BUNDLE_ENTRY_HEADER;
        let end = start + usize::from(u16::from_be_bytes([len[0], len[1]]));
        if end > self.payload.len() {
            self.at = self.payload.len();
            return None;
        }
        self.at = end;
        Some(self.payload.slice(start..end))
    }
}

/// Builds a bundle's payload from messages of at most
/// [`BUNDLE_ENTRY_MAX`] bytes each; `None` if one is larger.
pub fn bundle_payload<'a>(messages: impl IntoIterator<Item = &'a Bytes>) -> Option<Bytes> {
    let messages = messages.into_iter();
    let mut out = BytesMut::with_capacity(messages.size_hint().0 * 16);
    for m in messages {
        let len = u16::try_from(m.len()).ok()?;
        out.put_u16(len);
        out.put_slice(m);
    }
    Some(out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::link::{Data, Route, Semantics, FLAG_BUNDLE, FLAG_FIN};
    use crate::wire::{Frame, LinkMessage, Message, NodeId};
    use alloc::vec::Vec;

    #[test]
    fn entries_round_trip_and_are_checked() {
        let msgs: Vec<Bytes> = [&b""[..], b"a", b"hello", &[7u8; 300][..]]
            .iter()
            .map(|s| Bytes::from(s.to_vec()))
            .collect();
        let p = bundle_payload(&msgs).unwrap();
        assert_eq!(p.len(), msgs.iter().map(|m| m.len() + 2).sum::<usize>());
        check_bundle(&p, 4).unwrap();
        assert_eq!(BundleIter::new(p.clone()).collect::<Vec<_>>(), msgs);
        // A wrong count, a cut entry and trailing bytes are all malformed.
        assert!(check_bundle(&p, 3).is_err());
        assert!(check_bundle(&p, 5).is_err());
        assert!(check_bundle(&p[..p.len() - 1], 4).is_err());
        let mut longer = p.to_vec();
        longer.push(0);
        assert!(check_bundle(&longer, 4).is_err());
        // The iterator stops at an entry that does not fit, without panicking.
        let cut = Bytes::from(p[..p.len() - 1].to_vec());
        assert_eq!(BundleIter::new(cut).count(), 3);
    }

    fn frame(flags: u8, count: u16, semantics: Semantics, group: Option<&str>) -> Bytes {
        let msgs = [Bytes::from_static(b"ab"), Bytes::from_static(b"c")];
        let payload = bundle_payload(&msgs).unwrap();
        let ids = [NodeId([1; 16]), NodeId([2; 16])];
        let data = Data {
            flags,
            semantics,
            priority: 4,
            channel: semantics as u32,
            seq: 9,
            frag_index: 0,
            frag_count: count,
            msg_len: payload.len() as u32,
            route: Route::path(&ids).unwrap(),
            group: group.map(Into::into),
            payload,
        };
        Frame::new(LinkMessage::Data(data)).to_bytes().unwrap()
    }

    #[test]
    fn a_bundle_parses_only_as_whole_unicast_messages() {
        let ok = Frame::parse(&frame(FLAG_BUNDLE, 2, Semantics::Reliable, None)).unwrap();
        let Message::Link(LinkMessage::Data(d)) = ok.message else { panic!("not DATA") };
        assert_eq!(BundleIter::new(d.payload).count(), 2);
        let bad = [
            frame(FLAG_BUNDLE, 3, Semantics::Reliable, None),
            frame(FLAG_BUNDLE, 1, Semantics::Reliable, None),
            frame(FLAG_BUNDLE, 2, Semantics::Stream, None),
            frame(FLAG_BUNDLE | FLAG_FIN, 2, Semantics::Reliable, None),
            frame(FLAG_BUNDLE, 2, Semantics::Reliable, Some("g")),
        ];
        for f in bad {
            assert!(
                matches!(Frame::parse(&f), Err(Error::Malformed { .. })),
                "{:?}",
                Frame::parse(&f)
            );
        }
    }

    #[test]
    fn an_entry_over_the_limit_is_refused() {
        let big = Bytes::from(alloc::vec![0u8; BUNDLE_ENTRY_MAX + 1]);
        assert!(bundle_payload(&[big]).is_none());
    }
}
