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

use bytes::Bytes;

use super::mesh::Mesh;
use super::send::{check_send, transmit_on};
use super::{channel_of, Msg, NewMessage, SendError, SendOptions, Transport};
use crate::time::Instant;
use crate::wire::link::{
    bundle_payload, Data, Route, Semantics, BUNDLE_ENTRY_HEADER, BUNDLE_ENTRY_MAX, FLAG_BUNDLE,
};
use crate::wire::{Frame, LinkMessage, NodeId};

use super::super::output::MessageId;

/// Messages waiting to leave together: consecutive seqs from `first`.
struct Pending {
    first: u64,
    flags: u8,
    messages: Vec<Bytes>,
    bytes: usize,
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
        let SendOptions { semantics, priority } = opts;
        let channel = channel_of(semantics);
        let path = m.path_route(&to);
        // A bundle is one frame: no larger than a fragment, so that it
        // fits a datagram link's datagram and an urgent frame waits behind
        // no more than it would behind one large message.
        let budget = m.fragment_size();
        let mut pending = Pending { first: 0, flags: 0, messages: Vec::new(), bytes: 0 };
        let mut refused = None;
        let mut accepted = 0;
        for payload in payloads {
            if let Err(e) = check_send(m, &payload, opts) {
                refused = Some(e);
                break;
            }
            let id = self.next_message_id();
            let msg =
                NewMessage { id, semantics, channel, payload, group: None, flags: 0, priority };
            let (seq, flags) = match self.admit(m, now, to, &msg) {
                Ok(admitted) => admitted,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            };
            ids.push(id);
            accepted += msg.payload.len();
            let entry = msg.payload.len() + BUNDLE_ENTRY_HEADER;
            let fits = msg.payload.len() <= BUNDLE_ENTRY_MAX && entry <= budget;
            let full = pending.messages.len() >= usize::from(u16::MAX);
            if !fits || flags != 0 || full || pending.bytes + entry > budget {
                flush(m, path.as_ref(), &mut pending, semantics, channel, priority);
            }
            if fits {
                if pending.messages.is_empty() {
                    pending.first = seq;
                    pending.flags = flags;
                }
                pending.messages.push(msg.payload);
                pending.bytes += entry;
            } else if let Some(path) = &path {
                let one = Msg {
                    semantics,
                    channel,
                    seq,
                    flags,
                    payload: &msg.payload,
                    group: None,
                    priority,
                };
                transmit_on(m, path, one);
            }
        }
        flush(m, path.as_ref(), &mut pending, semantics, channel, priority);
        (refused, accepted)
    }
}

/// Transmits what `pending` holds: a lone message as a plain DATA frame,
/// several as one bundle. Without a path nothing goes now; what is in
/// flight goes again at its timeout, on whatever route there is then.
fn flush(
    m: &mut Mesh<'_>,
    path: Option<&Route>,
    pending: &mut Pending,
    semantics: Semantics,
    channel: u32,
    priority: u8,
) {
    let messages = core::mem::take(&mut pending.messages);
    pending.bytes = 0;
    let Some(path) = path else { return };
    match messages.len() {
        0 => {}
        1 => {
            let one = Msg {
                semantics,
                channel,
                seq: pending.first,
                flags: pending.flags,
                payload: &messages[0],
                group: None,
                priority,
            };
            transmit_on(m, path, one);
        }
        n => {
            let (Some(payload), Ok(count)) = (bundle_payload(&messages), u16::try_from(n)) else {
                // Entries are checked against both limits before they are
                // added; nothing to send if that ever changed.
                m.out.stats.dropped_limit += 1;
                return;
            };
            let Some(link) = path.id(1).and_then(|next| m.link_to(&next)) else { return };
            let data = Data {
                flags: pending.flags | FLAG_BUNDLE,
                semantics,
                priority,
                channel,
                seq: pending.first,
                frag_index: 0,
                frag_count: count,
                msg_len: payload.len() as u32,
                route: path.clone(),
                group: None,
                payload,
            };
            match Frame::new(LinkMessage::Data(data)).to_bytes() {
                Ok(frame) => m.send_data(link, frame, priority),
                Err(_) => m.out.stats.dropped_limit += 1,
            }
        }
    }
}
