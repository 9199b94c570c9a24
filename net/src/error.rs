//! The socket layer's error type.

use std::io;
use std::net::{IpAddr, SocketAddr};

/// A socket operation failed. Every variant names what it was done on (an
/// address, a group, an interface) and keeps the OS error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The node's configuration has a field outside its allowed range.
    #[error(transparent)]
    Config(#[from] netcluster_core::ConfigError),
    /// A socket could not be created.
    #[error("cannot create a socket for {addr}: {source}")]
    Socket {
        /// The address it was meant for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A socket option could not be set.
    #[error("cannot set {option} on the socket for {addr}: {source}")]
    Option {
        /// The option, as the OS names it (`SO_REUSEADDR`, `IP_MULTICAST_IF`...).
        option: &'static str,
        /// The socket's address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Binding failed (address in use, not an address of this host...).
    #[error("cannot bind {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Listening on a bound TCP socket failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Joining a multicast group failed on every selected interface (or
    /// there was none).
    #[error("cannot join multicast group {group} on {interfaces}: {source}")]
    Join {
        /// The group.
        group: IpAddr,
        /// The interfaces tried, for the message.
        interfaces: String,
        /// The last OS error.
        #[source]
        source: io::Error,
    },
    /// An outgoing connection failed or timed out.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The remote address.
        addr: SocketAddr,
        /// The OS error (`TimedOut` for a timeout).
        #[source]
        source: io::Error,
    },
    /// The interface list could not be read.
    #[error("cannot list network interfaces: {0}")]
    Interfaces(#[source] io::Error),
    /// An interface selector matched no interface of this host.
    #[error("no interface matches {0}")]
    NoSuchInterface(String),
    /// Beacons are on, but no address family could send them (no
    /// interface with an address of the family, groups that cannot be
    /// joined...).
    #[error("no address family can send beacons: {reasons}")]
    NoBeacons {
        /// Why each configured family was left out.
        reasons: String,
    },
    /// The operating system's random generator failed: no secret for the
    /// node's cryptographic generator (ephemeral keys of encrypted links).
    #[error("cannot draw random bytes from the operating system: {0}")]
    Entropy(String),
    /// Sending a datagram failed.
    #[error("cannot send to {addr}: {source}")]
    Send {
        /// The destination.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl NetError {
    /// The OS error underneath, when there is one.
    pub fn io_error(&self) -> Option<&io::Error> {
        match self {
            NetError::Socket { source, .. }
            | NetError::Option { source, .. }
            | NetError::Bind { source, .. }
            | NetError::Listen { source, .. }
            | NetError::Join { source, .. }
            | NetError::Connect { source, .. }
            | NetError::Send { source, .. } => Some(source),
            NetError::Interfaces(e) => Some(e),
            NetError::NoSuchInterface(_)
            | NetError::NoBeacons { .. }
            | NetError::Config(_)
            | NetError::Entropy(_) => None,
        }
    }
}
