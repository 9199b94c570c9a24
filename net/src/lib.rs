//! # netcluster-net
//!
//! The socket layer shared by the netcluster drivers (`netcluster-tokio`,
//! `netcluster-async-std`, `netcluster-mio`). It opens and configures every
//! socket a node needs with [`socket2`] and hands them over as ordinary
//! **non-blocking** `std::net` sockets, which each runtime wraps with its own
//! type (`tokio::net::UdpSocket::from_std`, `async_io::Async::new`,
//! `mio::net::UdpSocket::from_std`).
//!
//! A node uses:
//!
//! - its own **unicast UDP socket** (one per address family in use): SEARCH,
//!   NOTIFY and beacons are *sent* from it, so that NOTIFY answers (sent to
//!   the source address of a SEARCH) reach this node and not whichever node
//!   shares the multicast port. In [`LinkMode::Datagram`] it is bound at the
//!   link port and also carries link frames; in [`LinkMode::Stream`] it takes
//!   an ephemeral port;
//! - **beacon sockets** that only receive: IPv4 multicast, IPv6 multicast
//!   (both at once if configured), or IPv4 broadcast, bound with
//!   `SO_REUSEADDR` + `SO_REUSEPORT` so several nodes on one host share them;
//! - in stream mode, a **TCP listener** at the link port, and outgoing TCP
//!   connections ([`connect_start`] / [`connect_finish`], or the blocking
//!   [`connect_timeout`]), all with `TCP_NODELAY`.
//!
//! [`Sockets::open`] does all of it from a [`NetConfig`]. Errors are
//! [`NetError`]s naming the address, group or interface concerned.
//!
//! It also holds what the drivers share beyond sockets, so that they keep
//! one API and one behaviour: [`NodeSettings`] (what every `Builder`
//! collects) with [`NodeSettings::prepare`] (the start-up: sockets,
//! advertised address, incarnation, id, seed), [`builder_methods!`] and
//! [`handle_methods!`] (the `Builder` and `Handle` methods every driver
//! has, defined once), [`DatagramOut`] (sending the node's datagrams),
//! [`send_many`] / [`SendMany`], and the stream bridge ([`streams`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod backlog;
mod beacons;
mod datagrams;
pub mod engine;
mod error;
pub mod events;
mod handle_methods;
mod iface;
pub mod keyfile;
pub mod recv_buf;
mod send_many;
mod settings;
pub mod streams;

/// What every driver crate re-exports, so that a program names the same
/// types whichever driver it uses.
pub mod prelude {
    pub use bytes::Bytes;
    pub use netcluster_core as core;
    pub use netcluster_core::auth::Keyring;
    pub use netcluster_core::node::{
        CommandError, DownReason, Event, FailReason, LinkInfo, LinkQueueStats, MessageId, PeerInfo,
        PeerTraffic, SendError, SendOptions, StreamEnd, StreamError, StreamId, DEFAULT_PRIORITY,
        HIGHEST_PRIORITY, LOWEST_PRIORITY, TRAFFIC_WINDOW,
    };
    pub use netcluster_core::wire::link::Semantics;
    pub use netcluster_core::{Config, LinkMode, Node, NodeId, NodeState};

    pub use crate as net;
    pub use crate::{BeaconMode, InterfaceSelector, NetError, SendMany};
}

use std::io;
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, TcpListener, TcpStream,
    UdpSocket,
};
use std::time::Duration;

pub use beacons::{broadcast_receiver, multicast_v4_receiver, multicast_v6_receiver};
/// `bytes`, for the paths in [`handle_methods!`]; not an API of its own.
#[doc(hidden)]
pub use bytes as __bytes;
pub use datagrams::DatagramOut;
pub use error::NetError;
pub use iface::{interfaces, select as select_interfaces, Interface, InterfaceSelector, V4Addr};
/// The core, for the paths in [`builder_methods!`]; not an API of its own.
#[doc(hidden)]
pub use netcluster_core as __core;
pub use netcluster_core::LinkMode;
pub use send_many::{send_many, SendMany};
pub use settings::{
    DriverLimits, NodeSettings, Prepared, DEFAULT_ACCEPT_QUEUE, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_EVENT_CAPACITY, DEFAULT_MAX_READS_PER_WAKE, DEFAULT_SHUTDOWN_LINGER,
    DEFAULT_WRITE_QUEUE,
};
pub use socket2;
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// Default IPv4 beacon group: organisation-local scope (239.255/16).
pub const DEFAULT_V4_GROUP: SocketAddrV4 =
    SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 77), DEFAULT_BEACON_PORT);
