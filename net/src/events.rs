//! Event fan-out from the node's loop to any number of subscribers, each
//! with a bounded queue of its own, with backpressure instead of loss.
//!
//! The rules every driver follows (see [`EventHub`]):
//!
//! - **Messages are never dropped.** The loop takes a received message
//!   from the node only while every subscriber has room
//!   ([`EventHub::has_room`]); otherwise it takes only the other events
//!   ([`Node::poll_control_event`]) and the message waits in the node's
//!   bounded inbox, whose zero window holds the senders back. The slowest
//!   subscriber sets the pace: one that stops reading stops delivery to
//!   every subscriber of that node.
//! - **Membership is never left with a hole.** A membership event that
//!   finds a subscriber's queue full is replaced, for that subscriber, by
//!   one [`Event::Resync`] carrying the peer list as it is when read.
//! - **Delivery reports stay bounded.** While a subscriber is full, the
//!   loop refuses new reliable and sequenced sends with `WouldBlock`
//!   ([`EventHub::block_send`]) and reports the destination
//!   [`Event::Writable`] when there is room again, so the reports of
//!   messages in flight are all that can pass the bound.
//! - With no subscriber, events are discarded: a node nobody listens to
//!   does not hold its senders back.
//!
//! [`Node::poll_control_event`]: netcluster_core::Node::poll_control_event

use std::collections::{BTreeSet, VecDeque};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use netcluster_core::node::{Event, MessageId, PeerInfo, SendError, SendOptions};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Node, NodeId};

/// Locks `m`, recovering the data if a thread panicked while holding it:
/// for data kept consistent at every step (the drivers' queues and flags),
/// a panic elsewhere leaves it sound.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Called (from a subscriber's thread) when a subscriber that was full has
/// read half its queue: the loop should take more events from the node.
pub type SpaceCallback = Arc<dyn Fn() + Send + Sync>;

/// The publishing side, owned by the node's loop; subscribers are made
/// from it with [`subscribe`](Self::subscribe).
pub struct EventHub {
    shared: Arc<Shared>,
    /// Destinations refused with `WouldBlock` because a subscriber was full.
    blocked: Mutex<BTreeSet<NodeId>>,
    /// The node's traffic generation the peer list was last copied at.
    traffic_seen: AtomicU64,
}

struct Shared {
    inner: Mutex<HubInner>,
    /// The peer list a `Resync` carries. Its own lock, never held while
    /// taking another, so readers may take it under their queue's lock.
    peers: Mutex<Arc<Vec<PeerInfo>>>,
    capacity: usize,
    space: SpaceCallback,
}

struct HubInner {
    subs: Vec<Weak<Sub>>,
    closed: bool,
}

struct Sub {
    state: Mutex<SubState>,
    ready: Condvar,
    hub: Weak<Shared>,
}

impl Sub {
    /// Queues `events` and wakes the reader once, if it waits.
    fn push_all(&self, cap: usize, events: impl IntoIterator<Item = Event>) {
        let mut st = lock(&self.state);
        for event in events {
            if is_membership(&event) && (st.resync_queued || st.buf.len() >= cap) {
                if !st.resync_queued {
                    st.resync_queued = true;
                    st.buf.push_back(Item::Resync);
                }
            } else {
                st.buf.push_back(Item::Event(event));
            }
        }
        let waker = st.waker.take();
        // A blocked reader counts itself in `sleepers` under the lock
        // before it waits, so none is missed; without one, no system call.
        let sleepers = st.sleepers;
        drop(st);
        if sleepers > 0 {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }
}

enum Item {
    Event(Event),
    /// Membership events were dropped here: read the peer list instead.
    Resync,
}

struct SubState {
    buf: VecDeque<Item>,
    /// A `Resync` is queued and not read yet: further membership events
    /// are covered by it.
    resync_queued: bool,
    /// The loop found this queue full: wake it when half is read.
    starved: bool,
    closed: bool,
    waker: Option<Waker>,
    /// Threads blocked on `ready`: publishing skips the notification
    /// (a system call) when there are none.
    sleepers: u32,
}

/// Semantics whose messages are reported delivered or failed.
fn reported(s: Semantics) -> bool {
    matches!(s, Semantics::Reliable | Semantics::Sequenced)
}

fn is_membership(e: &Event) -> bool {
    matches!(
        e,
        Event::PeerUp(_)
            | Event::PeerUpdated(_)
            | Event::PeerDown { .. }
            | Event::GroupJoined { .. }
            | Event::GroupLeft { .. }
            | Event::Resync { .. }
    )
}

impl std::fmt::Debug for EventHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventHub").field("capacity", &self.shared.capacity).finish()
    }
}

