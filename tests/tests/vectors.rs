//! Golden wire vectors (`tests/vectors/<sub-protocol>/<message>.hex`) against
//! the codecs (the core's for discovery and link, the control crate's for
//! admin and tracker), and the wire rules of `docs/PROTOCOL.md` that the
//! vectors illustrate: extension handling and version negotiation.
//!
//! The vectors are written by `cargo run -p netcluster-tests --example
//! gen_vectors`; [`vectors_match_the_generator`] fails when they are stale.

mod vector_gen;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use netcluster_control::ControlFrame;
use netcluster_core::wire::link::{Hello, Intro, Ping, Reject, RejectReason};
use netcluster_core::wire::{
    Body, Error, Frame, LinkMessage, Message, NodeId, NodeState, ProtoRange, Protocol,
    VersionRange, VersionRanges, HEADER_LEN,
};
use netcluster_tests::{read_hex_vectors, vectors_dir, AnyFrame};

/// Byte offset of the header's `version` field.
const VERSION_AT: usize = 3;
/// Byte offset of the header's `length` field.
const LENGTH_AT: usize = 6;

/// `RouteError` -> `route_error`.
fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `tests/vectors/link/ping.hex` -> `link/ping.hex`.
fn rel(path: &Path) -> String {
    path.strip_prefix(vectors_dir()).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

fn vectors() -> Vec<(PathBuf, Bytes)> {
    let v: Vec<(PathBuf, Bytes)> =
        read_hex_vectors().into_iter().map(|(p, b)| (p, Bytes::from(b))).collect();
    assert!(!v.is_empty(), "no vectors under {}", vectors_dir().display());
    v
}

fn vector(rel_path: &str) -> Bytes {
    vectors()
        .into_iter()
        .find(|(p, _)| rel(p) == rel_path)
        .unwrap_or_else(|| panic!("missing vector {rel_path}"))
        .1
}

fn with_byte(b: &Bytes, at: usize, f: impl FnOnce(u8) -> u8) -> Bytes {
    let mut v = b.to_vec();
    v[at] = f(v[at]);
    Bytes::from(v)
}

#[test]
fn vectors_match_the_generator() {
    let generated = vector_gen::all();
    let mut expected = BTreeSet::new();
    for v in &generated {
        let path = vectors_dir().join(&v.path);
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == v.text,
            "{} is missing or stale: run `{}`",
            v.path,
            vector_gen::REGENERATE
        );
        expected.insert(v.path.clone());
    }
    for (path, _) in read_hex_vectors() {
        assert!(
            expected.contains(&rel(&path)),
            "{} is not produced by the generator: remove it or add it to tests/tests/vector_gen",
            rel(&path)
        );
    }
}

#[test]
fn every_vector_parses_and_reemits_byte_for_byte() {
    for (path, bytes) in vectors() {
        let name = rel(&path);
        let frame = AnyFrame::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let again = frame.to_bytes().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again, bytes, "{name}: re-emitted bytes differ");
        assert_eq!(frame.buffer_len(), bytes.len(), "{name}: buffer_len");
    }
}

#[test]
fn every_vector_is_named_after_its_message() {
    for (path, bytes) in vectors() {
        let name = rel(&path);
        let frame = AnyFrame::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let dir =
            path.parent().and_then(Path::file_name).and_then(|d| d.to_str()).unwrap_or_default();
        assert_eq!(dir, frame.protocol().to_string(), "{name}: directory is not the sub-protocol");
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let msg = snake(frame.name());
        assert!(
            stem == msg || stem.starts_with(&format!("{msg}_")),
            "{name}: holds a {msg} message"
        );
    }
}

#[test]
fn every_strict_prefix_of_a_vector_is_refused() {
    for (path, bytes) in vectors() {
        let name = rel(&path);
        for cut in 0..bytes.len() {
            assert!(
                AnyFrame::parse(&bytes.slice(..cut)).is_err(),
                "{name}: the {cut}-byte prefix parsed"
            );
        }
        // The same prefixes with a header that agrees with them reach the body
        // decoders: no panic, and whatever parses re-emits exactly (a DATA
        // payload may legitimately be cut short).
        for cut in HEADER_LEN..bytes.len() {
            let mut v = bytes[..cut].to_vec();
            v[LENGTH_AT..HEADER_LEN].copy_from_slice(&(cut as u32).to_be_bytes());
            let v = Bytes::from(v);
            if let Ok(f) = AnyFrame::parse(&v) {
                assert_eq!(f.to_bytes().unwrap(), v, "{name}: cut at {cut}");
            }
        }
    }
}

