//! Byte-order explicit readers and writers shared by every message codec.
//!
//! All multi-byte integers on the wire are big-endian (network byte order).
//! Nothing here casts structs or relies on alignment: every field is read with
//! `from_be_bytes` and written with `to_be_bytes`.
//!
//! Public so that sub-protocols decoded outside this crate (the admin and
//! tracker codecs of `netcluster-control`) are written with the same
//! primitives, and so fail with the same [`Error`] values, as the core's own.

use bytes::Bytes;
use bytestring::ByteString;

use super::error::{Error, Result};

/// Reads a big-endian `u16` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u16(buf: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([buf[off], buf[off + 1]])
}

/// Reads a big-endian `u32` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u32(buf: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
}

/// Reads a big-endian `u64` at `off`; the caller has checked the length.
#[inline]
pub(crate) fn get_u64(buf: &[u8], off: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[off..off + 8]);
    u64::from_be_bytes(b)
}

/// A forward-only cursor over a frame, handing out zero-copy [`Bytes`] slices.
///
/// Every read names the field it reads, so a short input reports exactly where
/// it ended.
pub struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf[start..end]`.
    pub fn new(buf: &'a Bytes, start: usize, end: usize) -> Self {
        Reader { buf, pos: start, end }
    }

    /// Current offset in the underlying buffer.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Zero-copy slice from `start` (an earlier [`pos`](Self::pos)) to here.
    pub fn slice_from(&self, start: usize) -> Bytes {
        self.buf.slice(start..self.pos)
    }

    /// Bytes left before the end.
    pub fn remaining(&self) -> usize {
        self.end - self.pos
    }

    fn take(&mut self, n: usize, field: &'static str) -> Result<usize> {
        if self.remaining() < n {
            return Err(Error::Truncated { field });
        }
        let at = self.pos;
        self.pos += n;
        Ok(at)
    }

    /// Reads a `u8` named `field`.
    pub fn u8(&mut self, field: &'static str) -> Result<u8> {
        let at = self.take(1, field)?;
        Ok(self.buf[at])
    }

    /// Reads a big-endian `u16` named `field`.
    pub fn u16(&mut self, field: &'static str) -> Result<u16> {
        let at = self.take(2, field)?;
        Ok(get_u16(self.buf, at))
    }

    /// Reads `N` raw bytes named `field`.
    pub fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let at = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[at..at + N]);
        Ok(out)
    }

    /// The next `n` bytes, borrowed (for a caller that copies them).
    pub fn slice(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let at = self.take(n, field)?;
        Ok(&self.buf[at..at + n])
    }

    /// A zero-copy slice of the next `n` bytes.
    pub fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes> {
        let at = self.take(n, field)?;
        Ok(self.buf.slice(at..at + n))
    }

    /// Everything up to the end, zero-copy, without consuming it: lets a
    /// decoder that works on a [`Bytes`] buffer (a
    /// [`VarRecord`](super::lists::VarRecord)) look ahead, after which the
    /// caller consumes what it used with [`bytes`](Self::bytes).
    pub fn peek_rest(&self) -> Bytes {
        self.buf.slice(self.pos..self.end)
    }

    /// Everything up to the end, zero-copy.
    pub fn rest(&mut self) -> Bytes {
        let at = self.pos;
        self.pos = self.end;
        self.buf.slice(at..self.end)
    }

    /// A UTF-8 string with a one-byte length prefix, at most `max` bytes.
    pub fn str8(&mut self, field: &'static str, max: usize) -> Result<ByteString> {
        let len = self.u8(field)? as usize;
        self.text(len, field, max)
    }

    /// A UTF-8 string with a two-byte length prefix, at most `max` bytes.
    pub fn str16(&mut self, field: &'static str, max: usize) -> Result<ByteString> {
        let len = self.u16(field)? as usize;
        self.text(len, field, max)
    }

    fn text(&mut self, len: usize, field: &'static str, max: usize) -> Result<ByteString> {
        if len > max {
            return Err(Error::Oversized { field, len, max });
        }
        let raw = self.bytes(len, field)?;
        ByteString::try_from(raw).map_err(|_| Error::Malformed { field })
    }

    /// Fails unless every byte has been consumed.
    pub fn finish(&self, field: &'static str) -> Result<()> {
        if self.pos == self.end {
            Ok(())
        } else {
            Err(Error::Malformed { field })
        }
    }
}

/// A forward-only writer into a caller-provided buffer.
///
/// The emitters compute `buffer_len()` first and check the buffer once, so the
/// writes themselves cannot run out of room.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Writes a `u8`.
    pub fn u8(&mut self, v: u8) {
        self.buf[self.pos] = v;
        self.pos += 1;
    }

    /// Writes a big-endian `u16`.
    pub fn u16(&mut self, v: u16) {
        self.put(&v.to_be_bytes());
    }

    /// Writes raw bytes.
    pub fn put(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    /// Writes a one-byte length prefix and the string.
    pub fn str8(&mut self, s: &str, field: &'static str) -> Result<()> {
        check_len(field, s.len(), u8::MAX as usize)?;
        self.u8(s.len() as u8);
        self.put(s.as_bytes());
        Ok(())
    }

    /// Writes a two-byte length prefix and the string.
    pub fn str16(&mut self, s: &str, field: &'static str) -> Result<()> {
        check_len(field, s.len(), u16::MAX as usize)?;
        self.u16(s.len() as u16);
        self.put(s.as_bytes());
        Ok(())
    }

    /// Skips `n` bytes already written through a view.
    pub fn skip(&mut self, n: usize) {
        self.pos += n;
    }
}

/// Checks that a buffer can hold `needed` bytes.
pub(crate) fn check_room(buf: &[u8], needed: usize) -> Result<()> {
    if buf.len() < needed {
        Err(Error::BufferTooSmall { needed, available: buf.len() })
    } else {
        Ok(())
    }
}

/// Checks a length before it is encoded in a field of limited width.
pub fn check_len(field: &'static str, len: usize, max: usize) -> Result<()> {
    if len > max {
        Err(Error::Oversized { field, len, max })
    } else {
        Ok(())
    }
}

/// A fixed-width field type that views can read and write in network byte
/// order.
pub trait FieldType: Sized {
    /// Reads the field at `off`; the view has checked the length.
    fn read(buf: &[u8], off: usize) -> Self;
    /// Writes the field at `off`; the view has checked the length.
    fn write(&self, buf: &mut [u8], off: usize);
}

impl FieldType for u8 {
    fn read(buf: &[u8], off: usize) -> Self {
        buf[off]
    }
    fn write(&self, buf: &mut [u8], off: usize) {
        buf[off] = *self;
    }
}

impl FieldType for u16 {
    fn read(buf: &[u8], off: usize) -> Self {
        get_u16(buf, off)
    }
    fn write(&self, buf: &mut [u8], off: usize) {
        buf[off..off + 2].copy_from_slice(&self.to_be_bytes());
    }
}

impl FieldType for u32 {
    fn read(buf: &[u8], off: usize) -> Self {
        get_u32(buf, off)
    }
    fn write(&self, buf: &mut [u8], off: usize) {
        buf[off..off + 4].copy_from_slice(&self.to_be_bytes());
    }
}

impl FieldType for u64 {
    fn read(buf: &[u8], off: usize) -> Self {
        get_u64(buf, off)
    }
    fn write(&self, buf: &mut [u8], off: usize) {
        buf[off..off + 8].copy_from_slice(&self.to_be_bytes());
    }
}

/// Declares a zero-copy view over the fixed-size prefix of a message body:
/// a `field` module with one named offset per field, and a view type with a
/// getter and a setter per field, all in network byte order.
///
/// Field types implement [`FieldType`]. Exported so that codecs outside this
/// crate lay out their fixed fields the same way.
#[macro_export]
macro_rules! wire_view {
    (
        $(#[$meta:meta])*
        pub struct $name:ident;
        pub mod $fieldmod:ident;
        fixed_len = $LEN:expr;
        $(
            $(#[$fmeta:meta])*
            $get:ident, $set:ident, $CONST:ident : $ty:ty = $off:expr;
        )*
    ) => {
        /// Byte offsets of the fixed fields, from the start of the body.
        pub mod $fieldmod {
            $(
                $(#[$fmeta])*
                pub const $CONST: usize = $off;
            )*
            /// Size of the fixed part of the body.
            pub const FIXED_LEN: usize = $LEN;
        }

        $(#[$meta])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps a body after checking it holds the whole fixed part.
            pub fn new_checked(buffer: T) -> $crate::wire::Result<Self> {
                if buffer.as_ref().len() < $fieldmod::FIXED_LEN {
                    return Err($crate::wire::Error::Truncated { field: stringify!($fieldmod) });
                }
                Ok($name { buffer })
            }

            /// The underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            $(
                $(#[$fmeta])*
                #[inline]
                pub fn $get(&self) -> $ty {
                    <$ty as $crate::wire::codec::FieldType>::read(self.buffer.as_ref(), $fieldmod::$CONST)
                }
            )*
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            $(
                $(#[$fmeta])*
                #[inline]
                pub fn $set(&mut self, value: $ty) {
                    <$ty as $crate::wire::codec::FieldType>::write(&value, self.buffer.as_mut(), $fieldmod::$CONST)
                }
            )*
        }
    };
}
pub(crate) use crate::wire_view;
