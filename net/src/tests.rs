//! Socket tests on loopback only.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::*;

fn lo_cfg(mode: LinkMode, beacons: BeaconMode) -> NetConfig {
    NetConfig {
        bind_ip: Ipv4Addr::LOCALHOST.into(),
        link_port: 0,
        link_mode: mode,
        beacons,
        interfaces: vec![InterfaceSelector::Addr(Ipv4Addr::LOCALHOST.into())],
        multicast_ttl: 0,
        multicast_loop: true,
    }
}

/// A free group port for this test run, so parallel tests do not meet.
fn free_port() -> u16 {
    let s = bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    s.local_addr().unwrap().port()
}

fn recv_within(s: &UdpSocket, d: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let end = Instant::now() + d;
    let mut buf = [0u8; 1500];
    while Instant::now() < end {
        match s.recv_from(&mut buf) {
            Ok((n, from)) => return Some((buf[..n].to_vec(), from)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("recv: {e}"),
        }
    }
    None
}

#[test]
fn beacons_off_stream_mode_opens_unicast_and_listener() {
    let s = Sockets::open(&lo_cfg(LinkMode::Stream, BeaconMode::Off)).unwrap();
    assert!(s.unicast_v4.is_some());
    assert!(s.unicast_v6.is_none());
    assert!(s.beacon_v4.is_none() && s.beacon_v6.is_none());
    assert!(s.beacon_targets.is_empty());
    let l = s.listener.as_ref().unwrap();
    assert_eq!(l.local_addr().unwrap(), s.link_addr);
    assert_ne!(s.link_addr.port(), 0);
    // The unicast socket took another (ephemeral) port.
    assert_ne!(s.unicast_v4.as_ref().unwrap().local_addr().unwrap().port(), s.link_addr.port());
}

#[test]
fn datagram_mode_binds_unicast_at_the_link_port() {
    let s = Sockets::open(&lo_cfg(LinkMode::Datagram, BeaconMode::Off)).unwrap();
    assert!(s.listener.is_none());
    assert_eq!(s.unicast_v4.as_ref().unwrap().local_addr().unwrap(), s.link_addr);
}

#[test]
fn link_ports_are_not_shared() {
    let a = listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let err = listen_tcp(a.local_addr().unwrap()).unwrap_err();
    assert!(matches!(err, NetError::Bind { .. }), "{err}");
    assert!(err.to_string().contains(&a.local_addr().unwrap().to_string()), "{err}");
}

#[test]
fn tcp_connect_start_finish_and_timeout() {
    let l = listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    let mut c = connect_start(addr).unwrap();
    // Poll for completion the crude way: retry finish until connected.
    let end = Instant::now() + Duration::from_secs(5);
    let local = loop {
        match connect_finish(SockRef::from(&c), addr) {
            Ok(local) => break local,
            Err(_) if Instant::now() < end => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => panic!("{e}"),
        }
    };
    assert!(c.nodelay().unwrap());
    let (mut a, peer) = loop {
        match l.accept() {
            Ok(x) => break x,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(peer, local);
    a.set_nonblocking(false).unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    let c2 = connect_timeout(addr, Duration::from_secs(5)).unwrap();
    assert!(c2.nodelay().unwrap());

    // A port nobody listens on: refused, naming the address.
    drop(l);
    let err = connect_timeout(addr, Duration::from_secs(5)).unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// Two "nodes" on one host share the multicast port; each sends from its
/// own unicast socket, and both hear every beacon, their own included.
#[test]
fn multicast_v4_on_loopback_reaches_every_receiver() {
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), free_port());
    let cfg = lo_cfg(LinkMode::Datagram, BeaconMode::multicast_v4(group));
    let a = match Sockets::open(&cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skipped: multicast on loopback refused: {e}");
            return;
        }
    };
    let b = Sockets::open(&cfg).unwrap();
    assert_eq!(a.beacon_targets.len(), 1);
    assert_eq!(a.beacon_targets[0].via, Via::V4(Ipv4Addr::LOCALHOST));
    let ua = a.unicast_v4.as_ref().unwrap();
    ua.send_to(b"beacon-a", a.beacon_targets[0].to).unwrap();
    let Some((data, from)) = recv_within(b.beacon_v4.as_ref().unwrap(), Duration::from_secs(2))
    else {
        eprintln!("skipped: the kernel does not deliver multicast on loopback");
        return;
    };
    assert_eq!(data, b"beacon-a");
    assert_eq!(from, ua.local_addr().unwrap());
    let (data, _) = recv_within(a.beacon_v4.as_ref().unwrap(), Duration::from_secs(2)).unwrap();
    assert_eq!(data, b"beacon-a");
    // A unicast answer to the beacon's source reaches a's own socket only.
    let ub = b.unicast_v4.as_ref().unwrap();
    ub.send_to(b"notify", from).unwrap();
    let (data, _) = recv_within(ua, Duration::from_secs(2)).unwrap();
    assert_eq!(data, b"notify");
}

#[test]
fn broadcast_mode_opens_a_shared_receiver() {
    let port = free_port();
    let cfg = lo_cfg(LinkMode::Stream, BeaconMode::Broadcast { port });
    let a = Sockets::open(&cfg).unwrap();
    let b = Sockets::open(&cfg).unwrap();
    assert!(a.beacon_v4.is_some() && b.beacon_v4.is_some());
    assert!(!a.beacon_targets.is_empty());
    // One beacon per interface address, out of that interface: loopback
    // (127.0.0.1/8, no broadcast address on Linux) gets its subnet's.
    let lo = interfaces().unwrap().into_iter().find(|i| i.loopback).unwrap();
    let to: SocketAddr = "127.255.255.255:0".parse().unwrap();
    assert_eq!(
        a.beacon_targets,
        vec![BeaconTarget {
            to: SocketAddr::new(to.ip(), port),
            via: Via::V4Interface { index: lo.index, addr: Ipv4Addr::LOCALHOST }
        }]
    );
}

/// Beacons on a family the interfaces lack are skipped; with no family
/// left it is an error naming each family's reason.
#[test]
fn a_family_without_addresses_is_skipped_and_none_left_is_an_error() {
    let mut cfg = lo_cfg(LinkMode::Stream, BeaconMode::multicast());
    cfg.bind_ip = Ipv4Addr::UNSPECIFIED.into();
    let lo = interfaces().unwrap().into_iter().find(|i| i.loopback).unwrap();
    cfg.interfaces = vec![InterfaceSelector::Name(lo.name.clone())];
    // Loopback with its IPv4 address: IPv4 works whatever IPv6 does.
    let s = Sockets::open(&cfg).unwrap();
    assert!(s.beacon_v4.is_some());

    let only_v6 = vec![Interface { v4: vec![], ..lo.clone() }];
    let none = vec![Interface { v4: vec![], v6: vec![], ..lo }];
    let dummy = super::beacons::open(&cfg, &only_v6, None, None).unwrap_err();
    let text = dummy.to_string();
    assert!(matches!(dummy, NetError::NoBeacons { .. }), "{dummy}");
    assert!(text.contains("IPv4: no IPv4 unicast socket"), "{text}");
    let u4 = bind_udp("0.0.0.0:0".parse().unwrap()).unwrap();
    let u6 = bind_udp("[::]:0".parse().unwrap()).ok();
    let err = super::beacons::open(&cfg, &none, Some(&u4), u6.as_ref()).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("IPv4: no interface with an IPv4 address among"), "{text}");
    assert!(text.contains("IPv6: "), "{text}");
    if u6.is_some() {
        assert!(text.contains("no interface with an IPv6 address"), "{text}");
    }
}

