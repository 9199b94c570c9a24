//! End-to-end messages: DATA and ACK, both source-routed.
//!
//! DATA body:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     flags     |   semantics   |  route_count  |   priority    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         channel (u32)                         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           seq (u64)                           |
//! +                                                               +
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |       frag_index (u16)        |       frag_count (u16)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        msg_len (u32)                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | route ids (16 x route_count) | route parents (route_count)    |
//! | group (str8, only with flag GROUP)                            |
//! | payload (to the end of the frame)                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! ACK body: `flags` (u8, zero), `semantics` (u8), `route_count` (u8),
//! `range_count` (u8), `channel` (u32), `cumulative` (u64: every seq below
//! it has arrived), `window` (u32: messages the receiver can still take on
//! this channel), route (as DATA), then `range_count` x (`start` u64, `end`
//! u64): half-open ranges received above `cumulative`.

use bytes::Bytes;
use bytestring::ByteString;

use super::super::codec::{check_len, get_u64, wire_view, Reader, Writer};
use super::super::error::{Error, Result};
use super::super::header::Protocol;
use super::super::lists::{FixedEntry, FixedList};
use super::super::types::Limits;
use super::super::Body;
use super::bundle::check_bundle;
use super::route::Route;

/// DATA flag: the destination is the group named in the frame, not the last
/// route entry.
pub const FLAG_GROUP: u8 = 0x01;
/// DATA flag: the first frame of a stream.
pub const FLAG_SYN: u8 = 0x02;
/// DATA flag: the sender will write no more on this stream (half-close).
pub const FLAG_FIN: u8 = 0x04;
/// DATA flag: the stream is aborted.
pub const FLAG_RST: u8 = 0x08;
/// DATA flag: the payload is a bundle of `frag_count` whole messages with
/// consecutive seqs from `seq` (see [`BundleIter`](super::BundleIter)).
pub const FLAG_BUNDLE: u8 = 0x10;
/// Every DATA flag defined in this version.
pub const DATA_FLAGS_KNOWN: u8 = FLAG_GROUP | FLAG_SYN | FLAG_FIN | FLAG_RST | FLAG_BUNDLE;

/// Delivery semantics of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Semantics {
    /// Best effort: may be lost, never duplicated.
    Datagram = 0,
    /// Exactly once, any order (RDM).
    Reliable = 1,
    /// Exactly once, in order, boundaries kept (SEQPACKET).
    Sequenced = 2,
    /// An ordered byte stream between two nodes.
    Stream = 3,
}

impl Semantics {
    /// Decodes the wire value.
    pub fn from_u8(v: u8) -> Result<Self> {
        Ok(match v {
            0 => Semantics::Datagram,
            1 => Semantics::Reliable,
            2 => Semantics::Sequenced,
            3 => Semantics::Stream,
            _ => return Err(Error::Malformed { field: "semantics" }),
        })
    }

    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Semantics::Datagram => "datagram",
            Semantics::Reliable => "reliable",
            Semantics::Sequenced => "sequenced",
            Semantics::Stream => "stream",
        }
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of a DATA body.
    pub struct DataView;
    pub mod data_field;
    fixed_len = 24;
    /// `flags`: `FLAG_*` bits.
    flags, set_flags, FLAGS: u8 = 0;
    /// `semantics`: a [semantics code](crate::wire::link::Semantics).
    semantics, set_semantics, SEMANTICS: u8 = 1;
    /// `route_count`: entries in the route.
    route_count, set_route_count, ROUTE_COUNT: u8 = 2;
    /// `priority`: 0 (highest) to 7; control traffic goes ahead of data.
    priority, set_priority, PRIORITY: u8 = 3;
    /// `channel`: sequence space (stream id for streams).
    channel, set_channel, CHANNEL: u32 = 4;
    /// `seq`: message number in the channel's sequence space.
    seq, set_seq, SEQ: u64 = 8;
    /// `frag_index`: this fragment's index.
    frag_index, set_frag_index, FRAG_INDEX: u16 = 16;
    /// `frag_count`: fragments in the message (at least 1).
    frag_count, set_frag_count, FRAG_COUNT: u16 = 18;
    /// `msg_len`: the whole message's length, for reassembly bounds.
    msg_len, set_msg_len, MSG_LEN: u32 = 20;
}

