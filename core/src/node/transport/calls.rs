//! The node's side of the transport: the application's calls (send, shout,
//! ping, streams) and the inputs the node routes to it (DATA, ACK,
//! ROUTE_ERROR, the retransmission timer, housekeeping, shutdown). Each
//! lends the transport the rest of the node as a [`Mesh`] for one call.

use alloc::vec::Vec;

use bytes::Bytes;

use super::super::output::{Event, LinkId, LinkQueueStats, MessageId, StreamId};
use super::super::traffic::Dir;
use super::super::Node;
use super::{Mesh, SendError, SendMany, SendOptions, StreamError, Transport};
use crate::time::Instant;
use crate::wire::link::{Ack, Data, RouteError};
use crate::wire::NodeId;

impl Node {
    /// The transport, and the rest of the node as it sees it.
    fn transport_parts(&mut self) -> (&mut Transport, Mesh<'_>) {
        let mesh = Mesh {
            cfg: &self.cfg,
            me: self.id,
            groups: &self.groups,
            routes: &self.routing.routes,
            links: &self.links,
            out: &mut self.out,
            shutting_down: self.shutting_down,
        };
        (&mut self.transport, mesh)
    }

    /// Runs `f` on the transport with the rest of the node lent to it.
    fn with_transport<R>(&mut self, f: impl FnOnce(&mut Transport, &mut Mesh<'_>) -> R) -> R {
        let (t, mut m) = self.transport_parts();
        f(t, &mut m)
    }

    /// Sends `payload` to `to` with the given semantics, or
    /// [`SendOptions`] (semantics, priority, delivery report, delivery
    /// timeout, retransmission limit). Returns the message's id;
    /// `Reliable` and `Sequenced` messages are reported
    /// [`Event::Delivered`] or [`Event::SendFailed`] later.
    pub fn send(
        &mut self,
        now: Instant,
        to: NodeId,
        how: impl Into<SendOptions>,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let how = how.into();
        let len = payload.len();
        let sent = self
            .input(now, |node, now| node.with_transport(|t, m| t.send(m, now, to, how, payload)));
        if sent.is_ok() {
            self.count_traffic(to, Dir::Tx, len, 1);
        }
        sent
    }

    /// Sends `payloads` to `to`, in order, as [`send`](Node::send) would
    /// one by one, and stops at the first one refused (nothing after it is
    /// tried). Consecutive small messages leave in one DATA frame (a
    /// bundle, PROTOCOL 7.7.1), which is what makes many small messages
    /// cheap; each is still acknowledged, retransmitted and reported
    /// [`Event::Delivered`] or [`Event::SendFailed`] on its own.
    pub fn send_many(
        &mut self,
        now: Instant,
        to: NodeId,
        how: impl Into<SendOptions>,
        payloads: impl IntoIterator<Item = Bytes>,
    ) -> SendMany {
        let how = how.into();
        let payloads = payloads.into_iter();
        let mut ids = Vec::with_capacity(payloads.size_hint().0);
        let (refused, bytes) = self.input(now, |node, now| {
            node.with_transport(|t, m| t.send_many(m, now, to, how, payloads, &mut ids))
        });
        if !ids.is_empty() {
            self.count_traffic(to, Dir::Tx, bytes, ids.len() as u64);
        }
        SendMany { ids, refused }
    }

    /// Sends `payload` to every reachable member of `group` (`""`: every
    /// reachable node). Reliable group sends are acknowledged, retransmitted
    /// and reported per member.
    pub fn shout(
        &mut self,
        now: Instant,
        group: &str,
        how: impl Into<SendOptions>,
        payload: Bytes,
    ) -> Result<MessageId, SendError> {
        let how = how.into();
        let len = payload.len();
        self.input(now, |node, now| {
            let members: Vec<NodeId> = node
                .membership
                .peers()
                .filter(|p| group.is_empty() || p.groups.iter().any(|g| g == group))
                .map(|p| p.id)
                .filter(|id| node.routing.routes.contains_key(id))
                .collect();
            let sent = node.with_transport(|t, m| t.shout(m, now, group, &members, how, payload));
            if sent.is_ok() {
                // Each member gets the message: each counts it sent.
                for p in members {
                    node.count_traffic(p, Dir::Tx, len, 1);
                }
            }
            sent
        })
    }

    /// Measures the round trip to `to` through the mesh: an
    /// [`Event::Pong`] with the returned id reports it. Nothing is reported
    /// if the ping or its answer is lost; at most
    /// [`max_pings`](crate::Config::max_pings) are awaited at once (the
    /// oldest is forgotten first).
    pub fn ping(&mut self, now: Instant, to: NodeId) -> Result<MessageId, SendError> {
        self.input(now, |node, now| node.with_transport(|t, m| t.ping(m, now, to)))
    }

    /// Opens a stream to `to`. The peer learns of it at once (an empty SYN
    /// segment) and gets [`Event::StreamOpened`]; both sides may write.
    pub fn open_stream(&mut self, now: Instant, to: NodeId) -> Result<StreamId, StreamError> {
        self.input(now, |node, now| node.with_transport(|t, m| t.open_stream(m, now, to)))
    }

    /// The peer at the other end of `stream`.
    pub fn stream_peer(&self, stream: StreamId) -> Option<NodeId> {
        self.transport.stream_peer(stream)
    }

    /// Streams open now.
    pub fn stream_count(&self) -> usize {
        self.transport.stream_count()
    }

    /// Queues bytes for sending: returns how many were taken (up to
    /// [`stream_send_buffer`](crate::Config::stream_send_buffer) buffered
    /// in all); `WouldBlock` when none fit. When fewer than offered were
    /// taken, [`Event::StreamWritable`] says when there is room again. No
    /// bytes are copied unless writes smaller than a segment are joined.
    pub fn stream_write(
        &mut self,
        now: Instant,
        stream: StreamId,
        data: Bytes,
    ) -> Result<usize, StreamError> {
        let peer = self.transport.stream_peer(stream);
        let taken = self.input(now, |node, now| {
            node.with_transport(|t, m| t.stream_write(m, now, stream, data))
        });
        if let (Ok(n), Some(p)) = (&taken, peer) {
            self.count_traffic(p, Dir::Tx, *n, 0);
        }
        taken
    }

    /// Half-closes the stream: what was written is still delivered, then
    /// the peer reads the end. Reading goes on until the peer finishes too.
    pub fn stream_finish(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.input(now, |node, now| node.with_transport(|t, m| t.stream_finish(m, now, stream)))
    }

    /// Aborts the stream at once: unsent and unread bytes are dropped and
    /// the peer gets [`StreamEnd::Reset`](crate::node::StreamEnd::Reset). No
    /// event here: the id is invalid on return.
    pub fn stream_reset(&mut self, now: Instant, stream: StreamId) -> Result<(), StreamError> {
        self.input(now, |node, now| node.with_transport(|t, m| t.stream_reset(m, now, stream)))
    }

    /// Reads up to `max` bytes: `Ok(None)` at the end of the stream (the
    /// peer finished and everything was read), `WouldBlock` when nothing is
    /// there yet. Returns bytes of one segment at a time, without copying.
    pub fn stream_read(
        &mut self,
        now: Instant,
        stream: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, StreamError> {
        let peer = self.transport.stream_peer(stream);
        let read = self
            .input(now, |node, now| node.with_transport(|t, m| t.stream_read(m, now, stream, max)));
        if let (Ok(Some(b)), Some(p)) = (&read, peer) {
            self.count_traffic(p, Dir::Rx, b.len(), 0);
        }
        read
    }

    /// The current source route to `to` (this node first), if reachable.
    pub fn route_to(&self, to: &NodeId) -> Option<Vec<NodeId>> {
        self.routing.routes.get(to).map(|r| r.path.clone())
    }

    /// Messages in flight, over all destinations.
    pub fn in_flight(&self) -> usize {
        self.transport.in_flight()
    }

    /// Bytes held for reassembly.
    pub fn reassembly_bytes(&self) -> usize {
        self.transport.reassembly_bytes()
    }

    /// Messages received and not yet taken by [`poll_event`](Node::poll_event).
    pub fn inbox_len(&self) -> usize {
        self.transport.inbox_len()
    }

    /// Payload bytes of those messages.
    pub fn inbox_bytes(&self) -> usize {
        self.transport.inbox_bytes()
    }

    pub(in crate::node) fn on_data(&mut self, now: Instant, d: Data, raw: Bytes, ce: bool) {
        self.with_transport(|t, m| t.on_data(m, now, d, raw, ce));
    }

    pub(in crate::node) fn on_ack(&mut self, now: Instant, a: Ack, raw: Bytes, echo: bool) {
        self.with_transport(|t, m| t.on_ack(m, now, a, raw, echo));
    }

    pub(in crate::node) fn on_route_error(&mut self, now: Instant, e: RouteError, raw: Bytes) {
        if self.with_transport(|t, m| t.on_route_error(m, now, e, raw)) {
            self.schedule_spf(now);
        }
    }

    pub(in crate::node) fn on_retransmit_timer(&mut self, now: Instant) {
        self.with_transport(|t, m| t.on_retransmit_timer(m, now));
    }

    /// Sends the ACKs the input just handled made due.
    pub(in crate::node) fn flush_acks(&mut self) {
        self.with_transport(|t, m| t.flush_acks(m));
    }

    /// Housekeeping: drops stale reassemblies, fails streams to peers
    /// unreachable for too long.
    pub(in crate::node) fn expire_transport(&mut self, now: Instant) {
        self.with_transport(|t, m| {
            t.expire_reassembly(m, now);
            t.expire_streams(m, now);
        });
    }

    /// Shutdown: every message in flight and every stream fails.
    pub(in crate::node) fn fail_all_in_flight(&mut self, now: Instant) {
        self.with_transport(|t, m| t.fail_all_in_flight(m, now));
    }

    /// The next frame for stream link `link`, for the driver to write:
    /// control frames first, then DATA by priority. Pull while the link's
    /// socket takes more, after [`Transmit::Ready`](crate::node::Transmit::Ready)
    /// or when the socket has drained; `None` when nothing waits (the next
    /// frame queued is announced again with `Ready`). After a link's last
    /// frame, [`poll_transmit`](Node::poll_transmit) has its `Close`.
    /// `now` is used only when the pull makes room for held-back senders.
    #[must_use]
    pub fn poll_link(&mut self, now: Instant, link: LinkId) -> Option<Bytes> {
        // An encrypted link's frames are sealed here, in the order the
        // driver writes them (the queue reorders by priority). A frame
        // that cannot be sealed (nonces spent) is dropped, never sent.
        let (frame, reopened) = loop {
            match self.out.pull(link) {
                (Some(f), reopened) => match self.out.seal_pulled(link, f) {
                    Some(sealed) => break (Some(sealed), reopened),
                    None => continue,
                },
                (None, reopened) => break (None, reopened),
            }
        };
        if reopened {
            // Room again: blocked senders hear of it, streams send what
            // they hold (that is an input, with its clock).
            self.input(now, |node, now| node.with_transport(|t, m| t.wake_blocked(m, now, None)));
        }
        frame
    }

    /// What `link`'s queue holds (DATA bytes, every byte) and has done
    /// (drops, marks, peak), if it has a queue.
    pub fn link_queue(&self, link: LinkId) -> Option<(usize, usize, LinkQueueStats)> {
        self.out.link_queues.get(&link).map(|q| (q.data_bytes(), q.bytes(), q.stats))
    }

    /// The next received message for the application, if any.
    pub(in crate::node) fn pop_message(&mut self) -> Option<Event> {
        let e = self.with_transport(|t, m| t.pop_inbox(m))?;
        if let Event::Message { from, payload, .. } = &e {
            self.count_traffic(*from, Dir::Rx, payload.len(), 1);
        }
        Some(e)
    }
}
