//! Throughput and latency of two nodes on loopback, measured in the same run
//! as a plain TCP baseline over tokio with the same message sizes.
//!
//! ```text
//! cargo run --release -p netcluster-tokio --example throughput [-- --scale 0.2]
//! ```
//!
//! Throughput: node `a` sends `Sequenced` messages of 64 B, 1 KiB and
//! 64 KiB to node `b` as fast as the send window allows (a refused send
//! waits for `Event::Writable`); the clock stops when `b` has received the
//! last one, each checked in order. The baseline sends the same messages,
//! each prefixed with its length, over one TCP connection (TCP_NODELAY) to
//! a sink: once with one `write_all` per message, as the driver writes, and
//! once through a 64 KiB `BufWriter`. The ratio is the mesh's against the
//! first.
//!
//! Latency: a 64 B request answered by a 64 B response, one at a time, over
//! the mesh (`Sequenced` both ways) and over a TCP echo; p50 and p99 of the
//! round trips. MB is 10^6 bytes of payload.
//!
//! The goal is 0.8 of the baseline's throughput at 1 KiB. The mesh sender
//! uses `Handle::send_many` (batches of up to 64 messages per call to the
//! node); the node acknowledges once per read and the driver joins queued
//! frames into one write. The driver's defaults are used for links: a full
//! window waits in the node's link queue, not in the writer.
//!
//! Options: `--scale F` multiplies the message counts; for profiling one
//! case, `--only SIZE` runs one message size (and no latency), and
//! `--mesh-only` / `--tcp-only` one side.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netcluster_tokio::{
    BeaconMode, Builder, Bytes, Error, Event, Handle, NodeId, Semantics, SendError,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, Notify};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const SIZES: [(usize, &str, u64); 3] =
    [(64, "64 B", 200_000), (1024, "1 KiB", 100_000), (64 * 1024, "64 KiB", 4_000)];
const ROUND_TRIPS: usize = 5_000;
const WARMUP: usize = 200;
/// Longest any one phase may take before the run is declared stuck.
const PHASE_LIMIT: Duration = Duration::from_secs(120);

/// A payload of `size` bytes carrying `i` in its first eight.
fn payload(size: usize, i: u64) -> Vec<u8> {
    let mut v = vec![0x5a; size.max(8)];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

fn index(p: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&p[..8]);
    u64::from_le_bytes(b)
}

