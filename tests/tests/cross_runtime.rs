//! One cluster, three drivers: a `netcluster-tokio` node, a
//! `netcluster-async-std` node (async-io) and a `netcluster-mio` node in one
//! test process, on loopback only. They discover each other, exchange a
//! message in each delivery semantics in every direction, ping each other,
//! the mio node shouts to a group the other two joined, and each node echoes
//! a stream the previous one opens (so every driver opens and accepts one);
//! then the mio node leaves cleanly and the other two report it left.
//!
//! Every node's events are recorded from start to stop, so the final checks
//! run on complete logs: each message arrived exactly once, at the right
//! node, and nothing else arrived. Every wait polls against a deadline; the
//! nodes are shut down by a guard even when an assertion fails.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use netcluster_core::node::{DownReason, Event, MessageId, PeerInfo};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{LinkMode, NodeId};
use netcluster_tokio::BeaconMode;

const DEADLINE: Duration = Duration::from_secs(30);
/// The group the tokio and async-io nodes join, and the mio node does not.
const GROUP: &str = "pair";
const SHOUT: &[u8] = b"shout from mio";
/// Bytes each way on each stream: more than the stream buffers hold, so
/// backpressure and flow control take part.
const STREAM_BYTES: usize = 256 * 1024;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn lo() -> IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

/// A cluster name no other run (or concurrent test) uses.
fn unique_cluster(tag: &str) -> String {
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("x-{tag}-{}-{nanos}", std::process::id())
}

/// Polls `cond` until it holds; panics naming `what` after the deadline.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How the three nodes find each other.
#[derive(Debug, Clone, Copy)]
enum Discovery {
    /// No beacons; the later nodes are given the earlier ones' link
    /// addresses.
    Seeds(LinkMode),
    /// IPv4 multicast beacons on loopback, on a group of the test's own.
    Multicast(SocketAddrV4),
}

/// The same builder calls for each driver's `Builder` (they share one
/// shape but are different types).
macro_rules! configure {
    ($builder:expr, $discovery:expr, $seeds:expr) => {{
        // The recorders must never lag, or the logs would be incomplete:
        // room for every event of a run (stream events included), however
        // slowly a loaded machine schedules the recorder.
        let mut b = $builder.bind_ip(lo()).link_port(0).event_capacity(1 << 16);
        match $discovery {
            Discovery::Seeds(mode) => {
                b = b.link_mode(mode).beacons(BeaconMode::Off);
                for s in $seeds {
                    b = b.seed(*s);
                }
            }
            Discovery::Multicast(group) => {
                b = b
                    .interface("127.0.0.1")
                    .multicast_ttl(0)
                    .beacons(BeaconMode::multicast_v4(group));
            }
        }
        b
    }};
}

/// Every event a node reported, from just after its start until it
/// stopped.
#[derive(Default)]
struct Log {
    events: Mutex<Vec<Event>>,
    /// Resync events the recorder got: membership events it was too slow
    /// for (must stay 0 for the logs to be complete).
    resyncs: AtomicU64,
    /// Set when the node's event stream ended (the node stopped).
    ended: AtomicBool,
}

impl Log {
    fn push(&self, e: Event) {
        if matches!(e, Event::Resync { .. }) {
            self.resyncs.fetch_add(1, Ordering::AcqRel);
        }
        self.events().push(e);
    }

    fn events(&self) -> MutexGuard<'_, Vec<Event>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn end(&self) {
        self.ended.store(true, Ordering::Release);
    }

    fn has(&self, f: impl Fn(&Event) -> bool) -> bool {
        self.events().iter().any(f)
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events().iter().filter(|e| f(e)).count()
    }
}

/// One node, on whichever driver, driven from the test's (blocking)
/// thread.
#[derive(Clone)]
enum Driver {
    Tokio(netcluster_tokio::Handle),
    AsyncIo(netcluster_async_std::Handle),
    Mio(netcluster_mio::Handle),
}

struct Member {
    name: &'static str,
    driver: Driver,
    log: Arc<Log>,
    /// The tokio driver's runtime (every member holds it, so it outlives
    /// the tokio node's handle).
    rt: Arc<tokio::runtime::Runtime>,
}

