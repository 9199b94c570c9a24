//! `Stream` semantics: an ordered byte stream between two nodes, opened,
//! written, read and closed, with half-close and flow control.
//!
//! Wire mapping (DATA and ACK with semantics `Stream`):
//! - **channel**: `0x4000_0000 | n` on frames from the opener and
//!   `0x6000_0000 | n` on frames from the responder, `n` being the opener's
//!   stream number (below 2^29). Both ends name the stream by (peer, `n`),
//!   and two nodes opening streams to each other never collide.
//! - **seq**: segment number from 0, one space per direction. A segment
//!   holds at most `fragment_size` bytes, and at most 8 KiB (so that the
//!   window, counted in segments, bounds the same memory whatever the
//!   fragment size), and is never fragmented.
//! - **flags**: SYN on the opener's segment 0 (sent by `open_stream`,
//!   empty), so the responder learns of the stream before any data; FIN on
//!   a direction's last segment (half-close); RST aborts the stream.
//! - **ACK**: as for `Sequenced`; its `window` is how many segments past
//!   `cumulative` the receiver will still buffer. The sender keeps below
//!   `cumulative + window`, except for one probe segment when nothing is in
//!   flight, so a lost window update cannot stall the stream; a receiver
//!   that answers (even with window 0) keeps the stream alive however long
//!   its application takes to read.
//!
//! A stream ends when both FINs are acknowledged and the application has
//! read the end ([`StreamEnd::Finished`]), on RST ([`StreamEnd::Reset`]),
//! or when its bytes cannot be delivered within the delivery timeout
//! ([`StreamEnd::Failed`]).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use bytes::{Bytes, BytesMut};

use super::super::output::{Event, MessageId, StreamEnd, StreamId};
use super::send::transmit_on;
use super::{Mesh, Msg, NewMessage, Transport, DEFAULT_PRIORITY};
use crate::time::Instant;
use crate::wire::link::{Ack, Data, Route, Semantics, FLAG_FIN, FLAG_RST, FLAG_SYN};
use crate::wire::{FixedList, LinkMessage, NodeId};

const STREAM_BIT: u32 = 0x4000_0000;
const RESPONDER_BIT: u32 = 0x2000_0000;
const NUMBER_LIMIT: u32 = 0x2000_0000;

/// Whether `channel` belongs to a stream.
pub(super) fn is_stream_channel(channel: u32) -> bool {
    channel & 0xc000_0000 == STREAM_BIT
}

/// Why a stream operation was refused. None of them changes anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamError {
    /// No such stream: never opened, or already closed.
    Unknown,
    /// Nothing to read yet, or no room to write: an
    /// [`Event::StreamReadable`] or [`Event::StreamWritable`] says when.
    WouldBlock,
    /// Written after [`Node::stream_finish`](crate::Node::stream_finish).
    Finished,
    /// The peer is not reachable (or is this node).
    Unreachable,
    /// [`max_streams`](crate::Config::max_streams) streams are open, or
    /// this node has used up its 2^29 stream numbers.
    TooManyStreams,
    /// The node is shutting down.
    ShuttingDown,
}

impl core::fmt::Display for StreamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            StreamError::Unknown => "unknown stream",
            StreamError::WouldBlock => "stream would block",
            StreamError::Finished => "stream already finished for writing",
            StreamError::Unreachable => "peer unreachable",
            StreamError::TooManyStreams => "stream limit reached",
            StreamError::ShuttingDown => "node is shutting down",
        })
    }
}

impl core::error::Error for StreamError {}

#[derive(Debug)]
struct Stream {
    peer: NodeId,
    /// Channel of our frames, and of the peer's.
    tx_channel: u32,
    rx_channel: u32,
    send_buf: VecDeque<Bytes>,
    send_bytes: usize,
    /// The peer takes segments below this (its last `cumulative + window`).
    peer_limit: u64,
    finish_requested: bool,
    fin_seq: Option<u64>,
    fin_acked: bool,
    writable_wanted: bool,
    /// In-order segments not yet fully read.
    readable: VecDeque<Bytes>,
    /// Segments handed to the application in full (the window's base).
    consumed: u64,
    /// `consumed + window` as last advertised.
    advertised: u64,
    peer_fin: Option<u64>,
    eof_read: bool,
    /// Since when the peer has had no route (housekeeping fails the stream
    /// after the delivery timeout).
    unreachable_since: Option<Instant>,
}

