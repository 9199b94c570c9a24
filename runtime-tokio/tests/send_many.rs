//! `Handle::send_many`: many messages per call to the node, stopping at a
//! full window, in order. Loopback only; every wait is bounded.

use std::net::Ipv4Addr;
use std::time::Duration;

use netcluster_tokio::{BeaconMode, Builder, Bytes, Event, Semantics, SendError};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_many_stops_at_a_full_window_and_keeps_order() {
    let cluster = format!("many-{}", std::process::id());
    let node = |name: &str| {
        Builder::new(&cluster, name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
    };
    let a = node("a").start().await.unwrap();
    let b = node("b").seed(a.link_addr()).start().await.unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    while !a.peers().iter().any(|p| p.id == b.id()) {
        assert!(tokio::time::Instant::now() < end, "never met");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = a.query(|n| n.config().send_window).await.unwrap();
    let total = 3 * window as u32;
    let mut received = b.events();
    let mut sent_events = a.events();
    let payloads: Vec<Bytes> = (0..total).map(|i| Bytes::from(i.to_be_bytes().to_vec())).collect();

    let first = a.send_many(b.id(), Semantics::Sequenced, payloads.clone()).await.unwrap();
    assert_eq!(first.ids.len(), window, "a full window is accepted, no more");
    assert_eq!(first.refused, Some(SendError::WouldBlock));
    let mut next = first.ids.len();
    let send_rest = async {
        while next < payloads.len() {
            // Wait for room, then send what is left.
            loop {
                match sent_events.next().await {
                    Some(Event::Writable { .. }) => break,
                    Some(_) => {}
                    None => panic!("node stopped"),
                }
            }
            let r = a.send_many(b.id(), Semantics::Sequenced, payloads[next..].to_vec()).await;
            next += r.unwrap().ids.len();
        }
    };
    tokio::time::timeout(DEADLINE, send_rest).await.expect("the rest was never accepted");
    let mut got = Vec::new();
    let receive = async {
        while got.len() < total as usize {
            if let Some(Event::Message { payload, .. }) = received.next().await {
                got.push(u32::from_be_bytes(payload[..4].try_into().unwrap()));
            }
        }
    };
    tokio::time::timeout(DEADLINE, receive).await.expect("not everything arrived");
    assert_eq!(got, (0..total).collect::<Vec<u32>>(), "exactly once, in order");
    a.shutdown().await;
    b.shutdown().await;
}
