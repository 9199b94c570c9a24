//! Where the daemon's socket, lock and log live, and who owns them.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The daemon's socket when nothing else is said: `$NETCLUSTER_SOCKET` if
/// set, else `$XDG_RUNTIME_DIR/netcluster/agent.sock`, else
/// `/tmp/netcluster-<uid>/agent.sock`.
pub fn default_socket() -> PathBuf {
    if let Some(p) = std::env::var_os("NETCLUSTER_SOCKET").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    runtime_dir().join("agent.sock")
}

/// `$XDG_RUNTIME_DIR/netcluster`, else `/tmp/netcluster-<uid>`.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("netcluster"),
        _ => PathBuf::from(format!("/tmp/netcluster-{}", uid())),
    }
}

/// `agent.lock` beside the socket: held while a client starts a daemon.
pub fn lock_path(socket: &Path) -> PathBuf {
    sibling(socket, "agent.lock")
}

/// `agent.log` beside the socket: the daemon's output when a client
/// started it.
pub fn log_path(socket: &Path) -> PathBuf {
    sibling(socket, "agent.log")
}

fn sibling(socket: &Path, name: &str) -> PathBuf {
    socket.parent().map_or_else(|| PathBuf::from(name), |d| d.join(name))
}

/// This process's real user id (the owner of `/proc/self`); 0 where it
/// cannot be read.
pub fn uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

/// The owner of `path`, if it exists.
pub fn owner(path: &Path) -> Option<u32> {
    std::fs::symlink_metadata(path).ok().map(|m| m.uid())
}