/// `fut` under async-io's own `block_on`, or `None` after the deadline.
fn async_io_bounded<T>(fut: impl std::future::Future<Output = T>) -> Option<T> {
    async_io::block_on(futures_lite::future::or(async { Some(fut.await) }, async {
        async_io::Timer::after(DEADLINE).await;
        None
    }))
}

impl Member {
    fn start_tokio(
        rt: &Arc<tokio::runtime::Runtime>,
        name: &'static str,
        cluster: &str,
        d: Discovery,
        seeds: &[SocketAddr],
    ) -> Member {
        let b = configure!(netcluster_tokio::Builder::new(cluster, name), d, seeds);
        let h = rt.block_on(b.start()).expect("the tokio node starts");
        let log = Arc::new(Log::default());
        let (mut events, l) = (h.events(), Arc::clone(&log));
        rt.spawn(async move {
            while let Some(e) = events.next().await {
                l.push(e);
            }
            l.end();
        });
        Member { name, driver: Driver::Tokio(h), log, rt: Arc::clone(rt) }
    }

    fn start_async_io(
        rt: &Arc<tokio::runtime::Runtime>,
        name: &'static str,
        cluster: &str,
        d: Discovery,
        seeds: &[SocketAddr],
    ) -> Member {
        let b = configure!(netcluster_async_std::Builder::new(cluster, name), d, seeds);
        let h = async_io::block_on(b.start()).expect("the async-io node starts");
        let log = Arc::new(Log::default());
        let (mut events, l) = (h.events(), Arc::clone(&log));
        std::thread::spawn(move || {
            async_io::block_on(async {
                while let Some(e) = events.next().await {
                    l.push(e);
                }
            });
            l.end();
        });
        Member { name, driver: Driver::AsyncIo(h), log, rt: Arc::clone(rt) }
    }

    fn start_mio(
        rt: &Arc<tokio::runtime::Runtime>,
        name: &'static str,
        cluster: &str,
        d: Discovery,
        seeds: &[SocketAddr],
    ) -> Member {
        let b = configure!(netcluster_mio::Builder::new(cluster, name), d, seeds);
        let h = b.start().expect("the mio node starts");
        let log = Arc::new(Log::default());
        let (mut events, l) = (h.events(), Arc::clone(&log));
        std::thread::spawn(move || {
            for e in events.by_ref() {
                l.push(e);
            }
            l.end();
        });
        Member { name, driver: Driver::Mio(h), log, rt: Arc::clone(rt) }
    }

    fn id(&self) -> NodeId {
        match &self.driver {
            Driver::Tokio(h) => h.id(),
            Driver::AsyncIo(h) => h.id(),
            Driver::Mio(h) => h.id(),
        }
    }

    fn link_addr(&self) -> SocketAddr {
        match &self.driver {
            Driver::Tokio(h) => h.link_addr(),
            Driver::AsyncIo(h) => h.link_addr(),
            Driver::Mio(h) => h.link_addr(),
        }
    }

    fn peers(&self) -> Vec<PeerInfo> {
        match &self.driver {
            Driver::Tokio(h) => h.peers(),
            Driver::AsyncIo(h) => h.peers(),
            Driver::Mio(h) => h.peers(),
        }
    }

    fn is_running(&self) -> bool {
        match &self.driver {
            Driver::Tokio(h) => h.is_running(),
            Driver::AsyncIo(h) => h.is_running(),
            Driver::Mio(h) => h.is_running(),
        }
    }

    fn join(&self, group: &str) {
        let r = match &self.driver {
            Driver::Tokio(h) => self.rt.block_on(h.join(group)).map_err(|e| e.to_string()),
            Driver::AsyncIo(h) => async_io::block_on(h.join(group)).map_err(|e| e.to_string()),
            Driver::Mio(h) => h.join(group).map_err(|e| e.to_string()),
        };
        r.unwrap_or_else(|e| panic!("{} cannot join {group}: {e}", self.name));
    }

