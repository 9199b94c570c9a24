//! The tokio handle's additions the command relies on: `query`, `ping`
//! and `abort`, on two nodes over loopback.

use std::net::Ipv4Addr;
use std::time::Duration;

use netcluster_tokio::{BeaconMode, Builder, DownReason, Event, Handle, NodeId};

const DEADLINE: Duration = Duration::from_secs(30);

fn node(cluster: &str, name: &str) -> Builder {
    Builder::new(cluster, name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .beacons(BeaconMode::Off)
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sees(h: &Handle, id: NodeId) -> bool {
    h.peers().iter().any(|p| p.id == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_ping_and_abort() {
    let cluster = format!("handle-{}", std::process::id());
    let a = node(&cluster, "a").start().await.unwrap();
    let b = node(&cluster, "b").seed(a.link_addr()).start().await.unwrap();
    until("a and b to meet", || sees(&a, b.id()) && sees(&b, a.id())).await;

    // query runs on the node's task and sees what the node sees.
    let (id, name, peers, route) = a
        .query({
            let b = b.id();
            move |n| (n.id(), n.config().name.clone(), n.peers().count(), n.route_to(&b))
        })
        .await
        .unwrap();
    assert_eq!((id, name.as_str(), peers), (a.id(), "a", 1));
    assert_eq!(route, Some(vec![a.id(), b.id()]));

    // ping: a Pong with the returned id.
    let mut events = a.events();
    let ping = a.ping(b.id()).await.unwrap();
    let rtt = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = events.next().await {
            if let Event::Pong { from, id, rtt } = e {
                if id == ping {
                    assert_eq!(from, b.id());
                    return rtt;
                }
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("no pong");
    assert!(rtt < DEADLINE);
    assert!(a.ping(a.id()).await.is_err(), "pinging oneself must fail");

    // abort: the task stops at once, the peer finds out without a goodbye.
    let mut events = a.events();
    b.abort();
    until("b to stop", || !b.is_running()).await;
    assert!(matches!(b.query(|n| n.id()).await, Err(netcluster_tokio::Error::Stopped)));
    let reason = tokio::time::timeout(DEADLINE, async {
        while let Some(e) = events.next().await {
            if let Event::PeerDown { id, reason, .. } = e {
                if id == b.id() {
                    return reason;
                }
            }
        }
        panic!("event stream ended");
    })
    .await
    .expect("a never reported b down");
    assert_eq!(reason, DownReason::TimedOut, "an abort is not a clean leave");
    a.shutdown().await;
}
