//! Event fan-out from the node's thread to any number of blocking
//! subscribers, each with a bounded buffer of its own.

use std::collections::VecDeque;
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use netcluster_core::node::Event;

/// Locks `m`, recovering the data if a thread panicked while holding it:
/// the buffers stay consistent at every step, so the data is sound.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The publishing side, owned by the node's thread (and shared with the
/// handles, which subscribe through it).
pub(crate) struct Hub {
    inner: Mutex<HubInner>,
    capacity: usize,
}

struct HubInner {
    subs: Vec<Weak<Sub>>,
    closed: bool,
}

struct Sub {
    state: Mutex<SubState>,
    ready: Condvar,
    capacity: usize,
}

struct SubState {
    buf: VecDeque<Event>,
    /// Dropped since the subscriber last looked (reported once, then moved
    /// to `missed`).
    unreported: u64,
    missed: u64,
    closed: bool,
}

impl Hub {
    pub(crate) fn new(capacity: usize) -> Hub {
        Hub { inner: Mutex::new(HubInner { subs: Vec::new(), closed: false }), capacity }
    }

    pub(crate) fn subscribe(&self) -> Events {
        let mut inner = lock(&self.inner);
        let sub = Arc::new(Sub {
            state: Mutex::new(SubState {
                buf: VecDeque::new(),
                unreported: 0,
                missed: 0,
                closed: inner.closed,
            }),
            ready: Condvar::new(),
            capacity: self.capacity,
        });
        inner.subs.push(Arc::downgrade(&sub));
        Events { sub }
    }

    /// Hands `event` to every live subscriber. Never blocks on a reader: a
    /// full buffer loses its oldest event instead.
    pub(crate) fn publish(&self, event: &Event) {
        let mut inner = lock(&self.inner);
        inner.subs.retain(|w| {
            let Some(sub) = w.upgrade() else { return false };
            let mut st = lock(&sub.state);
            if st.buf.len() >= sub.capacity {
                st.buf.pop_front();
                st.unreported += 1;
            }
            st.buf.push_back(event.clone());
            drop(st);
            sub.ready.notify_all();
            true
        });
    }

    /// The node has stopped: subscribers end once their buffers are read.
    pub(crate) fn close(&self) {
        let mut inner = lock(&self.inner);
        inner.closed = true;
        for sub in inner.subs.drain(..).filter_map(|w| w.upgrade()) {
            lock(&sub.state).closed = true;
            sub.ready.notify_all();
        }
    }
}

/// The node's events for one subscriber, from [`Handle::events`]: a
/// blocking [`Iterator`] that ends when the node stops.
///
/// Each subscriber has its own buffer of
/// [`event_capacity`](crate::Builder::event_capacity) events. One read too
/// slowly **lags**: the oldest events it has not read are dropped, a warning
/// is logged, and [`missed`](Self::missed) counts them; the node itself
/// never waits for a reader. After a lag, read [`Handle::peers`] to
/// resynchronise.
///
/// [`Handle::events`]: crate::Handle::events
/// [`Handle::peers`]: crate::Handle::peers
pub struct Events {
    sub: Arc<Sub>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("missed", &self.missed()).finish()
    }
}

impl Events {
    /// Events dropped so far because this subscriber lagged.
    pub fn missed(&self) -> u64 {
        let st = lock(&self.sub.state);
        st.missed + st.unreported
    }

    /// The next event if one is buffered; `Err(Empty)` if none is yet,
    /// `Err(Disconnected)` once the node has stopped and every buffered
    /// event has been read.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        let mut st = lock(&self.sub.state);
        match take(&mut st) {
            Some(e) => Ok(e),
            None if st.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next event, waiting up to `timeout` for one; `Err(Timeout)` if
    /// none came, `Err(Disconnected)` once the node has stopped and every
    /// buffered event has been read.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let end = Instant::now().checked_add(timeout);
        let mut st = lock(&self.sub.state);
        loop {
            if let Some(e) = take(&mut st) {
                return Ok(e);
            }
            if st.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            let left = match end {
                Some(end) => end.saturating_duration_since(Instant::now()),
                // A timeout too large for the clock: wait without one.
                None => {
                    st = self.sub.ready.wait(st).unwrap_or_else(|e| e.into_inner());
                    continue;
                }
            };
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            st = self.sub.ready.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0;
        }
    }
}

/// Pops the next event, reporting a lag first seen now.
fn take(st: &mut SubState) -> Option<Event> {
    if st.unreported > 0 {
        tracing::warn!(missed = st.unreported, "event subscriber lagged; events dropped");
        st.missed += st.unreported;
        st.unreported = 0;
    }
    st.buf.pop_front()
}

impl Iterator for Events {
    type Item = Event;

    /// Blocks until the next event; `None` once the node has stopped and
    /// every buffered event has been read.
    fn next(&mut self) -> Option<Event> {
        let mut st = lock(&self.sub.state);
        loop {
            if let Some(e) = take(&mut st) {
                return Some(e);
            }
            if st.closed {
                return None;
            }
            st = self.sub.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcluster_core::node::MessageId;
    use netcluster_core::NodeId;

    fn ev(n: u64) -> Event {
        Event::Delivered { id: MessageId(n), to: NodeId([0; 16]) }
    }

    fn id_of(e: Event) -> u64 {
        match e {
            Event::Delivered { id, .. } => id.0,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn lagging_subscriber_loses_the_oldest_and_counts_them() {
        let hub = Hub::new(3);
        let mut slow = hub.subscribe();
        let mut fast = hub.subscribe();
        for n in 0..5 {
            hub.publish(&ev(n));
            assert_eq!(id_of(fast.try_recv().unwrap()), n);
        }
        assert_eq!(slow.missed(), 2);
        let got: Vec<u64> = (0..3).map(|_| id_of(slow.try_recv().unwrap())).collect();
        assert_eq!(got, [2, 3, 4]);
        assert_eq!(slow.try_recv(), Err(TryRecvError::Empty));
        assert_eq!(fast.missed(), 0);
    }

    #[test]
    fn subscribers_end_after_close_once_drained() {
        let hub = Hub::new(8);
        let mut sub = hub.subscribe();
        hub.publish(&ev(7));
        hub.close();
        assert_eq!(id_of(sub.next().unwrap()), 7);
        assert!(sub.next().is_none());
        assert_eq!(sub.recv_timeout(Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
        // A late subscriber of a stopped node ends at once.
        assert!(hub.subscribe().next().is_none());
    }

    #[test]
    fn recv_timeout_wakes_on_publish_from_another_thread() {
        let hub = Arc::new(Hub::new(8));
        let mut sub = hub.subscribe();
        assert_eq!(sub.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
        let h = Arc::clone(&hub);
        let t = std::thread::spawn(move || h.publish(&ev(1)));
        assert_eq!(id_of(sub.recv_timeout(Duration::from_secs(30)).unwrap()), 1);
        t.join().unwrap();
    }

    #[test]
    fn dropped_subscribers_are_forgotten() {
        let hub = Hub::new(2);
        drop(hub.subscribe());
        hub.publish(&ev(0));
        assert!(lock(&hub.inner).subs.is_empty());
    }
}
