//! [`MioNode`]: a node and its sockets, driven from a caller's mio poll.

mod commands;
mod links;
mod streams;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use mio::{Registry, Token};
use netcluster_core::node::{Event, LinkId, PeerInfo};
use netcluster_core::{Instant, Node, NodeId};
use netcluster_net::engine::Engine;
use netcluster_net::events::{EventHub, Subscriber};
use netcluster_net::Prepared;

use crate::builder::Builder;
use crate::io::{Io, FIRST_LINK, LISTENER};
use crate::link::TcpLink;
use crate::streams::{AcceptQueue, StreamWake};
use crate::Error;
use links::MioIo;

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
/// Events wait in a queue of [`Builder::event_capacity`] until drained;
/// while it is full, received messages wait in the node and their senders
/// are held back, membership events become one [`Event::Resync`], and
/// reliable sends are refused with `WouldBlock` (see
/// [`netcluster_net::events`]): nothing is lost.
///
/// To leave: [`shutdown`](Self::shutdown), then keep looping until
/// [`is_stopped`](Self::is_stopped) (bounded by the
/// [shutdown linger](Builder::shutdown_linger)), then drop it. Dropping
/// deregisters every socket.
pub struct MioNode {
    engine: Engine<MioIo>,
    io: MioIo,
    /// The subscriber [`poll_event`](Self::poll_event) reads; `None` when
    /// a `Handle`'s thread runs the node and its handles subscribe.
    own: Option<Subscriber>,
    /// Set by `shutdown`: when lingering links are given up.
    stopping: Option<std::time::Instant>,
    stream_wake: Arc<StreamWake>,
}

impl std::fmt::Debug for MioNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MioNode")
            .field("id", &self.engine.node().id())
            .field("link_addr", &self.io.link_addr)
            .field("tokens", &(self.io.base..self.io.base + self.io.span))
            .field("closing", &self.io.closing.len())
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
        let prepared = b.settings.prepare()?;
        let seed = prepared.seed();
        let Prepared { config, id, sockets, link_addr, limits: opts, .. } = prepared;
        let registry = registry.try_clone().map_err(Error::Poll)?;
        let sockets = Io::register(sockets, &registry, tokens.start)?;
        let max_frame = config.limits.max_frame;
        let node =
            Node::new(config, id, seed, Instant::ZERO).map_err(netcluster_net::NetError::Config)?;
        let stream_wake = Arc::new(StreamWake::default());
        // A subscriber that was full and has read makes the loop turn, as
        // a stream does.
        let wake = Arc::clone(&stream_wake);
        let hub = Arc::new(EventHub::new(opts.event_capacity, Arc::new(move || wake.wake())));
        let own = Some(hub.subscribe());
        let wake = Arc::clone(&stream_wake);
        let engine = Engine::new(node, hub, Arc::new(move || wake.wake()), opts);
        let io = MioIo {
            registry,
            sockets,
            base: tokens.start,
            span,
            slots: Vec::new(),
            free: Vec::new(),
            closing: HashMap::new(),
            pending: VecDeque::new(),
            buf: vec![0; READ_BUF],
            accepted: Arc::new(AcceptQueue::new(opts.accept_queue)),
            opts,
            link_addr,
            max_frame,
        };
        let mut me = MioNode { engine, io, own, stopping: None, stream_wake };
        me.engine.drain(&mut me.io);
        Ok(me)
    }

    /// Hands the node's events to the returned hub's subscribers instead of
    /// [`poll_event`](Self::poll_event): for the `Handle`'s thread.
    pub(crate) fn detach_events(&mut self) -> Arc<EventHub> {
        self.own = None;
        Arc::clone(self.engine.hub())
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.engine.node().id()
    }

    /// The local address of the link port, with the port actually bound:
    /// what to give other nodes as a seed.
    pub fn link_addr(&self) -> SocketAddr {
        self.io.link_addr
    }

    /// The node itself, to read its state ([`Node::peers`],
    /// [`Node::stats`]...).
    pub fn node(&self) -> &Node {
        self.engine.node()
    }

    /// Every reachable peer, in id order.
    pub fn peers(&self) -> impl Iterator<Item = &PeerInfo> {
        self.engine.node().peers()
    }

    /// The tokens this node was built with.
    pub fn tokens(&self) -> Range<usize> {
        self.io.base..self.io.base + self.io.span
    }

    /// Whether `token` is one of this node's.
    pub fn owns(&self, token: Token) -> bool {
        token.0 >= self.io.base && token.0 - self.io.base < self.io.span
    }

    /// The next event of the node, if any. A stream's readiness
    /// (`StreamReadable`, `StreamWritable`) is the driver's own business
    /// and is not reported: read and write the [`PeerStream`](crate::PeerStream).
    pub fn poll_event(&mut self) -> Option<Event> {
        self.own.as_mut()?.try_recv().ok()
    }

    /// Events waiting for [`poll_event`](Self::poll_event).
    pub fn queued_events(&self) -> usize {
        self.own.as_ref().map_or(0, Subscriber::queued)
    }

    /// Links being connected or closed, with their deadlines.
    fn link_deadlines(&self) -> impl Iterator<Item = (LinkId, std::time::Instant)> + '_ {
        let connecting = self.engine.connecting().filter_map(|(id, l)| Some((id, l.deadline()?)));
        let closing = self.io.closing.iter().filter_map(|(id, l)| Some((*id, l.deadline()?)));
        connecting.chain(closing)
    }

    /// When [`handle_deadline`](Self::handle_deadline) is next needed: the
    /// node's timer, a connect timeout or a flush deadline, whichever comes
    /// first; now if a source was cut short by the read cap; `None` if
    /// nothing is scheduled.
    pub fn next_deadline(&self) -> Option<std::time::Instant> {
        if !self.io.pending.is_empty() || self.stream_wake.is_due() {
            return Some(std::time::Instant::now());
        }
        let links = self.link_deadlines().map(|(_, d)| d).min();
        // The linger matters only while links remain to be given up.
        let linger = self.stopping.filter(|_| !self.io.closing.is_empty());
        [self.engine.deadline(), links, linger].into_iter().flatten().min()
    }

    /// The timeout for the caller's poll: zero while a source cut short
    /// awaits its next turn; otherwise the time to
    /// [`next_deadline`](Self::next_deadline) rounded **up** to a whole
    /// millisecond and at least 1 ms, so that a deadline closer than the
    /// poll's resolution never makes a zero-timeout busy loop (waking a
    /// little late is harmless; waking early only costs a turn). `None`:
    /// no deadline.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if !self.io.pending.is_empty() || self.stream_wake.is_due() {
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
        let (engine, io) = (&mut self.engine, &mut self.io);
        match event.token().0 - io.base {
            LISTENER => links::accept(engine, io),
            o if o < LISTENER => links::read_udp(engine, io, o),
            o => {
                let Some(link) = io.link_at(o) else { return };
                let readable = event.is_readable() || event.is_read_closed() || event.is_error();
                let writable = event.is_writable() || event.is_write_closed() || event.is_error();
                links::link_ready(engine, io, link, readable, writable);
            }
        }
    }

    /// Runs whatever is due: the node's timers (if their deadline has
    /// passed by the clock, whatever woke the caller), connect timeouts,
    /// flush deadlines, another turn for sources cut short by the read
    /// cap, and the streams' reads, writes and closes.
    pub fn handle_deadline(&mut self) {
        self.serve_streams();
        let now_std = std::time::Instant::now();
        let expired: Vec<LinkId> =
            self.link_deadlines().filter(|(_, d)| *d <= now_std).map(|(id, _)| id).collect();
        let (engine, io) = (&mut self.engine, &mut self.io);
        for link in expired {
            if let Some(l) = io.closing.remove(&link) {
                tracing::debug!(?link, "closing link not flushed in time; dropped");
                io.unwatch(link, l);
            } else {
                engine.connect_failed(io, link, &"connect timed out");
            }
        }
        engine.handle_timeout(io);
        if self.stopping.is_some_and(|end| now_std >= end) && !io.closing.is_empty() {
            tracing::warn!(
                links = io.closing.len(),
                "some links were not flushed within the shutdown linger"
            );
            let all: Vec<(LinkId, TcpLink)> = io.closing.drain().collect();
            for (link, l) in all {
                io.unwatch(link, l);
            }
        }
        let round: Vec<Pending> = io.pending.drain(..).collect();
        for p in round {
            match p {
                Pending::Udp(o) => links::read_udp(engine, io, o),
                Pending::Listener => links::accept(engine, io),
                Pending::Link(link) => links::read_link(engine, io, link),
            }
        }
    }
}

