//! Streams between peers, for every driver: the node's stream calls
//! (`open_stream`, `stream_read`, `stream_write`, `stream_finish`,
//! `stream_reset`) on the driver's side, a [`StreamIo`] with poll-style
//! reads and writes on the application's side, and bounded buffers between.
//!
//! The driver owns a [`StreamBridge`] next to its node. It hands each
//! stream event to [`StreamBridge::on_event`] (which returns the
//! application's end of a stream a peer opened) and calls
//! [`StreamBridge::service_pending`] whenever the wake function it gave the
//! bridge has been called: that is how an application's read, write, finish
//! or drop reaches the node. Every `StreamIo` call is non-blocking and
//! registers the task's waker; the blocking forms
//! ([`StreamIo::read_blocking`]...) park the thread instead, for drivers
//! without an executor.
//!
//! Dropping a `StreamIo` finishes the stream after the bytes already
//! written (like closing a socket), and whatever the peer still sends is
//! read and discarded so that it can finish too.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{Event, StreamEnd, StreamError, StreamId};
use netcluster_core::{Instant, Node, NodeId};

/// Bytes a stream buffers on each side of the bridge (read and write)
/// before the application (or the node) must catch up. 256 KiB: several
/// round trips of a LAN path, so the bridge never throttles a stream below
/// what the node's window allows.
pub const STREAM_BUFFER: usize = 256 * 1024;

/// Called by the bridge's application side when the driver should call
/// [`StreamBridge::service_pending`].
pub type WakeDriver = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    write_buf: VecDeque<Bytes>,
    write_bytes: usize,
    finish: bool,
    finish_sent: bool,
    reset: bool,
    /// The application dropped its end: discard what arrives.
    detached: bool,
    read_buf: VecDeque<Bytes>,
    read_bytes: usize,
    /// The driver stopped reading from the node because `read_buf` was
    /// full: the application must ask for more once it has made room.
    read_stalled: bool,
    eof: bool,
    closed: Option<StreamEnd>,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

struct Shared {
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain buffers; the data is still consistent enough to go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Streams the application side has touched since the driver last looked.
struct Pending {
    ids: Mutex<BTreeSet<StreamId>>,
    wake: WakeDriver,
}

impl Pending {
    fn mark(&self, id: StreamId) {
        let first = {
            let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
            let first = ids.is_empty();
            ids.insert(id);
            first
        };
        if first {
            (self.wake)();
        }
    }
}

/// The application's end of a stream: read, write, finish, reset. Cheap
/// to share between a reader and a writer (`&self` methods).
pub struct StreamIo {
    id: StreamId,
    peer: NodeId,
    shared: Arc<Shared>,
    pending: Arc<Pending>,
}

impl std::fmt::Debug for StreamIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamIo").field("id", &self.id).field("peer", &self.peer).finish()
    }
}

fn end_error(end: StreamEnd) -> io::Error {
    match end {
        StreamEnd::Finished => io::Error::new(io::ErrorKind::BrokenPipe, "stream finished"),
        StreamEnd::Reset => io::Error::new(io::ErrorKind::ConnectionReset, "stream reset by peer"),
        StreamEnd::Failed(r) => io::Error::new(
            match r {
                netcluster_core::node::FailReason::Timeout => io::ErrorKind::TimedOut,
                _ => io::ErrorKind::ConnectionAborted,
            },
            format!("stream failed: {}", r.as_str()),
        ),
    }
}

impl StreamIo {
    /// The stream's id in the node.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// The peer at the other end.
    pub fn peer(&self) -> NodeId {
        self.peer
    }

    /// Reads into `buf`: `Ready(Ok(0))` at the end of the stream (or for
    /// an empty `buf`), an error if the stream was reset or failed.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut s = self.shared.lock();
        if s.read_buf.is_empty() {
            if s.eof {
                return Poll::Ready(Ok(0));
            }
            if let Some(end) = s.closed {
                return Poll::Ready(if end == StreamEnd::Finished {
                    Ok(0)
                } else {
                    Err(end_error(end))
                });
            }
            s.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut n = 0;
        while n < buf.len() {
            let Some(front) = s.read_buf.front_mut() else { break };
            let k = front.len().min(buf.len() - n);
            buf[n..n + k].copy_from_slice(&front.split_to(k));
            n += k;
            if front.is_empty() {
                s.read_buf.pop_front();
            }
        }
        s.read_bytes -= n;
        let refill = s.read_stalled && s.read_bytes < STREAM_BUFFER / 2;
        if refill {
            s.read_stalled = false;
        }
        drop(s);
        if refill {
            self.pending.mark(self.id);
        }
        Poll::Ready(Ok(n))
    }