impl EventHub {
    /// A hub whose subscribers each queue up to `capacity` events; `space`
    /// wakes the loop when a full subscriber has made room.
    pub fn new(capacity: usize, space: SpaceCallback) -> EventHub {
        EventHub {
            shared: Arc::new(Shared {
                inner: Mutex::new(HubInner { subs: Vec::new(), closed: false }),
                peers: Mutex::new(Arc::new(Vec::new())),
                capacity: capacity.max(1),
                space,
            }),
            blocked: Mutex::new(BTreeSet::new()),
            traffic_seen: AtomicU64::new(0),
        }
    }

    /// A new subscriber, seeing the events published from now on.
    pub fn subscribe(&self) -> Subscriber {
        let mut inner = lock(&self.shared.inner);
        let sub = Arc::new(Sub {
            state: Mutex::new(SubState {
                buf: VecDeque::new(),
                resync_queued: false,
                starved: false,
                closed: inner.closed,
                waker: None,
                sleepers: 0,
            }),
            ready: Condvar::new(),
            hub: Arc::downgrade(&self.shared),
        });
        inner.subs.push(Arc::downgrade(&sub));
        Subscriber { sub }
    }

    /// Whether every subscriber can take another event. A full one is
    /// marked, so that reading half its queue wakes the loop.
    pub fn has_room(&self) -> bool {
        self.room() > 0
    }

    /// Room left in the fullest subscriber's queue (`usize::MAX` without
    /// subscribers). A full one is marked, so that reading half its queue
    /// wakes the loop.
    pub fn room(&self) -> usize {
        let mut inner = lock(&self.shared.inner);
        let cap = self.shared.capacity;
        let mut room = usize::MAX;
        inner.subs.retain(|w| {
            let Some(sub) = w.upgrade() else { return false };
            let mut st = lock(&sub.state);
            let free = cap.saturating_sub(st.buf.len());
            if free == 0 {
                st.starved = true;
            }
            room = room.min(free);
            true
        });
        room
    }

    /// Replaces the peer list that a [`Event::Resync`] carries.
    pub fn set_peers(&self, peers: Arc<Vec<PeerInfo>>) {
        *lock(&self.shared.peers) = peers;
    }

    /// The peer list, as of the latest membership event, with the traffic
    /// figures of the node's latest sample.
    pub fn peers(&self) -> Arc<Vec<PeerInfo>> {
        lock(&self.shared.peers).clone()
    }

    /// Takes the node's events and publishes them under the rules above:
    /// messages only while every subscriber has room, everything else
    /// always. `private` sees each event first and returns false for one
    /// the driver handles itself (stream readiness, for its bridge), which
    /// is then not published. The peer list is refreshed from the node
    /// before the first membership event goes out, so a `Resync` is never
    /// older than the events it stands for, and again when the node has
    /// sampled new traffic figures (at most once a second), so that the list
    /// handles read carries current ones. Destinations whose sends were
    /// refused for lack of room are reported writable once there is room.
    /// Returns whether the node had any event.
    pub fn pump(
        &self,
        node: &mut Node,
        mut private: impl FnMut(&mut Node, &Event) -> bool,
    ) -> bool {
        let mut room = self.room();
        let mut any = false;
        let mut peers_fresh = false;
        // Everything one pump takes goes out in one batch: one lock of each
        // queue and at most one wake-up per subscriber, instead of one per
        // event (the wake-up was the receiving loop's largest cost).
        let mut batch = Vec::new();
        loop {
            let e = if room > 0 { node.poll_event() } else { node.poll_control_event() };
            let Some(e) = e else { break };
            any = true;
            if !private(node, &e) {
                continue;
            }
            if is_membership(&e) && !peers_fresh {
                peers_fresh = true;
                self.set_peers(Arc::new(node.peers().cloned().collect()));
            }
            room = room.saturating_sub(1);
            batch.push(e);
        }
        let generation = node.traffic_generation();
        if self.traffic_seen.swap(generation, Ordering::Relaxed) != generation && !peers_fresh {
            self.set_peers(Arc::new(node.peers().cloned().collect()));
        }
        batch.extend(self.take_unblocked().into_iter().map(|to| Event::Writable { to }));
        self.publish_all(batch);
        any
    }

