//! The driver engine: everything about running a [`Node`] that does not
//! depend on the runtime, written once for every driver.
//!
//! The [`Engine`] owns the node, its link table, the stream bridge, the
//! event hub and the time base. A driver owns the sockets and the tasks,
//! and reports what happened to them through the engine's input methods;
//! each input is followed by a drain ([`Engine::drain`]): transmits carried
//! out through the driver's [`LinkIo`], links the driver lost reported back
//! to the node one at a time, then the events published under the hub's
//! rules. The driver's loop is then only:
//!
//! 1. wait for a socket, a link task, a command, a stream nudge or the
//!    deadline ([`Engine::deadline`]);
//! 2. call the matching input method with its [`LinkIo`].
//!
//! Commands from the handles are one [`Command`] enum for every driver,
//! answered through [`Reply`] callbacks, so each driver only chooses its
//! channel type.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{
    CommandError, DatagramSource, DatagramTarget, Event, FailReason, LinkCloseReason, LinkId,
    MessageId, SendError, SendOptions, StreamEnd, StreamError, StreamId, Transmit,
};
use netcluster_core::{Instant, Node, NodeId, NodeState};

use crate::backlog::{gather, Backlog};
use crate::events::EventHub;
use crate::streams::{StreamBridge, StreamIo, WakeDriver};
use crate::{DriverLimits, SendMany};

/// Answers a command: called once with the node's result. Each driver
/// wraps its own channel's sender in one.
pub type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// A command from a handle to the node's loop.
pub enum Command {
    /// Joins a group.
    Join(String, Reply<Result<(), CommandError>>),
    /// Leaves a group.
    Leave(String, Reply<Result<(), CommandError>>),
    /// Sets the announced state.
    SetState(NodeState, Reply<Result<(), CommandError>>),
    /// Sets or removes an announced attribute.
    SetHeader(String, Option<String>, Reply<Result<(), CommandError>>),
    /// Adds a static seed.
    AddSeed(SocketAddr, Reply<Result<(), CommandError>>),
    /// Sends one message.
    Send(NodeId, SendOptions, Bytes, Reply<Result<MessageId, SendError>>),
    /// Sends one message to a group.
    Shout(String, SendOptions, Bytes, Reply<Result<MessageId, SendError>>),
    /// Pings a node through the mesh.
    Ping(NodeId, Reply<Result<MessageId, SendError>>),
    /// Sends several messages to one node.
    SendMany(NodeId, SendOptions, Vec<Bytes>, Reply<Result<SendMany, SendError>>),
    /// Opens a stream.
    OpenStream(NodeId, Reply<Result<StreamIo, StreamError>>),
    /// Runs a read-only look at the node.
    Query(Box<dyn FnOnce(&Node) + Send>),
    /// Leaves the mesh and stops; the driver answers once its links are
    /// flushed (it handles this one itself, with [`Engine::shutdown`]).
    Shutdown(Reply<()>),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Command::Join(..) => "Join",
            Command::Leave(..) => "Leave",
            Command::SetState(..) => "SetState",
            Command::SetHeader(..) => "SetHeader",
            Command::AddSeed(..) => "AddSeed",
            Command::Send(..) => "Send",
            Command::Shout(..) => "Shout",
            Command::Ping(..) => "Ping",
            Command::SendMany(..) => "SendMany",
            Command::OpenStream(..) => "OpenStream",
            Command::Query(..) => "Query",
            Command::Shutdown(..) => "Shutdown",
        })
    }
}

/// Why a link write was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteError {
    /// The link's writer has failed; its close is on the way to the engine.
    Gone,
    /// The write failed now: the engine drops the link and reports it
    /// closed.
    Failed,
}

/// What the engine asks of the driver while it carries out the node's
/// outputs: the runtime's side of datagrams, links and accepted streams.
pub trait LinkIo {
    /// What the driver keeps for a link being connected (dropping it
    /// cancels the attempt).
    type Connecting;
    /// What the driver keeps for an up link: its writer, its reader.
    type Up;

