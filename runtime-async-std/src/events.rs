//! The node's events as a `Stream`, one bounded buffer per subscriber.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_broadcast::{Receiver, RecvError};
use futures_core::Stream;
use netcluster_core::node::Event;

/// The node's events, as a [`Stream`].
///
/// Each stream has its own buffer of
/// [`Builder::event_capacity`](crate::Builder::event_capacity) events. A
/// stream read too slowly **lags**: the oldest events it has not read are
/// dropped, a warning is logged, and [`missed`](Self::missed) counts them;
/// the node itself never waits for a reader. After a lag, read
/// [`Handle::peers`](crate::Handle::peers) to resynchronise. The stream ends
/// when the node stops.
pub struct EventStream {
    inner: Pin<Box<Receiver<Event>>>,
    missed: u64,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("missed", &self.missed).finish()
    }
}

impl EventStream {
    pub(crate) fn new(rx: Receiver<Event>) -> EventStream {
        EventStream { inner: Box::pin(rx), missed: 0 }
    }

    /// Events dropped so far because this stream lagged.
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        loop {
            match self.inner.as_mut().poll_recv(cx) {
                Poll::Ready(Some(Ok(e))) => return Poll::Ready(Some(e)),
                Poll::Ready(Some(Err(RecvError::Overflowed(n)))) => {
                    tracing::warn!(missed = n, "event stream lagged; events dropped");
                    self.missed += n;
                }
                Poll::Ready(Some(Err(RecvError::Closed))) | Poll::Ready(None) => {
                    return Poll::Ready(None)
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
