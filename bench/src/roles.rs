//! The child processes: one role each, on a tokio runtime of two worker
//! threads. Each reports on standard output (see [`crate::proto`]) and
//! exits when its standard input closes.

use std::io::BufRead;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use clap::Args;
use netcluster_tokio::{
    BeaconMode, Builder, Bytes, Error, Event, EventStream, Handle, NodeId, Semantics, SendError,
    SendOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use crate::proto::{index, node_id, payload, say, short, unix_ns};
use crate::CHILD_PATIENCE;

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// What every mesh node takes: its place on the line and the driver
/// limits to override.
#[derive(Args, Debug, Clone)]
pub struct NodeArgs {
    /// Cluster name (one per cell, so that cells never meet).
    #[arg(long)]
    pub cluster: String,
    /// Position on the line (0: the receiving end); gives the node id.
    #[arg(long)]
    pub pos: u8,
    /// Link address of the node at `pos - 1`, the one static seed.
    #[arg(long)]
    pub seed: Option<SocketAddr>,
    /// `Config::max_links` (default: the library's).
    #[arg(long)]
    pub max_links: Option<usize>,
    /// Driver write queue, frames per link (default: the library's).
    #[arg(long)]
    pub write_queue: Option<usize>,
    /// Driver event capacity per subscriber (default: the library's).
    #[arg(long)]
    pub event_capacity: Option<usize>,
    /// Keyring file: discovery signed and links encrypted.
    #[arg(long)]
    pub keyring: Option<std::path::PathBuf>,
}

/// The mesh receiver's arguments.
#[derive(Args, Debug, Clone)]
pub struct SubArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Payload bytes of each message.
    #[arg(long)]
    size: usize,
    /// Messages to receive.
    #[arg(long)]
    count: u64,
    /// Position of the sender.
    #[arg(long)]
    from: u8,
}

/// The mesh sender's arguments.
#[derive(Args, Debug, Clone)]
pub struct PubArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Payload bytes of each message.
    #[arg(long)]
    size: usize,
    /// Messages to send.
    #[arg(long)]
    count: u64,
    /// Send confirmed: a `Delivered` report for every message.
    #[arg(long)]
    confirm: bool,
}

/// The mesh round-trip client's arguments.
#[derive(Args, Debug, Clone)]
pub struct PingArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Round trips measured (after `warmup` more).
    #[arg(long)]
    count: usize,
    /// Round trips before the measured ones.
    #[arg(long)]
    warmup: usize,
}

/// The TCP receiver's arguments.
#[derive(Args, Debug, Clone)]
pub struct TcpSinkArgs {
    /// Payload bytes of each message.
    #[arg(long)]
    size: usize,
    /// Messages to receive.
    #[arg(long)]
    count: u64,
}

/// The TCP sender's arguments.
#[derive(Args, Debug, Clone)]
pub struct TcpPubArgs {
    /// The sink.
    #[arg(long)]
    to: SocketAddr,
    /// Payload bytes of each message.
    #[arg(long)]
    size: usize,
    /// Messages to send.
    #[arg(long)]
    count: u64,
    /// Through a 64 KiB `BufWriter` instead of one write per message.
    #[arg(long)]
    buffered: bool,
}

/// The TCP round-trip client's arguments.
#[derive(Args, Debug, Clone)]
pub struct TcpPingArgs {
    /// The echo.
    #[arg(long)]
    to: SocketAddr,
    /// Round trips measured (after `warmup` more).
    #[arg(long)]
    count: usize,
    /// Round trips before the measured ones.
    #[arg(long)]
    warmup: usize,
}

/// One child's part.
#[derive(Debug)]
pub enum Role {
    /// Mesh receiver.
    Sub(SubArgs),
    /// Mesh sender.
    Pub(PubArgs),
    /// Mesh relay.
    Relay(NodeArgs),
    /// Mesh echo.
    Echo(NodeArgs),
    /// Mesh round trips.
    Ping(PingArgs),
    /// TCP receiver.
    TcpSink(TcpSinkArgs),
    /// TCP sender.
    TcpPub(TcpPubArgs),
    /// TCP echo.
    TcpEcho,
    /// TCP round trips.
    TcpPing(TcpPingArgs),
}

