//! Beacon sockets, one address family at a time.
//!
//! Each family is set up on its own: a family with no usable interface (an
//! IPv6-only host has no interface with an IPv4 address, a host with IPv6
//! off cannot join the IPv6 group) is logged once at info level and
//! skipped. Only when no family at all can announce is it an error.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};

use socket2::{Protocol, Socket, Type};

use crate::iface::{self, Interface, V4Addr};
use crate::{
    bind, new_socket, opt, prepare_sender, set_reuse, BeaconMode, BeaconTarget, NetConfig,
    NetError, Via,
};

/// The beacon receivers and targets of every family that could be set up.
#[derive(Debug, Default)]
pub(crate) struct Beacons {
    pub(crate) v4: Option<UdpSocket>,
    pub(crate) v6: Option<UdpSocket>,
    pub(crate) targets: Vec<BeaconTarget>,
}

/// Opens the beacon receivers `cfg` asks for on the `chosen` interfaces,
/// each family independently; `u4` / `u6` are the unicast sockets beacons
/// are sent from.
pub(crate) fn open(
    cfg: &NetConfig,
    chosen: &[Interface],
    u4: Option<&UdpSocket>,
    u6: Option<&UdpSocket>,
) -> Result<Beacons, NetError> {
    let mut out = Beacons::default();
    let mut skipped: Vec<String> = Vec::new();
    let mut skip = |family: &str, reason: String| {
        tracing::info!(family, %reason, "no beacons of this address family");
        skipped.push(format!("{family}: {reason}"));
    };
    match cfg.beacons {
        BeaconMode::Off => return Ok(out),
        BeaconMode::Multicast { v4, v6 } => {
            if let Some(group) = v4 {
                match multicast_v4(cfg, group, chosen, u4) {
                    Ok((sock, targets)) => {
                        out.v4 = Some(sock);
                        out.targets.extend(targets);
                    }
                    Err(reason) => skip("IPv4", reason),
                }
            }
            if let Some(group) = v6 {
                match multicast_v6(cfg, group, chosen, u6) {
                    Ok((sock, targets)) => {
                        out.v6 = Some(sock);
                        out.targets.extend(targets);
                    }
                    Err(reason) => skip("IPv6", reason),
                }
            }
        }
        BeaconMode::Broadcast { port } => match broadcast(cfg, port, chosen, u4) {
            Ok((sock, targets)) => {
                out.v4 = Some(sock);
                out.targets.extend(targets);
            }
            Err(reason) => skip("IPv4", reason),
        },
    }
    if out.targets.is_empty() {
        return Err(NetError::NoBeacons { reasons: skipped.join("; ") });
    }
    Ok(out)
}

fn multicast_v4(
    cfg: &NetConfig,
    group: SocketAddrV4,
    chosen: &[Interface],
    u: Option<&UdpSocket>,
) -> Result<(UdpSocket, Vec<BeaconTarget>), String> {
    let u = u.ok_or("no IPv4 unicast socket to send from")?;
    let mut ifaces: Vec<Ipv4Addr> =
        chosen.iter().filter_map(|i| i.v4.first().map(|a| a.ip)).collect();
    // A socket bound to one address sends from it only.
    if let IpAddr::V4(b) = cfg.bind_ip {
        if !b.is_unspecified() && ifaces.contains(&b) {
            ifaces = vec![b];
        }
    }
    if ifaces.is_empty() {
        return Err(format!("no interface with an IPv4 address among {}", iface::names(chosen)));
    }
    let (sock, joined) =
        multicast_v4_receiver(group, &ifaces, chosen).map_err(|e| e.to_string())?;
    prepare_sender(u, cfg, local(u)).map_err(|e| e.to_string())?;
    let targets = joined.into_iter().map(|ip| BeaconTarget { to: group.into(), via: Via::V4(ip) });
    Ok((sock, targets.collect()))
}

fn multicast_v6(
    cfg: &NetConfig,
    group: SocketAddrV6,
    chosen: &[Interface],
    u: Option<&UdpSocket>,
) -> Result<(UdpSocket, Vec<BeaconTarget>), String> {
    let u = u.ok_or("no IPv6 unicast socket to send from")?;
    let bound = match cfg.bind_ip {
        IpAddr::V6(b) if !b.is_unspecified() => Some(b),
        _ => None,
    };
    let ifaces: Vec<u32> = chosen
        .iter()
        .filter(|i| !i.v6.is_empty() && i.index != 0)
        .filter(|i| bound.is_none_or(|b| i.v6.contains(&b)))
        .map(|i| i.index)
        .collect();
    if ifaces.is_empty() {
        return Err(format!("no interface with an IPv6 address among {}", iface::names(chosen)));
    }
    let (sock, joined) =
        multicast_v6_receiver(group, &ifaces, chosen).map_err(|e| e.to_string())?;
    prepare_sender(u, cfg, local(u)).map_err(|e| e.to_string())?;
    let targets =
        joined.into_iter().map(|index| BeaconTarget { to: group.into(), via: Via::V6(index) });
    Ok((sock, targets.collect()))
}

