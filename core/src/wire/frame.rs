//! Whole frames: header, extensions and a typed message of a sub-protocol
//! the core decodes; and the frame building blocks ([`FrameParts`],
//! [`write_frame`]) that codecs of the other sub-protocols share.

use alloc::vec;

use bytes::Bytes;

use super::codec::{check_room, get_u16};
use super::error::{Error, Result};
use super::ext::Extensions;
use super::header::{
    write_header, FrameHeader, Protocol, FLAGS_KNOWN, FLAG_EXTENSIONS, HEADER_LEN,
};
use super::types::Limits;
use super::{DiscoveryMessage, LinkMessage};

/// A message of a sub-protocol the core decodes: discovery or link. Admin
/// and tracker messages live in the `netcluster-control` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A discovery (beacon) message.
    Discovery(DiscoveryMessage),
    /// A link message between neighbours.
    Link(LinkMessage),
}

impl Message {
    /// The sub-protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            Message::Discovery(_) => Protocol::Discovery,
            Message::Link(_) => Protocol::Link,
        }
    }

    /// The message type code within the sub-protocol.
    pub fn msg_type(&self) -> u8 {
        match self {
            Message::Discovery(m) => m.msg_type(),
            Message::Link(m) => m.msg_type(),
        }
    }

    /// The message name, as in `docs/PROTOCOL.md`.
    pub fn name(&self) -> &'static str {
        match self {
            Message::Discovery(m) => m.name(),
            Message::Link(m) => m.name(),
        }
    }
}

/// A message of any sub-protocol, as a whole frame needs it: the core's
/// [`Message`] and the control crate's admin and tracker messages encode
/// their frames through [`emit_frame`] and [`frame_bytes`].
pub trait FrameMessage {
    /// The sub-protocol.
    fn protocol(&self) -> Protocol;
    /// The message type code within the sub-protocol.
    fn msg_type(&self) -> u8;
    /// Exact size of the encoded body.
    fn body_len(&self) -> usize;
    /// Writes the body into `out`, which holds [`body_len`](Self::body_len)
    /// bytes.
    fn emit_body(&self, out: &mut [u8]) -> Result<()>;
}

impl FrameMessage for Message {
    fn protocol(&self) -> Protocol {
        Message::protocol(self)
    }

    fn msg_type(&self) -> u8 {
        Message::msg_type(self)
    }

    fn body_len(&self) -> usize {
        match self {
            Message::Discovery(m) => m.body_len(),
            Message::Link(m) => m.body_len(),
        }
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        match self {
            Message::Discovery(m) => m.emit_body(out),
            Message::Link(m) => m.emit_body(out),
        }
    }
}

/// Exact size of a frame carrying `msg` with `extensions`.
pub fn frame_len(extensions: &Extensions, msg: &impl FrameMessage) -> usize {
    HEADER_LEN + extensions.block_len() + msg.body_len()
}

/// Writes a whole frame (header, extensions, `msg`'s body) in `version`
/// into `buf`; returns the bytes written (always [`frame_len`]).
pub fn emit_frame(
    buf: &mut [u8],
    version: u8,
    extensions: &Extensions,
    msg: &impl FrameMessage,
) -> Result<usize> {
    let len = frame_len(extensions, msg);
    let at = write_frame(buf, msg.protocol(), version, msg.msg_type(), extensions, len)?;
    msg.emit_body(&mut buf[at..len])?;
    Ok(len)
}

/// Encodes a whole frame into a new buffer.
pub fn frame_bytes(version: u8, extensions: &Extensions, msg: &impl FrameMessage) -> Result<Bytes> {
    let mut v = vec![0u8; frame_len(extensions, msg)];
    emit_frame(&mut v, version, extensions, msg)?;
    Ok(Bytes::from(v))
}

/// A whole frame: the version it is written in, its extensions and its
/// message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Sub-protocol version the frame is written in.
    pub version: u8,
    /// Extension TLVs (empty when the header flag is clear).
    pub extensions: Extensions,
    /// The message.
    pub message: Message,
}

