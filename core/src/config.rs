//! Node configuration, with presets for a LAN and for a WAN.
//!
//! Every default below says why it is what it is. Start from
//! [`Config::lan`] or [`Config::wan`] and change what your network needs.

use alloc::string::String;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddr};
use core::time::Duration;

use crate::auth::Keyring;
use crate::wire::{Limits, VersionRanges};

/// Longest group name or header key, in bytes (the wire's `str8`).
pub const MAX_NAME_BYTES: usize = 255;
/// Longest header value, in bytes (the wire's `str16`).
pub const MAX_HEADER_VALUE_BYTES: usize = u16::MAX as usize;

/// How links between neighbours are carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkMode {
    /// A reliable ordered byte stream per link (TCP in the drivers): the
    /// driver connects, the core writes frames into it.
    Stream,
    /// Link frames travel as individual datagrams to the peer's link
    /// address; the core handles loss and reordering itself.
    Datagram,
}

/// Node configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Cluster (application mesh) name. Nodes of other clusters are ignored:
    /// their beacons are dropped by hash, their HELLOs rejected by name.
    pub cluster: String,
    /// This node's human-readable name (not unique; ids are).
    pub name: String,
    /// Key/value attributes announced to every peer.
    pub headers: Vec<(String, String)>,
    /// Groups joined at start.
    pub groups: Vec<String>,
    /// The address peers should open links to. An unspecified IP (the
    /// default, `0.0.0.0:7400`) tells receivers to use the source address of
    /// our beacons, which is right whenever the node is not behind NAT.
    pub link_addr: SocketAddr,
    /// Stream links (TCP) by default: the kernel then does loss recovery and
    /// flow control per link.
    pub link_mode: LinkMode,
    /// Incarnation of this process: must grow across restarts of a node that
    /// keeps its id (drivers use the wall clock in milliseconds), so that
    /// peers replace, rather than duplicate, the old instance.
    pub incarnation: u64,

    /// Send beacons at all. Off for networks without multicast or broadcast,
    /// where seeds, the tracker or DNS do discovery.
    pub beacons: bool,
    /// Shortest gap between beacons. 1 s on a LAN: a new or healed segment
    /// is found within about a second.
    pub beacon_min_interval: Duration,
    /// Longest gap between beacons. 60 s bounds how long a partition of a
    /// large segment can go unnoticed by multicast alone.
    pub beacon_max_interval: Duration,
    /// Beacons a node should receive per second from the whole segment; each
    /// node spaces its beacons by `peers / rate`, so the load per node stays
    /// flat as the segment grows. 5/s keeps beacon traffic small next to
    /// keepalives while healing a 20-node partition within ~4 s.
    pub beacon_rx_per_sec: u32,
    /// Random spread applied to each beacon gap (fraction of the gap, 0..1),
    /// so nodes started together do not beacon in lockstep.
    pub beacon_jitter: f32,
    /// Send SEARCH at start. A new node then hears from everyone at once,
    /// without waiting for beacons.
    pub search_on_start: bool,
    /// Longest random delay before answering a SEARCH with NOTIFY: answers
    /// from a large segment spread over this window instead of arriving in
    /// one burst. 100 ms keeps 50 answers under ~3 per millisecond.
    pub notify_max_delay: Duration,
    /// NOTIFY answers allowed in a burst (token bucket size). A SEARCH comes
    /// from a stranger, so answers are rate-limited: no input can make the
    /// node send without bound.
    pub notify_burst: u32,
    /// Steady NOTIFY rate (tokens per second).
    pub notify_per_sec: u32,
    /// How long a node heard only through discovery (beacon, NOTIFY,
    /// SEARCH) stays a link candidate without being heard again. Three
    /// times the longest beacon gap, so two lost beacons do not forget it.
    pub candidate_ttl: Duration,

    /// Static seeds: addresses to open links to, retried forever.
    pub seeds: Vec<SocketAddr>,
    /// First retry delay after a failed link attempt to a seed or peer.
    /// 200 ms: fast enough to join a seed that just came up.
    pub retry_min: Duration,
    /// Largest retry delay (exponential backoff caps here). 5 s on a LAN, so
    /// a seed that appears late is joined within seconds; partitions heal
    /// on the next attempt.
    pub retry_max: Duration,

    /// Idle time on a link before this side pings. 1.4 s with `count` 2
    /// gives a crash detection bound of 2.8 s while one ping and one pong
    /// per link per interval keep steady traffic near 2 frames per node per
    /// second on a degree-3 overlay.
    pub keepalive_interval: Duration,
    /// A link is closed after `count` intervals with nothing received.
    /// Liveness is end to end (a node is up while any route reaches it), so
    /// one falsely closed link does not make a peer look down.
    pub keepalive_count: u8,
    /// Time allowed from connect to WELCOME. 5 s: generous for a slow peer,
    /// short enough that a silent half-open peer is retried soon.
    pub handshake_timeout: Duration,

    /// Up to this many known nodes, link to every one (full mesh). Beyond it
    /// the overlay is a ring in id order plus chords, which keeps the degree
    /// near 3 whatever the size.
    pub full_mesh_max: usize,
    /// Share of nodes, in percent, that take part in the chord matching:
    /// beyond its two ring neighbours each taking part is paired with one
    /// other (a chord), matched by a hash of the ids. 50 gives an average
    /// degree of 2.5 on a clean network: a short diameter at the lowest
    /// keepalive cost (one PING and one PONG per link per interval, under
    /// 2 messages per node per second). A lossy network adds chords by
    /// itself (see the overlay), so low degree costs no false "down".
    pub chord_percent: u8,
    /// Most links, incoming included. Past it, HELLOs are rejected with
    /// reason LIMIT.
    pub max_links: usize,
    /// Most nodes tracked (candidates plus routing database).
    pub max_peers: usize,
    /// Most groups this node may join, and most groups accepted per peer.
    pub max_groups: usize,

    /// Minimum gap between two originations of this node's LSA: changes
    /// made within it are sent together. 20 ms lets a burst of link changes
    /// at start-up cost one flood instead of many.
    pub lsa_min_interval: Duration,
    /// Refresh period of this node's LSA. 30 min, as in OSPF: liveness does
    /// not depend on refreshes, only the database's self-cleaning does.
    pub lsa_refresh: Duration,
    /// LSAs not refreshed within this age are dropped (twice the refresh).
    pub lsa_max_age: Duration,
    /// How long the routing entry of an unreachable node is kept, so that a
    /// quick return needs no new flood. Bounded memory either way.
    pub unreachable_hold: Duration,
    /// Delay between a routing change and the SPF run, so that a burst of
    /// LSAs costs one computation.
    pub spf_delay: Duration,

    /// Messages in flight (sent, not yet acknowledged) per destination and
    /// channel. Past it `send` refuses with `WouldBlock` and an event says
    /// when there is room again: a slow or gone destination costs bounded
    /// memory (about 100 bytes a message beside its payload). 1,024: small
    /// messages travel bundled, and at a million a second a loaded round
    /// trip of a few hundred microseconds holds several hundred of them in
    /// flight; 256 halved 8-byte throughput on loopback, 4,096 gained
    /// nothing more (PERFORMANCE.md).
    pub send_window: usize,
    /// Payload bytes in flight per destination and channel (a message
    /// larger than this still goes, alone). 4 MiB: the window of 256
    /// messages holds for messages up to 16 KiB, while 64 KiB messages are
    /// held to 64 in flight, so a queue of them cannot grow to tens of
    /// megabytes and inflate round trips past the retransmission timeout;
    /// on loopback 4 MiB moved 64 KiB messages 1.6 times faster than 1 MiB.
    pub send_window_bytes: usize,
    /// End-to-end congestion control: a window per destination that
    /// is cut by congestion marks (in proportion to how much is marked) and
    /// halved by losses (PROTOCOL 7.15). On by default;
    /// off, only `send_window` and `send_window_bytes` hold senders back.
    pub congestion_control: bool,
    /// DATA bytes queued at most for one stream link until the driver
    /// pulls them; past it forwarded DATA is dropped (and counted) and
    /// local sends through the link are refused with `WouldBlock`. 2 MiB:
    /// half a send window of 64 KiB messages, a few milliseconds of a
    /// gigabit link.
    pub link_queue_bytes: usize,
    /// Queued DATA bytes past which a link marks the DATA it queues
    /// (congestion experienced), so that sources slow down before anything
    /// is dropped. 256 KiB: an eighth of the bound, enough to keep a link
    /// busy between two pulls of the driver.
    pub link_queue_mark: usize,
    /// How long a reliable message may go unacknowledged before it is
    /// reported failed. 30 s on a LAN: many route repairs fit in it, and
    /// even a path of several very lossy hops delivers within it.
    pub delivery_timeout: Duration,
    /// Largest payload in one DATA frame; larger messages are fragmented.
    /// 64 KiB on stream links: a message up to that size travels whole and
    /// is delivered as a slice of the receive buffer, with no reassembly
    /// copy, and an urgent message waits behind at most one such frame
    /// (half a millisecond at a gigabit). Datagram links use at most 1,100
    /// bytes so a frame fits a 1,280-byte IPv6 datagram; stream segments
    /// are at most 8 KiB.
    pub fragment_size: usize,
    /// Largest message `send` accepts (16 MiB).
    pub max_message: usize,
    /// Reassembly memory per source node (4 MiB): fragments past it are
    /// dropped and retransmitted later.
    pub reassembly_per_peer: usize,
    /// Reassembly memory over all sources (32 MiB).
    pub reassembly_total: usize,
    /// First retransmission timeout, before any round trip is measured.
    pub rto_initial: Duration,
    /// Smallest retransmission timeout. 20 ms on a LAN: round trips are a
    /// few milliseconds.
    pub rto_min: Duration,
    /// Largest retransmission timeout (after backoff).
    pub rto_max: Duration,

    /// Streams open at once (both directions together); an incoming stream
    /// past it is refused with RST. 1,024 bounds stream memory at about
    /// `max_streams` x (`stream_send_buffer` + `stream_window` segments).
    pub max_streams: usize,
    /// Bytes a stream buffers for sending before `stream_write` accepts
    /// less than offered (then `WouldBlock`, then `StreamWritable`). 256 KiB
    /// keeps a LAN path full between the application's writes.
    pub stream_send_buffer: usize,
    /// Segments (each at most 8 KiB, or `fragment_size` if smaller) a
    /// stream's receiver buffers for the application: the flow-control
    /// window it advertises.
    /// 64: a reader that stops reading holds the sender to 512 KiB on a
    /// stream link, 70 KiB on a datagram link.
    pub stream_window: usize,
    /// Pings awaiting their pong; past it the oldest is forgotten (its pong,
    /// if it ever comes, is ignored).
    pub max_pings: usize,
    /// Received messages the node holds for the application before it
    /// refuses more: the bound of its inbox. While the inbox is full,
    /// reliable and sequenced DATA is refused unacknowledged with a zero
    /// window in the ACK, so the sender holds back and retransmits later
    /// (a slow reader slows its senders, nothing is lost); datagrams are
    /// dropped and counted. 4,096 messages absorb a reader's pause of a few
    /// milliseconds at a million messages a second while bounding memory.
    pub inbox_messages: usize,
    /// Payload bytes the inbox holds (a message larger than this still
    /// enters an empty inbox). 16 MiB: 256 messages of 64 KiB.
    pub inbox_bytes: usize,
    /// LSA datagrams (first sends and retransmissions together) a node
    /// sends on datagram links in any 100 ms; the rest wait, one per
    /// origin per link (a newer LSA replaces a queued older one). 1,000:
    /// ten thousand datagrams a second at most, which any host sends and
    /// reads without trouble, and enough for a thousand nodes started at
    /// once to reach nearly everyone within a second (in the simulator,
    /// with Linux's default receive buffers). Stream links are not paced
    /// (TCP is).
    pub lsa_budget: u32,
    /// How long a received LSA waits for its LSA_ACK on a datagram link,
    /// so that the LSAs of a burst are acknowledged together (up to 32
    /// keys a datagram). 10 ms: far below the 300 ms retransmission gap.
    pub lsa_ack_delay: Duration,
    /// Longest gap SPF keeps between runs while LSAs keep coming. After a
    /// quiet spell SPF runs `spf_delay` after a change; each run that comes
    /// soon after the previous one doubles the gap before the next, up to
    /// this (as OSPF's SPF throttling does). 100 ms: a whole mesh starting
    /// at once costs each node about ten SPF runs a second instead of
    /// hundreds, and a single failure in a quiet mesh is still routed
    /// around `spf_delay` after it is known.
    pub spf_max_hold: Duration,
    /// A node's first beacon and its start-up SEARCH go at a random moment
    /// within this of its start, as mDNS delays its first query, so that
    /// nodes started together do not all announce in the same instant.
    /// 0 (at once) by default: in the simulator a thousand nodes spread
    /// over 50 ms converged slower than when started together, since peers
    /// found one by one reshape the overlay many times.
    pub startup_jitter: Duration,

    /// How long a peer must stay unreachable before it is reported down
    /// (timed out). 200 ms absorbs a route that breaks and repairs at once
    /// (a link flapping under loss) while keeping crash detection under 3 s.
    pub down_hold: Duration,

    /// Decoding limits for every frame received.
    pub limits: Limits,
    /// Most bytes of an incomplete frame buffered for a link (one frame
    /// plus slack); past it the link is closed. Whole frames handed in
    /// together are not buffered and do not count.
    pub max_link_buffer: usize,
    /// Versions offered for each sub-protocol. Defaults to what this build
    /// speaks; tests change it to model other versions.
    pub versions: VersionRanges,

    /// Cluster keys. `None` (the default): discovery is sent and believed
    /// in clear, as every node without a key does, so that a cluster works
    /// with no setup on a trusted network. With a keyring, every discovery
    /// frame this node sends is signed with the primary key and carries a
    /// replay counter, and only discovery frames that verify with one of
    /// the keys and are fresh are believed; the rest are dropped and
    /// counted, unanswered (PROTOCOL 12, `docs/SECURITY.md`). Links are not
    /// authenticated by it yet.
    pub keyring: Option<Keyring>,
}

