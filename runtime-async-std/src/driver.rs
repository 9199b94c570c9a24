//! The node's thread: the shared engine, with async-io's sockets and timer,
//! and the link tasks on a local executor beside it.

use std::future::Future;
use std::net::{SocketAddr, TcpStream};
use std::pin::{pin, Pin};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use async_executor::{LocalExecutor, Task};
use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::Stream;
use netcluster_core::node::{DatagramTarget, LinkId};
use netcluster_core::{Instant, Node};
use netcluster_net::engine::{Command, Engine, LinkIo, WriteError};
use netcluster_net::events::EventHub;
use netcluster_net::recv_buf::RecvBuffer;
use netcluster_net::streams::StreamIo;
use netcluster_net::{DriverLimits as Options, Prepared};

use crate::io::{poll_accept, poll_udp, Io, UdpRead};
use crate::link::{connect, read_loop, write_loop, LinkInput, WriteOp, Writer};
use crate::streams::{PeerStream, StreamWake};
use crate::{Builder, Error, Handle, Shared};
use netcluster_net::backlog::Backlog;

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Commands queued before `Handle` calls wait for the node.
const COMMAND_QUEUE: usize = 64;
/// Link inputs (read chunks, connects, closes) queued for the loop.
const LINK_QUEUE: usize = 256;

pub(crate) fn start(b: Builder) -> Result<Handle, Error> {
    let Builder { settings, datagram_buffer } = b;
    let prepared = settings.prepare()?;
    let seed = prepared.seed();
    let Prepared { config, id, sockets, link_addr, limits: opts, .. } = prepared;
    // Registered here so that a refusal is reported by `start`, not logged
    // by the thread.
    let io = Io::new(sockets)?;
    if config.link_mode == netcluster_core::LinkMode::Datagram && datagram_buffer > 0 {
        io.grow_unicast_buffers(datagram_buffer);
    }
    let name = config.name.clone();
    let max_frame = config.limits.max_frame;
    let node =
        Node::new(config, id, seed, Instant::ZERO).map_err(netcluster_net::NetError::Config)?;

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
    let stream_wake = Arc::new(StreamWake::new(nudge_tx));
    let running = Arc::new(AtomicBool::new(true));
    let (done_tx, done_rx) = async_channel::bounded::<()>(1);
    let guard = Done { running: running.clone(), hub: Arc::clone(&hub), _done: done_tx };
    let bridge_wake = Arc::clone(&stream_wake);
    let engine_parts = (Arc::clone(&hub), Arc::clone(&stream_wake));
    let stream_wake_out = Arc::clone(&stream_wake);
    let span = tracing::info_span!("node", name = %name);

    std::thread::Builder::new()
        // A NUL in a thread name would make the spawn panic.
        .name(format!("netcluster-{}", name.replace('\0', "")))
        .spawn(move || {
            let _guard = guard;
            let _enter = span.enter();
            let (hub, stream_wake) = engine_parts;
            let ex = Rc::new(LocalExecutor::new());
            let (link_tx, link_rx) = async_channel::bounded(LINK_QUEUE);
            let engine = Engine::new(node, hub, Arc::new(move || bridge_wake.wake()), opts);
            let io = AsyncIo {
                sockets: io,
                ex: ex.clone(),
                link_tx,
                closing: Vec::new(),
                accepted: accept_tx,
                stream_wake,
                opts,
                max_frame,
            };
            let rx = Receivers { cmd: cmd_rx, abort: abort_rx, nudge: nudge_rx, link: link_rx };
            async_io::block_on(ex.run(run(engine, io, rx)));
            tracing::info!("node stopped");
        })
        .map_err(Error::Thread)?;

    Ok(Handle {
        shared: Arc::new(Shared {
            cmd: cmd_tx,
            hub,
            stream_wake: stream_wake_out,
            running,
            abort: abort_tx,
            accepted: accept_rx,
            done: done_rx,
            id,
            link_addr,
        }),
    })
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

/// An up link's tasks; dropping a task cancels it.
pub(crate) struct Up {
    /// Unbounded: the engine hands over only what the backlog allows.
    tx: async_channel::Sender<WriteOp>,
    backlog: Arc<Backlog>,
    reader: Task<()>,
    writer: Task<()>,
}

/// async-io's side of the engine's I/O.
struct AsyncIo {
    sockets: Io,
    ex: Rc<LocalExecutor<'static>>,
    link_tx: async_channel::Sender<LinkInput>,
    /// Writers flushing before their link closes.
    closing: Vec<Task<()>>,
    /// Streams peers opened, for `Handle::accept_stream`.
    accepted: async_channel::Sender<PeerStream>,
    stream_wake: Arc<StreamWake>,
    opts: Options,
    /// The node's `limits.max_frame`, for the links' receive buffers.
    max_frame: usize,
}

impl AsyncIo {
    fn up(&self, link: LinkId, stream: Async<TcpStream>) -> Up {
        let stream = Rc::new(stream);
        let (tx, rx) = async_channel::unbounded();
        let backlog = Arc::new(Backlog::default());
        let buf = RecvBuffer::new(self.max_frame);
        let reader = self.ex.spawn(read_loop(link, stream.clone(), buf, self.link_tx.clone()));
        let out =
            Writer { link, backlog: backlog.clone(), limits: self.opts, tx: self.link_tx.clone() };
        let writer = self.ex.spawn(write_loop(stream, rx, out));
        Up { tx, backlog, reader, writer }
    }

    /// Lets the writer finish what is queued (the sender dropped), then
    /// shut the stream down.
    fn flush(&mut self, up: Up) {
        drop(up.reader);
        self.closing.retain(|w| !w.is_finished());
        self.closing.push(up.writer);
    }
}

impl LinkIo for AsyncIo {
    type Connecting = Task<()>;
    type Up = Up;

    fn send_datagram(&mut self, to: DatagramTarget, data: &[u8]) {
        self.sockets.send(to, data);
    }

    fn connect(&mut self, link: LinkId, addr: SocketAddr) -> Option<Task<()>> {
        let tx = self.link_tx.clone();
        let timeout = self.opts.connect_timeout;
        Some(self.ex.spawn(async move {
            let input = match connect(addr, timeout).await {
                Ok((stream, local)) => LinkInput::Connected(link, stream, local),
                Err(e) => LinkInput::ConnectFailed(link, e),
            };
            let _ = tx.send(input).await;
        }))
    }

    fn write(&mut self, _link: LinkId, up: &mut Up, data: Bytes) -> Result<(), WriteError> {
        up.tx.try_send(WriteOp::Data(data)).map_err(|_| WriteError::Gone)
    }

    fn backlog<'a>(&self, up: &'a Up) -> &'a Backlog {
        &up.backlog
    }

    fn close(&mut self, _link: LinkId, up: Up) {
        // Else the writer is gone: dropping it cancels it.
        if up.tx.try_send(WriteOp::Close).is_ok() {
            self.flush(up);
        }
    }

    fn stream_opened(&mut self, stream: StreamIo) {
        let s = PeerStream::new(stream, self.stream_wake.clone());
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
}

