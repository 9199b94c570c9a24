//! Fuzz bodies, shared by the cargo-fuzz targets and the stable test run.
//!
//! Each function takes arbitrary bytes and must never panic; the round-trip
//! body also asserts that whatever parses re-emits to a frame that parses to
//! the same value.

use bytes::Bytes;

use crate::wire::{Frame, Limits};

/// Parses arbitrary bytes as a frame of any sub-protocol; when that succeeds,
/// re-emits and re-parses and asserts equality.
pub fn roundtrip(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);
    if let Ok(frame) = Frame::parse_with(&buf, &Limits::DEFAULT) {
        let again = frame.to_bytes().expect("a parsed frame re-emits");
        let reparsed =
            Frame::parse_with(&again, &Limits::DEFAULT).expect("re-emitted frame parses");
        assert_eq!(frame, reparsed, "parse(emit(parse(x))) != parse(x)");
    }
}