    /// Sends a datagram, best effort.
    fn send_datagram(&mut self, to: DatagramTarget, data: &[u8]);
    /// Starts connecting `link` to `addr`; the driver reports the result
    /// with [`Engine::connected`] or [`Engine::connect_failed`]. `None`:
    /// the attempt failed at once (the engine reports it to the node).
    fn connect(&mut self, link: LinkId, addr: SocketAddr) -> Option<Self::Connecting>;
    /// Queues `data` on an up link. The engine has counted it in the
    /// link's [`backlog`](Self::backlog) and calls only while the backlog
    /// has room.
    fn write(&mut self, link: LinkId, up: &mut Self::Up, data: Bytes) -> Result<(), WriteError>;
    /// What the link's writer holds and has not written yet. The writer
    /// takes off what it writes, and when [`Backlog::written`] says so,
    /// calls [`Engine::link_drained`].
    fn backlog<'a>(&self, up: &'a Self::Up) -> &'a Backlog;
    /// Closes an up link once what is queued is written.
    fn close(&mut self, link: LinkId, up: Self::Up);
    /// Gives up a connect attempt (the node closed the link, or it failed).
    fn cancel(&mut self, link: LinkId, attempt: Self::Connecting) {
        let _ = link;
        drop(attempt);
    }
    /// Drops an up link at once, nothing flushed (a link given up).
    fn abort(&mut self, link: LinkId, up: Self::Up) {
        let _ = link;
        drop(up);
    }
    /// A peer opened a stream: the driver queues it for its application
    /// (or resets it if its accept queue is full).
    fn stream_opened(&mut self, stream: StreamIo);
}

/// A link as the engine tracks it.
enum Slot<C, U> {
    Connecting(C),
    Up(U),
}

/// The runtime-independent part of a driver. See the module docs.
pub struct Engine<I: LinkIo> {
    node: Node,
    epoch: std::time::Instant,
    hub: Arc<EventHub>,
    bridge: StreamBridge,
    links: HashMap<LinkId, Slot<I::Connecting, I::Up>>,
    /// Links lost while transmits were carried out, reported to the node
    /// once they are (one input at a time).
    deferred: Vec<(LinkId, LinkCloseReason)>,
    limits: DriverLimits,
}

impl<I: LinkIo> std::fmt::Debug for Engine<I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("id", &self.node.id())
            .field("links", &self.links.len())
            .finish()
    }
}

/// Far enough to mean "never" for a timer, close enough for any clock.
const FAR: Duration = Duration::from_secs(86_400 * 365);

impl<I: LinkIo> Engine<I> {
    /// An engine around `node`, whose time starts now. `hub` takes the
    /// node's events; `wake_streams` is what the bridge calls when an
    /// application's stream needs the loop ([`serve_streams`](Self::serve_streams)).
    pub fn new(
        node: Node,
        hub: Arc<EventHub>,
        wake_streams: WakeDriver,
        limits: DriverLimits,
    ) -> Engine<I> {
        Engine {
            node,
            epoch: std::time::Instant::now(),
            hub,
            bridge: StreamBridge::new(wake_streams),
            links: HashMap::new(),
            deferred: Vec::new(),
            limits,
        }
    }

    /// The node, for a read-only look.
    pub fn node(&self) -> &Node {
        &self.node
    }

    /// The event hub.
    pub fn hub(&self) -> &Arc<EventHub> {
        &self.hub
    }

    /// The driver limits.
    pub fn limits(&self) -> &DriverLimits {
        &self.limits
    }

    /// The node's clock: time since the engine was made.
    pub fn now(&self) -> Instant {
        let us = self.epoch.elapsed().as_micros();
        Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
    }