/// Runs `role` until it fails or standard input closes; the exit code.
pub fn main(role: Role) -> i32 {
    init_tracing();
    // The orchestrator closes our standard input to stop us (and the
    // system closes it if the orchestrator dies).
    std::thread::spawn(|| {
        let stdin = std::io::stdin();
        let mut line = String::new();
        while stdin.lock().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
        std::process::exit(0);
    });
    let rt =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                say(format!("error tokio runtime: {e}"));
                return 1;
            }
        };
    let r = rt.block_on(async move {
        match role {
            Role::Sub(a) => sub(a).await,
            Role::Pub(a) => publish(a).await,
            Role::Relay(a) => relay(a).await,
            Role::Echo(a) => echo(a).await,
            Role::Ping(a) => ping(a).await,
            Role::TcpSink(a) => tcp_sink(a).await,
            Role::TcpPub(a) => tcp_pub(a).await,
            Role::TcpEcho => tcp_echo().await,
            Role::TcpPing(a) => tcp_ping(a).await,
        }
    });
    // Every role ends in `stay`: only a failure returns.
    let e = r.err().map_or_else(|| "stopped".to_string(), |e| e.to_string());
    say(format!("error {e}"));
    1
}

/// Keeps `keep` (a node's handle, a connection) alive until the process is
/// told to go: the orchestrator may still need it.
async fn stay<T>(keep: T) -> Res<()> {
    std::future::pending::<()>().await;
    drop(keep);
    Ok(())
}

/// Warnings (a write queue that overflowed and closed its link...) go to
/// standard error, where the orchestrator looks for them.
fn init_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