impl Stream {
    fn new(peer: NodeId, tx_channel: u32, rx_channel: u32, window: u64) -> Stream {
        Stream {
            peer,
            tx_channel,
            rx_channel,
            send_buf: VecDeque::new(),
            send_bytes: 0,
            peer_limit: window,
            finish_requested: false,
            fin_seq: None,
            fin_acked: false,
            writable_wanted: false,
            readable: VecDeque::new(),
            consumed: 0,
            advertised: window,
            peer_fin: None,
            eof_read: false,
            unreachable_since: None,
        }
    }

    /// Takes the next segment (at most `size` bytes) from the send buffer,
    /// copying only to join writes smaller than a segment.
    fn take_segment(&mut self, size: usize) -> Bytes {
        let single = self.send_buf.len() == 1;
        let Some(front) = self.send_buf.front_mut() else { return Bytes::new() };
        if front.len() >= size || single {
            let seg = front.split_to(front.len().min(size));
            if front.is_empty() {
                self.send_buf.pop_front();
            }
            self.send_bytes -= seg.len();
            return seg;
        }
        let mut seg = BytesMut::with_capacity(size.min(self.send_bytes));
        while let Some(front) = self.send_buf.front_mut() {
            let n = front.len().min(size - seg.len());
            seg.extend_from_slice(&front.split_to(n));
            if front.is_empty() {
                self.send_buf.pop_front();
            }
            if seg.len() == size {
                break;
            }
        }
        self.send_bytes -= seg.len();
        seg.freeze()
    }
}

#[derive(Debug, Default)]
pub(super) struct Streams {
    by_id: BTreeMap<StreamId, Stream>,
    /// By (peer, the peer's channel).
    by_rx: BTreeMap<(NodeId, u32), StreamId>,
    next_id: u64,
    next_number: u32,
    /// Streams closed recently, by (peer, the peer's channel), with when
    /// and how far the peer's bytes had arrived: late frames neither reopen
    /// them nor go unanswered (a repeated FIN whose ACK was lost is
    /// acknowledged again, anything newer is answered with RST).
    closed: BTreeMap<(NodeId, u32), (Instant, u64)>,
}

impl Transport {
    /// Opens a stream to `to`. The peer learns of it at once (an empty SYN
    /// segment) and gets [`Event::StreamOpened`]; both sides may write.
    pub(in crate::node) fn open_stream(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
    ) -> Result<StreamId, StreamError> {
        if m.shutting_down {
            return Err(StreamError::ShuttingDown);
        }
        if to == m.me || !m.reachable(&to) {
            return Err(StreamError::Unreachable);
        }
        let streams = &mut self.streams;
        if streams.by_id.len() >= m.cfg.max_streams || streams.next_number >= NUMBER_LIMIT {
            return Err(StreamError::TooManyStreams);
        }
        let n = streams.next_number;
        streams.next_number += 1;
        let (tx, rx) = (STREAM_BIT | n, STREAM_BIT | RESPONDER_BIT | n);
        let id = self.new_stream(Stream::new(to, tx, rx, m.cfg.stream_window as u64));
        let syn = NewMessage {
            id: MessageId(0),
            semantics: Semantics::Stream,
            channel: tx,
            payload: Bytes::new(),
            group: None,
            flags: FLAG_SYN,
            priority: DEFAULT_PRIORITY,
            confirm: false,
            timeout: None,
            max_retransmissions: None,
        };
        if self.enqueue(m, now, to, syn).is_err() {
            self.remove_stream(now, id);
            return Err(StreamError::TooManyStreams);
        }
        Ok(id)
    }

