//! [`Builder::start`]: a [`MioNode`] on a thread of its own, driven through
//! a cloneable, blocking [`Handle`].

use std::net::SocketAddr;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::{Poll, Token, Waker};
use netcluster_core::node::Event;
use netcluster_core::{Node, NodeId};

use netcluster_net::engine::{Command, Reply};
use netcluster_net::events::{lock, EventHub, Events};

use crate::streams::{AcceptQueue, PeerStream};
use crate::{Builder, Error, MioNode};

/// The waker's token; the node takes the rest.
const WAKER: Token = Token(0);
/// The node's tokens: as many links as anyone will open.
const NODE_TOKENS: Range<usize> = 1..(1 << 24);
/// Commands carried out per wake-up, so a flood of commands does not starve
/// the sockets.
const COMMANDS_PER_WAKE: usize = 64;
/// Commands queued before callers block.
const COMMAND_QUEUE: usize = 64;

/// Set once the node's thread has finished.
#[derive(Default)]
struct Done {
    done: Mutex<bool>,
    cv: Condvar,
}

impl Done {
    fn set(&self) {
        *lock(&self.done) = true;
        self.cv.notify_all();
    }

    fn is_set(&self) -> bool {
        *lock(&self.done)
    }

    fn wait(&self) {
        let mut d = lock(&self.done);
        while !*d {
            d = self.cv.wait(d).unwrap_or_else(|e| e.into_inner());
        }
    }
}

struct Shared {
    /// `None` only while dropping, so the thread sees every handle gone.
    cmd: Option<SyncSender<Command>>,
    waker: Arc<Waker>,
    hub: Arc<EventHub>,
    done: Arc<Done>,
    /// Set by [`Handle::abort`]: the thread stops at its next turn.
    abort: Arc<AtomicBool>,
    accepted: Arc<AcceptQueue>,
    id: NodeId,
    link_addr: SocketAddr,
}

impl Drop for Shared {
    fn drop(&mut self) {
        drop(self.cmd.take());
        // The thread notices the closed channel once woken.
        let _ = self.waker.wake();
    }
}

pub(crate) fn start(b: Builder) -> Result<Handle, Error> {
    let poll = Poll::new().map_err(Error::Poll)?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER).map_err(Error::Poll)?);
    let name = b.settings.config.name.clone();
    let mut node = MioNode::new(b, poll.registry(), NODE_TOKENS)?;
    let hub = node.detach_events();
    node.set_stream_waker(Arc::clone(&waker));
    let accepted = node.accept_queue();
    let (id, link_addr) = (node.id(), node.link_addr());
    let (cmd_tx, cmd_rx) = sync_channel(COMMAND_QUEUE);
    let done = Arc::new(Done::default());
    let abort = Arc::new(AtomicBool::new(false));
    let aborted = Arc::clone(&abort);
    let finish = Finish { hub: Arc::clone(&hub), done: Arc::clone(&done) };
    // The thread keeps the waker open: closing it would withdraw a wake-up
    // not yet collected (the last handle's, on drop).
    let thread_waker = Arc::clone(&waker);
    std::thread::Builder::new()
        .name(format!("netcluster {name}"))
        .spawn(move || {
            let _finish = finish;
            let _waker = thread_waker;
            run(poll, node, cmd_rx, &aborted);
        })
        .map_err(Error::Thread)?;
    Ok(Handle {
        shared: Arc::new(Shared {
            cmd: Some(cmd_tx),
            waker,
            hub,
            done,
            abort,
            accepted,
            id,
            link_addr,
        }),
    })
}

/// Ends the subscribers and releases waiters when the thread ends, even by
/// a panic.
struct Finish {
    hub: Arc<EventHub>,
    done: Arc<Done>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.hub.close();
        self.done.set();
        tracing::info!("node stopped");
    }
}