impl Config {
    /// A configuration for a LAN: multicast beacons, quick detection.
    pub fn lan(cluster: impl Into<String>, name: impl Into<String>) -> Config {
        Config {
            cluster: cluster.into(),
            name: name.into(),
            headers: Vec::new(),
            groups: Vec::new(),
            link_addr: SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 7400),
            link_mode: LinkMode::Stream,
            incarnation: 1,
            beacons: true,
            beacon_min_interval: Duration::from_secs(1),
            beacon_max_interval: Duration::from_secs(60),
            beacon_rx_per_sec: 5,
            beacon_jitter: 0.25,
            search_on_start: true,
            notify_max_delay: Duration::from_millis(100),
            notify_burst: 64,
            notify_per_sec: 32,
            candidate_ttl: Duration::from_secs(180),
            seeds: Vec::new(),
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(5),
            keepalive_interval: Duration::from_millis(1400),
            keepalive_count: 2,
            handshake_timeout: Duration::from_secs(5),
            full_mesh_max: 8,
            chord_percent: 50,
            max_links: 32,
            max_peers: 4096,
            max_groups: 256,
            lsa_min_interval: Duration::from_millis(20),
            lsa_refresh: Duration::from_secs(1800),
            lsa_max_age: Duration::from_secs(3600),
            unreachable_hold: Duration::from_secs(60),
            spf_delay: Duration::from_millis(2),
            down_hold: Duration::from_millis(200),
            send_window: 1024,
            send_window_bytes: 4 << 20,
            congestion_control: true,
            link_queue_bytes: 2 << 20,
            link_queue_mark: 256 << 10,
            delivery_timeout: Duration::from_secs(30),
            fragment_size: 64 * 1024,
            max_message: 16 << 20,
            reassembly_per_peer: 4 << 20,
            reassembly_total: 32 << 20,
            rto_initial: Duration::from_millis(200),
            rto_min: Duration::from_millis(20),
            rto_max: Duration::from_secs(1),
            max_streams: 1024,
            stream_send_buffer: 256 * 1024,
            stream_window: 64,
            max_pings: 1024,
            inbox_messages: 4096,
            inbox_bytes: 16 << 20,
            lsa_budget: 1000,
            lsa_ack_delay: Duration::from_millis(10),
            spf_max_hold: Duration::from_millis(100),
            startup_jitter: Duration::ZERO,
            limits: Limits::DEFAULT,
            max_link_buffer: Limits::DEFAULT.max_frame + 64 * 1024,
            versions: VersionRanges::supported(),
            keyring: None,
        }
    }

    /// A configuration for a WAN or the internet: no beacons (seeds, tracker
    /// or DNS instead), slower keepalive tolerant of long round trips and
    /// jitter, slower retries.
    pub fn wan(cluster: impl Into<String>, name: impl Into<String>) -> Config {
        Config {
            beacons: false,
            search_on_start: false,
            retry_min: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(5),
            keepalive_count: 3,
            handshake_timeout: Duration::from_secs(15),
            full_mesh_max: 4,
            lsa_min_interval: Duration::from_millis(200),
            spf_delay: Duration::from_millis(20),
            delivery_timeout: Duration::from_secs(60),
            down_hold: Duration::from_secs(1),
            rto_initial: Duration::from_secs(1),
            rto_min: Duration::from_millis(200),
            rto_max: Duration::from_secs(10),
            ..Config::lan(cluster, name)
        }
    }
}