    /// `node.send`, refused with `WouldBlock` while a subscriber is full
    /// (see [`may_send`](Self::may_send)).
    pub fn send(
        &self,
        node: &mut Node,
        now: netcluster_core::Instant,
        to: NodeId,
        how: SendOptions,
        payload: bytes::Bytes,
    ) -> Result<MessageId, SendError> {
        if reported(how.semantics) && !self.may_send(to) {
            return Err(SendError::WouldBlock);
        }
        node.send(now, to, how, payload)
    }

    /// [`send_many`](crate::send_many), refused as a whole with
    /// `WouldBlock` while a subscriber is full.
    pub fn send_many(
        &self,
        node: &mut Node,
        now: netcluster_core::Instant,
        to: NodeId,
        how: SendOptions,
        payloads: Vec<bytes::Bytes>,
    ) -> crate::SendMany {
        if reported(how.semantics) && !self.may_send(to) {
            return crate::SendMany { ids: Vec::new(), refused: Some(SendError::WouldBlock) };
        }
        crate::send_many(node, now, to, how, payloads)
    }

    /// Whether a reliable or sequenced send to `to` may go to the node
    /// now: not while a subscriber is full, since its delivery report would
    /// have no room (the destination is reported writable later).
    pub fn may_send(&self, to: NodeId) -> bool {
        if self.has_room() {
            return true;
        }
        self.block_send(to);
        false
    }

    /// Hands `event` to every subscriber. Never blocks; see the module
    /// docs for what a full queue does with each kind of event.
    pub fn publish(&self, event: &Event) {
        self.publish_all(vec![event.clone()]);
    }

    /// Hands `events`, in order, to every subscriber, waking each at most
    /// once. Never blocks; see the module docs for what a full queue does
    /// with each kind of event.
    pub fn publish_all(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let mut inner = lock(&self.shared.inner);
        let cap = self.shared.capacity;
        inner.subs.retain(|w| w.strong_count() > 0);
        let subs: Vec<Arc<Sub>> = inner.subs.iter().filter_map(Weak::upgrade).collect();
        let Some((last, others)) = subs.split_last() else { return };
        for sub in others {
            sub.push_all(cap, events.iter().cloned());
        }
        // The last subscriber (usually the only one) takes the events
        // themselves rather than copies.
        last.push_all(cap, events);
    }

    /// Records that a send to `to` was refused because a subscriber is
    /// full; [`take_unblocked`](Self::take_unblocked) hands it back once
    /// there is room.
    pub fn block_send(&self, to: NodeId) {
        lock(&self.blocked).insert(to);
    }

    /// The destinations refused by [`block_send`](Self::block_send), once
    /// every subscriber has room again (to be reported
    /// [`Event::Writable`]); empty otherwise.
    pub fn take_unblocked(&self) -> Vec<NodeId> {
        if lock(&self.blocked).is_empty() || !self.has_room() {
            return Vec::new();
        }
        std::mem::take(&mut *lock(&self.blocked)).into_iter().collect()
    }

