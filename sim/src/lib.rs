//! # netcluster-sim
//!
//! A deterministic network simulator for netcluster nodes: virtual time, one
//! seed, hosts on segments with latency, loss, duplication, reordering and
//! partitions. Users drive their own scenarios with it.
//!
//! Status: the wire codecs exist; the node state machine and the simulator
//! itself are being built (see the project's open issues).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use netcluster_core as core;
