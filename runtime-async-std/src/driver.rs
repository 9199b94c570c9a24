//! The node's thread: one loop owning the node, its sockets and its timer,
//! with the link tasks on a local executor beside it.

use std::collections::HashMap;
use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_executor::{LocalExecutor, Task};
use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::Stream;
use netcluster_core::node::{Event, FailReason, LinkCloseReason, LinkId, StreamEnd, Transmit};
use netcluster_core::{Instant, Node};
use netcluster_net::events::EventHub;
use netcluster_net::streams::{StreamBridge, StreamIo};
use netcluster_net::{DriverLimits as Options, Prepared};

use crate::io::{poll_accept, poll_udp, Io, UdpRead};
use crate::link::{connect, read_loop, write_loop, LinkInput, WriteOp};
use crate::streams::{PeerStream, StreamWake};
use crate::{Builder, Command, Error, Handle, Shared};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Commands queued before `Handle` calls wait for the node.
const COMMAND_QUEUE: usize = 64;
/// Link inputs (read chunks, connects, closes) queued for the loop.
const LINK_QUEUE: usize = 256;

pub(crate) fn start(b: Builder) -> Result<Handle, Error> {
    let Builder { settings, datagram_buffer } = b;
    let Prepared { config, id, rng_seed: seed, sockets, link_addr, limits: opts } =
        settings.prepare()?;
    // Registered here so that a refusal is reported by `start`, not logged
    // by the thread.
    let io = Io::new(sockets)?;
    if config.link_mode == netcluster_core::LinkMode::Datagram && datagram_buffer > 0 {
        io.grow_unicast_buffers(datagram_buffer);
    }
    let name = config.name.clone();
    let epoch = std::time::Instant::now();
    let node = Node::new(config, id, seed, Instant::ZERO);

    let (cmd_tx, cmd_rx) = async_channel::bounded(COMMAND_QUEUE);
    let (abort_tx, abort_rx) = async_channel::bounded(1);
    let (nudge_tx, nudge_rx) = async_channel::bounded(1);
    let (accept_tx, accept_rx) = async_channel::bounded(opts.accept_queue);
    // A subscriber that was full and has read asks the loop for a turn,
    // as a stream does.
    let hub_nudge = nudge_tx.clone();
    let hub = Arc::new(EventHub::new(
        opts.event_capacity,
        Arc::new(move || {
            let _ = hub_nudge.try_send(());
        }),
    ));
    let running = Arc::new(AtomicBool::new(true));
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let guard = Done { running: running.clone(), hub: Arc::clone(&hub), _done: done_tx };
    let loop_hub = Arc::clone(&hub);
    let span = tracing::info_span!("node", name = %name);

    std::thread::Builder::new()
        // A NUL in a thread name would make the spawn panic.
        .name(format!("netcluster-{}", name.replace('\0', "")))
        .spawn(move || {
            let _guard = guard;
            let _enter = span.enter();
            let ex = Rc::new(LocalExecutor::new());
            let (link_tx, link_rx) = async_channel::bounded(LINK_QUEUE);
            let stream_wake = Arc::new(StreamWake::new(nudge_tx));
            let bridge_wake = stream_wake.clone();
            let state = State {
                bridge: StreamBridge::new(Arc::new(move || bridge_wake.wake())),
                stream_wake,
                accepted: accept_tx,
                node,
                epoch,
                ex: ex.clone(),
                links: HashMap::new(),
                closing: Vec::new(),
                overflowed: Vec::new(),
                link_tx,
                hub: loop_hub,
                opts,
            };
            let rx = Receivers { cmd: cmd_rx, abort: abort_rx, nudge: nudge_rx, link: link_rx };
            async_io::block_on(ex.run(run(state, io, rx)));
            tracing::info!("node stopped");
        })
        .map_err(Error::Thread)?;

    Ok(Handle {
        shared: Arc::new(Shared {
            cmd: cmd_tx,
            hub,
            running,
            abort: abort_tx,
            accepted: accept_rx,
            done: done_rx,
            id,
            link_addr,
        }),
    })
}

