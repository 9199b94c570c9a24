//! The sans-IO node: discovery, links, keepalive, link-state routing and
//! membership in one state machine.
//!
//! # The calling rule
//!
//! A [`Node`] is driven by its caller (a driver or the simulator) in one
//! loop, and only this loop:
//!
//! 1. feed **one input**: [`handle_datagram`](Node::handle_datagram),
//!    [`link_accepted`](Node::link_accepted),
//!    [`link_connected`](Node::link_connected),
//!    [`handle_link_data`](Node::handle_link_data),
//!    [`link_closed`](Node::link_closed),
//!    [`handle_timeout`](Node::handle_timeout), or a command
//!    ([`join`](Node::join), [`leave`](Node::leave),
//!    [`set_state`](Node::set_state), [`set_header`](Node::set_header),
//!    [`add_seed`](Node::add_seed), [`send`](Node::send),
//!    [`shout`](Node::shout), [`ping`](Node::ping),
//!    [`open_stream`](Node::open_stream), the `stream_*` calls,
//!    [`shutdown`](Node::shutdown));
//! 2. **drain every output**: [`poll_transmit`](Node::poll_transmit) until
//!    `None` (carry each out, in order; for `Ready`, pull the link's frames
//!    with [`poll_link`](Node::poll_link) while its socket takes more, and
//!    again whenever the socket has drained), [`poll_event`](Node::poll_event)
//!    until `None`;
//! 3. **re-arm the one timer** at [`poll_timeout`](Node::poll_timeout)
//!    (`None`: nothing scheduled) and, when it fires or whenever
//!    `now >= deadline`, call [`handle_timeout`](Node::handle_timeout).
//!
//! Every `poll_*` call is O(1) or O(log n): outputs are queued as they are
//! made. Early, late or repeated timeouts are harmless. `now` must come from
//! a monotonic clock; a `now` earlier than one seen before is clamped.
//!
//! ```
//! use netcluster_core::node::{Node, Transmit};
//! use netcluster_core::{Config, Instant, NodeId};
//!
//! let mut node = Node::new(Config::lan("demo", "a"), NodeId([1; 16]), 42, Instant::ZERO)?;
//! let mut now = Instant::ZERO;
//! for _ in 0..3 {
//!     // 1. inputs would be fed here (datagrams, link bytes, commands)...
//!     // 2. ...then every output drained:
//!     while let Some(t) = node.poll_transmit() {
//!         match t {
//!             Transmit::Datagram { to, data } => { /* send `data` to `to` */ }
//!             Transmit::Connect { link, addr } => { /* connect, then link_connected */ }
//!             Transmit::Ready { link } => {
//!                 // Pull while the link's socket takes more.
//!                 while let Some(frame) = node.poll_link(now, link) { /* write it */ }
//!             }
//!             Transmit::Close { link } => { /* flush and close */ }
//!         }
//!     }
//!     while let Some(event) = node.poll_event() {
//!         println!("{event:?}");
//!     }
//!     // 3. sleep until the deadline, then handle it.
//!     match node.poll_timeout() {
//!         Some(deadline) => {
//!             now = deadline;
//!             node.handle_timeout(now);
//!         }
//!         None => break,
//!     }
//! }
//! # Ok::<(), netcluster_core::ConfigError>(())
//! ```

mod dgram;
mod discovery;
mod flood;
mod keepalive;
mod links;
mod membership;
mod output;
mod overlay;
mod random;
mod routing;
mod seed;
mod stats;
mod timers;
mod traffic;
#[cfg(test)]
mod traffic_tests;
mod transport;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::net::SocketAddr;

use bytes::Bytes;

pub use links::LinkInfo;
pub use output::{
    DatagramSource, DatagramTarget, DownReason, Event, FailReason, LinkCloseReason, LinkId,
    LinkQueueStats, MessageId, PeerInfo, PeerTraffic, StreamEnd, StreamId, Transmit, PRIORITIES,
    TRAFFIC_WINDOW,
};
pub use routing::LsdbEntry;
pub use seed::Seed;
pub use stats::Stats;
pub use transport::{
    SendError, SendMany, SendOptions, StreamError, DEFAULT_PRIORITY, HIGHEST_PRIORITY,
    LOWEST_PRIORITY,
};

use crate::config::{Config, ConfigError};
use crate::time::{Clock, Instant};
use crate::wire::{Frame, Message, NodeId, NodeState};
use discovery::Discovery;
use links::Link;
use membership::Membership;
use output::Outputs;
use overlay::Overlay;
use routing::Routing;
use timers::Timer;

