//! Extension TLVs: the frame-level escape hatch for optional data.
//!
//! When the header flag [`FLAG_EXTENSIONS`](super::header::FLAG_EXTENSIONS) is
//! set, the header is followed by `ext_len` (u16, bytes of TLVs that follow)
//! and then TLVs:
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |M|        type (15 bits)       |         length (u16)          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    value (length bytes) ...                   |
//! ```
//!
//! `M` set means mandatory: a receiver that does not know the type rejects
//! the frame. Unknown optional TLVs are skipped (and kept, so a frame is
//! re-emitted byte for byte).

use alloc::vec::Vec;
use core::fmt;

use bytes::Bytes;

use super::codec::get_u16;
use super::error::{Error, Result};
use super::types::NodeId;

/// Bit of the type field that marks a TLV mandatory.
pub const MANDATORY: u16 = 0x8000;

/// Extension type: replay counter, u64, strictly increasing per sender
/// incarnation. Receivers that verify authentication drop frames whose counter
/// is not above the last one accepted.
pub const EXT_REPLAY_COUNTER: u16 = 0x0001;

/// Extension type: authentication tag. Value: `key_id` (u8) then the tag
/// (1..=64 bytes), a MAC over the whole frame with the tag bytes zeroed.
pub const EXT_AUTH_TAG: u16 = 0x0002;

/// Extension type: the sender's node id (16 bytes). Carried by REJECT, whose
/// frozen body names nobody, so that a node refused at an address it knew
/// only as a seed learns whose address that is.
pub const EXT_NODE_ID: u16 = 0x0003;

/// Extension type: congestion experienced, no value. Set on a DATA frame
/// by a node whose queue towards the next hop has passed its marking
/// threshold (PROTOCOL 7.15); receivers echo it with
/// [`EXT_CONGESTION_ECHO`]. Optional: older nodes skip it.
pub const EXT_CONGESTION: u16 = 0x0004;

/// Extension type: congestion echo, no value. Set on an ACK whose channel
/// received a DATA frame marked [`EXT_CONGESTION`] since the previous ACK:
/// the source reduces its congestion window.
pub const EXT_CONGESTION_ECHO: u16 = 0x0005;

/// Largest authentication tag accepted.
pub const MAX_AUTH_TAG: usize = 64;

/// One TLV as found on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlv {
    /// Type without the mandatory bit.
    pub ext_type: u16,
    /// Whether the sender marked it mandatory.
    pub mandatory: bool,
    /// The value, zero-copy.
    pub value: Bytes,
}

/// An authentication tag carried by [`EXT_AUTH_TAG`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthTag {
    /// Which cluster key produced the tag.
    pub key_id: u8,
    /// The tag bytes.
    pub tag: Bytes,
}

/// A validated extension block (the TLVs, without the `ext_len` prefix).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Extensions {
    raw: Bytes,
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Extensions {
    /// No extensions.
    pub const fn empty() -> Self {
        Extensions { raw: Bytes::new() }
    }

    /// Validates a block of TLVs: lengths consistent, known types well formed,
    /// no unknown mandatory type.
    pub fn parse(raw: Bytes) -> Result<Self> {
        let b = &raw[..];
        let mut pos = 0;
        while pos < b.len() {
            if b.len() - pos < 4 {
                return Err(Error::Truncated { field: "ext_tlv" });
            }
            let ty = get_u16(b, pos);
            let len = get_u16(b, pos + 2) as usize;
            pos += 4;
            if b.len() - pos < len {
                return Err(Error::Truncated { field: "ext_value" });
            }
            let code = ty & !MANDATORY;
            match code {
                EXT_REPLAY_COUNTER if len != 8 => {
                    return Err(Error::Malformed { field: "ext_replay_counter" })
                }
                EXT_AUTH_TAG if !(2..=1 + MAX_AUTH_TAG).contains(&len) => {
                    return Err(Error::Malformed { field: "ext_auth_tag" })
                }
                EXT_NODE_ID if len != NodeId::LEN => {
                    return Err(Error::Malformed { field: "ext_node_id" })
                }
                EXT_CONGESTION | EXT_CONGESTION_ECHO if len != 0 => {
                    return Err(Error::Malformed { field: "ext_congestion" })
                }
                EXT_REPLAY_COUNTER | EXT_AUTH_TAG | EXT_NODE_ID | EXT_CONGESTION
                | EXT_CONGESTION_ECHO => {}
                _ if ty & MANDATORY != 0 => {
                    return Err(Error::UnknownMandatoryExtension { ext_type: code })
                }
                _ => {}
            }
            pos += len;
        }
        Ok(Extensions { raw })
    }

    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Encoded size of the TLVs (without the `ext_len` prefix).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Encoded size of the block in a frame: `ext_len` and the TLVs, or
    /// nothing at all when there are none.
    pub fn block_len(&self) -> usize {
        if self.raw.is_empty() {
            0
        } else {
            2 + self.raw.len()
        }
    }

    /// The raw TLV bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// Every TLV, known or not, in wire order.
    pub fn iter(&self) -> TlvIter<'_> {
        TlvIter { raw: &self.raw, pos: 0 }
    }

    /// The replay counter, if present.
    pub fn replay_counter(&self) -> Option<u64> {
        self.iter().find(|t| t.ext_type == EXT_REPLAY_COUNTER).map(|t| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&t.value);
            u64::from_be_bytes(b)
        })
    }

    /// The authentication tag, if present.
    pub fn auth_tag(&self) -> Option<AuthTag> {
        self.iter()
            .find(|t| t.ext_type == EXT_AUTH_TAG)
            .map(|t| AuthTag { key_id: t.value[0], tag: t.value.slice(1..) })
    }

    /// The sender's node id, if present.
    pub fn node_id(&self) -> Option<NodeId> {
        self.iter().find(|t| t.ext_type == EXT_NODE_ID).and_then(|t| {
            let b: [u8; NodeId::LEN] = t.value[..].try_into().ok()?;
            Some(NodeId(b))
        })
    }

    /// Whether a TLV of `ext_type` is present.
    pub fn has(&self, ext_type: u16) -> bool {
        self.iter().any(|t| t.ext_type == ext_type)
    }

    /// The block with an optional, empty TLV of `ext_type` added (the same
    /// block if it has one already).
    pub fn with_flag(&self, ext_type: u16) -> Result<Extensions> {
        if self.has(ext_type) {
            return Ok(self.clone());
        }
        let mut b = Extensions::builder();
        b.raw.extend_from_slice(&self.raw);
        b.raw_tlv(ext_type, false, &[]).build()
    }

    /// Starts building a block.
    pub fn builder() -> ExtensionsBuilder {
        ExtensionsBuilder { raw: Vec::new() }
    }
}