/// DATA (type 8): one fragment of an application message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Data {
    /// `FLAG_SYN`, `FLAG_FIN`, `FLAG_RST`; [`FLAG_GROUP`] is not kept here
    /// but derived from `group`.
    pub flags: u8,
    /// Delivery semantics.
    pub semantics: Semantics,
    /// 0 (highest) to 7.
    pub priority: u8,
    /// Sequence space (stream id for streams).
    pub channel: u32,
    /// Message number.
    pub seq: u64,
    /// This fragment's index.
    pub frag_index: u16,
    /// Fragments in the message.
    pub frag_count: u16,
    /// The whole message's length.
    pub msg_len: u32,
    /// Path or distribution tree; entry 0 is the source.
    pub route: Route,
    /// The destination group (`Some("")` is broadcast).
    pub group: Option<ByteString>,
    /// The fragment's bytes, zero-copy.
    pub payload: Bytes,
}

impl Body for Data {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 8;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = DataView::new_checked(&body[..])?;
        let flags = v.flags();
        if flags & !DATA_FLAGS_KNOWN != 0 {
            return Err(Error::Malformed { field: "flags" });
        }
        let (frag_index, frag_count) = (v.frag_index(), v.frag_count());
        if frag_count == 0 || frag_index >= frag_count {
            return Err(Error::Malformed { field: "frag_index" });
        }
        if v.priority() > 7 {
            return Err(Error::Malformed { field: "priority" });
        }
        let mut r = Reader::new(body, data_field::FIXED_LEN, body.len());
        let route = Route::parse(&mut r, v.route_count() as usize, limits.max_route)?;
        let group = if flags & FLAG_GROUP != 0 {
            Some(r.str8("group", limits.max_name)?)
        } else {
            // Unicast data follows a path; only group data fans out.
            if !route.is_path() {
                return Err(Error::Malformed { field: "route_parents" });
            }
            None
        };
        let payload = r.rest();
        if payload.len() > v.msg_len() as usize {
            return Err(Error::Malformed { field: "msg_len" });
        }
        if flags & FLAG_BUNDLE != 0 {
            // Whole messages of one unicast channel only: a bundle is
            // never a fragment, and never goes down a tree.
            let stream = v.semantics() == Semantics::Stream as u8;
            if flags & (FLAG_GROUP | FLAG_FIN | FLAG_RST) != 0 || stream || frag_index != 0 {
                return Err(Error::Malformed { field: "flags" });
            }
            if payload.len() != v.msg_len() as usize {
                return Err(Error::Malformed { field: "msg_len" });
            }
            check_bundle(&payload, frag_count)?;
        }
        Ok(Data {
            flags: flags & !FLAG_GROUP,
            semantics: Semantics::from_u8(v.semantics())?,
            priority: v.priority(),
            channel: v.channel(),
            seq: v.seq(),
            frag_index,
            frag_count,
            msg_len: v.msg_len(),
            route,
            group,
            payload,
        })
    }
    fn body_len(&self) -> usize {
        data_field::FIXED_LEN
            + self.route.encoded_len()
            + self.group.as_ref().map_or(0, |g| 1 + g.len())
            + self.payload.len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("route_count", self.route.len(), 255)?;
        let flags = (self.flags & !FLAG_GROUP) | if self.group.is_some() { FLAG_GROUP } else { 0 };
        let mut v = DataView::new_checked(&mut out[..])?;
        v.set_flags(flags);
        v.set_semantics(self.semantics as u8);
        v.set_route_count(self.route.len() as u8);
        v.set_priority(self.priority);
        v.set_channel(self.channel);
        v.set_seq(self.seq);
        v.set_frag_index(self.frag_index);
        v.set_frag_count(self.frag_count);
        v.set_msg_len(self.msg_len);
        let mut w = Writer::new(out);
        w.skip(data_field::FIXED_LEN);
        w.put(self.route.id_bytes());
        w.put(self.route.parent_bytes());
        if let Some(g) = &self.group {
            w.str8(g, "group")?;
        }
        w.put(&self.payload);
        Ok(())
    }
}