/// Errors of the node's commands. Each says whether anything changed: none
/// of them does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandError {
    /// The group name or header key is longer than 255 bytes. Nothing
    /// changed.
    NameTooLong,
    /// The header value is longer than 65,535 bytes. Nothing changed.
    ValueTooLong,
    /// The node is in [`max_groups`](Config::max_groups) groups already.
    /// Nothing changed.
    TooManyGroups,
    /// The node is shutting down. Nothing changed.
    ShuttingDown,
}

impl core::fmt::Display for CommandError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CommandError::NameTooLong => "name longer than 255 bytes",
            CommandError::ValueTooLong => "header value longer than 65,535 bytes",
            CommandError::TooManyGroups => "group limit reached",
            CommandError::ShuttingDown => "node is shutting down",
        })
    }
}

impl core::error::Error for CommandError {}

/// A netcluster node: one sans-IO state machine. See the [module
/// documentation](self) for the calling rule.
pub struct Node {
    cfg: Config,
    id: NodeId,
    clock: Clock,
    rng: random::Random,
    /// The generator of ephemeral keys (encrypted links), from the seed's
    /// secret.
    csprng: Option<crate::auth::Csprng>,
    state: NodeState,
    shutting_down: bool,
    groups: BTreeSet<String>,
    headers: BTreeMap<String, String>,
    /// Our link address as peers should see it, once learned from a link's
    /// local address when the configured one is unspecified.
    learned_ip: Option<core::net::IpAddr>,
    out: Outputs,
    discovery: Discovery,
    links: BTreeMap<LinkId, Link>,
    /// Datagram links by peer address.
    dgram_links: BTreeMap<SocketAddr, LinkId>,
    next_link: u64,
    overlay: Overlay,
    routing: Routing,
    /// The token bucket of datagram links' LSAs.
    pacer: flood::Pacer,
    membership: Membership,
    transport: transport::Transport,
    /// What the application exchanged with each peer.
    traffic: traffic::Traffic,
}

impl Node {
    /// A node with identity `id`, its randomness drawn from `seed` (same
    /// seed and inputs, same outputs), started at `now`. A bare `u64` is a
    /// seed without a secret, enough for a node without a keyring; a node
    /// with one needs [`Seed::with_secret`] (drivers: from the operating
    /// system) or [`Seed::deterministic`] (simulations).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when `cfg` fails [`Config::validate`]: it names the
    /// first field outside its range; and `field: "keyring"` when `cfg`
    /// has a keyring and `seed` no secret. No node exists then. The node
    /// relies on a valid configuration and never corrects one silently.
    pub fn new(
        cfg: Config,
        id: NodeId,
        seed: impl Into<Seed>,
        now: Instant,
    ) -> Result<Node, ConfigError> {
        cfg.validate()?;
        let seed = seed.into();
        if cfg.keyring.is_some() && seed.secret.is_none() {
            return Err(ConfigError {
                field: "keyring",
                allowed: "set only with a seed that has a secret (Seed::with_secret): \
                          encrypted links need random ephemeral keys",
            });
        }
        let groups: BTreeSet<String> = cfg.groups.iter().cloned().collect();
        let headers: BTreeMap<String, String> = cfg.headers.iter().cloned().collect();
        let out = Outputs {
            queue_max: cfg.link_queue_bytes,
            queue_mark: cfg.link_queue_mark,
            ..Outputs::default()
        };
        let mut node = Node {
            discovery: Discovery::new(&cfg, id, now),
            overlay: Overlay::new(&cfg),
            routing: Routing::new(),
            pacer: flood::Pacer::default(),
            membership: Membership::default(),
            transport: transport::Transport::default(),
            traffic: traffic::Traffic::default(),
            cfg,
            id,
            clock: Clock::new(now),
            rng: random::Random::new(seed.jitter),
            csprng: seed.secret.map(crate::auth::Csprng::new),
            state: NodeState::Ready,
            shutting_down: false,
            groups,
            headers,
            learned_ip: None,
            out,
            links: BTreeMap::new(),
            dgram_links: BTreeMap::new(),
            next_link: 1,
        };
        node.start(now);
        Ok(node)
    }