    /// The node has stopped: subscribers end once their queues are read.
    pub fn close(&self) {
        let mut inner = lock(&self.shared.inner);
        inner.closed = true;
        for sub in inner.subs.drain(..).filter_map(|w| w.upgrade()) {
            let mut st = lock(&sub.state);
            st.closed = true;
            let waker = st.waker.take();
            drop(st);
            sub.ready.notify_all();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Events queued for the fullest subscriber (a figure for tests and
    /// metrics).
    pub fn max_queued(&self) -> usize {
        let inner = lock(&self.shared.inner);
        inner
            .subs
            .iter()
            .filter_map(Weak::upgrade)
            .map(|s| lock(&s.state).buf.len())
            .max()
            .unwrap_or(0)
    }
}

impl Drop for EventHub {
    fn drop(&mut self) {
        self.close();
    }
}

/// One subscriber's queue of the node's events, read by blocking
/// ([`recv`](Self::recv), [`recv_timeout`](Self::recv_timeout),
/// [`try_recv`](Self::try_recv)) or asynchronously
/// ([`poll_recv`](Self::poll_recv)); drivers hand it out as an
/// [`EventStream`] or an [`Events`]. It ends when the node stops and every
/// queued event has been read.
pub struct Subscriber {
    sub: Arc<Sub>,
}

impl std::fmt::Debug for Subscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscriber").field("queued", &lock(&self.sub.state).buf.len()).finish()
    }
}

impl Subscriber {
    /// Waits on the queue's condition variable (at most `timeout`),
    /// counted as a sleeper so that publishers know to notify.
    fn sleep<'a>(
        &self,
        mut st: MutexGuard<'a, SubState>,
        timeout: Option<Duration>,
    ) -> MutexGuard<'a, SubState> {
        st.sleepers += 1;
        let mut st = match timeout {
            None => self.sub.ready.wait(st).unwrap_or_else(|e| e.into_inner()),
            Some(t) => self.sub.ready.wait_timeout(st, t).unwrap_or_else(|e| e.into_inner()).0,
        };
        st.sleepers -= 1;
        st
    }

    /// Pops the next event, turning a `Resync` marker into the peer list;
    /// wakes the loop when a starved queue is half read.
    fn pop(&self, st: &mut SubState) -> Option<Event> {
        let item = st.buf.pop_front()?;
        // The hub is reached only when needed: upgrading its weak pointer
        // is two atomic operations, which every message would pay.
        if st.starved {
            if let Some(hub) = self.sub.hub.upgrade() {
                if st.buf.len() <= hub.capacity / 2 {
                    st.starved = false;
                    (hub.space)();
                }
            }
        }
        Some(match item {
            Item::Event(e) => e,
            Item::Resync => {
                st.resync_queued = false;
                let hub = self.sub.hub.upgrade();
                let peers = hub.map(|h| lock(&h.peers).clone()).unwrap_or_default();
                Event::Resync { peers: peers.as_ref().clone() }
            }
        })
    }

    /// The next event if one is queued; `Err(Empty)` if none is yet,
    /// `Err(Disconnected)` once the node has stopped and every queued event
    /// has been read.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        let mut st = lock(&self.sub.state);
        match self.pop(&mut st) {
            Some(e) => Ok(e),
            None if st.closed => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    /// The next event, waiting up to `timeout` for one.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        let end = Instant::now().checked_add(timeout);
        let mut st = lock(&self.sub.state);
        loop {
            if let Some(e) = self.pop(&mut st) {
                return Ok(e);
            }
            if st.closed {
                return Err(RecvTimeoutError::Disconnected);
            }
            let Some(end) = end else {
                st = self.sleep(st, None);
                continue;
            };
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(RecvTimeoutError::Timeout);
            }
            st = self.sleep(st, Some(left));
        }
    }

    /// The next event for an async reader: `Ready(None)` once the node has
    /// stopped and every queued event has been read.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut st = lock(&self.sub.state);
        if let Some(e) = self.pop(&mut st) {
            return Poll::Ready(Some(e));
        }
        if st.closed {
            return Poll::Ready(None);
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Up to `limit` events for an async reader, appended to `buf` under
    /// one lock: `Ready(0)` once the node has stopped and every queued
    /// event has been read (or when `limit` is 0).
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut Vec<Event>,
        limit: usize,
    ) -> Poll<usize> {
        let mut st = lock(&self.sub.state);
        let n = self.pop_many(&mut st, buf, limit);
        if n > 0 || st.closed || limit == 0 {
            return Poll::Ready(n);
        }
        match &st.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => st.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Up to `limit` events, appended to `buf` under one lock, blocking
    /// until there is at least one: 0 once the node has stopped and every
    /// queued event has been read (or when `limit` is 0).
    pub fn recv_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        let mut st = lock(&self.sub.state);
        loop {
            let n = self.pop_many(&mut st, buf, limit);
            if n > 0 || st.closed || limit == 0 {
                return n;
            }
            st = self.sleep(st, None);
        }
    }

    fn pop_many(&self, st: &mut SubState, buf: &mut Vec<Event>, limit: usize) -> usize {
        let mut n = 0;
        while n < limit {
            let Some(e) = self.pop(st) else { break };
            buf.push(e);
            n += 1;
        }
        n
    }

    /// Events queued and not read yet.
    pub fn queued(&self) -> usize {
        lock(&self.sub.state).buf.len()
    }
}

