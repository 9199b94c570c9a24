//! `Builder::accept_queue`: streams past the queue of streams waiting for
//! `accept_stream` are reset. Loopback only; every wait is bounded.

use std::io::ErrorKind;
use std::net::Ipv4Addr;
use std::time::Duration;

use netcluster_tokio::{BeaconMode, Builder};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_accept_queue_resets_new_streams() {
    let cluster = format!("accept-{}", std::process::id());
    let node = |name: &str| {
        Builder::new(&cluster, name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
    };
    let a = node("a").start().await.unwrap();
    let b = node("b").seed(a.link_addr()).accept_queue(1).start().await.unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    while !(a.peers().iter().any(|p| p.id == b.id()) && b.peers().iter().any(|p| p.id == a.id())) {
        assert!(tokio::time::Instant::now() < end, "the two nodes never met");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut first = a.open_stream(b.id()).await.unwrap();
    let mut second = a.open_stream(b.id()).await.unwrap();
    // The second finds the queue full (nobody accepts): it is reset.
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(DEADLINE, second.read(&mut buf)).await;
    let err = read.expect("the second stream was never reset").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    // The first waited in the queue and works.
    let mut t = tokio::time::timeout(DEADLINE, b.accept_stream()).await.unwrap().unwrap();
    first.write_all(b"x").await.unwrap();
    first.flush().await.unwrap();
    tokio::time::timeout(DEADLINE, t.read_exact(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf, b"x");
    a.shutdown().await;
    b.shutdown().await;
}