#[test]
fn each_crate_refuses_the_other_crates_vectors_unread() {
    // The core decodes discovery and link, the control crate admin and
    // tracker; each checks the frame around any body and refuses the
    // others' with the same typed error, whatever their body holds.
    for (path, bytes) in vectors() {
        let name = rel(&path);
        let protocol = AnyFrame::parse(&bytes).unwrap().protocol();
        let unexpected = Error::UnexpectedProtocol { protocol };
        match protocol {
            Protocol::Discovery | Protocol::Link => {
                assert_eq!(ControlFrame::parse(&bytes), Err(unexpected), "{name}");
            }
            Protocol::Admin | Protocol::Tracker | Protocol::Local => {
                assert_eq!(Frame::parse(&bytes), Err(unexpected), "{name}");
                let mut garbage = bytes.to_vec();
                garbage[HEADER_LEN..].fill(0xff);
                assert_eq!(Frame::parse(&Bytes::from(garbage)), Err(unexpected), "{name}");
            }
        }
    }
}

/// Whether the codecs know message type `t` of `protocol`: a frame with an
/// empty body is refused as something other than an unknown message.
fn known(protocol: Protocol, t: u8) -> bool {
    let mut v = Vec::with_capacity(HEADER_LEN);
    v.extend_from_slice(&0x4e43u16.to_be_bytes());
    v.push(protocol.id());
    v.push(protocol.supported().max);
    v.push(t);
    v.push(0);
    v.extend_from_slice(&(HEADER_LEN as u32).to_be_bytes());
    !matches!(
        AnyFrame::parse(&Bytes::from(v)),
        Err(Error::UnknownMessage { protocol: p, msg_type }) if p == protocol && msg_type == t
    )
}

#[test]
fn every_message_type_has_a_vector() {
    let mut covered = BTreeSet::new();
    for (path, bytes) in vectors() {
        let f = AnyFrame::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", rel(&path)));
        covered.insert((f.protocol(), f.msg_type()));
    }
    let mut missing = Vec::new();
    for protocol in Protocol::EVERY {
        let types: Vec<u8> = (0..=255).filter(|&t| known(protocol, t)).collect();
        assert!(!types.is_empty(), "{protocol}: no message type found");
        for t in types {
            if !covered.contains(&(protocol, t)) {
                missing.push(format!("{protocol} type {t}"));
            }
        }
    }
    assert!(missing.is_empty(), "message types without a vector: {missing:?}");
}

#[test]
fn the_probe_finds_the_link_message_types() {
    // Guards the probe above against finding nothing or everything.
    let link: Vec<u8> = (0..=255).filter(|&t| known(Protocol::Link, t)).collect();
    assert_eq!(link, (1..=15).collect::<Vec<u8>>());
    let discovery: Vec<u8> = (0..=255).filter(|&t| known(Protocol::Discovery, t)).collect();
    assert_eq!(discovery, [1, 2, 3]);
}

#[test]
fn unknown_optional_tlv_is_skipped() {
    let bytes = vector("link/ping_unknown_optional_tlv.hex");
    let frame = Frame::parse(&bytes).unwrap();
    let tlvs: Vec<_> = frame.extensions.iter().collect();
    assert_eq!(tlvs.len(), 1);
    assert_eq!(tlvs[0].ext_type, 0x0100);
    assert!(!tlvs[0].mandatory);
    assert_eq!(&tlvs[0].value[..], b"opt");
    assert_eq!(frame.extensions.replay_counter(), None);
    assert_eq!(frame.extensions.auth_tag(), None);
    // The message is intact and the same as without the extension.
    let plain = Frame::parse(&vector("link/ping.hex")).unwrap();
    assert_eq!(frame.message, plain.message);
    assert_eq!(
        frame.message,
        Message::Link(LinkMessage::Ping(Ping { token: 0x0123_4567_89ab_cdef }))
    );
    // Kept, so the frame re-emits byte for byte.
    assert_eq!(frame.to_bytes().unwrap(), bytes);
}

