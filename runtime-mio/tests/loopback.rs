//! Three nodes on loopback, each on its own thread: discovery (by seeds,
//! and by multicast where the kernel allows it on loopback), a message in
//! each semantics, a group shout, and a clean leave. Only loopback
//! addresses are used; every wait is bounded.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use netcluster_mio::{
    BeaconMode, Builder, DownReason, Error, Event, Events, Handle, LinkMode, MessageId, NodeId,
    Semantics,
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
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads `events` until `f` returns `Some`, within the deadline.
fn wait_event<T>(events: &mut Events, what: &str, mut f: impl FnMut(Event) -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(e) => {
                if let Some(t) = f(e) {
                    return t;
                }
            }
            Err(RecvTimeoutError::Timeout) => panic!("timed out waiting for {what}"),
            Err(RecvTimeoutError::Disconnected) => panic!("node stopped while waiting for {what}"),
        }
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

fn three_nodes(mode: LinkMode, cluster: &str) {
    init_tracing();
    let a = seeded(cluster, "a", mode, &[]).start().unwrap();
    let b = seeded(cluster, "b", mode, &[a.link_addr()]).start().unwrap();
    let c = seeded(cluster, "c", mode, &[a.link_addr()]).start().unwrap();
    exercise(mode, [a, b, c]);
}

/// Discovery, each semantics, a group shout, clean leave.
fn exercise(mode: LinkMode, [a, b, c]: [Handle; 3]) {
    let ids = [a.id(), b.id(), c.id()];
    let all = [&a, &b, &c];
    for (i, h) in all.iter().enumerate() {
        let others: Vec<NodeId> = ids.iter().copied().filter(|id| *id != ids[i]).collect();
        wait_for(&format!("node {i} to see the others ({mode:?})"), || sees_all(h, &others));
    }

    // a and b work; c is elsewhere.
    a.join("workers").unwrap();
    b.join("workers").unwrap();
    c.join("others").unwrap();
    wait_for("a and b to see each other in the group", || {
        sees_in_group(&a, &[ids[1]], "workers") && sees_in_group(&b, &[ids[0]], "workers")
    });
    wait_for("a to see c in its group", || sees_in_group(&a, &[ids[2]], "others"));
    b.set_header("role", Some("db")).unwrap();
    wait_for("a to see b's header", || {
        a.peers()
            .iter()
            .any(|p| p.id == b.id() && p.headers.iter().any(|(k, v)| k == "role" && v == "db"))
    });

    // A message in each semantics, and a reliable shout to the group.
    let mut msgs_b = b.events();
    let mut msgs_c = c.events();
    let mut reports_a = a.events();
    let mut acked: Vec<MessageId> = Vec::new();
    for (i, s) in
        [Semantics::Datagram, Semantics::Reliable, Semantics::Sequenced].into_iter().enumerate()
    {
        let id = a.send(b.id(), s, vec![i as u8; 8]).unwrap();
        if s != Semantics::Datagram {
            acked.push(id);
        }
    }
    let shout = a.shout("workers", Semantics::Reliable, &b"to all"[..]).unwrap();
    let mut got: Vec<(Semantics, Vec<u8>)> = Vec::new();
    let mut to_group = 0;
    wait_event(&mut msgs_b, "b's messages", |e| {
        if let Event::Message { from, group, semantics, payload } = e {
            assert_eq!(from, a.id());
            match group.as_deref() {
                Some("workers") => {
                    assert_eq!(&payload[..], b"to all");
                    to_group += 1;
                }
                None => got.push((semantics, payload.to_vec())),
                Some(other) => panic!("message to unexpected group {other}"),
            }
        }
        (got.len() == 3 && to_group == 1).then_some(())
    });
    got.sort_by_key(|(s, _)| *s as u8);
    assert_eq!(
        got,
        vec![
            (Semantics::Datagram, vec![0; 8]),
            (Semantics::Reliable, vec![1; 8]),
            (Semantics::Sequenced, vec![2; 8]),
        ],
        "{mode:?}"
    );
    // Reliable and sequenced to b, and the shout to b (its only member),
    // are acknowledged.
    let mut reports: Vec<(MessageId, NodeId)> = Vec::new();
    wait_event(&mut reports_a, "delivery reports", |e| {
        match e {
            Event::Delivered { id, to } => reports.push((id, to)),
            Event::SendFailed { id, to, reason } => panic!("{id:?} to {to:?} failed: {reason:?}"),
            _ => {}
        }
        (reports.len() == 3).then_some(())
    });
    reports.sort();
    let mut expected = vec![(acked[0], b.id()), (acked[1], b.id()), (shout, b.id())];
    expected.sort();
    assert_eq!(reports, expected);
    // c is in no group "workers": nothing reached it, and nothing will
    // (the shout's only member has acknowledged it already).
    loop {
        match msgs_c.try_recv() {
            Ok(Event::Message { group, .. }) => panic!("c got a message for {group:?}"),
            Ok(_) => continue,
            Err(TryRecvError::Empty) => break,
            Err(TryRecvError::Disconnected) => panic!("c stopped"),
        }
    }

    let mut ev_a = a.events();
    let mut ev_b = b.events();
    let started = Instant::now();
    c.shutdown();
    assert!(started.elapsed() < DEADLINE, "shutdown took too long");
    assert!(!c.is_running());
    assert!(matches!(c.join("x"), Err(Error::Stopped)));
    for (name, ev) in [("a", &mut ev_a), ("b", &mut ev_b)] {
        let reason = wait_event(ev, &format!("{name} to see c go"), |e| match e {
            Event::PeerDown { id, reason, .. } if id == ids[2] => Some(reason),
            _ => None,
        });
        assert_eq!(reason, DownReason::Left, "{name}");
    }
    wait_for("c to leave the peer lists", || {
        !a.peers().iter().any(|p| p.id == ids[2]) && !b.peers().iter().any(|p| p.id == ids[2])
    });
    // a and b still see each other.
    assert!(sees_all(&a, &[ids[1]]) && sees_all(&b, &[ids[0]]));

    a.shutdown();
    b.shutdown();
    // Subscribers end once the node stops.
    let end = Instant::now() + DEADLINE;
    loop {
        match ev_a.recv_timeout(end.saturating_duration_since(Instant::now())) {
            Ok(_) => continue,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => panic!("a's events did not end"),
        }
    }
}

