//! Typed decoding and encoding errors.
//!
//! Every error leaves the input untouched: the decoders only read, so a failed
//! parse changes no state anywhere and the caller may count the error and drop
//! the frame.

use core::fmt;

use super::header::{Protocol, VersionRange};

/// Everything that can go wrong while parsing or emitting a frame.
///
/// Field names are the `snake_case` names used in `docs/PROTOCOL.md`, so an
/// error can be traced to the exact row of a field table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The input ended inside `field`.
    Truncated {
        /// Field being read when the input ran out.
        field: &'static str,
    },
    /// The first two bytes are not the netcluster magic `"NC"`.
    BadMagic {
        /// The two bytes found, in network byte order.
        found: u16,
    },
    /// The sub-protocol id is not one this codec knows.
    UnknownProtocol {
        /// The id found in the header.
        id: u8,
    },
    /// The frame's sub-protocol version is outside what this codec speaks.
    UnsupportedVersion {
        /// Sub-protocol of the frame.
        protocol: Protocol,
        /// Version carried by the frame (the remote side's).
        remote: u8,
        /// Range this codec supports (the local side's).
        local: VersionRange,
    },
    /// A well-formed frame of a sub-protocol this decoder does not handle:
    /// an admin or tracker frame given to the core's
    /// [`Frame`](super::Frame), or a discovery or link frame given to a
    /// decoder of the admin and tracker sub-protocols. Only the frame
    /// around the body was checked; the body was not read.
    UnexpectedProtocol {
        /// Sub-protocol of the frame.
        protocol: Protocol,
    },
    /// The message type is not defined for this sub-protocol.
    UnknownMessage {
        /// Sub-protocol of the frame.
        protocol: Protocol,
        /// The message type found.
        msg_type: u8,
    },
    /// A length or count is larger than the protocol or the configured
    /// [`Limits`](super::Limits) allow.
    Oversized {
        /// Field whose value is too large.
        field: &'static str,
        /// The value found (a length in bytes or a count of entries).
        len: usize,
        /// The largest value accepted.
        max: usize,
    },
    /// A field holds a value that is not allowed (bad enum value, invalid
    /// UTF-8, inconsistent counts, non-zero reserved bits...).
    Malformed {
        /// The offending field.
        field: &'static str,
    },
    /// The header's `length` disagrees with the bytes actually present.
    LengthMismatch {
        /// Length announced by the header.
        header: usize,
        /// Bytes available.
        actual: usize,
    },
    /// An extension TLV marked mandatory has a type this codec does not know.
    UnknownMandatoryExtension {
        /// The extension type (without the mandatory bit).
        ext_type: u16,
    },
    /// `emit` was given a buffer shorter than `buffer_len()`.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes provided.
        available: usize,
    },
}

/// Result alias used throughout the wire module.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { field } => write!(f, "frame truncated in field `{field}`"),
            Error::BadMagic { found } => {
                write!(f, "bad magic 0x{found:04x}, expected 0x4e43 (\"NC\")")
            }
            Error::UnknownProtocol { id } => write!(f, "unknown sub-protocol id {id}"),
            Error::UnsupportedVersion { protocol, remote, local } => write!(
                f,
                "{protocol} version {remote} not supported (local range {}..={})",
                local.min, local.max
            ),
            Error::UnexpectedProtocol { protocol } => {
                write!(f, "{protocol} frame not handled by this decoder")
            }
            Error::UnknownMessage { protocol, msg_type } => {
                write!(f, "unknown {protocol} message type {msg_type}")
            }
            Error::Oversized { field, len, max } => {
                write!(f, "field `{field}` too large: {len} > {max}")
            }
            Error::Malformed { field } => write!(f, "malformed field `{field}`"),
            Error::LengthMismatch { header, actual } => {
                write!(f, "header length {header} but {actual} bytes present")
            }
            Error::UnknownMandatoryExtension { ext_type } => {
                write!(f, "unknown mandatory extension 0x{ext_type:04x}")
            }
            Error::BufferTooSmall { needed, available } => {
                write!(f, "emit buffer too small: need {needed}, have {available}")
            }
        }
    }
}

impl core::error::Error for Error {}
