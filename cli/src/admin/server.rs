//! The agent's side of the admin socket: binding it safely, accepting
//! clients, cutting their streams into requests, and keeping any one client
//! from hurting the agent.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netcluster_control::admin::{EventMask, Status};
use netcluster_control::AdminMessage;
use netcluster_core::wire::HEADER_LEN;
use netcluster_tokio::Handle;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

use super::context::{result, Ctx, Out};
use super::events::EventHub;
use super::frame::{self, FrameError, FrameReader};
use super::handlers;

pub use super::context::AdminLimits;

/// Why the admin socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A live agent already answers on that path.
    #[error("another agent is already serving the admin socket {}", .0.display())]
    InUse(PathBuf),
    /// Something that is not a socket is in the way.
    #[error("{} exists and is not a socket; not replacing it", .0.display())]
    NotASocket(PathBuf),
    /// Creating, probing or binding failed.
    #[error("cannot set up the admin socket {}: {source}", path.display())]
    Io {
        /// The socket's path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// The default directory may sit in a shared `/tmp`: it must be ours and
/// closed to others, or someone else could put a socket of theirs there.
fn check_private_dir(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::metadata(dir)?;
    let me = std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(meta.uid());
    if meta.uid() != me || meta.mode() & 0o022 != 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a private directory of this user (owner {}, mode {:o}); give --admin PATH",
                dir.display(),
                meta.uid(),
                meta.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// A bound admin socket, not yet serving.
#[derive(Debug)]
pub struct AdminServer {
    listener: UnixListener,
    path: PathBuf,
    ino: u64,
    limits: AdminLimits,
}

impl AdminServer {
    /// Binds the admin socket at `path` with mode 0600, creating its
    /// directory (mode 0700) if missing. A socket file nobody listens on (a
    /// crashed agent's) is replaced; a live one is [`BindError::InUse`].
    pub async fn bind(path: &Path, limits: AdminLimits) -> Result<AdminServer, BindError> {
        let io = |source| BindError::Io { path: path.to_path_buf(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::create_dir_all(dir).map_err(io)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(io)?;
            } else if dir == super::runtime_dir() {
                check_private_dir(dir).map_err(io)?;
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(BindError::NotASocket(path.to_path_buf()))
            }
            Ok(_) => match UnixStream::connect(path).await {
                Ok(_) => return Err(BindError::InUse(path.to_path_buf())),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tracing::warn!(path = %path.display(), "replacing a stale admin socket");
                    std::fs::remove_file(path).map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
        let listener = UnixListener::bind(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                BindError::InUse(path.to_path_buf())
            } else {
                io(e)
            }
        })?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        let ino = std::fs::symlink_metadata(path).map_err(io)?.ino();
        Ok(AdminServer { listener, path: path.to_path_buf(), ino, limits })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listener, its path and the socket file's inode (for
    /// [`remove_if_ours`]), for a server that accepts on its own (the host
    /// daemon).
    pub(crate) fn into_parts(self) -> (UnixListener, PathBuf, u64) {
        (self.listener, self.path, self.ino)
    }

    /// Gives the socket up without serving (the agent could not start):
    /// the file is removed so it is not left behind as a stale socket.
    pub fn discard(self) {
        remove_if_ours(&self.path, self.ino);
    }

    /// Serves clients on behalf of the node behind `handle`, with events
    /// from `hub`, until [`Serving::close`].
    pub fn serve(self, handle: Handle, hub: EventHub) -> Serving {
        let AdminServer { listener, path, ino, limits } = self;
        let ctx = Arc::new(Ctx {
            handle,
            hub,
            clients: Arc::new(Semaphore::new(limits.max_clients.max(1))),
            limits,
        });
        let task = tokio::spawn(accept_loop(listener, ctx));
        Serving { task, path, ino }
    }
}

/// A running admin server.
#[derive(Debug)]
pub struct Serving {
    task: JoinHandle<()>,
    path: PathBuf,
    ino: u64,
}

impl Serving {
    /// Stops accepting, drops every client and removes the socket file
    /// (unless another agent has replaced it since).
    pub fn close(self) {
        self.task.abort();
        remove_if_ours(&self.path, self.ino);
    }
}

/// Removes the socket file unless another agent has replaced it since.
pub(crate) fn remove_if_ours(path: &Path, ino: u64) {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.ino() == ino => {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "admin socket not removed");
            }
        }
        _ => {}
    }
}