#[test]
fn unknown_mandatory_tlv_is_rejected() {
    let bytes = vector("link/ping_unknown_optional_tlv.hex");
    // header (10) + ext_len (2): the first TLV's type starts at 12.
    let mandatory = with_byte(&bytes, 12, |b| b | 0x80);
    assert_eq!(
        Frame::parse(&mandatory),
        Err(Error::UnknownMandatoryExtension { ext_type: 0x0100 })
    );
}

#[test]
fn known_tlvs_are_read_and_accepted_even_when_mandatory() {
    let bytes = vector("discovery/beacon_ext.hex");
    let frame = Frame::parse(&bytes).unwrap();
    assert_eq!(frame.extensions.replay_counter(), Some(42));
    let tag = frame.extensions.auth_tag().unwrap();
    assert_eq!(tag.key_id, 1);
    assert_eq!(&tag.tag[..], &(0xa0..=0xafu8).collect::<Vec<_>>()[..]);
    // Setting the M bit on a type the codec knows changes nothing.
    let m = with_byte(&bytes, 12, |b| b | 0x80);
    let f = Frame::parse(&m).unwrap();
    assert_eq!(f.message, frame.message);
    assert_eq!(f.extensions.replay_counter(), Some(42));
    // A replay counter of the wrong size is malformed.
    let bad = with_byte(&bytes, 15, |b| b - 1);
    assert_eq!(Frame::parse(&bad), Err(Error::Malformed { field: "ext_replay_counter" }));
}

#[test]
fn reject_carries_the_refusers_id_in_an_optional_tlv() {
    let bytes = vector("link/reject_node_id.hex");
    let frame = Frame::parse(&bytes).unwrap();
    let id = frame.extensions.node_id().expect("NODE_ID read");
    assert_eq!(id.as_bytes()[..4], [0x11, 0x22, 0x33, 0x44]);
    // A receiver that does not know NODE_ID skips it: the body is the plain
    // frozen REJECT either way.
    assert!(matches!(frame.message, Message::Link(LinkMessage::Reject(_))));
    // A NODE_ID of the wrong size is malformed (its length is at 14..16).
    let short = with_byte(&bytes, 15, |b| b - 1);
    assert_eq!(Frame::parse(&short), Err(Error::Malformed { field: "ext_node_id" }));
}

fn is_frozen(f: &AnyFrame) -> bool {
    matches!(
        f,
        AnyFrame::Core(Frame {
            message: Message::Link(LinkMessage::Hello(_) | LinkMessage::Reject(_)),
            ..
        })
    )
}

#[test]
fn version_mismatch_is_reported_with_both_versions() {
    for (path, bytes) in vectors() {
        let name = rel(&path);
        let frame = AnyFrame::parse(&bytes).unwrap();
        let protocol = frame.protocol();
        for remote in [0u8, 2, 99, 255] {
            let other = with_byte(&bytes, VERSION_AT, |_| remote);
            let got = AnyFrame::parse(&other);
            if is_frozen(&frame) {
                // HELLO and REJECT parse in every version, and keep it.
                let (AnyFrame::Core(f), AnyFrame::Core(frame)) =
                    (got.unwrap_or_else(|e| panic!("{name} v{remote}: {e}")), &frame)
                else {
                    unreachable!("HELLO and REJECT are link frames")
                };
                assert_eq!(f.version, remote);
                assert_eq!(f.message, frame.message);
                assert_eq!(f.to_bytes().unwrap(), other);
            } else {
                assert_eq!(
                    got,
                    Err(Error::UnsupportedVersion {
                        protocol,
                        remote,
                        local: protocol.supported(),
                    }),
                    "{name} v{remote}"
                );
            }
        }
    }
    // The message names both versions.
    let ping = with_byte(&vector("link/ping.hex"), VERSION_AT, |_| 99);
    let msg = Frame::parse(&ping).unwrap_err().to_string();
    assert!(msg.contains("99") && msg.contains("1..=1"), "{msg}");
}

