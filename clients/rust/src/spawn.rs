//! Finding the daemon, and starting it when none runs: under an exclusive
//! `flock` on `agent.lock` beside the socket, so that clients starting at
//! once start exactly one.

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rustix::fs::FlockOperation;

use crate::{paths, Error};

/// How to reach (and if need be start) the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The daemon's socket (default: [`paths::default_socket`]).
    pub socket: PathBuf,
    /// Start a daemon when none answers (default: true).
    pub start: bool,
    /// The `netcluster` program to start (default: `$NETCLUSTER_AGENT`,
    /// else `netcluster` on the `PATH`).
    pub program: PathBuf,
    /// Extra arguments after `agent --admin SOCKET`.
    pub args: Vec<String>,
    /// How long a started daemon may take to answer (default 10 s).
    pub start_timeout: Duration,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            socket: paths::default_socket(),
            start: true,
            program: std::env::var_os("NETCLUSTER_AGENT")
                .filter(|p| !p.is_empty())
                .map_or_else(|| PathBuf::from("netcluster"), PathBuf::from),
            args: Vec::new(),
            start_timeout: Duration::from_secs(10),
        }
    }
}

/// Refuses a socket another user owns (it could be anyone's daemon), unless
/// we are root.
fn check_owner(socket: &Path) -> Result<(), Error> {
    owner_rule(socket, paths::owner(socket), paths::uid())
}

fn owner_rule(socket: &Path, owner: Option<u32>, me: u32) -> Result<(), Error> {
    match owner {
        Some(owner) if owner != me && me != 0 => {
            Err(Error::NotOwner { path: socket.to_path_buf(), owner })
        }
        _ => Ok(()),
    }
}

fn try_connect(socket: &Path) -> Result<Option<UnixStream>, Error> {
    check_owner(socket)?;
    match UnixStream::connect(socket) {
        Ok(s) => Ok(Some(s)),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(Error::NoDaemon(format!("cannot connect to {}: {e}", socket.display()))),
    }
}

/// Connects to the daemon, starting one if none answers and `opts.start`.
pub fn connect(opts: &DaemonOptions) -> Result<UnixStream, Error> {
    if let Some(s) = try_connect(&opts.socket)? {
        return Ok(s);
    }
    if !opts.start {
        return Err(Error::NoDaemon(format!("no daemon answers on {}", opts.socket.display())));
    }
    let dir = opts.socket.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        if !dir.exists() {
            std::fs::create_dir_all(dir).map_err(Error::Io)?;
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                .map_err(Error::Io)?;
        }
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(paths::lock_path(&opts.socket))
        .map_err(Error::Io)?;
    rustix::fs::flock(&lock, FlockOperation::LockExclusive).map_err(|e| Error::Io(e.into()))?;
    // Another client may have started one while we waited for the lock.
    if let Some(s) = try_connect(&opts.socket)? {
        return Ok(s);
    }
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(paths::log_path(&opts.socket))
        .map_err(Error::Io)?;
    let log2 = log.try_clone().map_err(Error::Io)?;
    let mut child = Command::new(&opts.program)
        .arg("agent")
        .arg("--admin")
        .arg(&opts.socket)
        .args(&opts.args)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .process_group(0)
        .spawn()
        .map_err(|e| Error::NoDaemon(format!("cannot start {}: {e}", opts.program.display())))?;
    let deadline = Instant::now() + opts.start_timeout;
    loop {
        if let Some(s) = try_connect(&opts.socket)? {
            // The lock is released when `lock` is dropped, after the
            // daemon answers.
            return Ok(s);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Error::NoDaemon(format!(
                "the daemon exited at start ({status}); see {}",
                paths::log_path(&opts.socket).display()
            )));
        }
        if Instant::now() >= deadline {
            return Err(Error::NoDaemon(format!(
                "the daemon did not answer on {} within {:?}; see {}",
                opts.socket.display(),
                opts.start_timeout,
                paths::log_path(&opts.socket).display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_of_another_user_is_refused_unless_root() {
        let p = Path::new("/x/agent.sock");
        assert!(matches!(
            owner_rule(p, Some(1001), 1000),
            Err(Error::NotOwner { owner: 1001, .. })
        ));
        assert!(owner_rule(p, Some(1000), 1000).is_ok());
        assert!(owner_rule(p, Some(1001), 0).is_ok());
        assert!(owner_rule(p, None, 1000).is_ok());
    }
}