    fn send(&self, to: NodeId, s: Semantics, payload: Vec<u8>) -> MessageId {
        let r = match &self.driver {
            Driver::Tokio(h) => self.rt.block_on(h.send(to, s, payload)).map_err(|e| e.to_string()),
            Driver::AsyncIo(h) => {
                async_io::block_on(h.send(to, s, payload)).map_err(|e| e.to_string())
            }
            Driver::Mio(h) => h.send(to, s, payload).map_err(|e| e.to_string()),
        };
        r.unwrap_or_else(|e| panic!("{} cannot send {s:?}: {e}", self.name))
    }

    fn shout(&self, group: &str, s: Semantics, payload: &'static [u8]) -> MessageId {
        let r = match &self.driver {
            Driver::Tokio(h) => {
                self.rt.block_on(h.shout(group, s, payload)).map_err(|e| e.to_string())
            }
            Driver::AsyncIo(h) => {
                async_io::block_on(h.shout(group, s, payload)).map_err(|e| e.to_string())
            }
            Driver::Mio(h) => h.shout(group, s, payload).map_err(|e| e.to_string()),
        };
        r.unwrap_or_else(|e| panic!("{} cannot shout: {e}", self.name))
    }

    fn ping(&self, to: NodeId) -> MessageId {
        let r = match &self.driver {
            Driver::Tokio(h) => self.rt.block_on(h.ping(to)).map_err(|e| e.to_string()),
            Driver::AsyncIo(h) => async_io::block_on(h.ping(to)).map_err(|e| e.to_string()),
            Driver::Mio(h) => h.ping(to).map_err(|e| e.to_string()),
        };
        r.unwrap_or_else(|e| panic!("{} cannot ping: {e}", self.name))
    }

    /// Leaves cleanly; false if that took longer than the deadline.
    fn shutdown(&self) -> bool {
        match &self.driver {
            Driver::Tokio(h) => self
                .rt
                .block_on(async { tokio::time::timeout(DEADLINE, h.shutdown()).await.is_ok() }),
            Driver::AsyncIo(h) => async_io_bounded(h.shutdown()).is_some(),
            Driver::Mio(h) => {
                // The mio handle blocks: bound it from another thread.
                let (tx, rx) = std::sync::mpsc::channel();
                let h = h.clone();
                std::thread::spawn(move || {
                    h.shutdown();
                    let _ = tx.send(());
                });
                rx.recv_timeout(DEADLINE).is_ok()
            }
        }
    }

    /// Whether this node sees `other`, under its own name.
    fn sees(&self, other: &Member) -> bool {
        self.peers().iter().any(|p| p.id == other.id() && p.name == other.name)
    }

    fn sees_in_group(&self, other: &Member, group: &str) -> bool {
        self.peers().iter().any(|p| p.id == other.id() && p.groups.iter().any(|g| g == group))
    }
}

/// The three nodes; dropping it shuts down every node still running, so a
/// failed assertion leaves no node behind.
struct Cluster {
    members: Vec<Member>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for m in &self.members {
            if m.is_running() && !m.shutdown() {
                eprintln!("{} did not shut down within the deadline", m.name);
            }
        }
    }
}

/// The payload `from` sends to `to` in semantics `s`: unique per triple, so
/// each arrival can be traced to its send.
fn payload(from: &str, to: &str, s: Semantics) -> Vec<u8> {
    format!("{s:?} {from} -> {to}").into_bytes()
}