/// A configuration field outside its allowed range: what
/// [`Config::validate`] reports. Nothing was started with it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigError {
    /// The field, as named in [`Config`].
    pub field: &'static str,
    /// What it may be.
    pub allowed: &'static str,
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "invalid configuration: `{}` must be {}", self.field, self.allowed)
    }
}

impl core::error::Error for ConfigError {}

impl Config {
    /// Checks every field against its allowed range; the first one outside
    /// it is named in the error. Drivers call it before they start a node,
    /// so a bad value is reported instead of being worked around.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = Duration::ZERO;
        let groups_ok = self.groups.len() <= self.max_groups
            && self.groups.iter().all(|g| g.len() <= MAX_NAME_BYTES);
        let headers_ok = self
            .headers
            .iter()
            .all(|(k, v)| k.len() <= MAX_NAME_BYTES && v.len() <= MAX_HEADER_VALUE_BYTES);
        let checks: [(bool, &'static str, &'static str); 33] = [
            (groups_ok, "groups", "at most max_groups groups, each name at most 255 bytes"),
            (headers_ok, "headers", "keys of at most 255 bytes, values of at most 65,535 bytes"),
            (!self.cluster.is_empty() && self.cluster.len() <= 255, "cluster", "1 to 255 bytes"),
            (self.beacon_min_interval > zero, "beacon_min_interval", "more than zero"),
            (
                self.beacon_max_interval >= self.beacon_min_interval,
                "beacon_max_interval",
                "at least beacon_min_interval",
            ),
            (self.beacon_rx_per_sec >= 1, "beacon_rx_per_sec", "at least 1"),
            ((0.0..=1.0).contains(&self.beacon_jitter), "beacon_jitter", "between 0 and 1"),
            (self.retry_min > zero, "retry_min", "more than zero"),
            (self.retry_max >= self.retry_min, "retry_max", "at least retry_min"),
            (self.keepalive_interval > zero, "keepalive_interval", "more than zero"),
            (self.keepalive_count >= 1, "keepalive_count", "at least 1"),
            (self.handshake_timeout > zero, "handshake_timeout", "more than zero"),
            (self.chord_percent <= 100, "chord_percent", "at most 100"),
            (self.max_links >= 1, "max_links", "at least 1"),
            (self.max_peers >= 1, "max_peers", "at least 1"),
            (self.lsa_refresh < self.lsa_max_age, "lsa_refresh", "less than lsa_max_age"),
            (self.spf_max_hold >= self.spf_delay, "spf_max_hold", "at least spf_delay"),
            (self.send_window >= 1, "send_window", "at least 1"),
            (self.send_window_bytes >= 1, "send_window_bytes", "at least 1"),
            (self.delivery_timeout > zero, "delivery_timeout", "more than zero"),
            (self.link_queue_bytes >= 1, "link_queue_bytes", "at least 1"),
            (
                self.link_queue_mark <= self.link_queue_bytes,
                "link_queue_mark",
                "at most link_queue_bytes",
            ),
            (self.fragment_size >= 64, "fragment_size", "at least 64"),
            (
                self.fragment_size + 1024 <= self.limits.max_frame,
                "fragment_size",
                "at most limits.max_frame - 1,024 (room for the header and route)",
            ),
            (self.max_message >= 1, "max_message", "at least 1"),
            (self.rto_min > zero, "rto_min", "more than zero"),
            (
                self.rto_min <= self.rto_initial && self.rto_initial <= self.rto_max,
                "rto_initial",
                "between rto_min and rto_max",
            ),
            (self.max_streams >= 1, "max_streams", "at least 1"),
            (self.stream_window >= 1, "stream_window", "at least 1"),
            (self.max_pings >= 1, "max_pings", "at least 1"),
            (
                self.inbox_messages >= 1 && self.inbox_bytes >= 1,
                "inbox_messages",
                "at least 1 (and inbox_bytes too)",
            ),
            (self.lsa_budget >= 2, "lsa_budget", "at least 2"),
            (
                self.keyring.is_none()
                    || self.limits.max_frame >= crate::wire::link::SEALED_MAX_CIPHERTEXT + 18,
                "limits",
                "max_frame at least 65,553 with a keyring (a whole SEALED record)",
            ),
        ];
        match checks.into_iter().find(|(ok, _, _)| !ok) {
            Some((_, field, allowed)) => Err(ConfigError { field, allowed }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod validate_tests {
    use super::*;

    #[test]
    fn the_presets_are_valid() {
        assert_eq!(Config::lan("c", "n").validate(), Ok(()));
        assert_eq!(Config::wan("c", "n").validate(), Ok(()));
    }

    #[test]
    fn a_bad_value_is_named_with_its_range() {
        let mut c = Config::lan("c", "n");
        c.keepalive_count = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(e.field, "keepalive_count");
        assert!(alloc::format!("{e}").contains("at least 1"), "{e}");
        let mut c = Config::lan("c", "n");
        c.fragment_size = 16;
        assert_eq!(c.validate().unwrap_err().field, "fragment_size");
        let mut c = Config::lan("c", "n");
        c.rto_min = Duration::from_secs(5);
        assert_eq!(c.validate().unwrap_err().field, "rto_initial");
    }

    #[test]
    fn groups_and_headers_that_the_wire_cannot_carry_are_refused() {
        use alloc::string::ToString;
        let long = "x".repeat(MAX_NAME_BYTES + 1);
        let mut c = Config::lan("c", "n");
        c.groups = alloc::vec![long.clone()];
        assert_eq!(c.validate().unwrap_err().field, "groups");
        let mut c = Config::lan("c", "n");
        c.max_groups = 1;
        c.groups = alloc::vec!["a".to_string(), "b".to_string()];
        assert_eq!(c.validate().unwrap_err().field, "groups");
        let mut c = Config::lan("c", "n");
        c.headers = alloc::vec![(long, "v".to_string())];
        assert_eq!(c.validate().unwrap_err().field, "headers");
        let mut c = Config::lan("c", "n");
        c.headers = alloc::vec![("k".to_string(), "v".repeat(MAX_HEADER_VALUE_BYTES + 1))];
        assert_eq!(c.validate().unwrap_err().field, "headers");
        c.headers = alloc::vec![("k".to_string(), "v".repeat(MAX_HEADER_VALUE_BYTES))];
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn a_node_is_not_made_from_an_invalid_config() {
        let mut c = Config::lan("c", "n");
        c.beacon_jitter = 1.5;
        let made = crate::Node::new(c, crate::NodeId([1; 16]), 1, crate::Instant::ZERO);
        assert_eq!(made.err().map(|e| e.field), Some("beacon_jitter"));
    }

    #[test]
    fn a_header_value_the_wire_cannot_carry_is_refused_and_changes_nothing() {
        let t = crate::Instant::ZERO;
        let c = Config::lan("c", "n");
        let mut node = crate::Node::new(c, crate::NodeId([1; 16]), 1, t).unwrap();
        let long = "v".repeat(MAX_HEADER_VALUE_BYTES + 1);
        let refused = node.set_header(t, "k", Some(&long));
        assert_eq!(refused, Err(crate::node::CommandError::ValueTooLong));
        assert_eq!(node.set_header(t, "k", Some("fits")), Ok(()));
    }
}
