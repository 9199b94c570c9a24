//! Three nodes on loopback: discovery (by seeds, and by multicast where the
//! kernel allows it on loopback), messages in each semantics, a group shout
//! that reaches members only, and a clean leave. Each scenario runs under
//! `async_std::task::block_on` and under `smol::block_on`: the driver must
//! not depend on the caller's executor. Only loopback addresses are used;
//! every wait is bounded.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::*;
use netcluster_async_std::{
    BeaconMode, Builder, DownReason, Error, Event, Handle, LinkMode, MessageId, NodeId, Semantics,
};

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