fn run(tag: &str, d: Discovery) {
    init_tracing();
    let cluster = unique_cluster(tag);
    let rt = Arc::new(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime"),
    );
    let mut nodes = Cluster { members: Vec::new() };
    nodes.members.push(Member::start_tokio(&rt, "tokio-node", &cluster, d, &[]));
    let first = [nodes.members[0].link_addr()];
    nodes.members.push(Member::start_async_io(&rt, "asyncio-node", &cluster, d, &first));
    let second = [first[0], nodes.members[1].link_addr()];
    nodes.members.push(Member::start_mio(&rt, "mio-node", &cluster, d, &second));
    let all = &nodes.members;
    let (t, s, m) = (&all[0], &all[1], &all[2]);

    // Discovery: each sees the other two, with their names.
    for a in all {
        for b in all.iter().filter(|b| b.id() != a.id()) {
            wait_for(&format!("{} to see {} ({d:?})", a.name, b.name), || a.sees(b));
        }
    }

    // Groups: the tokio and async-io nodes join; the mio node must know it
    // before its shout, or the shout would reach nobody.
    t.join(GROUP);
    s.join(GROUP);
    wait_for("every node to know the group's members", || {
        m.sees_in_group(t, GROUP)
            && m.sees_in_group(s, GROUP)
            && t.sees_in_group(s, GROUP)
            && s.sees_in_group(t, GROUP)
            && !t.sees_in_group(m, GROUP)
    });

    // Every node sends every other node one message in each semantics, and
    // pings it.
    let mut acked: HashMap<NodeId, Vec<(MessageId, NodeId)>> = HashMap::new();
    let mut pings: HashMap<NodeId, Vec<(MessageId, NodeId)>> = HashMap::new();
    for a in all {
        for b in all.iter().filter(|b| b.id() != a.id()) {
            for sem in [Semantics::Reliable, Semantics::Sequenced, Semantics::Datagram] {
                let id = a.send(b.id(), sem, payload(a.name, b.name, sem));
                if sem != Semantics::Datagram {
                    acked.entry(a.id()).or_default().push((id, b.id()));
                }
            }
            pings.entry(a.id()).or_default().push((a.ping(b.id()), b.id()));
        }
    }
    // The mio node shouts to the group it is not in.
    let shout = m.shout(GROUP, Semantics::Reliable, SHOUT);
    acked.entry(m.id()).or_default().extend([(shout, t.id()), (shout, s.id())]);

    let by_id: HashMap<NodeId, &Member> = all.iter().map(|n| (n.id(), n)).collect();
    let expected_at = |b: &Member| -> Vec<(NodeId, Option<String>, Semantics, Vec<u8>)> {
        let mut want = Vec::new();
        for a in all.iter().filter(|a| a.id() != b.id()) {
            for sem in [Semantics::Reliable, Semantics::Sequenced, Semantics::Datagram] {
                want.push((a.id(), None, sem, payload(a.name, b.name, sem)));
            }
        }
        if b.id() != m.id() {
            want.push((m.id(), Some(GROUP.to_string()), Semantics::Reliable, SHOUT.to_vec()));
        }
        want.sort();
        want
    };
    let received_at = |b: &Member| -> Vec<(NodeId, Option<String>, Semantics, Vec<u8>)> {
        let mut got: Vec<_> = b
            .log
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Message { from, group, semantics, payload } => {
                    Some((*from, group.clone(), *semantics, payload.to_vec()))
                }
                _ => None,
            })
            .collect();
        got.sort();
        got
    };

    for b in all {
        let want = expected_at(b);
        wait_for(&format!("{}'s messages", b.name), || received_at(b).len() >= want.len());
        assert_eq!(received_at(b), want, "messages at {}", b.name);
    }
    for a in all {
        for (id, to) in &acked[&a.id()] {
            let to_name = by_id[to].name;
            wait_for(&format!("{}'s report that {id:?} reached {to_name}", a.name), || {
                a.log.has(|e| matches!(e, Event::Delivered { id: i, to: t } if i == id && t == to))
            });
        }
        for (id, to) in &pings[&a.id()] {
            let to_name = by_id[to].name;
            wait_for(&format!("{}'s pong from {to_name}", a.name), || {
                a.log.has(|e| matches!(e, Event::Pong { id: i, from, .. } if i == id && from == to))
            });
        }
        let failed = a.log.count(|e| matches!(e, Event::SendFailed { .. }));
        assert_eq!(failed, 0, "{} reported failed sends: {:?}", a.name, a.log.events());
    }

    streams_in_a_ring(all);

    // The mio node leaves cleanly; the others report it left.
    assert!(m.shutdown(), "the mio node did not shut down in time");
    assert!(!m.is_running());
    for a in [t, s] {
        wait_for(&format!("{} to report the mio node left", a.name), || {
            a.log.has(|e| matches!(e, Event::PeerDown { id, .. } if *id == m.id()))
        });
        let reasons: Vec<(String, DownReason)> = a
            .log
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::PeerDown { id, name, reason } if *id == m.id() => {
                    Some((name.clone(), *reason))
                }
                _ => None,
            })
            .collect();
        assert_eq!(reasons, [("mio-node".to_string(), DownReason::Left)], "at {}", a.name);
        wait_for(&format!("the mio node to leave {}'s peers", a.name), || {
            !a.peers().iter().any(|p| p.id == m.id())
        });
    }
    assert!(t.sees(s) && s.sees(t), "the tokio and async-io nodes lost each other");

    assert!(t.shutdown() && s.shutdown(), "a node did not shut down in time");
    // Each recorder ends when its node stops: from here the logs are
    // complete, and each message must have arrived exactly once.
    for a in all {
        wait_for(&format!("{}'s event stream to end", a.name), || {
            a.log.ended.load(Ordering::Acquire)
        });
        assert_eq!(a.log.resyncs.load(Ordering::Acquire), 0, "{}'s recorder lagged", a.name);
        assert_eq!(received_at(a), expected_at(a), "messages at {} over its lifetime", a.name);
        for (id, to) in &acked[&a.id()] {
            let n = a
                .log
                .count(|e| matches!(e, Event::Delivered { id: i, to: t } if i == id && t == to));
            assert_eq!(n, 1, "{}'s reports of {id:?} to {}", a.name, by_id[to].name);
        }
    }
    drop(nodes);
}

