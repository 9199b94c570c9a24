//! `Handle::send_many`: many messages per call to the node, stopping at a
//! full window, in order. Loopback only; every wait is bounded.

mod common;

use common::*;
use netcluster_async_std::{Bytes, Event, LinkMode, Semantics, SendError};

#[test]
fn send_many_stops_at_a_full_window_and_keeps_order() {
    init_tracing();
    smol::block_on(async {
        let cluster = format!("many-{}", std::process::id());
        let a = seeded(&cluster, "a", LinkMode::Stream, &[]).start().await.unwrap();
        let b = seeded(&cluster, "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a to meet b", || a.peers().iter().any(|p| p.id == b.id())).await;
        let window = a.query(|n| n.config().send_window).await.unwrap();
        let total = 3 * window as u32;
        let mut received = b.events();
        let mut sent_events = a.events();
        let payloads: Vec<Bytes> =
            (0..total).map(|i| Bytes::from(i.to_be_bytes().to_vec())).collect();

        let first = a.send_many(b.id(), Semantics::Sequenced, payloads.clone()).await.unwrap();
        assert_eq!(first.ids.len(), window, "a full window is accepted, no more");
        assert_eq!(first.refused, Some(SendError::WouldBlock));
        let mut next = first.ids.len();
        within("the rest to be accepted", async {
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
        })
        .await;
        let mut got = Vec::new();
        within("everything to arrive", async {
            while got.len() < total as usize {
                match received.next().await {
                    Some(Event::Message { payload, .. }) => {
                        got.push(u32::from_be_bytes(payload[..4].try_into().unwrap()))
                    }
                    Some(_) => {}
                    None => panic!("node stopped"),
                }
            }
        })
        .await;
        assert_eq!(got, (0..total).collect::<Vec<u32>>(), "exactly once, in order");
        a.shutdown().await;
        b.shutdown().await;
    });
}
