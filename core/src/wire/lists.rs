//! Zero-copy lists: validated once at parse time, iterated without errors and
//! without allocating afterwards.
//!
//! A list keeps the raw bytes it was parsed from, so re-emitting a parsed
//! message copies them verbatim and equality is byte equality.

use alloc::vec::Vec;
use core::borrow::Borrow;
use core::fmt;
use core::marker::PhantomData;

use bytes::Bytes;
use bytestring::ByteString;

use super::codec::{get_u16, Reader};
use super::error::{Error, Result};
use super::header::VersionRange;
use super::types::{Limits, NodeId};

/// An entry of fixed encoded size in a [`FixedList`].
pub trait FixedEntry: Sized {
    /// Encoded size in bytes.
    const SIZE: usize;
    /// Checks an encoded entry; called once per entry at parse time.
    fn validate(_b: &[u8]) -> Result<()> {
        Ok(())
    }
    /// Decodes an entry that passed [`validate`](Self::validate).
    fn decode(b: &[u8]) -> Self;
    /// Encodes into exactly [`SIZE`](Self::SIZE) bytes.
    fn encode(&self, out: &mut [u8]);
}

/// A list of fixed-size entries whose count is carried elsewhere in the
/// message (see each message's field table).
pub struct FixedList<E> {
    raw: Bytes,
    _entry: PhantomData<fn() -> E>,
}

impl<E> Clone for FixedList<E> {
    fn clone(&self) -> Self {
        FixedList { raw: self.raw.clone(), _entry: PhantomData }
    }
}

impl<E> PartialEq for FixedList<E> {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl<E> Eq for FixedList<E> {}

impl<E> Default for FixedList<E> {
    fn default() -> Self {
        FixedList { raw: Bytes::new(), _entry: PhantomData }
    }
}

impl<E: FixedEntry + fmt::Debug> fmt::Debug for FixedList<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<E: FixedEntry> FixedList<E> {
    /// Reads `count` entries; fails if `count > max`.
    pub fn parse(
        r: &mut Reader<'_>,
        count: usize,
        max: usize,
        field: &'static str,
    ) -> Result<Self> {
        if count > max {
            return Err(Error::Oversized { field, len: count, max });
        }
        // `count <= max` may still overflow with generous limits on 32-bit
        // targets; such a count cannot fit in the input anyway.
        let len = count.checked_mul(E::SIZE).ok_or(Error::Truncated { field })?;
        let raw = r.bytes(len, field)?;
        for chunk in raw.chunks_exact(E::SIZE) {
            E::validate(chunk)?;
        }
        Ok(FixedList { raw, _entry: PhantomData })
    }

    /// Encodes entries into a new list (allocates; for senders).
    pub fn from_entries<'a, I>(entries: I) -> Self
    where
        I: IntoIterator<Item = &'a E>,
        E: 'a,
    {
        let mut raw = Vec::new();
        for e in entries {
            let at = raw.len();
            raw.resize(at + E::SIZE, 0);
            e.encode(&mut raw[at..]);
        }
        FixedList { raw: Bytes::from(raw), _entry: PhantomData }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.raw.len() / E::SIZE
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Entry `i`, if there is one.
    pub fn get(&self, i: usize) -> Option<E> {
        let start = i.checked_mul(E::SIZE)?;
        self.raw.get(start..start + E::SIZE).map(E::decode)
    }

    /// The entries in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = E> + '_ {
        self.raw.chunks_exact(E::SIZE).map(E::decode)
    }

    /// The encoded entries.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

impl FixedEntry for NodeId {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[..16]);
        NodeId(id)
    }
    fn encode(&self, out: &mut [u8]) {
        out[..16].copy_from_slice(&self.0);
    }
}

/// The version range one sub-protocol is spoken in, as offered at HELLO and
/// in beacons. Entries for sub-protocol ids this codec does not know are kept
/// and ignored, so a newer peer can offer sub-protocols an older one lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtoRange {
    /// Sub-protocol id (see [`Protocol`](super::Protocol)).
    pub protocol: u8,
    /// The versions offered.
    pub range: VersionRange,
}

