//! The node's task: the shared engine, with tokio's sockets, timer and
//! link tasks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use netcluster_core::node::{DatagramSource, DatagramTarget, LinkCloseReason, LinkId};
use netcluster_core::{Instant, Node};
use netcluster_net::backlog::Backlog;
use netcluster_net::engine::{Command, Engine, LinkIo, WriteError};
use netcluster_net::events::EventHub;
use netcluster_net::recv_buf::RecvBuffer;
use netcluster_net::socket2::SockRef;
use netcluster_net::streams::StreamIo;
use netcluster_net::{DatagramOut, NetError, Prepared, Sockets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::{Builder, Error, Handle, Options, Shared};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Most bytes of queued frames joined into one link write.
const COALESCE: usize = 64 * 1024;

pub(crate) async fn start(b: Builder) -> Result<Handle, Error> {
    let prepared = b.settings.prepare()?;
    let seed = prepared.seed();
    let Prepared { config, id, sockets, link_addr, limits: opts, .. } = prepared;
    let sockets = TokioSockets::new(sockets)?;
    let max_frame = config.limits.max_frame;
    let node = Node::new(config, id, seed, Instant::ZERO).map_err(NetError::Config)?;

    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let (done_tx, done_rx) = watch::channel(false);
    let (link_tx, link_rx) = mpsc::channel(256);
    let (accept_tx, accept_rx) = mpsc::channel(opts.accept_queue);
    let streams_wake = Arc::new(Notify::new());
    let notify = streams_wake.clone();
    let hub_wake = Arc::new(Notify::new());
    let notify_hub = hub_wake.clone();
    let hub =
        Arc::new(EventHub::new(opts.event_capacity, Arc::new(move || notify_hub.notify_one())));
    let engine = Engine::new(node, Arc::clone(&hub), Arc::new(move || notify.notify_one()), opts);
    let io = TokioIo { sockets, link_tx, accept: accept_tx, closing: Vec::new(), opts, max_frame };
    let end_hub = Arc::clone(&hub);
    let task = tokio::spawn(async move {
        // Marks the node stopped however the task ends, aborted included.
        let _done = DoneOnDrop(done_tx, end_hub);
        run(engine, io, cmd_rx, link_rx, streams_wake, hub_wake).await;
    });
    Ok(Handle {
        shared: Arc::new(Shared {
            cmd: cmd_tx,
            hub,
            done: done_rx,
            id,
            link_addr,
            task: task.abort_handle(),
            accept: tokio::sync::Mutex::new(accept_rx),
        }),
    })
}

/// Marks the node stopped, and ends the event streams once read.
struct DoneOnDrop(watch::Sender<bool>, Arc<EventHub>);

impl Drop for DoneOnDrop {
    fn drop(&mut self) {
        self.1.close();
        self.0.send_replace(true);
    }
}

/// The sockets, read-only once open.
struct TokioSockets {
    u4: Option<UdpSocket>,
    u6: Option<UdpSocket>,
    b4: Option<UdpSocket>,
    b6: Option<UdpSocket>,
    listener: Option<TcpListener>,
    out: DatagramOut,
}

impl TokioSockets {
    fn new(s: Sockets) -> Result<TokioSockets, Error> {
        let udp = |s: Option<std::net::UdpSocket>| -> Result<Option<UdpSocket>, Error> {
            s.map(UdpSocket::from_std).transpose().map_err(Error::Runtime)
        };
        let out = DatagramOut::new(&s);
        Ok(TokioSockets {
            u4: udp(s.unicast_v4)?,
            u6: udp(s.unicast_v6)?,
            b4: udp(s.beacon_v4)?,
            b6: udp(s.beacon_v6)?,
            listener: s.listener.map(TcpListener::from_std).transpose().map_err(Error::Runtime)?,
            out,
        })
    }

    fn unicast_for(&self, to: &SocketAddr) -> Option<&UdpSocket> {
        if to.is_ipv4() {
            self.u4.as_ref()
        } else {
            self.u6.as_ref()
        }
    }
}

/// A pending future when the socket is absent.
async fn readable(s: &Option<UdpSocket>) -> std::io::Result<()> {
    match s {
        Some(s) => s.readable().await,
        None => std::future::pending().await,
    }
}

async fn accept(l: &Option<TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

enum LinkInput {
    Connected(LinkId, TcpStream, SocketAddr),
    ConnectFailed(LinkId, NetError),
    Data(LinkId, Bytes),
    Closed(LinkId, LinkCloseReason),
    /// The link's writer has room again (see `Backlog`).
    Drained(LinkId),
}

enum WriteOp {
    Data(Bytes),
    Close,
}

/// A connect attempt, cancelled when dropped.
struct Connecting(JoinHandle<()>);

impl Drop for Connecting {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// An up link's tasks: the reader is cancelled when this is dropped, the
/// writer is left to finish (or aborted by [`LinkIo::abort`]).
struct Up {
    /// Unbounded: the engine hands over only what the backlog allows.
    tx: mpsc::UnboundedSender<WriteOp>,
    backlog: Arc<Backlog>,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

/// tokio's side of the engine's I/O.
struct TokioIo {
    sockets: TokioSockets,
    link_tx: mpsc::Sender<LinkInput>,
    /// Streams peers opened, for `accept_stream`.
    accept: mpsc::Sender<StreamIo>,
    /// Writers flushing before their link closes.
    closing: Vec<JoinHandle<()>>,
    opts: Options,
    /// The node's `limits.max_frame`, for the links' receive buffers.
    max_frame: usize,
}

impl TokioIo {
    fn up(&self, link: LinkId, stream: TcpStream) -> Up {
        let (r, w) = stream.into_split();
        let (tx, rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let buf = RecvBuffer::new(self.max_frame);
        let reader = tokio::spawn(read_loop(link, r, buf, self.link_tx.clone()));
        let out = Writer {
            link,
            backlog: Arc::clone(&backlog),
            limits: self.opts,
            tx: self.link_tx.clone(),
        };
        let writer = tokio::spawn(write_loop(w, rx, out));
        Up { tx, backlog, reader, writer }
    }

    /// Lets the writer finish what is queued, then shut the stream down.
    fn flush(&mut self, up: Up) {
        up.reader.abort();
        self.closing.retain(|w| !w.is_finished());
        self.closing.push(up.writer);
    }
}

impl LinkIo for TokioIo {
    type Connecting = Connecting;
    type Up = Up;

    fn send_datagram(&mut self, to: DatagramTarget, data: &[u8]) {
        let s = &self.sockets;
        s.out.send(|a| s.unicast_for(a).map(SockRef::from), to, data);
    }

    fn connect(&mut self, link: LinkId, addr: SocketAddr) -> Option<Connecting> {
        let tx = self.link_tx.clone();
        let timeout = self.opts.connect_timeout;
        Some(Connecting(tokio::spawn(async move {
            let input = match tokio::time::timeout(timeout, connect(addr)).await {
                Ok(Ok((stream, local))) => LinkInput::Connected(link, stream, local),
                Ok(Err(e)) => LinkInput::ConnectFailed(link, e),
                Err(_) => LinkInput::ConnectFailed(
                    link,
                    NetError::Connect { addr, source: std::io::ErrorKind::TimedOut.into() },
                ),
            };
            let _ = tx.send(input).await;
        })))
    }

    fn write(&mut self, _link: LinkId, up: &mut Up, data: Bytes) -> Result<(), WriteError> {
        up.tx.send(WriteOp::Data(data)).map_err(|_| WriteError::Gone)
    }

    fn backlog<'a>(&self, up: &'a Up) -> &'a Backlog {
        &up.backlog
    }

    fn close(&mut self, _link: LinkId, up: Up) {
        if up.tx.send(WriteOp::Close).is_ok() {
            self.flush(up);
        } else {
            up.reader.abort();
            up.writer.abort();
        }
    }

    fn abort(&mut self, _link: LinkId, up: Up) {
        up.reader.abort();
        up.writer.abort();
    }

    fn stream_opened(&mut self, stream: StreamIo) {
        if let Err(full) = self.accept.try_send(stream) {
            tracing::warn!("stream accept queue full: new stream reset");
            full.into_inner().reset();
        }
    }
}

async fn run(
    mut engine: Engine<TokioIo>,
    mut io: TokioIo,
    mut cmd_rx: mpsc::Receiver<Command>,
    mut link_rx: mpsc::Receiver<LinkInput>,
    streams_wake: Arc<Notify>,
    hub_wake: Arc<Notify>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    engine.drain(&mut io);
    let far = tokio::time::Instant::now() + Duration::from_secs(86_400 * 365);
    let sleep = tokio::time::sleep_until(far);
    tokio::pin!(sleep);
    loop {
        // The deadline may have passed while inputs kept the loop busy.
        engine.handle_timeout(&mut io);
        let deadline = engine.deadline();
        sleep.as_mut().reset(deadline.map_or(far, tokio::time::Instant::from_std));
        tokio::select! {
            () = &mut sleep, if deadline.is_some() => engine.handle_timeout(&mut io),
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Shutdown(reply)) => {
                    shutdown(&mut engine, &mut io, &mut link_rx).await;
                    reply(());
                    break;
                }
                Some(c) => engine.command(&mut io, c),
                None => {
                    tracing::debug!("every handle dropped");
                    shutdown(&mut engine, &mut io, &mut link_rx).await;
                    break;
                }
            },
            r = readable(&io.sockets.u4) => read_udp(&mut engine, &mut io, 0, r, &mut buf),
            r = readable(&io.sockets.u6) => read_udp(&mut engine, &mut io, 1, r, &mut buf),
            r = readable(&io.sockets.b4) => read_udp(&mut engine, &mut io, 2, r, &mut buf),
            r = readable(&io.sockets.b6) => read_udp(&mut engine, &mut io, 3, r, &mut buf),
            r = accept(&io.sockets.listener) => accepted(&mut engine, &mut io, r),
            // A subscriber that was full has read: take more events.
            () = hub_wake.notified() => engine.drain(&mut io),
            () = streams_wake.notified() => engine.serve_streams(&mut io, []),
            Some(input) = link_rx.recv() => {
                link_input(&mut engine, &mut io, input);
                for _ in 1..engine.limits().max_reads_per_wake {
                    match link_rx.try_recv() {
                        Ok(input) => link_input(&mut engine, &mut io, input),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    // Whatever is left: connect attempts, readers, writers.
    engine.abandon(&mut io);
    tracing::info!("node stopped");
}

async fn shutdown(
    engine: &mut Engine<TokioIo>,
    io: &mut TokioIo,
    link_rx: &mut mpsc::Receiver<LinkInput>,
) {
    engine.shutdown(io);
    let deadline = tokio::time::Instant::now() + io.opts.shutdown_linger;
    // Links whose queues hold more than their writers took are pulled as
    // the writers drain, until their GOODBYE and close.
    while !engine.has_no_links() {
        match tokio::time::timeout_at(deadline, link_rx.recv()).await {
            Ok(Some(input)) => link_input(engine, io, input),
            _ => break,
        }
    }
    let writers = std::mem::take(&mut io.closing);
    let all = async {
        for w in writers {
            let _ = w.await;
        }
    };
    if tokio::time::timeout_at(deadline, all).await.is_err() {
        tracing::warn!("some links were not flushed within the shutdown linger");
    }
}

fn link_input(engine: &mut Engine<TokioIo>, io: &mut TokioIo, input: LinkInput) {
    match input {
        LinkInput::Connected(link, stream, local) => {
            // Only an attempt the engine still waits for gets tasks.
            if engine.connecting_mut(link).is_some() {
                let up = io.up(link, stream);
                if let Some(stale) = engine.connected(io, link, up, local) {
                    io.abort(link, stale);
                }
            }
        }
        LinkInput::ConnectFailed(link, e) => engine.connect_failed(io, link, &e),
        LinkInput::Data(link, data) => engine.link_data(io, link, data),
        LinkInput::Closed(link, reason) => {
            if let Some(up) = engine.link_closed(io, link, reason) {
                // Dropping the sender lets the writer finish what is queued.
                io.flush(up);
            }
        }
        LinkInput::Drained(link) => engine.link_drained(io, link),
    }
}

fn accepted(
    engine: &mut Engine<TokioIo>,
    io: &mut TokioIo,
    r: std::io::Result<(TcpStream, SocketAddr)>,
) {
    match r {
        Ok((stream, remote)) => {
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%remote, error = %e, "TCP_NODELAY");
            }
            let local = match stream.local_addr() {
                Ok(a) => a,
                Err(e) => {
                    tracing::debug!(%remote, error = %e, "accepted stream lost");
                    return;
                }
            };
            engine.accepted(io, remote, local, |io, link| Some(io.up(link, stream)));
        }
        Err(e) => tracing::warn!(error = %e, "accept failed"),
    }
}

fn read_udp(
    engine: &mut Engine<TokioIo>,
    io: &mut TokioIo,
    which: usize,
    ready: std::io::Result<()>,
    buf: &mut [u8],
) {
    if let Err(e) = ready {
        tracing::warn!(error = %e, "socket error");
        return;
    }
    let source = if which < 2 { DatagramSource::Unicast } else { DatagramSource::Beacon };
    for _ in 0..engine.limits().max_reads_per_wake {
        let s = &io.sockets;
        let Some(sock) = [&s.u4, &s.u6, &s.b4, &s.b6][which].as_ref() else { return };
        match sock.try_recv_from(buf) {
            Ok((n, from)) => {
                let data = Bytes::copy_from_slice(&buf[..n]);
                engine.datagram(io, from, source, data);
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            // ICMP errors of earlier sends (port unreachable...) land here
            // on some systems: not this socket's failure.
            Err(e) => tracing::debug!(error = %e, "datagram receive error"),
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<(TcpStream, SocketAddr), NetError> {
    let std_stream = netcluster_net::connect_start(addr)?;
    let stream =
        TcpStream::from_std(std_stream).map_err(|source| NetError::Connect { addr, source })?;
    stream.writable().await.map_err(|source| NetError::Connect { addr, source })?;
    let local = netcluster_net::connect_finish(SockRef::from(&stream), addr)?;
    Ok((stream, local))
}

async fn read_loop(
    link: LinkId,
    mut r: OwnedReadHalf,
    mut buf: RecvBuffer,
    tx: mpsc::Sender<LinkInput>,
) {
    loop {
        match r.read(buf.space()).await {
            Ok(0) => {
                let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Remote)).await;
                return;
            }
            Ok(n) => {
                let Some(frames) = buf.take(n) else { continue };
                // A bounded channel: a slow node loop slows the reading,
                // and TCP flow control slows the sender.
                if tx.send(LinkInput::Data(link, frames)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::debug!(?link, error = %e, "link read failed");
                let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Error)).await;
                return;
            }
        }
    }
}

/// A writer's ties to the engine.
struct Writer {
    link: LinkId,
    backlog: Arc<Backlog>,
    limits: Options,
    tx: mpsc::Sender<LinkInput>,
}

impl Writer {
    /// `frames` frames of `bytes` reached the socket: tell the engine if
    /// it waits for room.
    async fn wrote(&self, frames: usize, bytes: usize) {
        if self.backlog.written(frames, bytes, &self.limits) {
            let _ = self.tx.send(LinkInput::Drained(self.link)).await;
        }
    }
}

async fn write_loop(mut w: OwnedWriteHalf, mut rx: mpsc::UnboundedReceiver<WriteOp>, out: Writer) {
    let (link, tx) = (out.link, &out.tx);
    // Frames queued together leave in one write (up to COALESCE bytes):
    // one system call for a burst instead of one per frame.
    let mut batch = BytesMut::new();
    let mut batched = 0;
    let mut closing = false;
    while let Some(op) = rx.recv().await {
        let mut next = Some(op);
        while let Some(op) = next.take() {
            match op {
                WriteOp::Data(data) if batch.is_empty() && data.len() >= COALESCE => {
                    if !write_or_report(link, &mut w, &data, tx).await {
                        return;
                    }
                    out.wrote(1, data.len()).await;
                }
                WriteOp::Data(data) => {
                    batch.extend_from_slice(&data);
                    batched += 1;
                }
                WriteOp::Close => {
                    closing = true;
                    break;
                }
            }
            if batch.len() < COALESCE {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let data = batch.split().freeze();
            if !write_or_report(link, &mut w, &data, tx).await {
                return;
            }
            out.wrote(std::mem::take(&mut batched), data.len()).await;
        }
        if closing {
            break;
        }
    }
    let _ = w.shutdown().await;
}

/// Writes `data`; on failure reports the link closed and returns false.
async fn write_or_report(
    link: LinkId,
    w: &mut OwnedWriteHalf,
    data: &[u8],
    tx: &mpsc::Sender<LinkInput>,
) -> bool {
    match w.write_all(data).await {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(?link, error = %e, "link write failed");
            let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Error)).await;
            false
        }
    }
}
