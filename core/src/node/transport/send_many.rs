//! Many messages to one destination in one call, bundled: consecutive
//! small messages share one DATA frame ([`FLAG_BUNDLE`]), so the per-frame
//! work (header, route, link queue, parse at the receiver) is paid once for
//! many of them.
//!
//! Only the first transmission is bundled: each message keeps its own
//! sequence number and its own place in flight, so it is acknowledged,
//! retransmitted (alone, as a plain DATA frame), delivered and reported
//! exactly as if it had been sent by itself.

use alloc::vec::Vec;

use bytes::{BufMut, Bytes, BytesMut};

use super::mesh::Mesh;
use super::send::{check_send, transmit_on};
use super::{channel_of, Msg, NewMessage, SendError, SendOptions, Transport};
use crate::time::Instant;
use crate::wire::link::{
    Data, Route, Semantics, BUNDLE_ENTRY_HEADER, BUNDLE_ENTRY_MAX, FLAG_BUNDLE,
};
use crate::wire::{Frame, LinkMessage, NodeId};

use super::super::output::{LinkId, MessageId};
use super::congestion;

/// [`Transport::has_room`] for a run of sends on one channel, kept current
/// as the run admits messages instead of asked of the node per message
/// (which looks up the channel, the congestion window, every channel to
/// the destination, the route and its link each time). It answers exactly
/// as `has_room` would: within one call only admitted messages change the
/// windows, and only frames queued by the call change the link's queue.
struct Room {
    /// The channel's messages and bytes in flight, and whether the
    /// destination said its inbox is full.
    len: usize,
    bytes: usize,
    peer_full: bool,
    /// Bytes in flight to the destination at this priority or more
    /// urgent, and its congestion window (`None`: no congestion control).
    flying: usize,
    window: Option<usize>,
    /// The link the route leaves on.
    link: Option<LinkId>,
    /// Whether that link's queue had room when last asked; `None`: ask
    /// again (something was queued since).
    link_room: Option<bool>,
}

impl Room {
    fn new(t: &Transport, m: &Mesh<'_>, to: NodeId, channel: u32, priority: u8) -> Room {
        let chan = t.tx.get(&(to, channel));
        let upto = usize::from(priority.min(7));
        let window = m.cfg.congestion_control.then(|| {
            t.windows.get(&to).map_or_else(|| congestion::Window::new(m.cfg).bytes(), |w| w.bytes())
        });
        Room {
            len: chan.map_or(0, |c| c.inflight.len()),
            bytes: chan.map_or(0, |c| c.inflight_bytes),
            peer_full: chan.is_some_and(|c| c.peer_full),
            flying: t
                .tx
                .range((to, 0)..=(to, u32::MAX))
                .map(|(_, c)| c.by_priority[..=upto].iter().sum::<usize>())
                .sum(),
            window,
            link: m.first_link(&to),
            link_room: None,
        }
    }

    /// Whether one more message may go in flight.
    fn has_room(&mut self, m: &mut Mesh<'_>) -> bool {
        if self.peer_full || self.len >= m.cfg.send_window || self.bytes >= m.cfg.send_window_bytes
        {
            return false;
        }
        if self.window.is_some_and(|w| self.flying > 0 && self.flying >= w) {
            return false;
        }
        let need = m.fragment_size();
        let link = self.link;
        *self.link_room.get_or_insert_with(|| link.is_none_or(|l| !m.out.link_full(l, need)))
    }

    /// A message of `len` bytes went in flight.
    fn admitted(&mut self, len: usize) {
        self.len += 1;
        self.bytes += len;
        self.flying += len;
    }

    /// Frames were queued on the link.
    fn queued(&mut self) {
        self.link_room = None;
    }
}

/// Messages waiting to leave together: consecutive seqs from `first`,
/// already written as bundle entries (copied: the payloads themselves go
/// in flight, and a `Bytes` made from a `Vec` allocates when cloned).
struct Pending {
    first: u64,
    flags: u8,
    count: usize,
    entries: BytesMut,
}