async fn node(name: &str, seed: Option<SocketAddr>) -> Res<Handle> {
    let mut b = Builder::new("throughput", name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .event_capacity(1 << 16);
    if let Some(s) = seed {
        b = b.seed(s);
    }
    Ok(b.start().await?)
}

/// Wakes a sender when `from`'s window towards `to` has room again, for as
/// long as it lives (a subscriber left running would cost every later
/// phase a wake-up per event).
struct Room {
    notify: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Room {
    fn watch(from: &Handle, to: NodeId) -> Room {
        let notify = Arc::new(Notify::new());
        let n = notify.clone();
        let mut events = from.events();
        let task = tokio::spawn(async move {
            while let Some(e) = events.next().await {
                if matches!(e, Event::Writable { to: w } if w == to) {
                    n.notify_one();
                }
            }
        });
        Room { notify, task }
    }
}

impl Drop for Room {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Sends one message, waiting out a full window.
async fn send(h: &Handle, to: NodeId, room: &Room, data: Bytes) -> Res<()> {
    loop {
        match h.send(to, Semantics::Sequenced, data.clone()).await {
            Ok(_) => return Ok(()),
            // A Writable sent before this wait began left a permit; the
            // timeout only guards against a lagged event stream.
            Err(Error::Send(SendError::WouldBlock)) => {
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), room.notify.notified()).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Messages per second through the mesh, `count` messages of `size`.
async fn mesh_throughput(a: &Handle, b: &Handle, size: usize, count: u64) -> Res<f64> {
    let (done_tx, done_rx) = oneshot::channel::<Result<Instant, String>>();
    let mut events = b.events();
    let from = a.id();
    tokio::spawn(async move {
        let mut next = 0u64;
        while let Some(e) = events.next().await {
            if let Event::Message { from: f, payload, .. } = e {
                if f != from {
                    continue;
                }
                // A lagging event stream would show here as a gap.
                if payload.len() != size || index(&payload) != next {
                    let _ = done_tx.send(Err(format!("message {next} missing or resized")));
                    return;
                }
                next += 1;
                if next == count {
                    let _ = done_tx.send(Ok(Instant::now()));
                    return;
                }
            }
        }
        let _ = done_tx.send(Err(format!("b stopped after {next} messages")));
    });
    let room = Room::watch(a, b.id());
    let start = Instant::now();
    // Batches of up to 64 messages per call to the node (`send_many`), so
    // the sender does not wait for the node's answer message by message.
    let mut i = 0;
    while i < count {
        let n = (count - i).min(64);
        let batch: Vec<Bytes> = (i..i + n).map(|k| payload(size, k).into()).collect();
        let r = a.send_many(b.id(), Semantics::Sequenced, batch).await?;
        i += r.ids.len() as u64;
        match r.refused {
            None => {}
            Some(SendError::WouldBlock) => {
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), room.notify.notified()).await;
            }
            Some(e) => return Err(Error::Send(e).into()),
        }
    }
    let end = tokio::time::timeout(PHASE_LIMIT, done_rx).await??.map_err(|e| e.to_string())?;
    Ok(count as f64 / (end - start).as_secs_f64())
}

/// Messages per second over plain TCP: a length-prefixed sink.
async fn tcp_throughput(size: usize, count: u64, buffered: bool) -> Res<f64> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    let sink = tokio::spawn(async move {
        let (s, _) = listener.accept().await?;
        let mut r = BufReader::with_capacity(64 * 1024, s);
        let mut buf = vec![0u8; size.max(8)];
        for i in 0..count {
            let len = r.read_u32().await? as usize;
            if len != buf.len() {
                return Err(std::io::Error::other("length mismatch"));
            }
            r.read_exact(&mut buf).await?;
            if index(&buf) != i {
                return Err(std::io::Error::other("out of order"));
            }
        }
        Ok::<Instant, std::io::Error>(Instant::now())
    });
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let start = Instant::now();
    if buffered {
        let mut w = BufWriter::with_capacity(64 * 1024, stream);
        for i in 0..count {
            let p = payload(size, i);
            w.write_u32(p.len() as u32).await?;
            w.write_all(&p).await?;
        }
        w.flush().await?;
    } else {
        let mut w = stream;
        for i in 0..count {
            let p = payload(size, i);
            let mut frame = Vec::with_capacity(4 + p.len());
            frame.extend_from_slice(&(p.len() as u32).to_be_bytes());
            frame.extend_from_slice(&p);
            w.write_all(&frame).await?;
        }
    }
    let end = tokio::time::timeout(PHASE_LIMIT, sink).await???;
    Ok(count as f64 / (end - start).as_secs_f64())
}

/// Round trips of a 64 B request/response over the mesh.
async fn mesh_latency(a: &Handle, b: &Handle) -> Res<Vec<Duration>> {
    let (a_id, b_id) = (a.id(), b.id());
    let mut b_events = b.events();
    let echo = b.clone();
    let b_room = Room::watch(b, a_id);
    let echo_task = tokio::spawn(async move {
        while let Some(e) = b_events.next().await {
            if let Event::Message { from, payload, .. } = e {
                if from == a_id && send(&echo, a_id, &b_room, payload).await.is_err() {
                    return;
                }
            }
        }
    });
    let room = Room::watch(a, b_id);
    let mut a_events = a.events();
    let mut rtts = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..(WARMUP + ROUND_TRIPS) as u64 {
        let start = Instant::now();
        send(a, b_id, &room, payload(64, i).into()).await?;
        let back = tokio::time::timeout(PHASE_LIMIT, async {
            while let Some(e) = a_events.next().await {
                if let Event::Message { from, payload, .. } = e {
                    if from == b_id {
                        return Some(payload);
                    }
                }
            }
            None
        })
        .await?
        .ok_or("a stopped")?;
        if index(&back) != i {
            return Err("echo out of order".into());
        }
        if i as usize >= WARMUP {
            rtts.push(start.elapsed());
        }
    }
    echo_task.abort();
    Ok(rtts)
}

/// Round trips of a 64 B request/response over a TCP echo.
async fn tcp_latency() -> Res<Vec<Duration>> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await?;
        s.set_nodelay(true)?;
        let mut buf = [0u8; 4 + 64];
        loop {
            if s.read_exact(&mut buf).await.is_err() {
                return Ok::<(), std::io::Error>(());
            }
            s.write_all(&buf).await?;
        }
    });
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut back = [0u8; 4 + 64];
    let mut rtts = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..(WARMUP + ROUND_TRIPS) as u64 {
        let start = Instant::now();
        let mut frame = (64u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload(64, i));
        s.write_all(&frame).await?;
        s.read_exact(&mut back).await?;
        if index(&back[4..]) != i {
            return Err("echo out of order".into());
        }
        if i as usize >= WARMUP {
            rtts.push(start.elapsed());
        }
    }
    Ok(rtts)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