async fn run(mut engine: Engine<AsyncIo>, mut io: AsyncIo, rx: Receivers) {
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
    engine.drain(&mut io);
    loop {
        // The deadline may have passed while inputs kept the loop busy.
        engine.handle_timeout(&mut io);
        match engine.node().poll_timeout() {
            Some(d) if inputs.armed != Some(d) => {
                inputs.timer.set_at(engine.to_std(d));
                inputs.armed = Some(d);
            }
            Some(_) => {}
            None => {
                inputs.timer = Timer::never();
                inputs.armed = None;
            }
        }
        let wake =
            std::future::poll_fn(|cx| poll_inputs(&mut engine, &mut io, cx, &mut inputs)).await;
        match wake {
            // Link tasks share this thread: give them their turn, since a
            // steady flow of inputs would otherwise never let the loop pend.
            Wake::Worked => futures_lite::future::yield_now().await,
            Wake::Shutdown => {
                shutdown(&mut engine, &mut io, &inputs.link).await;
                break;
            }
            Wake::Orphaned => {
                tracing::debug!("every handle dropped");
                shutdown(&mut engine, &mut io, &inputs.link).await;
                break;
            }
            Wake::Abort => break,
        }
    }
    // Whatever is left: connect attempts, readers, writers (dropping a task
    // cancels it); streams still open fail on the application's side.
    engine.abandon(&mut io);
    io.closing.clear();
}