    fn new_stream(&mut self, s: Stream) -> StreamId {
        let streams = &mut self.streams;
        streams.next_id += 1;
        let id = StreamId(streams.next_id);
        streams.by_rx.insert((s.peer, s.rx_channel), id);
        streams.by_id.insert(id, s);
        id
    }

    /// The peer at the other end of `stream`.
    pub(in crate::node) fn stream_peer(&self, stream: StreamId) -> Option<NodeId> {
        self.streams.by_id.get(&stream).map(|s| s.peer)
    }

    /// Streams open now.
    pub(in crate::node) fn stream_count(&self) -> usize {
        self.streams.by_id.len()
    }

    /// Queues bytes for sending: returns how many were taken (up to
    /// [`stream_send_buffer`](crate::Config::stream_send_buffer) buffered
    /// in all); `WouldBlock` when none fit. When fewer than offered were
    /// taken, [`Event::StreamWritable`] says when there is room again. No
    /// bytes are copied unless writes smaller than a segment are joined.
    pub(in crate::node) fn stream_write(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        stream: StreamId,
        data: Bytes,
    ) -> Result<usize, StreamError> {
        let cap = m.cfg.stream_send_buffer;
        let s = self.streams.by_id.get_mut(&stream).ok_or(StreamError::Unknown)?;
        if s.finish_requested {
            return Err(StreamError::Finished);
        }
        let room = cap.saturating_sub(s.send_bytes);
        if room == 0 && !data.is_empty() {
            s.writable_wanted = true;
            return Err(StreamError::WouldBlock);
        }
        let n = room.min(data.len());
        if n < data.len() {
            // Say when the rest fits.
            s.writable_wanted = true;
        }
        if n > 0 {
            s.send_buf.push_back(data.slice(..n));
            s.send_bytes += n;
        }
        self.pump_stream(m, now, stream);
        Ok(n)
    }

    /// Half-closes the stream: what was written is still delivered, then
    /// the peer reads the end. Reading goes on until the peer finishes too.
    pub(in crate::node) fn stream_finish(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let s = self.streams.by_id.get_mut(&stream).ok_or(StreamError::Unknown)?;
        s.finish_requested = true;
        self.pump_stream(m, now, stream);
        Ok(())
    }

    /// Aborts the stream at once: unsent and unread bytes are dropped and
    /// the peer gets [`StreamEnd::Reset`]. No event here: the id is invalid
    /// on return.
    pub(in crate::node) fn stream_reset(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        stream: StreamId,
    ) -> Result<(), StreamError> {
        let s = self.remove_stream(now, stream).ok_or(StreamError::Unknown)?;
        self.send_rst(m, s.peer, s.tx_channel);
        Ok(())
    }