/// The node's clock: time since the loop started.
fn now_since(epoch: std::time::Instant) -> Instant {
    let us = epoch.elapsed().as_micros();
    Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

/// Marks the node stopped when the thread ends, however it ends.
struct Done {
    running: Arc<AtomicBool>,
    /// Its subscribers end once they have read what is queued.
    hub: Arc<EventHub>,
    _done: async_channel::Sender<()>,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.hub.close();
        self.running.store(false, Ordering::Release);
    }
}

enum LinkEntry {
    /// Held only so that dropping the entry cancels the attempt.
    Connecting {
        _attempt: Task<()>,
    },
    Up {
        tx: async_channel::Sender<WriteOp>,
        reader: Task<()>,
        writer: Task<()>,
    },
}

struct State {
    node: Node,
    /// The node's streams, shared with their `PeerStream`s.
    bridge: StreamBridge,
    stream_wake: Arc<StreamWake>,
    /// Streams peers opened, for `Handle::accept_stream`.
    accepted: async_channel::Sender<PeerStream>,
    epoch: std::time::Instant,
    ex: Rc<LocalExecutor<'static>>,
    links: HashMap<LinkId, LinkEntry>,
    /// Writers flushing before their link closes.
    closing: Vec<Task<()>>,
    /// Links whose write queue overflowed during a drain.
    overflowed: Vec<LinkId>,
    link_tx: async_channel::Sender<LinkInput>,
    /// Subscribers of the node's events.
    hub: Arc<EventHub>,
    opts: Options,
}

/// Why the loop woke up.
enum Wake {
    /// Inputs were handled: re-arm and wait again.
    Worked,
    /// `Handle::shutdown`.
    Shutdown,
    /// Every handle was dropped.
    Orphaned,
    /// `Handle::abort`: stop without a word to anyone.
    Abort,
}

/// The channels into the loop.
struct Receivers {
    cmd: async_channel::Receiver<Command>,
    abort: async_channel::Receiver<()>,
    /// Streams' readers and writers asking for a turn.
    nudge: async_channel::Receiver<()>,
    link: async_channel::Receiver<LinkInput>,
}

/// The inputs the loop waits on besides the sockets.
struct Inputs<'a> {
    timer: Timer,
    /// The deadline the timer is set to, if armed.
    armed: Option<Instant>,
    cmd: Pin<&'a mut async_channel::Receiver<Command>>,
    abort: Pin<&'a mut async_channel::Receiver<()>>,
    nudge: Pin<&'a mut async_channel::Receiver<()>>,
    link: Pin<&'a mut async_channel::Receiver<LinkInput>>,
    buf: Vec<u8>,
}

async fn run(mut st: State, io: Io, rx: Receivers) {
    let cmd = pin!(rx.cmd);
    let abort = pin!(rx.abort);
    let nudge = pin!(rx.nudge);
    let link = pin!(rx.link);
    let mut inputs = Inputs {
        timer: Timer::never(),
        armed: None,
        cmd,
        abort,
        nudge,
        link,
        buf: vec![0u8; MAX_DATAGRAM],
    };
    st.drain(&io);
    loop {
        // The deadline may have passed while inputs kept the loop busy.
        st.check_deadline(&io);
        match st.node.poll_timeout() {
            Some(d) if inputs.armed != Some(d) => {
                inputs.timer.set_at(st.to_std(d));
                inputs.armed = Some(d);
            }
            Some(_) => {}
            None => {
                inputs.timer = Timer::never();
                inputs.armed = None;
            }
        }
        let wake = std::future::poll_fn(|cx| st.poll_inputs(cx, &io, &mut inputs)).await;
        match wake {
            // Link tasks share this thread: give them their turn, since a
            // steady flow of inputs would otherwise never let the loop pend.
            Wake::Worked => futures_lite::future::yield_now().await,
            Wake::Shutdown => {
                st.shutdown(&io).await;
                break;
            }
            Wake::Orphaned => {
                tracing::debug!("every handle dropped");
                st.shutdown(&io).await;
                break;
            }
            Wake::Abort => break,
        }
    }
    // Whatever is left: connect attempts, readers, writers (dropping a task
    // cancels it); streams still open fail on the application's side.
    st.links.clear();
    st.closing.clear();
    st.bridge.close_all(StreamEnd::Failed(FailReason::Shutdown));
}