/// Each node opens a stream to the next one in a ring (tokio to async-io,
/// async-io to mio, mio to tokio), so each driver both opens and accepts:
/// the opener writes its bytes and finishes, the acceptor reads to the end
/// and echoes everything back, and the opener reads the echo to the end.
fn streams_in_a_ring(all: &[Member]) {
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, a) in all.iter().enumerate() {
        let b = &all[(i + 1) % all.len()];
        let (tx_server, tx_client) = (tx.clone(), tx.clone());
        let (server, rt) = (b.driver.clone(), Arc::clone(&b.rt));
        std::thread::spawn(move || {
            let _ = tx_server.send(Echo::Served(i, echo_server(&server, &rt)));
        });
        let (client, rt, peer) = (a.driver.clone(), Arc::clone(&a.rt), b.id());
        std::thread::spawn(move || {
            let sent = ring_data(i);
            let _ = tx_client.send(Echo::Back(i, echo_client(&client, &rt, peer, &sent)));
        });
    }
    drop(tx);
    let end = Instant::now() + DEADLINE;
    for _ in 0..2 * all.len() {
        let left = end.saturating_duration_since(Instant::now());
        let done = rx.recv_timeout(left).expect("the ring's streams to finish in time");
        match done {
            Echo::Served(i, r) => {
                let (a, b) = (&all[i], &all[(i + 1) % all.len()]);
                let (peer, len) =
                    r.unwrap_or_else(|e| panic!("{} serving {}'s stream: {e}", b.name, a.name));
                assert_eq!(peer, a.id(), "{} accepted a stream from the wrong peer", b.name);
                assert_eq!(len, STREAM_BYTES, "bytes {} got from {}", b.name, a.name);
            }
            Echo::Back(i, r) => {
                let (a, b) = (&all[i], &all[(i + 1) % all.len()]);
                let back = r.unwrap_or_else(|e| panic!("{}'s stream to {}: {e}", a.name, b.name));
                assert!(back == ring_data(i), "{}'s echo from {} differs", a.name, b.name);
            }
        }
    }
}

/// What a ring stream's thread reports, with the opener's index.
enum Echo {
    /// The acceptor's side: the stream's peer and how many bytes it echoed.
    Served(usize, Result<(NodeId, usize), String>),
    /// The opener's side: what came back.
    Back(usize, Result<Vec<u8>, String>),
}

/// The bytes the `i`th node sends: a period (251) prime to every buffer
/// size, so a lost, repeated or reordered chunk shows.
fn ring_data(i: usize) -> Vec<u8> {
    (0..STREAM_BYTES).map(|n| ((n + 17 * i) % 251) as u8).collect()
}

