//! Three nodes on loopback: discovery (by seeds, and by multicast where the
//! kernel allows it on loopback), messages in each semantics, a group shout
//! that reaches members only, and a clean leave. Each scenario runs under
//! `async_std::task::block_on` and under `smol::block_on`: the driver must
//! not depend on the caller's executor. Only loopback addresses are used;
//! every wait is bounded.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use async_io::Timer;
use netcluster_async_std::{
    BeaconMode, Builder, DownReason, Error, Event, EventStream, Handle, LinkMode, MessageId,
    NodeId, Semantics,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn lo() -> std::net::IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

/// `fut`, or a panic naming `what` once the deadline passes.
async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let expired = async {
        Timer::after(DEADLINE).await;
        None
    };
    futures_lite::future::or(async { Some(fut.await) }, expired)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `cond` until it holds or the deadline passes.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Reads `events` until `f` returns `Some`, collecting every event seen.
async fn until<T>(
    what: &str,
    events: &mut EventStream,
    seen: &mut Vec<Event>,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    within(what, async {
        while let Some(e) = events.next().await {
            let hit = f(&e);
            seen.push(e);
            if let Some(t) = hit {
                return t;
            }
        }
        panic!("event stream ended while waiting for {what}");
    })
    .await
}

fn seeded(cluster: &str, name: &str, mode: LinkMode, seeds: &[SocketAddr]) -> Builder {
    let mut b = Builder::new(cluster, name)
        .bind_ip(lo())
        .link_port(0)
        .link_mode(mode)
        .beacons(BeaconMode::Off);
    for s in seeds {
        b = b.seed(*s);
    }
    b
}

fn sees_all(h: &Handle, others: &[NodeId]) -> bool {
    let peers = h.peers();
    others.iter().all(|id| peers.iter().any(|p| p.id == *id))
}

fn in_group(h: &Handle, id: NodeId, group: &str) -> bool {
    h.peers().iter().any(|p| p.id == id && p.groups.iter().any(|g| g == group))
}

async fn three_nodes(mode: LinkMode, cluster: &str) {
    let a = seeded(cluster, "a", mode, &[]).start().await.unwrap();
    let b = seeded(cluster, "b", mode, &[a.link_addr()]).start().await.unwrap();
    let c = seeded(cluster, "c", mode, &[a.link_addr()]).start().await.unwrap();
    exercise(mode, [a, b, c]).await;
}

/// Discovery, messages, groups, clean leave.
async fn exercise(mode: LinkMode, [a, b, c]: [Handle; 3]) {
    let ids = [a.id(), b.id(), c.id()];
    for (i, h) in [&a, &b, &c].into_iter().enumerate() {
        let others: Vec<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        wait_for(&format!("node {i} to see the others ({mode:?})"), || sees_all(h, &others)).await;
    }

    // a and b are workers; c is not.
    a.join("workers").await.unwrap();
    b.join("workers").await.unwrap();
    c.join("others").await.unwrap();
    wait_for("the groups to be known", || {
        in_group(&a, ids[1], "workers")
            && in_group(&b, ids[0], "workers")
            && in_group(&a, ids[2], "others")
            && !in_group(&a, ids[2], "workers")
    })
    .await;
    b.set_header("role", Some("db")).await.unwrap();
    wait_for("a to see b's header", || {
        a.peers()
            .iter()
            .any(|p| p.id == b.id() && p.headers.iter().any(|(k, v)| k == "role" && v == "db"))
    })
    .await;

    // One message in each semantics from a to b.
    let (mut ev_a, mut ev_b, mut ev_c) = (a.events(), b.events(), c.events());
    let (mut seen_a, mut seen_b, mut seen_c) = (Vec::new(), Vec::new(), Vec::new());
    let mut acked: Vec<MessageId> = Vec::new();
    for (i, s) in
        [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced].iter().enumerate()
    {
        let id = a.send(b.id(), *s, vec![i as u8; 8]).await.unwrap();
        if *s != Semantics::Datagram {
            acked.push(id);
        }
    }
    let mut got = Vec::new();
    until("b to get the three messages", &mut ev_b, &mut seen_b, |e| match e {
        Event::Message { from, group: None, semantics, payload } if *from == ids[0] => {
            got.push((*semantics, payload.to_vec()));
            (got.len() == 3).then_some(())
        }
        _ => None,
    })
    .await;
    got.sort_by_key(|(_, p)| p[0]);
    assert_eq!(
        got,
        vec![
            (Semantics::Datagram, vec![0; 8]),
            (Semantics::Reliable, vec![1; 8]),
            (Semantics::Sequenced, vec![2; 8]),
        ],
        "{mode:?}"
    );
    let mut pending = acked.clone();
    until("a to get both delivery reports", &mut ev_a, &mut seen_a, |e| match e {
        Event::Delivered { id, to } if *to == ids[1] => {
            pending.retain(|p| p != id);
            pending.is_empty().then_some(())
        }
        _ => None,
    })
    .await;

    // A reliable shout to the workers reaches b, and is reported delivered
    // by b only.
    let shout = a.shout("workers", Semantics::Reliable, &b"to the workers"[..]).await.unwrap();
    until("b to get the shout", &mut ev_b, &mut seen_b, |e| match e {
        Event::Message { from, group: Some(g), payload, .. } if *from == ids[0] => {
            assert_eq!((g.as_str(), &payload[..]), ("workers", &b"to the workers"[..]));
            Some(())
        }
        _ => None,
    })
    .await;
    until("a to get the shout's delivery report", &mut ev_a, &mut seen_a, |e| match e {
        Event::Delivered { id, to } if *id == shout => {
            assert_eq!(*to, ids[1], "delivered to a non-member");
            Some(())
        }
        _ => None,
    })
    .await;
    // c is reachable and reads its events: a direct message arrives, and
    // the shout never did.
    let marker = a.send(c.id(), Semantics::Reliable, &b"marker"[..]).await.unwrap();
    until("c to get the direct message", &mut ev_c, &mut seen_c, |e| match e {
        Event::Message { from, group: None, payload, .. } if *from == ids[0] => {
            (&payload[..] == b"marker").then_some(())
        }
        _ => None,
    })
    .await;
    until("a to get the marker's report", &mut ev_a, &mut seen_a, |e| match e {
        Event::Delivered { id, to } if *id == marker => Some(*to),
        _ => None,
    })
    .await;
    assert!(
        !seen_c.iter().any(|e| matches!(e, Event::Message { group: Some(_), .. })),
        "a non-member got a group message: {seen_c:?}"
    );
    assert!(
        !seen_a
            .iter()
            .any(|e| matches!(e, Event::Delivered { id, to } if *id == shout && *to == ids[2])),
        "the shout was reported delivered to a non-member"
    );

    // c leaves cleanly: the others say it left.
    within("c to shut down", c.shutdown()).await;
    assert!(!c.is_running());
    assert!(matches!(c.join("x").await, Err(Error::Stopped)));
    for (name, events, seen) in [("a", &mut ev_a, &mut seen_a), ("b", &mut ev_b, &mut seen_b)] {
        let reason = until(&format!("{name} to see c go"), events, seen, |e| match e {
            Event::PeerDown { id, reason, .. } if *id == ids[2] => Some(*reason),
            _ => None,
        })
        .await;
        assert_eq!(reason, DownReason::Left, "{name} ({mode:?})");
    }
    wait_for("c to leave the peer lists", || {
        !a.peers().iter().any(|p| p.id == ids[2]) && !b.peers().iter().any(|p| p.id == ids[2])
    })
    .await;
    assert!(sees_all(&a, &[ids[1]]) && sees_all(&b, &[ids[0]]));

    a.shutdown().await;
    b.shutdown().await;
    assert!(!a.is_running() && !b.is_running());
    // Streams end once the node stops.
    within("a's event stream to end", async { while ev_a.next().await.is_some() {} }).await;
}

#[test]
fn stream_links_under_async_std() {
    init_tracing();
    async_std::task::block_on(three_nodes(LinkMode::Stream, "t-stream-async-std"));
}

#[test]
fn stream_links_under_smol() {
    init_tracing();
    smol::block_on(three_nodes(LinkMode::Stream, "t-stream-smol"));
}

#[test]
fn datagram_links_under_async_std() {
    init_tracing();
    async_std::task::block_on(three_nodes(LinkMode::Datagram, "t-dgram-async-std"));
}

#[test]
fn datagram_links_under_smol() {
    init_tracing();
    smol::block_on(three_nodes(LinkMode::Datagram, "t-dgram-smol"));
}

/// Whether the kernel delivers IPv4 multicast on loopback, tried with the
/// socket layer itself.
fn multicast_on_loopback(group: SocketAddrV4) -> Result<(), String> {
    use netcluster_async_std::net::{InterfaceSelector, NetConfig, Sockets};
    let cfg = NetConfig {
        bind_ip: lo(),
        link_port: 0,
        link_mode: LinkMode::Datagram,
        beacons: BeaconMode::multicast_v4(group),
        interfaces: vec![InterfaceSelector::Addr(lo())],
        multicast_ttl: 0,
        multicast_loop: true,
    };
    let s = Sockets::open(&cfg).map_err(|e| e.to_string())?;
    let u = s.unicast_v4.as_ref().ok_or("no unicast socket")?;
    let r = s.beacon_v4.as_ref().ok_or("no beacon socket")?;
    u.send_to(b"probe", s.beacon_targets[0].to).map_err(|e| e.to_string())?;
    let end = std::time::Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 64];
    while std::time::Instant::now() < end {
        match r.recv_from(&mut buf) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("a multicast probe sent on loopback never arrived".into())
}

#[test]
fn three_nodes_by_multicast_on_loopback() {
    init_tracing();
    // A port of our own, so concurrent runs do not hear each other.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), port);
    if let Err(why) = multicast_on_loopback(group) {
        println!("skipped: multicast on loopback unavailable: {why}");
        return;
    }
    let node = |name: &str| {
        Builder::new("t-multicast", name)
            .bind_ip(lo())
            .link_port(0)
            .interface("127.0.0.1")
            .multicast_ttl(0)
            .beacons(BeaconMode::multicast_v4(group))
    };
    smol::block_on(async {
        let a = node("a").start().await.unwrap();
        let b = node("b").start().await.unwrap();
        let c = node("c").start().await.unwrap();
        exercise(LinkMode::Stream, [a, b, c]).await;
    });
}

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

#[test]
fn a_lagging_subscriber_counts_what_it_missed() {
    init_tracing();
    smol::block_on(async {
        let a =
            seeded("t-lag", "a", LinkMode::Stream, &[]).event_capacity(4).start().await.unwrap();
        let b = seeded("t-lag", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a and b to see each other", || {
            sees_all(&a, &[b.id()]) && sees_all(&b, &[a.id()])
        })
        .await;
        let mut slow = a.events();
        let mut fast = a.events();
        // The fast reader reads each message before the next is sent; the
        // slow one reads nothing until the node has stopped.
        const N: u8 = 20;
        for i in 0..N {
            b.send(a.id(), Semantics::Reliable, vec![i]).await.unwrap();
            let mut seen = Vec::new();
            until("the fast reader to get each message", &mut fast, &mut seen, |e| match e {
                Event::Message { payload, .. } if payload[..] == [i] => Some(()),
                _ => None,
            })
            .await;
        }
        assert_eq!(fast.missed(), 0, "an independent subscriber lost events");
        a.shutdown().await;
        let mut kept = Vec::new();
        within("the slow stream to end", async {
            while let Some(e) = slow.next().await {
                kept.push(e);
            }
        })
        .await;
        assert!(kept.len() <= 4, "kept more than its capacity: {kept:?}");
        assert!(slow.missed() + kept.len() as u64 >= u64::from(N), "missed {}", slow.missed());
        let first = |e: &Event| matches!(e, Event::Message { payload, .. } if payload[..] == [0]);
        assert!(!kept.iter().any(first), "the oldest event was kept: {kept:?}");
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
         a's in flight and retransmissions: {stats:?}; b missed {} events",
        ev_b.missed()
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
fn an_overflowing_write_queue_closes_the_link() {
    init_tracing();
    smol::block_on(async {
        // Two queued writes at most: one large message fills it at once,
        // since the writer runs on the node's thread only between inputs.
        let a =
            seeded("t-overflow", "a", LinkMode::Stream, &[]).write_queue(2).start().await.unwrap();
        let b =
            seeded("t-overflow", "b", LinkMode::Stream, &[a.link_addr()]).start().await.unwrap();
        wait_for("a to see b", || sees_all(&a, &[b.id()])).await;
        let opened = a.query(|n| n.stats().links_opened).await.unwrap();
        assert_eq!(opened, 1);
        let neighbours = || a.query(|n| n.neighbours().count());
        assert_eq!(neighbours().await.unwrap(), 1);
        a.send(b.id(), Semantics::Reliable, vec![7u8; 1 << 20]).await.unwrap();
        // The link is gone right after the send, and a new one is made.
        assert_eq!(neighbours().await.unwrap(), 0, "the overflowing link is still up");
        within("a new link", async {
            while a.query(|n| n.stats().links_opened).await.unwrap() < 2 {
                Timer::after(Duration::from_millis(20)).await;
            }
        })
        .await;
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
