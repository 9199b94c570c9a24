//! The simulated network: segments, hosts, addresses, faults, partitions.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

/// Index of a segment (a broadcast / multicast domain).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub usize);

/// Index of a host (one machine, one or more addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub usize);

/// What a path does to the packets crossing it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// One-way latency.
    pub latency: Duration,
    /// Extra random delay, uniform in `[0, jitter]`.
    pub jitter: Duration,
    /// Probability that a datagram is lost (streams retransmit instead).
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back by `reorder_delay`, so that
    /// later ones overtake it.
    pub reorder: f64,
    /// How long a reordered datagram is held back.
    pub reorder_delay: Duration,
    /// Bytes per second the path carries in each direction (0:
    /// unlimited, and nothing queues). On a stream link, bytes written
    /// faster queue behind each other, as in a socket buffer, so a busy
    /// link delays what follows. Datagrams wait in the sender's bounded
    /// queue of the path and are dropped when it is full
    /// ([`egress`](crate::egress)).
    pub bandwidth: u64,
}

impl Faults {
    /// A clean LAN: 1 ms one way, nothing else.
    pub const fn lan() -> Faults {
        Faults {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            bandwidth: 0,
        }
    }

    /// `self` with stream links and datagrams limited to `bytes_per_sec`
    /// each way.
    pub fn with_bandwidth(self, bytes_per_sec: u64) -> Faults {
        Faults { bandwidth: bytes_per_sec, ..self }
    }

    /// `self` with `loss`, `duplicate` and `reorder` set.
    pub fn with_loss(self, loss: f64, duplicate: f64, reorder: f64) -> Faults {
        Faults { loss, duplicate, reorder, ..self }
    }
}

impl Default for Faults {
    fn default() -> Self {
        Faults::lan()
    }
}

/// One segment.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) faults: Faults,
    /// Whether multicast / broadcast beacons reach the segment's hosts.
    pub(crate) multicast: bool,
    pub(crate) hosts: Vec<HostId>,
}

/// One host.
#[derive(Debug, Clone)]
pub(crate) struct Host {
    /// One address per segment the host is on.
    pub(crate) addrs: Vec<(SegmentId, IpAddr)>,
    /// Hosts talk only to hosts with the same partition label.
    pub(crate) label: u32,
    /// Nodes placed on this host, in order (their ports follow the order).
    pub(crate) nodes: Vec<usize>,
}

/// The address of host `host` on segment `seg`: 10.seg.(host/256).(host%256),
/// unique across the simulation.
pub(crate) fn host_ip(seg: SegmentId, host: HostId) -> IpAddr {
    let h = host.0 + 1;
    IpAddr::V4(Ipv4Addr::new(10, (seg.0 % 256) as u8, ((h / 256) % 256) as u8, (h % 256) as u8))
}
