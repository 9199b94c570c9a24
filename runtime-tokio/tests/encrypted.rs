//! Encrypted links over real sockets (loopback only; every wait is
//! bounded): nodes with the same cluster key link over Noise on stream
//! (TCP) and datagram (UDP) links and exchange messages through sealed
//! frames; a node with another key is refused at the Noise handshake, both
//! sides report reason `auth`, and it never becomes a member.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use netcluster_core::wire::link::RejectReason;
use netcluster_tokio::{BeaconMode, Builder, Event, Handle, Keyring, LinkMode, Semantics};

const DEADLINE: Duration = Duration::from_secs(20);
const KEY: [u8; 32] = [0x5a; 32];
const WRONG: [u8; 32] = [0xa5; 32];

fn node(
    cluster: &str,
    name: &str,
    mode: LinkMode,
    key: [u8; 32],
    seed: Option<SocketAddr>,
) -> Builder {
    let mut b = Builder::new(cluster, name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .link_mode(mode)
        .beacons(BeaconMode::Off)
        .keyring(Keyring::new(key));
    if let Some(s) = seed {
        b = b.seed(s);
    }
    b
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn all_links_encrypted(h: &Handle) -> bool {
    let links = h.links().await.unwrap_or_default();
    !links.is_empty() && links.iter().all(|l| l.up && l.encrypted)
}

async fn encrypted_pair(mode: LinkMode) {
    let cluster = format!("enc-{mode:?}-{}", std::process::id());
    let a = node(&cluster, "a", mode, KEY, None).start().await.unwrap();
    let b = node(&cluster, "b", mode, KEY, Some(a.link_addr())).start().await.unwrap();
    wait_for("a and b to meet", async || {
        a.peers().iter().any(|p| p.id == b.id()) && b.peers().iter().any(|p| p.id == a.id())
    })
    .await;
    wait_for("encrypted links", async || {
        all_links_encrypted(&a).await && all_links_encrypted(&b).await
    })
    .await;

    let mut events = b.events();
    // Small, and (stream links) larger than one record.
    let mut sizes = vec![1usize, 1000, 5000];
    if mode == LinkMode::Stream {
        sizes.push(200_000);
    }
    for (i, &len) in sizes.iter().enumerate() {
        a.send(b.id(), Semantics::Reliable, vec![i as u8; len]).await.unwrap();
    }
    let mut got = tokio::time::timeout(DEADLINE, async {
        let mut got = Vec::new();
        while let Some(e) = events.next().await {
            if let Event::Message { from, payload, .. } = e {
                if from == a.id() {
                    got.push(payload.len());
                }
            }
            if got.len() == sizes.len() {
                break;
            }
        }
        got
    })
    .await
    .expect("every message in time");
    got.sort();
    assert_eq!(got, sizes, "{mode:?}: every message arrived whole");
    let stats = b.query(|n| n.stats().clone()).await.unwrap();
    assert_eq!(
        (stats.sealed_forged, stats.sealed_replayed, stats.dropped_clear, stats.link_auth_failed),
        (0, 0, 0, 0),
        "{mode:?}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

async fn wrong_key_refused(mode: LinkMode) {
    let cluster = format!("wrong-{mode:?}-{}", std::process::id());
    let a = node(&cluster, "a", mode, KEY, None).start().await.unwrap();
    let mut a_events = a.events();
    let x = node(&cluster, "x", mode, WRONG, Some(a.link_addr())).start().await.unwrap();
    let mut x_events = x.events();
    let refused = |by_remote: bool| {
        move |e: &Event| {
            matches!(e, Event::LinkRejected { reason, by_remote: r, detail, .. }
                if *reason == RejectReason::AUTH && *r == by_remote
                    && detail == "authentication failed")
        }
    };
    let seen = tokio::time::timeout(DEADLINE, async {
        let (mut on_a, mut on_x) = (false, false);
        while !(on_a && on_x) {
            tokio::select! {
                Some(e) = a_events.next() => on_a |= refused(false)(&e),
                Some(e) = x_events.next() => on_x |= refused(true)(&e),
            }
        }
    })
    .await;
    assert!(seen.is_ok(), "{mode:?}: both sides report REJECT AUTH");
    assert!(a.peers().iter().all(|p| p.id != x.id()), "{mode:?}: x is no member of a");
    assert!(x.peers().is_empty(), "{mode:?}: and sees nobody");
    assert!(a.query(|n| n.stats().link_auth_failed).await.unwrap() > 0);
    a.shutdown().await;
    x.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_links_are_encrypted_and_carry_messages() {
    encrypted_pair(LinkMode::Stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagram_links_are_encrypted_and_carry_messages() {
    encrypted_pair(LinkMode::Datagram).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_wrong_key_is_refused_on_stream_links() {
    wrong_key_refused(LinkMode::Stream).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_wrong_key_is_refused_on_datagram_links() {
    wrong_key_refused(LinkMode::Datagram).await;
}