impl FixedEntry for ProtoRange {
    const SIZE: usize = 3;
    fn validate(b: &[u8]) -> Result<()> {
        if b[1] > b[2] || b[1] == 0 {
            return Err(Error::Malformed { field: "version_range" });
        }
        Ok(())
    }
    fn decode(b: &[u8]) -> Self {
        ProtoRange { protocol: b[0], range: VersionRange::new(b[1], b[2]) }
    }
    fn encode(&self, out: &mut [u8]) {
        out[0] = self.protocol;
        out[1] = self.range.min;
        out[2] = self.range.max;
    }
}

/// The version ranges offered for each sub-protocol.
pub type VersionRanges = FixedList<ProtoRange>;

impl VersionRanges {
    /// The range offered for sub-protocol `protocol`, if any.
    pub fn range_of(&self, protocol: u8) -> Option<VersionRange> {
        self.iter().find(|p| p.protocol == protocol).map(|p| p.range)
    }

    /// The ranges this codec speaks, for every sub-protocol it knows.
    pub fn supported() -> Self {
        let all = super::header::Protocol::ALL
            .map(|p| ProtoRange { protocol: p.id(), range: p.supported() });
        FixedList::from_entries(all.iter())
    }
}

/// A list of UTF-8 names (groups), encoded as `count` (u16) then, per entry,
/// `len` (u8) and the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct StrList {
    raw: Bytes,
}

impl Default for StrList {
    fn default() -> Self {
        StrList { raw: Bytes::from_static(&[0, 0]) }
    }
}

impl fmt::Debug for StrList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl StrList {
    /// Reads and validates a list of at most `max` names of at most
    /// `max_name` bytes each.
    pub fn parse(
        r: &mut Reader<'_>,
        max: usize,
        max_name: usize,
        field: &'static str,
    ) -> Result<Self> {
        let start = r.pos();
        let count = r.u16(field)? as usize;
        if count > max {
            return Err(Error::Oversized { field, len: count, max });
        }
        for _ in 0..count {
            r.str8(field, max_name)?;
        }
        Ok(StrList { raw: r.slice_from(start) })
    }

    /// Encodes names into a new list (allocates; for senders). Names longer
    /// than 255 bytes or more than 65535 names are an error.
    pub fn from_names<I, S>(names: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut raw = alloc::vec![0u8, 0u8];
        let mut count = 0usize;
        for n in names {
            let n = n.as_ref();
            if n.len() > 255 {
                return Err(Error::Oversized { field: "name", len: n.len(), max: 255 });
            }
            raw.push(n.len() as u8);
            raw.extend_from_slice(n.as_bytes());
            count += 1;
        }
        if count > u16::MAX as usize {
            return Err(Error::Oversized { field: "count", len: count, max: u16::MAX as usize });
        }
        raw[..2].copy_from_slice(&(count as u16).to_be_bytes());
        Ok(StrList { raw: Bytes::from(raw) })
    }

    /// Number of names.
    pub fn len(&self) -> usize {
        get_u16(&self.raw, 0) as usize
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The names, zero-copy.
    pub fn iter(&self) -> StrIter<'_> {
        StrIter { raw: &self.raw, pos: 2 }
    }

    /// Whether `name` is in the list.
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    /// Encoded size, count included.
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// The encoded list, count included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

/// Iterator over a [`StrList`].
pub struct StrIter<'a> {
    raw: &'a Bytes,
    pos: usize,
}

impl Iterator for StrIter<'_> {
    type Item = ByteString;
    fn next(&mut self) -> Option<ByteString> {
        let len = *self.raw.get(self.pos)? as usize;
        let start = self.pos + 1;
        let end = start + len;
        self.pos = end;
        ByteString::try_from(self.raw.get(start..end).map(|_| self.raw.slice(start..end))?).ok()
    }
}

/// Key/value attributes ("headers"), encoded as `count` (u16) then, per
/// entry, `key_len` (u8), key, `value_len` (u16), value; all UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct HeaderList {
    raw: Bytes,
}

impl Default for HeaderList {
    fn default() -> Self {
        HeaderList { raw: Bytes::from_static(&[0, 0]) }
    }
}

