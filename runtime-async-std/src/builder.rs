//! The builder: configuration and driver limits before start.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use netcluster_core::{Config, LinkMode, NodeId};
use netcluster_net::{BeaconMode, InterfaceSelector};

use crate::{driver, net, Error, Handle};

/// Builds and starts a node.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) config: Config,
    pub(crate) net: net::NetConfig,
    pub(crate) advertise: Option<SocketAddr>,
    pub(crate) incarnation: Option<u64>,
    pub(crate) node_id: Option<NodeId>,
    pub(crate) rng_seed: Option<u64>,
    pub(crate) opts: Options,
}

/// Driver limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) event_capacity: usize,
    pub(crate) write_queue: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) max_reads_per_wake: usize,
    pub(crate) shutdown_linger: Duration,
    pub(crate) datagram_buffer: usize,
    pub(crate) accept_queue: usize,
}

impl Builder {
    /// A node of `cluster` named `name`, with the [`Config::lan`] preset,
    /// IPv4 and IPv6 multicast beacons on every interface, and stream links
    /// on port 7400 of every address.
    pub fn new(cluster: impl Into<String>, name: impl Into<String>) -> Builder {
        Builder::with_config(Config::lan(cluster, name))
    }

    /// A node with `config` (start from [`Config::lan`] or [`Config::wan`]).
    /// Its `link_addr` gives the link port, and if its IP is specified, the
    /// advertised address; its `link_mode` the link mode; a config with
    /// `beacons` off opens no beacon socket.
    pub fn with_config(config: Config) -> Builder {
        let net = net::NetConfig {
            link_port: config.link_addr.port(),
            link_mode: config.link_mode,
            beacons: if config.beacons { BeaconMode::multicast() } else { BeaconMode::Off },
            ..net::NetConfig::default()
        };
        let advertise =
            if config.link_addr.ip().is_unspecified() { None } else { Some(config.link_addr) };
        Builder {
            config,
            net,
            advertise,
            incarnation: None,
            node_id: None,
            rng_seed: None,
            opts: Options {
                event_capacity: 1024,
                write_queue: 1024,
                connect_timeout: Duration::from_secs(5),
                max_reads_per_wake: 64,
                shutdown_linger: Duration::from_secs(2),
                datagram_buffer: 4 << 20,
                accept_queue: 64,
            },
        }
    }

    /// Changes the configuration in place (timers, limits...).
    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Builder {
        f(&mut self.config);
        self
    }

    /// Announces attribute `key` = `value`.
    pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Builder {
        self.config.headers.push((key.into(), value.into()));
        self
    }

    /// Joins `group` at start.
    pub fn group(mut self, group: impl Into<String>) -> Builder {
        self.config.groups.push(group.into());
        self
    }

    /// Adds a static seed: a link address to connect to, retried forever.
    pub fn seed(mut self, addr: SocketAddr) -> Builder {
        self.config.seeds.push(addr);
        self
    }

    /// Sends beacons on this interface (by name or address); may be called
    /// several times. Default: every interface that is up and not loopback.
    pub fn interface(mut self, sel: impl Into<InterfaceSelector>) -> Builder {
        self.net.interfaces.push(sel.into());
        self
    }

    /// Binds the unicast socket and the link port to `ip` (default
    /// `0.0.0.0`).
    pub fn bind_ip(mut self, ip: IpAddr) -> Builder {
        self.net.bind_ip = ip;
        self
    }

    /// The link port (default 7400; 0 picks a free one, see
    /// [`Handle::link_addr`]).
    pub fn link_port(mut self, port: u16) -> Builder {
        self.net.link_port = port;
        self
    }

    /// The link address peers should connect to, when it is not this host's
    /// own (NAT, port forwarding). Default: the bind address if specific,
    /// else "the source address of my beacons", with the bound link port.
    pub fn advertise(mut self, addr: SocketAddr) -> Builder {
        self.advertise = Some(addr);
        self
    }

    /// Stream (TCP, default) or datagram links.
    pub fn link_mode(mut self, mode: LinkMode) -> Builder {
        self.net.link_mode = mode;
        self.config.link_mode = mode;
        self
    }

    /// Multicast (default), broadcast or no beacons.
    pub fn beacons(mut self, mode: BeaconMode) -> Builder {
        self.net.beacons = mode;
        self
    }

    /// Multicast TTL / hop limit (default 1: the local segment).
    pub fn multicast_ttl(mut self, ttl: u32) -> Builder {
        self.net.multicast_ttl = ttl;
        self
    }

    /// The incarnation (default: the wall clock in milliseconds).
    pub fn incarnation(mut self, incarnation: u64) -> Builder {
        self.incarnation = Some(incarnation);
        self
    }

    /// The node id (default: a random UUID).
    pub fn node_id(mut self, id: NodeId) -> Builder {
        self.node_id = Some(id);
        self
    }

    /// Seed of the node's randomness (default: random).
    pub fn rng_seed(mut self, seed: u64) -> Builder {
        self.rng_seed = Some(seed);
        self
    }

    /// Events buffered per subscriber before the slowest one lags (default
    /// 1024); see [`EventStream`](crate::EventStream).
    pub fn event_capacity(mut self, n: usize) -> Builder {
        self.opts.event_capacity = n.max(1);
        self
    }

    /// Writes queued per TCP link before the link is closed as too slow
    /// (default 1024).
    pub fn write_queue(mut self, n: usize) -> Builder {
        self.opts.write_queue = n.max(1);
        self
    }

    /// Time allowed for an outgoing TCP connect (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Builder {
        self.opts.connect_timeout = d;
        self
    }

    /// Time [`Handle::shutdown`] waits for GOODBYEs to be written (default
    /// 2 s).
    pub fn shutdown_linger(mut self, d: Duration) -> Builder {
        self.opts.shutdown_linger = d;
        self
    }

    /// Streams opened by peers that wait for
    /// [`Handle::accept_stream`](crate::Handle::accept_stream) (default 64);
    /// a stream that finds the queue full is reset.
    pub fn accept_queue(mut self, n: usize) -> Builder {
        self.opts.accept_queue = n.max(1);
        self
    }

    /// Receive buffer asked of the OS for the unicast sockets in datagram
    /// link mode (default 4 MiB; the kernel may grant less, e.g. Linux caps
    /// it at `net.core.rmem_max`). A large message arrives as a burst of
    /// fragments, and what the buffer cannot hold while the node's thread
    /// waits for the CPU is lost and must be sent again. Not available with
    /// `netcluster-tokio`; 0 keeps the OS default.
    pub fn datagram_buffer(mut self, bytes: usize) -> Builder {
        self.opts.datagram_buffer = bytes;
        self
    }

    /// The configuration the node would start with (before the bound port
    /// is known).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Opens the sockets, registers them with the async-io reactor and
    /// starts the node's thread (see the [crate docs](crate) for the
    /// threading model). Works under any executor, or none.
    pub async fn start(self) -> Result<Handle, Error> {
        driver::start(self)
    }
}
