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

use super::super::output::MessageId;

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
        let SendOptions { semantics, priority, confirm } = opts;
        let channel = channel_of(semantics);
        let path = m.path_route(&to);
        // A bundle is one frame: no larger than a fragment, so that it
        // fits a datagram link's datagram and an urgent frame waits behind
        // no more than it would behind one large message.
        let budget = m.fragment_size();
        let mut pending = Pending { first: 0, flags: 0, count: 0, entries: BytesMut::new() };
        let mut refused = None;
        let mut accepted = 0;
        for payload in payloads {
            if let Err(e) = check_send(m, &payload, opts) {
                refused = Some(e);
                break;
            }
            let (seq, flags) = match self.admit(m, to, channel, semantics, priority) {
                Ok(admitted) => admitted,
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            };
            let id = self.next_message_id();
            ids.push(id);
            accepted += payload.len();
            let entry = payload.len() + BUNDLE_ENTRY_HEADER;
            let fits = payload.len() <= BUNDLE_ENTRY_MAX && entry <= budget;
            let full = pending.count >= usize::from(u16::MAX);
            if !fits || flags != 0 || full || pending.entries.len() + entry > budget {
                flush(m, path.as_ref(), &mut pending, semantics, channel, priority);
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
            }
            let msg = NewMessage {
                id,
                semantics,
                channel,
                payload,
                group: None,
                flags: 0,
                priority,
                confirm,
            };
            self.keep(m, now, to, seq, flags, msg);
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
    let count = core::mem::take(&mut pending.count);
    let entries = pending.entries.split().freeze();
    let Some(path) = path else { return };
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
}
