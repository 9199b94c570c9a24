//! The inbox: received messages held for the application, under a bound.
//!
//! The caller takes messages with [`Node::poll_event`] only as fast as its
//! application reads them, so a slow reader leaves them here. Once the inbox
//! is full, reliable and sequenced DATA is refused unacknowledged and the
//! ACK offers a zero window: the sender stops sending new messages, keeps
//! its messages in flight alive (the receiver answered) and retransmits
//! them as probes. When the application has read half the inbox, every
//! refused channel gets a window update and the sender resends at once.
//! Datagrams that find the inbox full are dropped and counted.

use alloc::collections::{BTreeMap, VecDeque};

use super::super::output::Event;
use super::{Mesh, Transport};
use crate::config::Config;
use crate::wire::link::{Route, Semantics};
use crate::wire::NodeId;

#[derive(Debug, Default)]
pub(crate) struct Inbox {
    /// `Event::Message` only, oldest first.
    queue: VecDeque<Event>,
    /// Payload bytes in `queue`.
    bytes: usize,
    /// Channels whose DATA was refused for lack of room, with the route
    /// their window update goes back along (the DATA's path, source first).
    refused: BTreeMap<(NodeId, u32), (Semantics, Route)>,
}

impl Inbox {
    /// Whether a message of `len` bytes may enter.
    pub(super) fn has_room(&self, cfg: &Config, len: usize) -> bool {
        self.queue.is_empty()
            || (self.queue.len() < cfg.inbox_messages
                && self.bytes.saturating_add(len) <= cfg.inbox_bytes)
    }

    /// The window an ACK offers: messages the inbox can still take, at most
    /// the send window (0: refused, hold back).
    pub(super) fn window(&self, cfg: &Config) -> u32 {
        let free_msgs = cfg.inbox_messages.saturating_sub(self.queue.len());
        let free =
            if self.bytes >= cfg.inbox_bytes && !self.queue.is_empty() { 0 } else { free_msgs };
        u32::try_from(free.min(cfg.send_window)).unwrap_or(u32::MAX)
    }

    pub(in crate::node) fn push(&mut self, e: Event) {
        if let Event::Message { payload, .. } = &e {
            self.bytes += payload.len();
        }
        self.queue.push_back(e);
    }

    pub(super) fn refuse(
        &mut self,
        from: NodeId,
        channel: u32,
        semantics: Semantics,
        route: &Route,
    ) {
        self.refused.insert((from, channel), (semantics, route.clone()));
    }

    fn pop(&mut self) -> Option<Event> {
        let e = self.queue.pop_front()?;
        if let Event::Message { payload, .. } = &e {
            self.bytes = self.bytes.saturating_sub(payload.len());
        }
        Some(e)
    }

    /// At or below half of both bounds: room enough to reopen refused
    /// windows without refusing again at once.
    fn drained_enough(&self, cfg: &Config) -> bool {
        self.queue.len() <= cfg.inbox_messages / 2 && self.bytes <= cfg.inbox_bytes / 2
    }

    /// Messages held.
    pub(crate) fn len(&self) -> usize {
        self.queue.len()
    }

    /// Payload bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Transport {
    /// Takes the oldest message from the inbox; reopens refused windows
    /// once it has drained enough.
    pub(in crate::node) fn pop_inbox(&mut self, m: &mut Mesh<'_>) -> Option<Event> {
        let e = self.inbox.pop()?;
        if !self.inbox.refused.is_empty() && self.inbox.drained_enough(m.cfg) {
            let window = self.inbox.window(m.cfg);
            for ((from, channel), (semantics, route)) in core::mem::take(&mut self.inbox.refused) {
                if let Some(back) = route.reversed_path() {
                    self.send_ack_on(m, semantics, channel, window, back, from);
                }
            }
        }
        Some(e)
    }

    /// Messages received and not yet taken by [`poll_event`](Node::poll_event).
    pub(super) fn inbox_len(&self) -> usize {
        self.inbox.len()
    }

    /// Payload bytes of those messages.
    pub(super) fn inbox_bytes(&self) -> usize {
        self.inbox.bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn msg(n: usize) -> Event {
        Event::Message {
            from: NodeId([1; 16]),
            group: None,
            semantics: Semantics::Reliable,
            payload: Bytes::from(alloc::vec![0u8; n]),
        }
    }

    fn cfg(messages: usize, bytes: usize) -> Config {
        let mut c = Config::lan("t", "n");
        c.inbox_messages = messages;
        c.inbox_bytes = bytes;
        c
    }

    #[test]
    fn bounds_messages_and_bytes() {
        let c = cfg(3, 100);
        let mut i = Inbox::default();
        assert!(i.has_room(&c, 1000), "an empty inbox takes one message of any size");
        i.push(msg(40));
        i.push(msg(40));
        assert!(!i.has_room(&c, 30), "30 more bytes pass the byte bound");
        assert!(i.has_room(&c, 20));
        i.push(msg(20));
        assert!(!i.has_room(&c, 0), "the message bound is reached");
        assert_eq!(i.window(&c), 0);
        assert_eq!(i.bytes(), 100);
        assert!(i.pop().is_some());
        assert_eq!((i.len(), i.bytes()), (2, 60));
        assert_eq!(i.window(&c), 1);
        assert!(!i.drained_enough(&c));
        i.pop();
        assert!(i.drained_enough(&c));
    }

    #[test]
    fn window_is_at_most_the_send_window() {
        let c = cfg(100_000, 1 << 30);
        assert_eq!(Inbox::default().window(&c), c.send_window as u32);
    }
}
