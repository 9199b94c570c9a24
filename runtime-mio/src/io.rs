//! The node's fixed sockets as mio sources: unicast and beacon UDP sockets
//! and the TCP listener, each under a fixed token offset.

use std::net::SocketAddr;

use mio::net::{TcpListener, UdpSocket};
use mio::{Interest, Registry, Token};
use netcluster_core::node::{DatagramSource, DatagramTarget};
use netcluster_net::socket2::SockRef;
use netcluster_net::{DatagramOut, Sockets};

use crate::Error;

/// Token offsets of the fixed sockets within the node's range.
pub(crate) const UNICAST_V4: usize = 0;
pub(crate) const UNICAST_V6: usize = 1;
/// From here to `LISTENER`: the beacon receivers (IPv4, then IPv6).
pub(crate) const BEACON_V4: usize = 2;
pub(crate) const LISTENER: usize = 4;
/// Offsets from here on are TCP links.
pub(crate) const FIRST_LINK: usize = 5;

/// The sockets, open for the node's lifetime.
pub(crate) struct Io {
    /// Unicast IPv4, unicast IPv6, beacons IPv4, beacons IPv6: indexed by
    /// token offset.
    pub(crate) udp: [Option<UdpSocket>; 4],
    pub(crate) listener: Option<TcpListener>,
    out: DatagramOut,
}

impl Io {
    /// Wraps the sockets and registers them under `base + offset`.
    pub(crate) fn register(s: Sockets, registry: &Registry, base: usize) -> Result<Io, Error> {
        let out = DatagramOut::new(&s);
        let mut io = Io {
            udp: [
                s.unicast_v4.map(UdpSocket::from_std),
                s.unicast_v6.map(UdpSocket::from_std),
                s.beacon_v4.map(UdpSocket::from_std),
                s.beacon_v6.map(UdpSocket::from_std),
            ],
            listener: s.listener.map(TcpListener::from_std),
            out,
        };
        for (offset, sock) in io.udp.iter_mut().enumerate() {
            if let Some(sock) = sock {
                registry
                    .register(sock, Token(base + offset), Interest::READABLE)
                    .map_err(Error::Poll)?;
            }
        }
        if let Some(l) = io.listener.as_mut() {
            registry
                .register(l, Token(base + LISTENER), Interest::READABLE)
                .map_err(Error::Poll)?;
        }
        Ok(io)
    }

    /// Best effort: deregisters every socket (they close when dropped).
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        for sock in self.udp.iter_mut().flatten() {
            let _ = registry.deregister(sock);
        }
        if let Some(l) = self.listener.as_mut() {
            let _ = registry.deregister(l);
        }
    }

    /// Whether datagrams read at `offset` are beacons or unicast.
    pub(crate) fn source_of(offset: usize) -> DatagramSource {
        if offset >= BEACON_V4 {
            DatagramSource::Beacon
        } else {
            DatagramSource::Unicast
        }
    }

    fn unicast_for(&self, to: &SocketAddr) -> Option<&UdpSocket> {
        if to.is_ipv4() {
            self.udp[UNICAST_V4].as_ref()
        } else {
            self.udp[UNICAST_V6].as_ref()
        }
    }

    /// Sends one datagram without waiting: datagrams are best effort (a
    /// full send buffer drops them) and the core repeats what matters.
    pub(crate) fn send(&self, to: DatagramTarget, data: &[u8]) {
        self.out.send(|a| self.unicast_for(a).map(SockRef::from), to, data);
    }
}
