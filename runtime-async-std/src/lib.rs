//! # netcluster-async-std
//!
//! The netcluster driver on async-io (async-std and smol): binds the sans-IO node of
//! `netcluster-core` to real sockets.
//!
//! Status: not implemented yet; this crate only reserves its place in the
//! workspace (see the project's open issues).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use netcluster_core as core;
