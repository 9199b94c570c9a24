//! # netcluster-core
//!
//! The sans-IO heart of netcluster, an application-layer mesh networking
//! library. This crate does all protocol work and no I/O: it never reads a
//! clock, never draws entropy of its own, never blocks and never touches a
//! socket. Drivers (`netcluster-tokio`, `netcluster-async-std`,
//! `netcluster-mio`) and the simulator (`netcluster-sim`) feed it inputs and
//! carry out its outputs.
//!
//! - [`node`]: the [`Node`] state machine and its calling rule;
//! - [`config`]: [`Config`] with the `lan()` and `wan()` presets;
//! - [`wire`]: the normative wire format (see `docs/PROTOCOL.md`), zero-copy
//!   views and typed representations of every message of the discovery and
//!   link sub-protocols, and the frame and codec building blocks that the
//!   admin and tracker codecs (crate `netcluster-control`) are built on.
//!
//! Which module owns which behaviour, and a datagram's trip through the
//! node, are mapped in `docs/ARCHITECTURE.md`.
//!
//! The crate is `no_std` with `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod auth;
pub mod config;
pub mod node;
pub mod spf;
pub mod time;
pub mod wire;

pub use config::{Config, ConfigError, LinkMode};
pub use node::{Event, Node, PeerInfo, Seed, Transmit};
pub use time::Instant;
pub use wire::{NodeId, NodeState};

#[cfg(feature = "fuzzing")]
pub mod fuzz;

/// What the exported macros name through `$crate`, so that a crate using
/// them needs no dependency of its own for it. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use bytes::Bytes;
}