/// Default IPv6 beacon group: link-local scope (`ff02::4e43`, "NC").
pub const DEFAULT_V6_GROUP: SocketAddrV6 =
    SocketAddrV6::new(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x4e43), DEFAULT_BEACON_PORT, 0, 0);
/// Default beacon port, for multicast and broadcast alike.
pub const DEFAULT_BEACON_PORT: u16 = 5670;
/// Default link port (TCP listener, or the unicast UDP socket in datagram
/// link mode).
pub const DEFAULT_LINK_PORT: u16 = 7400;

/// How beacons (and SEARCH) travel on the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconMode {
    /// Multicast to an IPv4 group, an IPv6 group, or both at once.
    Multicast {
        /// The IPv4 group and port, if any.
        v4: Option<SocketAddrV4>,
        /// The IPv6 group and port, if any.
        v6: Option<SocketAddrV6>,
    },
    /// IPv4 broadcast on this port: one beacon per selected interface
    /// address, to its broadcast address (computed from the prefix when
    /// the OS reports none; 255.255.255.255 for a /31 or /32), sent out of
    /// that interface (see [`Via::V4Interface`]).
    Broadcast {
        /// The port.
        port: u16,
    },
    /// No beacon sockets: discovery by seeds only.
    Off,
}

impl BeaconMode {
    /// IPv4 and IPv6 multicast on the default groups.
    pub const fn multicast() -> BeaconMode {
        BeaconMode::Multicast { v4: Some(DEFAULT_V4_GROUP), v6: Some(DEFAULT_V6_GROUP) }
    }

    /// IPv4 multicast only, on `group`.
    pub const fn multicast_v4(group: SocketAddrV4) -> BeaconMode {
        BeaconMode::Multicast { v4: Some(group), v6: None }
    }

    /// IPv4 broadcast on the default beacon port.
    pub const fn broadcast() -> BeaconMode {
        BeaconMode::Broadcast { port: DEFAULT_BEACON_PORT }
    }

    /// Whether beacons are sent at all.
    pub fn is_on(&self) -> bool {
        !matches!(self, BeaconMode::Off)
    }
}

impl Default for BeaconMode {
    fn default() -> Self {
        BeaconMode::multicast()
    }
}

/// What sockets to open.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Local address to bind the unicast socket and the link port to.
    /// `0.0.0.0` (the default) binds every IPv4 address; `::` every IPv6
    /// address.
    pub bind_ip: IpAddr,
    /// The link port; 0 picks a free one (see [`Sockets::link_addr`]).
    pub link_port: u16,
    /// Stream (TCP listener) or datagram (link frames on the unicast
    /// socket) links.
    pub link_mode: LinkMode,
    /// Beacon transport.
    pub beacons: BeaconMode,
    /// Interfaces for beacons. Empty: every interface that is up and not
    /// loopback, or loopback if there is no other.
    pub interfaces: Vec<InterfaceSelector>,
    /// Multicast TTL / hop limit. 1 keeps beacons on the local segment.
    pub multicast_ttl: u32,
    /// Multicast loopback, so nodes on one host hear each other. On by
    /// default.
    pub multicast_loop: bool,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            bind_ip: Ipv4Addr::UNSPECIFIED.into(),
            link_port: DEFAULT_LINK_PORT,
            link_mode: LinkMode::Stream,
            beacons: BeaconMode::default(),
            interfaces: Vec::new(),
            multicast_ttl: 1,
            multicast_loop: true,
        }
    }
}

/// Which interface a beacon leaves by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The IPv4 interface with this address (`IP_MULTICAST_IF`).
    V4(Ipv4Addr),
    /// The IPv6 interface with this index (`IPV6_MULTICAST_IF`).
    V6(u32),
    /// Wherever the routing table says.
    Route,
    /// Out of the IPv4 interface with this index, from its address `addr`
    /// (broadcast beacons). On Linux the datagram carries an `IP_PKTINFO`
    /// control message naming both, so it leaves by that interface with no
    /// route to the destination needed (no default route, no broadcast
    /// route); elsewhere it goes wherever the routing table says.
    V4Interface {
        /// The interface index.
        index: u32,
        /// The interface's address, the beacon's source.
        addr: Ipv4Addr,
    },
}

/// One destination of each beacon: send it from the unicast socket of the
/// same family as `to`, after [`aim`]ing that socket at `via`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconTarget {
    /// Group (or broadcast address) and port.
    pub to: SocketAddr,
    /// The interface to leave by.
    pub via: Via,
}

