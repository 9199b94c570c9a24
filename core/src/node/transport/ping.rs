//! Round trips through the mesh.
//!
//! A ping is a DATA frame with `Datagram` semantics on [`PING_CHANNEL`],
//! its number in `seq` and no payload; the destination echoes it on
//! [`PONG_CHANNEL`] along the reverse of the path it came by. The sender
//! times the round trip with its own clock, so nothing in the frame needs to
//! be trusted. A lost ping or pong is not retried: the caller decides how
//! long to wait.

use alloc::collections::BTreeMap;

use bytes::Bytes;

use super::super::output::{Event, MessageId};
use super::send::{transmit_message, transmit_on};
use super::{Mesh, Msg, SendError, Transport, DEFAULT_PRIORITY, PING_CHANNEL, PONG_CHANNEL};
use crate::time::Instant;
use crate::wire::link::{Data, Route, Semantics};
use crate::wire::NodeId;

/// Pings awaiting their pong, by number (the `MessageId` returned).
#[derive(Debug, Default)]
pub(super) struct Pings {
    pending: BTreeMap<u64, (NodeId, Instant)>,
}

impl Transport {
    /// Measures the round trip to `to` through the mesh: an
    /// [`Event::Pong`] with the returned id reports it. Nothing is reported
    /// if the ping or its answer is lost; at most
    /// [`max_pings`](crate::Config::max_pings) are awaited at once (the
    /// oldest is forgotten first).
    pub(in crate::node) fn ping(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        to: NodeId,
    ) -> Result<MessageId, SendError> {
        if m.shutting_down {
            return Err(SendError::ShuttingDown);
        }
        let id = self.next_message_id();
        let msg = Msg {
            semantics: Semantics::Datagram,
            channel: PING_CHANNEL,
            seq: id.0,
            flags: 0,
            payload: &Bytes::new(),
            group: None,
            priority: DEFAULT_PRIORITY,
        };
        if to == m.me || !transmit_message(m, to, msg) {
            return Err(SendError::Unreachable);
        }
        let pending = &mut self.pings.pending;
        pending.insert(id.0, (to, now));
        while pending.len() > m.cfg.max_pings {
            pending.pop_first();
        }
        Ok(id)
    }

    /// A ping to answer or a pong to match; `to_me` is the path it came by.
    pub(super) fn on_ping_data(
        &mut self,
        m: &mut Mesh<'_>,
        now: Instant,
        from: NodeId,
        d: &Data,
        to_me: &Route,
    ) {
        if d.channel == PING_CHANNEL {
            let Some(back) = to_me.reversed_path() else { return };
            let msg = Msg {
                semantics: Semantics::Datagram,
                channel: PONG_CHANNEL,
                seq: d.seq,
                flags: 0,
                payload: &Bytes::new(),
                group: None,
                priority: DEFAULT_PRIORITY,
            };
            transmit_on(m, &back, msg);
            return;
        }
        match self.pings.pending.get(&d.seq) {
            Some(&(to, sent)) if to == from => {
                self.pings.pending.remove(&d.seq);
                self.push_event(m, Event::Pong { from, id: MessageId(d.seq), rtt: now - sent });
            }
            _ => m.out.stats.dropped_unexpected += 1,
        }
    }
}
