//! Streams between peers on the application's side: [`PeerStream`] (a
//! blocking `std::io` stream over the shared bridge), the bounded queue of
//! streams peers opened, and how a stream's reader or writer wakes the loop.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use netcluster_core::node::{StreamEnd, StreamId};
use netcluster_core::NodeId;
use netcluster_net::streams::StreamIo;

use netcluster_net::events::lock;

/// How the application's side of the streams reaches the loop that owns
/// the node: a flag the loop checks every turn, and the caller's
/// [`mio::Waker`] once one is known.
#[derive(Default)]
pub(crate) struct StreamWake {
    waker: Mutex<Option<Arc<mio::Waker>>>,
    due: AtomicBool,
}

impl StreamWake {
    pub(crate) fn set_waker(&self, waker: Arc<mio::Waker>) {
        *lock(&self.waker) = Some(waker);
    }

    /// Asks the loop for a turn.
    pub(crate) fn wake(&self) {
        self.due.store(true, Ordering::Release);
        if let Some(w) = lock(&self.waker).as_ref() {
            // A poll that is gone has nothing left to serve.
            let _ = w.wake();
        }
    }

    /// Whether a turn was asked for since the last [`clear`](Self::clear).
    pub(crate) fn is_due(&self) -> bool {
        self.due.load(Ordering::Acquire)
    }

    pub(crate) fn clear(&self) {
        self.due.store(false, Ordering::Release);
    }
}

/// A byte stream to one peer, through the mesh: opened by
/// [`Handle::open_stream`](crate::Handle::open_stream) (or
/// [`MioNode::open_stream`](crate::MioNode::open_stream)), or opened by a
/// peer and taken with [`Handle::accept_stream`](crate::Handle::accept_stream).
///
/// It is a blocking [`Read`] and [`Write`], also through `&PeerStream`, so
/// one thread may read while another writes. Reads and writes wait for the
/// node's loop to move the bytes: never call them on the thread that runs a
/// [`MioNode`](crate::MioNode)'s loop.
///
/// - **Half-close**: [`finish`](Self::finish) ends the writing direction
///   after the bytes written; the peer reads the end (`Ok(0)`), and both
///   sides may still read what the other sends.
/// - **Drop** finishes the stream the same way (after the bytes already
///   written), and whatever the peer still sends is discarded.
/// - **Reset**: [`reset`](Self::reset) aborts both directions at once;
///   the peer's reads and writes then fail with
///   [`io::ErrorKind::ConnectionReset`].
/// - **Backpressure**: each direction is buffered up to
///   [`STREAM_BUFFER`](netcluster_net::streams::STREAM_BUFFER) bytes on this
///   side plus the node's own stream buffer and window; past that, `write`
///   blocks until the peer reads.
/// - A stream whose bytes cannot be delivered (the peer went away) fails:
///   reads and writes return [`io::ErrorKind::TimedOut`] or
///   [`io::ErrorKind::ConnectionAborted`] (also when the node stops).
/// - Reads and writes wait without limit unless given a timeout
///   ([`set_read_timeout`](Self::set_read_timeout),
///   [`set_write_timeout`](Self::set_write_timeout)).
pub struct PeerStream {
    io: StreamIo,
    timeouts: Mutex<Timeouts>,
}

#[derive(Clone, Copy, Default)]
struct Timeouts {
    read: Option<Duration>,
    write: Option<Duration>,
}

impl std::fmt::Debug for PeerStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerStream")
            .field("id", &self.io.id())
            .field("peer", &self.io.peer())
            .finish()
    }
}

impl PeerStream {
    pub(crate) fn new(io: StreamIo) -> PeerStream {
        PeerStream { io, timeouts: Mutex::new(Timeouts::default()) }
    }

    /// The peer at the other end.
    pub fn peer(&self) -> NodeId {
        self.io.peer()
    }

    /// The stream's id in the node (as in `Event::StreamOpened` and
    /// `Event::StreamClosed`).
    pub fn id(&self) -> StreamId {
        self.io.id()
    }

    /// Half-closes the stream: the peer reads the end after every byte
    /// written so far. Blocks until the node has taken the last byte and the
    /// end; reading goes on. An error if the stream was reset or failed
    /// first.
    /// Waits at most the [write timeout](Self::set_write_timeout).
    pub fn finish(&self) -> io::Result<()> {
        block(self.timeouts().write, |cx| self.io.poll_finish(cx))
    }

