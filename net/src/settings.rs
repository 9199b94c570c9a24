//! What every driver's `Builder` collects, and the start-up every driver
//! does with it: one definition shared by the drivers, so that their
//! builders cannot drift apart.
//!
//! A driver's `Builder` holds a [`NodeSettings`] in a field named
//! `settings`, defines `fn from_settings(settings: NodeSettings) -> Self`
//! (filling its own extra options with their defaults), and expands
//! [`builder_methods!`](crate::builder_methods) inside its `impl Builder`
//! for the constructors and the setters common to every driver. Its
//! `start` calls [`NodeSettings::prepare`] to open the sockets and settle
//! the node's identity.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netcluster_core::{Config, NodeId};

use crate::{BeaconMode, NetConfig, NetError, Sockets};

/// Default of [`DriverLimits::event_capacity`].
pub const DEFAULT_EVENT_CAPACITY: usize = 1024;
/// Default of [`DriverLimits::write_queue`].
pub const DEFAULT_WRITE_QUEUE: usize = 1024;
/// Default of [`DriverLimits::write_buffer`].
pub const DEFAULT_WRITE_BUFFER: usize = 256 * 1024;
/// Default of [`DriverLimits::connect_timeout`].
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default of [`DriverLimits::max_reads_per_wake`].
pub const DEFAULT_MAX_READS_PER_WAKE: usize = 64;
/// Default of [`DriverLimits::shutdown_linger`].
pub const DEFAULT_SHUTDOWN_LINGER: Duration = Duration::from_secs(2);
/// Default of [`DriverLimits::accept_queue`].
pub const DEFAULT_ACCEPT_QUEUE: usize = 64;

/// The limits every driver enforces. The drivers' builders set them (see
/// [`builder_methods!`](crate::builder_methods)); every count is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DriverLimits {
    /// Events queued per subscriber; a full subscriber holds received
    /// messages back in the node (nothing is dropped, see [`crate::events`]).
    pub event_capacity: usize,
    /// Writes a TCP link's writer holds at most (a write is one frame, or
    /// small frames gathered up to [`GATHER`](crate::backlog::GATHER)
    /// bytes); past it (or past `write_buffer`) the engine stops pulling
    /// from the node until the writer has written half. A slow link is never closed for it: its
    /// data waits in the node's bounded link queue.
    pub write_queue: usize,
    /// Bytes a TCP link's writer holds at most (see `write_queue`). 256 KiB
    /// keeps a gigabit link busy between two wake-ups of the writer.
    pub write_buffer: usize,
    /// Time allowed for an outgoing TCP connect.
    pub connect_timeout: Duration,
    /// Reads taken from one source per wake-up before the others get their
    /// turn.
    pub max_reads_per_wake: usize,
    /// Time a shutdown waits for GOODBYEs to be written.
    pub shutdown_linger: Duration,
    /// Streams opened by peers that wait to be accepted.
    pub accept_queue: usize,
}

impl Default for DriverLimits {
    fn default() -> Self {
        DriverLimits {
            event_capacity: DEFAULT_EVENT_CAPACITY,
            write_queue: DEFAULT_WRITE_QUEUE,
            write_buffer: DEFAULT_WRITE_BUFFER,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            max_reads_per_wake: DEFAULT_MAX_READS_PER_WAKE,
            shutdown_linger: DEFAULT_SHUTDOWN_LINGER,
            accept_queue: DEFAULT_ACCEPT_QUEUE,
        }
    }
}

/// Everything a driver's `Builder` collects before start: the node's
/// configuration, the sockets to open, the node's identity where the caller
/// fixes it, and the driver limits.
#[derive(Debug, Clone)]
pub struct NodeSettings {
    /// The node's configuration.
    pub config: Config,
    /// The sockets to open.
    pub net: NetConfig,
    /// The link address to advertise instead of the one derived from the
    /// bind address.
    pub advertise: Option<SocketAddr>,
    /// The incarnation; `None`: the wall clock in milliseconds.
    pub incarnation: Option<u64>,
    /// The node id; `None`: a random UUID.
    pub node_id: Option<NodeId>,
    /// Seed of the node's randomness; `None`: random.
    pub rng_seed: Option<u64>,
    /// The driver limits.
    pub limits: DriverLimits,
}

