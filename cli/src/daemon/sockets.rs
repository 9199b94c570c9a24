//! Mesh sockets on the daemon's side: making the socket pair, resolving the
//! target, and the tasks that move messages and stream bytes between the
//! application's socket and the node.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netcluster_client::fdpass::{self, PairKind};
use netcluster_control::local::{
    LocalEvent, LocalEventKind, LocalStatus, SocketRequest, TargetKind,
};
use netcluster_tokio::{Error, Handle, NodeId, PeerStream, Semantics, SendError, SendOptions};
use tokio::io::Interest;
use tokio::net::UnixDatagram;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::clusters::ClusterNode;
use super::conn::Sink;
use super::router::{Inbox, Reads, Router};
use super::Daemon;
use crate::admin::resolve::{resolve, ResolveError};

/// Largest message read from an application's packet socket.
pub(crate) const MAX_PACKET: usize = 256 * 1024;

type Refusal = (LocalStatus, String);

/// A socket a connection opened, as the connection keeps it.
pub(crate) struct OpenSocket {
    pub(crate) id: u32,
    task: JoinHandle<()>,
    group: Option<String>,
    router: Arc<Router>,
}

impl OpenSocket {
    /// Whether its task has ended (the application closed it).
    pub(crate) fn finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops it, forgets its route and leaves its group.
    pub(crate) async fn close(self, node: Option<&ClusterNode>) {
        self.task.abort();
        self.router.remove(self.id);
        if let (Some(g), Some(node)) = (self.group, node) {
            node.leave_group(&g).await;
        }
    }
}

/// Where an application's writes go.
#[derive(Clone)]
enum Dest {
    Peer(NodeId),
    Group(String),
}

fn refuse<T>(status: LocalStatus, detail: impl Into<String>) -> Result<T, Refusal> {
    Err((status, detail.into()))
}

async fn resolve_peer(handle: &Handle, target: &str) -> Result<NodeId, Refusal> {
    let target = target.to_string();
    let r = handle
        .query(move |node| {
            let peers: Vec<_> = node.peers().cloned().collect();
            resolve(&target, node.id(), &node.config().name, &peers)
        })
        .await
        .map_err(|e| (LocalStatus::Failed, e.to_string()))?;
    r.map_err(|e| match e {
        ResolveError::Unknown(_) => (LocalStatus::UnknownTarget, e.to_string()),
        _ => (LocalStatus::BadRequest, e.to_string()),
    })
}

/// Opens the socket `req` asks for: the daemon's end is served by a task,
/// the application's end is returned to be passed.
pub(crate) async fn open(
    node: &Arc<ClusterNode>,
    req: &SocketRequest,
    daemon: &Daemon,
    sink: &Sink,
) -> Result<(OpenSocket, OwnedFd), Refusal> {
    let sem = req.semantics;
    let overridden = req.timeout_ms != 0 || req.retries != 0;
    if overridden && (sem == Semantics::Stream || req.target_kind == TargetKind::ListenStreams) {
        return refuse(
            LocalStatus::Unsupported,
            "timeout and retry overrides apply to messages, not to streams",
        );
    }
    let opts = send_options(req);
    let target = req.target.to_string();
    let queue = if req.queue == 0 { daemon.limits.socket_queue } else { usize::from(req.queue) };
    let id = daemon.next_socket_id();
    let router = node.router.clone();
    let handle = node.handle.clone();
    let pair = |kind| fdpass::daemon_pair(kind).map_err(|e| (LocalStatus::Failed, e.to_string()));
    let packet_kind =
        if sem == Semantics::Datagram { PairKind::Datagram } else { PairKind::SeqPacket };
    let mut group = None;
    let (task, app) = match (req.target_kind, sem) {
        (TargetKind::Peer, Semantics::Stream) => {
            let peer = resolve_peer(&handle, &target).await?;
            let stream = handle
                .open_stream(peer)
                .await
                .map_err(|e| (LocalStatus::Unreachable, e.to_string()))?;
            let (mine, theirs) = pair(PairKind::Stream)?;
            (tokio::spawn(bridge(mine, stream, id, sink.clone())), theirs)
        }
        (TargetKind::Peer, _) => {
            let peer = resolve_peer(&handle, &target).await?;
            let (mine, theirs) = pair(packet_kind)?;
            let (tx, rx) = mpsc::channel(queue.max(1));
            router.add(id, Reads::Peer(peer, sem), Inbox::Messages(tx), sink.clone());
            let ctx = MsgCtx { handle, router: router.clone(), id, sink: sink.clone(), sem, opts };
            (tokio::spawn(messages(mine, Some(rx), Some(Dest::Peer(peer)), ctx)), theirs)
        }
        (TargetKind::Group, Semantics::Stream) | (TargetKind::GroupReceive, Semantics::Stream) => {
            return refuse(LocalStatus::BadRequest, "streams go to one peer, not to a group")
        }
        (TargetKind::Group, _) => {
            let (mine, theirs) = pair(packet_kind)?;
            let ctx = MsgCtx { handle, router: router.clone(), id, sink: sink.clone(), sem, opts };
            (tokio::spawn(messages(mine, None, Some(Dest::Group(target)), ctx)), theirs)
        }
        (TargetKind::GroupReceive, _) => {
            if target.is_empty() {
                // Everyone is in "": nothing to join.
            } else {
                node.join_group(&target).await?;
                group = Some(target.clone());
            }
            let (mine, theirs) = pair(packet_kind)?;
            let (tx, rx) = mpsc::channel(queue.max(1));
            router.add(id, Reads::Group(target, sem), Inbox::Messages(tx), sink.clone());
            let ctx = MsgCtx { handle, router: router.clone(), id, sink: sink.clone(), sem, opts };
            (tokio::spawn(messages(mine, Some(rx), None, ctx)), theirs)
        }
        (TargetKind::ListenStreams, Semantics::Stream) if target.is_empty() => {
            let (mine, theirs) = pair(PairKind::SeqPacket)?;
            let (tx, rx) = mpsc::channel(queue.max(1));
            router.add(id, Reads::Streams, Inbox::Streams(tx), sink.clone());
            (tokio::spawn(listen(mine, rx, id, sink.clone(), router.clone())), theirs)
        }
        (TargetKind::ListenStreams, _) => {
            return refuse(
                LocalStatus::BadRequest,
                "listen_streams takes the stream semantics and no target",
            )
        }
    };
    tracing::debug!(socket = id, kind = %req.target_kind, ?sem, "socket opened");
    Ok((OpenSocket { id, task, group, router }, app))
}

