//! Fuzz bodies of the admin and tracker decoders, shared by the cargo-fuzz
//! targets (`fuzz/`) and the stable test run (`tests/tests/fuzz_bodies.rs`).
//!
//! They hold [`ControlFrame`] to the properties the core's fuzz bodies check
//! for its own frames, with the core's checks
//! ([`netcluster_core::fuzz::check_frame`]): whatever parses re-emits to a
//! frame that parses to the same value, emitting is stable after one round,
//! and stricter limits never accept what looser ones refuse.

use bytes::Bytes;
use netcluster_core::fuzz::{check_frame, framed, FuzzFrame};
use netcluster_core::wire::{Limits, Protocol, Result};

use crate::ControlFrame;

impl FuzzFrame for ControlFrame {
    fn parse_with(buf: &Bytes, limits: &Limits) -> Result<Self> {
        ControlFrame::parse_with(buf, limits)
    }
    fn buffer_len(&self) -> usize {
        ControlFrame::buffer_len(self)
    }
    fn to_bytes(&self) -> Result<Bytes> {
        ControlFrame::to_bytes(self)
    }
}

/// Feeds `data` to the decoders of one sub-protocol: once wrapped in a valid
/// header of that sub-protocol, once raw.
fn sub_protocol(protocol: Protocol, data: &[u8]) {
    check_frame::<ControlFrame>(&framed(protocol, data));
    check_frame::<ControlFrame>(data);
}

/// Parses arbitrary bytes as an admin or tracker frame; when that succeeds,
/// re-emits and re-parses and asserts equality.
pub fn roundtrip(data: &[u8]) {
    check_frame::<ControlFrame>(data);
}

/// Admin decoders: the first byte is the message type, the rest the body,
/// behind a valid admin header; the raw input is parsed as well.
pub fn admin(data: &[u8]) {
    sub_protocol(Protocol::Admin, data);
}

/// Tracker decoders: the first byte is the message type, the rest the body,
/// behind a valid tracker header; the raw input is parsed as well.
pub fn tracker(data: &[u8]) {
    sub_protocol(Protocol::Tracker, data);
}

/// The local decoders: arbitrary bytes as a local body, and raw.
pub fn local(data: &[u8]) {
    sub_protocol(Protocol::Local, data);
}