fn run(mut poll: Poll, mut node: MioNode, rx: Receiver<Command>, abort: &AtomicBool) {
    let mut events = mio::Events::with_capacity(256);
    let mut waiting: Vec<Reply<()>> = Vec::new();
    let mut backlog = false;
    let mut handles_gone = false;
    loop {
        if abort.load(Ordering::Acquire) {
            tracing::info!("node aborted");
            break;
        }
        node.handle_deadline();
        if node.is_stopped() {
            break;
        }
        let timeout = if backlog { Some(Duration::ZERO) } else { node.poll_timeout() };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            tracing::error!(error = %e, "poll failed; the node stops");
            break;
        }
        let mut woken = backlog;
        for event in events.iter() {
            if event.token() == WAKER {
                woken = true;
            } else {
                node.handle_event(event);
            }
        }
        if !woken || handles_gone {
            continue;
        }
        backlog = true;
        for _ in 0..COMMANDS_PER_WAKE {
            match rx.try_recv() {
                Ok(Command::Shutdown(reply)) => {
                    node.shutdown();
                    waiting.push(reply);
                }
                Ok(c) => node.command(c),
                Err(TryRecvError::Empty) => {
                    backlog = false;
                    break;
                }
                Err(TryRecvError::Disconnected) => {
                    tracing::debug!("every handle dropped");
                    node.shutdown();
                    handles_gone = true;
                    backlog = false;
                    break;
                }
            }
        }
    }
    // Sockets close before anyone is told the node has stopped.
    drop(node);
    drop(waiting);
}

/// A handle to a node running on its own thread. Cheap to clone; every
/// clone drives the same node, from any thread. Every method blocks until
/// the node's thread has carried it out. When the last handle is dropped,
/// the node shuts down.
#[derive(Clone)]
pub struct Handle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("id", &self.shared.id)
            .field("link_addr", &self.shared.link_addr)
            .finish()
    }
}

impl Handle {
    /// Whether the node's thread still runs.
    pub fn is_running(&self) -> bool {
        !self.shared.done.is_set()
    }

    /// The node's events from now on, as a blocking iterator (earlier ones
    /// are not replayed: read [`peers`](Self::peers) for the current
    /// state). Each call makes an independent subscriber.
    pub fn events(&self) -> Events {
        Events::new(self.shared.hub.subscribe())
    }

    /// Calls `f` with every event from now on, on a thread of its own (so
    /// `f` may call this handle), until the node stops. The thread keeps
    /// no handle: a handle moved into `f` keeps the node running until the
    /// node is shut down explicitly.
    pub fn on_event(
        &self,
        mut f: impl FnMut(Event) + Send + 'static,
    ) -> Result<JoinHandle<()>, Error> {
        let events = self.events();
        std::thread::Builder::new()
            .name("netcluster events".into())
            .spawn(move || events.for_each(&mut f))
            .map_err(Error::Thread)
    }

    fn call<T, E>(&self, make: impl FnOnce(Reply<Result<T, E>>) -> Command) -> Result<T, Error>
    where
        T: Send + 'static,
        E: Into<Error> + Send + 'static,
    {
        let cmd = self.shared.cmd.as_ref().ok_or(Error::Stopped)?;
        let (tx, rx) = sync_channel(1);
        let reply: Reply<Result<T, E>> = Box::new(move |v| {
            let _ = tx.send(v);
        });
        cmd.send(make(reply)).map_err(|_| Error::Stopped)?;
        self.shared.waker.wake().map_err(Error::Poll)?;
        rx.recv().map_err(|_| Error::Stopped)?.map_err(Into::into)
    }

    netcluster_net::handle_methods!(blocking);

