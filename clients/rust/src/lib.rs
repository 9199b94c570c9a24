//! # netcluster-client
//!
//! Use a netcluster mesh from any program through the host daemon
//! (`netcluster agent`), as Net::Cluster's application library does: join
//! a cluster by name, list its peers, and open mesh sockets that are real
//! file descriptors, read, written, polled and selected on like any socket.
//!
//! ```no_run
//! use netcluster_client::{Cluster, Options, Semantics, SocketOptions, Target};
//!
//! let mut cluster = Cluster::connect("demo", Options::default())?;
//! let peer = cluster.wait_for_peer("bravo", std::time::Duration::from_secs(10))?;
//! let sock = cluster.socket(Target::Peer(peer.name), Semantics::Sequenced, SocketOptions::default())?;
//! sock.send(b"hello")?;
//! # Ok::<(), netcluster_client::Error>(())
//! ```
//!
//! The client speaks the local sub-protocol (`docs/PROTOCOL.md` section 16)
//! over the daemon's UNIX socket, starting the daemon when none answers
//! (under a lock, so that many clients starting at once start one). Each
//! socket comes back as a descriptor passed with `SCM_RIGHTS`:
//! `SOCK_SEQPACKET` for reliable and sequenced messages (one message per
//! packet), `SOCK_DGRAM` for datagrams, `SOCK_STREAM` for streams.
//!
//! The API is blocking. For an event loop, register [`MeshSocket`]'s and
//! [`Cluster`]'s descriptors with it. On tokio, the cargo feature `tokio`
//! adds `AsyncMeshSocket` (async `send`, `recv` and `accept`,
//! `AsyncRead` and `AsyncWrite` for streams) and
//! `Cluster::next_event_async`. For another async runtime, hand the
//! descriptor to the runtime's own socket type, e.g. (here with tokio) a
//! stream socket; a packet socket goes the same way through `UnixDatagram`,
//! whose `send` and `recv` keep message boundaries on a `SOCK_SEQPACKET`
//! socket too:
//!
//! ```text
//! let fd: std::os::fd::OwnedFd = sock.into();
//! let std = std::os::unix::net::UnixStream::from(fd);
//! std.set_nonblocking(true)?;
//! let stream = tokio::net::UnixStream::from_std(std)?;
//! ```
#![deny(missing_docs)]

#[cfg(feature = "tokio")]
mod asyncio;
mod cluster;
mod conn;
pub mod fdpass;
pub mod paths;
mod socket;
mod spawn;

use std::path::PathBuf;

pub use cluster::{Cluster, Event, Options, Peer, Rates};
pub use netcluster_control::local::{LocalEventKind as EventKind, LocalStatus as Status};
pub use netcluster_core::wire::link::Semantics;
pub use netcluster_core::wire::NodeId;
pub use socket::{MeshSocket, SocketOptions, Target};
pub use spawn::DaemonOptions;

#[cfg(feature = "tokio")]
pub use asyncio::AsyncMeshSocket;

/// What can go wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// No daemon answers and none could be started.
    NoDaemon(String),
    /// The daemon closed the connection (it stopped or restarted): connect
    /// again; the sockets of this connection are gone.
    DaemonGone,
    /// The socket belongs to another user: not talking to it.
    NotOwner {
        /// The socket.
        path: PathBuf,
        /// Its owner's uid.
        owner: u32,
    },
    /// The daemon refused the request.
    Refused {
        /// Why, as a code.
        status: Status,
        /// Why, for people.
        reason: String,
    },
    /// The daemon did not answer in time.
    Timeout,
    /// The daemon said something this client does not understand.
    Protocol(String),
    /// A system call failed.
    Io(std::io::Error),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NoDaemon(s) => write!(f, "no netcluster daemon: {s}"),
            Error::DaemonGone => f.write_str("the netcluster daemon went away; connect again"),
            Error::NotOwner { path, owner } => {
                write!(f, "{} belongs to uid {owner}, not to this user", path.display())
            }
            Error::Refused { status, reason } => write!(f, "refused ({status}): {reason}"),
            Error::Timeout => f.write_str("the daemon did not answer in time"),
            Error::Protocol(s) => write!(f, "local protocol error: {s}"),
            Error::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}
