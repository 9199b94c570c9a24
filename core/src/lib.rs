//! # netcluster-core
//!
//! The sans-IO heart of netcluster, an application-layer mesh networking
//! library. This crate does all protocol work and no I/O: it never reads a
//! clock, never draws entropy of its own, never blocks and never touches a
//! socket. Drivers (`netcluster-tokio`, `netcluster-async-std`,
//! `netcluster-mio`) and the simulator (`netcluster-sim`) feed it inputs and
//! carry out its outputs.
//!
//! - [`wire`]: the normative wire format (see `docs/PROTOCOL.md`), zero-copy
//!   views and typed representations of every message of every sub-protocol.
//!
//! The crate is `no_std` with `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzz;
