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
//! The per-sub-protocol bodies ([`discovery`], [`link`]) wrap the input in a
//! valid header so that the fuzzer reaches the body decoders at once instead
//! of having to discover the header first; they also feed the raw input,
//! like [`roundtrip`]. [`node`] goes past the decoders: it feeds a node with
//! an up link hostile frames, bytes and time.
//!
//! [`check_frame`], [`framed`] and the [`FuzzFrame`] trait are public so
//! that the admin and tracker codecs (`netcluster-control`, whose fuzz
//! bodies live there) are held to exactly the same properties.

use alloc::vec::Vec;
use core::fmt::Debug;

use bytes::Bytes;

use crate::wire::{peek_frame_len, Frame, Limits, Protocol, Result, HEADER_LEN, MAGIC};

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

/// A whole-frame codec the checks of this module apply to: this crate's
/// [`Frame`], or the frame type of another sub-protocol family.
pub trait FuzzFrame: Sized + PartialEq + Debug {
    /// Parses one whole frame under `limits`.
    fn parse_with(buf: &Bytes, limits: &Limits) -> Result<Self>;
    /// Exact size of the encoded frame.
    fn buffer_len(&self) -> usize;
    /// Encodes the frame into a new buffer.
    fn to_bytes(&self) -> Result<Bytes>;
}

impl FuzzFrame for Frame {
    fn parse_with(buf: &Bytes, limits: &Limits) -> Result<Self> {
        Frame::parse_with(buf, limits)
    }
    fn buffer_len(&self) -> usize {
        Frame::buffer_len(self)
    }
    fn to_bytes(&self) -> Result<Bytes> {
        Frame::to_bytes(self)
    }
}

/// Parses `data` as one whole frame under `limits`; when that succeeds,
/// checks the round-trip properties and returns the frame.
fn parse_and_check<F: FuzzFrame>(data: &Bytes, limits: &Limits) -> Option<F> {
    let frame = F::parse_with(data, limits).ok()?;
    let emitted = frame.to_bytes().expect("a parsed frame re-emits");
    assert_eq!(emitted.len(), frame.buffer_len(), "emit wrote a length other than buffer_len()");
    let reparsed = F::parse_with(&emitted, limits).expect("a re-emitted frame parses");
    assert_eq!(frame, reparsed, "parse(emit(parse(x))) != parse(x)");
    let again = reparsed.to_bytes().expect("a re-parsed frame re-emits");
    assert_eq!(emitted, again, "emit(parse(emit(f))) != emit(f)");
    Some(frame)
}