    /// A node instant on the system clock.
    pub fn to_std(&self, t: Instant) -> std::time::Instant {
        self.epoch + Duration::from_micros(t.as_micros()).min(FAR)
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, on the
    /// system clock; `None` when nothing is scheduled.
    pub fn deadline(&self) -> Option<std::time::Instant> {
        self.node.poll_timeout().map(|t| self.to_std(t))
    }

    /// Runs the node's timers if their deadline has passed (an early or
    /// repeated call does nothing), then drains.
    pub fn handle_timeout(&mut self, io: &mut I) {
        if let Some(d) = self.node.poll_timeout() {
            let now = self.now();
            if now >= d {
                self.node.handle_timeout(now);
                self.drain(io);
            }
        }
    }

    /// A datagram arrived.
    pub fn datagram(&mut self, io: &mut I, from: SocketAddr, source: DatagramSource, data: Bytes) {
        let now = self.now();
        self.node.handle_datagram(now, from, source, data);
        self.drain(io);
    }

    /// A connect the engine asked for succeeded; `up` is the driver's side
    /// of the new link. An attempt the engine no longer waits for (its
    /// link was closed meanwhile) is handed back to be dropped.
    pub fn connected(
        &mut self,
        io: &mut I,
        link: LinkId,
        up: I::Up,
        local: SocketAddr,
    ) -> Option<I::Up> {
        if !matches!(self.links.get(&link), Some(Slot::Connecting(_))) {
            return Some(up);
        }
        tracing::debug!(?link, %local, "connected");
        self.links.insert(link, Slot::Up(up));
        let now = self.now();
        self.node.link_connected(now, link, local);
        self.pull(io, link);
        self.drain(io);
        None
    }

    /// For a driver whose attempt and up link are one object: the connect
    /// of `link` has finished, and `finish` turns the attempt into the up
    /// link and its local address, or says why it failed.
    pub fn connect_done(
        &mut self,
        io: &mut I,
        link: LinkId,
        finish: impl FnOnce(&mut I, I::Connecting) -> Result<(I::Up, SocketAddr), String>,
    ) {
        let Some(slot) = self.links.remove(&link) else { return };
        let attempt = match slot {
            Slot::Connecting(c) => c,
            up @ Slot::Up(_) => {
                self.links.insert(link, up);
                return;
            }
        };
        let now = self.now();
        match finish(io, attempt) {
            Ok((up, local)) => {
                tracing::debug!(?link, %local, "connected");
                self.links.insert(link, Slot::Up(up));
                self.node.link_connected(now, link, local);
                self.pull(io, link);
            }
            Err(error) => {
                tracing::debug!(?link, %error, "connect failed");
                self.node.link_closed(now, link, LinkCloseReason::ConnectFailed);
            }
        }
        self.drain(io);
    }

    /// The links being connected, for drivers that time them out
    /// themselves.
    pub fn connecting(&self) -> impl Iterator<Item = (LinkId, &I::Connecting)> + '_ {
        self.links.iter().filter_map(|(id, s)| match s {
            Slot::Connecting(c) => Some((*id, c)),
            Slot::Up(_) => None,
        })
    }

    /// Whether the engine tracks no link at all.
    pub fn has_no_links(&self) -> bool {
        self.links.is_empty()
    }

    /// A connect the engine asked for failed (or timed out).
    pub fn connect_failed(&mut self, io: &mut I, link: LinkId, error: &dyn std::fmt::Display) {
        if !matches!(self.links.get(&link), Some(Slot::Connecting(_))) {
            return;
        }
        tracing::debug!(?link, %error, "connect failed");
        if let Some(Slot::Connecting(c)) = self.links.remove(&link) {
            io.cancel(link, c);
        }
        let now = self.now();
        self.node.link_closed(now, link, LinkCloseReason::ConnectFailed);
        self.drain(io);
    }

