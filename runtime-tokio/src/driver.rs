//! The node's task: one loop owning the node, its sockets and its timer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use netcluster_core::node::{
    DatagramSource, DatagramTarget, Event, FailReason, LinkCloseReason, LinkId, StreamEnd, Transmit,
};
use netcluster_core::{Instant, Node};
use netcluster_net::events::EventHub;
use netcluster_net::socket2::SockRef;
use netcluster_net::streams::{StreamBridge, StreamIo};
use netcluster_net::{DatagramOut, NetError, Prepared, Sockets};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

use crate::{Builder, Command, Error, Handle, Options, Shared};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 65_536;
/// Most bytes of queued frames joined into one link write.
const COALESCE: usize = 64 * 1024;
/// Bytes read from a TCP link at a time.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) async fn start(b: Builder) -> Result<Handle, Error> {
    let Prepared { config, id, rng_seed, sockets, link_addr, limits: opts } =
        b.settings.prepare()?;
    let io = Io::new(sockets)?;
    let epoch = tokio::time::Instant::now();
    let node = Node::new(config, id, rng_seed, Instant::ZERO);

    let (cmd_tx, cmd_rx) = mpsc::channel(64);
    let hub_wake = Arc::new(Notify::new());
    let notify = hub_wake.clone();
    let hub = Arc::new(EventHub::new(opts.event_capacity, Arc::new(move || notify.notify_one())));
    let (done_tx, done_rx) = watch::channel(false);
    let (link_tx, link_rx) = mpsc::channel(256);
    let (accept_tx, accept_rx) = mpsc::channel(opts.accept_queue);
    let streams_wake = Arc::new(Notify::new());
    let notify = streams_wake.clone();
    let bridge = StreamBridge::new(Arc::new(move || notify.notify_one()));
    let state = State {
        bridge,
        accept: accept_tx,
        node,
        epoch,
        links: HashMap::new(),
        closing: Vec::new(),
        overflowed: Vec::new(),
        link_tx,
        hub: Arc::clone(&hub),
        opts,
    };
    let end_hub = Arc::clone(&hub);
    let task = tokio::spawn(async move {
        // Marks the node stopped however the task ends, aborted included.
        let _done = DoneOnDrop(done_tx, end_hub);
        run(state, io, cmd_rx, link_rx, streams_wake, hub_wake).await;
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
struct Io {
    u4: Option<UdpSocket>,
    u6: Option<UdpSocket>,
    b4: Option<UdpSocket>,
    b6: Option<UdpSocket>,
    listener: Option<TcpListener>,
    out: DatagramOut,
}

impl Io {
    fn new(s: Sockets) -> Result<Io, Error> {
        let udp = |s: Option<std::net::UdpSocket>| -> Result<Option<UdpSocket>, Error> {
            s.map(UdpSocket::from_std).transpose().map_err(Error::Runtime)
        };
        let out = DatagramOut::new(&s);
        Ok(Io {
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

    fn send(&self, to: DatagramTarget, data: &[u8]) {
        self.out.send(|a| self.unicast_for(a).map(SockRef::from), to, data);
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
}

enum WriteOp {
    Data(Bytes),
    Close,
}

enum LinkEntry {
    Connecting(JoinHandle<()>),
    Up { tx: mpsc::Sender<WriteOp>, reader: JoinHandle<()>, writer: JoinHandle<()> },
}

struct State {
    node: Node,
    /// Application ends of streams, and the queue of accepted ones.
    bridge: StreamBridge,
    accept: mpsc::Sender<StreamIo>,
    epoch: tokio::time::Instant,
    links: HashMap<LinkId, LinkEntry>,
    /// Writers flushing before their link closes.
    closing: Vec<JoinHandle<()>>,
    /// Links whose write queue overflowed during a drain.
    overflowed: Vec<LinkId>,
    link_tx: mpsc::Sender<LinkInput>,
    /// Subscribers of the node's events.
    hub: Arc<EventHub>,
    opts: Options,
}

async fn run(
    mut st: State,
    io: Io,
    mut cmd_rx: mpsc::Receiver<Command>,
    mut link_rx: mpsc::Receiver<LinkInput>,
    streams_wake: Arc<Notify>,
    hub_wake: Arc<Notify>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    st.drain(&io);
    let far = Duration::from_secs(86_400 * 365);
    let sleep = tokio::time::sleep_until(st.epoch + far);
    tokio::pin!(sleep);
    loop {
        let deadline = st.node.poll_timeout();
        // The deadline may have passed while inputs kept the loop busy.
        if let Some(d) = deadline {
            let now = st.now();
            if now >= d {
                st.node.handle_timeout(now);
                st.drain(&io);
            }
        }
        let deadline = st.node.poll_timeout();
        let wake = deadline.map_or(st.epoch + far, |d| st.to_tokio(d));
        sleep.as_mut().reset(wake);
        tokio::select! {
            () = &mut sleep, if deadline.is_some() => {
                let now = st.now();
                if deadline.is_some_and(|d| now >= d) {
                    st.node.handle_timeout(now);
                    st.drain(&io);
                }
            }
            cmd = cmd_rx.recv() => match cmd {
                Some(Command::Shutdown(reply)) => {
                    st.shutdown(&io).await;
                    let _ = reply.send(());
                    break;
                }
                Some(c) => st.command(&io, c),
                None => {
                    tracing::debug!("every handle dropped");
                    st.shutdown(&io).await;
                    break;
                }
            },
            r = readable(&io.u4) => st.read_udp(&io, io.u4.as_ref(), r, DatagramSource::Unicast, &mut buf),
            r = readable(&io.u6) => st.read_udp(&io, io.u6.as_ref(), r, DatagramSource::Unicast, &mut buf),
            r = readable(&io.b4) => st.read_udp(&io, io.b4.as_ref(), r, DatagramSource::Beacon, &mut buf),
            r = readable(&io.b6) => st.read_udp(&io, io.b6.as_ref(), r, DatagramSource::Beacon, &mut buf),
            r = accept(&io.listener) => st.accepted(&io, r),
            // A subscriber that was full has read: take more events.
            () = hub_wake.notified() => st.drain(&io),
            () = streams_wake.notified() => {
                let now = st.now();
                st.bridge.service_pending(&mut st.node, now);
                st.drain(&io);
            }
            Some(input) = link_rx.recv() => {
                st.link_input(&io, input);
                for _ in 1..st.opts.max_reads_per_wake {
                    match link_rx.try_recv() {
                        Ok(input) => st.link_input(&io, input),
                        Err(_) => break,
                    }
                }
            }
        }
    }
    // Whatever is left: connect attempts, readers, writers.
    for (_, e) in st.links.drain() {
        e.abort();
    }
    tracing::info!("node stopped");
}

/// The node's clock: time since the task started.
fn now_since(epoch: tokio::time::Instant) -> Instant {
    let us = epoch.elapsed().as_micros();
    Instant::from_micros(u64::try_from(us).unwrap_or(u64::MAX))
}

impl LinkEntry {
    fn abort(self) {
        match self {
            LinkEntry::Connecting(t) => t.abort(),
            LinkEntry::Up { reader, writer, .. } => {
                reader.abort();
                writer.abort();
            }
        }
    }
}

impl State {
    fn now(&self) -> Instant {
        now_since(self.epoch)
    }

    fn to_tokio(&self, t: Instant) -> tokio::time::Instant {
        let d = Duration::from_micros(t.as_micros());
        self.epoch.checked_add(d).unwrap_or(self.epoch + Duration::from_secs(86_400 * 365))
    }

    /// Carries out every output, then publishes the events; again while
    /// stream events (served through the bridge) make more.
    fn drain(&mut self, io: &Io) {
        loop {
            loop {
                while let Some(t) = self.node.poll_transmit() {
                    self.carry_out(io, t);
                }
                if self.overflowed.is_empty() {
                    break;
                }
                let now = self.now();
                for link in std::mem::take(&mut self.overflowed) {
                    self.node.link_closed(now, link, LinkCloseReason::Error);
                }
            }
            let (bridge, accept) = (&mut self.bridge, &self.accept);
            let epoch = self.epoch;
            let any = self.hub.pump(&mut self.node, |node, e| {
                tracing::debug!(event = ?e, "event");
                if let Some(stream) = bridge.on_event(node, now_since(epoch), e) {
                    if let Err(full) = accept.try_send(stream) {
                        tracing::warn!("stream accept queue full: new stream reset");
                        full.into_inner().reset();
                    }
                }
                // Stream readiness is the bridge's business.
                !matches!(e, Event::StreamReadable { .. } | Event::StreamWritable { .. })
            });
            if !any {
                break;
            }
        }
    }

    fn carry_out(&mut self, io: &Io, t: Transmit) {
        match t {
            Transmit::Datagram { to, data } => io.send(to, &data),
            Transmit::Connect { link, addr } => {
                let tx = self.link_tx.clone();
                let timeout = self.opts.connect_timeout;
                let task = tokio::spawn(async move {
                    let input = match tokio::time::timeout(timeout, connect(addr)).await {
                        Ok(Ok((stream, local))) => LinkInput::Connected(link, stream, local),
                        Ok(Err(e)) => LinkInput::ConnectFailed(link, e),
                        Err(_) => LinkInput::ConnectFailed(
                            link,
                            NetError::Connect { addr, source: std::io::ErrorKind::TimedOut.into() },
                        ),
                    };
                    let _ = tx.send(input).await;
                });
                self.links.insert(link, LinkEntry::Connecting(task));
            }
            Transmit::Write { link, data } => match self.links.get(&link) {
                Some(LinkEntry::Up { tx, .. }) => match tx.try_send(WriteOp::Data(data)) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        tracing::warn!(?link, "write queue full; closing the link");
                        if let Some(e) = self.links.remove(&link) {
                            e.abort();
                        }
                        self.overflowed.push(link);
                    }
                    // The writer failed; its Closed report is on the way.
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                },
                Some(LinkEntry::Connecting(_)) => {
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
                reader.abort();
                if tx.try_send(WriteOp::Close).is_ok() {
                    self.closing.push(writer);
                } else {
                    writer.abort();
                }
            }
            Some(LinkEntry::Connecting(task)) => task.abort(),
            None => {}
        }
    }

    fn spawn_link(&mut self, link: LinkId, stream: TcpStream) {
        let (r, w) = stream.into_split();
        let (tx, rx) = mpsc::channel(self.opts.write_queue);
        let reader = tokio::spawn(read_loop(link, r, self.link_tx.clone()));
        let writer = tokio::spawn(write_loop(link, w, rx, self.link_tx.clone()));
        self.links.insert(link, LinkEntry::Up { tx, reader, writer });
    }

    fn link_input(&mut self, io: &Io, input: LinkInput) {
        let now = self.now();
        match input {
            LinkInput::Connected(link, stream, local) => {
                if !matches!(self.links.get(&link), Some(LinkEntry::Connecting(_))) {
                    return;
                }
                tracing::debug!(?link, %local, "connected");
                self.spawn_link(link, stream);
                self.node.link_connected(now, link, local);
            }
            LinkInput::ConnectFailed(link, e) => {
                if !matches!(self.links.get(&link), Some(LinkEntry::Connecting(_))) {
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
                    reader.abort();
                    // Dropping `tx` lets the writer finish what is queued.
                    drop(tx);
                    self.closing.push(writer);
                }
                self.node.link_closed(now, link, reason);
            }
        }
        self.drain(io);
    }

    fn accepted(&mut self, io: &Io, r: std::io::Result<(TcpStream, SocketAddr)>) {
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
                let link = self.node.link_accepted(self.now(), remote, local);
                tracing::debug!(?link, %remote, "accepted");
                self.spawn_link(link, stream);
                self.drain(io);
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }

    fn read_udp(
        &mut self,
        io: &Io,
        sock: Option<&UdpSocket>,
        ready: std::io::Result<()>,
        source: DatagramSource,
        buf: &mut [u8],
    ) {
        let Some(sock) = sock else { return };
        if let Err(e) = ready {
            tracing::warn!(error = %e, "socket error");
            return;
        }
        for _ in 0..self.opts.max_reads_per_wake {
            match sock.try_recv_from(buf) {
                Ok((n, from)) => {
                    let data = Bytes::copy_from_slice(&buf[..n]);
                    self.node.handle_datagram(self.now(), from, source, data);
                    self.drain(io);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                // ICMP errors of earlier sends (port unreachable...) land
                // here on some systems: not this socket's failure.
                Err(e) => tracing::debug!(error = %e, "datagram receive error"),
            }
        }
    }

    fn command(&mut self, io: &Io, c: Command) {
        let now = self.now();
        match c {
            Command::Join(g, reply) => {
                let _ = reply.send(self.node.join(now, &g));
            }
            Command::Leave(g, reply) => {
                let _ = reply.send(self.node.leave(now, &g));
            }
            Command::SetState(s, reply) => {
                let _ = reply.send(self.node.set_state(now, s));
            }
            Command::SetHeader(k, v, reply) => {
                let _ = reply.send(self.node.set_header(now, &k, v.as_deref()));
            }
            Command::AddSeed(addr, reply) => {
                self.node.add_seed(now, addr);
                let _ = reply.send(Ok(()));
            }
            Command::Send(to, semantics, payload, reply) => {
                let _ = reply.send(self.hub.send(&mut self.node, now, to, semantics, payload));
            }
            Command::Shout(group, semantics, payload, reply) => {
                let _ = reply.send(self.node.shout(now, &group, semantics, payload));
            }
            Command::Ping(to, reply) => {
                let _ = reply.send(self.node.ping(now, to));
            }
            Command::SendMany(to, semantics, payloads, reply) => {
                let done = self.hub.send_many(&mut self.node, now, to, semantics, payloads);
                let _ = reply.send(Ok(done));
            }
            Command::OpenStream(peer, reply) => {
                let _ = reply.send(self.bridge.open(&mut self.node, now, peer));
            }
            Command::Query(f) => {
                f(&self.node);
                return;
            }
            Command::Shutdown(_) => unreachable!("handled by the loop"),
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
        let linger = self.opts.shutdown_linger;
        let all = async {
            for w in writers {
                let _ = w.await;
            }
        };
        if tokio::time::timeout(linger, all).await.is_err() {
            tracing::warn!("some links were not flushed within the shutdown linger");
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

async fn read_loop(link: LinkId, mut r: OwnedReadHalf, tx: mpsc::Sender<LinkInput>) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        buf.reserve(READ_CHUNK);
        match r.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Remote)).await;
                return;
            }
            Ok(_) => {
                // A bounded channel: a slow node loop slows the reading,
                // and TCP flow control slows the sender.
                if tx.send(LinkInput::Data(link, buf.split().freeze())).await.is_err() {
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

async fn write_loop(
    link: LinkId,
    mut w: OwnedWriteHalf,
    mut rx: mpsc::Receiver<WriteOp>,
    tx: mpsc::Sender<LinkInput>,
) {
    // Frames queued together leave in one write (up to COALESCE bytes):
    // one system call for a burst instead of one per frame.
    let mut batch = BytesMut::new();
    let mut closing = false;
    while let Some(op) = rx.recv().await {
        let mut next = Some(op);
        while let Some(op) = next.take() {
            match op {
                WriteOp::Data(data) if batch.is_empty() && data.len() >= COALESCE => {
                    if !write_or_report(link, &mut w, &data, &tx).await {
                        return;
                    }
                }
                WriteOp::Data(data) => batch.extend_from_slice(&data),
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
            if !write_or_report(link, &mut w, &data, &tx).await {
                return;
            }
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