impl fmt::Debug for HeaderList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl HeaderList {
    /// Reads and validates a header list of at most `max_bytes` encoded bytes.
    pub fn parse(r: &mut Reader<'_>, max_bytes: usize, field: &'static str) -> Result<Self> {
        let start = r.pos();
        let count = r.u16(field)? as usize;
        for _ in 0..count {
            r.str8(field, 255)?;
            r.str16(field, u16::MAX as usize)?;
            let len = r.pos() - start;
            if len > max_bytes {
                return Err(Error::Oversized { field, len, max: max_bytes });
            }
        }
        Ok(HeaderList { raw: r.slice_from(start) })
    }

    /// Encodes pairs into a new list (allocates; for senders).
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut raw = alloc::vec![0u8, 0u8];
        let mut count = 0usize;
        for (k, v) in pairs {
            let (k, v) = (k.as_ref(), v.as_ref());
            if k.len() > 255 {
                return Err(Error::Oversized { field: "header_key", len: k.len(), max: 255 });
            }
            if v.len() > u16::MAX as usize {
                return Err(Error::Oversized {
                    field: "header_value",
                    len: v.len(),
                    max: u16::MAX as usize,
                });
            }
            raw.push(k.len() as u8);
            raw.extend_from_slice(k.as_bytes());
            raw.extend_from_slice(&(v.len() as u16).to_be_bytes());
            raw.extend_from_slice(v.as_bytes());
            count += 1;
        }
        if count > u16::MAX as usize {
            return Err(Error::Oversized { field: "count", len: count, max: u16::MAX as usize });
        }
        raw[..2].copy_from_slice(&(count as u16).to_be_bytes());
        Ok(HeaderList { raw: Bytes::from(raw) })
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        get_u16(&self.raw, 0) as usize
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The pairs, zero-copy.
    pub fn iter(&self) -> HeaderIter<'_> {
        HeaderIter { raw: &self.raw, pos: 2 }
    }

    /// The value of the first pair with key `key`.
    pub fn get(&self, key: &str) -> Option<ByteString> {
        self.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Encoded size, count included.
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// The encoded list, count included.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

/// Iterator over a [`HeaderList`].
pub struct HeaderIter<'a> {
    raw: &'a Bytes,
    pos: usize,
}

impl Iterator for HeaderIter<'_> {
    type Item = (ByteString, ByteString);
    fn next(&mut self) -> Option<Self::Item> {
        let klen = *self.raw.get(self.pos)? as usize;
        let ks = self.pos + 1;
        let ke = ks + klen;
        let vl = self.raw.get(ke..ke + 2)?;
        let vlen = u16::from_be_bytes([vl[0], vl[1]]) as usize;
        let vs = ke + 2;
        let ve = vs + vlen;
        if ve > self.raw.len() {
            return None;
        }
        self.pos = ve;
        let k = ByteString::try_from(self.raw.slice(ks..ke)).ok()?;
        let v = ByteString::try_from(self.raw.slice(vs..ve)).ok()?;
        Some((k, v))
    }
}

/// A record of variable encoded size in a [`VarList`]: an admin member,
/// group, route or counter, a tracker peer entry...
///
/// The methods mirror [`Body`](super::Body): `parse_record` reads one record
/// from the start of a buffer, `encoded_len` is its exact size and
/// `emit_record` writes exactly that many bytes. Implementations must round
/// trip: parsing what `emit_record` wrote gives back an equal record and
/// reports `encoded_len` bytes used.
pub trait VarRecord: Sized {
    /// Parses one record from the start of `buf` under `limits`, slicing
    /// strings and payloads out of `buf` without copying. `buf` may hold more
    /// bytes after the record; returns the record and the bytes it used.
    fn parse_record(buf: &Bytes, limits: &Limits) -> Result<(Self, usize)>;

    /// Exact encoded size of the record.
    fn encoded_len(&self) -> usize;

    /// Writes the record into the first [`encoded_len`](Self::encoded_len)
    /// bytes of `out` (which holds at least that many); fails if a field does
    /// not fit its encoding (a name over 255 bytes, a list too long for its
    /// count).
    fn emit_record(&self, out: &mut [u8]) -> Result<()>;
}