/// The shared check of every body: parses `data` as one whole frame of `F`
/// under the default and under tight limits, checks the round trip, and
/// checks that the tight limits accept nothing the defaults refuse.
pub fn check_frame<F: FuzzFrame>(data: &[u8]) {
    let buf = Bytes::copy_from_slice(data);
    let loose = parse_and_check::<F>(&buf, &Limits::DEFAULT);
    if let Some(tight) = parse_and_check::<F>(&buf, &TIGHT) {
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
pub fn framed(protocol: Protocol, data: &[u8]) -> Vec<u8> {
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
    check_frame::<Frame>(&framed(protocol, data));
    check_frame::<Frame>(data);
}

/// Parses arbitrary bytes as a discovery or link frame; when that
/// succeeds, re-emits and re-parses and asserts equality.
pub fn roundtrip(data: &[u8]) {
    check_frame::<Frame>(data);
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
                    check_frame::<Frame>(&frame);
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

/// Two nodes joined by an in-memory stream link, `a` and `b`, with the
/// handshake done: what [`node`] feeds hostile input into.
struct Pair {
    a: crate::Node,
    b: crate::Node,
    /// `a`'s link to `b`, and `b`'s to `a`.
    links: Option<(crate::node::LinkId, crate::node::LinkId)>,
    now: crate::Instant,
    /// The last bytes `b` wrote to `a` (a record, on an encrypted pair).
    last_b_to_a: Option<Bytes>,
}

impl Pair {
    const A: core::net::SocketAddr = core::net::SocketAddr::V4(core::net::SocketAddrV4::new(
        core::net::Ipv4Addr::new(10, 0, 0, 1),
        7400,
    ));
    const B: core::net::SocketAddr = core::net::SocketAddr::V4(core::net::SocketAddrV4::new(
        core::net::Ipv4Addr::new(10, 0, 0, 2),
        7400,
    ));

    fn new() -> Pair {
        Pair::with_key(None)
    }

    /// The pair, both with the cluster key `key` if given (their link is
    /// then encrypted).
    fn with_key(key: Option<[u8; 32]>) -> Pair {
        let cfg = |name: &str, addr| {
            let mut c = crate::Config::lan("fuzz", name);
            c.beacons = false;
            c.search_on_start = false;
            c.link_addr = addr;
            c.keyring = key.map(crate::auth::Keyring::new);
            c
        };
        let now = crate::Instant::ZERO;
        // Fixed presets, never from the fuzzer's input. Keyless nodes keep
        // their bare jitter seeds (and so their behaviour).
        let seed = |n: u64| match key {
            Some(_) => crate::Seed::deterministic(n),
            None => crate::Seed::from(n),
        };
        let valid = "the LAN preset is valid";
        let a =
            crate::Node::new(cfg("a", Pair::A), crate::NodeId([1; 16]), seed(1), now).expect(valid);
        let mut b =
            crate::Node::new(cfg("b", Pair::B), crate::NodeId([2; 16]), seed(2), now).expect(valid);
        b.add_seed(now, Pair::A);
        let mut pair = Pair { a, b, links: None, now, last_b_to_a: None };
        // The seed is dialled from a timer, and the handshake takes a few
        // exchanges: step time until the link is up on both sides.
        for _ in 0..100 {
            pair.tick(core::time::Duration::from_millis(10));
            if pair.a.neighbours().count() == 1 && pair.b.neighbours().count() == 1 {
                break;
            }
        }
        pair
    }

    /// Moves time by `d`, fires both nodes' due timers, and pumps.
    fn tick(&mut self, d: core::time::Duration) {
        self.now += d;
        let now = self.now;
        for n in [&mut self.a, &mut self.b] {
            if n.poll_timeout().is_some_and(|t| t <= now) {
                n.handle_timeout(now);
            }
        }
        self.pump();
    }

    /// Carries both nodes' outputs to each other until both are quiet (or
    /// a bound on rounds, so hostile input cannot make it spin).
    fn pump(&mut self) {
        use crate::node::Transmit;
        for _ in 0..64 {
            let mut busy = false;
            while let Some(t) = self.b.poll_transmit() {
                busy = true;
                match t {
                    Transmit::Connect { link, addr } if addr == Pair::A && self.links.is_none() => {
                        let theirs = self.a.link_accepted(self.now, Pair::B, Pair::A);
                        self.links = Some((theirs, link));
                        self.b.link_connected(self.now, link, Pair::B);
                    }
                    Transmit::Ready { link } => {
                        while let Some(data) = self.b.poll_link(self.now, link) {
                            if let Some((la, _)) = self.links.filter(|l| l.1 == link) {
                                self.last_b_to_a = Some(data.clone());
                                self.a.handle_link_data(self.now, la, data);
                            }
                        }
                    }
                    _ => {}
                }
            }
            while let Some(t) = self.a.poll_transmit() {
                busy = true;
                if let Transmit::Ready { link } = t {
                    while let Some(data) = self.a.poll_link(self.now, link) {
                        if let Some((_, lb)) = self.links.filter(|l| l.0 == link) {
                            self.b.handle_link_data(self.now, lb, data);
                        }
                    }
                }
            }
            while self.a.poll_event().is_some() || self.b.poll_event().is_some() {}
            if !busy {
                return;
            }
        }
    }
}

/// The node as a whole under hostile input from a linked peer: after a
/// real handshake between two nodes, the input is a sequence of operations
/// on node `a`, which must never panic and stay bounded:
///
/// - `0, n, bytes[n]`: raw bytes on the link from `b` (framing errors
///   included);
/// - `1, type, n, body[n]`: a link frame with a valid header around an
///   arbitrary body, on the link;
/// - `2, type, n, body[n]`: a discovery frame with a valid header, as a
///   datagram from `b`'s address;
/// - `3, t`: time moves `t` x 10 ms; both nodes handle their timeouts and
///   talk.
pub fn node(data: &[u8]) {
    let mut pair = Pair::new();
    // On purpose: hostile input must meet an up link, not a half-open one.
    assert_eq!(pair.a.neighbours().count(), 1, "the fuzz pair did not link up");
    let mut rest = data;
    while let [op, tail @ ..] = rest {
        rest = tail;
        match op % 4 {
            0 => {
                let [n, more @ ..] = rest else { return };
                let n = usize::from(*n).min(more.len());
                feed(&mut pair, false, Bytes::copy_from_slice(&more[..n]));
                rest = &more[n..];
            }
            k @ (1 | 2) => {
                let [t, n, more @ ..] = rest else { return };
                let n = usize::from(*n).min(more.len());
                let protocol = if k == 1 { Protocol::Link } else { Protocol::Discovery };
                let mut frame = Vec::new();
                push_frame(&mut frame, protocol, *t, &more[..n]);
                feed(&mut pair, k == 2, Bytes::from(frame));
                rest = &more[n..];
            }
            _ => {
                let Some((&t, more)) = rest.split_first() else { return };
                rest = more;
                pair.tick(core::time::Duration::from_millis(u64::from(t) * 10));
            }
        }
        pair.pump();
    }
    // What a peer can make the node hold stays within its limits.
    assert!(pair.a.stream_count() <= pair.a.config().max_streams);
    assert!(pair.a.reassembly_bytes() <= pair.a.config().reassembly_total);
}

/// One hostile input to node `a`: as a datagram from `b`'s address, or on
/// the link from `b`.
fn feed(pair: &mut Pair, datagram: bool, bytes: Bytes) {
    let now = pair.now;
    if datagram {
        pair.a.handle_datagram(now, Pair::B, crate::node::DatagramSource::Unicast, bytes);
    } else if let Some((la, _)) = pair.links {
        pair.a.handle_link_data(now, la, bytes);
    }
}

/// Authenticated discovery (PROTOCOL 12) under hostile input, against a
/// node with a keyring. The first byte chooses:
///
/// - even: the rest is a datagram, also checked with
///   [`verify_frame`](crate::auth::verify_frame) when it parses;
/// - odd: the rest gives a node id, an incarnation and a replay counter
///   for a beacon signed with the node's key, then a byte position and a
///   non-zero mask: the signed beacon with that byte changed is fed first
///   (never believed: no candidate), then the beacon as signed twice
///   (believed once, the second time a replay).
pub fn discovery_auth(data: &[u8]) {
    use crate::auth::{sign_frame, verify_frame, Keyring};
    use crate::node::DatagramSource;
    use crate::wire::discovery::{Announce, Beacon};
    use crate::wire::{cluster_hash, DiscoveryMessage, NodeId, NodeState, VersionRanges};
    use crate::{Config, Instant, Node};

    let ring = Keyring::with_keys([0x5a; 32], [[0xa5; 32]]).expect("two keys");
    let mut cfg = Config::lan("fuzz", "a");
    cfg.keyring = Some(ring.clone());
    cfg.search_on_start = false;
    cfg.beacons = false;
    let me = NodeId([1; 16]);
    let Ok(mut node) = Node::new(cfg, me, crate::Seed::deterministic(1), Instant::ZERO) else {
        return;
    };
    let from: core::net::SocketAddr = "192.0.2.9:7400".parse().expect("literal");
    let feed = |node: &mut Node, bytes: Bytes| {
        node.handle_datagram(Instant::ZERO, from, DatagramSource::Beacon, bytes);
        while node.poll_transmit().is_some() {}
        while node.poll_event().is_some() {}
    };
    let Some((&mode, rest)) = data.split_first() else { return };
    if mode % 2 == 0 {
        let raw = Bytes::copy_from_slice(rest);
        if let Ok(f) = Frame::parse(&raw) {
            let _ = verify_frame(&ring, &raw, &f.extensions);
        }
        feed(&mut node, raw);
        // Nobody can forge the tag, so nothing a fuzzer makes is believed.
        assert_eq!(node.candidates().count(), 0, "an unauthenticated frame was believed");
        return;
    }
    let [id @ .., i0, i1, i2, i3, c0, c1, c2, c3, at, mask] = rest else { return };
    let Ok(id) = <[u8; 16]>::try_from(&id[..id.len().min(16)]) else { return };
    if id == me.0 || *mask == 0 {
        return;
    }
    let beacon = DiscoveryMessage::Beacon(Beacon(Announce {
        node_id: NodeId(id),
        cluster_hash: cluster_hash("fuzz"),
        incarnation: u64::from(u32::from_be_bytes([*i0, *i1, *i2, *i3])),
        sequence: 1,
        interval_ms: 1000,
        peer_count: 0,
        state: NodeState::Ready,
        link_addr: "0.0.0.0:7400".parse().expect("literal"),
        ranges: VersionRanges::supported(),
    }));
    let counter = u64::from(u32::from_be_bytes([*c0, *c1, *c2, *c3]));
    let Ok(signed) = sign_frame(ring.primary(), counter, beacon) else { return };
    let mut changed = signed.to_vec();
    let at = usize::from(*at) % changed.len();
    changed[at] ^= mask;
    feed(&mut node, Bytes::from(changed));
    assert_eq!(node.candidates().count(), 0, "a changed frame was believed (byte {at})");
    feed(&mut node, signed.clone());
    feed(&mut node, signed);
    assert_eq!(node.candidates().count(), 1, "the signed beacon is believed");
    assert_eq!(node.stats().replayed, 1, "and its copy is a replay");
}

/// The records of an encrypted stream link under hostile input: after a
/// real Noise handshake between two keyed nodes, the input is a sequence
/// of operations on node `a`'s link from `b`:
///
/// - `0, n, bytes[n]`: raw bytes on the link;
/// - `1, nonce[8], n, ciphertext[n]`: a SEALED frame with that nonce and
///   ciphertext (a tag's 16 bytes at least; padded with zeros);
/// - `2`: the last bytes `b` really wrote to `a`, again (a replay);
/// - `3, t`: time moves `t` x 10 ms; both nodes talk.
///
/// Nothing made here opens: after each hostile input `a` has received no
/// frame more (a record that does not open closes the link; a clear frame
/// on it is dropped).
pub fn sealed(data: &[u8]) {
    let mut pair = Pair::with_key(Some([0x5a; 32]));
    let encrypted = pair.a.links().iter().all(|l| l.encrypted);
    assert!(pair.a.neighbours().count() == 1 && encrypted, "the fuzz pair did not encrypt");
    let mut rest = data;
    while let [op, tail @ ..] = rest {
        rest = tail;
        let before = pair.a.stats().frames_received;
        let hostile = match op % 4 {
            0 => {
                let [n, more @ ..] = rest else { return };
                let n = usize::from(*n).min(more.len());
                let bytes = Bytes::copy_from_slice(&more[..n]);
                rest = &more[n..];
                Some(bytes)
            }
            1 => {
                let [n0, n1, n2, n3, n4, n5, n6, n7, n, more @ ..] = rest else { return };
                let n = usize::from(*n).min(more.len());
                let mut body = Vec::from([*n0, *n1, *n2, *n3, *n4, *n5, *n6, *n7]);
                body.extend_from_slice(&more[..n]);
                body.resize(body.len().max(8 + 16), 0);
                rest = &more[n..];
                let mut frame = Vec::new();
                push_frame(&mut frame, Protocol::Link, 15, &body);
                Some(Bytes::from(frame))
            }
            2 => pair.last_b_to_a.clone(),
            _ => {
                let Some((&t, more)) = rest.split_first() else { return };
                rest = more;
                pair.tick(core::time::Duration::from_millis(u64::from(t) * 10));
                None
            }
        };
        if let (Some(bytes), Some((la, _))) = (hostile, pair.links) {
            pair.a.handle_link_data(pair.now, la, bytes);
            assert_eq!(pair.a.stats().frames_received, before, "a hostile record was opened");
        }
        pair.pump();
    }
}

/// The Noise handshake under hostile input, against a keyed node that
/// accepted a stream link from a stranger whose HELLO (with CAP_AUTH and
/// CAP_NOISE, as an attacker would set them) it welcomed. The first byte
/// chooses the side:
///
/// - even: the node is the acceptor; then `key_id, noise[48]` make a
///   NOISE_INIT (padded with zeros), and the rest goes as raw bytes;
/// - odd: the node is the opener, its HELLO answered by the stranger's
///   WELCOME; then `noise[48]` makes a NOISE_RESP, and the rest goes raw.
///
/// Without the cluster key nothing the input makes authenticates: the link
/// never comes up, and the node never has a neighbour.
pub fn noise_handshake(data: &[u8]) {
    use crate::node::Transmit;
    use crate::wire::link::{
        ChosenVersion, Hello, Intro, NoiseInit, NoiseResp, Welcome, CAP_AUTH, CAP_NOISE,
    };
    use crate::wire::{FixedList, HeaderList, LinkMessage, NodeId, NodeState, StrList};
    use crate::{Config, Instant, Node};

    let Some((&mode, rest)) = data.split_first() else { return };
    let mut cfg = Config::lan("fuzz", "a");
    cfg.keyring = Some(crate::auth::Keyring::new([0x5a; 32]));
    cfg.search_on_start = false;
    cfg.beacons = false;
    cfg.link_addr = Pair::A;
    let now = Instant::ZERO;
    let seed = crate::Seed::deterministic(1);
    let Ok(mut node) = Node::new(cfg.clone(), NodeId([1; 16]), seed, now) else { return };
    let stranger = Intro {
        node_id: NodeId([9; 16]),
        incarnation: 1,
        capabilities: CAP_AUTH | CAP_NOISE,
        state: NodeState::Ready,
        link_addr: Pair::B,
        cluster: "fuzz".into(),
        name: "x".into(),
        ranges: cfg.versions.clone(),
        headers: HeaderList::default(),
        groups: StrList::default(),
    };
    let drain = |node: &mut Node| {
        while let Some(t) = node.poll_transmit() {
            if let Transmit::Ready { link } = t {
                while node.poll_link(now, link).is_some() {}
            }
        }
        while node.poll_event().is_some() {}
    };
    let link = if mode % 2 == 0 {
        let link = node.link_accepted(now, Pair::B, Pair::A);
        let Ok(hello) = Frame::new(LinkMessage::Hello(Hello(stranger))).to_bytes() else { return };
        node.handle_link_data(now, link, hello);
        link
    } else {
        node.add_seed(now, Pair::B);
        node.handle_timeout(now);
        let mut link = None;
        while let Some(t) = node.poll_transmit() {
            if let Transmit::Connect { link: l, .. } = t {
                link = Some(l);
            }
        }
        // A fixed preset, never the input: the seed is dialled at once.
        let link = link.expect("the seed is dialled on the first timeout");
        node.link_connected(now, link, Pair::A);
        drain(&mut node);
        let chosen = [ChosenVersion { protocol: Protocol::Link.id(), version: 1 }];
        let welcome = Welcome { intro: stranger, chosen: FixedList::from_entries(chosen.iter()) };
        let Ok(welcome) = Frame::new(LinkMessage::Welcome(welcome)).to_bytes() else { return };
        node.handle_link_data(now, link, welcome);
        link
    };
    drain(&mut node);
    let in_noise = node.links().iter().any(|l| !l.up && l.peer == Some(NodeId([9; 16])));
    assert!(in_noise, "the stranger's HELLO or WELCOME was taken: the Noise handshake is next");
    let mut message = [0u8; 48];
    let (first, raw) = if mode % 2 == 0 {
        let (key_id, rest) = rest.split_first().map_or((0, rest), |(k, r)| (*k, r));
        let n = rest.len().min(48);
        message[..n].copy_from_slice(&rest[..n]);
        (Frame::new(LinkMessage::NoiseInit(NoiseInit { key_id, message })), &rest[n..])
    } else {
        let n = rest.len().min(48);
        message[..n].copy_from_slice(&rest[..n]);
        (Frame::new(LinkMessage::NoiseResp(NoiseResp { message })), &rest[n..])
    };
    if let Ok(bytes) = first.to_bytes() {
        node.handle_link_data(now, link, bytes);
    }
    drain(&mut node);
    node.handle_link_data(now, link, Bytes::copy_from_slice(raw));
    drain(&mut node);
    assert_eq!(node.neighbours().count(), 0, "a handshake without the key succeeded");
    assert!(node.links().iter().all(|l| !l.encrypted && !l.up));
}