impl State {
    fn now(&self) -> Instant {
        now_since(self.epoch)
    }

    fn to_std(&self, t: Instant) -> std::time::Instant {
        let far = Duration::from_secs(86_400 * 365);
        let d = Duration::from_micros(t.as_micros()).min(far);
        self.epoch + d
    }

    fn check_deadline(&mut self, io: &Io) {
        if let Some(d) = self.node.poll_timeout() {
            let now = self.now();
            if now >= d {
                self.node.handle_timeout(now);
                self.drain(io);
            }
        }
    }

    /// One pass over every input source, each handled up to the per-wake
    /// cap. `Pending` only when no source had anything, with every source's
    /// waker registered.
    fn poll_inputs(&mut self, cx: &mut Context<'_>, io: &Io, inp: &mut Inputs<'_>) -> Poll<Wake> {
        let cap = self.opts.max_reads_per_wake;
        let mut worked = false;

        // Closed (every handle gone) is not an abort: the command channel
        // reports that, for a clean shutdown.
        if let Poll::Ready(Some(())) = inp.abort.as_mut().poll_next(cx) {
            return Poll::Ready(Wake::Abort);
        }

        if Pin::new(&mut inp.timer).poll(cx).is_ready() {
            // Fired timers do not fire again until re-armed.
            inp.armed = None;
            self.check_deadline(io);
            worked = true;
        }

        for _ in 0..cap {
            match inp.cmd.as_mut().poll_next(cx) {
                Poll::Ready(Some(Command::Shutdown)) => return Poll::Ready(Wake::Shutdown),
                Poll::Ready(Some(c)) => {
                    self.command(io, c);
                    worked = true;
                }
                Poll::Ready(None) => return Poll::Ready(Wake::Orphaned),
                Poll::Pending => break,
            }
        }

        for (sock, source) in io.receivers() {
            for _ in 0..cap {
                match poll_udp(sock, cx, &mut inp.buf) {
                    Poll::Ready(UdpRead::Datagram(n, from)) => {
                        let data = Bytes::copy_from_slice(&inp.buf[..n]);
                        self.node.handle_datagram(self.now(), from, source, data);
                        self.drain(io);
                        worked = true;
                    }
                    Poll::Ready(UdpRead::Skipped) => worked = true,
                    Poll::Pending => break,
                }
            }
        }

        if let Some(l) = io.listener() {
            for _ in 0..cap {
                match poll_accept(l, cx) {
                    Poll::Ready(Ok((stream, remote))) => {
                        self.accepted(io, stream, remote);
                        worked = true;
                    }
                    Poll::Ready(Err(e)) => {
                        // Not counted as work: a persistent error (out of
                        // descriptors) is retried at the next wake-up
                        // instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        break;
                    }
                    Poll::Pending => break,
                }
            }
        }

        if let Poll::Ready(Some(())) = inp.nudge.as_mut().poll_next(cx) {
            self.serve_streams(io);
            worked = true;
        }

        for _ in 0..cap {
            match inp.link.as_mut().poll_next(cx) {
                Poll::Ready(Some(input)) => {
                    self.link_input(io, input);
                    worked = true;
                }
                // `State` holds a sender: the channel never closes here.
                Poll::Ready(None) | Poll::Pending => break,
            }
        }

        if worked {
            Poll::Ready(Wake::Worked)
        } else {
            Poll::Pending
        }
    }

    /// Carries out every output, then publishes the events; stream events
    /// go to the bridge first, which may cause more outputs.
    fn drain(&mut self, io: &Io) {
        loop {
            while let Some(t) = self.node.poll_transmit() {
                self.carry_out(io, t);
            }
            if !self.overflowed.is_empty() {
                let now = self.now();
                for link in std::mem::take(&mut self.overflowed) {
                    self.node.link_closed(now, link, LinkCloseReason::Error);
                }
                continue;
            }
            let epoch = self.epoch;
            let mut opened = Vec::new();
            let bridge = &mut self.bridge;
            let any = self.hub.pump(&mut self.node, |node, e| {
                tracing::debug!(event = ?e, "event");
                if let Some(stream) = bridge.on_event(node, now_since(epoch), e) {
                    opened.push(stream);
                }
                // Readiness of a stream is the bridge's business.
                !matches!(e, Event::StreamReadable { .. } | Event::StreamWritable { .. })
            });
            for stream in opened {
                self.incoming(stream);
            }
            if !any {
                break;
            }
        }
    }

