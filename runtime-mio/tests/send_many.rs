//! `Handle::send_many` (over `MioNode::send_many`): many messages per
//! call to the node, stopping at a full window, in order. Loopback only;
//! every wait is bounded.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netcluster_mio::{BeaconMode, Builder, Bytes, Event, Events, Semantics, SendError};

const DEADLINE: Duration = Duration::from_secs(30);

/// The next event within the deadline `end`; a panic naming `what` after it.
fn next_event(events: &mut Events, end: Instant, what: &str) -> Event {
    let left = end.saturating_duration_since(Instant::now());
    events.recv_timeout(left).unwrap_or_else(|e| panic!("waiting for {what}: {e:?}"))
}

#[test]
fn send_many_stops_at_a_full_window_and_keeps_order() {
    let cluster = format!("many-{}", std::process::id());
    let node = |name: &str| {
        Builder::new(&cluster, name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
    };
    let a = node("a").start().unwrap();
    let b = node("b").seed(a.link_addr()).start().unwrap();
    let end = Instant::now() + DEADLINE;
    while !a.peers().iter().any(|p| p.id == b.id()) {
        assert!(Instant::now() < end, "never met");
        std::thread::sleep(Duration::from_millis(20));
    }
    let window = a.query(|n| n.config().send_window).unwrap();
    let total = 3 * window as u32;
    let mut received = b.events();
    let mut sent_events = a.events();
    let payloads: Vec<Bytes> = (0..total).map(|i| Bytes::from(i.to_be_bytes().to_vec())).collect();

    let first = a.send_many(b.id(), Semantics::Sequenced, payloads.clone()).unwrap();
    assert_eq!(first.ids.len(), window, "a full window is accepted, no more");
    assert_eq!(first.refused, Some(SendError::WouldBlock));
    let mut next = first.ids.len();
    let end = Instant::now() + DEADLINE;
    while next < payloads.len() {
        // Wait for room, then send what is left.
        while !matches!(next_event(&mut sent_events, end, "room"), Event::Writable { .. }) {}
        let r = a.send_many(b.id(), Semantics::Sequenced, payloads[next..].to_vec());
        next += r.unwrap().ids.len();
    }
    let mut got = Vec::new();
    let end = Instant::now() + DEADLINE;
    while got.len() < total as usize {
        if let Event::Message { payload, .. } = next_event(&mut received, end, "messages") {
            got.push(u32::from_be_bytes(payload[..4].try_into().unwrap()));
        }
    }
    assert_eq!(got, (0..total).collect::<Vec<u32>>(), "exactly once, in order");
    a.shutdown();
    b.shutdown();
}