/// The broadcast address of `a`: the one the OS reports, else the subnet's
/// (computed from the prefix), else the limited broadcast for /31 and /32,
/// whose subnets have none.
pub(crate) fn broadcast_of(a: &V4Addr) -> Ipv4Addr {
    if let Some(b) = a.broadcast.filter(|b| *b != a.ip) {
        return b;
    }
    if a.prefix_len >= 31 {
        return Ipv4Addr::BROADCAST;
    }
    let host_bits = u32::MAX >> a.prefix_len;
    Ipv4Addr::from(u32::from(a.ip) | host_bits)
}

fn broadcast(
    cfg: &NetConfig,
    port: u16,
    chosen: &[Interface],
    u: Option<&UdpSocket>,
) -> Result<(UdpSocket, Vec<BeaconTarget>), String> {
    let u = u.ok_or("no IPv4 unicast socket to send from")?;
    let bound = match cfg.bind_ip {
        IpAddr::V4(b) if !b.is_unspecified() => Some(b),
        _ => None,
    };
    // One beacon per interface address, each sent out of its own interface
    // (see `Via::V4Interface`), so that it needs no route at all.
    let mut targets: Vec<BeaconTarget> = Vec::new();
    for i in chosen {
        for a in i.v4.iter().filter(|a| bound.is_none_or(|b| a.ip == b)) {
            let t = BeaconTarget {
                to: SocketAddr::new(broadcast_of(a).into(), port),
                via: Via::V4Interface { index: i.index, addr: a.ip },
            };
            if !targets.iter().any(|o| o.to == t.to && same_interface(o.via, t.via)) {
                targets.push(t);
            }
        }
    }
    if targets.is_empty() {
        return Err(format!("no interface with an IPv4 address among {}", iface::names(chosen)));
    }
    let sock = broadcast_receiver(port).map_err(|e| e.to_string())?;
    prepare_sender(u, cfg, local(u)).map_err(|e| e.to_string())?;
    Ok((sock, targets))
}

fn same_interface(a: Via, b: Via) -> bool {
    match (a, b) {
        (Via::V4Interface { index: x, .. }, Via::V4Interface { index: y, .. }) => x == y,
        _ => a == b,
    }
}

fn local(u: &UdpSocket) -> SocketAddr {
    u.local_addr().unwrap_or_else(|_| SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0))
}

/// Where a beacon receiver binds: the group itself on Unix (the kernel then
/// delivers only that group's datagrams to it), the wildcard elsewhere.
fn receiver_bind_addr(group: SocketAddr) -> SocketAddr {
    if cfg!(unix) && group.is_ipv4() {
        group
    } else if group.is_ipv4() {
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), group.port())
    } else {
        SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), group.port())
    }
}

/// An IPv4 multicast receiver for `group`, joined on every interface
/// address in `ifaces` where the kernel allows it. Returns the socket and
/// the interfaces joined; an error only if none could be.
pub fn multicast_v4_receiver(
    group: SocketAddrV4,
    ifaces: &[Ipv4Addr],
    chosen: &[Interface],
) -> Result<(UdpSocket, Vec<Ipv4Addr>), NetError> {
    multicast_receiver(
        group.into(),
        ifaces,
        chosen,
        "no interface with an IPv4 address",
        |s, ip| s.join_multicast_v4(group.ip(), ip),
    )
}

/// An IPv6 multicast receiver for `group`, joined on every interface index
/// in `ifaces` where the kernel allows it. Returns the socket and the
/// interfaces joined; an error only if none could be.
pub fn multicast_v6_receiver(
    group: SocketAddrV6,
    ifaces: &[u32],
    chosen: &[Interface],
) -> Result<(UdpSocket, Vec<u32>), NetError> {
    multicast_receiver(
        group.into(),
        ifaces,
        chosen,
        "no interface with an IPv6 address",
        |s, index| s.join_multicast_v6(group.ip(), *index),
    )
}

/// The shared part of both multicast receivers: a reusable socket bound for
/// `group`, joined through `join` on each interface that allows it.
fn multicast_receiver<I: Copy + std::fmt::Debug>(
    group: SocketAddr,
    ifaces: &[I],
    chosen: &[Interface],
    none: &str,
    join: impl Fn(&Socket, &I) -> io::Result<()>,
) -> Result<(UdpSocket, Vec<I>), NetError> {
    let s = new_socket(group, Type::DGRAM, Protocol::UDP)?;
    set_reuse(&s, group)?;
    bind(&s, receiver_bind_addr(group))?;
    let mut joined = Vec::new();
    let mut last = None;
    for iface in ifaces {
        match join(&s, iface) {
            Ok(()) => joined.push(*iface),
            Err(e) => {
                tracing::warn!(group = %group.ip(), interface = ?iface, error = %e, "cannot join");
                last = Some(e);
            }
        }
    }
    if joined.is_empty() {
        return Err(NetError::Join {
            group: group.ip(),
            interfaces: iface::names(chosen),
            source: last.unwrap_or_else(|| io::Error::other(none.to_string())),
        });
    }
    Ok((s.into(), joined))
}