/// Iterator over the TLVs of a validated block.
pub struct TlvIter<'a> {
    raw: &'a Bytes,
    pos: usize,
}

impl Iterator for TlvIter<'_> {
    type Item = Tlv;

    fn next(&mut self) -> Option<Tlv> {
        // The block was validated at construction, so the bounds hold; the
        // checks below only keep a logic slip from turning into a panic.
        let b = &self.raw[..];
        if b.len().saturating_sub(self.pos) < 4 {
            return None;
        }
        let ty = get_u16(b, self.pos);
        let len = get_u16(b, self.pos + 2) as usize;
        let start = self.pos + 4;
        let end = start.checked_add(len).filter(|&e| e <= b.len())?;
        self.pos = end;
        Some(Tlv {
            ext_type: ty & !MANDATORY,
            mandatory: ty & MANDATORY != 0,
            value: self.raw.slice(start..end),
        })
    }
}

/// Builds an extension block.
#[derive(Debug, Clone)]
pub struct ExtensionsBuilder {
    raw: Vec<u8>,
}

impl ExtensionsBuilder {
    /// Adds a replay counter.
    pub fn replay_counter(self, counter: u64) -> Self {
        self.raw_tlv(EXT_REPLAY_COUNTER, false, &counter.to_be_bytes())
    }

    /// Adds an authentication tag; tags longer than [`MAX_AUTH_TAG`] are cut.
    pub fn auth_tag(self, key_id: u8, tag: &[u8], mandatory: bool) -> Self {
        let tag = &tag[..tag.len().min(MAX_AUTH_TAG)];
        let mut v = Vec::with_capacity(1 + tag.len());
        v.push(key_id);
        v.extend_from_slice(tag);
        self.raw_tlv(EXT_AUTH_TAG, mandatory, &v)
    }

    /// Adds the sender's node id (optional: older receivers skip it).
    pub fn node_id(self, id: NodeId) -> Self {
        self.raw_tlv(EXT_NODE_ID, false, id.as_bytes())
    }

    /// Adds any TLV; values longer than 65535 bytes are cut.
    pub fn raw_tlv(mut self, ext_type: u16, mandatory: bool, value: &[u8]) -> Self {
        let value = &value[..value.len().min(u16::MAX as usize)];
        let ty = (ext_type & !MANDATORY) | if mandatory { MANDATORY } else { 0 };
        self.raw.extend_from_slice(&ty.to_be_bytes());
        self.raw.extend_from_slice(&(value.len() as u16).to_be_bytes());
        self.raw.extend_from_slice(value);
        self
    }

    /// The finished block. Fails if it holds an unknown mandatory TLV or is
    /// too long for `ext_len`, exactly as a receiver would.
    pub fn build(self) -> Result<Extensions> {
        if self.raw.len() > u16::MAX as usize {
            return Err(Error::Oversized {
                field: "ext_len",
                len: self.raw.len(),
                max: u16::MAX as usize,
            });
        }
        Extensions::parse(Bytes::from(self.raw))
    }
}
