//! What the node hands to its caller: transmits and application events,
//! and the queues every sub-machine writes them to.

mod event;
mod ids;
mod link_queue;
mod transmit;

use alloc::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

pub use event::{DownReason, Event, FailReason, PeerInfo, PeerTraffic, StreamEnd, TRAFFIC_WINDOW};
pub use ids::{LinkId, MessageId, StreamId};
pub use link_queue::{LinkQueueStats, PRIORITIES};
pub use transmit::{DatagramSource, DatagramTarget, LinkCloseReason, Transmit};

use link_queue::{LinkQueue, Queued};

use super::stats::Stats;
use super::timers::Timers;

/// What the node's parts produce, queued as it is made, with the counters
/// and the timer table that every part writes to. The caller drains the
/// queues through `Node::poll_*`.
#[derive(Default)]
pub(crate) struct Outputs {
    pub(crate) timers: Timers,
    /// Control outputs, taken before `data_transmits`.
    pub(crate) transmits: VecDeque<Transmit>,
    /// DATA frames (application data and its forwarding).
    pub(crate) data_transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) stats: Stats,
    /// What waits for each stream link until the driver pulls it.
    pub(crate) link_queues: BTreeMap<LinkId, LinkQueue>,
    /// DATA bytes a link queue holds at most, and past which it marks.
    pub(crate) queue_max: usize,
    pub(crate) queue_mark: usize,
    /// The ciphers of encrypted links. A stream link's stays until its
    /// queue is pulled empty, so that its GOODBYE is sealed too.
    pub(crate) ciphers: BTreeMap<LinkId, crate::node::links::secure::LinkCipher>,
}

/// What a DATA frame offered to a link queue asks of the sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Queue it as it is.
    Take,
    /// Queue it marked congestion-experienced.
    Mark,
    /// It was dropped (the queue is full).
    Dropped,
}

impl Outputs {
    /// Tells the driver, once, that `link` has frames to pull.
    fn announce(&mut self, link: LinkId) {
        let q = self.link_queues.entry(link).or_default();
        if !q.announced {
            q.announced = true;
            self.transmits.push_back(Transmit::Ready { link });
        }
    }

    /// Queues a control frame on stream link `link`.
    pub(crate) fn queue_control(&mut self, link: LinkId, frame: Bytes) {
        let q = self.link_queues.entry(link).or_default();
        if q.closing {
            return;
        }
        q.push_control(frame);
        self.announce(link);
    }

    /// Queues the last frame of stream link `link` (its GOODBYE), after
    /// everything already queued.
    pub(crate) fn queue_last(&mut self, link: LinkId, frame: Bytes) {
        let q = self.link_queues.entry(link).or_default();
        if q.closing {
            return;
        }
        q.push_last(frame);
        self.announce(link);
    }

    /// Asks whether a DATA frame of `len` bytes may go on `link`; only
    /// `markable` DATA (forwarded, not this node's own) is marked.
    pub(crate) fn offer_data(&mut self, link: LinkId, len: usize, markable: bool) -> Offer {
        let max = self.queue_max;
        let mark = if markable { self.queue_mark } else { usize::MAX };
        let q = self.link_queues.entry(link).or_default();
        if q.closing {
            return Offer::Dropped;
        }
        match q.offer_data(len, max, mark) {
            Queued::Yes => Offer::Take,
            Queued::Mark => Offer::Mark,
            Queued::Dropped => {
                q.wanted = true;
                Offer::Dropped
            }
        }
    }

    /// Queues a DATA frame [`offer_data`](Self::offer_data) accepted.
    pub(crate) fn queue_data(&mut self, link: LinkId, priority: u8, frame: Bytes) {
        self.link_queues.entry(link).or_default().push_data(priority, frame);
        self.announce(link);
    }

    /// Whether `link`'s queue has no room for `need` more DATA bytes (an
    /// empty queue always has). A sender told so hears when it has drained
    /// to half (see [`pull`](Self::pull)).
    pub(crate) fn link_full(&mut self, link: LinkId, need: usize) -> bool {
        let max = self.queue_max;
        match self.link_queues.get_mut(&link) {
            Some(q) if q.data_bytes() > 0 && q.data_bytes() + need > max => {
                q.wanted = true;
                true
            }
            _ => false,
        }
    }

    /// Closes stream link `link` once its queue is pulled empty (at once if
    /// it is empty). Nothing more is queued for it.
    pub(crate) fn close_link(&mut self, link: LinkId) {
        match self.link_queues.get_mut(&link) {
            Some(q) if !q.is_empty() => q.closing = true,
            _ => {
                self.link_queues.remove(&link);
                self.ciphers.remove(&link);
                self.transmits.push_back(Transmit::Close { link });
            }
        }
    }

    /// The next frame for stream link `link`; `None` when its queue is
    /// empty (the next frame queued is announced again). Also returns
    /// whether a queue that refused or dropped DATA has drained to half, so
    /// that blocked senders hear of the room.
    pub(crate) fn pull(&mut self, link: LinkId) -> (Option<Bytes>, bool) {
        let Some(q) = self.link_queues.get_mut(&link) else { return (None, false) };
        match q.pop() {
            Some(f) => {
                let reopened = q.wanted && q.data_bytes() < self.queue_max / 2;
                if reopened {
                    q.wanted = false;
                }
                (Some(f), reopened)
            }
            None => {
                q.announced = false;
                if q.closing {
                    self.link_queues.remove(&link);
                    self.ciphers.remove(&link);
                    self.transmits.push_back(Transmit::Close { link });
                }
                (None, false)
            }
        }
    }
}