/// Points `sock`'s multicast output at `target`'s interface. Call before
/// each beacon send when there are several targets of one family; with one,
/// [`Sockets::open`] has done it already.
pub fn aim(sock: SockRef<'_>, target: &BeaconTarget) -> Result<(), NetError> {
    let addr = target.to;
    match target.via {
        Via::V4(ip) => sock.set_multicast_if_v4(&ip).map_err(|source| NetError::Option {
            option: "IP_MULTICAST_IF",
            addr,
            source,
        }),
        Via::V6(index) => sock.set_multicast_if_v6(index).map_err(|source| NetError::Option {
            option: "IPV6_MULTICAST_IF",
            addr,
            source,
        }),
        Via::Route | Via::V4Interface { .. } => Ok(()),
    }
}

/// Every socket of one node, non-blocking, ready to be wrapped by a runtime.
#[derive(Debug)]
pub struct Sockets {
    /// The IPv4 unicast socket (if the node uses IPv4).
    pub unicast_v4: Option<UdpSocket>,
    /// The IPv6 unicast socket (if the node uses IPv6).
    pub unicast_v6: Option<UdpSocket>,
    /// The TCP listener at the link port ([`LinkMode::Stream`] only).
    pub listener: Option<TcpListener>,
    /// The IPv4 beacon receiver (multicast or broadcast), if any.
    pub beacon_v4: Option<UdpSocket>,
    /// The IPv6 multicast beacon receiver, if any.
    pub beacon_v6: Option<UdpSocket>,
    /// Where each beacon goes.
    pub beacon_targets: Vec<BeaconTarget>,
    /// The interfaces chosen for beacons.
    pub interfaces: Vec<Interface>,
    /// The local link address: the listener's (stream mode) or the unicast
    /// socket's (datagram mode), with the port actually bound.
    pub link_addr: SocketAddr,
}

impl Sockets {
    /// Opens every socket `cfg` asks for.
    ///
    /// Each address family is set up on its own. A wildcard bind address
    /// (`0.0.0.0` or `::`) listens on both families where the host has
    /// them: a unicast socket of each, and a dual-stack TCP listener. A
    /// beacon family with no usable interface (no address of the family,
    /// a group that cannot be joined) is logged at info level and skipped;
    /// an interface on which a group cannot be joined is skipped with a
    /// warning. Only when no family at all can send beacons (with beacons
    /// on) is it an error, [`NetError::NoBeacons`]; or when the bind
    /// address's own family cannot bind or listen.
    pub fn open(cfg: &NetConfig) -> Result<Sockets, NetError> {
        let chosen = if cfg.beacons.is_on() {
            let all = interfaces()?;
            select_interfaces(&all, &cfg.interfaces)?
        } else {
            Vec::new()
        };
        let datagram = cfg.link_mode == LinkMode::Datagram;
        let unicast_port = if datagram { cfg.link_port } else { 0 };

        // The unicast socket of the bind address's family.
        let primary = bind_udp(SocketAddr::new(cfg.bind_ip, unicast_port))?;
        let primary_addr = local_addr(&primary, SocketAddr::new(cfg.bind_ip, unicast_port))?;
        // A wildcard bind means every address of the host, of both
        // families: the other family gets its own socket (at the same port
        // in datagram mode, where it carries links), or is left out with a
        // note where the host lacks it.
        let mut secondary = None;
        if cfg.bind_ip.is_unspecified() {
            let other_ip: IpAddr = match cfg.bind_ip {
                IpAddr::V4(_) => Ipv6Addr::UNSPECIFIED.into(),
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED.into(),
            };
            let port = if datagram { primary_addr.port() } else { 0 };
            match bind_udp(SocketAddr::new(other_ip, port)) {
                Ok(s) => secondary = Some(s),
                Err(e) => tracing::info!(error = %e, "no unicast socket of the second family"),
            }
        }
        let (unicast_v4, unicast_v6) = match cfg.bind_ip {
            IpAddr::V4(_) => (Some(primary), secondary),
            IpAddr::V6(_) => (secondary, Some(primary)),
        };

        let listener = if datagram { None } else { Some(listen_link(cfg)?) };
        let link_addr = match &listener {
            Some(l) => {
                let port = local_addr_tcp(l, SocketAddr::new(cfg.bind_ip, cfg.link_port))?.port();
                SocketAddr::new(cfg.bind_ip, port)
            }
            None => primary_addr,
        };

        let beacons = beacons::open(cfg, &chosen, unicast_v4.as_ref(), unicast_v6.as_ref())?;
        let targets = beacons.targets;
        // With one target per family, aim once now.
        for family_v4 in [true, false] {
            let of: Vec<&BeaconTarget> =
                targets.iter().filter(|t| t.to.is_ipv4() == family_v4).collect();
            let sock = if family_v4 { unicast_v4.as_ref() } else { unicast_v6.as_ref() };
            if let ([t], Some(s)) = (of.as_slice(), sock) {
                aim(SockRef::from(s), t)?;
            }
        }
        tracing::debug!(
            %link_addr,
            interfaces = %iface::names(&chosen),
            targets = targets.len(),
            "sockets open"
        );
        Ok(Sockets {
            unicast_v4,
            unicast_v6,
            listener,
            beacon_v4: beacons.v4,
            beacon_v6: beacons.v6,
            beacon_targets: targets,
            interfaces: chosen,
            link_addr,
        })
    }

