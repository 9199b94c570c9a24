//! [`MioNode`]: a node and its sockets, driven from a caller's mio poll.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::Range;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use netcluster_core::node::{
    CommandError, Event, LinkCloseReason, LinkId, MessageId, PeerInfo, SendError, Transmit,
};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Instant, Node, NodeId, NodeState};
use netcluster_net::Sockets;

use crate::builder::{Builder, Options};
use crate::io::{Io, FIRST_LINK, LISTENER};
use crate::link::{Phase, TcpLink};
use crate::Error;

/// The fewest tokens a [`MioNode`] needs: its five fixed sockets (IPv4 and
/// IPv6 unicast, IPv4 and IPv6 beacons, the TCP listener) and one link.
pub const MIN_TOKENS: usize = FIRST_LINK + 1;

/// Largest datagram, and the bytes read from a TCP link at a time.
const READ_BUF: usize = 65_536;

/// A source cut short by the per-wake-up read cap, to resume next turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Udp(usize),
    Listener,
    Link(LinkId),
}

/// A node with its sockets registered in a caller's [`mio::Poll`]: the
/// building block under [`Builder::start`], for programs that run their own
/// event loop. Made by [`Builder::build`].
///
/// The node owns the tokens of the range it was built with: its fixed
/// sockets take the first [`MIN_TOKENS`]` - 1`, its TCP links one each of
/// the rest. The caller's loop, on one thread:
///
/// 1. polls with [`poll_timeout`](Self::poll_timeout) as the timeout (or
///    less);
/// 2. hands every event whose token the node [`owns`](Self::owns) to
///    [`handle_event`](Self::handle_event);
/// 3. calls [`handle_deadline`](Self::handle_deadline) (early or repeated
///    calls are harmless: it compares the deadline with the clock itself);
/// 4. drains [`poll_event`](Self::poll_event), and issues commands
///    ([`send`](Self::send), [`join`](Self::join)...) whenever it likes.
///
/// Each call carries out everything the node asks for before it returns.
/// Events wait in a queue of [`Builder::event_capacity`] until drained; if
/// it fills, the oldest are dropped and counted in
/// [`missed_events`](Self::missed_events).
///
/// To leave: [`shutdown`](Self::shutdown), then keep looping until
/// [`is_stopped`](Self::is_stopped) (bounded by the
/// [shutdown linger](Builder::shutdown_linger)), then drop it. Dropping
/// deregisters every socket.
pub struct MioNode {
    node: Node,
    epoch: std::time::Instant,
    registry: Registry,
    io: Io,
    base: usize,
    span: usize,
    links: HashMap<LinkId, TcpLink>,
    /// Link by slot (token offset minus `FIRST_LINK`).
    slots: Vec<Option<LinkId>>,
    free: Vec<usize>,
    /// Links the driver lost while draining outputs, reported to the node
    /// once the drain is over (one input at a time).
    deferred: Vec<(LinkId, LinkCloseReason)>,
    pending: VecDeque<Pending>,
    events: VecDeque<Event>,
    event_cap: usize,
    missed: u64,
    opts: Options,
    link_addr: SocketAddr,
    buf: Vec<u8>,
    /// Set by `shutdown`: when lingering links are given up.
    stopping: Option<std::time::Instant>,
}

impl std::fmt::Debug for MioNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MioNode")
            .field("id", &self.node.id())
            .field("link_addr", &self.link_addr)
            .field("tokens", &(self.base..self.base + self.span))
            .field("links", &self.links.len())
            .finish()
    }
}