    /// Moves what the application's side of the streams asked for.
    fn serve_streams(&mut self, io: &Io) {
        let read_from = self.stream_wake.take_read_from();
        let now = self.now();
        self.bridge.service_pending(&mut self.node, now);
        for stream in read_from {
            // As the node would say when bytes arrive: the bridge pulls what
            // the node holds into the room the reader made.
            self.bridge.on_event(&mut self.node, now, &Event::StreamReadable { stream });
        }
        self.drain(io);
    }

    /// A stream a peer opened: queued for `accept_stream`, or reset.
    fn incoming(&mut self, io: StreamIo) {
        let s = PeerStream::new(io, self.stream_wake.clone());
        if let Err(e) = self.accepted.try_send(s) {
            let s = e.into_inner();
            tracing::warn!(
                stream = ?s.id(),
                peer = %s.peer().as_uuid(),
                "accept queue full; stream reset"
            );
            s.reset();
        }
    }

    fn carry_out(&mut self, io: &Io, t: Transmit) {
        match t {
            Transmit::Datagram { to, data } => io.send(to, &data),
            Transmit::Connect { link, addr } => {
                let tx = self.link_tx.clone();
                let timeout = self.opts.connect_timeout;
                let task = self.ex.spawn(async move {
                    let input = match connect(addr, timeout).await {
                        Ok((stream, local)) => LinkInput::Connected(link, stream, local),
                        Err(e) => LinkInput::ConnectFailed(link, e),
                    };
                    let _ = tx.send(input).await;
                });
                self.links.insert(link, LinkEntry::Connecting { _attempt: task });
            }
            Transmit::Write { link, data } => match self.links.get(&link) {
                Some(LinkEntry::Up { tx, .. }) => match tx.try_send(WriteOp::Data(data)) {
                    Ok(()) => {}
                    Err(async_channel::TrySendError::Full(_)) => {
                        tracing::warn!(?link, "write queue full; closing the link");
                        self.links.remove(&link);
                        self.overflowed.push(link);
                    }
                    // The writer failed; its Closed report is on the way.
                    Err(async_channel::TrySendError::Closed(_)) => {}
                },
                Some(LinkEntry::Connecting { .. }) => {
                    tracing::debug!(?link, "write before connect; dropped")
                }
                None => {}
            },
            Transmit::Close { link } => self.close(link),
        }
    }

    /// Closes a link: queued writes are flushed by its writer, which then
    /// shuts the stream down.
    fn close(&mut self, link: LinkId) {
        self.closing.retain(|w| !w.is_finished());
        match self.links.remove(&link) {
            Some(LinkEntry::Up { tx, reader, writer }) => {
                drop(reader);
                if tx.try_send(WriteOp::Close).is_ok() {
                    self.closing.push(writer);
                }
                // Else the queue is full or the writer gone: dropping
                // `writer` cancels it.
            }
            Some(LinkEntry::Connecting { .. }) | None => {}
        }
    }

    fn spawn_link(&mut self, link: LinkId, stream: Async<TcpStream>) {
        let stream = Rc::new(stream);
        let (tx, rx) = async_channel::bounded(self.opts.write_queue);
        let reader = self.ex.spawn(read_loop(link, stream.clone(), self.link_tx.clone()));
        let writer = self.ex.spawn(write_loop(link, stream, rx, self.link_tx.clone()));
        self.links.insert(link, LinkEntry::Up { tx, reader, writer });
    }