/// A node's settings once its sockets are open: what a driver needs to
/// create the node (`Node::new(config, id, prepared.seed(), ..)`) and
/// serve it.
#[derive(Debug)]
pub struct Prepared {
    /// The configuration to start the node with: its `link_addr` is the
    /// advertised address, its `incarnation` is settled, and without beacon
    /// sockets its `beacons` and `search_on_start` are off.
    pub config: Config,
    /// The node id.
    pub id: NodeId,
    /// Seed of the node's jitter (timers, delays).
    pub rng_seed: u64,
    /// The whole seed: `rng_seed` and 32 bytes from the operating system
    /// for the node's cryptographic generator (see [`seed`](Self::seed)).
    seed: netcluster_core::Seed,
    /// The open sockets.
    pub sockets: Sockets,
    /// The local link address, with the port actually bound (what other
    /// nodes are given as a seed).
    pub link_addr: SocketAddr,
    /// The driver limits.
    pub limits: DriverLimits,
}

impl NodeSettings {
    /// Settings for `config`. Its `link_addr` gives the link port, and if
    /// its IP is specified, the advertised address; its `link_mode` the
    /// link mode; a config with `beacons` off opens no beacon socket.
    pub fn new(config: Config) -> NodeSettings {
        let net = NetConfig {
            link_port: config.link_addr.port(),
            link_mode: config.link_mode,
            beacons: if config.beacons { BeaconMode::multicast() } else { BeaconMode::Off },
            ..NetConfig::default()
        };
        let advertise =
            if config.link_addr.ip().is_unspecified() { None } else { Some(config.link_addr) };
        NodeSettings {
            config,
            net,
            advertise,
            incarnation: None,
            node_id: None,
            rng_seed: None,
            limits: DriverLimits::default(),
        }
    }

    /// Opens the sockets and settles what was left to defaults: the
    /// advertised link address (the bind address if specific, else the
    /// unspecified address of its family, which the node replaces by the
    /// source address of its beacons, with the bound link port), the
    /// incarnation, the node id and the seed. Logs the start.
    pub fn prepare(self) -> Result<Prepared, NetError> {
        let NodeSettings {
            mut config,
            net: mut netcfg,
            advertise,
            incarnation,
            node_id,
            rng_seed,
            limits,
        } = self;
        // A bad value is reported before anything is opened.
        config.validate()?;
        // The config's mode is the one the node speaks; the sockets follow it.
        netcfg.link_mode = config.link_mode;
        if !netcfg.beacons.is_on() {
            config.beacons = false;
            config.search_on_start = false;
        }
        let sockets = Sockets::open(&netcfg)?;
        let link_addr = sockets.link_addr;
        config.link_addr = advertise.unwrap_or_else(|| {
            let ip = if netcfg.bind_ip.is_unspecified() {
                match netcfg.bind_ip {
                    IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                }
            } else {
                netcfg.bind_ip
            };
            SocketAddr::new(ip, link_addr.port())
        });
        config.incarnation = incarnation.unwrap_or_else(|| {
            // A clock before 1970 still gives a valid (if low) incarnation.
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_millis() as u64)
        });
        let id = node_id.unwrap_or_else(|| NodeId(*uuid::Uuid::new_v4().as_bytes()));
        let rng_seed = rng_seed.unwrap_or_else(|| {
            let b = uuid::Uuid::new_v4().into_bytes();
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        });
        tracing::info!(
            node = %config.name,
            id = %id.as_uuid(),
            %link_addr,
            advertised = %config.link_addr,
            mode = ?config.link_mode,
            "node starting"
        );
        // The secret of the node's CSPRNG (ephemeral keys of encrypted
        // links): always drawn, so that a keyring can be set or not with
        // the same driver code.
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| NetError::Entropy(e.to_string()))?;
        let seed = netcluster_core::Seed::with_secret(rng_seed, secret);
        Ok(Prepared { config, id, rng_seed, seed, sockets, link_addr, limits })
    }
}

impl Prepared {
    /// The seed to start the node with: the jitter seed and the secret
    /// drawn from the operating system's generator (`getrandom`).
    pub fn seed(&self) -> netcluster_core::Seed {
        self.seed.clone()
    }
}