/// An IPv4 broadcast receiver on `port`, shared with other nodes of the host.
pub fn broadcast_receiver(port: u16) -> Result<UdpSocket, NetError> {
    let addr = SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port);
    let s = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    set_reuse(&s, addr)?;
    opt(s.set_broadcast(true), "SO_BROADCAST", addr)?;
    bind(&s, addr)?;
    Ok(s.into())
}

/// Sends `data` to `to` out of the interface `index`, from `addr`, through
/// an `IP_PKTINFO` control message: the kernel then needs no route to `to`
/// (no default route, no broadcast route), and the datagram still leaves
/// from the socket's own port, where NOTIFY answers come back.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn send_on_interface(
    sock: socket2::SockRef<'_>,
    to: SocketAddr,
    index: u32,
    addr: Ipv4Addr,
    data: &[u8],
) -> io::Result<usize> {
    let control = pktinfo(index, addr);
    let dest = socket2::SockAddr::from(to);
    let bufs = [io::IoSlice::new(data)];
    let msg = socket2::MsgHdr::new().with_addr(&dest).with_buffers(&bufs).with_control(&control);
    sock.sendmsg(&msg, 0)
}

/// Elsewhere: to `to` wherever the routing table says.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn send_on_interface(
    sock: socket2::SockRef<'_>,
    to: SocketAddr,
    _index: u32,
    _addr: Ipv4Addr,
    data: &[u8],
) -> io::Result<usize> {
    sock.send_to(data, &socket2::SockAddr::from(to))
}

/// One `cmsghdr` carrying an `in_pktinfo` (Linux layout: `size_t` length,
/// `int` level and type, then `int ipi_ifindex`, `ipi_spec_dst`,
/// `ipi_addr`), padded as `CMSG_SPACE` does. Built by hand because the
/// crate has no unsafe code and `libc`'s `CMSG_*` helpers are unsafe.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn pktinfo(index: u32, addr: Ipv4Addr) -> Vec<u8> {
    const IPPROTO_IP: i32 = 0;
    const IP_PKTINFO: i32 = 8;
    const DATA: usize = 12;
    let word = std::mem::size_of::<usize>();
    let header = word + 8;
    let len = header + DATA;
    let space = header + DATA.div_ceil(word) * word;
    let mut buf = vec![0u8; space];
    buf[..word].copy_from_slice(&len.to_ne_bytes());
    buf[word..word + 4].copy_from_slice(&IPPROTO_IP.to_ne_bytes());
    buf[word + 4..header].copy_from_slice(&IP_PKTINFO.to_ne_bytes());
    // ipi_ifindex is a C int; an index past i32::MAX does not exist.
    let index = i32::try_from(index).unwrap_or(0);
    buf[header..header + 4].copy_from_slice(&index.to_ne_bytes());
    buf[header + 4..header + 8].copy_from_slice(&addr.octets());
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(ip: [u8; 4], prefix_len: u8, broadcast: Option<Ipv4Addr>) -> V4Addr {
        V4Addr { ip: ip.into(), prefix_len, broadcast }
    }

    #[test]
    fn broadcast_address_from_the_os_or_the_prefix() {
        let os = Some(Ipv4Addr::new(10, 0, 0, 127));
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 24, os)), Ipv4Addr::new(10, 0, 0, 127));
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 24, None)), Ipv4Addr::new(10, 0, 0, 255));
        let itself = Some(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 24, itself)), Ipv4Addr::new(10, 0, 0, 255));
        assert_eq!(broadcast_of(&v4([10, 1, 2, 3], 8, None)), Ipv4Addr::new(10, 255, 255, 255));
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 0, None)), Ipv4Addr::BROADCAST);
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 31, None)), Ipv4Addr::BROADCAST);
        assert_eq!(broadcast_of(&v4([10, 0, 0, 1], 32, None)), Ipv4Addr::BROADCAST);
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn pktinfo_is_one_padded_control_message() {
        let b = pktinfo(7, Ipv4Addr::new(10, 0, 0, 1));
        let word = std::mem::size_of::<usize>();
        assert_eq!(b.len() % word, 0);
        let len = usize::from_ne_bytes(b[..word].try_into().unwrap());
        assert_eq!(len, word + 8 + 12);
        assert_eq!(&b[word + 8..word + 12], &7i32.to_ne_bytes());
        assert_eq!(&b[word + 12..word + 16], &[10, 0, 0, 1]);
    }

    /// A datagram sent through the loopback interface by index arrives,
    /// from the address named.
    #[test]
    fn a_beacon_sent_on_an_interface_arrives() {
        let all = crate::interfaces().unwrap();
        let Some(lo) = all.iter().find(|i| i.loopback && !i.v4.is_empty()) else {
            eprintln!("skipped: no loopback interface with IPv4");
            return;
        };
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let tx = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        let to = rx.local_addr().unwrap();
        let sent =
            send_on_interface((&tx).into(), to, lo.index, Ipv4Addr::LOCALHOST, b"hi").unwrap();
        assert_eq!(sent, 2);
        let mut buf = [0u8; 8];
        let (n, from) = rx.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"hi");
        assert_eq!(from.ip(), IpAddr::from(Ipv4Addr::LOCALHOST));
    }
}
