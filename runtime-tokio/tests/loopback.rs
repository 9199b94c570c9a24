//! Three nodes on loopback: discovery (by seeds, and by multicast where the
//! kernel allows it on loopback), groups, and a clean leave. Only loopback
//! addresses are used; every wait is bounded.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use netcluster_tokio::{
    BeaconMode, Builder, DownReason, Event, Handle, LinkMode, NodeId, Semantics,
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

/// Polls `cond` until it holds or the deadline passes.
async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn sees_all(h: &Handle, others: &[NodeId]) -> bool {
    let peers = h.peers();
    others.iter().all(|id| peers.iter().any(|p| p.id == *id))
}

fn sees_in_group(h: &Handle, others: &[NodeId], group: &str) -> bool {
    let peers = h.peers();
    others.iter().all(|id| peers.iter().any(|p| p.id == *id && p.groups.iter().any(|g| g == group)))
}

/// Waits on `h`'s events for `id` going down, and returns the reason.
async fn down_reason(events: &mut netcluster_tokio::EventStream, id: NodeId) -> DownReason {
    let wait = async {
        while let Some(e) = events.next().await {
            if let Event::PeerDown { id: gone, reason, .. } = e {
                if gone == id {
                    return reason;
                }
            }
        }
        panic!("event stream ended before the peer went down");
    };
    tokio::time::timeout(DEADLINE, wait).await.expect("no PeerDown in time")
}

async fn three_nodes(mode: LinkMode, cluster: &str) {
    init_tracing();
    let a = seeded(cluster, "a", mode, &[]).start().await.unwrap();
    let b = seeded(cluster, "b", mode, &[a.link_addr()]).start().await.unwrap();
    let c = seeded(cluster, "c", mode, &[a.link_addr()]).start().await.unwrap();
    exercise(mode, [a, b, c]).await;
}

/// Discovery, groups, clean leave.
async fn exercise(mode: LinkMode, [a, b, c]: [Handle; 3]) {
    let ids = [a.id(), b.id(), c.id()];
    let all = [&a, &b, &c];
    for (i, h) in all.iter().enumerate() {
        let others: Vec<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        wait_for(&format!("node {i} to see the others ({mode:?})"), || sees_all(h, &others)).await;
    }

    for h in all {
        h.join("workers").await.unwrap();
    }
    for (i, h) in all.iter().enumerate() {
        let others: Vec<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        wait_for(&format!("node {i} to see the others in the group"), || {
            sees_in_group(h, &others, "workers")
        })
        .await;
    }
    b.set_header("role", Some("db")).await.unwrap();
    wait_for("a to see b's header", || {
        a.peers()
            .iter()
            .any(|p| p.id == b.id() && p.headers.iter().any(|(k, v)| k == "role" && v == "db"))
    })
    .await;

    // A message in each semantics, and a reliable shout to the group.
    let mut msgs_b = b.events();
    let mut reports_a = a.events();
    for (i, s) in
        [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced].into_iter().enumerate()
    {
        a.send(b.id(), s, vec![i as u8; 8]).await.unwrap();
    }
    a.shout("workers", Semantics::Reliable, &b"to all"[..]).await.unwrap();
    let (direct, to_group) = tokio::time::timeout(DEADLINE, async {
        let (mut direct, mut to_group) = (0, 0);
        while let Some(e) = msgs_b.next().await {
            if let Event::Message { from, group, .. } = e {
                if from == a.id() {
                    if group.as_deref() == Some("workers") {
                        to_group += 1
                    } else {
                        direct += 1
                    }
                }
            }
            if direct == 3 && to_group == 1 {
                break;
            }
        }
        (direct, to_group)
    })
    .await
    .expect("messages in time");
    assert_eq!((direct, to_group), (3, 1), "{mode:?}");
    // Reliable and sequenced to b, and the shout to b and c, are acknowledged.
    let delivered = tokio::time::timeout(DEADLINE, async {
        let mut n = 0;
        while let Some(e) = reports_a.next().await {
            if matches!(e, Event::Delivered { .. }) {
                n += 1;
                if n == 4 {
                    break;
                }
            }
        }
        n
    })
    .await
    .expect("delivery reports in time");
    assert_eq!(delivered, 4);

    let mut ev_a = a.events();
    let mut ev_b = b.events();
    tokio::time::timeout(DEADLINE, c.shutdown()).await.expect("shutdown took too long");
    assert!(!c.is_running());
    assert!(matches!(c.join("x").await, Err(netcluster_tokio::Error::Stopped)));
    assert_eq!(down_reason(&mut ev_a, ids[2]).await, DownReason::Left);
    assert_eq!(down_reason(&mut ev_b, ids[2]).await, DownReason::Left);
    wait_for("c to leave the peer lists", || {
        !a.peers().iter().any(|p| p.id == ids[2]) && !b.peers().iter().any(|p| p.id == ids[2])
    })
    .await;
    // a and b still see each other.
    assert!(sees_all(&a, &[ids[1]]) && sees_all(&b, &[ids[0]]));

    a.shutdown().await;
    b.shutdown().await;
    // Streams end once the node stops.
    assert!(tokio::time::timeout(DEADLINE, async { while ev_a.next().await.is_some() {} })
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_by_seeds_stream_links() {
    three_nodes(LinkMode::Stream, "t-seeds-stream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_by_seeds_datagram_links() {
    three_nodes(LinkMode::Datagram, "t-seeds-dgram").await;
}

/// Whether the kernel delivers IPv4 multicast on loopback, tried with the
/// socket layer itself.
fn multicast_on_loopback(group: SocketAddrV4) -> Result<(), String> {
    use netcluster_tokio::net::{InterfaceSelector, NetConfig, Sockets};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_by_multicast_on_loopback() {
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
    let a = node("a").start().await.unwrap();
    let b = node("b").start().await.unwrap();
    let c = node("c").start().await.unwrap();
    exercise(LinkMode::Stream, [a, b, c]).await;
}

#[tokio::test]
async fn dropping_every_handle_stops_the_node() {
    init_tracing();
    let a = seeded("t-drop", "a", LinkMode::Stream, &[]).start().await.unwrap();
    let addr = a.link_addr();
    drop(a);
    // The listener closes once the task has stopped.
    let end = tokio::time::Instant::now() + DEADLINE;
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(tokio::time::Instant::now() < end, "listener still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bad_interface_is_reported() {
    let err =
        Builder::new("t-bad", "a").link_port(0).interface("no-such-if0").start().await.unwrap_err();
    assert!(err.to_string().contains("no-such-if0"), "{err}");
}