/// The options of every message a socket sends: its semantics, and its
/// delivery timeout and retransmission limit when the SOCKET request
/// overrides the node's (PROTOCOL 16: `timeout_ms`, `retries`; 0 keeps the
/// node's own).
fn send_options(req: &SocketRequest) -> SendOptions {
    let mut opts = SendOptions::new(req.semantics);
    if req.timeout_ms != 0 {
        opts = opts.timeout(Duration::from_millis(u64::from(req.timeout_ms)));
    }
    if req.retries != 0 {
        opts = opts.max_retransmissions(u32::from(req.retries));
    }
    opts
}

struct MsgCtx {
    handle: Handle,
    router: Arc<Router>,
    id: u32,
    sink: Sink,
    sem: Semantics,
    /// What each message is sent with (see [`send_options`]).
    opts: SendOptions,
}

impl MsgCtx {
    fn failed(&self, peer: NodeId, why: &str) {
        self.sink.event(LocalEvent {
            socket_id: self.id,
            kind: LocalEventKind::DeliveryFailed,
            peer,
            detail: why.into(),
        });
    }

    /// Hands one message to the node, waiting for `Writable` while its
    /// window is full. `false` once the node has stopped.
    async fn send(&self, dest: &Dest, payload: Bytes) -> bool {
        let opts = self.opts;
        loop {
            let notified = self.router.writable.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let r = match dest {
                Dest::Peer(p) => self.handle.send(*p, opts, payload.clone()).await,
                Dest::Group(g) => self.handle.shout(g.clone(), opts, payload.clone()).await,
            };
            let peer = match dest {
                Dest::Peer(p) => *p,
                Dest::Group(_) => NodeId::default(),
            };
            match r {
                Ok(msg) => {
                    if matches!(self.sem, Semantics::Reliable | Semantics::Sequenced) {
                        self.router.sent(msg, self.id, &self.sink);
                    }
                    return true;
                }
                Err(Error::Send(SendError::WouldBlock)) => {
                    // A missed wake-up costs at most this long.
                    let _ = tokio::time::timeout(Duration::from_millis(200), notified).await;
                }
                Err(Error::Send(e)) => {
                    self.failed(peer, &format!("{e:?}").to_lowercase());
                    return true;
                }
                Err(e) => {
                    tracing::debug!(socket = self.id, error = %e, "node gone");
                    return false;
                }
            }
        }
    }
}

/// The daemon's end of a packet socket pair, registered with tokio.
///
/// A `SOCK_SEQPACKET` end is wrapped in tokio's `UnixDatagram` too: only
/// its readiness and `send`/`recv` (the same system calls for both types)
/// are used, through [`fdpass`], which keeps message boundaries and sees
/// truncation.
fn packet_socket(fd: OwnedFd) -> std::io::Result<UnixDatagram> {
    UnixDatagram::from_std(std::os::unix::net::UnixDatagram::from(fd))
}