    /// Whether beacons must be re-aimed ([`aim`]) before each send: true
    /// when one family has several targets.
    pub fn needs_aim(&self) -> bool {
        let v4 = self.beacon_targets.iter().filter(|t| t.to.is_ipv4()).count();
        let v6 = self.beacon_targets.len() - v4;
        v4 > 1 || v6 > 1
    }
}

fn local_addr(u: &UdpSocket, addr: SocketAddr) -> Result<SocketAddr, NetError> {
    u.local_addr().map_err(|source| NetError::Bind { addr, source })
}

fn local_addr_tcp(l: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, NetError> {
    l.local_addr().map_err(|source| NetError::Bind { addr, source })
}

fn domain(addr: &SocketAddr) -> Domain {
    if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    }
}

fn new_socket(addr: SocketAddr, ty: Type, proto: Protocol) -> Result<Socket, NetError> {
    let s = Socket::new(domain(&addr), ty, Some(proto))
        .map_err(|source| NetError::Socket { addr, source })?;
    s.set_nonblocking(true).map_err(|source| NetError::Option {
        option: "O_NONBLOCK",
        addr,
        source,
    })?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(|source| NetError::Option {
            option: "IPV6_V6ONLY",
            addr,
            source,
        })?;
    }
    Ok(s)
}

fn opt<T>(r: io::Result<T>, option: &'static str, addr: SocketAddr) -> Result<T, NetError> {
    r.map_err(|source| NetError::Option { option, addr, source })
}

fn set_reuse(s: &Socket, addr: SocketAddr) -> Result<(), NetError> {
    opt(s.set_reuse_address(true), "SO_REUSEADDR", addr)?;
    #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
    opt(s.set_reuse_port(true), "SO_REUSEPORT", addr)?;
    Ok(())
}

fn bind(s: &Socket, addr: SocketAddr) -> Result<(), NetError> {
    s.bind(&addr.into()).map_err(|source| NetError::Bind { addr, source })
}

/// A unicast UDP socket bound at `addr` (port 0: any free port),
/// non-blocking. No address reuse: each node has its own.
pub fn bind_udp(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    let s = new_socket(addr, Type::DGRAM, Protocol::UDP)?;
    bind(&s, addr)?;
    Ok(s.into())
}

/// Sets what sending beacons from the unicast socket `u` needs: multicast
/// TTL / hop limit and loopback, or `SO_BROADCAST`.
fn prepare_sender(u: &UdpSocket, cfg: &NetConfig, addr: SocketAddr) -> Result<(), NetError> {
    let s = SockRef::from(u);
    match cfg.beacons {
        BeaconMode::Broadcast { .. } => opt(s.set_broadcast(true), "SO_BROADCAST", addr),
        BeaconMode::Multicast { .. } if addr.is_ipv4() => {
            opt(s.set_multicast_ttl_v4(cfg.multicast_ttl), "IP_MULTICAST_TTL", addr)?;
            opt(s.set_multicast_loop_v4(cfg.multicast_loop), "IP_MULTICAST_LOOP", addr)
        }
        BeaconMode::Multicast { .. } => {
            opt(s.set_multicast_hops_v6(cfg.multicast_ttl), "IPV6_MULTICAST_HOPS", addr)?;
            opt(s.set_multicast_loop_v6(cfg.multicast_loop), "IPV6_MULTICAST_LOOP", addr)
        }
        BeaconMode::Off => Ok(()),
    }
}

