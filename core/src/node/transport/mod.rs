//! End-to-end delivery: source-routed DATA and ACK, forwarding, and the
//! four semantics' sender and receiver state.
//!
//! - Every message gets a sequence number in its (destination, channel)
//!   space; channel 0 carries `Datagram`, 1 `Reliable`, 2 `Sequenced`.
//! - `Datagram` is sent once; receivers drop duplicates within a window.
//! - `Reliable` and `Sequenced` stay in flight until the destination's ACK
//!   (cumulative plus selective ranges) covers them, retransmitted on the
//!   current route after an RTO estimated as in RFC 6298 (with Karn's rule
//!   and exponential backoff), and reported delivered or failed.
//! - Messages larger than the fragment size travel as fragments and are
//!   reassembled under per-source and total memory caps.
//! - A forwarding node finds itself on the route and passes the unchanged
//!   frame to the next hop: nothing is decoded beyond the header and route,
//!   nothing is copied. A next hop without a link is reported back with
//!   ROUTE_ERROR, and the source retransmits at once on a new route.
//!
//! - Group messages follow a distribution tree: the union of the SPF paths
//!   to the members, so each tree link carries one copy.
//! - `Stream` is an ordered byte stream with flow control
//!   ([`stream`](self::stream)); `ping` measures round trips through the
//!   mesh ([`ping`](self::ping)).

mod calls;
mod congestion;
mod forward;
mod inbox;
mod inflight;
mod mesh;
mod ping;
mod receive;
mod send;
mod send_many;
mod stream;
#[cfg(test)]
mod tests;

pub(in crate::node) use mesh::Mesh;
pub use stream::StreamError;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::Bytes;

use super::output::{Event, MessageId};
use crate::time::Instant;
use crate::wire::link::{Route, Semantics};
use crate::wire::NodeId;

/// Why `send` or `shout` refused a message. Nothing was queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// No route to the destination (or it is this node).
    Unreachable,
    /// The send window towards the destination is full: wait for
    /// [`Event::Writable`].
    WouldBlock,
    /// The message is larger than `max_message`.
    TooLarge,
    /// `Stream` is opened with streams, not sent as a message.
    Unsupported,
    /// The node is shutting down.
    ShuttingDown,
    /// The priority is above [`LOWEST_PRIORITY`].
    BadPriority,
    /// The delivery timeout ([`SendOptions::timeout`]) is zero.
    BadTimeout,
}

/// What [`Node::send_many`](crate::Node::send_many) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendMany {
    /// Ids of the messages accepted, in order: the first `ids.len()`
    /// payloads.
    pub ids: alloc::vec::Vec<MessageId>,
    /// Why the next payload was refused (none after it was tried), if one
    /// was.
    pub refused: Option<SendError>,
}

/// The most urgent priority.
pub const HIGHEST_PRIORITY: u8 = 0;
/// The least urgent priority.
pub const LOWEST_PRIORITY: u8 = 7;
/// The priority of [`Node::send`](crate::Node::send), streams and pings:
/// the middle, so that some traffic can go ahead of it and some behind.
pub const DEFAULT_PRIORITY: u8 = 4;

/// How a message is sent: its delivery semantics and its priority (0 most
/// urgent, 7 least). Each link sends control frames first, then DATA by
/// priority, sharing bytes by weight so that no priority starves
/// (PROTOCOL 7.16); the priority travels with the message across hops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Delivery semantics.
    pub semantics: Semantics,
    /// 0 (most urgent) to 7 (least); [`DEFAULT_PRIORITY`] unless set.
    pub priority: u8,
    /// Report the message's delivery with [`Event::Delivered`] (the
    /// default). Off, a message delivered is reported by nothing, as a
    /// publish is in most pub/sub systems, which spares the sender an
    /// event per message; a failure is still reported with
    /// [`Event::SendFailed`], and [`Node::in_flight`](crate::Node::in_flight)
    /// says when nothing is left unacknowledged. Meaningful for Reliable
    /// and Sequenced (Datagram is never reported, Stream reports per
    /// stream).
    pub confirm: bool,
    /// How long the message may take to be acknowledged before it fails
    /// with [`FailReason::Timeout`](crate::node::FailReason::Timeout)
    /// (or `Unreachable`): `None` for
    /// [`Config::delivery_timeout`](crate::Config::delivery_timeout).
    /// Zero is refused with [`SendError::BadTimeout`]. Meaningful for
    /// Reliable and Sequenced.
    pub timeout: Option<Duration>,
    /// At most this many retransmissions, after which the message fails
    /// with [`FailReason::Timeout`](crate::node::FailReason::Timeout) when
    /// the next one would be due, whatever time its `timeout` leaves;
    /// `None` for no limit but the timeout. As with the timeout, a failure
    /// on a Sequenced channel fails what is in flight behind it too (the
    /// receiver cannot deliver past it). Meaningful for Reliable and
    /// Sequenced.
    pub max_retransmissions: Option<u32>,
}

