//! Two nodes on loopback: while one sends to the other, both handles'
//! `peers()` show the flow as the peer's rates (the peer list is refreshed
//! when the node samples, with no membership event), the sender's round
//! trip is measured, and `links()` lists the link with its peer. Every wait
//! is bounded; nothing is timed.

use std::net::Ipv4Addr;
use std::time::Duration;

use netcluster_tokio::{BeaconMode, Builder, Handle, NodeId, PeerTraffic, Semantics, SendError};

const DEADLINE: Duration = Duration::from_secs(30);

fn node(cluster: &str, name: &str) -> Builder {
    Builder::new(cluster, name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .beacons(BeaconMode::Off)
}

fn traffic(h: &Handle, peer: NodeId) -> Option<PeerTraffic> {
    h.peers().into_iter().find(|p| p.id == peer).map(|p| p.traffic)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_show_the_rates_of_a_flow_and_links_list_the_link() {
    let cluster = format!("figures-{}", std::process::id());
    let a = node(&cluster, "a").start().await.unwrap();
    let b = node(&cluster, "b").seed(a.link_addr()).start().await.unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    while traffic(&a, b.id()).is_none() || traffic(&b, a.id()).is_none() {
        assert!(tokio::time::Instant::now() < end, "the two nodes never met");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // a sends until both sides' figures show the flow; b's events are not
    // read by anyone, so the node takes its messages as they come.
    let payload = vec![5u8; 1000];
    let seen = loop {
        assert!(tokio::time::Instant::now() < end, "the figures never showed the flow");
        for _ in 0..20 {
            match a.send(b.id(), Semantics::Reliable, payload.clone()).await {
                Ok(_) | Err(netcluster_tokio::Error::Send(SendError::WouldBlock)) => {}
                Err(e) => panic!("send failed: {e}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let (tx, rx) = (traffic(&a, b.id()), traffic(&b, a.id()));
        if let (Some(tx), Some(rx)) = (tx, rx) {
            if tx.tx_bytes_per_sec > 0 && rx.rx_bytes_per_sec > 0 && tx.srtt.is_some() {
                break (tx, rx);
            }
        }
    };
    let (tx, rx) = seen;
    assert!(tx.tx_msgs_per_sec > 0, "{tx:?}");
    assert!(rx.rx_msgs_per_sec > 0, "{rx:?}");
    assert_eq!((tx.rx_bytes_per_sec, tx.rx_msgs_per_sec), (0, 0), "b sent nothing back");

    let links = a.links().await.unwrap();
    let link = links.iter().find(|l| l.peer == Some(b.id())).expect("a's link to b");
    assert!(link.up, "{link:?}");
    assert_eq!(link.kind, netcluster_tokio::LinkMode::Stream);
    assert!(link.queue.peak_bytes > 0, "data went through the queue: {link:?}");

    a.shutdown().await;
    b.shutdown().await;
}
