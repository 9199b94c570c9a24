//! # netcluster-sim
//!
//! A deterministic network simulator for netcluster nodes. Everything runs
//! in virtual time from one seed: the same seed and the same scenario give
//! the same trace, event for event ([`Sim::trace_hash`]).
//!
//! - **Topology**: segments (broadcast / multicast domains) with faults
//!   (latency, jitter, loss, duplication, reordering), hosts with one address
//!   per segment they sit on, several nodes per host (each with its own
//!   ports), routers between segments for unicast ([`Sim::route_segments`]).
//! - **Faults over time**: partitions ([`Sim::partition`], [`Sim::heal`]),
//!   crashes ([`Sim::crash`]: all state dropped, links go silent) and
//!   restarts with a new incarnation ([`Sim::restart`]), per-pair faults,
//!   per-node clock offsets.
//! - **Links** behave as TCP does: ordered and lossless while connected,
//!   delayed by retransmission timeouts under loss, stalled by a partition
//!   and broken after [`STREAM_BREAK_AFTER`] of stall, with the bytes in
//!   flight lost. Beacons and other datagrams are lost, duplicated and
//!   reordered one by one, and wait in the receiving node's socket buffer
//!   (dropped when it is full) until the node reads them ([`RxModel`]).
//! - **Bandwidth** ([`Faults::bandwidth`]): a stream link drains its send
//!   buffer at that rate; datagrams (datagram links, beacons) leave
//!   through a bounded drop-tail queue per path drained at that rate, so
//!   congestion shows on datagram links as queueing delay, then loss
//!   ([`egress`]).
//! - **Ties**: a timer and an input due at the same instant run inputs
//!   first by default, or timers first ([`Sim::set_tie_order`]).
//! - **Observation**: each node's events with their times
//!   ([`Sim::events`]), traffic counters per message type
//!   ([`Sim::counters`]), and the node itself ([`Sim::node`]).
//!
//! ```
//! use std::time::Duration;
//! use netcluster_core::{Config, Event};
//! use netcluster_sim::{Faults, Sim};
//!
//! let mut sim = Sim::new(7);
//! let lan = sim.add_segment(Faults::lan());
//! let nodes: Vec<_> = (0..3)
//!     .map(|i| {
//!         let host = sim.add_host(&[lan]);
//!         sim.add_node(host, Config::lan("demo", format!("n{i}")))
//!     })
//!     .collect();
//! let deadline = sim.now() + Duration::from_secs(2);
//! let converged = sim.run_until(deadline, |sim| {
//!     nodes.iter().all(|&n| sim.node(n).map_or(false, |node| node.peers().count() == 2))
//! });
//! assert!(converged);
//! assert!(sim.events(nodes[0]).iter().any(|(_, e)| matches!(e, Event::PeerUp(_))));
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod counters;
mod datagram;
mod direct;
pub mod egress;
mod net;
mod stream;
mod world;

pub use counters::{Counters, Tally, PEAK_WINDOW};
pub use datagram::RxModel;
pub use direct::Direct;
pub use egress::DATAGRAM_TX_QUEUE;
pub use net::{Faults, HostId, SegmentId};
pub use stream::MIN_RTO;
pub use world::{
    NodeIx, Sim, TieOrder, CONNECT_TIMEOUT, DISCOVERY_PORT, LINK_PORT, STALL_TICK,
    STREAM_BREAK_AFTER,
};

pub use netcluster_core as core;