/// Limits under which records of a [`VarList`] are decoded again while
/// iterating: every bound was enforced when the list was parsed, so none
/// applies twice (and a list parsed under generous limits still iterates).
const REVALIDATE: Limits = Limits {
    max_frame: usize::MAX,
    max_route: usize::MAX,
    max_groups: usize::MAX,
    max_name: usize::MAX,
    max_headers: usize::MAX,
    max_neighbours: usize::MAX,
    max_ack_ranges: usize::MAX,
    max_entries: usize::MAX,
};

/// A list of variable-size records whose count is carried elsewhere in the
/// message (see each message's field table).
///
/// Zero-copy like the other lists: parsing validates every record once and
/// keeps the raw bytes; [`iter`](Self::iter) decodes the records again (no
/// allocation, strings and payloads are slices of the frame). Equality is
/// byte equality, and re-emitting a parsed list copies its bytes verbatim.
pub struct VarList<R> {
    raw: Bytes,
    count: usize,
    _record: PhantomData<fn() -> R>,
}

impl<R> Clone for VarList<R> {
    fn clone(&self) -> Self {
        VarList { raw: self.raw.clone(), count: self.count, _record: PhantomData }
    }
}

impl<R> PartialEq for VarList<R> {
    fn eq(&self, other: &Self) -> bool {
        self.count == other.count && self.raw == other.raw
    }
}

impl<R> Eq for VarList<R> {}

impl<R> Default for VarList<R> {
    fn default() -> Self {
        VarList { raw: Bytes::new(), count: 0, _record: PhantomData }
    }
}

impl<R: VarRecord + fmt::Debug> fmt::Debug for VarList<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<R: VarRecord> VarList<R> {
    /// Reads and validates `count` records under `limits`; fails with
    /// [`Error::Oversized`] naming `field` if `count > max`.
    pub fn parse(
        r: &mut Reader<'_>,
        count: usize,
        max: usize,
        limits: &Limits,
        field: &'static str,
    ) -> Result<Self> {
        if count > max {
            return Err(Error::Oversized { field, len: count, max });
        }
        let start = r.pos();
        for _ in 0..count {
            let (_, used) = R::parse_record(&r.peek_rest(), limits)?;
            r.bytes(used, field)?;
        }
        Ok(VarList { raw: r.slice_from(start), count, _record: PhantomData })
    }

    /// Encodes records into a new list (allocates; for senders). Accepts
    /// records or references to them.
    pub fn from_records<I>(records: I) -> Result<Self>
    where
        I: IntoIterator,
        I::Item: Borrow<R>,
    {
        let mut raw = Vec::new();
        let mut count = 0;
        for rec in records {
            let rec = rec.borrow();
            let at = raw.len();
            raw.resize(at + rec.encoded_len(), 0);
            rec.emit_record(&mut raw[at..])?;
            count += 1;
        }
        Ok(VarList { raw: Bytes::from(raw), count, _record: PhantomData })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The records in order, decoded on the fly.
    pub fn iter(&self) -> VarIter<'_, R> {
        VarIter { raw: &self.raw, pos: 0, left: self.count, _record: PhantomData }
    }

    /// Encoded size of the records (the count is not included: it lives in
    /// the message's fixed part).
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// The encoded records.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }
}

impl<'a, R: VarRecord> IntoIterator for &'a VarList<R> {
    type Item = R;
    type IntoIter = VarIter<'a, R>;
    fn into_iter(self) -> VarIter<'a, R> {
        self.iter()
    }
}

/// Iterator over a [`VarList`].
pub struct VarIter<'a, R> {
    raw: &'a Bytes,
    pos: usize,
    left: usize,
    _record: PhantomData<fn() -> R>,
}

impl<R: VarRecord> Iterator for VarIter<'_, R> {
    type Item = R;
    fn next(&mut self) -> Option<R> {
        if self.left == 0 || self.pos > self.raw.len() {
            return None;
        }
        // Validated at parse time (or written by `from_records`), so this
        // cannot fail; if it somehow did, the iteration just ends.
        match R::parse_record(&self.raw.slice(self.pos..), &REVALIDATE) {
            Ok((rec, used)) => {
                self.pos += used;
                self.left -= 1;
                Some(rec)
            }
            Err(_) => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<R: VarRecord> ExactSizeIterator for VarIter<'_, R> {}