impl MioNode {
    pub(crate) fn new(
        b: Builder,
        registry: &Registry,
        tokens: Range<usize>,
    ) -> Result<Self, Error> {
        let span = tokens.end.saturating_sub(tokens.start);
        if span < MIN_TOKENS {
            return Err(Error::Tokens { len: span });
        }
        let Builder {
            mut config,
            net: mut netcfg,
            advertise,
            incarnation,
            node_id,
            rng_seed,
            opts,
        } = b;
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
            SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_millis() as u64)
        });
        let id = node_id.unwrap_or_else(|| NodeId(*uuid::Uuid::new_v4().as_bytes()));
        let seed = rng_seed.unwrap_or_else(|| {
            let b = uuid::Uuid::new_v4().into_bytes();
            u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        });
        let registry = registry.try_clone().map_err(Error::Poll)?;
        let io = Io::register(sockets, &registry, tokens.start)?;
        tracing::info!(
            node = %config.name,
            id = %id.as_uuid(),
            %link_addr,
            advertised = %config.link_addr,
            mode = ?config.link_mode,
            "node starting"
        );
        let node = Node::new(config, id, seed, Instant::ZERO);
        let mut me = MioNode {
            node,
            epoch: std::time::Instant::now(),
            registry,
            io,
            base: tokens.start,
            span,
            links: HashMap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            deferred: Vec::new(),
            pending: VecDeque::new(),
            events: VecDeque::new(),
            event_cap: opts.event_capacity,
            missed: 0,
            opts,
            link_addr,
            buf: vec![0; READ_BUF],
            stopping: None,
        };
        me.drain();
        Ok(me)
    }

    /// Lets the event queue grow without bound: for a caller that drains it
    /// after every call and bounds its own consumers.
    pub(crate) fn unbounded_events(&mut self) {
        self.event_cap = usize::MAX;
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.node.id()
    }

    /// The local address of the link port, with the port actually bound:
    /// what to give other nodes as a seed.
    pub fn link_addr(&self) -> SocketAddr {
        self.link_addr
    }

    /// The node itself, to read its state ([`Node::peers`],
    /// [`Node::stats`]...).
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// Every reachable peer, in id order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerInfo> {
        self.node.peers()
    }

    /// The tokens this node was built with.
    pub fn tokens(&self) -> Range<usize> {
        self.base..self.base + self.span
    }

    /// Whether `token` is one of this node's.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.base && token.0 - self.base < self.span
    }

    /// The next event of the node, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Events dropped because the queue was full when they came.
    pub fn missed_events(&self) -> u64 {
        self.missed
    }

    fn now(&self) -> Instant {
        let us = self.epoch.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    fn to_std(&self, t: Instant) -> std::time::Instant {
        let far = Duration::from_secs(86_400 * 365);
        self.epoch
            .checked_add(Duration::from_micros(t.as_micros()))
            .unwrap_or_else(|| std::time::Instant::now() + far)
    }

    /// When [`handle_deadline`](Self::handle_deadline) is next needed: the
    /// node's timer, a connect timeout or a flush deadline, whichever comes
    /// first; now if a source was cut short by the read cap; `None` if
    /// nothing is scheduled.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        if !self.pending.is_empty() {
            return Some(std::time::Instant::now());
        }
        let node = self.node.poll_timeout().map(|t| self.to_std(t));
        let links = self.links.values().filter_map(TcpLink::deadline).min();
        [node, links, self.stopping].into_iter().flatten().min()
    }

    /// The timeout for the caller's poll: zero while a source cut short
    /// awaits its next turn; otherwise the time to
    /// [`next_deadline`](Self::next_deadline) rounded **up** to a whole
    /// millisecond and at least 1 ms, so that a deadline closer than the
    /// poll's resolution never makes a zero-timeout busy loop (waking a
    /// little late is harmless; waking early only costs a turn). `None`:
    /// no deadline.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if !self.pending.is_empty() {
            return Some(Duration::ZERO);
        }
        let left = self.next_deadline()?.saturating_duration_since(std::time::Instant::now());
        Some(clamp_ms(left))
    }

    /// Handles one readiness event of a token this node owns (others are
    /// ignored).
    pub fn handle_event(&mut self, event: &mio::event::Event) {
        if !self.owns(event.token()) {
            return;
        }
        let off = event.token().0 - self.base;
        match off {
            LISTENER => self.accept(),
            o if o < LISTENER => self.read_udp(o),
            o => {
                let Some(&Some(link)) = self.slots.get(o - FIRST_LINK) else { return };
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                self.link_ready(link, readable, writable);
            }
        }
    }

    /// Runs whatever is due: the node's timers (if their deadline has
    /// passed by the clock, whatever woke the caller), connect timeouts,
    /// flush deadlines, and another turn for sources cut short by the read
    /// cap.
    pub fn handle_deadline(&mut self) {
        let now_std = std::time::Instant::now();
        let expired: Vec<LinkId> = self
            .links
            .iter()
            .filter(|(_, l)| l.deadline().is_some_and(|d| d <= now_std))
            .map(|(id, _)| *id)
            .collect();
        for link in expired {
            let Some(l) = self.drop_link(link) else { continue };
            if let Phase::Connecting { addr, .. } = l.phase {
                tracing::debug!(?link, %addr, "connect timed out");
                self.node.link_closed(self.now(), link, LinkCloseReason::ConnectFailed);
                self.drain();
            } else {
                tracing::debug!(?link, "closing link not flushed in time; dropped");
            }
        }
        if let Some(d) = self.node.poll_timeout() {
            let now = self.now();
            if now >= d {
                self.node.handle_timeout(now);
                self.drain();
            }
        }
        if self.stopping.is_some_and(|end| now_std >= end) && !self.links.is_empty() {
            tracing::warn!(
                links = self.links.len(),
                "some links were not flushed within the shutdown linger"
            );
            let all: Vec<LinkId> = self.links.keys().copied().collect();
            for link in all {
                self.drop_link(link);
            }
        }
        let round: Vec<Pending> = self.pending.drain(..).collect();
        for p in round {
            match p {
                Pending::Udp(o) => self.read_udp(o),
                Pending::Listener => self.accept(),
                Pending::Link(link) => self.read_link(link),
            }
        }
    }

    fn push_pending(&mut self, p: Pending) {
        if !self.pending.contains(&p) {
            self.pending.push_back(p);
        }
    }

    /// Carries out every output, then queues the events.
    fn drain(&mut self) {
        loop {
            while let Some(t) = self.node.poll_transmit() {
                self.carry_out(t);
            }
            if self.deferred.is_empty() {
                break;
            }
            let now = self.now();
            for (link, reason) in std::mem::take(&mut self.deferred) {
                self.node.link_closed(now, link, reason);
            }
        }
        while let Some(e) = self.node.poll_event() {
            tracing::debug!(event = ?e, "event");
            if self.events.len() >= self.event_cap {
                self.events.pop_front();
                self.missed += 1;
            }
            self.events.push_back(e);
        }
    }

    fn carry_out(&mut self, t: Transmit) {
        match t {
            Transmit::Datagram { to, data } => self.io.send(to, &data),
            Transmit::Connect { link, addr } => self.connect(link, addr),
            Transmit::Write { link, data } => {
                let cap = self.opts.write_queue;
                let Some(l) = self.links.get_mut(&link) else { return };
                match l.phase {
                    Phase::Up => match l.write(data, cap) {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            tracing::debug!(?link, error = %e, "link write failed");
                            self.drop_link(link);
                            self.deferred.push((link, LinkCloseReason::Error));
                        }
                        Err(_) => {
                            tracing::warn!(?link, "write queue full; closing the link");
                            self.drop_link(link);
                            self.deferred.push((link, LinkCloseReason::Error));
                        }
                    },
                    Phase::Connecting { .. } => {
                        tracing::debug!(?link, "write before connect; dropped")
                    }
                    Phase::Closing { .. } => {}
                }
            }
            Transmit::Close { link } => self.close(link),
        }
    }

    fn alloc_slot(&mut self) -> Option<usize> {
        if let Some(s) = self.free.pop() {
            return Some(s);
        }
        if FIRST_LINK + self.slots.len() < self.span {
            self.slots.push(None);
            Some(self.slots.len() - 1)
        } else {
            None
        }
    }

    /// Registers `stream` as `link` in a free slot.
    fn add_link(&mut self, link: LinkId, mut stream: TcpStream, phase: Phase) -> io::Result<()> {
        let Some(slot) = self.alloc_slot() else {
            return Err(io::Error::other("no token left in the node's range for another link"));
        };
        let token = Token(self.base + FIRST_LINK + slot);
        if let Err(e) =
            self.registry.register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.free.push(slot);
            return Err(e);
        }
        self.slots[slot] = Some(link);
        self.links.insert(link, TcpLink::new(stream, slot, phase));
        Ok(())
    }

    /// Forgets a link: deregistered, its slot freed, its stream closed
    /// when the returned value is dropped.
    fn drop_link(&mut self, link: LinkId) -> Option<TcpLink> {
        let mut l = self.links.remove(&link)?;
        let _ = self.registry.deregister(&mut l.stream);
        self.slots[l.slot] = None;
        self.free.push(l.slot);
        self.pending.retain(|p| *p != Pending::Link(link));
        Some(l)
    }

    fn connect(&mut self, link: LinkId, addr: SocketAddr) {
        let stream = match netcluster_net::connect_start(addr) {
            Ok(s) => TcpStream::from_std(s),
            Err(e) => {
                tracing::debug!(?link, error = %e, "connect failed");
                self.deferred.push((link, LinkCloseReason::ConnectFailed));
                return;
            }
        };
        let deadline = std::time::Instant::now() + self.opts.connect_timeout;
        if let Err(e) = self.add_link(link, stream, Phase::Connecting { addr, deadline }) {
            tracing::warn!(?link, %addr, error = %e, "cannot watch the connect");
            self.deferred.push((link, LinkCloseReason::ConnectFailed));
        }
    }

    /// The node closed `link`: flush, send FIN, wait for the peer's FIN
    /// (bounded), so the last frames (a GOODBYE) are not lost to a reset.
    fn close(&mut self, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.phase {
            Phase::Connecting { .. } => {
                self.drop_link(link);
            }
            Phase::Up => {
                let deadline = std::time::Instant::now() + self.opts.shutdown_linger;
                l.phase = Phase::Closing { deadline };
                self.settle_closing(link);
            }
            Phase::Closing { .. } => {}
        }
    }

    /// Moves a closing link on: FIN once flushed, gone once the peer's FIN
    /// has come too (or on an error).
    fn settle_closing(&mut self, link: LinkId) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.flush() {
            Ok(true) => {
                if !l.fin_sent {
                    l.shutdown_write();
                    l.fin_sent = true;
                }
                if l.eof {
                    self.drop_link(link);
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::debug!(?link, error = %e, "closing link failed");
                self.drop_link(link);
            }
        }
    }

    fn link_ready(&mut self, link: LinkId, readable: bool, writable: bool) {
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.phase {
            Phase::Connecting { addr, .. } => match l.finish_connect(addr) {
                Ok(None) => {}
                Ok(Some(local)) => {
                    l.phase = Phase::Up;
                    tracing::debug!(?link, %local, "connected");
                    self.node.link_connected(self.now(), link, local);
                    self.drain();
                    if readable {
                        self.read_link(link);
                    }
                }
                Err(e) => {
                    tracing::debug!(?link, error = %e, "connect failed");
                    self.drop_link(link);
                    self.node.link_closed(self.now(), link, LinkCloseReason::ConnectFailed);
                    self.drain();
                }
            },
            Phase::Up => {
                if writable {
                    if let Err(e) = l.flush() {
                        tracing::debug!(?link, error = %e, "link write failed");
                        self.lost(link, LinkCloseReason::Error);
                        return;
                    }
                }
                if readable {
                    self.read_link(link);
                }
            }
            Phase::Closing { .. } => {
                if readable {
                    self.read_link(link);
                }
                self.settle_closing(link);
            }
        }
    }

    /// An up link failed or its peer closed it: report it to the node.
    fn lost(&mut self, link: LinkId, reason: LinkCloseReason) {
        if let Some(mut l) = self.drop_link(link) {
            // Best effort: what fits in the socket now still goes out.
            let _ = l.flush();
            l.shutdown_write();
        }
        self.node.link_closed(self.now(), link, reason);
        self.drain();
    }

    fn read_link(&mut self, link: LinkId) {
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(l) = self.links.get_mut(&link) else { return };
            let up = matches!(l.phase, Phase::Up);
            match l.stream.read(&mut self.buf) {
                Ok(0) if up => {
                    tracing::debug!(?link, "link closed by the peer");
                    self.lost(link, LinkCloseReason::Remote);
                    return;
                }
                Ok(0) => {
                    l.eof = true;
                    self.settle_closing(link);
                    return;
                }
                Ok(n) if up => {
                    let data = Bytes::copy_from_slice(&self.buf[..n]);
                    self.node.handle_link_data(self.now(), link, data);
                    self.drain();
                }
                // A closing link's input is no longer the node's business.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if up => {
                    tracing::debug!(?link, error = %e, "link read failed");
                    self.lost(link, LinkCloseReason::Error);
                    return;
                }
                Err(_) => {
                    self.drop_link(link);
                    return;
                }
            }
        }
        self.push_pending(Pending::Link(link));
    }

    fn read_udp(&mut self, offset: usize) {
        let source = Io::source_of(offset);
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(sock) = self.io.udp[offset].as_ref() else { return };
            match sock.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    let data = Bytes::copy_from_slice(&self.buf[..n]);
                    self.node.handle_datagram(self.now(), from, source, data);
                    self.drain();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors of earlier sends (port unreachable...) land
                // here on some systems: not this socket's failure.
                Err(e) => tracing::debug!(error = %e, "datagram receive error"),
            }
        }
        self.push_pending(Pending::Udp(offset));
    }

    fn accept(&mut self) {
        for _ in 0..self.opts.max_reads_per_wake {
            let Some(listener) = self.io.listener.as_ref() else { return };
            let (stream, remote) = match listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                    ) =>
                {
                    continue
                }
                Err(e) => {
                    // Resource exhaustion (EMFILE...): the next connection
                    // attempt wakes the listener again.
                    tracing::warn!(addr = %self.link_addr, error = %e, "accept failed");
                    return;
                }
            };
            if self.node.is_shutting_down() {
                continue;
            }
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%remote, error = %e, "TCP_NODELAY");
            }
            let local = match stream.local_addr() {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "accepted stream lost");
                    continue;
                }
            };
            // The core names the link; reserve its token first so a full
            // range refuses the stream before the node hears of it.
            let Some(slot) = self.alloc_slot() else {
                tracing::warn!(%remote, "no token left for another link; connection refused");
                continue;
            };
            self.free.push(slot);
            let link = self.node.link_accepted(self.now(), remote, local);
            tracing::debug!(?link, %remote, "accepted");
            if let Err(e) = self.add_link(link, stream, Phase::Up) {
                tracing::warn!(?link, %remote, error = %e, "cannot watch the link");
                self.deferred.push((link, LinkCloseReason::Error));
            }
            self.drain();
        }
        self.push_pending(Pending::Listener);
    }

    // Commands. Each is one input: the outputs are carried out before it
    // returns.

    /// Sends `payload` to the node `to` with the given semantics. Reliable
    /// and Sequenced messages are reported later as `Event::Delivered` or
    /// `Event::SendFailed` with the returned id; a full window is refused
    /// with `SendError::WouldBlock` until `Event::Writable`.
    pub fn send(
        &mut self,
        to: NodeId,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, SendError> {
        let r = self.node.send(self.now(), to, semantics, payload.into());
        self.drain();
        r
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// node).
    pub fn shout(
        &mut self,
        group: &str,
        semantics: Semantics,
        payload: impl Into<Bytes>,
    ) -> Result<MessageId, SendError> {
        let r = self.node.shout(self.now(), group, semantics, payload.into());
        self.drain();
        r
    }

    /// Measures the round trip to `to` through the mesh: an `Event::Pong`
    /// with the returned id reports it (nothing does if a ping is lost).
    pub fn ping(&mut self, to: NodeId) -> Result<MessageId, SendError> {
        let r = self.node.ping(self.now(), to);
        self.drain();
        r
    }

    /// Joins `group`.
    pub fn join(&mut self, group: &str) -> Result<(), CommandError> {
        let r = self.node.join(self.now(), group);
        self.drain();
        r
    }

    /// Leaves `group`.
    pub fn leave(&mut self, group: &str) -> Result<(), CommandError> {
        let r = self.node.leave(self.now(), group);
        self.drain();
        r
    }

    /// Sets the announced state (use [`shutdown`](Self::shutdown) to leave).
    pub fn set_state(&mut self, state: NodeState) -> Result<(), CommandError> {
        let r = self.node.set_state(self.now(), state);
        self.drain();
        r
    }

    /// Sets (or with `None`, removes) one announced attribute.
    pub fn set_header(&mut self, key: &str, value: Option<&str>) -> Result<(), CommandError> {
        let r = self.node.set_header(self.now(), key, value);
        self.drain();
        r
    }

    /// Adds a static seed: a link address to connect to, retried forever.
    pub fn add_seed(&mut self, addr: SocketAddr) {
        self.node.add_seed(self.now(), addr);
        self.drain();
    }

    /// Starts leaving the mesh cleanly: the EXIT beacon and a GOODBYE on
    /// every link are sent, and links are flushed and closed. Keep calling
    /// the node until [`is_stopped`](Self::is_stopped); the
    /// [shutdown linger](Builder::shutdown_linger) bounds the wait. Calling
    /// it again does nothing.
    pub fn shutdown(&mut self) {
        if self.stopping.is_some() {
            return;
        }
        tracing::info!("shutting down");
        self.node.shutdown(self.now());
        self.drain();
        // Links still open after the node's own closes (none expected).
        let open: Vec<LinkId> = self.links.keys().copied().collect();
        for link in open {
            self.close(link);
        }
        self.stopping = Some(std::time::Instant::now() + self.opts.shutdown_linger);
    }

    /// Whether a [`shutdown`](Self::shutdown) has finished: every link
    /// flushed and closed, or the linger over.
    pub fn is_stopped(&self) -> bool {
        self.stopping.is_some() && self.links.is_empty()
    }
}

impl Drop for MioNode {
    fn drop(&mut self) {
        let all: Vec<LinkId> = self.links.keys().copied().collect();
        for link in all {
            self.drop_link(link);
        }
        self.io.deregister(&self.registry);
    }
}

/// `d` rounded up to a whole millisecond, at least 1 ms.
fn clamp_ms(d: Duration) -> Duration {
    let ms = d.as_micros().div_ceil(1000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::clamp_ms;
    use std::time::Duration;

    #[test]
    fn poll_timeouts_round_up_to_a_whole_millisecond() {
        assert_eq!(clamp_ms(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_nanos(1)), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_micros(999)), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_micros(1001)), Duration::from_millis(2));
        assert_eq!(clamp_ms(Duration::from_millis(250)), Duration::from_millis(250));
    }
}