/// One pass over every input source, each handled up to the per-wake cap.
/// `Pending` only when no source had anything, with every source's waker
/// registered.
fn poll_inputs(
    engine: &mut Engine<AsyncIo>,
    io: &mut AsyncIo,
    cx: &mut Context<'_>,
    inp: &mut Inputs<'_>,
) -> Poll<Wake> {
    let cap = engine.limits().max_reads_per_wake;
    let mut worked = false;

    // Closed (every handle gone) is not an abort: the command channel
    // reports that, for a clean shutdown.
    if let Poll::Ready(Some(())) = inp.abort.as_mut().poll_next(cx) {
        return Poll::Ready(Wake::Abort);
    }

    if Pin::new(&mut inp.timer).poll(cx).is_ready() {
        // Fired timers do not fire again until re-armed.
        inp.armed = None;
        engine.handle_timeout(io);
        worked = true;
    }

    for _ in 0..cap {
        match inp.cmd.as_mut().poll_next(cx) {
            Poll::Ready(Some(Command::Shutdown(_))) => return Poll::Ready(Wake::Shutdown),
            Poll::Ready(Some(c)) => {
                engine.command(io, c);
                worked = true;
            }
            Poll::Ready(None) => return Poll::Ready(Wake::Orphaned),
            Poll::Pending => break,
        }
    }

    let mut reads = Vec::new();
    for (i, (sock, source)) in io.sockets.receivers().enumerate() {
        for _ in 0..cap {
            match poll_udp(sock, cx, &mut inp.buf) {
                Poll::Ready(UdpRead::Datagram(n, from)) => {
                    reads.push((i, from, source, Bytes::copy_from_slice(&inp.buf[..n])));
                }
                Poll::Ready(UdpRead::Skipped) => worked = true,
                Poll::Pending => break,
            }
        }
    }
    for (_, from, source, data) in reads {
        engine.datagram(io, from, source, data);
        worked = true;
    }

    let mut accepted = Vec::new();
    if let Some(l) = io.sockets.listener() {
        for _ in 0..cap {
            match poll_accept(l, cx) {
                Poll::Ready(Ok(a)) => accepted.push(a),
                Poll::Ready(Err(e)) => {
                    // Not counted as work: a persistent error (out of
                    // descriptors) is retried at the next wake-up instead of
                    // spinning.
                    tracing::warn!(error = %e, "accept failed");
                    break;
                }
                Poll::Pending => break,
            }
        }
    }
    for (stream, remote) in accepted {
        accept(engine, io, stream, remote);
        worked = true;
    }

    if let Poll::Ready(Some(())) = inp.nudge.as_mut().poll_next(cx) {
        let read_from = io.stream_wake.take_read_from();
        engine.serve_streams(io, read_from);
        worked = true;
    }

    for _ in 0..cap {
        match inp.link.as_mut().poll_next(cx) {
            Poll::Ready(Some(input)) => {
                link_input(engine, io, input);
                worked = true;
            }
            // `AsyncIo` holds a sender: the channel never closes here.
            Poll::Ready(None) | Poll::Pending => break,
        }
    }

    if worked {
        Poll::Ready(Wake::Worked)
    } else {
        Poll::Pending
    }
}

fn link_input(engine: &mut Engine<AsyncIo>, io: &mut AsyncIo, input: LinkInput) {
    match input {
        LinkInput::Connected(link, stream, local) => {
            // Only an attempt the engine still waits for gets tasks.
            if engine.connecting_mut(link).is_some() {
                let up = io.up(link, stream);
                drop(engine.connected(io, link, up, local));
            }
        }
        LinkInput::ConnectFailed(link, e) => engine.connect_failed(io, link, &e),
        LinkInput::Data(link, data) => engine.link_data(io, link, data),
        LinkInput::Closed(link, reason) => {
            if let Some(up) = engine.link_closed(io, link, reason) {
                io.flush(up);
            }
        }
        LinkInput::Drained(link) => engine.link_drained(io, link),
    }
}

fn accept(engine: &mut Engine<AsyncIo>, io: &mut AsyncIo, stream: TcpStream, remote: SocketAddr) {
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
    engine.accepted(io, remote, local, |io, link| Some(io.up(link, stream)));
}

async fn shutdown(
    engine: &mut Engine<AsyncIo>,
    io: &mut AsyncIo,
    link_rx: &async_channel::Receiver<LinkInput>,
) {
    engine.shutdown(io);
    let until = std::time::Instant::now() + io.opts.shutdown_linger;
    // Links whose queues hold more than their writers took are pulled as
    // the writers drain, until their GOODBYE and close.
    while !engine.has_no_links() {
        let input = async { link_rx.recv().await.ok() };
        let late = async {
            Timer::at(until).await;
            None
        };
        match futures_lite::future::or(input, late).await {
            Some(input) => link_input(engine, io, input),
            None => break,
        }
    }
    let writers = std::mem::take(&mut io.closing);
    let all = async {
        for w in writers {
            w.await;
        }
        true
    };
    let linger = async {
        Timer::at(until).await;
        false
    };
    if !futures_lite::future::or(all, linger).await {
        tracing::warn!("some links were not flushed within the shutdown linger");
    }
}
