//! Field types shared by several messages: node ids, node states, addresses,
//! the cluster-name hash and the configurable decoding limits.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::codec::{FieldType, Reader, Writer};
use super::error::{Error, Result};

/// A node's identity: 16 bytes, a UUID in practice, chosen once per process.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub [u8; 16]);

impl NodeId {
    /// Encoded size.
    pub const LEN: usize = 16;

    /// The all-zero id, never used by a real node.
    pub const NIL: NodeId = NodeId([0; 16]);

    /// The id as a UUID.
    pub fn as_uuid(&self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.0)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Builds an id from the first 16 bytes of `b`, if there are that many.
    pub fn from_slice(b: &[u8]) -> Option<NodeId> {
        let arr: [u8; 16] = b.get(..16)?.try_into().ok()?;
        Some(NodeId(arr))
    }
}

impl From<uuid::Uuid> for NodeId {
    fn from(u: uuid::Uuid) -> Self {
        NodeId(*u.as_bytes())
    }
}

impl From<NodeId> for uuid::Uuid {
    fn from(n: NodeId) -> Self {
        uuid::Uuid::from_bytes(n.0)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.as_uuid().hyphenated(), f)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The first 4 bytes are enough to tell nodes apart in a trace.
        write!(f, "NodeId({:02x}{:02x}{:02x}{:02x}..)", self.0[0], self.0[1], self.0[2], self.0[3])
    }
}

/// The state a node announces about itself (beacons, HELLO, LSA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum NodeState {
    /// Starting up, not ready for work yet.
    #[default]
    Init = 0,
    /// Up and accepting work.
    Ready = 1,
    /// Up but overloaded: peers should leave it alone for a while.
    Busy = 2,
    /// Up but in an error state.
    Error = 3,
    /// Shutting down: peers drop it at once.
    Exit = 4,
}

impl NodeState {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => NodeState::Init,
            1 => NodeState::Ready,
            2 => NodeState::Busy,
            3 => NodeState::Error,
            4 => NodeState::Exit,
            _ => return Err(Error::Malformed { field: "state" }),
        })
    }

    /// Lower-case name, as shown by tools.
    pub fn as_str(&self) -> &'static str {
        match self {
            NodeState::Init => "init",
            NodeState::Ready => "ready",
            NodeState::Busy => "busy",
            NodeState::Error => "error",
            NodeState::Exit => "exit",
        }
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Address family codes used by the socket-address encoding.
pub mod family {
    /// IPv4: 4 address bytes follow.
    pub const V4: u8 = 4;
    /// IPv6: 16 address bytes follow.
    pub const V6: u8 = 6;
}

/// Encoded size of a socket address: family, port, then 4 or 16 bytes.
pub fn addr_len(addr: &SocketAddr) -> usize {
    3 + match addr {
        SocketAddr::V4(_) => 4,
        SocketAddr::V6(_) => 16,
    }
}

/// Reads `family` (u8), `port` (u16), address bytes. An unspecified IP
/// (0.0.0.0 or ::) means "the source address of the datagram or link".
pub fn decode_addr(r: &mut Reader<'_>, field: &'static str) -> Result<SocketAddr> {
    let fam = r.u8(field)?;
    let port = r.u16(field)?;
    let ip = match fam {
        family::V4 => IpAddr::V4(Ipv4Addr::from(r.array::<4>(field)?)),
        family::V6 => IpAddr::V6(Ipv6Addr::from(r.array::<16>(field)?)),
        _ => return Err(Error::Malformed { field }),
    };
    Ok(SocketAddr::new(ip, port))
}

/// Writes an address as [`decode_addr`] reads it.
pub fn encode_addr(w: &mut Writer<'_>, addr: &SocketAddr) {
    match addr {
        SocketAddr::V4(a) => {
            w.u8(family::V4);
            w.u16(a.port());
            w.put(&a.ip().octets());
        }
        SocketAddr::V6(a) => {
            w.u8(family::V6);
            w.u16(a.port());
            w.put(&a.ip().octets());
        }
    }
}

/// The 64-bit FNV-1a hash of a cluster name, as carried by beacons and
/// tracker messages. Not a security measure: it keeps clusters apart on a
/// shared segment without sending names in every beacon.
pub fn cluster_hash(name: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Decoding limits. Protocol maxima are set by the width of each length
/// field; these are the (stricter) bounds a receiver enforces. Past any of
/// them the frame is refused with [`Error::Oversized`] and nothing is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest whole frame, header included. 1 MiB: links fragment data to
    /// their MTU, so only admin listings come near it.
    pub max_frame: usize,
    /// Most entries in a source route or distribution tree. 64 hops is far
    /// beyond any sane overlay diameter while bounding the header to ~1 KiB.
    pub max_route: usize,
    /// Most group names in one message.
    pub max_groups: usize,
    /// Longest group, cluster or node name in bytes (protocol maximum 255).
    pub max_name: usize,
    /// Most bytes of encoded headers (key/value attributes) in one message.
    pub max_headers: usize,
    /// Most neighbours in one LSA.
    pub max_neighbours: usize,
    /// Most selective-ack ranges in one ACK.
    pub max_ack_ranges: usize,
    /// Most entries in one admin or tracker listing.
    pub max_entries: usize,
}

impl Limits {
    /// The defaults used when no configuration says otherwise.
    pub const DEFAULT: Limits = Limits {
        max_frame: 1 << 20,
        max_route: 64,
        max_groups: 1024,
        max_name: 255,
        max_headers: 16 * 1024,
        max_neighbours: 4096,
        max_ack_ranges: 64,
        max_entries: 65_535,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl FieldType for NodeId {
    fn read(buf: &[u8], off: usize) -> Self {
        let mut id = [0u8; 16];
        id.copy_from_slice(&buf[off..off + 16]);
        NodeId(id)
    }
    fn write(&self, buf: &mut [u8], off: usize) {
        buf[off..off + 16].copy_from_slice(&self.0);
    }
}
