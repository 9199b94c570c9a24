//! The host daemon: `netcluster agent` serving applications (the local
//! sub-protocol, `docs/PROTOCOL.md` section 16) and admin clients on one
//! socket, in as many clusters as applications ask for.
//!
//! - `clusters`: one node per cluster, joined on demand or held;
//! - `conn`: one application's connection, its requests and cleanup;
//! - `sockets`: mesh sockets, the socket pairs and the tasks that serve
//!   them;
//! - `router`: a cluster's messages and streams to the right socket.
//!
//! A connection is an admin client or an application according to the
//! sub-protocol of its first frame. Every connection's peer credentials
//! (`SO_PEERCRED`) are logged and checked against the socket file's owner
//! and group before anything is read.

pub(crate) mod clusters;
pub(crate) mod conn;
pub(crate) mod router;
pub(crate) mod sockets;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use netcluster_control::local::{LocalMessage, LocalResult, LocalStatus};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::{Limits, Protocol};
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::Semaphore;

use crate::admin::frame::{FrameError, FrameReader};

pub(crate) use clusters::Clusters;

/// Bounds of the host daemon.
#[derive(Debug, Clone)]
pub struct DaemonLimits {
    /// Clusters the daemon is in at once; a CONNECT past it is refused
    /// with `limit`.
    pub max_clusters: usize,
    /// Sockets one application connection may have open.
    pub max_sockets: usize,
    /// Messages the daemon holds for one socket when SOCKET's `queue` is 0.
    pub socket_queue: usize,
    /// Application connections at once; more are refused with `limit`.
    pub max_apps: usize,
    /// Frames queued towards one application (answers and events).
    pub out_queue: usize,
    /// Decoding limits for requests.
    pub wire: Limits,
}

impl Default for DaemonLimits {
    fn default() -> Self {
        DaemonLimits {
            max_clusters: 16,
            max_sockets: 256,
            socket_queue: 256,
            max_apps: 256,
            out_queue: 1024,
            wire: Limits::DEFAULT,
        }
    }
}

/// What every connection of the daemon shares.
pub(crate) struct Daemon {
    pub(crate) clusters: Clusters,
    pub(crate) limits: DaemonLimits,
    apps: Arc<Semaphore>,
    socket_ids: AtomicU32,
    /// Owner and group of the socket file.
    owner: (u32, u32),
}

impl Daemon {
    pub(crate) fn new(clusters: Clusters, limits: DaemonLimits, socket: &Path) -> Daemon {
        let owner = std::fs::metadata(socket).map(|m| (m.uid(), m.gid())).unwrap_or((0, 0));
        Daemon {
            clusters,
            apps: Arc::new(Semaphore::new(limits.max_apps.max(1))),
            limits,
            socket_ids: AtomicU32::new(1),
            owner,
        }
    }

    /// A fresh socket id, never 0.
    pub(crate) fn next_socket_id(&self) -> u32 {
        loop {
            let id = self.socket_ids.fetch_add(1, Ordering::Relaxed);
            if id != 0 {
                return id;
            }
        }
    }
}

/// Accepts connections until aborted.
pub(crate) async fn accept_loop(listener: UnixListener, daemon: Arc<Daemon>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, daemon.clone()));
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of
                // spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Whether credentials `(uid, gid)` may use a socket owned by `owner`.
fn allowed((uid, gid): (u32, u32), owner: (u32, u32)) -> bool {
    uid == 0 || uid == owner.0 || gid == owner.1
}

async fn refuse(mut stream: UnixStream, detail: String) {
    let r = LocalResult { request_id: 0, status: LocalStatus::Limit, detail: detail.into() };
    if let Ok(b) = ControlFrame::new(ControlMessage::Local(LocalMessage::Result(r))).to_bytes() {
        let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(&b)).await;
    }
}

async fn connection(stream: UnixStream, daemon: Arc<Daemon>) {
    let cred = match stream.peer_cred() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "no peer credentials; connection closed");
            return;
        }
    };
    let who = (cred.uid(), cred.gid());
    if !allowed(who, daemon.owner) {
        tracing::warn!(
            uid = cred.uid(),
            gid = cred.gid(),
            pid = ?cred.pid(),
            "connection refused: not the socket's owner, group or root"
        );
        return;
    }
    tracing::debug!(uid = cred.uid(), gid = cred.gid(), pid = ?cred.pid(), "connection");
    let (r, mut w) = stream.into_split();
    let mut reader = FrameReader::new(r, daemon.limits.wire.max_frame);
    let first = match tokio::time::timeout(Duration::from_secs(30), reader.next()).await {
        Ok(Ok(Some(f))) => f,
        Ok(Ok(None)) | Err(_) => return,
        Ok(Err(e)) => {
            tracing::debug!(pid = ?cred.pid(), error = %e, "unreadable first frame; closed");
            if let FrameError::Framing(e) = e {
                let r = LocalResult {
                    request_id: 0,
                    status: LocalStatus::BadRequest,
                    detail: format!("unreadable stream: {e}").into(),
                };
                if let Ok(b) =
                    ControlFrame::new(ControlMessage::Local(LocalMessage::Result(r))).to_bytes()
                {
                    let _ = w.write_all(&b).await;
                }
            }
            return;
        }
    };
    let protocol = first.get(2).copied().unwrap_or(0);
    let first_id = conn::request_id_of(&first);
    reader.unread(first);
    if protocol == Protocol::Admin.id() {
        match daemon.clusters.admin_target().await {
            Ok(node) => crate::admin::server::serve_counted(reader, w, node.admin.clone()).await,
            Err(why) => {
                // Every request gets the reason, until the client gives up.
                let mut id = first_id;
                loop {
                    let r = crate::admin::context::result(
                        id,
                        netcluster_control::admin::Status::BadRequest,
                        why.clone(),
                    );
                    if crate::admin::frame::write(&mut w, r).await.is_err() {
                        break;
                    }
                    match reader.next().await {
                        Ok(Some(f)) => id = conn::request_id_of(&f),
                        _ => break,
                    }
                }
            }
        }
        return;
    }
    let Ok(_permit) = daemon.apps.clone().try_acquire_owned() else {
        tracing::warn!("application refused: too many connections");
        if let Ok(s) = reader.into_inner().reunite(w) {
            refuse(s, "too many applications".into()).await;
        }
        return;
    };
    let who = conn::Credentials { uid: cred.uid(), gid: cred.gid(), pid: cred.pid() };
    conn::serve(reader, w, daemon.clone(), who).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_checked_against_owner_group_and_root() {
        assert!(allowed((1000, 1000), (1000, 50)));
        assert!(allowed((1001, 50), (1000, 50)));
        assert!(allowed((0, 0), (1000, 50)));
        assert!(!allowed((1001, 1001), (1000, 50)));
    }
}