    /// Queues bytes for the stream: how many were taken, `Pending` while
    /// the buffer is full, an error once the stream has ended or was
    /// finished.
    pub fn poll_write(&self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let mut s = self.shared.lock();
        if let Some(end) = s.closed {
            return Poll::Ready(Err(end_error(end)));
        }
        if s.finish || s.reset {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stream finished for writing",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let room = STREAM_BUFFER.saturating_sub(s.write_bytes);
        if room == 0 {
            s.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = room.min(data.len());
        s.write_buf.push_back(Bytes::copy_from_slice(&data[..n]));
        s.write_bytes += n;
        drop(s);
        self.pending.mark(self.id);
        Poll::Ready(Ok(n))
    }

    /// Ready once every byte written has been handed to the node (which
    /// then delivers it, or reports the stream failed).
    pub fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.lock();
        if s.write_buf.is_empty() {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = s.closed {
            return Poll::Ready(Err(end_error(end)));
        }
        s.write_waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Half-closes the stream: after the bytes written, the peer reads the
    /// end. Ready once the node has it; reading goes on.
    pub fn poll_finish(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.lock();
        if s.finish_sent || s.closed == Some(StreamEnd::Finished) {
            return Poll::Ready(Ok(()));
        }
        if let Some(end) = s.closed {
            return Poll::Ready(Err(end_error(end)));
        }
        s.write_waker = Some(cx.waker().clone());
        let first = !s.finish;
        s.finish = true;
        drop(s);
        if first {
            self.pending.mark(self.id);
        }
        Poll::Pending
    }

    /// Aborts the stream: unsent and unread bytes are dropped, the peer
    /// sees a reset.
    pub fn reset(&self) {
        self.shared.lock().reset = true;
        self.pending.mark(self.id);
    }

    /// How the stream ended, once it has.
    pub fn ended(&self) -> Option<StreamEnd> {
        self.shared.lock().closed
    }

    /// [`poll_read`](Self::poll_read), blocking the thread.
    pub fn read_blocking(&self, buf: &mut [u8]) -> io::Result<usize> {
        block_on(|cx| self.poll_read(cx, buf))
    }

    /// [`poll_write`](Self::poll_write), blocking the thread.
    pub fn write_blocking(&self, data: &[u8]) -> io::Result<usize> {
        block_on(|cx| self.poll_write(cx, data))
    }

    /// [`poll_flush`](Self::poll_flush), blocking the thread.
    pub fn flush_blocking(&self) -> io::Result<()> {
        block_on(|cx| self.poll_flush(cx))
    }

    /// [`poll_finish`](Self::poll_finish), blocking the thread.
    pub fn finish_blocking(&self) -> io::Result<()> {
        block_on(|cx| self.poll_finish(cx))
    }
}

impl Drop for StreamIo {
    fn drop(&mut self) {
        {
            let mut s = self.shared.lock();
            s.detached = true;
            s.finish = true;
            s.read_buf.clear();
            s.read_bytes = 0;
        }
        self.pending.mark(self.id);
    }
}

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread until it is ready, parking in between.
fn block_on<T>(mut f: impl FnMut(&mut Context<'_>) -> Poll<T>) -> T {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(v) = f(&mut cx) {
            return v;
        }
        // The timeout only bounds a lost wake-up; wakes come by unpark.
        std::thread::park_timeout(Duration::from_millis(100));
    }
}

/// The driver's side: every open stream's shared buffers.
pub struct StreamBridge {
    streams: HashMap<StreamId, (NodeId, Arc<Shared>)>,
    pending: Arc<Pending>,
}

impl std::fmt::Debug for StreamBridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamBridge").field("streams", &self.streams.len()).finish()
    }
}

impl StreamBridge {
    /// A bridge whose application side calls `wake` when the driver should
    /// call [`service_pending`](Self::service_pending).
    pub fn new(wake: WakeDriver) -> StreamBridge {
        StreamBridge {
            streams: HashMap::new(),
            pending: Arc::new(Pending { ids: Mutex::new(BTreeSet::new()), wake }),
        }
    }

    /// Streams the bridge holds.
    pub fn len(&self) -> usize {
        self.streams.len()
    }