impl Transport {
    /// Sends `payloads` to `to`, in order, stopping at the first one
    /// refused; see [`Node::send_many`](crate::Node::send_many). The ids
    /// of the messages accepted are appended to `ids`; returns the refusal
    /// and the payload bytes accepted.
    pub(in crate::node) fn send_many(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
        opts: SendOptions,
        payloads: impl IntoIterator<Item = Bytes>,
        ids: &mut Vec<MessageId>,
    ) -> (Option<SendError>, usize) {
        if !m.reachable(&to) {
            return (Some(SendError::Unreachable), 0);
        }
        let SendOptions { semantics, priority, .. } = opts;
        let channel = channel_of(semantics);
        let path = m.path_route(&to);
        // A bundle is one frame: no larger than a fragment, so that it
        // fits a datagram link's datagram and an urgent frame waits behind
        // no more than it would behind one large message.
        let budget = m.fragment_size();
        let kept = semantics != Semantics::Datagram;
        let mut room = Room::new(self, m, to, channel, priority);
        let rto = self.rto_for(m, &to);
        let mut pending = Pending { first: 0, flags: 0, count: 0, entries: BytesMut::new() };
        let mut refused = None;
        let mut accepted = 0;
        for payload in payloads {
            if let Err(e) = check_send(m, &payload, opts) {
                refused = Some(e);
                break;
            }
            if kept && !room.has_room(m) {
                self.refuse(to, channel, priority);
                refused = Some(SendError::WouldBlock);
                break;
            }
            let (seq, flags) = self.number(to, channel, kept);
            if kept {
                room.admitted(payload.len());
            }
            let id = self.next_message_id();
            ids.push(id);
            accepted += payload.len();
            let entry = payload.len() + BUNDLE_ENTRY_HEADER;
            let fits = payload.len() <= BUNDLE_ENTRY_MAX && entry <= budget;
            let full = pending.count >= usize::from(u16::MAX);
            let cut = !fits || flags != 0 || full || pending.entries.len() + entry > budget;
            if cut && flush(m, path.as_ref(), &mut pending, semantics, channel, priority) {
                room.queued();
            }
            if fits {
                if pending.count == 0 {
                    pending.first = seq;
                    pending.flags = flags;
                    pending.entries.reserve(budget);
                }
                pending.count += 1;
                pending.entries.put_u16(payload.len() as u16);
                pending.entries.put_slice(&payload);
            } else if let Some(path) = &path {
                let one = Msg {
                    semantics,
                    channel,
                    seq,
                    flags,
                    payload: &payload,
                    group: None,
                    priority,
                };
                transmit_on(m, path, one);
                room.queued();
            }
            self.keep(m, now, to, seq, flags, NewMessage::unicast(id, opts, payload), rto);
        }
        flush(m, path.as_ref(), &mut pending, semantics, channel, priority);
        (refused, accepted)
    }
}

/// Transmits what `pending` holds: a lone message as a plain DATA frame,
/// several as one bundle; returns whether it held anything. Without a path
/// nothing goes now; what is in flight goes again at its timeout, on
/// whatever route there is then.
fn flush(
    m: &mut Mesh<'_>,
    path: Option<&Route>,
    pending: &mut Pending,
    semantics: Semantics,
    channel: u32,
    priority: u8,
) -> bool {
    let count = core::mem::take(&mut pending.count);
    let entries = pending.entries.split().freeze();
    let Some(path) = path else { return count > 0 };
    match count {
        0 => {}
        1 => {
            // Alone, it goes as plain DATA: its bytes without the length.
            let one = Msg {
                semantics,
                channel,
                seq: pending.first,
                flags: pending.flags,
                payload: &entries.slice(BUNDLE_ENTRY_HEADER..),
                group: None,
                priority,
            };
            transmit_on(m, path, one);
        }
        n => {
            let Ok(count) = u16::try_from(n) else {
                // Bundles are cut before this; nothing to send if that
                // ever changed.
                m.out.stats.dropped_limit += 1;
                return true;
            };
            let Some(link) = path.id(1).and_then(|next| m.link_to(&next)) else { return true };
            let data = Data {
                flags: pending.flags | FLAG_BUNDLE,
                semantics,
                priority,
                channel,
                seq: pending.first,
                frag_index: 0,
                frag_count: count,
                msg_len: entries.len() as u32,
                route: path.clone(),
                group: None,
                payload: entries,
            };
            match Frame::new(LinkMessage::Data(data)).to_bytes() {
                Ok(frame) => m.send_data(link, frame, priority),
                Err(_) => m.out.stats.dropped_limit += 1,
            }
        }
    }
    count > 0
}