/// The link listener for `cfg`: at a wildcard bind address, one
/// dual-stack socket on `[::]` (IPv4 peers appear as IPv4-mapped IPv6
/// addresses), so that peers reach the node over either family at one
/// port; where the host refuses that (no IPv6, or no dual-stack sockets),
/// the bind address's family alone.
fn listen_link(cfg: &NetConfig) -> Result<TcpListener, NetError> {
    let addr = SocketAddr::new(cfg.bind_ip, cfg.link_port);
    if !cfg.bind_ip.is_unspecified() {
        return listen_tcp(addr);
    }
    let dual = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), cfg.link_port);
    let opened = (|| {
        let s = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))
            .map_err(|source| NetError::Socket { addr: dual, source })?;
        opt(s.set_only_v6(false), "IPV6_V6ONLY", dual)?;
        listen_on(s, dual)
    })();
    match opened {
        Ok(l) => Ok(l),
        Err(e) => {
            tracing::info!(error = %e, "no dual-stack link listener; {addr} only");
            listen_tcp(addr)
        }
    }
}

/// A TCP listener at `addr` (port 0: any free port), non-blocking, with
/// `SO_REUSEADDR` (a restarted node gets its port back at once) but not
/// `SO_REUSEPORT` (two nodes never share a link port).
pub fn listen_tcp(addr: SocketAddr) -> Result<TcpListener, NetError> {
    listen_on(new_socket(addr, Type::STREAM, Protocol::TCP)?, addr)
}

fn listen_on(s: Socket, addr: SocketAddr) -> Result<TcpListener, NetError> {
    opt(s.set_nonblocking(true), "O_NONBLOCK", addr)?;
    #[cfg(unix)]
    opt(s.set_reuse_address(true), "SO_REUSEADDR", addr)?;
    bind(&s, addr)?;
    s.listen(1024).map_err(|source| NetError::Listen { addr, source })?;
    Ok(s.into())
}

/// Prepares an accepted stream: non-blocking, `TCP_NODELAY`.
pub fn prepare_stream(stream: &TcpStream) -> io::Result<()> {
    stream.set_nonblocking(true)?;
    stream.set_nodelay(true)
}

/// Starts a non-blocking connect to `addr` with `TCP_NODELAY` set. The
/// stream is returned at once, usually still connecting: wait until it is
/// writable (the runtime's readiness), then call [`connect_finish`].
pub fn connect_start(addr: SocketAddr) -> Result<TcpStream, NetError> {
    let s = Socket::new(domain(&addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|source| NetError::Socket { addr, source })?;
    opt(s.set_nonblocking(true), "O_NONBLOCK", addr)?;
    opt(s.set_tcp_nodelay(true), "TCP_NODELAY", addr)?;
    match s.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(source) => return Err(NetError::Connect { addr, source }),
    }
    Ok(s.into())
}

fn in_progress(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc_einprogress()) {
        return true;
    }
    e.kind() == io::ErrorKind::WouldBlock
}

#[cfg(unix)]
const fn libc_einprogress() -> i32 {
    // EINPROGRESS: 115 on Linux, 36 on the BSDs and macOS.
    if cfg!(any(target_os = "linux", target_os = "android")) {
        115
    } else {
        36
    }
}

/// Completes a connect begun by [`connect_start`] once the stream is
/// writable: returns the local address, or the error the connect ended with.
/// Takes any socket ([`SockRef::from`] a std, tokio, async-io or mio stream).
pub fn connect_finish(stream: SockRef<'_>, addr: SocketAddr) -> Result<SocketAddr, NetError> {
    let err = |source| NetError::Connect { addr, source };
    if let Some(source) = stream.take_error().map_err(err)? {
        return Err(NetError::Connect { addr, source });
    }
    stream.peer_addr().map_err(err)?;
    let local = stream.local_addr().map_err(err)?;
    local
        .as_socket()
        .ok_or_else(|| NetError::Connect { addr, source: io::Error::other("not an IP socket") })
}

/// A blocking connect to `addr` bounded by `timeout`; the stream returned is
/// non-blocking with `TCP_NODELAY`. For drivers without readiness (threads).
pub fn connect_timeout(addr: SocketAddr, timeout: Duration) -> Result<TcpStream, NetError> {
    let s = Socket::new(domain(&addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(|source| NetError::Socket { addr, source })?;
    s.connect_timeout(&addr.into(), timeout)
        .map_err(|source| NetError::Connect { addr, source })?;
    opt(s.set_nonblocking(true), "O_NONBLOCK", addr)?;
    opt(s.set_tcp_nodelay(true), "TCP_NODELAY", addr)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests;