#[test]
fn hello_with_only_link_version_99_still_parses() {
    let ranges = VersionRanges::from_entries(
        [ProtoRange { protocol: Protocol::Link.id(), range: VersionRange::new(99, 99) }].iter(),
    );
    let hello = Hello(Intro {
        node_id: NodeId([0x42; 16]),
        incarnation: 1,
        capabilities: 0,
        state: NodeState::Ready,
        link_addr: "192.0.2.9:7400".parse().unwrap(),
        cluster: "demo".into(),
        name: "future".into(),
        ranges,
        headers: Default::default(),
        groups: Default::default(),
    });
    let mut frame = Frame::new(LinkMessage::Hello(hello.clone()));
    frame.version = 99;
    let bytes = frame.to_bytes().unwrap();
    assert_eq!(bytes[VERSION_AT], 99);

    let parsed = Frame::parse(&bytes).unwrap();
    assert_eq!(parsed.version, 99);
    let Message::Link(LinkMessage::Hello(h)) = &parsed.message else {
        panic!("not a HELLO: {parsed:?}")
    };
    assert_eq!(h, &hello);
    let link = Protocol::Link.id();
    assert_eq!(h.0.ranges.range_of(link), Some(VersionRange::new(99, 99)));
    assert_eq!(h.0.ranges.range_of(Protocol::Discovery.id()), None);

    // No common version: the receiver answers REJECT(VERSION) with both
    // ranges, in a REJECT that the v99 peer can read too.
    let local = Protocol::Link.supported();
    assert_eq!(local.highest_common(&VersionRange::new(99, 99)), None);
    let reject = Reject {
        reason: RejectReason::VERSION,
        protocol: link,
        local_ranges: VersionRanges::supported(),
        remote_ranges: h.0.ranges.clone(),
        detail: "no common link version".into(),
    };
    let wire = reject.to_bytes().unwrap();
    let back = Frame::parse(&with_byte(&wire, VERSION_AT, |_| 99)).unwrap();
    let Message::Link(LinkMessage::Reject(r)) = back.message else { panic!("not a REJECT") };
    assert_eq!(r.reason, RejectReason::VERSION);
    assert_eq!(r.version_ranges(), (Some(local), Some(VersionRange::new(99, 99))));
}

/// The encrypted-link vectors are one handshake: A's NOISE_INIT, made again
/// from the fixed key and seed, is the file's; B answers it with the file's
/// NOISE_RESP; and B opens the SEALED record to `link/ping.hex`.
#[test]
fn the_noise_vectors_are_one_handshake_and_the_record_opens_to_the_ping_vector() {
    use netcluster_core::auth::noise::{prologue, respond, Initiator};
    use netcluster_core::auth::{ClusterKey, Keyring};
    use netcluster_core::wire::link::{NoiseInit, NoiseResp, Sealed};
    use vector_gen::secure::{ACCEPTOR_SEED, INCARNATIONS, KEY, OPENER_SEED};

    let parse = |path: &str| match Frame::parse(&vector(path)).map(|f| f.message) {
        Ok(Message::Link(m)) => m,
        other => panic!("{path}: {other:?}"),
    };
    let (
        LinkMessage::NoiseInit(NoiseInit { key_id, message: init }),
        LinkMessage::NoiseResp(NoiseResp { message: resp }),
        LinkMessage::Sealed(Sealed { nonce, ciphertext }),
    ) = (parse("link/noise_init.hex"), parse("link/noise_resp.hex"), parse("link/sealed.hex"))
    else {
        panic!("the three vectors hold NOISE_INIT, NOISE_RESP and SEALED");
    };
    let a = NodeId(*b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff");
    let b = NodeId(*b"\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00");
    let p = prologue((a, INCARNATIONS.0), (b, INCARNATIONS.1));
    let key = ClusterKey::new(KEY);
    assert_eq!(key_id, key.id());
    let (opener, again) = Initiator::start(&key, &p, OPENER_SEED).unwrap();
    assert_eq!(again, init, "NOISE_INIT is A's first message");
    let (acceptor, answer) = respond(&Keyring::new(KEY), key_id, &init, &p, ACCEPTOR_SEED).unwrap();
    assert_eq!(answer, resp, "NOISE_RESP is B's answer");
    assert!(opener.finish(&resp).is_ok(), "A accepts it");
    let mut plain = vec![0u8; ciphertext.len()];
    let n = acceptor.open(nonce, &ciphertext, &mut plain).unwrap();
    assert_eq!(&plain[..n], &vector("link/ping.hex")[..]);
    // Another key fails at B, and says nothing more.
    let wrong = Keyring::new([0xee; 32]);
    assert!(respond(&wrong, wrong.primary().id(), &init, &p, ACCEPTOR_SEED).is_err());
}
