//! The tracker: a rendezvous server over UDP, and its client, for nodes
//! that beacons cannot find (other segments, clouds, networks without
//! multicast). `docs/PROTOCOL.md` section 10 is the normative description.
//!
//! **Server** ([`TrackerServer`]). Keeps, per cluster (by `cluster_hash`),
//! the nodes that registered: node id, incarnation, link address (an
//! unspecified IP replaced by the REGISTER's source address). An entry
//! lives `min(ttl_s, max_ttl)` seconds from its latest REGISTER and is then
//! neither listed nor kept; `ttl_s` 0 removes it at once. A REGISTER is
//! answered with the first page of the listing, a QUERY with the page it
//! asks for; the listing is the cluster's entries in node id order, the
//! asker left out, so a node never learns of another cluster. Memory is
//! bounded by caps on entries per cluster, entries in all and clusters; a
//! new entry past a cap is refused (and still answered). Each source IP
//! address has a token bucket so the tracker cannot be used to amplify
//! traffic. Anything that is not a valid REGISTER or QUERY is counted
//! ([`TrackerStats`]) and dropped; nothing a client sends stops the server.
//!
//! **Client** ([`spawn_tracker_client`]). Registers a running node every
//! `ttl / 3`, reads the listing and gives the node the addresses of listed
//! nodes it does not reach yet as seeds; retries with capped exponential
//! backoff while the tracker is unreachable, so it registers again with a
//! tracker that restarted; deregisters when the node stops.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use netcluster_cli::tracker::{spawn_tracker_client, TrackerConfig, TrackerServer};
//! use netcluster_tokio::{BeaconMode, Builder};
//!
//! let server = TrackerServer::bind("127.0.0.1:0".parse()?, TrackerConfig::default()).await?;
//! let at = server.local_addr().to_string();
//! tokio::spawn(server.run());
//!
//! let node = Builder::new("demo", "a").beacons(BeaconMode::Off).link_port(0).start().await?;
//! spawn_tracker_client(node.clone(), at, "demo".into());
//! # Ok(()) }
//! ```

mod client;
mod registry;
mod server;

pub use client::{
    spawn_tracker_client, spawn_tracker_client_with, TrackerClientConfig, TrackerClientError,
};
pub use server::{TrackerConfig, TrackerServer, TrackerStats};
