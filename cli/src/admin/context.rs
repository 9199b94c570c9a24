//! What a request handler works with: the node, its event hub, the
//! limits, and where its answers go.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netcluster_control::admin::{AdminResult, Status};
use netcluster_control::AdminMessage;
use netcluster_core::wire::{ByteString, Limits};
use netcluster_tokio::Handle;
use tokio::sync::{mpsc, Semaphore};

use super::events::EventHub;
use super::frame;

/// Bounds on what clients may ask of the agent.
#[derive(Debug, Clone)]
pub struct AdminLimits {
    /// Clients connected at once; more are told `limit` and closed.
    pub max_clients: usize,
    /// Requests of one client being served at once; more are answered
    /// `limit`.
    pub max_pending: usize,
    /// Decoding limits for requests (largest frame, longest name...).
    pub wire: Limits,
    /// How long a reliable SEND or SHOUT may wait for its delivery report.
    pub delivery_wait: Duration,
    /// How long one ping of a PING may wait for its answer.
    pub ping_wait: Duration,
    /// Frames queued towards one client, and events queued per subscriber.
    /// Nothing is dropped: a subscriber whose queue is full holds the event
    /// feed back until it reads (see `EventHub`), so a slow reader slows
    /// the agent's node rather than losing events.
    pub out_queue: usize,
}

impl Default for AdminLimits {
    fn default() -> Self {
        AdminLimits {
            max_clients: 64,
            max_pending: 32,
            wire: Limits::DEFAULT,
            delivery_wait: Duration::from_secs(40),
            ping_wait: Duration::from_secs(5),
            out_queue: 1024,
        }
    }
}

/// Shared by every connection of one admin socket.
pub(crate) struct Ctx {
    pub(crate) handle: Handle,
    pub(crate) hub: EventHub,
    pub(crate) limits: AdminLimits,
    pub(crate) clients: Arc<Semaphore>,
}

/// A RESULT.
pub(crate) fn result(request_id: u32, status: Status, detail: impl Into<String>) -> AdminResult {
    let mut detail: String = detail.into();
    if detail.len() > usize::from(u16::MAX) {
        let mut end = usize::from(u16::MAX);
        while !detail.is_char_boundary(end) {
            end -= 1;
        }
        detail.truncate(end);
    }
    AdminResult { request_id, status, detail: ByteString::from(detail) }
}

/// Where a request's answers go: the connection's writer.
#[derive(Clone)]
pub(crate) struct Out(pub(crate) mpsc::Sender<Bytes>);

impl Out {
    /// Queues a message; false once the client is gone.
    pub(crate) async fn send(&self, msg: impl Into<AdminMessage>) -> bool {
        let msg = msg.into();
        let id = msg.request_id();
        let bytes = match frame::encode(msg) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "admin answer cannot be encoded");
                match frame::encode(result(id, Status::Limit, format!("answer too large: {e}"))) {
                    Ok(b) => b,
                    Err(_) => return false,
                }
            }
        };
        self.0.send(bytes).await.is_ok()
    }
}