impl SendOptions {
    /// `semantics` at [`DEFAULT_PRIORITY`].
    pub const fn new(semantics: Semantics) -> SendOptions {
        SendOptions {
            semantics,
            priority: DEFAULT_PRIORITY,
            confirm: true,
            timeout: None,
            max_retransmissions: None,
        }
    }

    /// The same, failing if not acknowledged within `timeout` (see
    /// [`timeout`](Self::timeout)).
    #[must_use]
    pub const fn timeout(self, timeout: Duration) -> SendOptions {
        SendOptions { timeout: Some(timeout), ..self }
    }

    /// The same, failing after `n` retransmissions (see
    /// [`max_retransmissions`](Self::max_retransmissions)).
    #[must_use]
    pub const fn max_retransmissions(self, n: u32) -> SendOptions {
        SendOptions { max_retransmissions: Some(n), ..self }
    }

    /// The same, with delivery reported or not (see [`confirm`](Self::confirm)).
    #[must_use]
    pub const fn confirm(self, confirm: bool) -> SendOptions {
        SendOptions { confirm, ..self }
    }

    /// The same, at `priority`.
    #[must_use]
    pub const fn priority(self, priority: u8) -> SendOptions {
        SendOptions { priority, ..self }
    }
}

impl From<Semantics> for SendOptions {
    fn from(semantics: Semantics) -> SendOptions {
        SendOptions::new(semantics)
    }
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SendError::Unreachable => "destination unreachable",
            SendError::WouldBlock => "send window full",
            SendError::TooLarge => "message too large",
            SendError::Unsupported => "semantics not supported by send",
            SendError::ShuttingDown => "node is shutting down",
            SendError::BadPriority => "priority above 7",
            SendError::BadTimeout => "delivery timeout of zero",
        })
    }
}

impl core::error::Error for SendError {}

/// Duplicate window for datagrams, in sequence numbers.
const DEDUP_WINDOW: u64 = 4096;
/// Selective ranges carried by one ACK.
const ACK_RANGES: usize = 8;

fn channel_of(s: Semantics) -> u32 {
    s as u32
}

/// Channel of pings (DATA with `Datagram` semantics, echoed by the
/// destination on [`PONG_CHANNEL`]).
const PING_CHANNEL: u32 = 3;
/// Channel of pongs.
const PONG_CHANNEL: u32 = 4;

/// Group messages have their own sequence spaces, one per (group,
/// semantics): the top bit set, a hash of the group name, the semantics.
fn group_channel(group: &str, s: Semantics) -> u32 {
    0x8000_0000 | ((crate::wire::cluster_hash(group) as u32 & 0x0fff_ffff) << 2) | s as u32
}

fn is_group_channel(channel: u32) -> bool {
    channel & 0x8000_0000 != 0
}

/// A channel of unicast messages (`channel_of`), the only ones bundled.
fn is_message_channel(channel: u32) -> bool {
    channel <= Semantics::Sequenced as u32
}

