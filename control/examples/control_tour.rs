//! A tour of the admin and tracker sub-protocols: builds one message of
//! each, prints its bytes and what they parse back to, then shows that the
//! core's decoder refuses them unread, as a node does with one arriving by
//! UDP.
//!
//! ```text
//! cargo run -p netcluster-control --example control_tour
//! ```
//!
//! The discovery and link sub-protocols have their tour in the core
//! (`cargo run -p netcluster-core --example wire_tour`).

use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use netcluster_control::admin::PingRequest;
use netcluster_control::tracker::Register;
use netcluster_control::{AdminMessage, ControlFrame, ControlMessage, TrackerMessage};
use netcluster_core::wire::{cluster_hash, Frame, NodeId, HEADER_LEN};

fn main() {
    let alpha = NodeId(*b"\x6e\x63\x2d\x61\x6c\x70\x68\x61\x00\x00\x00\x00\x00\x00\x00\x01");

    println!("admin and tracker frames: the core's frame format around their own bodies.");

    // Tracker: a node registering with the rendezvous server.
    let register = show(
        "tracker: REGISTER",
        ControlFrame::new(TrackerMessage::Register(Register {
            cluster_hash: cluster_hash("demo"),
            node_id: alpha,
            incarnation: 3,
            ttl_s: 60,
            link_addr: SocketAddr::new(Ipv4Addr::new(198, 51, 100, 7).into(), 7946),
        })),
    );

    // Admin: the CLI asking the local agent to ping a peer.
    let ping = show(
        "admin: PING",
        ControlFrame::new(AdminMessage::Ping(PingRequest {
            request_id: 1,
            count: 3,
            target: "bravo".into(),
        })),
    );

    // The core checks the frame around the body and stops there: a node
    // counts such a datagram as `dropped_unexpected`.
    println!("\n=== the core's decoder ===");
    for (what, bytes) in [("REGISTER", &register), ("PING", &ping)] {
        match Frame::parse(bytes) {
            Ok(f) => println!("{what}: parsed by the core?! {f:?}"),
            Err(e) => println!("{what}: refused: {e}\n          {e:?}"),
        }
    }
}

/// Prints a frame's bytes and what they parse back to; returns the bytes.
fn show(title: &str, frame: ControlFrame) -> Bytes {
    let bytes = frame.to_bytes().expect("the example's messages encode");
    println!(
        "\n=== {title} ({} message type {}, {} bytes) ===",
        frame.message.protocol(),
        frame.message.msg_type(),
        bytes.len()
    );
    let (header, rest) = bytes.split_at(HEADER_LEN);
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
    println!("  header  {}", hex(header));
    for (i, line) in rest.chunks(16).enumerate() {
        println!("  {:06x}  {}", HEADER_LEN + i * 16, hex(line));
    }
    let parsed = ControlFrame::parse(&bytes).expect("an emitted frame parses");
    assert_eq!(parsed, frame, "the frame survives the round trip");
    let body = match &parsed.message {
        ControlMessage::Admin(m) => format!("{m:#?}"),
        ControlMessage::Tracker(m) => format!("{m:#?}"),
        ControlMessage::Local(m) => format!("{m:#?}"),
    };
    println!("parsed: {} v{}\n{body}", parsed.message.name(), parsed.version);
    bytes
}
