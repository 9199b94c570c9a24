//! The common frame header shared by every sub-protocol.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     magic 'N' 'C' (0x4e43)    |  protocol id  |    version    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  message type |     flags     |     length (total, u32) ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   ... length  |
//! +-+-+-+-+-+-+-+-+
//! ```

use core::fmt;

use super::error::{Error, Result};

/// The two magic bytes `"NC"` every frame starts with.
pub const MAGIC: u16 = 0x4e43;

/// Size of the common header in bytes.
pub const HEADER_LEN: usize = 10;

/// Header flag: an extension block (`ext_len` + TLVs) follows the header.
pub const FLAG_EXTENSIONS: u8 = 0x01;

/// Every flag bit defined in this version; the others must be zero.
pub const FLAGS_KNOWN: u8 = FLAG_EXTENSIONS;

/// Byte offsets of the header fields.
pub mod field {
    use core::ops::Range;
    /// `magic`, u16.
    pub const MAGIC: Range<usize> = 0..2;
    /// `protocol`, u8.
    pub const PROTOCOL: usize = 2;
    /// `version`, u8.
    pub const VERSION: usize = 3;
    /// `msg_type`, u8.
    pub const MSG_TYPE: usize = 4;
    /// `flags`, u8.
    pub const FLAGS: usize = 5;
    /// `length`, u32: the whole frame, header included.
    pub const LENGTH: Range<usize> = 6..10;
}

/// The sub-protocols, each with its own id and its own version line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Protocol {
    /// UDP beacons: BEACON, SEARCH, NOTIFY.
    Discovery = 1,
    /// Between neighbours: handshake, keepalive, routing, data.
    Link = 2,
    /// Local clients (the CLI) talking to an agent.
    Admin = 3,
    /// Rendezvous server: REGISTER, QUERY, PEERS.
    Tracker = 4,
    /// Applications talking to the host daemon (the agent) over its UNIX
    /// socket: clusters, mesh sockets, events. Never spoken between nodes,
    /// so never offered in HELLO or beacons (see [`Protocol::ALL`]).
    Local = 5,
}

impl Protocol {
    /// The sub-protocols a node offers to other nodes (in HELLO and
    /// beacons, [`VersionRanges::supported`](super::VersionRanges::supported)),
    /// in id order: every one but [`Protocol::Local`], which only an
    /// application and its host daemon speak.
    pub const ALL: [Protocol; 4] =
        [Protocol::Discovery, Protocol::Link, Protocol::Admin, Protocol::Tracker];

    /// Every sub-protocol this codec knows, in id order, [`Protocol::Local`]
    /// included.
    pub const EVERY: [Protocol; 5] =
        [Protocol::Discovery, Protocol::Link, Protocol::Admin, Protocol::Tracker, Protocol::Local];

    /// The sub-protocol with wire id `id`.
    pub fn from_id(id: u8) -> Result<Protocol> {
        match id {
            1 => Ok(Protocol::Discovery),
            2 => Ok(Protocol::Link),
            3 => Ok(Protocol::Admin),
            4 => Ok(Protocol::Tracker),
            5 => Ok(Protocol::Local),
            _ => Err(Error::UnknownProtocol { id }),
        }
    }

    /// The wire id.
    pub fn id(self) -> u8 {
        self as u8
    }

    /// The range of versions this codec implements.
    pub fn supported(self) -> VersionRange {
        VersionRange::new(1, 1)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Discovery => "discovery",
            Protocol::Link => "link",
            Protocol::Admin => "admin",
            Protocol::Tracker => "tracker",
            Protocol::Local => "local",
        })
    }
}

/// An inclusive range of versions of one sub-protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Oldest version spoken.
    pub min: u8,
    /// Newest version spoken.
    pub max: u8,
}

impl VersionRange {
    /// A range; `min > max` is an empty range that overlaps nothing.
    pub const fn new(min: u8, max: u8) -> Self {
        VersionRange { min, max }
    }

    /// Whether `v` is inside the range.
    pub fn contains(&self, v: u8) -> bool {
        self.min <= v && v <= self.max
    }

    /// The highest version both ranges contain, if any.
    pub fn highest_common(&self, other: &VersionRange) -> Option<u8> {
        let lo = self.min.max(other.min);
        let hi = self.max.min(other.max);
        (lo <= hi).then_some(hi)
    }
}

/// Zero-copy view of the common header.
#[derive(Debug, Clone, Copy)]
pub struct FrameHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FrameHeader<T> {
    /// Wraps a buffer without checking it.
    pub const fn new_unchecked(buffer: T) -> Self {
        FrameHeader { buffer }
    }

    /// Wraps a buffer after checking that it holds a whole header with the
    /// right magic.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated { field: "header" });
        }
        let magic = u16::from_be_bytes([b[field::MAGIC.start], b[field::MAGIC.start + 1]]);
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        Ok(FrameHeader { buffer })
    }

    /// `protocol`: the raw sub-protocol id.
    pub fn protocol_id(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// `version` of the sub-protocol this frame is written in.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// `msg_type` within the sub-protocol.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::MSG_TYPE]
    }

    /// `flags`.
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// `length`: the whole frame in bytes, header included.
    pub fn length(&self) -> u32 {
        let b = self.buffer.as_ref();
        let l = field::LENGTH.start;
        u32::from_be_bytes([b[l], b[l + 1], b[l + 2], b[l + 3]])
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

/// Writes a header into the first [`HEADER_LEN`] bytes of `buf`; the caller
/// has checked the room.
pub(crate) fn write_header(
    buf: &mut [u8],
    protocol: Protocol,
    version: u8,
    msg_type: u8,
    flags: u8,
    length: u32,
) {
    buf[field::MAGIC].copy_from_slice(&MAGIC.to_be_bytes());
    buf[field::PROTOCOL] = protocol.id();
    buf[field::VERSION] = version;
    buf[field::MSG_TYPE] = msg_type;
    buf[field::FLAGS] = flags;
    buf[field::LENGTH].copy_from_slice(&length.to_be_bytes());
}

/// How long the frame starting at `buf` is, from its header alone.
///
/// Stream transports use this to cut frames out of a byte stream: `Ok(None)`
/// means the header is not complete yet; an error means the stream cannot be
/// resynchronised and the link must be closed.
pub fn peek_frame_len(buf: &[u8], max_frame: usize) -> Result<Option<usize>> {
    if buf.len() < HEADER_LEN {
        let magic = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
        if buf.len() >= 2 && magic(buf) != MAGIC {
            return Err(Error::BadMagic { found: magic(buf) });
        }
        return Ok(None);
    }
    let h = FrameHeader::new_checked(buf)?;
    let len = h.length() as usize;
    if len < HEADER_LEN {
        return Err(Error::Malformed { field: "length" });
    }
    if len > max_frame {
        return Err(Error::Oversized { field: "length", len, max: max_frame });
    }
    Ok(Some(len))
}