/// Starts the node at `a.pos`, subscribed to its events; once its link to
/// its seed (the node at `pos - 1`) is up, says `ready`.
async fn start_node(a: &NodeArgs) -> Res<(Handle, EventStream)> {
    let mut b = Builder::new(a.cluster.clone(), format!("n{}", a.pos))
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .node_id(node_id(a.pos));
    if let Some(s) = a.seed {
        b = b.seed(s);
    }
    if let Some(n) = a.max_links {
        b = b.configure(|c| c.max_links = n);
    }
    if let Some(n) = a.write_queue {
        b = b.write_queue(n);
    }
    if let Some(n) = a.event_capacity {
        b = b.event_capacity(n);
    }
    if let Some(path) = &a.keyring {
        b = b.keyring(netcluster_tokio::net::keyfile::load_keyring(path)?);
    }
    let h = b.start().await?;
    let events = h.events();
    if a.seed.is_some() {
        let prev = node_id(a.pos.checked_sub(1).ok_or("position 0 takes no seed")?);
        let end = Instant::now() + CHILD_PATIENCE;
        while !h.query(move |n| n.neighbours().any(|(_, p)| p == prev)).await? {
            if Instant::now() > end {
                return Err(format!("no link to {} within {CHILD_PATIENCE:?}", short(&prev)).into());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    say(format!("ready {} {}", h.link_addr(), short(&h.id())));
    Ok((h, events))
}

/// Waits for a route to `to` of `nodes` nodes (or, after a few seconds,
/// takes any route) and says it.
async fn route(h: &Handle, to: NodeId, nodes: usize) -> Res<Vec<NodeId>> {
    let begin = Instant::now();
    loop {
        let r = h.query(move |n| n.route_to(&to)).await?;
        match r {
            Some(p) if p.len() == nodes || begin.elapsed() > Duration::from_secs(3) => {
                let names: Vec<String> = p.iter().map(short).collect();
                say(format!("route {} {}", p.len(), names.join(" ")));
                return Ok(p);
            }
            _ if begin.elapsed() > CHILD_PATIENCE => {
                return Err(format!("no route to {} within {CHILD_PATIENCE:?}", short(&to)).into())
            }
            _ => tokio::time::sleep(Duration::from_millis(2)).await,
        }
    }
}

/// Receives `count` messages from the node at `a.from`, each checked for
/// its size and index, and says `done` at the last.
async fn sub(a: SubArgs) -> Res<()> {
    let (h, mut events) = start_node(&a.node).await?;
    let from = node_id(a.from);
    let mut next = 0u64;
    // Events are read in batches (`next_many`), one lock per batch.
    let mut batch = Vec::with_capacity(EVENT_BATCH);
    while events.next_many(&mut batch, EVENT_BATCH).await > 0 {
        for e in batch.drain(..) {
            let Event::Message { from: f, payload, .. } = e else { continue };
            if f != from {
                continue;
            }
            let i = index(&payload);
            if payload.len() != a.size.max(8) || i != Some(next) {
                return Err(format!(
                    "message {next} missing: got index {i:?} of {} bytes",
                    payload.len()
                )
                .into());
            }
            next += 1;
            if next == a.count {
                say(format!("done {} {next}", unix_ns()));
                // Keep the node (and its acknowledgements) going.
                return stay((h, events)).await;
            }
        }
    }
    Err(format!("the node stopped after {next} messages").into())
}

/// Messages handed to one `send_many` call at most. Each call is a round
/// trip to the node's task: with 8-byte messages, 64 a call cost about
/// 1.8 times the CPU per message of 512 a call (measured; PERFORMANCE.md),
/// so a publisher of small messages batches, as this one does.
const SEND_BATCH: usize = 256;

/// Events taken per read of a subscriber (`EventStream::next_many`).
const EVENT_BATCH: usize = 1024;

/// How often the publisher asks whether everything was acknowledged.
const DRAIN_POLL: Duration = Duration::from_millis(1);

/// What the sender's event task shares with the sending loop.
struct Watch {
    /// Room again in the window to the destination.
    room: Notify,
}

/// Reads the sender's events: wakes the sending loop on `Writable`,
/// reports failures and a destination gone. Completion is read from the
/// node (nothing in flight), so confirmed and unconfirmed sends end alike.
fn watch(mut events: EventStream, to: NodeId) -> Arc<Watch> {
    let w = Arc::new(Watch { room: Notify::new() });
    let w2 = Arc::clone(&w);
    tokio::spawn(async move {
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        while events.next_many(&mut batch, EVENT_BATCH).await > 0 {
            for e in batch.drain(..) {
                match e {
                    Event::Writable { to: d } if d == to => w2.room.notify_one(),
                    Event::SendFailed { to: d, reason, .. } if d == to => {
                        say(format!("error message lost: send failed ({reason:?})"));
                    }
                    Event::PeerDown { id, reason, .. } if id == to => {
                        say(format!("error destination down ({reason:?})"));
                    }
                    _ => {}
                }
            }
        }
    });
    w
}

/// Sends `count` messages to the node at position 0 as fast as its window
/// allows, in batches (`send_many`); a refusal waits for `Writable`.
async fn publish(a: PubArgs) -> Res<()> {
    let (h, events) = start_node(&a.node).await?;
    let to = node_id(0);
    let w = watch(events, to);
    // Unconfirmed unless asked, as a pub/sub publish is; a failure is
    // reported either way.
    let how = SendOptions::new(Semantics::Sequenced).confirm(a.confirm);
    route(&h, to, usize::from(a.node.pos) + 1).await?;
    let template = Bytes::from(payload(a.size, 0));
    // Up to SEND_BATCH messages a call, fewer of the large ones (1 MiB of
    // payload per call at most), so refused payloads are not built in vain.
    let batch = ((1usize << 20) / a.size.max(1)).clamp(1, SEND_BATCH) as u64;
    say(format!("start {}", unix_ns()));
    let mut i = 0u64;
    while i < a.count {
        let n = (a.count - i).min(batch);
        // One buffer per batch, cut into messages that share it: one
        // allocation per call rather than per message (as a publisher of
        // small messages would do).
        let mut buf = BytesMut::with_capacity(template.len() * n as usize);
        let msgs: Vec<Bytes> = (i..i + n)
            .map(|k| {
                buf.extend_from_slice(&template);
                let at = buf.len() - template.len();
                buf[at..at + 8].copy_from_slice(&k.to_le_bytes());
                buf.split_to(buf.len()).freeze()
            })
            .collect();
        let r = h.send_many(to, how, msgs).await?;
        i += r.ids.len() as u64;
        match r.refused {
            None => {}
            // A `Writable` sent before this wait began left a permit; the
            // timeout only guards against a missed one.
            Some(SendError::WouldBlock) => {
                let _ = tokio::time::timeout(Duration::from_millis(100), w.room.notified()).await;
            }
            Some(e) => return Err(Error::Send(e).into()),
        }
    }
    say(format!("sent {}", unix_ns()));
    // Every message acknowledged: nothing left in flight.
    while h.query(|n| n.in_flight()).await? > 0 {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    say(format!("delivered {}", unix_ns()));
    let after = h.query(move |n| n.route_to(&to)).await?;
    say(format!("route-after {}", after.map_or(0, |p| p.len())));
    stay(h).await
}

/// A node that only forwards (any position but 0).
async fn relay(a: NodeArgs) -> Res<()> {
    let (h, events) = start_node(&a).await?;
    // Nobody reads a relay's events: unsubscribed, they are discarded.
    drop(events);
    stay(h).await
}

/// Sends one message, waiting out a full window.
async fn send_one(h: &Handle, to: NodeId, room: &Notify, data: Bytes) -> Res<()> {
    loop {
        match h.send(to, Semantics::Sequenced, data.clone()).await {
            Ok(_) => return Ok(()),
            Err(Error::Send(SendError::WouldBlock)) => {
                let _ = tokio::time::timeout(Duration::from_millis(100), room.notified()).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The node at position 0 of a round-trip cell: sends every message back
/// to its source.
async fn echo(a: NodeArgs) -> Res<()> {
    let (h, mut events) = start_node(&a).await?;
    tokio::spawn(async move {
        let room = Notify::new();
        while let Some(e) = events.next().await {
            match e {
                Event::Message { from, payload, .. } => {
                    if let Err(e) = send_one(&h, from, &room, payload).await {
                        say(format!("error echo: {e}"));
                        return;
                    }
                }
                Event::Writable { .. } => room.notify_one(),
                _ => {}
            }
        }
    });
    stay(()).await
}

/// p50 and p99 of `rtts`, sorted in place.
fn percentiles(rtts: &mut [Duration]) -> (Duration, Duration) {
    rtts.sort_unstable();
    let at = |p: f64| {
        let i = ((rtts.len() as f64 - 1.0) * p).round() as usize;
        rtts[i.min(rtts.len() - 1)]
    };
    (at(0.5), at(0.99))
}

fn say_rtts(mut rtts: Vec<Duration>) -> Res<()> {
    if rtts.is_empty() {
        return Err("no round trip measured".into());
    }
    let (p50, p99) = percentiles(&mut rtts);
    say(format!("rtt {} {} {}", p50.as_nanos(), p99.as_nanos(), rtts.len()));
    Ok(())
}

/// 64 B round trips, one at a time, against the echo at position 0.
async fn ping(a: PingArgs) -> Res<()> {
    let (h, mut events) = start_node(&a.node).await?;
    let to = node_id(0);
    route(&h, to, 2).await?;
    let room = Notify::new();
    let mut rtts = Vec::with_capacity(a.count);
    for i in 0..(a.warmup + a.count) as u64 {
        let start = Instant::now();
        send_one(&h, to, &room, payload(64, i).into()).await?;
        let back = loop {
            match events.next().await {
                Some(Event::Message { from, payload, .. }) if from == to => break payload,
                Some(Event::Writable { .. }) => room.notify_one(),
                Some(_) => {}
                None => return Err("the node stopped".into()),
            }
        };
        if index(&back) != Some(i) {
            return Err(format!("echo {i} out of order").into());
        }
        if i as usize >= a.warmup {
            rtts.push(start.elapsed());
        }
    }
    say_rtts(rtts)?;
    stay((h, events)).await
}

/// Receives `count` length-prefixed messages on one TCP connection, each
/// checked, and says `done` at the last.
async fn tcp_sink(a: TcpSinkArgs) -> Res<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    say(format!("ready {}", listener.local_addr()?));
    let (s, _) = listener.accept().await?;
    let mut r = BufReader::with_capacity(64 * 1024, s);
    let mut buf = vec![0u8; a.size.max(8)];
    for i in 0..a.count {
        let len = r.read_u32().await? as usize;
        if len != buf.len() {
            return Err(format!("message {i}: length {len}, expected {}", buf.len()).into());
        }
        r.read_exact(&mut buf).await?;
        if index(&buf) != Some(i) {
            return Err(format!("message {i} out of order").into());
        }
    }
    say(format!("done {} {}", unix_ns(), a.count));
    stay(r).await
}

/// Sends `count` length-prefixed messages over one TCP connection
/// (TCP_NODELAY, as the driver's links): one `write_all` each, as the
/// driver writes a frame, or through a 64 KiB `BufWriter`.
async fn tcp_pub(a: TcpPubArgs) -> Res<()> {
    let stream = TcpStream::connect(a.to).await?;
    stream.set_nodelay(true)?;
    let template = payload(a.size, 0);
    say(format!("start {}", unix_ns()));
    if a.buffered {
        let mut w = BufWriter::with_capacity(64 * 1024, stream);
        let mut p = template;
        for i in 0..a.count {
            p[..8].copy_from_slice(&i.to_le_bytes());
            w.write_u32(p.len() as u32).await?;
            w.write_all(&p).await?;
        }
        w.flush().await?;
        say(format!("sent {}", unix_ns()));
        stay(w).await
    } else {
        let mut w = stream;
        for i in 0..a.count {
            // A fresh buffer per message, as the mesh sender builds one.
            let mut frame = Vec::with_capacity(4 + template.len());
            frame.extend_from_slice(&(template.len() as u32).to_be_bytes());
            frame.extend_from_slice(&template);
            frame[4..12].copy_from_slice(&i.to_le_bytes());
            w.write_all(&frame).await?;
        }
        say(format!("sent {}", unix_ns()));
        stay(w).await
    }
}

/// Echoes 68-byte frames (a length and 64 B) on every connection.
async fn tcp_echo() -> Res<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    say(format!("ready {}", listener.local_addr()?));
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                s.set_nodelay(true)?;
                let mut buf = [0u8; 4 + 64];
                while s.read_exact(&mut buf).await.is_ok() {
                    s.write_all(&buf).await?;
                }
                Ok::<(), std::io::Error>(())
            });
        }
    });
    stay(()).await
}

/// 64 B round trips, one at a time, against a TCP echo.
async fn tcp_ping(a: TcpPingArgs) -> Res<()> {
    let mut s = TcpStream::connect(a.to).await?;
    s.set_nodelay(true)?;
    let mut back = [0u8; 4 + 64];
    let mut rtts = Vec::with_capacity(a.count);
    for i in 0..(a.warmup + a.count) as u64 {
        let start = Instant::now();
        let mut frame = 64u32.to_be_bytes().to_vec();
        frame.extend_from_slice(&payload(64, i));
        s.write_all(&frame).await?;
        s.read_exact(&mut back).await?;
        if index(&back[4..]) != Some(i) {
            return Err(format!("echo {i} out of order").into());
        }
        if i as usize >= a.warmup {
            rtts.push(start.elapsed());
        }
    }
    say_rtts(rtts)?;
    stay(s).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_hundred() {
        let mut v: Vec<Duration> = (1..=100).rev().map(Duration::from_micros).collect();
        let (p50, p99) = percentiles(&mut v);
        assert_eq!(p50, Duration::from_micros(51));
        assert_eq!(p99, Duration::from_micros(99));
    }
}