impl Subscriber {
    /// Blocks until the next event; `None` once the node has stopped and
    /// every queued event has been read.
    pub fn recv(&mut self) -> Option<Event> {
        let mut st = lock(&self.sub.state);
        loop {
            if let Some(e) = self.pop(&mut st) {
                return Some(e);
            }
            if st.closed {
                return None;
            }
            st = self.sleep(st, None);
        }
    }
}

/// The text both event types share.
macro_rules! queue_doc {
    () => {
        "Each subscriber has its own queue of `event_capacity` events (a \
         `Builder` setting), and nothing is lost when it fills:\n\
         - received messages wait in the node (its bounded inbox), and \
         senders are held back, until every subscriber has room: the \
         slowest reader sets the pace for all of this node's subscribers, \
         so drop one you no longer read;\n\
         - membership events that find the queue full are replaced by one \
         [`Event::Resync`] with the peer list as it is when read;\n\
         - reliable and sequenced sends are refused with `WouldBlock` \
         while a subscriber is full, and the destination is reported \
         [`Event::Writable`] when there is room.\n\n\
         It ends when the node stops and every queued event has been read."
    };
}

/// The node's events for an async reader, from a `Handle::events`: a
/// [`Stream`](futures_core::Stream), also read with
/// [`next`](Self::next).
///
#[doc = queue_doc!()]
#[derive(Debug)]
pub struct EventStream {
    inner: Subscriber,
}

impl EventStream {
    /// Reads `sub` asynchronously.
    pub fn new(sub: Subscriber) -> EventStream {
        EventStream { inner: sub }
    }

    /// The next event; `None` once the node has stopped.
    pub async fn next(&mut self) -> Option<Event> {
        std::future::poll_fn(|cx| self.inner.poll_recv(cx)).await
    }

    /// Waits for events and appends up to `limit` of them to `buf`, taken
    /// under one lock (cheaper than one [`next`](Self::next) each when
    /// many arrive): the number appended, 0 once the node has stopped and
    /// every queued event has been read.
    ///
    /// ```no_run
    /// # async fn f(mut events: netcluster_net::events::EventStream) {
    /// let mut batch = Vec::new();
    /// while events.next_many(&mut batch, 256).await > 0 {
    ///     for event in batch.drain(..) {
    ///         println!("{event:?}");
    ///     }
    /// }
    /// # }
    /// ```
    pub async fn next_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        std::future::poll_fn(|cx| self.inner.poll_recv_many(cx, buf, limit)).await
    }

    /// Events queued and not read yet.
    pub fn queued(&self) -> usize {
        self.inner.queued()
    }
}

impl futures_core::Stream for EventStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.inner.poll_recv(cx)
    }
}