#[test]
fn three_nodes_by_seeds_stream_links() {
    three_nodes(LinkMode::Stream, "m-seeds-stream");
}

#[test]
fn three_nodes_by_seeds_datagram_links() {
    three_nodes(LinkMode::Datagram, "m-seeds-dgram");
}

/// Whether the kernel delivers IPv4 multicast on loopback, tried with the
/// socket layer itself.
fn multicast_on_loopback(group: SocketAddrV4) -> Result<(), String> {
    use netcluster_mio::net::{InterfaceSelector, NetConfig, Sockets};
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
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 64];
    while Instant::now() < end {
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
        Builder::new("m-multicast", name)
            .bind_ip(lo())
            .link_port(0)
            .interface("127.0.0.1")
            .multicast_ttl(0)
            .beacons(BeaconMode::multicast_v4(group))
    };
    let a = node("a").start().unwrap();
    let b = node("b").start().unwrap();
    let c = node("c").start().unwrap();
    exercise(LinkMode::Stream, [a, b, c]);
}

#[test]
fn dropping_every_handle_stops_the_node() {
    init_tracing();
    let a = seeded("m-drop", "a", LinkMode::Stream, &[]).start().unwrap();
    let addr = a.link_addr();
    let mut events = a.events();
    drop(a);
    // The subscriber ends, and the listener closes, once the thread stops.
    assert_eq!(events.recv_timeout(DEADLINE).err(), Some(RecvTimeoutError::Disconnected));
    wait_for("the listener to close", || std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn callbacks_run_on_their_own_thread() {
    init_tracing();
    let a = seeded("m-callback", "a", LinkMode::Stream, &[]).start().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    // The callback uses the handle itself: it must not run on the node's
    // thread.
    let a2 = a.clone();
    let thread = a
        .on_event(move |e| {
            if let Event::PeerUp(p) = e {
                let _ = tx.send((p.id, a2.peers().len()));
            }
        })
        .unwrap();
    // b starts once the callback is in place, so its PeerUp is not missed.
    let b = seeded("m-callback", "b", LinkMode::Stream, &[a.link_addr()]).start().unwrap();
    let (id, seen) = rx.recv_timeout(DEADLINE).expect("PeerUp through the callback");
    assert_eq!(id, b.id());
    assert!(seen >= 1);
    a.shutdown();
    thread.join().unwrap();
    b.shutdown();
}

#[test]
fn bad_interface_is_reported() {
    let err = Builder::new("m-bad", "a").link_port(0).interface("no-such-if0").start().unwrap_err();
    assert!(err.to_string().contains("no-such-if0"), "{err}");
}

#[test]
fn several_threads_send_through_one_handle() {
    init_tracing();
    let a = seeded("m-threads", "a", LinkMode::Stream, &[]).start().unwrap();
    let b = seeded("m-threads", "b", LinkMode::Stream, &[a.link_addr()]).start().unwrap();
    wait_for("a to see b", || sees_all(&a, &[b.id()]));
    let mut inbox = b.events();
    const THREADS: u8 = 4;
    const EACH: u16 = 100;
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let (a, to) = (a.clone(), b.id());
            std::thread::spawn(move || {
                let end = Instant::now() + DEADLINE;
                for n in 0..EACH {
                    let mut payload = vec![t];
                    payload.extend_from_slice(&n.to_be_bytes());
                    // A full window is refused, not queued: retry until
                    // there is room.
                    loop {
                        match a.send(to, Semantics::Reliable, payload.clone()) {
                            Ok(_) => break,
                            Err(Error::Send(netcluster_mio::SendError::WouldBlock)) => {
                                assert!(Instant::now() < end, "window stayed full");
                                std::thread::sleep(Duration::from_millis(2));
                            }
                            Err(e) => panic!("thread {t} message {n}: {e}"),
                        }
                    }
                }
            })
        })
        .collect();
    let mut got = std::collections::HashSet::new();
    wait_event(&mut inbox, "every message", |e| {
        if let Event::Message { payload, .. } = e {
            assert!(got.insert(payload.to_vec()), "duplicate {payload:?}");
        }
        (got.len() == usize::from(THREADS) * usize::from(EACH)).then_some(())
    });
    for s in senders {
        s.join().unwrap();
    }
    assert_eq!(inbox.queued(), 0, "nothing left unread");
    a.shutdown();
    b.shutdown();
}

#[test]
fn an_aborted_node_is_reported_timed_out_and_query_sees_the_node() {
    init_tracing();
    let a = seeded("m-abort", "a", LinkMode::Stream, &[]).start().unwrap();
    let b = seeded("m-abort", "b", LinkMode::Stream, &[a.link_addr()]).start().unwrap();
    wait_for("a to see b", || sees_all(&a, &[b.id()]));
    // query runs on the node's thread, against the node itself.
    let (id, peers) = a.query(|n| (n.id(), n.peers().map(|p| p.id).collect::<Vec<_>>())).unwrap();
    assert_eq!(id, a.id());
    assert_eq!(peers, vec![b.id()]);

    let mut events = a.events();
    b.abort();
    assert!(!b.is_running());
    assert!(matches!(b.send(a.id(), Semantics::Datagram, &b"x"[..]), Err(Error::Stopped)));
    // No GOODBYE was sent: a finds out by itself.
    let reason = wait_event(&mut events, "a to see b go", |e| match e {
        Event::PeerDown { id, reason, .. } if id == b.id() => Some(reason),
        _ => None,
    });
    assert_eq!(reason, DownReason::TimedOut);
    a.shutdown();
    assert!(matches!(a.query(|n| n.id()), Err(Error::Stopped)));
}
