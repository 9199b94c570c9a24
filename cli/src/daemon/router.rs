//! One cluster's traffic to its applications: which socket takes each
//! message and stream the node delivers, the delivery reports of what the
//! sockets sent, and the node's `Writable` news.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use netcluster_control::local::{LocalEvent, LocalEventKind};
use netcluster_net::events::lock;
use netcluster_tokio::{Event, Handle, MessageId, NodeId, PeerStream, Semantics};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

use super::conn::Sink;

/// Delivery reports remembered for messages whose id was not recorded yet
/// (the report overtook the send's answer).
const EARLY_REPORTS: usize = 4096;

/// What a socket reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reads {
    /// Messages from one peer, sent to this node, in one semantics.
    Peer(NodeId, Semantics),
    /// Messages shouted to one group, in one semantics.
    Group(String, Semantics),
    /// Streams peers open to this node.
    Streams,
}

/// Where a socket's input goes.
pub(crate) enum Inbox {
    /// Messages, into a bounded queue.
    Messages(mpsc::Sender<Bytes>),
    /// Streams, into a bounded queue.
    Streams(mpsc::Sender<PeerStream>),
}

struct Route {
    socket_id: u32,
    reads: Reads,
    inbox: Inbox,
    events: Sink,
    /// Datagrams dropped for a full queue since the last report.
    dropped: u64,
}

/// Message ids of reliable and sequenced sends, to report failures to the
/// socket that sent them.
#[derive(Default)]
struct Inflight {
    owners: HashMap<MessageId, (u32, Sink)>,
    early: HashSet<MessageId>,
    early_order: VecDeque<MessageId>,
}

/// The routing table of one cluster's node.
#[derive(Default)]
pub(crate) struct Router {
    routes: Mutex<Vec<Route>>,
    inflight: Mutex<Inflight>,
    /// Woken on every `Writable` of the node.
    pub(crate) writable: Notify,
    /// Messages no socket wanted.
    pub(crate) unclaimed: AtomicU64,
}

impl Router {
    /// Adds a socket's route; the oldest route matching a message takes it.
    pub(crate) fn add(&self, socket_id: u32, reads: Reads, inbox: Inbox, events: Sink) {
        lock(&self.routes).push(Route { socket_id, reads, inbox, events, dropped: 0 });
    }

    /// Removes a socket's route and forgets its messages in flight.
    pub(crate) fn remove(&self, socket_id: u32) {
        lock(&self.routes).retain(|r| r.socket_id != socket_id);
        lock(&self.inflight).owners.retain(|_, (s, _)| *s != socket_id);
    }

    /// Remembers that `id`, sent from `socket_id`, is in flight.
    pub(crate) fn sent(&self, id: MessageId, socket_id: u32, events: &Sink) {
        let mut f = lock(&self.inflight);
        if f.early.remove(&id) {
            return;
        }
        f.owners.insert(id, (socket_id, events.clone()));
    }

    fn report(&self, id: MessageId) -> Option<(u32, Sink)> {
        let mut f = lock(&self.inflight);
        let owner = f.owners.remove(&id);
        if owner.is_none() {
            if f.early_order.len() >= EARLY_REPORTS {
                if let Some(old) = f.early_order.pop_front() {
                    f.early.remove(&old);
                }
            }
            f.early.insert(id);
            f.early_order.push_back(id);
        }
        owner
    }

    /// Hands a message to the oldest socket that reads it. A reliable or
    /// sequenced message waits for room in a full queue (which holds the
    /// node's delivery back: backpressure); a datagram for a full queue is
    /// dropped and counted.
    async fn deliver(&self, from: NodeId, group: Option<String>, sem: Semantics, payload: Bytes) {
        let wanted = match group {
            None => Reads::Peer(from, sem),
            Some(g) => Reads::Group(g, sem),
        };
        let target = {
            let mut routes = lock(&self.routes);
            let Some(r) = routes.iter_mut().find(|r| r.reads == wanted) else {
                self.unclaimed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?wanted, "unclaimed message dropped");
                return;
            };
            let Inbox::Messages(tx) = &r.inbox else { return };
            if sem == Semantics::Datagram {
                match tx.try_send(payload) {
                    Ok(()) => {
                        if r.dropped > 0 {
                            r.events.event(LocalEvent {
                                socket_id: r.socket_id,
                                kind: LocalEventKind::Dropped,
                                peer: from,
                                detail: r.dropped.to_string().into(),
                            });
                            r.dropped = 0;
                        }
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => r.dropped += 1,
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
                return;
            }
            (tx.clone(), payload)
        };
        let (tx, payload) = target;
        if tx.send(payload).await.is_err() {
            tracing::debug!("a socket closed with a message on its way; dropped");
        }
    }

    /// Hands a stream to the oldest listening socket, or resets it.
    async fn accept(&self, stream: PeerStream) {
        let tx = lock(&self.routes).iter().find_map(|r| match &r.inbox {
            Inbox::Streams(tx) if r.reads == Reads::Streams => Some(tx.clone()),
            _ => None,
        });
        match tx {
            Some(tx) => {
                if let Err(e) = tx.send(stream).await {
                    e.0.reset();
                }
            }
            None => {
                tracing::debug!(peer = %stream.peer(), "no application listens for streams; reset");
                stream.reset();
            }
        }
    }

    fn on_event(&self, event: &Event) -> bool {
        match event {
            Event::Delivered { id, .. } => {
                self.report(*id);
            }
            Event::SendFailed { id, to, reason } => {
                if let Some((socket_id, sink)) = self.report(*id) {
                    sink.event(LocalEvent {
                        socket_id,
                        kind: LocalEventKind::DeliveryFailed,
                        peer: *to,
                        detail: reason.as_str().into(),
                    });
                }
            }
            Event::Writable { .. } => self.writable.notify_waiters(),
            _ => return false,
        }
        true
    }
}

/// Runs the router of `handle`'s node: messages and reports from its
/// events, streams from its accept queue. Ends when the node stops.
pub(crate) fn spawn(handle: &Handle, router: Arc<Router>) -> Vec<JoinHandle<()>> {
    let mut events = handle.events();
    let r = router.clone();
    let dispatch = tokio::spawn(async move {
        while let Some(event) = events.next().await {
            if r.on_event(&event) {
                continue;
            }
            if let Event::Message { from, group, semantics, payload } = event {
                r.deliver(from, group, semantics, payload).await;
            }
        }
        r.writable.notify_waiters();
    });
    let h = handle.clone();
    let accept = tokio::spawn(async move {
        while let Ok(stream) = h.accept_stream().await {
            router.accept(stream).await;
        }
    });
    vec![dispatch, accept]
}
