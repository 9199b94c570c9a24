//! The pieces of the `netcluster` command, as a library so that its tests
//! and other programs can use them.
//!
//! - [`agent`]: `netcluster agent`, the host [`daemon`] serving
//!   applications and the [`admin`] socket;
//! - [`commands`]: the client commands (`members`, `send`, `watch`...);
//! - [`output`]: their text and JSON formats;
//! - [`demo`]: `netcluster demo`;
//! - [`http`]: the agent's metrics, JSON API and live page (`--http`);
//!   [`topology`]: the mesh graph they and `netcluster topology` show;
//! - [`tracker`] and [`dns`]: the rendezvous server and client, DNS SRV
//!   seeds.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod admin;
pub mod agent;
pub mod args;
pub mod commands;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod dns;
pub mod http;
pub mod keygen;
pub mod output;
pub mod topology;
pub mod tracker;