/// One message in flight.
#[derive(Debug)]
struct Outgoing {
    id: MessageId,
    semantics: Semantics,
    payload: Bytes,
    group: Option<String>,
    first_sent: Instant,
    last_sent: Instant,
    rto: Duration,
    retransmitted: bool,
    deadline: Instant,
    /// DATA flags it carries on every transmission (SYN, FIN).
    flags: u8,
    priority: u8,
    /// A ROUTE_ERROR named it: resend at this time, on the route SPF has
    /// computed by then.
    reroute_at: Option<Instant>,
    /// Report its delivery (see [`SendOptions::confirm`]).
    confirm: bool,
    /// Its delivery timeout: `deadline` is this after it was sent, or
    /// after the destination last said it was alive but holding back.
    timeout: Duration,
    /// Retransmissions so far (timer, fast, reroute, reopened window).
    retransmissions: u32,
    /// Fail rather than retransmit past this many (see
    /// [`SendOptions::max_retransmissions`]).
    max_retransmissions: Option<u32>,
}

impl Outgoing {
    /// When it needs the retransmission timer: its next resend, its
    /// failure, or its reroute, whichever comes first.
    fn due(&self) -> Instant {
        let at = (self.last_sent + self.rto).min(self.deadline);
        self.reroute_at.map_or(at, |r| r.min(at))
    }

    /// It may not be retransmitted again (see
    /// [`SendOptions::max_retransmissions`]).
    fn exhausted(&self) -> bool {
        self.max_retransmissions.is_some_and(|n| self.retransmissions >= n)
    }

    /// It fails at `now`: past its deadline, or due for a retransmission
    /// it may not have.
    fn expired(&self, now: Instant) -> bool {
        now >= self.deadline
            || (self.exhausted()
                && (now >= self.last_sent + self.rto || self.reroute_at.is_some_and(|t| now >= t)))
    }

    /// Counts one more transmission of it.
    fn resent(&mut self, now: Instant) {
        self.last_sent = now;
        self.retransmitted = true;
        self.retransmissions = self.retransmissions.saturating_add(1);
    }
}

/// A message in flight due for another transmission (copied out so the
/// channel can be released before sending).
struct Resend {
    to: NodeId,
    channel: u32,
    seq: u64,
    semantics: Semantics,
    payload: Bytes,
    group: Option<String>,
    flags: u8,
    priority: u8,
}

impl Resend {
    fn of(to: NodeId, channel: u32, seq: u64, o: &Outgoing) -> Resend {
        Resend {
            to,
            channel,
            seq,
            semantics: o.semantics,
            payload: o.payload.clone(),
            group: o.group.clone(),
            flags: o.flags,
            priority: o.priority,
        }
    }
}

/// What one transmission of a message carries.
#[derive(Debug, Clone, Copy)]
struct Msg<'a> {
    semantics: Semantics,
    channel: u32,
    seq: u64,
    flags: u8,
    payload: &'a Bytes,
    group: Option<&'a str>,
    priority: u8,
}

/// A message to put in flight.
struct NewMessage {
    id: MessageId,
    semantics: Semantics,
    channel: u32,
    payload: Bytes,
    group: Option<String>,
    flags: u8,
    priority: u8,
    /// Report its delivery (see [`SendOptions::confirm`]).
    confirm: bool,
    /// See [`SendOptions::timeout`].
    timeout: Option<Duration>,
    /// See [`SendOptions::max_retransmissions`].
    max_retransmissions: Option<u32>,
}

impl NewMessage {
    /// A message to one destination, sent as `opts` says, on its
    /// semantics' channel.
    fn unicast(id: MessageId, opts: SendOptions, payload: Bytes) -> NewMessage {
        NewMessage {
            id,
            semantics: opts.semantics,
            channel: channel_of(opts.semantics),
            payload,
            group: None,
            flags: 0,
            priority: opts.priority,
            confirm: opts.confirm,
            timeout: opts.timeout,
            max_retransmissions: opts.max_retransmissions,
        }
    }
}