    /// Reads up to `max` bytes: `Ok(None)` at the end of the stream (the
    /// peer finished and everything was read), `WouldBlock` when nothing is
    /// there yet. Returns bytes of one segment at a time, without copying.
    pub(in crate::node) fn stream_read(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        stream: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, StreamError> {
        let window = m.cfg.stream_window as u64;
        let s = self.streams.by_id.get_mut(&stream).ok_or(StreamError::Unknown)?;
        if let Some(front) = s.readable.front_mut() {
            let out = front.split_to(front.len().min(max.max(1)));
            if front.is_empty() {
                s.readable.pop_front();
                s.consumed += 1;
            }
            // Tell the sender about the room once half a window has opened
            // (or any room after a full window), not after every read.
            let limit = s.consumed + window;
            let cumulative = self.rx.get(&(s.peer, s.rx_channel)).map_or(0, |r| r.cumulative);
            let was_closed = s.advertised <= cumulative;
            if was_closed || limit >= s.advertised + window.div_ceil(2) {
                s.advertised = limit;
                let (peer, channel) = (s.peer, s.rx_channel);
                let win = limit.saturating_sub(cumulative) as u32;
                if let Some(back) = m.path_route(&peer) {
                    self.send_ack_on(m, Semantics::Stream, channel, win, back, peer);
                }
            }
            return Ok(Some(out));
        }
        let end = s.peer_fin.is_some_and(|f| {
            self.rx.get(&(s.peer, s.rx_channel)).is_some_and(|r| r.cumulative > f)
        });
        if !end {
            return Err(StreamError::WouldBlock);
        }
        s.eof_read = true;
        self.maybe_close_stream(m, now, stream);
        Ok(None)
    }

    /// Sends what the windows allow.
    fn pump_stream(&mut self, m: &mut Mesh<'_>, now: Instant, stream: StreamId) {
        let size = m.stream_segment_size();
        loop {
            let Some(s) = self.streams.by_id.get(&stream) else { return };
            let (peer, channel) = (s.peer, s.tx_channel);
            let (in_flight, next_seq) =
                self.tx.get(&(peer, channel)).map_or((0, 0), |c| (c.inflight.len(), c.next_seq));
            // The channel's window, the destination's congestion window and
            // the first link's queue: what `enqueue` checks too.
            let room = self.has_room(m, peer, channel, DEFAULT_PRIORITY);
            let Some(s) = self.streams.by_id.get_mut(&stream) else { return };
            let fin_due = s.finish_requested && s.fin_seq.is_none();
            if s.send_bytes == 0 && !fin_due {
                break;
            }
            let open = next_seq < s.peer_limit || in_flight == 0;
            if !room || !open {
                break;
            }
            let payload = s.take_segment(size);
            let mut flags = 0;
            if s.finish_requested && s.send_bytes == 0 {
                flags |= FLAG_FIN;
                s.fin_seq = Some(next_seq);
            }
            let seg = NewMessage {
                id: MessageId(0),
                semantics: Semantics::Stream,
                channel,
                payload: payload.clone(),
                group: None,
                flags,
                priority: DEFAULT_PRIORITY,
                confirm: false,
                timeout: None,
                max_retransmissions: None,
            };
            if self.enqueue(m, now, peer, seg).is_err() {
                // Not expected (the same room was checked above), but then
                // the bytes go back where they were, not lost.
                if let Some(s) = self.streams.by_id.get_mut(&stream) {
                    s.send_bytes += payload.len();
                    s.send_buf.push_front(payload);
                    if flags & FLAG_FIN != 0 {
                        s.fin_seq = None;
                    }
                }
                break;
            }
        }
        let cap = m.cfg.stream_send_buffer;
        if let Some(s) = self.streams.by_id.get_mut(&stream) {
            if s.writable_wanted && s.send_bytes < cap {
                s.writable_wanted = false;
                self.push_event(m, Event::StreamWritable { stream });
            }
        }
    }

    /// Sends what every stream holds back, as far as the windows allow
    /// (a link queue has drained).
    pub(super) fn pump_all_streams(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let waiting: Vec<StreamId> = self
            .streams
            .by_id
            .iter()
            .filter(|(_, s)| s.send_bytes > 0 || (s.finish_requested && s.fin_seq.is_none()))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            self.pump_stream(m, now, id);
        }
    }

    /// An ACK on a stream channel (its in-flight segments are already
    /// settled): take the new window, and send or close.
    pub(super) fn on_stream_ack(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        from: NodeId,
        channel: u32,
        cumulative: u64,
        window: u32,
    ) {
        let Some(&id) = self.streams.by_rx.get(&(from, channel ^ RESPONDER_BIT)) else {
            return;
        };
        let Some(s) = self.streams.by_id.get_mut(&id) else { return };
        s.peer_limit = s.peer_limit.max(cumulative.saturating_add(u64::from(window)));
        if s.fin_seq.is_some_and(|f| cumulative > f) {
            s.fin_acked = true;
        }
        self.pump_stream(m, now, id);
        self.maybe_close_stream(m, now, id);
    }

