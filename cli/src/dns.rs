//! DNS SRV seeds: nodes named in DNS, fed to a node's discovery.
//!
//! `_netcluster._tcp.example.org` holds one SRV record per node (or per
//! well-known entry point): priority, weight, port and target host. The
//! resolver asks a DNS server (given, or the first `nameserver` of
//! `/etc/resolv.conf`) over UDP, and again over TCP when the answer is
//! truncated; it orders the records as RFC 2782 says (lowest priority
//! first, weighted random order within a priority), takes each target's
//! addresses from the additional section when the server put them there
//! and asks for A and AAAA otherwise, and gives every address to the node
//! as a seed ([`netcluster_tokio::Handle::add_seed`]). It looks the name up
//! again when the answer's TTL runs out, within documented bounds
//! ([`SrvSeedsConfig`]). Failures are typed ([`DnsError`]), logged and
//! retried with backoff; nothing a server answers makes it panic.
//!
//! Messages are encoded and decoded by `hickory-proto`; the sockets are
//! tokio's.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use netcluster_cli::dns::{resolve_srv, SrvLimits};
//!
//! let server = "127.0.0.1:53".parse()?;
//! let found = resolve_srv("_netcluster._tcp.example.test", server, SrvLimits::default()).await?;
//! for addr in found.addrs() {
//!     println!("{addr}");
//! }
//! # Ok(()) }
//! ```

mod query;
mod seeds;
mod srv;
#[cfg(test)]
mod tests;

pub use query::{nameserver_from_resolv_conf, system_nameserver, DnsError};
pub use seeds::{spawn_srv_seeds, spawn_srv_seeds_with, SrvSeedsConfig};
pub use srv::{resolve_srv, SrvLimits, SrvResolution, SrvTarget};