/// A half-open range `[start, end)` of sequence numbers received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckRange {
    /// First seq received.
    pub start: u64,
    /// One past the last seq received.
    pub end: u64,
}

impl FixedEntry for AckRange {
    const SIZE: usize = 16;
    fn validate(b: &[u8]) -> Result<()> {
        if get_u64(b, 0) >= get_u64(b, 8) {
            return Err(Error::Malformed { field: "ranges" });
        }
        Ok(())
    }
    fn decode(b: &[u8]) -> Self {
        AckRange { start: get_u64(b, 0), end: get_u64(b, 8) }
    }
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.start.to_be_bytes());
        out[8..16].copy_from_slice(&self.end.to_be_bytes());
    }
}

wire_view! {
    /// Zero-copy view of the fixed part of an ACK body.
    pub struct AckView;
    pub mod ack_field;
    fixed_len = 20;
    /// `flags`: none defined, must be zero.
    flags, set_flags, FLAGS: u8 = 0;
    /// `semantics`: of the channel acknowledged.
    semantics, set_semantics, SEMANTICS: u8 = 1;
    /// `route_count`: entries in the route back to the data's source.
    route_count, set_route_count, ROUTE_COUNT: u8 = 2;
    /// `range_count`: selective ranges.
    range_count, set_range_count, RANGE_COUNT: u8 = 3;
    /// `channel`: the sequence space acknowledged.
    channel, set_channel, CHANNEL: u32 = 4;
    /// `cumulative`: every seq below it has arrived.
    cumulative, set_cumulative, CUMULATIVE: u64 = 8;
    /// `window`: messages the receiver can still take on this channel.
    window, set_window, WINDOW: u32 = 16;
}

/// ACK (type 9): end-to-end acknowledgement from a destination to a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// Semantics of the channel acknowledged.
    pub semantics: Semantics,
    /// The sequence space acknowledged.
    pub channel: u32,
    /// Every seq below this has arrived.
    pub cumulative: u64,
    /// Messages the receiver can still take (flow control).
    pub window: u32,
    /// Path from the acknowledging node (entry 0) to the data's source.
    pub route: Route,
    /// Ranges received above `cumulative`.
    pub ranges: FixedList<AckRange>,
}

impl Body for Ack {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 9;
    fn parse_body(body: &Bytes, limits: &Limits) -> Result<Self> {
        let v = AckView::new_checked(&body[..])?;
        if v.flags() != 0 {
            return Err(Error::Malformed { field: "flags" });
        }
        let mut r = Reader::new(body, ack_field::FIXED_LEN, body.len());
        let route = Route::parse(&mut r, v.route_count() as usize, limits.max_route)?;
        if !route.is_path() {
            return Err(Error::Malformed { field: "route_parents" });
        }
        let ranges =
            FixedList::parse(&mut r, v.range_count() as usize, limits.max_ack_ranges, "ranges")?;
        r.finish("ack")?;
        Ok(Ack {
            semantics: Semantics::from_u8(v.semantics())?,
            channel: v.channel(),
            cumulative: v.cumulative(),
            window: v.window(),
            route,
            ranges,
        })
    }
    fn body_len(&self) -> usize {
        ack_field::FIXED_LEN + self.route.encoded_len() + self.ranges.len() * AckRange::SIZE
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        check_len("route_count", self.route.len(), 255)?;
        check_len("range_count", self.ranges.len(), 255)?;
        let mut v = AckView::new_checked(&mut out[..])?;
        v.set_flags(0);
        v.set_semantics(self.semantics as u8);
        v.set_route_count(self.route.len() as u8);
        v.set_range_count(self.ranges.len() as u8);
        v.set_channel(self.channel);
        v.set_cumulative(self.cumulative);
        v.set_window(self.window);
        let mut w = Writer::new(out);
        w.skip(ack_field::FIXED_LEN);
        w.put(self.route.id_bytes());
        w.put(self.route.parent_bytes());
        w.put(self.ranges.as_bytes());
        Ok(())
    }
}