    fn start(&mut self, now: Instant) {
        // With `startup_jitter`, a random moment within it: nodes started
        // together do not all announce in the same instant.
        let jitter = u64::try_from(self.cfg.startup_jitter.as_micros()).unwrap_or(u64::MAX);
        let first = if jitter == 0 {
            now
        } else {
            now + core::time::Duration::from_micros(self.next_random() % jitter.saturating_add(1))
        };
        if self.cfg.beacons {
            self.out.timers.set(Timer::Beacon, first);
        }
        if self.cfg.search_on_start {
            if first == now {
                self.send_search();
            } else {
                self.out.timers.set(Timer::Search, first);
            }
        }
        self.out.timers.set(Timer::Overlay, now);
        self.out.timers.set(Timer::Originate, now);
        self.out.timers.set(Timer::Housekeeping, now + HOUSEKEEPING);
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.out.stats
    }

    /// This node's state.
    pub fn state(&self) -> NodeState {
        self.state
    }

    /// Whether [`shutdown`](Self::shutdown) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    /// The groups this node is in.
    pub fn groups(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(String::as_str)
    }

    /// Every reachable peer, in id order, with its traffic figures as of
    /// the last sample (see [`PeerTraffic`]).
    pub fn peers(&self) -> impl Iterator<Item = &PeerInfo> {
        self.membership.peers()
    }

    /// One reachable peer.
    pub fn peer(&self, id: &NodeId) -> Option<&PeerInfo> {
        self.membership.get(id)
    }