    /// A stream was accepted from `remote`; `up` makes the driver's side
    /// of the link once the node has numbered it.
    pub fn accepted(
        &mut self,
        io: &mut I,
        remote: SocketAddr,
        local: SocketAddr,
        up: impl FnOnce(&mut I, LinkId) -> Option<I::Up>,
    ) {
        let now = self.now();
        let link = self.node.link_accepted(now, remote, local);
        tracing::debug!(?link, %remote, "accepted");
        match up(io, link) {
            Some(up) => {
                self.links.insert(link, Slot::Up(up));
            }
            None => self.node.link_closed(now, link, LinkCloseReason::Error),
        }
        self.drain(io);
    }

    /// Bytes arrived on an up link.
    pub fn link_data(&mut self, io: &mut I, link: LinkId, data: Bytes) {
        if !matches!(self.links.get(&link), Some(Slot::Up(_))) {
            return;
        }
        let now = self.now();
        self.node.handle_link_data(now, link, data);
        self.drain(io);
    }

    /// A link ended by itself (the peer closed it, or a read or write
    /// failed). Returns the driver's side of it, to flush what is queued or
    /// drop.
    pub fn link_closed(
        &mut self,
        io: &mut I,
        link: LinkId,
        reason: LinkCloseReason,
    ) -> Option<I::Up> {
        let slot = self.links.remove(&link)?;
        tracing::debug!(?link, ?reason, "link closed");
        let now = self.now();
        self.node.link_closed(now, link, reason);
        self.drain(io);
        match slot {
            Slot::Up(up) => Some(up),
            Slot::Connecting(c) => {
                io.cancel(link, c);
                None
            }
        }
    }

    /// The driver's side of an up link, for readiness events.
    pub fn up_mut(&mut self, link: LinkId) -> Option<&mut I::Up> {
        match self.links.get_mut(&link) {
            Some(Slot::Up(up)) => Some(up),
            _ => None,
        }
    }

    /// The driver's side of a link being connected.
    pub fn connecting_mut(&mut self, link: LinkId) -> Option<&mut I::Connecting> {
        match self.links.get_mut(&link) {
            Some(Slot::Connecting(c)) => Some(c),
            _ => None,
        }
    }

    /// Moves what the applications' ends of the streams asked for:
    /// `read_from` are streams read since the last call, whose reader may
    /// have made room.
    pub fn serve_streams(&mut self, io: &mut I, read_from: impl IntoIterator<Item = StreamId>) {
        let now = self.now();
        self.bridge.service_pending(&mut self.node, now);
        for stream in read_from {
            // As the node would say when bytes arrive: the bridge pulls
            // what the node holds into the room the reader made.
            if let Some(s) =
                self.bridge.on_event(&mut self.node, now, &Event::StreamReadable { stream })
            {
                io.stream_opened(s);
            }
        }
        self.drain(io);
    }

    /// Carries out a handle's command (not `Shutdown`, which the driver
    /// handles with [`shutdown`](Self::shutdown)). A caller that stopped
    /// waiting is no error: its reply goes nowhere.
    pub fn command(&mut self, io: &mut I, c: Command) {
        match c {
            Command::Join(g, reply) => reply(self.join(io, &g)),
            Command::Leave(g, reply) => reply(self.leave(io, &g)),
            Command::SetState(s, reply) => reply(self.set_state(io, s)),
            Command::SetHeader(k, v, reply) => reply(self.set_header(io, &k, v.as_deref())),
            Command::AddSeed(addr, reply) => {
                self.add_seed(io, addr);
                reply(Ok(()));
            }
            // Sends are answered before their frames and events are carried
            // out: the caller prepares its next call meanwhile, instead of
            // waiting for the writes (one round trip per call is the cost
            // of small messages).
            Command::Send(to, s, payload, reply) => {
                let now = self.now();
                reply(self.hub.send(&mut self.node, now, to, s, payload));
                self.drain(io);
            }
            Command::Shout(g, s, payload, reply) => {
                reply(self.node.shout(self.now(), &g, s, payload));
                self.drain(io);
            }
            Command::Ping(to, reply) => reply(self.ping(io, to)),
            Command::SendMany(to, s, payloads, reply) => {
                let now = self.now();
                reply(Ok(self.hub.send_many(&mut self.node, now, to, s, payloads)));
                self.drain(io);
            }
            // A caller gone meanwhile drops the stream, which finishes it.
            Command::OpenStream(to, reply) => reply(self.open_stream(io, to)),
            // A read-only look: nothing to drain.
            Command::Query(f) => f(&self.node),
            Command::Shutdown(reply) => {
                tracing::warn!("shutdown reached the engine's command(); use shutdown()");
                reply(());
            }
        }
    }