    /// A stream segment (or RST) from `from`; `to_me` is its path.
    pub(super) fn on_stream_data(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        from: NodeId,
        d: Data,
        to_me: &Route,
    ) {
        if !is_stream_channel(d.channel) || d.frag_count != 1 {
            m.out.stats.dropped_malformed += 1;
            return;
        }
        let key = (from, d.channel);
        let rst = d.flags & FLAG_RST != 0;
        let id = match self.streams.by_rx.get(&key) {
            Some(&id) => id,
            None if rst => return,
            None => {
                let opener_syn =
                    d.channel & RESPONDER_BIT == 0 && d.flags & FLAG_SYN != 0 && d.seq == 0;
                let closed = self.streams.closed.get(&key).map(|c| c.1);
                let was_closed = closed.is_some();
                if let Some(cumulative) = closed.filter(|_| !opener_syn) {
                    let Some(back) = to_me.reversed_path() else { return };
                    if d.seq < cumulative {
                        // It arrived before: our ACK was lost.
                        let ack = Ack {
                            semantics: Semantics::Stream,
                            channel: d.channel,
                            cumulative,
                            window: 0,
                            route: back,
                            ranges: FixedList::from_entries([].iter()),
                        };
                        let first = ack.route.id(1);
                        if let Some(link) = first.and_then(|f| m.link_to(&f)) {
                            m.send_message(link, LinkMessage::Ack(ack));
                        }
                    } else {
                        // The peer still sends on a stream we reset.
                        self.send_rst_on(m, &back, d.channel ^ RESPONDER_BIT);
                    }
                    return;
                }
                if !opener_syn || was_closed {
                    // Data ahead of its SYN (reordered): the sender resends.
                    m.out.stats.dropped_unexpected += 1;
                    return;
                }
                let full = self.streams.by_id.len() >= m.cfg.max_streams;
                if full || m.shutting_down {
                    m.out.stats.dropped_limit += 1;
                    if let Some(back) = to_me.reversed_path() {
                        self.send_rst_on(m, &back, d.channel | RESPONDER_BIT);
                    }
                    return;
                }
                let window = m.cfg.stream_window as u64;
                let id = self.new_stream(Stream::new(
                    from,
                    d.channel | RESPONDER_BIT,
                    d.channel,
                    window,
                ));
                self.push_event(m, Event::StreamOpened { stream: id, peer: from });
                id
            }
        };
        if rst {
            self.remove_stream(now, id);
            self.push_event(m, Event::StreamClosed { stream: id, reason: StreamEnd::Reset });
            return;
        }
        let window = m.cfg.stream_window as u64;
        let Some(s) = self.streams.by_id.get_mut(&id) else { return };
        let limit = s.consumed + window;
        let rx = self.rx.entry(key).or_default();
        let mut ready: Vec<Bytes> = Vec::new();
        if d.seq >= limit {
            // No room: the reader is slow. Dropped unacknowledged; the ACK
            // below tells the sender the window.
            m.out.stats.dropped_limit += 1;
        } else if d.seq >= rx.cumulative && !rx.above.contains(&d.seq) {
            if d.flags & FLAG_FIN != 0 {
                s.peer_fin = Some(d.seq);
            }
            rx.above.insert(d.seq);
            rx.waiting.insert(d.seq, d.payload);
            while rx.above.remove(&rx.cumulative) {
                if let Some(m) = rx.waiting.remove(&rx.cumulative) {
                    ready.push(m);
                }
                rx.cumulative += 1;
            }
        }
        let cumulative = rx.cumulative;
        let was_empty = s.readable.is_empty();
        for m in ready {
            if m.is_empty() {
                s.consumed += 1;
            } else {
                s.readable.push_back(m);
            }
        }
        let end_now = s.peer_fin.is_some_and(|f| f.checked_add(1) == Some(cumulative))
            && s.readable.is_empty();
        let readable = !s.readable.is_empty() || end_now;
        let limit = s.consumed + window;
        s.advertised = limit;
        if was_empty && readable && !s.eof_read {
            self.push_event(m, Event::StreamReadable { stream: id });
        }
        let win = limit.saturating_sub(cumulative) as u32;
        self.send_ack(from, Semantics::Stream, d.channel, win, to_me);
    }