#[test]
fn unknown_interface_is_an_error_naming_it() {
    let mut cfg = lo_cfg(LinkMode::Stream, BeaconMode::multicast());
    cfg.interfaces = vec![InterfaceSelector::Name("no-such-if0".into())];
    let err = Sockets::open(&cfg).unwrap_err();
    assert!(matches!(err, NetError::NoSuchInterface(_)));
    assert!(err.to_string().contains("no-such-if0"), "{err}");
}

/// Both families at once: IPv4 must work on loopback; IPv6 is used where
/// the kernel lets the group be joined, and otherwise left out with a note.
#[test]
fn dual_stack_multicast_opens_with_ipv6_best_effort() {
    let port = free_port();
    let mut group6 = DEFAULT_V6_GROUP;
    group6.set_port(port);
    let v4 = SocketAddrV4::new(*DEFAULT_V4_GROUP.ip(), port);
    let mut cfg =
        lo_cfg(LinkMode::Stream, BeaconMode::Multicast { v4: Some(v4), v6: Some(group6) });
    cfg.bind_ip = Ipv4Addr::UNSPECIFIED.into();
    cfg.interfaces = vec![InterfaceSelector::Name(
        interfaces().unwrap().into_iter().find(|i| i.loopback).unwrap().name,
    )];
    let s = Sockets::open(&cfg).unwrap();
    assert!(s.beacon_v4.is_some());
    assert!(s.beacon_v6.is_none() || s.unicast_v6.is_some(), "IPv6 beacons leave from IPv6");
    assert!(s.beacon_targets.iter().any(|t| t.to == SocketAddr::from(v4)));
    eprintln!("IPv6 beacons on loopback: {}", s.beacon_v6.is_some());
}

#[test]
fn a_bad_config_is_refused_before_any_socket_opens() {
    let mut config = netcluster_core::Config::lan("t", "n");
    config.keepalive_count = 0;
    match NodeSettings::new(config).prepare() {
        Err(NetError::Config(e)) => assert_eq!(e.field, "keepalive_count"),
        Err(other) => panic!("refused for another reason: {other}"),
        Ok(_) => panic!("a keepalive count of 0 was accepted"),
    }
}
