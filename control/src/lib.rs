//! # netcluster-control
//!
//! Codecs of the netcluster sub-protocols that a mesh node never takes
//! from the network, kept out of the no_std core so that the core decodes
//! only what a node needs:
//!
//! - [`admin`] (id 3): the agent and its local command-line clients, over a
//!   UNIX stream socket;
//! - [`tracker`] (id 4): nodes and a rendezvous server, over UDP;
//! - [`local`] (id 5): applications and their host daemon, over the
//!   daemon's UNIX stream socket.
//!
//! [`ControlFrame`] parses and emits whole frames of either. The frame format
//! is the core's (`netcluster_core::wire`): the same header, extension,
//! version and length rules, checked by the same code, with the same
//! [`Error`](netcluster_core::wire::Error) values. The core refuses a
//! well-formed admin or tracker frame with
//! [`Error::UnexpectedProtocol`](netcluster_core::wire::Error::UnexpectedProtocol),
//! and [`ControlFrame`] refuses a discovery or link frame the same way.
//!
//! ```
//! use netcluster_control::admin::PingRequest;
//! use netcluster_control::{AdminMessage, ControlFrame, ControlMessage};
//! use netcluster_core::wire::{Body, Error, Frame, Protocol};
//!
//! let ping = PingRequest { request_id: 1, count: 3, target: "bravo".into() };
//! let bytes = ping.to_bytes().unwrap();
//! let frame = ControlFrame::parse(&bytes).unwrap();
//! assert_eq!(frame.message, ControlMessage::Admin(AdminMessage::Ping(ping)));
//! assert_eq!(Frame::parse(&bytes), Err(Error::UnexpectedProtocol { protocol: Protocol::Admin }));
//! ```
//!
//! The crate is `no_std` with `alloc`, like the core.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod admin;
pub mod local;
pub mod tracker;

mod frame;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
#[cfg(test)]
mod testutil;

pub use admin::AdminMessage;
pub use frame::{ControlFrame, ControlMessage};
pub use local::LocalMessage;
pub use tracker::TrackerMessage;
