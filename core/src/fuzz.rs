//! Fuzz bodies, shared by the cargo-fuzz targets (`fuzz/`) and the stable
//! test run (`tests/tests/fuzz_bodies.rs`).
//!
//! Each function takes arbitrary bytes and must never panic, except through
//! the assertions it makes on purpose:
//!
//! - whatever parses re-emits, and the re-emitted frame parses to the same
//!   value (`parse(emit(parse(x))) == parse(x)`);
//! - emitting is stable after one round (`emit(parse(emit(f))) == emit(f)`):
//!   a decoder may accept a non-canonical encoding, but the encoder's output
//!   is canonical;
//! - stricter [`Limits`] never accept what looser ones refuse, and never
//!   decode to a different value;
//! - cutting frames out of a byte stream gives the same frames whatever the
//!   chunk sizes the bytes arrive in.
//!
//! The per-sub-protocol bodies ([`discovery`], [`link`], [`admin`],
//! [`tracker`]) wrap the input in a valid header so that the fuzzer reaches
//! the body decoders at once instead of having to discover the header first;
//! they also feed the raw input, like [`roundtrip`].

use alloc::vec::Vec;

use bytes::Bytes;

use crate::wire::{peek_frame_len, Frame, Limits, Protocol, HEADER_LEN, MAGIC};

/// Limits far below the defaults, so that short inputs reach the
/// [`Oversized`](crate::wire::Error::Oversized) paths too.
const TIGHT: Limits = Limits {
    max_frame: 512,
    max_route: 4,
    max_groups: 4,
    max_name: 16,
    max_headers: 64,
    max_neighbours: 4,
    max_ack_ranges: 4,
    max_entries: 4,
};

/// Parses `data` as one whole frame under `limits`; when that succeeds,
/// checks the round-trip properties and returns the frame.
fn parse_and_check(data: &Bytes, limits: &Limits) -> Option<Frame> {
    let frame = Frame::parse_with(data, limits).ok()?;
    let emitted = frame.to_bytes().expect("a parsed frame re-emits");
    assert_eq!(emitted.len(), frame.buffer_len(), "emit wrote a length other than buffer_len()");
    let reparsed = Frame::parse_with(&emitted, limits).expect("a re-emitted frame parses");
    assert_eq!(frame, reparsed, "parse(emit(parse(x))) != parse(x)");
    let again = reparsed.to_bytes().expect("a re-parsed frame re-emits");
    assert_eq!(emitted, again, "emit(parse(emit(f))) != emit(f)");
    Some(frame)
}

/// The shared check of every body: parses `data` as one whole frame under
/// the default and under tight limits, checks the round trip, and checks
/// that the tight limits accept nothing the defaults refuse.
fn check_frame(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);
    let loose = parse_and_check(&buf, &Limits::DEFAULT);
    if let Some(tight) = parse_and_check(&buf, &TIGHT) {
        assert_eq!(
            loose.as_ref(),
            Some(&tight),
            "tight limits accepted a frame the defaults refuse, or decoded it differently"
        );
    }
}

/// Appends to `out` a frame of `protocol` with a valid header (the newest
/// version this codec speaks, no flags, the exact total length) around
/// `body`.
fn push_frame(out: &mut Vec<u8>, protocol: Protocol, msg_type: u8, body: &[u8]) {
    let total = HEADER_LEN + body.len();
    out.reserve(total);
    out.extend_from_slice(&MAGIC.to_be_bytes());
    out.push(protocol.id());
    out.push(protocol.supported().max);
    out.push(msg_type);
    out.push(0);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(body);
}

/// Wraps `data` in a valid header of `protocol`: the first byte of `data` is
/// the message type, the rest is the body.
fn framed(protocol: Protocol, data: &[u8]) -> Vec<u8> {
    let (msg_type, body) = match data.split_first() {
        Some((&t, rest)) => (t, rest),
        None => (0, &[][..]),
    };
    let mut frame = Vec::new();
    push_frame(&mut frame, protocol, msg_type, body);
    frame
}

/// Feeds `data` to the decoders of one sub-protocol: once wrapped in a valid
/// header of that sub-protocol, once raw.
fn sub_protocol(protocol: Protocol, data: &[u8]) {
    check_frame(&framed(protocol, data));
    check_frame(data);
}