fn io_err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Opens a stream to `peer`, sends `data`, finishes, and reads the answer to
/// its end.
fn echo_client(
    d: &Driver,
    rt: &tokio::runtime::Runtime,
    peer: NodeId,
    data: &[u8],
) -> Result<Vec<u8>, String> {
    let mut back = Vec::new();
    match d {
        Driver::Tokio(h) => rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = h.open_stream(peer).await.map_err(io_err)?;
            s.write_all(data).await.map_err(io_err)?;
            s.finish().await.map_err(io_err)?;
            s.read_to_end(&mut back).await.map_err(io_err)
        })?,
        Driver::AsyncIo(h) => async_io::block_on(async {
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let mut s = h.open_stream(peer).await.map_err(io_err)?;
            s.write_all(data).await.map_err(io_err)?;
            s.finish().await.map_err(io_err)?;
            s.read_to_end(&mut back).await.map_err(io_err)
        })?,
        Driver::Mio(h) => {
            use std::io::{Read, Write};
            let mut s = h.open_stream(peer).map_err(io_err)?;
            s.write_all(data).map_err(io_err)?;
            s.finish().map_err(io_err)?;
            s.read_to_end(&mut back).map_err(io_err)?
        }
    };
    Ok(back)
}

/// Accepts one stream, reads it to its end, writes it all back and
/// finishes; returns the stream's peer and the byte count.
fn echo_server(d: &Driver, rt: &tokio::runtime::Runtime) -> Result<(NodeId, usize), String> {
    let mut got = Vec::new();
    let peer = match d {
        Driver::Tokio(h) => rt.block_on(async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = h.accept_stream().await.map_err(io_err)?;
            s.read_to_end(&mut got).await.map_err(io_err)?;
            s.write_all(&got).await.map_err(io_err)?;
            s.finish().await.map_err(io_err)?;
            Ok::<_, String>(s.peer())
        })?,
        Driver::AsyncIo(h) => async_io::block_on(async {
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let mut s = h.accept_stream().await.map_err(io_err)?;
            s.read_to_end(&mut got).await.map_err(io_err)?;
            s.write_all(&got).await.map_err(io_err)?;
            s.finish().await.map_err(io_err)?;
            Ok::<_, String>(s.peer())
        })?,
        Driver::Mio(h) => {
            use std::io::{Read, Write};
            let mut s = h.accept_stream().map_err(io_err)?;
            s.read_to_end(&mut got).map_err(io_err)?;
            s.write_all(&got).map_err(io_err)?;
            s.finish().map_err(io_err)?;
            s.peer()
        }
    };
    Ok((peer, got.len()))
}

#[test]
fn three_runtimes_by_seeds_stream_links() {
    run("stream", Discovery::Seeds(LinkMode::Stream));
}

#[test]
fn three_runtimes_by_seeds_datagram_links() {
    run("dgram", Discovery::Seeds(LinkMode::Datagram));
}

/// Whether the kernel delivers IPv4 multicast on loopback, tried with the
/// shared socket layer itself.
fn multicast_on_loopback(group: SocketAddrV4) -> Result<(), String> {
    use netcluster_tokio::net::{InterfaceSelector, NetConfig, Sockets};
    let cfg = NetConfig {
        bind_ip: lo(),
        link_port: 0,
        link_mode: LinkMode::Datagram,
        beacons: BeaconMode::multicast_v4(group),
        interfaces: vec![InterfaceSelector::Addr(lo())],
        multicast_ttl: 0,
        multicast_loop: true,
    };
    let s = Sockets::open(&cfg).map_err(|e| e.to_string())?;
    let u = s.unicast_v4.as_ref().ok_or("no unicast socket")?;
    let r = s.beacon_v4.as_ref().ok_or("no beacon socket")?;
    u.send_to(b"probe", s.beacon_targets[0].to).map_err(|e| e.to_string())?;
    let end = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 64];
    while Instant::now() < end {
        match r.recv_from(&mut buf) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Err("a multicast probe sent on loopback never arrived".into())
}

#[test]
fn three_runtimes_by_multicast_on_loopback() {
    // A port of our own, so concurrent runs do not hear each other.
    let port = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let group = SocketAddrV4::new(Ipv4Addr::new(239, 255, 77, 78), port);
    if let Err(why) = multicast_on_loopback(group) {
        println!("skipped: multicast on loopback unavailable: {why}");
        return;
    }
    run("mcast", Discovery::Multicast(group));
}
