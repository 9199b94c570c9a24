//! The pieces of the `netcluster` command, as a library so that its tests
//! and other programs can use them.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod dns;
pub mod tracker;