    /// Opens a byte stream to the node `peer` (one this node can reach);
    /// see [`PeerStream`] for its semantics. Returns once the node has sent
    /// the opening segment: the peer takes the stream with
    /// [`accept_stream`](Self::accept_stream).
    ///
    /// ```no_run
    /// # fn demo(handle: netcluster_mio::Handle, peer: netcluster_mio::NodeId)
    /// # -> Result<(), Box<dyn std::error::Error>> {
    /// use std::io::{Read, Write};
    ///
    /// let mut stream = handle.open_stream(peer)?;
    /// stream.write_all(b"request")?;
    /// stream.finish()?;
    /// let mut answer = Vec::new();
    /// stream.read_to_end(&mut answer)?;
    /// # Ok(()) }
    /// ```
    pub fn open_stream(&self, peer: NodeId) -> Result<PeerStream, Error> {
        self.call(|tx| Command::OpenStream(peer, tx)).map(PeerStream::new)
    }

    /// The next stream a peer opened, waiting as long as it takes;
    /// `Err(Error::Stopped)` once the node has stopped. Streams wait in a
    /// queue of [`Builder::accept_queue`] (64 by default); one that finds
    /// it full is reset. Several threads may accept at once: each stream
    /// goes to one of them.
    pub fn accept_stream(&self) -> Result<PeerStream, Error> {
        loop {
            match self.shared.accepted.pop(None) {
                Ok(Some(s)) => return Ok(s),
                Ok(None) => continue,
                Err(_) => return Err(Error::Stopped),
            }
        }
    }

    /// [`accept_stream`](Self::accept_stream) waiting at most `timeout`:
    /// `Ok(None)` if no stream came.
    pub fn accept_stream_timeout(&self, timeout: Duration) -> Result<Option<PeerStream>, Error> {
        self.shared.accepted.pop(Some(timeout)).map_err(|_| Error::Stopped)
    }

    /// Runs `f` on the node's thread with the node as it is between two
    /// inputs, and returns its result: a consistent view of anything the
    /// node exposes (peers, routes, counters, groups). `f` blocks the node
    /// while it runs, so keep it short.
    ///
    /// ```no_run
    /// # fn demo(handle: netcluster_mio::Handle) -> Result<(), netcluster_mio::Error> {
    /// let sent = handle.query(|node| node.stats().datagrams_sent)?;
    /// # Ok(()) }
    /// ```
    pub fn query<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Node) -> R + Send + 'static,
    ) -> Result<R, Error> {
        let cmd = self.shared.cmd.as_ref().ok_or(Error::Stopped)?;
        let (tx, rx) = sync_channel(1);
        let run = Box::new(move |node: &Node| {
            let _ = tx.send(f(node));
        });
        cmd.send(Command::Query(run)).map_err(|_| Error::Stopped)?;
        self.shared.waker.wake().map_err(Error::Poll)?;
        rx.recv().map_err(|_| Error::Stopped)
    }

    /// Stops the node at once, as a crash would: no EXIT beacon, no
    /// GOODBYE, nothing flushed. Its sockets close as the thread drops
    /// them, and peers find out by themselves (a link that drops without a
    /// GOODBYE, keepalives that stop), reporting the node down as timed
    /// out. Returns once the thread has stopped. Meant for demonstrations
    /// and tests of failure detection; use [`shutdown`](Self::shutdown) to
    /// leave.
    pub fn abort(&self) {
        self.shared.abort.store(true, Ordering::Release);
        if self.shared.waker.wake().is_ok() {
            self.shared.done.wait();
        }
    }

    /// Leaves the mesh cleanly and stops the node: the EXIT beacon and a
    /// GOODBYE on every link are written (waiting up to the
    /// [shutdown linger](Builder::shutdown_linger)), then the thread ends.
    /// Returns once it has; calling it again, or on a stopped node, returns
    /// at once.
    pub fn shutdown(&self) {
        if let Some(cmd) = self.shared.cmd.as_ref() {
            let (tx, rx) = sync_channel(1);
            let reply: Reply<()> = Box::new(move |()| {
                let _ = tx.send(());
            });
            if cmd.send(Command::Shutdown(reply)).is_ok() && self.shared.waker.wake().is_ok() {
                let _ = rx.recv();
            }
        }
        self.shared.done.wait();
    }
}