    /// Bounds how long a read waits (`None`, the default: without limit);
    /// a read that waited that long fails with [`io::ErrorKind::TimedOut`]
    /// and may be retried. A zero duration is refused, as for
    /// [`std::net::TcpStream`].
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        lock(&self.timeouts).read = timeout;
        Ok(())
    }

    /// Bounds how long a write, flush or [`finish`](Self::finish) waits
    /// (`None`, the default: without limit); one that waited that long
    /// fails with [`io::ErrorKind::TimedOut`] (a write having taken
    /// nothing) and may be retried. A zero duration is refused.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        check_timeout(timeout)?;
        lock(&self.timeouts).write = timeout;
        Ok(())
    }

    /// The read timeout.
    pub fn read_timeout(&self) -> Option<Duration> {
        self.timeouts().read
    }

    /// The write timeout.
    pub fn write_timeout(&self) -> Option<Duration> {
        self.timeouts().write
    }

    fn timeouts(&self) -> Timeouts {
        *lock(&self.timeouts)
    }

    /// Aborts the stream: bytes not yet sent or read are dropped and the
    /// peer sees a reset.
    pub fn reset(&self) {
        self.io.reset();
    }

    /// How the stream ended, once it has: `Finished` when both sides
    /// finished and every byte was read; `Reset`; or `Failed`.
    pub fn ended(&self) -> Option<StreamEnd> {
        self.io.ended()
    }

    fn read_into(&self, buf: &mut [u8]) -> io::Result<usize> {
        block(self.timeouts().read, |cx| self.io.poll_read(cx, buf))
    }
}

impl Read for &PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_into(buf)
    }
}

impl Read for PeerStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read_into(buf)
    }
}

impl Write for &PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        block(self.timeouts().write, |cx| self.io.poll_write(cx, buf))
    }

    /// Waits until every byte written has been handed to the node (not
    /// until the peer has it).
    fn flush(&mut self) -> io::Result<()> {
        block(self.timeouts().write, |cx| self.io.poll_flush(cx))
    }
}

impl Write for PeerStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

fn check_timeout(timeout: Option<Duration>) -> io::Result<()> {
    if timeout == Some(Duration::ZERO) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "a zero timeout"));
    }
    Ok(())
}

struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread until it is ready or `timeout` has passed,
/// parking in between.
fn block<T>(
    timeout: Option<Duration>,
    mut f: impl FnMut(&mut Context<'_>) -> Poll<io::Result<T>>,
) -> io::Result<T> {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let end = timeout.and_then(|t| Instant::now().checked_add(t));
    // Wake-ups come by unpark; the cap only bounds one that went astray.
    let most = Duration::from_millis(100);
    loop {
        if let Poll::Ready(v) = f(&mut cx) {
            return v;
        }
        let nap = match end {
            Some(end) => {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(io::ErrorKind::TimedOut, "stream timed out"));
                }
                left.min(most)
            }
            None => most,
        };
        std::thread::park_timeout(nap);
    }
}

/// Streams peers opened, waiting to be accepted.
pub(crate) struct AcceptQueue {
    state: Mutex<AcceptState>,
    ready: Condvar,
    capacity: usize,
}

struct AcceptState {
    queue: VecDeque<PeerStream>,
    closed: bool,
}

/// The node has stopped.
pub(crate) struct Closed;

impl AcceptQueue {
    pub(crate) fn new(capacity: usize) -> AcceptQueue {
        AcceptQueue {
            state: Mutex::new(AcceptState { queue: VecDeque::new(), closed: false }),
            ready: Condvar::new(),
            capacity,
        }
    }

    /// Queues `s`, or gives it back if the queue is full or closed.
    pub(crate) fn push(&self, s: PeerStream) -> Result<(), PeerStream> {
        let mut st = lock(&self.state);
        if st.closed || st.queue.len() >= self.capacity {
            return Err(s);
        }
        st.queue.push_back(s);
        drop(st);
        self.ready.notify_one();
        Ok(())
    }

    pub(crate) fn try_pop(&self) -> Option<PeerStream> {
        lock(&self.state).queue.pop_front()
    }

    /// The next stream, waiting up to `timeout` (`None`: without limit).
    pub(crate) fn pop(&self, timeout: Option<Duration>) -> Result<Option<PeerStream>, Closed> {
        let end = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = lock(&self.state);
        loop {
            if st.closed {
                return Err(Closed);
            }
            if let Some(s) = st.queue.pop_front() {
                return Ok(Some(s));
            }
            st = match (timeout, end) {
                // No timeout, or one too large for the clock.
                (None, _) | (Some(_), None) => {
                    self.ready.wait(st).unwrap_or_else(|e| e.into_inner())
                }
                (Some(_), Some(end)) => {
                    let left = end.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    self.ready.wait_timeout(st, left).unwrap_or_else(|e| e.into_inner()).0
                }
            };
        }
    }

    /// The node has stopped: waiters return, queued streams are dropped.
    pub(crate) fn close(&self) {
        let dropped = {
            let mut st = lock(&self.state);
            st.closed = true;
            std::mem::take(&mut st.queue)
        };
        self.ready.notify_all();
        drop(dropped);
    }
}