impl Drop for MioNode {
    fn drop(&mut self) {
        self.engine.abandon(&mut self.io);
        self.io.accepted.close();
        let all: Vec<(LinkId, TcpLink)> = self.io.closing.drain().collect();
        for (link, l) in all {
            self.io.unwatch(link, l);
        }
        self.io.sockets.deregister(&self.io.registry);
    }
}

/// `d` rounded up to a whole millisecond, at least 1 ms.
fn clamp_ms(d: Duration) -> Duration {
    let ms = d.as_micros().div_ceil(1000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BeaconMode;
    use netcluster_net::socket2::{Domain, Socket, Type};
    use std::net::Ipv4Addr;
    use std::time::Duration;

    /// A listener whose accept queue is full, so that a further connect
    /// hangs (its SYNs are dropped), and the streams that fill it.
    fn black_hole() -> (Socket, Vec<std::net::TcpStream>, SocketAddr) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let filler = std::net::TcpStream::connect(addr).unwrap();
        (s, vec![filler], addr)
    }

    #[test]
    fn a_hanging_connect_is_given_up_at_the_connect_timeout() {
        let (_listener, _fill, addr) = black_hole();
        let mut poll = mio::Poll::new().unwrap();
        let timeout = Duration::from_millis(300);
        let mut node = Builder::new("m-connect-timeout", "a")
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
            .connect_timeout(timeout)
            .seed(addr)
            .build(poll.registry(), 0..16)
            .unwrap();
        let mut events = mio::Events::with_capacity(16);
        let end = std::time::Instant::now() + Duration::from_secs(30);
        let mut first: Option<(LinkId, std::time::Instant)> = None;
        loop {
            assert!(std::time::Instant::now() < end, "the connect was never given up");
            poll.poll(&mut events, node.poll_timeout()).unwrap();
            for e in events.iter() {
                node.handle_event(e);
            }
            node.handle_deadline();
            match first {
                None => {
                    first = node
                        .engine
                        .connecting()
                        .next()
                        .map(|(id, _)| (id, std::time::Instant::now()));
                }
                Some((link, since)) if !node.engine.connecting().any(|(id, _)| id == link) => {
                    // Gone by the timeout, not by a refusal.
                    assert!(since.elapsed() >= timeout / 2, "gone after {:?}", since.elapsed());
                    break;
                }
                Some(_) => {}
            }
        }
    }

    #[test]
    fn poll_timeouts_round_up_to_a_whole_millisecond() {
        assert_eq!(clamp_ms(Duration::ZERO), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_nanos(1)), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_micros(999)), Duration::from_millis(1));
        assert_eq!(clamp_ms(Duration::from_micros(1001)), Duration::from_millis(2));
        assert_eq!(clamp_ms(Duration::from_millis(250)), Duration::from_millis(250));
    }
}
