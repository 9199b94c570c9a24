//! The admin sub-protocol (`docs/PROTOCOL.md` section 9) over a UNIX
//! socket: the framing shared by both ends, the agent's [`server`], the
//! command side's [`client`], and where the socket lives by default.

pub mod client;
pub(crate) mod context;
pub mod events;
pub mod frame;
pub(crate) mod handlers;
pub mod resolve;
pub mod server;

use std::path::PathBuf;

/// The admin socket of node `name` in cluster `cluster` when `--admin` is
/// not given: `$XDG_RUNTIME_DIR/netcluster/<cluster>-<name>.sock` when
/// `XDG_RUNTIME_DIR` is set, else `/tmp/netcluster-<uid>/<cluster>-<name>.sock`
/// (the directory is created with mode 0700 by the agent).
pub fn default_socket_path(cluster: &str, name: &str) -> PathBuf {
    let file = format!("{}-{}.sock", sanitize(cluster), sanitize(name));
    runtime_dir().join(file)
}

/// The directory holding the default admin sockets.
pub fn runtime_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d).join("netcluster"),
        _ => PathBuf::from(format!("/tmp/netcluster-{}", uid())),
    }
}

/// The admin socket a client talks to when `--admin` is not given: the only
/// socket in [`runtime_dir`], if there is exactly one.
pub fn find_default_socket() -> Result<PathBuf, String> {
    let dir = runtime_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| {
        format!("no agent found: cannot read {} ({e}); give --admin PATH", dir.display())
    })?;
    let mut socks: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    socks.sort();
    match socks.len() {
        0 => Err(format!("no agent found in {}; give --admin PATH", dir.display())),
        1 => Ok(socks.remove(0)),
        n => Err(format!("{n} agent sockets in {}; choose one with --admin PATH", dir.display())),
    }
}

/// Keeps file names to a portable set: a cluster or node name may hold
/// anything, a path component may not.
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect()
}

/// The real user id, from `/proc/self` ownership (no `unsafe` needed); 0
/// where that cannot be read.
fn uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_is_sanitized() {
        let p = default_socket_path("my cluster", "a/b");
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(name, "my_cluster-a_b.sock");
    }
}