async fn accept_loop(listener: UnixListener, ctx: Arc<Ctx>) {
    let mut conns = JoinSet::new();
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                // Out of descriptors and the like: back off instead of
                // spinning.
                tracing::warn!(error = %e, "admin accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        while conns.try_join_next().is_some() {}
        match ctx.clients.clone().try_acquire_owned() {
            Ok(permit) => {
                let ctx = ctx.clone();
                conns.spawn(async move {
                    connection(stream, ctx).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!("admin client refused: too many clients");
                conns.spawn(async move {
                    let (_r, mut w) = stream.into_split();
                    let _ =
                        frame::write(&mut w, result(0, Status::Limit, "too many clients")).await;
                });
            }
        }
    }
}

/// The first four body bytes, which are the `request_id` whatever the
/// message type.
fn request_id_of(frame: &Bytes) -> u32 {
    frame
        .get(HEADER_LEN..HEADER_LEN + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

async fn connection(stream: UnixStream, ctx: Arc<Ctx>) {
    let (r, w) = stream.into_split();
    let reader = FrameReader::new(r, ctx.limits.wire.max_frame);
    serve_connection(reader, w, ctx).await;
}

/// The shared state of an admin server for the node behind `handle`, for
/// serving connections accepted elsewhere (the host daemon's socket).
pub(crate) fn context(handle: Handle, hub: EventHub, limits: AdminLimits) -> Arc<Ctx> {
    Arc::new(Ctx {
        handle,
        hub,
        clients: Arc::new(Semaphore::new(limits.max_clients.max(1))),
        limits,
    })
}

/// Serves one admin client of the host daemon: refused with `limit` past
/// `max_clients`, else as [`serve_connection`].
pub(crate) async fn serve_counted(
    reader: FrameReader<tokio::net::unix::OwnedReadHalf>,
    mut w: tokio::net::unix::OwnedWriteHalf,
    ctx: Arc<Ctx>,
) {
    let Ok(permit) = ctx.clients.clone().try_acquire_owned() else {
        tracing::warn!("admin client refused: too many clients");
        let _ = frame::write(&mut w, result(0, Status::Limit, "too many clients")).await;
        return;
    };
    serve_connection(reader, w, ctx).await;
    drop(permit);
}

/// Serves one admin client whose stream is already being read by `reader`
/// (which may hold its first frame), until it closes.
pub(crate) async fn serve_connection(
    mut reader: FrameReader<tokio::net::unix::OwnedReadHalf>,
    mut w: tokio::net::unix::OwnedWriteHalf,
    ctx: Arc<Ctx>,
) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(ctx.limits.out_queue.max(1));
    let out = Out(tx);
    let writer = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Some(b) = rx.recv().await {
            if w.write_all(&b).await.is_err() {
                break;
            }
        }
    });
    let pending = Arc::new(Semaphore::new(ctx.limits.max_pending.max(1)));
    let mut requests = JoinSet::new();
    let mut subscription: Option<JoinHandle<()>> = None;
    loop {
        let frame = match reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(FrameError::Framing(e)) => {
                tracing::debug!(error = %e, "admin client sent an unreadable stream");
                out.send(result(0, Status::BadRequest, format!("unreadable stream: {e}"))).await;
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, "admin client connection ended");
                break;
            }
        };
        while requests.try_join_next().is_some() {}
        let msg = match frame::decode(&frame, &ctx.limits.wire) {
            Ok(m) => m,
            Err(e) => {
                let id = request_id_of(&frame);
                let status = match e {
                    netcluster_core::wire::Error::UnknownMessage {
                        protocol: netcluster_core::wire::Protocol::Admin,
                        ..
                    } => Status::Unsupported,
                    _ => Status::BadRequest,
                };
                tracing::debug!(error = %e, "malformed admin request");
                out.send(result(id, status, format!("malformed request: {e}"))).await;
                continue;
            }
        };
        if !msg.is_request() {
            tracing::debug!(kind = msg.name(), "admin client sent a response; ignored");
            continue;
        }
        if let AdminMessage::Subscribe(s) = msg {
            let had = subscription.take().map(|t| t.abort()).is_some();
            if s.events.is_empty() {
                let status = if had { Status::Ok } else { Status::NotSubscribed };
                out.send(result(s.request_id, status, "")).await;
            } else {
                // Subscribed before the RESULT is queued: no event between
                // the two is lost, and none overtakes the RESULT.
                let rx = ctx.hub.subscribe();
                out.send(result(s.request_id, Status::Ok, "")).await;
                subscription =
                    Some(tokio::spawn(forward_events(rx, s.request_id, s.events, out.clone())));
            }
            continue;
        }
        let Ok(permit) = pending.clone().try_acquire_owned() else {
            out.send(result(msg.request_id(), Status::Limit, "too many requests in flight")).await;
            continue;
        };
        let (ctx, out) = (ctx.clone(), out.clone());
        requests.spawn(async move {
            handlers::handle(&ctx, msg, &out).await;
            drop(permit);
        });
    }
    if let Some(t) = subscription {
        t.abort();
    }
    requests.abort_all();
    drop(out);
    let _ = writer.await;
}

async fn forward_events(
    mut rx: tokio::sync::mpsc::Receiver<netcluster_control::admin::AdminEvent>,
    request_id: u32,
    mask: EventMask,
    out: Out,
) {
    while let Some(event) = rx.recv().await {
        if mask.contains(event.kind())
            && !out.send(netcluster_control::admin::Event { request_id, event }).await
        {
            return;
        }
    }
}