    /// The reachable peers in `group`, in id order.
    pub fn group_members<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a PeerInfo> + 'a {
        self.membership.peers().filter(move |p| p.groups.iter().any(|g| g == group))
    }

    /// Links currently up, with their peer.
    pub fn neighbours(&self) -> impl Iterator<Item = (LinkId, NodeId)> + '_ {
        self.links.values().filter(|l| l.is_up()).filter_map(|l| Some((l.id, l.peer?)))
    }

    /// Next output for the caller to carry out, in order. Control frames
    /// (handshake, keepalive, routing, acknowledgements) come before DATA
    /// frames made earlier and not yet taken; a link's GOODBYE and Close
    /// come after all its data.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front().or_else(|| self.out.data_transmits.pop_front())
    }

    /// Next application event: events other than messages first, then
    /// received messages from the inbox.
    ///
    /// Take messages only as fast as the application reads them: those
    /// left here fill the bounded inbox
    /// ([`Config::inbox_messages`](crate::Config::inbox_messages)), and a
    /// full inbox makes senders hold back. A caller whose application
    /// queue is full calls [`poll_control_event`](Self::poll_control_event)
    /// instead, which leaves messages where they are.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front().or_else(|| self.pop_message())
    }

    /// Next application event that is not a received message (membership,
    /// delivery reports, streams, pings): what a caller takes while its
    /// application is not ready for more messages.
    #[must_use]
    pub fn poll_control_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) should next be called;
    /// `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.out.timers.next()
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.input(now, |node, now| {
            // Each timer runs at most once per call: one that re-arms itself
            // at `now` waits for the next call, so a call always returns.
            let mut ran = 0usize;
            let budget = node.out.timers.len() + 8;
            while let Some(timer) = node.out.timers.pop_due(now) {
                node.on_timer(now, timer);
                ran += 1;
                if ran >= budget {
                    break;
                }
            }
        });
    }

    fn on_timer(&mut self, now: Instant, timer: Timer) {
        match timer {
            Timer::Beacon => self.on_beacon_timer(now),
            Timer::Notify => self.on_notify_timer(now),
            Timer::Overlay => self.on_overlay_timer(now),
            Timer::Originate => self.on_originate_timer(now),
            Timer::Spf => self.on_spf_timer(now),
            Timer::Housekeeping => self.on_housekeeping(now),
            Timer::Link(link) => self.on_link_timer(now, link),
            Timer::Retransmit => self.on_retransmit_timer(now),
            Timer::Flood => self.pace_floods(now),
            Timer::Search => {
                if !self.shutting_down {
                    self.send_search();
                }
            }
            Timer::LsaAck => self.on_lsa_ack_timer(now),
        }
    }

    /// A datagram arrived from `from` on the beacon or unicast socket.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        source: DatagramSource,
        data: Bytes,
    ) {
        // Where it came in does not matter to the core yet: every
        // discovery message is handled alike on either socket.
        let _ = source;
        self.input(now, |node, now| node.on_datagram(now, from, data));
    }

    /// Every input goes through here, commands included: the clock is
    /// observed once (a `now` earlier than one seen before is clamped), the
    /// input is handled, and what inputs leave for their end goes out:
    /// the ACKs of the data that arrived, then the LSAs queued for the
    /// flood bucket.
    fn input<R>(&mut self, now: Instant, f: impl FnOnce(&mut Node, Instant) -> R) -> R {
        let now = self.clock.observe(now);
        let r = f(self, now);
        self.flush_acks();
        self.pace_if_queued(now);
        r
    }

    fn on_datagram(&mut self, now: Instant, from: SocketAddr, data: Bytes) {
        self.out.stats.datagrams_received += 1;
        self.out.stats.datagram_bytes_received += data.len() as u64;
        // A batch of link frames is handled frame by frame, as if each had
        // come alone; a frame that fails to parse ends the batch, since
        // nothing after it can be trusted to start a frame.
        let mut rest = data;
        let mut batched = false;
        while !rest.is_empty() {
            let one = match Frame::split_batch(&rest) {
                Some((first, tail)) => {
                    rest = tail;
                    if !batched {
                        batched = true;
                        self.out.stats.batches_received += 1;
                    }
                    first
                }
                None => core::mem::take(&mut rest),
            };
            let frame = match Frame::parse_with(&one, &self.cfg.limits) {
                Ok(f) => f,
                Err(e) => {
                    self.count_decode_error(&e);
                    return;
                }
            };
            match frame.message {
                Message::Link(_) => self.on_link_datagram(now, from, frame, one),
                // Only link frames are batched.
                Message::Discovery(m) if !batched => {
                    self.on_discovery_frame(now, from, m, &frame.extensions, &one)
                }
                _ => self.out.stats.dropped_unexpected += 1,
            }
        }
    }

    fn count_decode_error(&mut self, e: &crate::wire::Error) {
        match e {
            // An admin or tracker frame: well formed, but nothing a node
            // takes from the network, the same as a discovery frame on a
            // link. Its body is never decoded.
            crate::wire::Error::UnexpectedProtocol { .. } => self.out.stats.dropped_unexpected += 1,
            crate::wire::Error::UnsupportedVersion { .. } => self.out.stats.dropped_version += 1,
            crate::wire::Error::Oversized { .. } => self.out.stats.dropped_limit += 1,
            _ => self.out.stats.dropped_malformed += 1,
        }
    }

    /// Joins `group`. Peers learn it through this node's next LSA.
    pub fn join(&mut self, now: Instant, group: &str) -> Result<(), CommandError> {
        self.input(now, |node, now| {
            node.check_command(group)?;
            if node.groups.contains(group) {
                return Ok(());
            }
            if node.groups.len() >= node.cfg.max_groups {
                return Err(CommandError::TooManyGroups);
            }
            node.groups.insert(group.to_string());
            node.self_changed(now);
            Ok(())
        })
    }

    /// Leaves `group`.
    pub fn leave(&mut self, now: Instant, group: &str) -> Result<(), CommandError> {
        self.input(now, |node, now| {
            node.check_command(group)?;
            if node.groups.remove(group) {
                node.self_changed(now);
            }
            Ok(())
        })
    }

    /// Sets this node's announced state (READY, BUSY, ERROR...). Use
    /// [`shutdown`](Self::shutdown) to leave.
    pub fn set_state(&mut self, now: Instant, state: NodeState) -> Result<(), CommandError> {
        self.input(now, |node, now| {
            node.check_command("")?;
            if state != node.state && state != NodeState::Exit {
                node.state = state;
                node.self_changed(now);
            }
            Ok(())
        })
    }

    /// Sets (or with `None`, removes) one announced attribute.
    pub fn set_header(
        &mut self,
        now: Instant,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), CommandError> {
        self.input(now, |node, now| {
            node.check_command(key)?;
            if value.is_some_and(|v| v.len() > crate::config::MAX_HEADER_VALUE_BYTES) {
                return Err(CommandError::ValueTooLong);
            }
            let changed = match value {
                Some(v) => {
                    node.headers.insert(key.to_string(), v.to_string()).as_deref() != Some(v)
                }
                None => node.headers.remove(key).is_some(),
            };
            if changed {
                node.self_changed(now);
            }
            Ok(())
        })
    }

    fn check_command(&self, name: &str) -> Result<(), CommandError> {
        if self.shutting_down {
            return Err(CommandError::ShuttingDown);
        }
        if name.len() > 255 {
            return Err(CommandError::NameTooLong);
        }
        Ok(())
    }

    /// Something peers see of us changed: re-originate the LSA soon.
    fn self_changed(&mut self, now: Instant) {
        self.routing.mark_dirty();
        self.schedule_originate(now);
    }

    /// Adds a static seed (or a seed found by the tracker or DNS): a link is
    /// opened to it and retried with capped backoff for as long as the node
    /// runs and the seed's node is not reachable otherwise.
    pub fn add_seed(&mut self, now: Instant, addr: SocketAddr) {
        self.input(now, |node, now| {
            node.overlay.add_seed(addr);
            node.out.timers.set_earliest(Timer::Overlay, now);
        })
    }

    /// Leaves the mesh cleanly: an EXIT beacon, a flushed LSA and GOODBYE on
    /// every link, then every link closed. The node stays usable for polling
    /// until its outputs are drained; it accepts no further links.
    pub fn shutdown(&mut self, now: Instant) {
        self.input(now, |node, now| {
            if node.shutting_down {
                return;
            }
            node.shutting_down = true;
            node.state = NodeState::Exit;
            if node.cfg.beacons {
                node.send_beacon();
            }
            node.flood_flush();
            node.fail_all_in_flight(now);
            let ids: Vec<LinkId> = node.links.keys().copied().collect();
            for id in ids {
                node.close_link(
                    now,
                    id,
                    Some(crate::wire::link::GoodbyeReason::SHUTDOWN),
                    "shutdown",
                );
            }
            // Nothing is scheduled any more: the caller may stop polling.
            let all: Vec<Timer> = [
                Timer::Beacon,
                Timer::Notify,
                Timer::Overlay,
                Timer::Originate,
                Timer::Spf,
                Timer::Housekeeping,
                Timer::Retransmit,
                Timer::Flood,
                Timer::LsaAck,
                Timer::Search,
            ]
            .into();
            for t in all {
                node.out.timers.cancel(t);
            }
        })
    }

    /// Queues an event for the application (messages come from the
    /// transport's inbox instead).
    fn push_event(&mut self, e: Event) {
        self.out.events.push_back(e);
    }

    pub(super) fn next_random(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The link address this node advertises (in HELLOs and LSAs): the
    /// configured one, or where its IP is unspecified, the IP peers were
    /// first seen to reach this node at (a link's local address; a
    /// routable one replaces an IPv6 link-local one), with the link port.
    /// Unspecified until a link comes up.
    pub fn advertised_addr(&self) -> SocketAddr {
        let mut a = self.cfg.link_addr;
        if a.ip().is_unspecified() {
            if let Some(ip) = self.learned_ip {
                a.set_ip(ip);
            }
        }
        a
    }
}

