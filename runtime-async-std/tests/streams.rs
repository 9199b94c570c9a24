//! Streams between two nodes on loopback, through `PeerStream`'s `futures`
//! `AsyncRead` / `AsyncWrite`: a request and answer with half-close, reads
//! in small pieces, reset, and what happens when a node stops. Only
//! loopback addresses are used; every wait is bounded.

mod common;

use std::io::ErrorKind;

use common::*;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netcluster_async_std::{Error, Handle, LinkMode, NodeId, StreamError};

async fn pair(cluster: &str, mode: LinkMode) -> (Handle, Handle) {
    let a = seeded(cluster, "a", mode, &[]).start().await.unwrap();
    let b = seeded(cluster, "b", mode, &[a.link_addr()]).start().await.unwrap();
    wait_for("a and b to see each other", || sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()]))
        .await;
    (a, b)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// a sends a 1 MiB request and finishes; b reads it to the end, answers
/// and closes; a reads the answer to the end.
async fn request_and_answer(mode: LinkMode, cluster: &str) {
    let (a, b) = pair(cluster, mode).await;
    let request = pattern(1 << 20);
    let client = async {
        let mut s = a.open_stream(b.id()).await.unwrap();
        assert_eq!(s.peer(), b.id());
        s.write_all(&request).await.unwrap();
        s.finish().await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        answer
    };
    let server = async {
        let mut s = b.accept_stream().await.unwrap();
        assert_eq!(s.peer(), a.id());
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        s.write_all(format!("got {} bytes", got.len()).as_bytes()).await.unwrap();
        s.close().await.unwrap();
        got
    };
    let exchange = async { Some(futures_lite::future::zip(client, server).await) };
    let expired = async {
        async_io::Timer::after(DEADLINE).await;
        None
    };
    let Some((answer, got)) = futures_lite::future::or(exchange, expired).await else {
        let state = |n: &netcluster_async_std::Node| {
            let s = n.stats();
            (n.stream_count(), n.in_flight(), s.retransmissions, s.dropped_unexpected)
        };
        panic!(
            "timed out ({mode:?}); streams, in flight, retransmissions, unexpected: a {:?}, b {:?}",
            a.query(state).await,
            b.query(state).await
        );
    };
    assert!(got == request, "the request arrived changed ({} bytes)", got.len());
    assert_eq!(answer, format!("got {} bytes", 1 << 20).as_bytes());
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn request_and_answer_over_stream_links_under_smol() {
    init_tracing();
    smol::block_on(request_and_answer(LinkMode::Stream, "t-streams-stream"));
}

#[test]
fn request_and_answer_over_datagram_links_under_async_std() {
    init_tracing();
    async_std::task::block_on(request_and_answer(LinkMode::Datagram, "t-streams-dgram"));
}

#[test]
fn small_reads_do_not_stall_a_large_stream() {
    init_tracing();
    smol::block_on(async {
        let (a, b) = pair("t-streams-small", LinkMode::Stream).await;
        let data = pattern(2 << 20);
        let writer = async {
            // Through `&PeerStream`: the shared form works too.
            let s = a.open_stream(b.id()).await.unwrap();
            (&s).write_all(&data).await.unwrap();
            s.finish().await.unwrap();
            s
        };
        let reader = async {
            let s = b.accept_stream().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 100];
            loop {
                let n = (&s).read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            got
        };
        let (_s, got) =
            within("2 MiB in 100-byte reads", futures_lite::future::zip(writer, reader)).await;
        assert!(got == data, "{} of {} bytes, or changed", got.len(), data.len());
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn a_reset_reaches_the_peer() {
    init_tracing();
    smol::block_on(async {
        let (a, b) = pair("t-streams-reset", LinkMode::Stream).await;
        let s = a.open_stream(b.id()).await.unwrap();
        (&s).write_all(b"hello").await.unwrap();
        let mut t = within("the accept", b.accept_stream()).await.unwrap();
        let mut buf = [0u8; 5];
        within("the first bytes", t.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"hello");
        s.reset();
        let err = within("the reset", async {
            loop {
                match t.read(&mut buf).await {
                    Ok(0) => panic!("a reset stream ended cleanly"),
                    Ok(_) => {}
                    Err(e) => return e,
                }
            }
        })
        .await;
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn stopping_the_node_fails_its_streams() {
    init_tracing();
    smol::block_on(async {
        let (a, b) = pair("t-streams-stop", LinkMode::Stream).await;
        let mut s = a.open_stream(b.id()).await.unwrap();
        let _t = within("the accept", b.accept_stream()).await.unwrap();
        a.shutdown().await;
        let mut buf = [0u8; 8];
        let err = within("the read to fail", s.read(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionAborted, "{err}");
        assert!(s.write_all(b"late").await.is_err());
        assert!(matches!(a.accept_stream().await, Err(Error::Stopped)));
        assert!(matches!(a.open_stream(b.id()).await, Err(Error::Stopped)));
        b.shutdown().await;
    });
}

#[test]
fn opening_a_stream_to_an_unknown_node_is_refused() {
    init_tracing();
    futures_lite::future::block_on(async {
        let a = seeded("t-streams-unknown", "a", LinkMode::Stream, &[]).start().await.unwrap();
        let r = a.open_stream(NodeId([9; 16])).await;
        assert!(matches!(r, Err(Error::Stream(StreamError::Unreachable))), "{r:?}");
        a.shutdown().await;
    });
}

#[test]
fn a_full_accept_queue_resets_new_streams() {
    init_tracing();
    smol::block_on(async {
        let a = seeded("t-streams-queue", "a", LinkMode::Stream, &[]).start().await.unwrap();
        let b = seeded("t-streams-queue", "b", LinkMode::Stream, &[a.link_addr()])
            .accept_queue(1)
            .start()
            .await
            .unwrap();
        wait_for("a and b to see each other", || {
            sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()])
        })
        .await;
        let first = a.open_stream(b.id()).await.unwrap();
        let mut second = a.open_stream(b.id()).await.unwrap();
        // The second finds the queue full (nobody accepts): it is reset.
        let mut buf = [0u8; 1];
        let err = within("the second stream's reset", second.read(&mut buf)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
        // The first waited in the queue and works.
        let mut t = b.accept_stream().await.unwrap();
        (&first).write_all(b"x").await.unwrap();
        within("the first stream's byte", t.read_exact(&mut buf)).await.unwrap();
        assert_eq!(&buf, b"x");
        a.shutdown().await;
        b.shutdown().await;
    });
}