    fn link_input(&mut self, io: &Io, input: LinkInput) {
        let now = self.now();
        match input {
            LinkInput::Connected(link, stream, local) => {
                if !matches!(self.links.get(&link), Some(LinkEntry::Connecting { .. })) {
                    return;
                }
                tracing::debug!(?link, %local, "connected");
                self.spawn_link(link, stream);
                self.node.link_connected(now, link, local);
            }
            LinkInput::ConnectFailed(link, e) => {
                if !matches!(self.links.get(&link), Some(LinkEntry::Connecting { .. })) {
                    return;
                }
                tracing::debug!(?link, error = %e, "connect failed");
                self.links.remove(&link);
                self.node.link_closed(now, link, LinkCloseReason::ConnectFailed);
            }
            LinkInput::Data(link, data) => {
                if !matches!(self.links.get(&link), Some(LinkEntry::Up { .. })) {
                    return;
                }
                self.node.handle_link_data(now, link, data);
            }
            LinkInput::Closed(link, reason) => {
                let Some(entry) = self.links.remove(&link) else { return };
                tracing::debug!(?link, ?reason, "link closed");
                if let LinkEntry::Up { reader, writer, tx } = entry {
                    drop(reader);
                    // Dropping `tx` lets the writer finish what is queued.
                    drop(tx);
                    self.closing.push(writer);
                }
                self.node.link_closed(now, link, reason);
            }
        }
        self.drain(io);
    }

    fn accepted(&mut self, io: &Io, stream: TcpStream, remote: SocketAddr) {
        if let Err(e) = netcluster_net::prepare_stream(&stream) {
            tracing::debug!(%remote, error = %e, "accepted stream not configured");
        }
        let local = match stream.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!(%remote, error = %e, "accepted stream lost");
                return;
            }
        };
        let stream = match Async::new(stream) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(%remote, error = %e, "cannot register an accepted stream");
                return;
            }
        };
        let link = self.node.link_accepted(self.now(), remote, local);
        tracing::debug!(?link, %remote, "accepted");
        self.spawn_link(link, stream);
        self.drain(io);
    }

    fn command(&mut self, io: &Io, c: Command) {
        let now = self.now();
        // A caller that stopped waiting has dropped its receiver: nothing
        // to tell it.
        match c {
            Command::Join(g, reply) => {
                let _ = reply.try_send(self.node.join(now, &g));
            }
            Command::Leave(g, reply) => {
                let _ = reply.try_send(self.node.leave(now, &g));
            }
            Command::SetState(s, reply) => {
                let _ = reply.try_send(self.node.set_state(now, s));
            }
            Command::SetHeader(k, v, reply) => {
                let _ = reply.try_send(self.node.set_header(now, &k, v.as_deref()));
            }
            Command::AddSeed(addr, reply) => {
                self.node.add_seed(now, addr);
                let _ = reply.try_send(Ok(()));
            }
            Command::Send(to, semantics, payload, reply) => {
                let _ = reply.try_send(self.hub.send(&mut self.node, now, to, semantics, payload));
            }
            Command::Shout(group, semantics, payload, reply) => {
                let _ = reply.try_send(self.node.shout(now, &group, semantics, payload));
            }
            Command::Ping(to, reply) => {
                let _ = reply.try_send(self.node.ping(now, to));
            }
            Command::SendMany(to, semantics, payloads, reply) => {
                let done = self.hub.send_many(&mut self.node, now, to, semantics, payloads);
                let _ = reply.try_send(Ok(done));
            }
            Command::OpenStream(to, reply) => {
                let r = self.bridge.open(&mut self.node, now, to);
                let r = r.map(|io| PeerStream::new(io, self.stream_wake.clone()));
                // A caller gone meanwhile drops the stream, which finishes it.
                let _ = reply.try_send(r);
            }
            Command::Query(f) => {
                // A read-only look: nothing to drain.
                f(&self.node);
                return;
            }
            // Handled by `poll_inputs` before it gets here.
            Command::Shutdown => {}
        }
        self.drain(io);
    }

    async fn shutdown(&mut self, io: &Io) {
        tracing::info!("shutting down");
        let now = self.now();
        self.node.shutdown(now);
        self.drain(io);
        self.bridge.close_all(StreamEnd::Failed(FailReason::Shutdown));
        // Links still open after the node's own closes (none expected).
        let open: Vec<LinkId> = self.links.keys().copied().collect();
        for link in open {
            self.close(link);
        }
        let writers = std::mem::take(&mut self.closing);
        let all = async {
            for w in writers {
                w.await;
            }
            true
        };
        let linger = async {
            Timer::after(self.opts.shutdown_linger).await;
            false
        };
        if !futures_lite::future::or(all, linger).await {
            tracing::warn!("some links were not flushed within the shutdown linger");
        }
    }
}
