//! One application's connection: its requests, its sockets, and what goes
//! when it closes.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use bytes::Bytes;
use netcluster_control::admin::MemberTrafficRecord;
use netcluster_control::local::{
    Connect, Connected, LocalEvent, LocalMessage, LocalResult, LocalStatus, NodeInfo, Peers,
    PeersTraffic, SocketOpened,
};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::HEADER_LEN;
use netcluster_core::PeerInfo;
use tokio::io::{AsyncWriteExt, Interest};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::clusters::ClusterNode;
use super::sockets::{self, OpenSocket};
use super::Daemon;
use crate::admin::frame::{FrameError, FrameReader};

/// What the connection's writer sends.
pub(crate) enum Out {
    /// A frame.
    Frame(Bytes),
    /// A frame with a descriptor passed alongside (`SCM_RIGHTS`).
    WithFd(Bytes, OwnedFd),
}

/// The way to a connection's writer, for answers and events.
#[derive(Clone)]
pub(crate) struct Sink(mpsc::Sender<Out>);

fn encode(m: LocalMessage) -> Option<Bytes> {
    match ControlFrame::new(ControlMessage::Local(m)).to_bytes() {
        Ok(b) => Some(b),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a local message");
            None
        }
    }
}

impl Sink {
    /// Queues an event without waiting; an application that does not read
    /// its connection loses events past the queue (counted in the log).
    pub(crate) fn event(&self, e: LocalEvent) {
        if let Some(b) = encode(LocalMessage::Event(e)) {
            if self.0.try_send(Out::Frame(b)).is_err() {
                tracing::warn!("an application's event queue is full; event dropped");
            }
        }
    }

    async fn send(&self, m: LocalMessage) {
        if let Some(b) = encode(m) {
            let _ = self.0.send(Out::Frame(b)).await;
        }
    }

    async fn send_fd(&self, m: LocalMessage, fd: OwnedFd) {
        if let Some(b) = encode(m) {
            let _ = self.0.send(Out::WithFd(b, fd)).await;
        }
    }
}

async fn write_with_fd(w: &mut OwnedWriteHalf, bytes: &[u8], fd: &OwnedFd) -> std::io::Result<()> {
    let sock = w.as_ref();
    let sent = loop {
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || {
            netcluster_client::fdpass::send_with_fd(sock.as_fd(), bytes, fd.as_fd())
        }) {
            Ok(n) => break n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    };
    w.write_all(&bytes[sent..]).await
}

fn result(request_id: u32, status: LocalStatus, detail: impl Into<String>) -> LocalMessage {
    LocalMessage::Result(LocalResult { request_id, status, detail: detail.into().into() })
}

/// Who is on the other end of a connection (`SO_PEERCRED`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credentials {
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) pid: Option<i32>,
}