    /// Joins a group.
    pub fn join(&mut self, io: &mut I, group: &str) -> Result<(), CommandError> {
        let r = self.node.join(self.now(), group);
        self.drain(io);
        r
    }

    /// Leaves a group.
    pub fn leave(&mut self, io: &mut I, group: &str) -> Result<(), CommandError> {
        let r = self.node.leave(self.now(), group);
        self.drain(io);
        r
    }

    /// Sets the announced state.
    pub fn set_state(&mut self, io: &mut I, state: NodeState) -> Result<(), CommandError> {
        let r = self.node.set_state(self.now(), state);
        self.drain(io);
        r
    }

    /// Sets or removes an announced attribute.
    pub fn set_header(
        &mut self,
        io: &mut I,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), CommandError> {
        let r = self.node.set_header(self.now(), key, value);
        self.drain(io);
        r
    }

    /// Adds a static seed.
    pub fn add_seed(&mut self, io: &mut I, addr: SocketAddr) {
        self.node.add_seed(self.now(), addr);
        self.drain(io);
    }

    /// Sends one message (refused with `WouldBlock` while an event
    /// subscriber is full, see [`EventHub::send`]).
    pub fn send(
        &mut self,
        io: &mut I,
        to: NodeId,
        how: impl Into<SendOptions>,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let now = self.now();
        let r = self.hub.send(&mut self.node, now, to, how.into(), payload);
        self.drain(io);
        r
    }

    /// Sends several messages to one node, stopping at the first refusal.
    pub fn send_many(
        &mut self,
        io: &mut I,
        to: NodeId,
        how: impl Into<SendOptions>,
        payloads: Vec<Bytes>,
    ) -> SendMany {
        let now = self.now();
        let r = self.hub.send_many(&mut self.node, now, to, how.into(), payloads);
        self.drain(io);
        r
    }

    /// Sends one message to a group.
    pub fn shout(
        &mut self,
        io: &mut I,
        group: &str,
        how: impl Into<SendOptions>,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let r = self.node.shout(self.now(), group, how, payload);
        self.drain(io);
        r
    }

    /// Pings a node through the mesh.
    pub fn ping(&mut self, io: &mut I, to: NodeId) -> Result<MessageId, SendError> {
        let r = self.node.ping(self.now(), to);
        self.drain(io);
        r
    }

    /// Opens a stream; the application's end is returned.
    pub fn open_stream(&mut self, io: &mut I, to: NodeId) -> Result<StreamIo, StreamError> {
        let now = self.now();
        let r = self.bridge.open(&mut self.node, now, to);
        self.drain(io);
        r
    }

    /// Leaves the mesh: the node's EXIT, LSA flush and GOODBYEs are carried
    /// out, every stream fails, and every link still open is closed (its
    /// queued writes flushed). The driver then waits for its writers, up to
    /// the shutdown linger.
    pub fn shutdown(&mut self, io: &mut I) {
        tracing::info!("shutting down");
        let now = self.now();
        self.node.shutdown(now);
        self.drain(io);
        self.bridge.close_all(StreamEnd::Failed(FailReason::Shutdown));
        // Links still open after the node's own closes (none expected).
        for (link, slot) in self.links.drain() {
            match slot {
                Slot::Up(up) => io.close(link, up),
                Slot::Connecting(c) => io.cancel(link, c),
            }
        }
    }