/// A frame split into its parts, before the body is decoded: what every
/// frame type (this crate's [`Frame`], the control crate's) checks the same
/// way before handing the body to the decoder of its sub-protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameParts {
    /// Sub-protocol named by the header.
    pub protocol: Protocol,
    /// Sub-protocol version the frame is written in.
    pub version: u8,
    /// Message type within the sub-protocol (not checked here).
    pub msg_type: u8,
    /// Extension TLVs, validated (empty when the header flag is clear).
    pub extensions: Extensions,
    /// The body: the bytes after the header and extensions, zero-copy.
    pub body: Bytes,
}

/// Link message types whose layout is frozen across every version, so that
/// peers of any version can always negotiate (HELLO) or say why not (REJECT).
fn version_independent(protocol: Protocol, msg_type: u8) -> bool {
    use super::link::{Hello, Reject};
    use super::Body;
    protocol == Protocol::Link && (msg_type == Hello::MSG_TYPE || msg_type == Reject::MSG_TYPE)
}

impl Frame {
    /// A frame in the newest version of the message's sub-protocol, with no
    /// extensions.
    pub fn new(message: impl Into<Message>) -> Self {
        let message = message.into();
        Frame {
            version: message.protocol().supported().max,
            extensions: Extensions::empty(),
            message,
        }
    }

    /// Cuts the first frame off a datagram that carries several link
    /// frames back to back (a batch, PROTOCOL 5.3): returns that frame and
    /// the rest. `None` when `buf` is one frame, is not a link frame (only
    /// link frames are batched), or its header's `length` is no frame
    /// boundary inside `buf`: parsing `buf` whole then reports why.
    pub fn split_batch(buf: &Bytes) -> Option<(Bytes, Bytes)> {
        let h = FrameHeader::new_checked(&buf[..]).ok()?;
        if h.protocol_id() != Protocol::Link.id() {
            return None;
        }
        let len = h.length() as usize;
        if len < HEADER_LEN || len >= buf.len() {
            return None;
        }
        Some((buf.slice(..len), buf.slice(len..)))
    }

    /// Parses one whole frame under the default [`Limits`].
    pub fn parse(buf: &Bytes) -> Result<Frame> {
        Self::parse_with(buf, &Limits::DEFAULT)
    }

    /// Parses one whole frame: `buf` must hold exactly the frame.
    ///
    /// An admin or tracker frame is checked like any other (header, length,
    /// flags, version, extensions) and then refused with
    /// [`Error::UnexpectedProtocol`], its body left unread: the core has
    /// no use for these sub-protocols, whose codecs live in the
    /// `netcluster-control` crate.
    pub fn parse_with(buf: &Bytes, limits: &Limits) -> Result<Frame> {
        let parts = FrameParts::parse(buf, limits)?;
        let message = match parts.protocol {
            Protocol::Discovery => Message::Discovery(DiscoveryMessage::parse_typed(
                parts.msg_type,
                &parts.body,
                limits,
            )?),
            Protocol::Link => {
                Message::Link(LinkMessage::parse_typed(parts.msg_type, &parts.body, limits)?)
            }
            protocol @ (Protocol::Admin | Protocol::Tracker | Protocol::Local) => {
                return Err(Error::UnexpectedProtocol { protocol })
            }
        };
        Ok(Frame { version: parts.version, extensions: parts.extensions, message })
    }

    /// Exact size of the encoded frame.
    pub fn buffer_len(&self) -> usize {
        frame_len(&self.extensions, &self.message)
    }

    /// Writes the frame into `buf`; returns the bytes written (always
    /// [`buffer_len`](Self::buffer_len)).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_frame(buf, self.version, &self.extensions, &self.message)
    }

    /// Encodes the frame into a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes> {
        frame_bytes(self.version, &self.extensions, &self.message)
    }
}

/// A copy of the whole frame `raw` with an optional, empty TLV of
/// `ext_type` added to its extensions (used to mark DATA in passing). The
/// body is copied unchanged; the frame's other TLVs are kept.
pub fn with_flag_extension(raw: &Bytes, ext_type: u16) -> Result<Bytes> {
    // The frame passed the node's limits when it arrived or was made.
    let limits = Limits { max_frame: usize::MAX, ..Limits::DEFAULT };
    let parts = FrameParts::parse(raw, &limits)?;
    let extensions = parts.extensions.with_flag(ext_type)?;
    let len = HEADER_LEN + extensions.block_len() + parts.body.len();
    let mut v = vec![0u8; len];
    let at = write_frame(&mut v, parts.protocol, parts.version, parts.msg_type, &extensions, len)?;
    v[at..].copy_from_slice(&parts.body);
    Ok(Bytes::from(v))
}