/// Serves one application until it closes its connection, then closes its
/// sockets, leaves its groups and detaches it from its cluster.
pub(crate) async fn serve(
    mut reader: FrameReader<OwnedReadHalf>,
    mut w: OwnedWriteHalf,
    daemon: Arc<Daemon>,
    peer: Credentials,
) {
    let (tx, mut rx) = mpsc::channel::<Out>(daemon.limits.out_queue.max(1));
    let sink = Sink(tx);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let r = match &out {
                Out::Frame(b) => w.write_all(b).await,
                Out::WithFd(b, fd) => write_with_fd(&mut w, b, fd).await,
            };
            if r.is_err() {
                break;
            }
        }
    });
    let mut cluster: Option<Arc<ClusterNode>> = None;
    let mut open: Vec<OpenSocket> = Vec::new();
    loop {
        let frame = match reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(FrameError::Framing(e)) => {
                sink.send(result(0, LocalStatus::BadRequest, format!("unreadable stream: {e}")))
                    .await;
                break;
            }
            Err(_) => break,
        };
        let msg = match ControlFrame::parse_with(&frame, &daemon.limits.wire) {
            Ok(ControlFrame { message: ControlMessage::Local(m), .. }) if m.is_request() => m,
            Ok(other) => {
                let id = request_id_of(&frame);
                let what = other.message.name();
                sink.send(result(id, LocalStatus::BadRequest, format!("{what} is not a request")))
                    .await;
                break;
            }
            Err(e) => {
                tracing::debug!(error = %e, "malformed local request");
                let id = request_id_of(&frame);
                sink.send(result(id, LocalStatus::BadRequest, format!("malformed request: {e}")))
                    .await;
                break;
            }
        };
        let id = msg.request_id();
        match (msg, &cluster) {
            (LocalMessage::Connect(_), Some(_)) => {
                sink.send(result(
                    id,
                    LocalStatus::AlreadyConnected,
                    "this connection has a cluster",
                ))
                .await;
            }
            (LocalMessage::Connect(c), None) => match connect(&daemon, &c).await {
                Ok(node) => {
                    let node_id = node.handle.id();
                    tracing::info!(
                        cluster = %node.name,
                        uid = peer.uid,
                        gid = peer.gid,
                        pid = ?peer.pid,
                        "application attached"
                    );
                    cluster = Some(node);
                    sink.send(LocalMessage::Connected(Connected { request_id: id, node_id })).await;
                }
                Err((status, detail)) => sink.send(result(id, status, detail)).await,
            },
            (_, None) => {
                sink.send(result(id, LocalStatus::NotConnected, "send CONNECT first")).await;
            }
            (LocalMessage::Socket(req), Some(node)) => {
                // Sockets the application closed make room (and leave their
                // groups) first.
                let (done, live): (Vec<_>, Vec<_>) = open.drain(..).partition(|s| s.finished());
                open = live;
                for s in done {
                    s.close(Some(node)).await;
                }
                if open.len() >= daemon.limits.max_sockets {
                    let detail =
                        format!("at most {} sockets per connection", daemon.limits.max_sockets);
                    sink.send(result(id, LocalStatus::Limit, detail)).await;
                    continue;
                }
                match sockets::open(node, &req, &daemon, &sink).await {
                    Ok((sock, fd)) => {
                        let socket_id = sock.id;
                        open.push(sock);
                        let m =
                            LocalMessage::SocketOpened(SocketOpened { request_id: id, socket_id });
                        sink.send_fd(m, fd).await;
                    }
                    Err((status, detail)) => sink.send(result(id, status, detail)).await,
                }
            }
            (LocalMessage::PeersRequest(p), Some(node)) => {
                let records: Vec<_> = peers_in(node, &p.group)
                    .iter()
                    .map(crate::admin::events::member_record)
                    .collect();
                match VarList::from_records(&records) {
                    Ok(peers) => {
                        sink.send(LocalMessage::Peers(Peers { request_id: id, peers })).await
                    }
                    Err(e) => sink.send(result(id, LocalStatus::Failed, e.to_string())).await,
                }
            }
            (LocalMessage::PeersTrafficRequest(p), Some(node)) => {
                let records: Vec<_> = peers_in(node, &p.group)
                    .iter()
                    .map(|peer| MemberTrafficRecord {
                        traffic: crate::admin::handlers::traffic_figures(&peer.traffic),
                        member: crate::admin::events::member_record(peer),
                    })
                    .collect();
                match VarList::from_records(&records) {
                    Ok(peers) => {
                        sink.send(LocalMessage::PeersTraffic(PeersTraffic {
                            request_id: id,
                            peers,
                        }))
                        .await
                    }
                    Err(e) => sink.send(result(id, LocalStatus::Failed, e.to_string())).await,
                }
            }
            (LocalMessage::NodeRequest(_), Some(node)) => {
                match node.handle.query(crate::admin::handlers::own_record).await {
                    Ok(mut rec) => {
                        rec.link_addr = crate::admin::handlers::reachable_addr(rec.link_addr);
                        sink.send(LocalMessage::Node(NodeInfo { request_id: id, node: rec })).await;
                    }
                    Err(e) => sink.send(result(id, LocalStatus::Failed, e.to_string())).await,
                }
            }
            (_, Some(_)) => {
                sink.send(result(id, LocalStatus::Unsupported, "not a request this daemon serves"))
                    .await;
            }
        }
    }
    for s in open {
        s.close(cluster.as_deref()).await;
    }
    if let Some(node) = cluster {
        daemon.clusters.detach(&node.name).await;
    }
    // The writer flushes what is queued and ends with the last sink (the
    // bridges of accepted streams keep theirs while their streams live).
    drop(sink);
    drop(writer);
}

async fn connect(daemon: &Daemon, c: &Connect) -> Result<Arc<ClusterNode>, (LocalStatus, String)> {
    if c.cluster.is_empty() {
        return Err((LocalStatus::BadRequest, "empty cluster name".into()));
    }
    daemon.clusters.attach(c).await
}

/// The first four body bytes, the `request_id` whatever the type.
pub(crate) fn request_id_of(frame: &Bytes) -> u32 {
    frame
        .get(HEADER_LEN..HEADER_LEN + 4)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// The cluster's peers in `group` (every peer when it is empty), as a
/// PEERS or PEERS_TRAFFIC request names them.
fn peers_in(node: &ClusterNode, group: &str) -> Vec<PeerInfo> {
    node.handle
        .peers()
        .iter()
        .filter(|peer| group.is_empty() || peer.groups.iter().any(|g| g == group))
        .cloned()
        .collect()
}