/// `a` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a
/// dual-stack listener shows an IPv4 peer) written as the IPv4 address it
/// is, so that it can be advertised to and dialled by IPv4-only peers.
pub(crate) fn canonical(a: SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => a,
        },
        SocketAddr::V4(_) => a,
    }
}

/// An advertised address with an unspecified IP means "where you hear me
/// from": take the IP (and, for IPv6 link-local, the scope) of `seen`.
pub(crate) fn resolve_addr(advertised: SocketAddr, seen: SocketAddr) -> SocketAddr {
    if !advertised.ip().is_unspecified() {
        return advertised;
    }
    match seen {
        SocketAddr::V6(v6) => SocketAddr::V6(core::net::SocketAddrV6::new(
            *v6.ip(),
            advertised.port(),
            0,
            v6.scope_id(),
        )),
        SocketAddr::V4(v4) => SocketAddr::new((*v4.ip()).into(), advertised.port()),
    }
}

/// Housekeeping period: LSA ageing, candidate expiry. Coarse on purpose.
const HOUSEKEEPING: core::time::Duration = core::time::Duration::from_secs(1);

#[cfg(test)]
mod addr_tests {
    use super::*;

    #[test]
    fn mapped_addresses_become_ipv4_and_others_stay() {
        let mapped: SocketAddr = "[::ffff:10.77.0.1]:7400".parse().unwrap();
        assert_eq!(canonical(mapped), "10.77.0.1:7400".parse().unwrap());
        for a in ["[fd77::1]:7400", "10.0.0.1:9", "[fe80::1%3]:7400"] {
            let a: SocketAddr = a.parse().unwrap();
            assert_eq!(canonical(a), a);
        }
    }

    #[test]
    fn an_unspecified_advertisement_takes_the_seen_ip_and_scope() {
        let seen: SocketAddr = "[fe80::2%5]:40000".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:7400".parse().unwrap();
        assert_eq!(resolve_addr(any, seen), "[fe80::2%5]:7400".parse().unwrap());
        let fixed: SocketAddr = "192.0.2.1:7400".parse().unwrap();
        assert_eq!(resolve_addr(fixed, seen), fixed);
    }
}