    /// Fails every stream and forgets every link, nothing flushed: the
    /// node is gone (aborted, or its loop ended).
    pub fn abandon(&mut self, io: &mut I) {
        self.bridge.close_all(StreamEnd::Failed(FailReason::Shutdown));
        for (link, slot) in self.links.drain() {
            match slot {
                Slot::Up(up) => io.abort(link, up),
                Slot::Connecting(c) => io.cancel(link, c),
            }
        }
    }

    /// Carries out every output, then publishes the events (stream events
    /// go to the bridge first, which may cause more outputs); again until
    /// nothing is left.
    pub fn drain(&mut self, io: &mut I) {
        loop {
            while let Some(t) = self.node.poll_transmit() {
                self.carry_out(io, t);
            }
            if !self.deferred.is_empty() {
                let now = self.now();
                for (link, reason) in std::mem::take(&mut self.deferred) {
                    self.node.link_closed(now, link, reason);
                }
                continue;
            }
            let now = self.now();
            let mut opened = Vec::new();
            let bridge = &mut self.bridge;
            let any = self.hub.pump(&mut self.node, |node, e| {
                tracing::debug!(event = ?e, "event");
                if let Some(stream) = bridge.on_event(node, now, e) {
                    opened.push(stream);
                }
                // Readiness of a stream is the bridge's business.
                !matches!(e, Event::StreamReadable { .. } | Event::StreamWritable { .. })
            });
            for s in opened {
                io.stream_opened(s);
            }
            if !any {
                break;
            }
        }
    }

    /// The writer of `link` has drained its backlog to half after the
    /// engine stopped for lack of room: pull the node's frames again.
    pub fn link_drained(&mut self, io: &mut I, link: LinkId) {
        self.pull(io, link);
        self.drain(io);
    }

    /// Hands the writer of `link` the node's frames for it while the
    /// writer's backlog has room, small frames gathered into writes of up
    /// to [`GATHER`](crate::backlog::GATHER) bytes; when it has none, asks
    /// to hear of it.
    fn pull(&mut self, io: &mut I, link: LinkId) {
        let now = self.now();
        loop {
            // A link still connecting is pulled once it is up.
            let Some(Slot::Up(up)) = self.links.get_mut(&link) else { return };
            let backlog = io.backlog(up);
            if !backlog.has_room(&self.limits) && !backlog.want(&self.limits) {
                return;
            }
            let Some(first) = self.node.poll_link(now, link) else { return };
            let node = &mut self.node;
            let (data, large) = gather(first, || node.poll_link(now, link));
            // The large frame that ended the gathering follows at once: the
            // backlog's limits are soft by one write.
            for data in core::iter::once(data).chain(large) {
                let Some(Slot::Up(up)) = self.links.get_mut(&link) else { return };
                io.backlog(up).add(data.len());
                match io.write(link, up, data) {
                    Ok(()) => {}
                    Err(WriteError::Failed) => {
                        if let Some(Slot::Up(up)) = self.links.remove(&link) {
                            io.abort(link, up);
                        }
                        self.deferred.push((link, LinkCloseReason::Error));
                        return;
                    }
                    // The writer failed; its close is on the way.
                    Err(WriteError::Gone) => return,
                }
            }
        }
    }

    fn carry_out(&mut self, io: &mut I, t: Transmit) {
        match t {
            Transmit::Datagram { to, data } => io.send_datagram(to, &data),
            Transmit::Connect { link, addr } => match io.connect(link, addr) {
                Some(c) => {
                    self.links.insert(link, Slot::Connecting(c));
                }
                None => self.deferred.push((link, LinkCloseReason::ConnectFailed)),
            },
            Transmit::Ready { link } => self.pull(io, link),
            Transmit::Close { link } => match self.links.remove(&link) {
                Some(Slot::Up(up)) => io.close(link, up),
                Some(Slot::Connecting(c)) => io.cancel(link, c),
                None => {}
            },
        }
    }
}
