//! What the node hands to its caller: transmits and application events,
//! and the queues every sub-machine writes them to.

mod event;
mod ids;
mod transmit;

use alloc::collections::VecDeque;

pub use event::{DownReason, Event, FailReason, PeerInfo, StreamEnd};
pub use ids::{LinkId, MessageId, StreamId};
pub use transmit::{DatagramSource, DatagramTarget, LinkCloseReason, Transmit};

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
}