/// Moves messages both ways between an application's packet socket and the
/// node, until the application closes it or the node stops.
async fn messages(
    fd: OwnedFd,
    inbox: Option<mpsc::Receiver<Bytes>>,
    dest: Option<Dest>,
    ctx: MsgCtx,
) {
    let fd = match packet_socket(fd) {
        Ok(fd) => fd,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register a socket");
            return;
        }
    };
    let outbound = async {
        let mut buf = vec![0u8; MAX_PACKET];
        loop {
            if fd.readable().await.is_err() {
                return;
            }
            let (n, truncated) = match fd.try_io(Interest::READABLE, || fdpass::recv(&fd, &mut buf))
            {
                Ok(r) => r,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(_) => return,
            };
            if n == 0 && ctx.sem != Semantics::Datagram {
                return; // end of file: the application closed the socket
            }
            if truncated {
                ctx.failed(NodeId::default(), "message larger than the daemon's packet buffer");
                continue;
            }
            // A read-only socket's writes are read (so that its end of
            // file is seen) and dropped.
            let Some(dest) = &dest else { continue };
            if !ctx.send(dest, Bytes::copy_from_slice(&buf[..n])).await {
                return;
            }
        }
    };
    let inbound = async {
        let Some(mut inbox) = inbox else { return std::future::pending().await };
        while let Some(msg) = inbox.recv().await {
            loop {
                if fd.writable().await.is_err() {
                    return;
                }
                match fd.try_io(Interest::WRITABLE, || fdpass::send(&fd, &msg)) {
                    Ok(_) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => {
                        tracing::debug!(socket = ctx.id, error = %e, "application socket gone");
                        return;
                    }
                }
            }
        }
    };
    tokio::select! {
        () = outbound => {}
        () = inbound => {}
    }
    ctx.router.remove(ctx.id);
}

/// Bridges a mesh stream and an application's stream socket: end of file
/// each way is a finish, a mesh reset closes the socket with an event, an
/// application gone resets the mesh stream.
async fn bridge(fd: OwnedFd, mut stream: PeerStream, socket_id: u32, sink: Sink) {
    let std = std::os::unix::net::UnixStream::from(fd);
    let mut app = match tokio::net::UnixStream::from_std(std) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot register a stream socket");
            stream.reset();
            return;
        }
    };
    if let Err(e) = tokio::io::copy_bidirectional(&mut app, &mut stream).await {
        match stream.ended() {
            Some(end) => {
                tracing::debug!(socket = socket_id, end = end.as_str(), "mesh stream ended");
                sink.event(LocalEvent {
                    socket_id,
                    kind: LocalEventKind::StreamReset,
                    peer: stream.peer(),
                    detail: end.as_str().into(),
                });
            }
            None => {
                tracing::debug!(socket = socket_id, error = %e, "application stream gone; reset");
                stream.reset();
            }
        }
    }
}

/// Hands each stream a peer opens to the application: one packet with the
/// peer's id and the stream's descriptor.
async fn listen(
    fd: OwnedFd,
    mut streams: mpsc::Receiver<PeerStream>,
    id: u32,
    sink: Sink,
    router: Arc<Router>,
) {
    let Ok(fd) = packet_socket(fd) else { return };
    loop {
        tokio::select! {
            s = streams.recv() => {
                let Some(stream) = s else { break };
                let Ok((mine, theirs)) = fdpass::daemon_pair(PairKind::Stream) else {
                    stream.reset();
                    continue;
                };
                let peer = stream.peer();
                let sent = loop {
                    if fd.writable().await.is_err() {
                        break false;
                    }
                    match fd.try_io(Interest::WRITABLE, || {
                        fdpass::send_with_fd(fd.as_fd(), &peer.0, theirs.as_fd())
                    }) {
                        Ok(_) => break true,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                        Err(_) => break false,
                    }
                };
                drop(theirs);
                if !sent {
                    stream.reset();
                    break;
                }
                tokio::spawn(bridge(mine, stream, id, sink.clone()));
            }
            r = fd.readable() => {
                if r.is_err() {
                    break;
                }
                let mut b = [0u8; 1];
                match fd.try_io(Interest::READABLE, || fdpass::recv(&fd, &mut b)) {
                    Ok((0, _)) => break,
                    Ok(_) => {} // the application has nothing to say here
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(_) => break,
                }
            }
        }
    }
    router.remove(id);
}