/// Expands, inside a driver's `impl Builder`, the constructors (`new`,
/// `with_config`), the setters every driver shares (configuration, sockets,
/// identity, [`DriverLimits`]) with their documentation, and `config`.
///
/// The `Builder` must hold a [`NodeSettings`] in a field named `settings`
/// and define `fn from_settings(settings: NodeSettings) -> Self`. The driver
/// names its event subscriber type for the docs (`events = "EventStream"`,
/// a path from the driver's crate root); it must also have a `Handle` at
/// its crate root with `link_addr`, `shutdown` and `accept_stream`.
///
/// ```
/// use netcluster_net::NodeSettings;
///
/// pub struct Builder {
///     settings: NodeSettings,
/// }
///
/// impl Builder {
///     fn from_settings(settings: NodeSettings) -> Builder {
///         Builder { settings }
///     }
///
///     netcluster_net::builder_methods!(events = "EventStream");
/// }
///
/// let b = Builder::new("demo", "node-a").group("workers").write_queue(0);
/// assert_eq!(b.config().groups, ["workers"]);
/// assert_eq!(b.settings.limits.write_queue, 1);
/// ```
#[macro_export]
macro_rules! builder_methods {
    (events = $events:literal) => {
        /// A node of `cluster` named `name`, with the
        /// [`Config::lan`](crate::Config::lan) preset, IPv4 and
        /// IPv6 multicast beacons on every interface, and stream links on
        /// port 7400 of every address.
        pub fn new(cluster: impl Into<String>, name: impl Into<String>) -> Self {
            Self::with_config($crate::__core::Config::lan(cluster, name))
        }

        /// A node with `config` (start from
        /// [`Config::lan`](crate::Config::lan) or
        /// [`Config::wan`](crate::Config::wan)). Its `link_addr`
        /// gives the link port, and if its IP is specified, the advertised
        /// address; its `link_mode` the link mode; a config with `beacons`
        /// off opens no beacon socket.
        pub fn with_config(config: $crate::__core::Config) -> Self {
            Self::from_settings($crate::NodeSettings::new(config))
        }

        /// Changes the configuration in place (timers, limits...).
        pub fn configure(mut self, f: impl FnOnce(&mut $crate::__core::Config)) -> Self {
            f(&mut self.settings.config);
            self
        }

        /// Announces attribute `key` = `value`.
        pub fn header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.settings.config.headers.push((key.into(), value.into()));
            self
        }

        /// Joins `group` at start.
        pub fn group(mut self, group: impl Into<String>) -> Self {
            self.settings.config.groups.push(group.into());
            self
        }

        /// Adds a static seed: a link address to connect to, retried
        /// forever.
        pub fn seed(mut self, addr: ::std::net::SocketAddr) -> Self {
            self.settings.config.seeds.push(addr);
            self
        }

        /// Sends beacons on this interface (by name or address); may be
        /// called several times. Default: every interface that is up and
        /// not loopback.
        pub fn interface(mut self, sel: impl Into<$crate::InterfaceSelector>) -> Self {
            self.settings.net.interfaces.push(sel.into());
            self
        }

        /// Binds the unicast socket and the link port to `ip` (default
        /// `0.0.0.0`).
        pub fn bind_ip(mut self, ip: ::std::net::IpAddr) -> Self {
            self.settings.net.bind_ip = ip;
            self
        }

        /// The link port (default 7400; 0 picks a free one, see
        /// [`Handle::link_addr`](crate::Handle::link_addr)).
        pub fn link_port(mut self, port: u16) -> Self {
            self.settings.net.link_port = port;
            self
        }

        /// The link address peers should connect to, when it is not this
        /// host's own (NAT, port forwarding). Default: the bind address if
        /// specific, else "the source address of my beacons", with the
        /// bound link port.
        pub fn advertise(mut self, addr: ::std::net::SocketAddr) -> Self {
            self.settings.advertise = Some(addr);
            self
        }

        /// Stream (TCP, default) or datagram links.
        pub fn link_mode(mut self, mode: $crate::LinkMode) -> Self {
            self.settings.net.link_mode = mode;
            self.settings.config.link_mode = mode;
            self
        }

        /// Multicast (default), broadcast or no beacons.
        pub fn beacons(mut self, mode: $crate::BeaconMode) -> Self {
            self.settings.net.beacons = mode;
            self
        }

        /// Multicast TTL / hop limit (default 1: the local segment).
        pub fn multicast_ttl(mut self, ttl: u32) -> Self {
            self.settings.net.multicast_ttl = ttl;
            self
        }

        /// The incarnation (default: the wall clock in milliseconds).
        pub fn incarnation(mut self, incarnation: u64) -> Self {
            self.settings.incarnation = Some(incarnation);
            self
        }

        /// The node id (default: a random UUID).
        pub fn node_id(mut self, id: $crate::__core::NodeId) -> Self {
            self.settings.node_id = Some(id);
            self
        }

        /// Seed of the node's randomness (default: random).
        pub fn rng_seed(mut self, seed: u64) -> Self {
            self.settings.rng_seed = Some(seed);
            self
        }

        /// Cluster keys (default: none, discovery and links in clear):
        /// discovery is then signed with the primary key and only
        /// authentic, fresh announcements are believed, and every link
        /// runs a Noise handshake (`Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s`)
        /// and seals every frame after it (see `docs/SECURITY.md`). Read a
        /// keyring file with `netcluster_net::keyfile::load_keyring`.
        pub fn keyring(mut self, keyring: $crate::__core::auth::Keyring) -> Self {
            self.settings.config.keyring = Some(keyring);
            self
        }

        /// Events queued per subscriber (default 1024); while one is full,
        /// received messages wait in the node and their senders are held
        /// back, nothing is dropped; see
        #[doc = concat!("[`", $events, "`](crate::", $events, ").")]
        pub fn event_capacity(mut self, n: usize) -> Self {
            self.settings.limits.event_capacity = n.max(1);
            self
        }

        /// Writes (frames, or small frames gathered) a TCP link's writer
        /// holds at most before the node keeps
        /// the rest (default 1024); a slow link slows its senders and is
        /// never closed for it.
        pub fn write_queue(mut self, n: usize) -> Self {
            self.settings.limits.write_queue = n.max(1);
            self
        }

        /// Bytes a TCP link's writer holds at most before the node keeps
        /// the rest (default 256 KiB).
        pub fn write_buffer(mut self, bytes: usize) -> Self {
            self.settings.limits.write_buffer = bytes.max(1);
            self
        }

        /// Reads (datagrams, accepted connections, link reads) taken from
        /// one source per wake-up before the others get their turn
        /// (default 64).
        pub fn max_reads_per_wake(mut self, n: usize) -> Self {
            self.settings.limits.max_reads_per_wake = n.max(1);
            self
        }

        /// Time allowed for an outgoing TCP connect (default 5 s).
        pub fn connect_timeout(mut self, d: ::std::time::Duration) -> Self {
            self.settings.limits.connect_timeout = d;
            self
        }

        /// Time [`Handle::shutdown`](crate::Handle::shutdown) waits for
        /// GOODBYEs to be written (default 2 s).
        pub fn shutdown_linger(mut self, d: ::std::time::Duration) -> Self {
            self.settings.limits.shutdown_linger = d;
            self
        }

        /// Streams opened by peers that wait for
        /// [`Handle::accept_stream`](crate::Handle::accept_stream)
        /// (default 64); a stream that finds the queue full is reset and a
        /// warning logged.
        pub fn accept_queue(mut self, n: usize) -> Self {
            self.settings.limits.accept_queue = n.max(1);
            self
        }

        /// The configuration the node would start with (before the bound
        /// port is known).
        pub fn config(&self) -> &$crate::__core::Config {
            &self.settings.config
        }
    };
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::{InterfaceSelector, LinkMode};

    /// A builder as a driver makes one, to check the expanded methods.
    #[derive(Debug)]
    struct Builder {
        settings: NodeSettings,
    }

    impl Builder {
        fn from_settings(settings: NodeSettings) -> Builder {
            Builder { settings }
        }

        crate::builder_methods!(events = "Events");
    }

    #[test]
    fn setters_fill_the_settings() {
        let seed: SocketAddr = "192.0.2.1:7400".parse().unwrap();
        let b = Builder::new("c", "n")
            .group("g")
            .header("k", "v")
            .seed(seed)
            .link_mode(LinkMode::Datagram)
            .beacons(BeaconMode::Off)
            .link_port(0)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .interface("lo")
            .multicast_ttl(4)
            .incarnation(7)
            .node_id(NodeId([3; 16]))
            .rng_seed(11)
            .keyring(netcluster_core::auth::Keyring::new([9; 32]))
            .event_capacity(0)
            .write_queue(5)
            .write_buffer(7)
            .max_reads_per_wake(6)
            .accept_queue(0)
            .connect_timeout(Duration::from_millis(300))
            .shutdown_linger(Duration::from_millis(400))
            .configure(|c| c.max_groups = 3);
        let s = &b.settings;
        assert_eq!(b.config().groups, vec!["g".to_string()]);
        assert_eq!(s.config.headers, vec![("k".to_string(), "v".to_string())]);
        assert_eq!(s.config.seeds, vec![seed]);
        assert_eq!(s.config.max_groups, 3);
        assert_eq!((s.config.link_mode, s.net.link_mode), (LinkMode::Datagram, LinkMode::Datagram));
        assert_eq!(s.net.beacons, BeaconMode::Off);
        assert_eq!(s.net.interfaces, vec![InterfaceSelector::from("lo")]);
        assert_eq!(
            (s.net.bind_ip, s.net.link_port, s.net.multicast_ttl),
            (Ipv4Addr::LOCALHOST.into(), 0, 4)
        );
        assert_eq!(
            (s.incarnation, s.node_id, s.rng_seed),
            (Some(7), Some(NodeId([3; 16])), Some(11))
        );
        assert_eq!(s.config.keyring, Some(netcluster_core::auth::Keyring::new([9; 32])));
        let l = s.limits;
        assert_eq!((l.event_capacity, l.accept_queue), (1, 1), "counts are at least 1");
        assert_eq!((l.write_queue, l.write_buffer, l.max_reads_per_wake), (5, 7, 6));
        assert_eq!(l.connect_timeout, Duration::from_millis(300));
        assert_eq!(l.shutdown_linger, Duration::from_millis(400));
    }

    #[test]
    fn a_specific_config_address_is_advertised() {
        let mut config = Config::lan("c", "n");
        config.link_addr = "198.51.100.7:7500".parse().unwrap();
        let s = NodeSettings::new(config);
        assert_eq!(s.advertise, Some("198.51.100.7:7500".parse().unwrap()));
        assert_eq!(s.net.link_port, 7500);
        assert_eq!(NodeSettings::new(Config::lan("c", "n")).advertise, None);
    }

    #[test]
    fn prepare_settles_address_identity_and_beacons() {
        let b = Builder::new("c", "n")
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off);
        let p = b.settings.prepare().unwrap();
        assert_ne!(p.link_addr.port(), 0, "the bound port is known");
        assert_eq!(p.config.link_addr, p.link_addr, "a specific bind address is advertised");
        assert!(!p.config.beacons && !p.config.search_on_start, "no beacon socket, no beacons");
        assert!(p.sockets.listener.is_some());
        assert!(p.config.incarnation > 1, "the wall clock is the incarnation");
        let other = Builder::new("c", "n")
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
            .settings
            .prepare()
            .unwrap();
        assert_ne!(p.id, other.id, "ids are random");
    }

    #[test]
    fn prepare_keeps_what_the_caller_fixed() {
        let advertised: SocketAddr = "203.0.113.5:9000".parse().unwrap();
        let p = Builder::new("c", "n")
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
            .advertise(advertised)
            .incarnation(42)
            .node_id(NodeId([5; 16]))
            .rng_seed(99)
            .settings
            .prepare()
            .unwrap();
        assert_eq!(p.config.link_addr, advertised);
        assert_eq!((p.config.incarnation, p.id, p.rng_seed), (42, NodeId([5; 16]), 99));
    }

    #[test]
    fn a_wildcard_bind_advertises_the_unspecified_address_with_the_bound_port() {
        let p = Builder::new("c", "n").link_port(0).beacons(BeaconMode::Off).settings.prepare();
        let p = p.unwrap();
        assert!(p.config.link_addr.ip().is_unspecified());
        assert_eq!(p.config.link_addr.port(), p.link_addr.port());
    }
}
