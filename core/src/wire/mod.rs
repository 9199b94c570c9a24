//! The wire format: the frame every sub-protocol shares, and one module per
//! sub-protocol the core decodes, each message with a zero-copy view over its
//! fixed fields and a typed representation with `parse` and `emit`.
//!
//! The core decodes the sub-protocols a node speaks on the network:
//! [discovery] and [link]. The admin (3) and tracker (4) sub-protocols
//! share the frame format and their ids are known here ([`Protocol`]), but
//! a node has no use for their bodies, so they are decoded by the
//! `netcluster-control` crate, built on the public building blocks of this
//! module: [`FrameParts`] and [`write_frame`] for the frame around a body,
//! the [`Body`] trait, the [`codec`] readers and writers, the [lists], and
//! the [`wire_view!`](crate::wire_view) and
//! [`protocol_messages!`](crate::protocol_messages) macros. [`Frame::parse`]
//! refuses a well-formed admin or tracker frame with
//! [`Error::UnexpectedProtocol`] without reading its body.
//!
//! `docs/PROTOCOL.md` is the normative description; field names there match
//! the names used here and in [`Error`] values.
//!
//! Every frame is `header | [ext_len + extension TLVs] | body`:
//!
//! - the [header] carries magic, sub-protocol id, version, message
//!   type, flags and total length, all big-endian;
//! - [extensions](ext) are optional TLVs (authentication tag, replay
//!   counter, future fields);
//! - the body layout depends on the sub-protocol and message type.
//!
//! Decoding never panics and never copies payloads: strings, lists and
//! payloads are [`Bytes`] slices of the input.
//!
//! ```
//! use bytes::Bytes;
//! use netcluster_core::wire::{Body, Frame, Message, LinkMessage, link::Ping};
//!
//! let ping = Ping { token: 42 };
//! let bytes: Bytes = ping.to_bytes().unwrap();
//! assert_eq!(bytes.len(), ping.buffer_len());
//! let frame = Frame::parse(&bytes).unwrap();
//! assert_eq!(frame.message, Message::Link(LinkMessage::Ping(ping)));
//! ```

pub mod codec;
pub mod error;
pub mod ext;
pub mod header;
pub mod lists;
pub mod types;

pub mod discovery;
pub mod link;

mod frame;
#[cfg(test)]
pub(crate) mod testutil;

pub use error::{Error, Result};
pub use ext::{AuthTag, Extensions, Tlv};
pub use frame::{
    emit_frame, frame_bytes, frame_len, with_flag_extension, write_frame, Frame, FrameMessage,
    FrameParts, Message,
};
pub use header::{peek_frame_len, FrameHeader, Protocol, VersionRange, HEADER_LEN, MAGIC};
pub use lists::{FixedEntry, FixedList, HeaderList, ProtoRange, StrList, VersionRanges};
pub use types::{cluster_hash, Limits, NodeId, NodeState};

pub use discovery::DiscoveryMessage;
pub use link::LinkMessage;

pub use bytestring::ByteString;

use bytes::Bytes;

/// One message body of one sub-protocol: its typed representation.
///
/// `parse_body` / `emit_body` handle the body alone; the provided `parse`,
/// `emit` and `to_bytes` handle a whole frame (header included, no
/// extensions) written in the newest version this codec speaks.
pub trait Body: Sized {
    /// The sub-protocol the message belongs to.
    const PROTOCOL: Protocol;
    /// The message type within the sub-protocol.
    const MSG_TYPE: u8;

    /// Parses a body (the bytes after the header and extensions).
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self>;

    /// Exact size of the encoded body.
    fn body_len(&self) -> usize;

    /// Writes the body into `out`, which holds at least
    /// [`body_len`](Self::body_len) bytes; fails if a field does not fit its
    /// encoding (a name over 255 bytes, a list too long for its count).
    fn emit_body(&self, out: &mut [u8]) -> Result<()>;

    /// Size of a whole frame carrying this message with no extensions.
    fn buffer_len(&self) -> usize {
        HEADER_LEN + self.body_len()
    }

    /// Writes a whole frame; returns the bytes written (always
    /// [`buffer_len`](Self::buffer_len)).
    fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let version = Self::PROTOCOL.supported().max;
        let empty = Extensions::empty();
        let len = self.buffer_len();
        let at = write_frame(buf, Self::PROTOCOL, version, Self::MSG_TYPE, &empty, len)?;
        self.emit_body(&mut buf[at..len])?;
        Ok(len)
    }

    /// Parses a whole frame that must carry this message type. Works for
    /// every sub-protocol, admin and tracker included: only the frame
    /// around the body is checked here, the body is this type's to decode.
    fn parse(frame: &Bytes) -> Result<Self> {
        let f = FrameParts::parse(frame, &Limits::DEFAULT)?;
        if f.protocol != Self::PROTOCOL || f.msg_type != Self::MSG_TYPE {
            return Err(Error::UnknownMessage { protocol: f.protocol, msg_type: f.msg_type });
        }
        Self::parse_body(&f.body, &Limits::DEFAULT)
    }

    /// Encodes a whole frame into a new buffer.
    fn to_bytes(&self) -> Result<Bytes> {
        let mut v = alloc::vec![0u8; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(Bytes::from(v))
    }
}

/// Declares the message enum of one sub-protocol and dispatches parse and
/// emit to each message's [`Body`] implementation.
///
/// The enum gets `msg_type`, `name`, `body_len`, `emit_body`, a
/// crate-private `parse_typed(msg_type, body, limits)` that a frame type
/// calls once the [`FrameParts`] name the sub-protocol (an unknown type is
/// [`Error::UnknownMessage`] for `$proto`), and a `From` impl per message.
/// Exported so that sub-protocols decoded outside this crate build their
/// message enums the same way.
#[macro_export]
macro_rules! protocol_messages {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($proto:expr) {
            $( $(#[$vmeta:meta])* $variant:ident($ty:ty), )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $name {
            $( $(#[$vmeta])* $variant($ty), )*
        }

        impl $name {
            /// The message type code.
            pub fn msg_type(&self) -> u8 {
                match self {
                    $( $name::$variant(_) => <$ty as $crate::wire::Body>::MSG_TYPE, )*
                }
            }

            /// The message name as written in `docs/PROTOCOL.md`.
            pub fn name(&self) -> &'static str {
                match self {
                    $( $name::$variant(_) => stringify!($variant), )*
                }
            }

            pub(crate) fn parse_typed(
                msg_type: u8,
                body: &$crate::__private::Bytes,
                limits: &$crate::wire::Limits,
            ) -> $crate::wire::Result<Self> {
                $(
                    if msg_type == <$ty as $crate::wire::Body>::MSG_TYPE {
                        return <$ty as $crate::wire::Body>::parse_body(body, limits).map($name::$variant);
                    }
                )*
                Err($crate::wire::Error::UnknownMessage { protocol: $proto, msg_type })
            }

            /// Exact size of the encoded body.
            pub fn body_len(&self) -> usize {
                match self {
                    $( $name::$variant(m) => $crate::wire::Body::body_len(m), )*
                }
            }

            /// Writes the body; see [`Body::emit_body`]($crate::wire::Body::emit_body).
            pub fn emit_body(&self, out: &mut [u8]) -> $crate::wire::Result<()> {
                match self {
                    $( $name::$variant(m) => $crate::wire::Body::emit_body(m, out), )*
                }
            }
        }

        $(
            impl From<$ty> for $name {
                fn from(m: $ty) -> Self {
                    $name::$variant(m)
                }
            }
        )*
    };
}
pub(crate) use crate::protocol_messages;