#[derive(Debug, Default)]
struct TxChannel {
    next_seq: u64,
    inflight: inflight::InFlight,
    /// Payload bytes of `inflight`.
    inflight_bytes: usize,
    /// Payload bytes of `inflight` by priority: the congestion window
    /// admits a message by what is in flight at its priority or more
    /// urgent (see [`Transport::has_room`]).
    by_priority: [usize; 8],
    /// The priority of the send last refused, for its `Writable`.
    blocked_priority: u8,
    /// A send was refused for lack of window: say when there is room.
    blocked: bool,
    /// A message failed: the next one carries SYN so the receiver skips
    /// the gap instead of waiting for it forever.
    resync: bool,
    /// The destination's inbox is full (its last ACK offered a zero
    /// window): send nothing new; what is in flight probes until the
    /// window reopens.
    peer_full: bool,
    /// Nothing in flight here is due (retransmission, reroute or failure)
    /// before this: the retransmission timer visits a channel only once
    /// it may have work, instead of every message of every channel each
    /// time it fires. A lower bound: acknowledgements and resends only
    /// push deadlines later, so it is made exact only when visited.
    due: Option<Instant>,
}

/// RFC 6298 estimator for one destination.
#[derive(Debug, Clone, Copy, Default)]
struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    /// Timeouts since the last sample: what is sent meanwhile starts with
    /// the timeout doubled as often, up to twice (RFC 6298, 5.5 and 5.7).
    backoff: u32,
}

impl Rtt {
    fn sample(&mut self, r: Duration) {
        self.backoff = 0;
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2;
            }
            Some(s) => {
                let diff = s.abs_diff(r);
                self.rttvar = (self.rttvar * 3 + diff) / 4;
                self.srtt = Some((s * 7 + r) / 8);
            }
        }
    }
}

#[derive(Debug, Default)]
struct Reassembly {
    parts: BTreeMap<u16, Bytes>,
    count: u16,
    bytes: usize,
    /// When the first fragment arrived: a message still incomplete after
    /// the delivery timeout is dropped (its sender has given up too).
    started: Option<Instant>,
}

#[derive(Debug, Default)]
struct RxChannel {
    /// Every seq below this has arrived (reliable, sequenced).
    cumulative: u64,
    /// Seqs at or above `cumulative` that arrived.
    above: BTreeSet<u64>,
    /// Sequenced: complete messages waiting for the ones before them.
    waiting: BTreeMap<u64, Bytes>,
    /// Messages being reassembled, by seq.
    reasm: BTreeMap<u64, Reassembly>,
    /// Datagram: highest seq seen, and the ones seen within the window.
    highest: u64,
}

impl TxChannel {
    /// Whether another message may go in flight: fewer than `send_window`
    /// messages and `send_window_bytes` bytes are (one message larger than
    /// the byte window still goes alone).
    fn has_room(&self, cfg: &crate::config::Config) -> bool {
        !self.peer_full
            && self.inflight.len() < cfg.send_window
            && self.inflight_bytes < cfg.send_window_bytes
    }

    fn insert(&mut self, seq: u64, o: Outgoing) {
        self.due_by(o.due());
        self.inflight_bytes += o.payload.len();
        self.by_priority[usize::from(o.priority.min(7))] += o.payload.len();
        if let Some(old) = self.inflight.insert(seq, o) {
            self.inflight_bytes -= old.payload.len();
            self.by_priority[usize::from(old.priority.min(7))] -= old.payload.len();
        }
    }