/// The node's events for a blocking reader, from a `Handle::events`: an
/// [`Iterator`] that blocks for the next event, with
/// [`try_recv`](Self::try_recv) and [`recv_timeout`](Self::recv_timeout).
///
#[doc = queue_doc!()]
#[derive(Debug)]
pub struct Events {
    inner: Subscriber,
}

impl Events {
    /// Reads `sub` by blocking.
    pub fn new(sub: Subscriber) -> Events {
        Events { inner: sub }
    }

    /// The next event if one is queued; `Err(Empty)` if none is yet,
    /// `Err(Disconnected)` once the node has stopped and every queued event
    /// has been read.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        self.inner.try_recv()
    }

    /// The next event, waiting up to `timeout` for one; `Err(Timeout)` if
    /// none came, `Err(Disconnected)` once the node has stopped and every
    /// queued event has been read.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        self.inner.recv_timeout(timeout)
    }

    /// Blocks for events and appends up to `limit` of them to `buf`,
    /// taken under one lock: the number appended, 0 once the node has
    /// stopped and every queued event has been read.
    pub fn recv_many(&mut self, buf: &mut Vec<Event>, limit: usize) -> usize {
        self.inner.recv_many(buf, limit)
    }

    /// Events queued and not read yet.
    pub fn queued(&self) -> usize {
        self.inner.queued()
    }
}

impl Iterator for Events {
    type Item = Event;