impl FrameParts {
    /// Checks everything about a whole frame but its body: magic, a known
    /// sub-protocol id, `length` equal to `buf.len()` and within
    /// `limits.max_frame`, no unknown flag, a supported version (HELLO and
    /// REJECT are read in any version), and the extension block; then
    /// slices out the body, zero-copy.
    pub fn parse(buf: &Bytes, limits: &Limits) -> Result<FrameParts> {
        let h = FrameHeader::new_checked(&buf[..])?;
        let protocol = Protocol::from_id(h.protocol_id())?;
        let len = h.length() as usize;
        if len > limits.max_frame {
            return Err(Error::Oversized { field: "length", len, max: limits.max_frame });
        }
        if len != buf.len() {
            return Err(Error::LengthMismatch { header: len, actual: buf.len() });
        }
        let flags = h.flags();
        if flags & !FLAGS_KNOWN != 0 {
            return Err(Error::Malformed { field: "flags" });
        }
        let version = h.version();
        let msg_type = h.msg_type();
        let local = protocol.supported();
        if !local.contains(version) && !version_independent(protocol, msg_type) {
            return Err(Error::UnsupportedVersion { protocol, remote: version, local });
        }
        let mut pos = HEADER_LEN;
        let extensions = if flags & FLAG_EXTENSIONS != 0 {
            if buf.len() < pos + 2 {
                return Err(Error::Truncated { field: "ext_len" });
            }
            let ext_len = get_u16(buf, pos) as usize;
            pos += 2;
            // The flag promises TLVs: an empty block would not re-emit
            // byte for byte, so it is refused.
            if ext_len == 0 {
                return Err(Error::Malformed { field: "ext_len" });
            }
            if buf.len() - pos < ext_len {
                return Err(Error::Truncated { field: "ext_tlv" });
            }
            let ext = Extensions::parse(buf.slice(pos..pos + ext_len))?;
            pos += ext_len;
            ext
        } else {
            Extensions::empty()
        };
        Ok(FrameParts { protocol, version, msg_type, extensions, body: buf.slice(pos..) })
    }
}

/// Writes the frame around a body into `buf`: the header of a frame of
/// `len` bytes in all and, unless `extensions` is empty, the extension
/// block. Returns the offset of the body, which the caller writes into
/// `buf[offset..len]`.
///
/// Fails if `buf` is shorter than `len`, if `len` does not fit the
/// header's `length` or the extensions do not fit `ext_len`.
pub fn write_frame(
    buf: &mut [u8],
    protocol: Protocol,
    version: u8,
    msg_type: u8,
    extensions: &Extensions,
    len: usize,
) -> Result<usize> {
    check_room(buf, len)?;
    let len32 = u32::try_from(len).map_err(|_| Error::Oversized {
        field: "length",
        len,
        max: u32::MAX as usize,
    })?;
    let ext = extensions.len();
    if ext > u16::MAX as usize {
        return Err(Error::Oversized { field: "ext_len", len: ext, max: u16::MAX as usize });
    }
    let flags = if ext > 0 { FLAG_EXTENSIONS } else { 0 };
    write_header(buf, protocol, version, msg_type, flags, len32);
    let mut pos = HEADER_LEN;
    if ext > 0 {
        buf[pos..pos + 2].copy_from_slice(&(ext as u16).to_be_bytes());
        buf[pos + 2..pos + 2 + ext].copy_from_slice(extensions.as_bytes());
        pos += 2 + ext;
    }
    Ok(pos)
}

impl From<DiscoveryMessage> for Message {
    fn from(m: DiscoveryMessage) -> Self {
        Message::Discovery(m)
    }
}

impl From<LinkMessage> for Message {
    fn from(m: LinkMessage) -> Self {
        Message::Link(m)
    }
}
