//! A tour of the netcluster wire format: builds one message of each
//! sub-protocol the core decodes (discovery, link), prints its bytes and
//! what they parse back to, then shows how a frame of an unsupported version
//! and a truncated frame are refused.
//!
//! ```text
//! cargo run --release -p netcluster-core --example wire_tour
//! ```
//!
//! The admin and tracker sub-protocols have their tour in the
//! `netcluster-control` crate (`--example control_tour`).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use netcluster_core::wire::discovery::{Announce, Beacon};
use netcluster_core::wire::link::{Hello, Intro, Ping, Reject, RejectReason};
use netcluster_core::wire::{
    peek_frame_len, DiscoveryMessage, Frame, HeaderList, Limits, LinkMessage, Message, NodeId,
    NodeState, ProtoRange, Protocol, StrList, VersionRange, VersionRanges, HEADER_LEN,
};

fn main() {
    let alpha = NodeId(*b"\x6e\x63\x2d\x61\x6c\x70\x68\x61\x00\x00\x00\x00\x00\x00\x00\x01");
    let cluster = "demo";

    println!("netcluster wire tour: every frame is header | [extensions] | body, big-endian.");
    println!("header = magic \"NC\" (4e43) | protocol id | version | msg type | flags | length (u32, whole frame)");

    // Discovery: the beacon a node multicasts every few seconds.
    let beacon = Beacon(Announce {
        node_id: alpha,
        cluster_hash: netcluster_core::wire::cluster_hash(cluster),
        incarnation: 3,
        sequence: 42,
        interval_ms: 2_000,
        peer_count: 5,
        state: NodeState::Ready,
        link_addr: SocketAddr::new(Ipv4Addr::new(192, 0, 2, 10).into(), 7946),
        ranges: VersionRanges::supported(),
    });
    let beacon_bytes = show("discovery: BEACON", Frame::new(DiscoveryMessage::Beacon(beacon)));

    // Link: the HELLO that opens a link, then a keepalive PING.
    let hello = Hello(Intro {
        node_id: alpha,
        incarnation: 3,
        capabilities: 0,
        state: NodeState::Ready,
        link_addr: SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 7946),
        cluster: cluster.into(),
        name: "alpha".into(),
        ranges: VersionRanges::supported(),
        headers: HeaderList::from_pairs([("role", "worker")]).expect("a small header list"),
        groups: StrList::from_names(["jobs", "logs"]).expect("a small group list"),
    });
    let hello_bytes = show("link: HELLO", Frame::new(LinkMessage::Hello(hello)));
    show("link: PING", Frame::new(LinkMessage::Ping(Ping { token: 0x0102_0304 })));

    // A frame of a version this codec does not speak is refused with both
    // versions named...
    section("version mismatch");
    let mut future = beacon_bytes.to_vec();
    future[3] = 9;
    println!("the BEACON above, with its version byte set to 9:");
    hexdump(&future);
    report(&Bytes::from(future));
    // ...and on a link, where HELLO keeps one layout in every version, the
    // peer answers a HELLO with no common version with a REJECT saying why.
    let theirs = VersionRange::new(9, 9);
    let ours = Protocol::Link.supported();
    println!(
        "a peer offering link versions {}..={} against our {}..={}: highest common = {:?}",
        theirs.min,
        theirs.max,
        ours.min,
        ours.max,
        ours.highest_common(&theirs)
    );
    let reject = Reject {
        reason: RejectReason::VERSION,
        protocol: Protocol::Link.id(),
        local_ranges: VersionRanges::supported(),
        remote_ranges: VersionRanges::from_entries(&[ProtoRange {
            protocol: Protocol::Link.id(),
            range: theirs,
        }]),
        detail: "no common link version".into(),
    };
    show("link: REJECT (the answer to that HELLO)", Frame::new(LinkMessage::Reject(reject)));

    // Truncated frames: what a stream transport and the parser make of them.
    section("truncated frames");
    let short = hello_bytes.slice(..6);
    println!("the first 6 bytes of the HELLO:");
    hexdump(&short);
    println!(
        "peek_frame_len: {:?} (header incomplete: wait for more bytes)",
        peek_frame_len(&short, Limits::DEFAULT.max_frame)
    );
    report(&short);

    let cut = hello_bytes.slice(..hello_bytes.len() - 8);
    println!("\nthe HELLO without its last 8 bytes ({} of {}):", cut.len(), hello_bytes.len());
    println!(
        "peek_frame_len: {:?} (the whole frame is not there yet)",
        peek_frame_len(&cut, Limits::DEFAULT.max_frame)
    );
    report(&cut);

    let mut lying = cut.to_vec();
    let len = u32::try_from(lying.len()).expect("a small frame");
    lying[6..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
    println!("\nthe same bytes with the header length patched to match them:");
    report(&Bytes::from(lying));
}

fn section(title: &str) {
    println!("\n=== {title} ===");
}

/// Prints a frame's bytes and what they parse back to; returns the bytes.
fn show(title: &str, frame: Frame) -> Bytes {
    let bytes = frame.to_bytes().expect("the example's messages encode");
    section(&format!(
        "{title} ({} message type {}, {} bytes)",
        frame.message.protocol(),
        frame.message.msg_type(),
        bytes.len()
    ));
    hexdump(&bytes);
    let parsed = Frame::parse(&bytes).expect("an emitted frame parses");
    assert_eq!(parsed, frame, "the frame survives the round trip");
    println!("parsed: {}", describe(&parsed));
    bytes
}

fn describe(frame: &Frame) -> String {
    let body = match &frame.message {
        Message::Discovery(m) => format!("{m:#?}"),
        Message::Link(m) => format!("{m:#?}"),
    };
    format!(
        "{} {} v{}, extensions {:?}\n{body}",
        frame.message.protocol(),
        frame.message.name(),
        frame.version,
        frame.extensions
    )
}

/// Parses `bytes` and prints the outcome.
fn report(bytes: &Bytes) {
    match Frame::parse(bytes) {
        Ok(frame) => println!("parsed: {}", describe(&frame)),
        Err(e) => println!("refused: {e}\n         {e:?}"),
    }
}

/// Sixteen bytes a line: the header's fields on the first line, then the
/// rest.
fn hexdump(bytes: &[u8]) {
    let (header, rest) = bytes.split_at(bytes.len().min(HEADER_LEN));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>();
    println!("  header  {}", hex(header).join(" "));
    for (i, line) in rest.chunks(16).enumerate() {
        println!("  {:06x}  {}", HEADER_LEN + i * 16, hex(line).join(" "));
    }
}