    /// Something here is due at `at` at the latest.
    fn due_by(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    fn remove(&mut self, seq: u64) -> Option<Outgoing> {
        let o = self.inflight.remove(seq)?;
        self.inflight_bytes -= o.payload.len();
        self.by_priority[usize::from(o.priority.min(7))] -= o.payload.len();
        Some(o)
    }

    /// Takes the oldest message out of flight if its number is below
    /// `seq` (what a cumulative acknowledgement covers).
    fn pop_below(&mut self, seq: u64) -> Option<Outgoing> {
        let o = self.inflight.pop_below(seq)?;
        self.inflight_bytes -= o.payload.len();
        self.by_priority[usize::from(o.priority.min(7))] -= o.payload.len();
        Some(o)
    }

    fn take_all(&mut self) -> Vec<(u64, Outgoing)> {
        self.inflight_bytes = 0;
        self.by_priority = [0; 8];
        self.inflight.take_all()
    }
}

impl RxChannel {
    /// The sender restarted its sequence at `seq` (SYN) after giving up on
    /// messages before it: stop waiting for them.
    /// Returns the reassembly bytes it freed.
    fn resync(&mut self, seq: u64) -> usize {
        if seq <= self.cumulative {
            return 0;
        }
        self.cumulative = seq;
        self.above = self.above.split_off(&seq);
        self.waiting = self.waiting.split_off(&seq);
        let kept = self.reasm.split_off(&seq);
        let freed = self.reasm.values().map(|r| r.bytes).sum();
        self.reasm = kept;
        freed
    }
}

/// End-to-end delivery: every channel's sender and receiver state, RTT
/// estimates, reassembly, streams, pings, the ACKs an input owes and the
/// inbox. Each call borrows the rest of the node as a [`Mesh`].
#[derive(Default)]
pub(crate) struct Transport {
    next_id: u64,
    tx: BTreeMap<(NodeId, u32), TxChannel>,
    rx: BTreeMap<(NodeId, u32), RxChannel>,
    rtt: BTreeMap<NodeId, Rtt>,
    reasm_by_peer: BTreeMap<NodeId, usize>,
    reasm_total: usize,
    /// Next sequence number of each group channel (shared by its members).
    group_seq: BTreeMap<u32, u64>,
    streams: stream::Streams,
    pings: ping::Pings,
    /// ACKs owed for the input being handled, by (source, channel): the
    /// semantics, the window to offer and the DATA's route.
    ack_due: BTreeMap<(NodeId, u32), (Semantics, u32, Route)>,
    /// Received messages the application has not taken yet.
    inbox: inbox::Inbox,
    /// Channels, by (source, channel), on which a DATA frame marked
    /// congestion-experienced arrived since their last ACK: the next one
    /// echoes it.
    ce_due: BTreeSet<(NodeId, u32)>,
    /// The congestion window towards each destination.
    windows: BTreeMap<NodeId, congestion::Window>,
}

impl Transport {
    /// Hands an event to the application: a received message waits in the
    /// bounded inbox, anything else goes straight to the event queue.
    fn push_event(&mut self, m: &mut Mesh<'_>, e: Event) {
        if matches!(e, Event::Message { .. }) {
            self.inbox.push(e);
        } else {
            m.out.events.push_back(e);
        }
    }

    /// Whether channel `(to, channel)` may put another message of
    /// `priority` in flight: its own window, the destination's congestion
    /// window, and room in the queue of the link it leaves on. The
    /// congestion window counts what is in flight at `priority` or more
    /// urgent, so bulk traffic that fills it does not hold urgent messages
    /// back (the link queues send those first). A refusal for the link's
    /// queue leaves it wanting, so that blocked senders hear when it has
    /// drained.
    fn has_room(&self, m: &mut Mesh<'_>, to: NodeId, channel: u32, priority: u8) -> bool {
        if self.tx.get(&(to, channel)).is_some_and(|c| !c.has_room(m.cfg)) {
            return false;
        }
        if m.cfg.congestion_control {
            // Before its first ACK a destination has the initial window.
            let window = self
                .windows
                .get(&to)
                .map_or_else(|| congestion::Window::new(m.cfg).bytes(), |w| w.bytes());
            let upto = usize::from(priority.min(7));
            let flying: usize = self
                .tx
                .range((to, 0)..=(to, u32::MAX))
                .map(|(_, c)| c.by_priority[..=upto].iter().sum::<usize>())
                .sum();
            if flying > 0 && flying >= window {
                return false;
            }
        }
        // Room for a whole fragment, so that what is accepted is queued.
        let need = m.fragment_size();
        m.first_link(&to).is_none_or(|link| !m.out.link_full(link, need))
    }

    /// Bytes held for reassembly.
    pub(in crate::node) fn reassembly_bytes(&self) -> usize {
        self.reasm_total
    }

    /// The smoothed round trip to `to`, once an acknowledgement measured it.
    pub(in crate::node) fn srtt(&self, to: &NodeId) -> Option<Duration> {
        self.rtt.get(to).and_then(|r| r.srtt)
    }
}
