//! Streams between two nodes on loopback, as tokio `AsyncRead` /
//! `AsyncWrite`: megabytes each way with half-close, reset, and typed
//! errors. Every wait is bounded.

use std::net::Ipv4Addr;
use std::time::Duration;

use netcluster_tokio::{BeaconMode, Builder, Error, Handle, LinkMode, NodeId, StreamError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEADLINE: Duration = Duration::from_secs(30);

async fn pair(cluster: &str, mode: LinkMode) -> (Handle, Handle) {
    let node = |name: &str| {
        Builder::new(cluster, name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .link_mode(mode)
            .beacons(BeaconMode::Off)
    };
    let a = node("a").start().await.unwrap();
    let b = node("b").seed(a.link_addr()).start().await.unwrap();
    let end = tokio::time::Instant::now() + DEADLINE;
    while !(a.peers().iter().any(|p| p.id == b.id()) && b.peers().iter().any(|p| p.id == a.id())) {
        assert!(tokio::time::Instant::now() < end, "the two nodes never met");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (a, b)
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect()
}

async fn echo_checksum(mode: LinkMode, cluster: &str) {
    let (a, b) = pair(cluster, mode).await;
    let data = pattern(5 << 20);
    let expected: u64 = data.iter().map(|&x| u64::from(x)).sum();
    let server = tokio::spawn({
        let b = b.clone();
        async move {
            let mut s = b.accept_stream().await.unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.unwrap();
            let sum: u64 = got.iter().map(|&x| u64::from(x)).sum();
            s.write_all(&sum.to_be_bytes()).await.unwrap();
            s.shutdown().await.unwrap();
            (s.peer(), got.len())
        }
    });
    let mut s = a.open_stream(b.id()).await.unwrap();
    assert_eq!(s.peer(), b.id());
    let client = async {
        s.write_all(&data).await.unwrap();
        s.shutdown().await.unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).await.unwrap();
        reply
    };
    let reply = tokio::time::timeout(DEADLINE * 2, client).await.expect("stream stalled");
    assert_eq!(reply, expected.to_be_bytes(), "{mode:?}: checksum of what the peer read");
    let (peer, len) = tokio::time::timeout(DEADLINE, server).await.unwrap().unwrap();
    assert_eq!(peer, a.id());
    assert_eq!(len, data.len());
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_cross_a_stream_with_half_close_over_tcp_links() {
    echo_checksum(LinkMode::Stream, &format!("st-tcp-{}", std::process::id())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabytes_cross_a_stream_with_half_close_over_datagram_links() {
    echo_checksum(LinkMode::Datagram, &format!("st-udp-{}", std::process::id())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_fails_the_peer_and_unknown_peers_are_refused() {
    let (a, b) = pair(&format!("st-rst-{}", std::process::id()), LinkMode::Stream).await;
    let s = a.open_stream(b.id()).await.unwrap();
    let mut r = tokio::time::timeout(DEADLINE, b.accept_stream()).await.unwrap().unwrap();
    s.reset();
    let mut buf = [0u8; 16];
    let err = tokio::time::timeout(DEADLINE, r.read(&mut buf)).await.unwrap().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);
    match a.open_stream(NodeId([9; 16])).await {
        Err(Error::Stream(StreamError::Unreachable)) => {}
        other => panic!("{other:?}"),
    }
    a.shutdown().await;
    b.shutdown().await;
    assert!(matches!(b.accept_stream().await, Err(Error::Stopped)));
}