    /// Whether the bridge holds no stream.
    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }

    fn attach(&mut self, id: StreamId, peer: NodeId) -> StreamIo {
        let shared = Arc::new(Shared { state: Mutex::new(State::default()) });
        self.streams.insert(id, (peer, shared.clone()));
        StreamIo { id, peer, shared, pending: self.pending.clone() }
    }

    /// Opens a stream to `peer`.
    pub fn open(
        &mut self,
        node: &mut Node,
        now: Instant,
        peer: NodeId,
    ) -> Result<StreamIo, StreamError> {
        let id = node.open_stream(now, peer)?;
        Ok(self.attach(id, peer))
    }

    /// Takes one of the node's events: returns the application's end of a
    /// stream a peer opened; moves bytes for readable and writable streams;
    /// ends streams the node closed. Other events are ignored.
    pub fn on_event(&mut self, node: &mut Node, now: Instant, event: &Event) -> Option<StreamIo> {
        match event {
            Event::StreamOpened { stream, peer } => {
                let io = self.attach(*stream, *peer);
                self.service(node, now, *stream);
                Some(io)
            }
            Event::StreamReadable { stream } | Event::StreamWritable { stream } => {
                self.service(node, now, *stream);
                None
            }
            Event::StreamClosed { stream, reason } => {
                if let Some((_, shared)) = self.streams.remove(stream) {
                    let mut s = shared.lock();
                    s.closed = Some(*reason);
                    wake_all(&mut s);
                }
                None
            }
            _ => None,
        }
    }

    /// Serves every stream the application touched since the last call.
    pub fn service_pending(&mut self, node: &mut Node, now: Instant) {
        let ids = std::mem::take(&mut *self.pending.ids.lock().unwrap_or_else(|e| e.into_inner()));
        for id in ids {
            self.service(node, now, id);
        }
    }

    /// Moves what can move between the node and the application's buffers.
    fn service(&mut self, node: &mut Node, now: Instant, id: StreamId) {
        let Some((_, shared)) = self.streams.get(&id) else { return };
        let shared = shared.clone();
        let mut guard = shared.lock();
        let s = &mut *guard;
        if s.reset {
            drop(guard);
            let _ = node.stream_reset(now, id);
            self.forget(id, StreamEnd::Reset);
            return;
        }
        let mut wrote = false;
        while let Some(front) = s.write_buf.front_mut() {
            match node.stream_write(now, id, front.clone()) {
                Ok(k) => {
                    let _ = front.split_to(k);
                    s.write_bytes -= k;
                    wrote |= k > 0;
                    if front.is_empty() {
                        s.write_buf.pop_front();
                    } else {
                        break;
                    }
                }
                Err(StreamError::WouldBlock) => break,
                Err(_) => {
                    // The node refused the bytes for good (the stream is
                    // finished or gone there): end it on both sides.
                    drop(guard);
                    let _ = node.stream_reset(now, id);
                    self.forget(id, StreamEnd::Reset);
                    return;
                }
            }
        }
        if s.finish && !s.finish_sent && s.write_buf.is_empty() {
            s.finish_sent = node.stream_finish(now, id).is_ok();
            wrote = true;
        }
        let mut read = false;
        loop {
            if !s.detached && s.read_bytes >= STREAM_BUFFER {
                s.read_stalled = true;
                break;
            }
            match node.stream_read(now, id, 64 * 1024) {
                Ok(Some(b)) => {
                    read = true;
                    if !s.detached {
                        s.read_bytes += b.len();
                        s.read_buf.push_back(b);
                    }
                }
                Ok(None) => {
                    read = true;
                    s.eof = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if wrote {
            if let Some(w) = s.write_waker.take() {
                w.wake();
            }
        }
        if read {
            if let Some(w) = s.read_waker.take() {
                w.wake();
            }
        }
    }

    /// Drops a stream the node no longer knows, telling the application.
    fn forget(&mut self, id: StreamId, end: StreamEnd) {
        if let Some((_, shared)) = self.streams.remove(&id) {
            let mut s = shared.lock();
            s.closed.get_or_insert(end);
            wake_all(&mut s);
        }
    }

    /// Shutdown: every stream ends with `end` on the application's side.
    pub fn close_all(&mut self, end: StreamEnd) {
        for (_, (_, shared)) in self.streams.drain() {
            let mut s = shared.lock();
            s.closed.get_or_insert(end);
            wake_all(&mut s);
        }
    }
}

impl Drop for StreamBridge {
    /// A driver that stops without `close_all` (aborted, panicked) still
    /// wakes every application end, which then sees the stream failed.
    fn drop(&mut self) {
        self.close_all(StreamEnd::Failed(netcluster_core::node::FailReason::Shutdown));
    }
}

fn wake_all(s: &mut State) {
    if let Some(w) = s.read_waker.take() {
        w.wake();
    }
    if let Some(w) = s.write_waker.take() {
        w.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use netcluster_sim::Direct;

    use super::*;

    /// Two nodes with a bridge each, moved along by hand.
    struct Pair {
        net: Direct,
        bridges: [StreamBridge; 2],
        wakes: Arc<AtomicUsize>,
        accepted: Vec<StreamIo>,
    }

    impl Pair {
        fn new() -> Pair {
            let mut net = Direct::new(2);
            net.connect(0, 1);
            net.advance(Duration::from_secs(2));
            let wakes = Arc::new(AtomicUsize::new(0));
            let bridge = || {
                let w = wakes.clone();
                StreamBridge::new(Arc::new(move || {
                    w.fetch_add(1, Ordering::Relaxed);
                }))
            };
            Pair { bridges: [bridge(), bridge()], net, wakes, accepted: Vec::new() }
        }

        /// One round of the driver loop on both nodes.
        fn turn(&mut self) {
            let now = self.net.now();
            for i in 0..2 {
                self.bridges[i].service_pending(&mut self.net.nodes[i], now);
            }
            self.net.pump();
            for i in 0..2 {
                for e in std::mem::take(&mut self.net.events[i]) {
                    if let Some(io) = self.bridges[i].on_event(&mut self.net.nodes[i], now, &e) {
                        self.accepted.push(io);
                    }
                }
            }
            self.net.advance(Duration::from_millis(1));
        }
    }

    #[test]
    fn bytes_cross_the_bridge_both_ways_with_half_close_and_drop() {
        let mut p = Pair::new();
        let peer = p.net.nodes[1].id();
        let now = p.net.now();
        let a = p.bridges[0].open(&mut p.net.nodes[0], now, peer).unwrap();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut cx = Context::from_waker(Waker::noop());
        let (mut written, mut got, mut finished) = (0, Vec::new(), false);
        let mut buf = vec![0u8; 50_000];
        let mut eof = false;
        for _ in 0..100_000 {
            while written < data.len() {
                match a.poll_write(&mut cx, &data[written..]) {
                    Poll::Ready(Ok(n)) => written += n,
                    Poll::Ready(Err(e)) => panic!("{e}"),
                    Poll::Pending => break,
                }
            }
            if written == data.len() && !finished {
                finished = a.poll_finish(&mut cx).is_ready();
            }
            p.turn();
            if let Some(b) = p.accepted.first() {
                loop {
                    match b.poll_read(&mut cx, &mut buf) {
                        Poll::Ready(Ok(0)) => {
                            eof = true;
                            break;
                        }
                        Poll::Ready(Ok(n)) => got.extend_from_slice(&buf[..n]),
                        Poll::Ready(Err(e)) => panic!("{e}"),
                        Poll::Pending => break,
                    }
                }
            }
            if eof {
                break;
            }
        }
        assert!(eof, "the reader saw the end ({} of {} bytes)", got.len(), data.len());
        assert!(got == data, "exact bytes");
        assert!(p.wakes.load(Ordering::Relaxed) > 0, "the application side woke the driver");
        // The responder answers, then drops its end: that finishes it.
        let b = p.accepted.pop().unwrap();
        assert!(b.poll_write(&mut cx, b"bye").is_ready());
        drop(b);
        let mut reply = Vec::new();
        for _ in 0..1000 {
            p.turn();
            match a.poll_read(&mut cx, &mut buf) {
                Poll::Ready(Ok(0)) => break,
                Poll::Ready(Ok(n)) => reply.extend_from_slice(&buf[..n]),
                Poll::Ready(Err(e)) => panic!("{e}"),
                Poll::Pending => {}
            }
        }
        assert_eq!(reply, b"bye");
        for _ in 0..100 {
            p.turn();
        }
        assert_eq!(a.ended(), Some(StreamEnd::Finished));
        assert!(p.bridges[0].is_empty() && p.bridges[1].is_empty());
        assert_eq!(p.net.nodes[0].stream_count() + p.net.nodes[1].stream_count(), 0);
    }

    #[test]
    fn a_reset_reaches_the_other_side_as_an_error() {
        let mut p = Pair::new();
        let peer = p.net.nodes[1].id();
        let now = p.net.now();
        let a = p.bridges[0].open(&mut p.net.nodes[0], now, peer).unwrap();
        for _ in 0..10 {
            p.turn();
        }
        let b = p.accepted.pop().expect("accepted");
        a.reset();
        for _ in 0..10 {
            p.turn();
        }
        let mut cx = Context::from_waker(Waker::noop());
        let mut buf = [0u8; 8];
        match b.poll_read(&mut cx, &mut buf) {
            Poll::Ready(Err(e)) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset),
            other => panic!("{other:?}"),
        }
        assert!(matches!(a.poll_write(&mut cx, b"x"), Poll::Ready(Err(_))));
    }
}