/// Parses arbitrary bytes as a frame of any sub-protocol; when that succeeds,
/// re-emits and re-parses and asserts equality.
pub fn roundtrip(data: &[u8]) {
    check_frame(data);
}

/// Discovery decoders: the first byte is the message type (BEACON, SEARCH,
/// NOTIFY...), the rest the body, behind a valid discovery header; the raw
/// input is parsed as well.
pub fn discovery(data: &[u8]) {
    sub_protocol(Protocol::Discovery, data);
}

/// Link decoders: the first byte is the message type, the rest the body,
/// behind a valid link header; the raw input is parsed as well.
pub fn link(data: &[u8]) {
    sub_protocol(Protocol::Link, data);
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

/// What a stream deframer made of a byte stream: the frames it cut out, and
/// whether it stopped on an error (the link would be closed).
#[derive(Debug, PartialEq, Eq)]
struct Deframed {
    frames: Vec<Vec<u8>>,
    failed: bool,
}

/// Cuts frames out of `stream`, delivered in chunks of the sizes `chunk`
/// yields (each at least 1), with [`peek_frame_len`] as a stream transport
/// does; checks every frame cut out.
fn deframe(stream: &[u8], max_frame: usize, mut chunk: impl FnMut() -> usize) -> Deframed {
    let mut out = Deframed { frames: Vec::new(), failed: false };
    let mut buf: Vec<u8> = Vec::new();
    let mut rest = stream;
    while !rest.is_empty() {
        let n = chunk().clamp(1, rest.len());
        buf.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        loop {
            match peek_frame_len(&buf, max_frame) {
                Ok(Some(len)) => {
                    assert!(len >= HEADER_LEN, "peek_frame_len: {len} < header");
                    assert!(len <= max_frame, "peek_frame_len: {len} > max_frame");
                    assert!(buf.len() >= HEADER_LEN, "length from a partial header");
                    if buf.len() < len {
                        break;
                    }
                    let frame: Vec<u8> = buf.drain(..len).collect();
                    check_frame(&frame);
                    out.frames.push(frame);
                }
                Ok(None) => {
                    assert!(buf.len() < HEADER_LEN, "None with a whole header");
                    break;
                }
                Err(_) => {
                    out.failed = true;
                    return out;
                }
            }
        }
    }
    out
}

/// Turns `data` into a stream of frames with valid headers, so that the
/// stream body gets past the header checks quickly: each record is a
/// sub-protocol selector byte, a body length byte `n`, a message type byte
/// and `n` body bytes (fewer at the end of the input).
fn synthesize_stream(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let [selector, n, msg_type, rest @ ..] = data {
        let protocol = Protocol::ALL[usize::from(*selector) % Protocol::ALL.len()];
        let n = usize::from(*n).min(rest.len());
        push_frame(&mut out, protocol, *msg_type, &rest[..n]);
        data = &rest[n..];
    }
    out
}

/// Stream framing: cuts frames out of a byte stream with
/// [`peek_frame_len`], feeding it in chunks of pseudo-random sizes, parses
/// each frame, and checks that the frames cut out are the same as when the
/// whole stream arrives at once.
///
/// The first input byte drives the run: its low six bits bound the chunk
/// sizes (0: one byte at a time) and seed their sequence; with its top bit
/// set the rest of the input is turned into a stream of well-framed messages
/// first, otherwise it is the raw stream.
pub fn stream(data: &[u8]) {
    let Some((&seed, rest)) = data.split_first() else {
        return;
    };
    let synthesized;
    let stream = if seed & 0x80 != 0 {
        synthesized = synthesize_stream(rest);
        &synthesized[..]
    } else {
        rest
    };
    let max_frame = Limits::DEFAULT.max_frame;
    let max_chunk = u32::from(seed & 0x3f) + 1;
    let mut state = 0x9e37_79b9_u32 ^ u32::from(seed);
    let chunked = deframe(stream, max_frame, || {
        // xorshift32: cheap, deterministic, never zero from a non-zero state.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state % max_chunk) as usize + 1
    });
    let whole = deframe(stream, max_frame, || usize::MAX);
    assert_eq!(chunked, whole, "deframing depends on chunk sizes");
}