    /// Closes a stream whose both directions are done.
    fn maybe_close_stream(&mut self, m: &mut Mesh<'_>, now: Instant, stream: StreamId) {
        let done = self.streams.by_id.get(&stream).is_some_and(|s| s.fin_acked && s.eof_read);
        if done {
            self.remove_stream(now, stream);
            self.push_event(m, Event::StreamClosed { stream, reason: StreamEnd::Finished });
        }
    }

    /// A stream's bytes could not be delivered: abort it.
    pub(super) fn fail_stream(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        peer: NodeId,
        tx: u32,
        reason: StreamEnd,
    ) {
        let Some(&id) = self.streams.by_rx.get(&(peer, tx ^ RESPONDER_BIT)) else {
            return;
        };
        if let Some(s) = self.remove_stream(now, id) {
            self.send_rst(m, s.peer, s.tx_channel);
            self.push_event(m, Event::StreamClosed { stream: id, reason });
        }
    }

    /// Forgets a stream and its sequence state.
    fn remove_stream(&mut self, now: Instant, id: StreamId) -> Option<Stream> {
        let streams = &mut self.streams;
        let s = streams.by_id.remove(&id)?;
        streams.by_rx.remove(&(s.peer, s.rx_channel));
        self.tx.remove(&(s.peer, s.tx_channel));
        let mut cumulative = 0;
        if let Some(rx) = self.rx.remove(&(s.peer, s.rx_channel)) {
            cumulative = rx.cumulative;
            let freed = rx.reasm.values().map(|r| r.bytes).sum();
            self.release_reassembly(&s.peer, freed);
        }
        self.streams.closed.insert((s.peer, s.rx_channel), (now, cumulative));
        Some(s)
    }

    fn send_rst(&mut self, m: &mut Mesh<'_>, peer: NodeId, channel: u32) {
        if let Some(route) = m.path_route(&peer) {
            self.send_rst_on(m, &route, channel);
        }
    }

    fn send_rst_on(&mut self, m: &mut Mesh<'_>, path: &Route, channel: u32) {
        let msg = Msg {
            semantics: Semantics::Stream,
            channel,
            seq: 0,
            flags: FLAG_RST,
            payload: &Bytes::new(),
            group: None,
            priority: DEFAULT_PRIORITY,
        };
        transmit_on(m, path, msg);
    }

    /// Shutdown: every stream fails.
    pub(in crate::node) fn close_all_streams(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let ids: Vec<StreamId> = self.streams.by_id.keys().copied().collect();
        for id in ids {
            if let Some(s) = self.remove_stream(now, id) {
                self.send_rst(m, s.peer, s.tx_channel);
                let reason = StreamEnd::Failed(super::super::output::FailReason::Shutdown);
                self.push_event(m, Event::StreamClosed { stream: id, reason });
            }
        }
    }

    /// Housekeeping: fail streams whose peer has been unreachable for the
    /// delivery timeout, forget old closed-stream markers.
    pub(in crate::node) fn expire_streams(&mut self, m: &mut Mesh<'_>, now: Instant) {
        let timeout = m.cfg.delivery_timeout;
        let mut dead = Vec::new();
        for (id, s) in self.streams.by_id.iter_mut() {
            if m.reachable(&s.peer) {
                s.unreachable_since = None;
            } else if now - *s.unreachable_since.get_or_insert(now) >= timeout {
                dead.push(*id);
            }
        }
        for id in dead {
            if self.remove_stream(now, id).is_some() {
                let reason = StreamEnd::Failed(super::super::output::FailReason::Unreachable);
                self.push_event(m, Event::StreamClosed { stream: id, reason });
            }
        }
        let keep = timeout * 2;
        self.streams.closed.retain(|_, (t, _)| now - *t < keep);
    }
}