struct Opts {
    scale: f64,
    /// Only this message size, and no latency (for profiling one case).
    only: Option<usize>,
    /// Skip the mesh or the baseline (for profiling one side).
    mesh: bool,
    tcp: bool,
}

fn opts() -> Res<Opts> {
    let mut args = std::env::args().skip(1);
    let mut o = Opts { scale: 1.0, only: None, mesh: true, tcp: true };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--scale" => {
                o.scale = args.next().ok_or("--scale needs a number")?.parse()?;
                if !(o.scale > 0.0 && o.scale <= 100.0) {
                    return Err("--scale must be in (0, 100]".into());
                }
            }
            "--only" => {
                let size: usize = args.next().ok_or("--only needs a size")?.parse()?;
                if !SIZES.iter().any(|s| s.0 == size) {
                    return Err(format!("--only takes one of {:?}", SIZES.map(|s| s.0)).into());
                }
                o.only = Some(size);
            }
            "--mesh-only" => o.tcp = false,
            "--tcp-only" => o.mesh = false,
            other => {
                return Err(format!(
                    "unknown argument {other:?} (--scale F, --only SIZE, --mesh-only, --tcp-only)"
                )
                .into())
            }
        }
    }
    Ok(o)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Res<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .init();
    let o = opts()?;
    let a = node("a", None).await?;
    let b = node("b", Some(a.link_addr())).await?;
    let end = Instant::now() + Duration::from_secs(20);
    while !(a.peers().iter().any(|p| p.id == b.id()) && b.peers().iter().any(|p| p.id == a.id())) {
        if Instant::now() > end {
            return Err("the two nodes did not find each other".into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    println!(
        "| message | messages | mesh msg/s | mesh MB/s | TCP msg/s | TCP MB/s | ratio | TCP buffered MB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (size, label, n) in SIZES {
        if o.only.is_some_and(|only| only != size) {
            continue;
        }
        let n = ((n as f64 * o.scale) as u64).max(10);
        let mesh = if o.mesh { mesh_throughput(&a, &b, size, n).await? } else { f64::NAN };
        let tcp = if o.tcp { tcp_throughput(size, n, false).await? } else { f64::NAN };
        let tcp_buf = if o.tcp { tcp_throughput(size, n, true).await? } else { f64::NAN };
        let mb = |rate: f64| rate * size as f64 / 1e6;
        println!(
            "| {label} | {n} | {mesh:.0} | {:.1} | {tcp:.0} | {:.1} | {:.2} | {:.1} |",
            mb(mesh),
            mb(tcp),
            mesh / tcp,
            mb(tcp_buf),
        );
    }

    if o.only.is_none() {
        println!();
        println!("| 64 B round trip ({ROUND_TRIPS}) | p50 | p99 |");
        println!("|---|---:|---:|");
        let mut rows = Vec::new();
        if o.mesh {
            rows.push(("mesh (Sequenced)", mesh_latency(&a, &b).await?));
        }
        if o.tcp {
            rows.push(("TCP echo", tcp_latency().await?));
        }
        for (name, mut rtts) in rows {
            rtts.sort_unstable();
            println!(
                "| {name} | {} | {} |",
                us(percentile(&rtts, 0.5)),
                us(percentile(&rtts, 0.99))
            );
        }
    }

    a.shutdown().await;
    b.shutdown().await;
    Ok(())
}