    /// Blocks until the next event; `None` once the node has stopped and
    /// every queued event has been read.
    fn next(&mut self) -> Option<Event> {
        self.inner.recv()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // A starved subscriber going away may be what held the loop back.
        if lock(&self.sub.state).starved {
            if let Some(hub) = self.sub.hub.upgrade() {
                (hub.space)();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcluster_core::node::DownReason;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn msg(n: u64) -> Event {
        Event::Message {
            from: NodeId([1; 16]),
            group: None,
            semantics: Semantics::Sequenced,
            payload: bytes::Bytes::copy_from_slice(&n.to_be_bytes()),
        }
    }

    fn down(n: u8) -> Event {
        Event::PeerDown { id: NodeId([n; 16]), name: format!("p{n}"), reason: DownReason::Left }
    }

    fn counting() -> (SpaceCallback, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&n);
        (
            Arc::new(move || {
                c.fetch_add(1, Ordering::SeqCst);
            }),
            n,
        )
    }

    #[test]
    fn a_full_subscriber_stops_messages_and_wakes_the_loop_when_half_read() {
        let (space, woken) = counting();
        let hub = EventHub::new(4, space);
        let mut slow = hub.subscribe();
        let mut fast = hub.subscribe();
        let mut published = 0;
        while hub.has_room() {
            hub.publish(&msg(published));
            published += 1;
            while fast.try_recv().is_ok() {}
        }
        assert_eq!(published, 4, "the slowest subscriber sets the pace");
        assert_eq!(slow.queued(), 4);
        slow.try_recv().unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 0, "not yet half read");
        slow.try_recv().unwrap();
        assert_eq!(woken.load(Ordering::SeqCst), 1, "half read: the loop is woken");
        assert!(hub.has_room());
    }

    #[test]
    fn membership_past_the_bound_becomes_one_resync_with_the_current_peers() {
        let hub = EventHub::new(2, Arc::new(|| {}));
        let mut sub = hub.subscribe();
        hub.publish(&msg(0));
        hub.publish(&msg(1));
        for n in 0..10 {
            hub.publish(&down(n));
        }
        hub.publish(&msg(2));
        assert_eq!(sub.queued(), 4, "two messages, one resync marker, one message");
        let peer = PeerInfo {
            id: NodeId([9; 16]),
            incarnation: 1,
            name: "p9".into(),
            addr: "127.0.0.1:7400".parse().unwrap(),
            state: netcluster_core::NodeState::Init,
            headers: Vec::new(),
            groups: Vec::new(),
            hops: 1,
            traffic: Default::default(),
        };
        hub.set_peers(Arc::new(vec![peer.clone()]));
        let got: Vec<Event> = std::iter::from_fn(|| sub.try_recv().ok()).collect();
        assert_eq!(got[..2], [msg(0), msg(1)]);
        assert_eq!(got[2], Event::Resync { peers: vec![peer] }, "the list as read");
        assert_eq!(got[3], msg(2));
        // With room again, membership events queue as usual.
        hub.publish(&down(1));
        assert_eq!(sub.try_recv(), Ok(down(1)));
    }

    #[test]
    fn blocked_sends_are_released_once_there_is_room() {
        let hub = EventHub::new(1, Arc::new(|| {}));
        let mut sub = hub.subscribe();
        hub.publish(&Event::Delivered { id: MessageId(1), to: NodeId([2; 16]) });
        assert!(!hub.has_room());
        hub.block_send(NodeId([2; 16]));
        assert!(hub.take_unblocked().is_empty(), "still full");
        sub.try_recv().unwrap();
        assert_eq!(hub.take_unblocked(), vec![NodeId([2; 16])]);
        assert!(hub.take_unblocked().is_empty(), "reported once");
    }

    #[test]
    fn no_subscriber_means_room_and_dropped_ones_are_forgotten() {
        let (space, woken) = counting();
        let hub = EventHub::new(1, space);
        assert!(hub.has_room());
        let sub = hub.subscribe();
        hub.publish(&msg(0));
        assert!(!hub.has_room());
        drop(sub);
        assert_eq!(woken.load(Ordering::SeqCst), 1, "a starved subscriber's drop wakes the loop");
        assert!(hub.has_room());
        assert_eq!(hub.max_queued(), 0);
    }

    #[test]
    fn subscribers_end_after_close_once_drained() {
        let hub = EventHub::new(8, Arc::new(|| {}));
        let mut sub = hub.subscribe();
        hub.publish(&msg(7));
        hub.close();
        assert_eq!(sub.recv(), Some(msg(7)));
        assert!(sub.recv().is_none());
        assert_eq!(sub.recv_timeout(Duration::from_secs(30)), Err(RecvTimeoutError::Disconnected));
        assert!(hub.subscribe().recv().is_none(), "a late subscriber ends at once");
    }

    #[test]
    fn many_events_are_read_in_one_go_in_order_and_the_end_is_zero() {
        let (space, _) = counting();
        let hub = EventHub::new(16, space);
        let mut sub = hub.subscribe();
        hub.publish_all((0..10).map(msg).collect());
        let mut buf = Vec::new();
        assert_eq!(sub.recv_many(&mut buf, 4), 4);
        assert_eq!(sub.recv_many(&mut buf, 100), 6);
        assert_eq!(buf, (0..10).map(msg).collect::<Vec<_>>());
        assert_eq!(sub.recv_many(&mut buf, 0), 0, "a zero limit never blocks");
        hub.close();
        assert_eq!(sub.recv_many(&mut buf, 8), 0, "closed and read");
    }

    #[test]
    fn recv_many_waits_for_a_publish_from_another_thread() {
        let (space, _) = counting();
        let hub = Arc::new(EventHub::new(16, space));
        let mut sub = hub.subscribe();
        let h = hub.clone();
        let t = std::thread::spawn(move || h.publish_all(vec![msg(1), msg(2)]));
        let mut buf = Vec::new();
        let mut got = 0;
        while got < 2 {
            got += sub.recv_many(&mut buf, 8);
        }
        t.join().unwrap();
        assert_eq!(buf, [msg(1), msg(2)]);
    }

    #[test]
    fn recv_timeout_wakes_on_publish_from_another_thread() {
        let hub = Arc::new(EventHub::new(8, Arc::new(|| {})));
        let mut sub = hub.subscribe();
        assert_eq!(sub.recv_timeout(Duration::from_millis(1)), Err(RecvTimeoutError::Timeout));
        let h = Arc::clone(&hub);
        let t = std::thread::spawn(move || h.publish(&msg(1)));
        assert_eq!(sub.recv_timeout(Duration::from_secs(30)), Ok(msg(1)));
        t.join().unwrap();
    }
}
