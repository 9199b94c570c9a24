//! The tracker on loopback: nodes with beacons off find each other only
//! through it, also across a tracker restart; clusters stay apart; entries
//! expire; bad datagrams and floods are counted and dropped. Every wait is
//! a poll with a generous deadline; every task is stopped at the end.
//!
//! The last test drives the same through the `netcluster` binary: a
//! `netcluster tracker`, agents with `--beacon off --tracker`, and
//! `members --json`.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use netcluster_cli::tracker::{
    spawn_tracker_client_with, TrackerClientConfig, TrackerConfig, TrackerServer, TrackerStats,
};
use netcluster_control::tracker::{Peers, Query, Register, TrackerMessage};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::link::Ping;
use netcluster_core::wire::{cluster_hash, Body};
use netcluster_tokio::{BeaconMode, Builder, Handle, NodeId};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

const DEADLINE: Duration = Duration::from_secs(30);

fn lo() -> std::net::IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

/// A running tracker, aborted on drop so a failing test leaves nothing.
struct Tracker {
    addr: SocketAddr,
    stats: Arc<TrackerStats>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Tracker {
    async fn start(addr: SocketAddr, cfg: TrackerConfig) -> Tracker {
        // The port of a tracker just stopped may take a moment to be free.
        let end = tokio::time::Instant::now() + DEADLINE;
        let server = loop {
            match TrackerServer::bind(addr, cfg.clone()).await {
                Ok(s) => break s,
                Err(e) if tokio::time::Instant::now() < end => {
                    eprintln!("bind {addr}: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot bind the tracker on {addr}: {e}"),
            }
        };
        let addr = server.local_addr();
        let stats = server.stats();
        Tracker { addr, stats, task: tokio::spawn(server.run()) }
    }

    async fn stop(self) {
        let mut me = self;
        me.task.abort();
        let _ = (&mut me.task).await;
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Nodes and their client tasks, shut down on drop.
struct Nodes(Vec<(Handle, JoinHandle<()>)>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for (_, task) in &self.0 {
            task.abort();
        }
    }
}

impl Nodes {
    /// Stops every node, then waits for each client task to end by itself
    /// (it deregisters once its node has stopped).
    async fn shutdown(mut self) {
        for (h, _) in &self.0 {
            h.shutdown().await;
        }
        for (_, task) in std::mem::take(&mut self.0) {
            tokio::time::timeout(DEADLINE, task).await.expect("client ends with its node").unwrap();
        }
    }
}

fn client_cfg(tracker: SocketAddr, cluster: &str) -> TrackerClientConfig {
    let mut cfg = TrackerClientConfig::new(tracker.to_string(), cluster);
    cfg.ttl = Duration::from_secs(3);
    cfg.reply_timeout = Duration::from_secs(1);
    cfg.retry_min = Duration::from_millis(100);
    cfg.retry_max = Duration::from_secs(1);
    cfg
}

/// A node with beacons off and no seeds, registered with the tracker.
async fn node(
    tracker: SocketAddr,
    cluster: &str,
    name: &str,
    tweak: impl FnOnce(&mut TrackerClientConfig),
) -> (Handle, JoinHandle<()>) {
    let h = Builder::new(cluster, name)
        .bind_ip(lo())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .start()
        .await
        .expect("node starts");
    let mut cfg = client_cfg(tracker, cluster);
    tweak(&mut cfg);
    let task = spawn_tracker_client_with(h.clone(), cfg);
    (h, task)
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(tokio::time::Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all_see_each_other(nodes: &Nodes) -> bool {
    let ids: Vec<NodeId> = nodes.0.iter().map(|(h, _)| h.id()).collect();
    nodes.0.iter().all(|(h, _)| {
        let peers: BTreeSet<NodeId> = h.peers().iter().map(|p| p.id).collect();
        ids.iter().filter(|id| **id != h.id()).all(|id| peers.contains(id))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_find_each_other_through_the_tracker() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let a = node(t.addr, "trk-three", "a", |_| {}).await;
    let b = node(t.addr, "trk-three", "b", |_| {}).await;
    // Registers "the address you see me at": the tracker fills in the
    // source address of the REGISTER.
    let c = Builder::new("trk-three", "c")
        .bind_ip(lo())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .start()
        .await
        .unwrap();
    let mut cfg = client_cfg(t.addr, "trk-three");
    cfg.advertise = Some((Ipv4Addr::UNSPECIFIED, c.link_addr().port()).into());
    let c_task = spawn_tracker_client_with(c.clone(), cfg);
    let nodes = Nodes(vec![a, b, (c, c_task)]);
    wait_for("three nodes to see each other", || all_see_each_other(&nodes)).await;
    assert_eq!(t.stats.entries(), 3);
    assert_eq!(t.stats.malformed(), 0);
    nodes.shutdown().await;
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_converge_after_the_tracker_restarts_on_the_same_port() {
    let t1 = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let addr = t1.addr;
    let a = node(addr, "trk-restart", "a", |_| {}).await;
    wait_for("a to register", || t1.stats.entries() == 1).await;
    t1.stop().await;

    // The new tracker knows nobody: b and c can find a only once a has
    // noticed and registered again.
    let t2 = Tracker::start(addr, TrackerConfig::default()).await;
    let b = node(addr, "trk-restart", "b", |_| {}).await;
    let c = node(addr, "trk-restart", "c", |_| {}).await;
    let nodes = Nodes(vec![a, b, c]);
    wait_for("all three registered with the new tracker", || t2.stats.entries() == 3).await;
    wait_for("three nodes to see each other", || all_see_each_other(&nodes)).await;
    nodes.shutdown().await;
    t2.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_stops_is_forgotten_at_once() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    // A long TTL: only the deregistration can empty the table in time.
    let long = |c: &mut TrackerClientConfig| c.ttl = Duration::from_secs(600);
    let a = node(t.addr, "trk-leave", "a", long).await;
    let b = node(t.addr, "trk-leave", "b", long).await;
    let nodes = Nodes(vec![a, b]);
    wait_for("two entries", || t.stats.entries() == 2).await;
    nodes.shutdown().await;
    wait_for("the table to empty", || t.stats.entries() == 0).await;
    assert_eq!(t.stats.expired(), 0, "removed by deregistration, not expiry");
    t.stop().await;
}

/// Sends `msg` and returns the PEERS that answers it, if one comes in 2 s.
async fn ask(sock: &UdpSocket, to: SocketAddr, msg: TrackerMessage) -> Option<Peers> {
    let bytes = ControlFrame::new(ControlMessage::Tracker(msg)).to_bytes().unwrap();
    sock.send_to(&bytes, to).await.unwrap();
    recv_peers(sock, Duration::from_secs(2)).await
}

async fn recv_peers(sock: &UdpSocket, within: Duration) -> Option<Peers> {
    let mut buf = vec![0u8; 2048];
    let (n, _) = tokio::time::timeout(within, sock.recv_from(&mut buf)).await.ok()?.unwrap();
    match ControlFrame::parse(&Bytes::copy_from_slice(&buf[..n])).unwrap().message {
        ControlMessage::Tracker(TrackerMessage::Peers(p)) => Some(p),
        other => panic!("unexpected answer {other:?}"),
    }
}

fn register(cluster: &str, id: u8, ttl_s: u16) -> TrackerMessage {
    Register {
        cluster_hash: cluster_hash(cluster),
        node_id: NodeId([id; 16]),
        incarnation: 1,
        ttl_s,
        link_addr: (Ipv4Addr::UNSPECIFIED, 7000 + u16::from(id)).into(),
    }
    .into()
}

fn query(cluster: &str, id: u8, offset: u16) -> TrackerMessage {
    Query { cluster_hash: cluster_hash(cluster), node_id: NodeId([id; 16]), offset, max: 0 }.into()
}

fn ids(p: &Peers) -> Vec<u8> {
    p.peers.iter().map(|e| e.node_id.0[0]).collect()
}

async fn socket() -> UdpSocket {
    UdpSocket::bind((lo(), 0)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_registers_what_it_announces() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let advertised: SocketAddr = (Ipv4Addr::new(127, 0, 0, 9), 4242).into();
    let h = Builder::new("trk-adv", "a")
        .bind_ip(lo())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .advertise(advertised)
        .incarnation(77)
        .start()
        .await
        .unwrap();
    let task = spawn_tracker_client_with(h.clone(), client_cfg(t.addr, "trk-adv"));
    let nodes = Nodes(vec![(h, task)]);
    let s = socket().await;
    let end = tokio::time::Instant::now() + DEADLINE;
    let entry = loop {
        let p = ask(&s, t.addr, query("trk-adv", 0, 0)).await.unwrap();
        if let Some(e) = p.peers.iter().next() {
            break e;
        }
        assert!(tokio::time::Instant::now() < end, "never registered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(entry.link_addr, advertised);
    assert_eq!(entry.incarnation, 77);
    assert_eq!(entry.node_id, nodes.0[0].0.id());
    nodes.shutdown().await;
    t.stop().await;
}

#[tokio::test]
async fn clusters_are_kept_apart() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let s = socket().await;
    let first = ask(&s, t.addr, register("red", 1, 60)).await.expect("answered");
    assert_eq!((first.total, first.peers.len()), (0, 0));
    let second = ask(&s, t.addr, register("red", 2, 60)).await.unwrap();
    assert_eq!(ids(&second), [1]);
    assert_eq!(second.cluster_hash, cluster_hash("red"));
    let blue = ask(&s, t.addr, register("blue", 3, 60)).await.unwrap();
    assert_eq!((blue.total, blue.peers.len()), (0, 0), "blue sees nothing of red");
    assert_eq!(blue.cluster_hash, cluster_hash("blue"));
    assert_eq!(ids(&ask(&s, t.addr, query("red", 9, 0)).await.unwrap()), [1, 2]);
    assert_eq!(ids(&ask(&s, t.addr, query("blue", 9, 0)).await.unwrap()), [3]);
    assert_eq!(ask(&s, t.addr, query("green", 9, 0)).await.unwrap().total, 0);
    let red = ask(&s, t.addr, query("red", 9, 0)).await.unwrap();
    let ip = s.local_addr().unwrap().ip();
    assert!(red.peers.iter().all(|e| e.link_addr.ip() == ip), "source address listed");
    t.stop().await;
}

#[tokio::test]
async fn entries_expire_when_not_renewed() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let s = socket().await;
    ask(&s, t.addr, register("exp", 1, 1)).await.unwrap();
    ask(&s, t.addr, register("exp", 2, 600)).await.unwrap();
    assert_eq!(ask(&s, t.addr, query("exp", 9, 0)).await.unwrap().total, 2);
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        let p = ask(&s, t.addr, query("exp", 9, 0)).await.unwrap();
        if ids(&p) == [2] {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "entry 1 never expired");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    wait_for("the sweep", || t.stats.entries() == 1).await;
    // A deregistration (ttl 0) is not answered and removes the entry.
    let bye = ControlFrame::new(ControlMessage::Tracker(register("exp", 2, 0))).to_bytes().unwrap();
    s.send_to(&bye, t.addr).await.unwrap();
    assert!(recv_peers(&s, Duration::from_millis(500)).await.is_none());
    assert_eq!(ask(&s, t.addr, query("exp", 9, 0)).await.unwrap().total, 0);
    t.stop().await;
}

#[tokio::test]
async fn a_large_cluster_is_read_page_by_page() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let s = socket().await;
    for id in 1..=60 {
        ask(&s, t.addr, register("big", id, 60)).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut offset = 0;
    loop {
        let p = ask(&s, t.addr, query("big", 30, offset)).await.unwrap();
        assert_eq!(p.total, 59);
        assert!(p.peers.len() <= 24);
        seen.extend(ids(&p));
        if p.is_last_page() {
            break;
        }
        offset += p.peers.len() as u16;
    }
    let expected: Vec<u8> = (1..=60).filter(|i| *i != 30).collect();
    assert_eq!(seen, expected);
    let past = ask(&s, t.addr, query("big", 30, 1000)).await.unwrap();
    assert_eq!((past.offset, past.peers.len()), (59, 0));
    t.stop().await;
}

#[tokio::test]
async fn caps_refuse_new_entries() {
    let cfg = TrackerConfig { max_per_cluster: 2, ..TrackerConfig::default() };
    let t = Tracker::start((lo(), 0).into(), cfg).await;
    let s = socket().await;
    for id in 1..=3 {
        ask(&s, t.addr, register("capped", id, 60)).await.expect("answered even when full");
    }
    assert_eq!(ids(&ask(&s, t.addr, query("capped", 9, 0)).await.unwrap()), [1, 2]);
    assert_eq!(t.stats.refused_full(), 1);
    t.stop().await;
}

#[tokio::test]
async fn bad_datagrams_are_counted_and_dropped() {
    let t = Tracker::start((lo(), 0).into(), TrackerConfig::default()).await;
    let s = socket().await;
    let reg =
        ControlFrame::new(ControlMessage::Tracker(register("bad", 1, 60))).to_bytes().unwrap();
    let peers = ControlFrame::new(ControlMessage::Tracker(
        Peers { cluster_hash: 1, total: 0, offset: 0, peers: Default::default() }.into(),
    ))
    .to_bytes()
    .unwrap();
    let mut bad_magic = reg.to_vec();
    bad_magic[0] = b'X';
    let garbage: Vec<Vec<u8>> = vec![
        vec![],
        b"hello".to_vec(),
        bad_magic,
        reg[..reg.len() - 1].to_vec(),
        vec![0x4e; 1500],
        Ping { token: 1 }.to_bytes().unwrap().to_vec(),
    ];
    for g in &garbage {
        s.send_to(g, t.addr).await.unwrap();
    }
    s.send_to(&peers, t.addr).await.unwrap();
    assert!(recv_peers(&s, Duration::from_millis(500)).await.is_none(), "nothing answered");
    // Still serving.
    assert_eq!(ask(&s, t.addr, query("bad", 9, 0)).await.unwrap().total, 0);
    wait_for("the counters", || {
        t.stats.malformed() == garbage.len() as u64 && t.stats.unexpected() == 1
    })
    .await;
    assert!(!t.task.is_finished());
    t.stop().await;
}

#[tokio::test]
async fn a_flood_from_one_source_is_rate_limited() {
    let cfg = TrackerConfig { rate_per_source: 1, burst_per_source: 5, ..TrackerConfig::default() };
    let t = Tracker::start((lo(), 0).into(), cfg).await;
    let s = socket().await;
    let q = ControlFrame::new(ControlMessage::Tracker(query("flood", 9, 0))).to_bytes().unwrap();
    let start = tokio::time::Instant::now();
    for _ in 0..40 {
        s.send_to(&q, t.addr).await.unwrap();
    }
    let mut answers = 0u64;
    while recv_peers(&s, Duration::from_millis(500)).await.is_some() {
        answers += 1;
    }
    // Five at once, then one per second at most, however slow the machine.
    let allowed = 5 + start.elapsed().as_secs() + 1;
    assert!(answers <= allowed, "{answers} answers, at most {allowed} expected");
    assert!(answers >= 5, "the burst is served");
    wait_for("the drops to be counted", || t.stats.rate_limited() + answers == 40).await;
    t.stop().await;
}

/// Asks the tracker at `addr` for `cluster`'s listing (blocking, for the
/// binary test): `None` when it does not answer within a second.
fn listing_total(addr: SocketAddr, cluster: &str) -> Option<u16> {
    let s = std::net::UdpSocket::bind((lo(), 0)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let q = ControlFrame::new(ControlMessage::Tracker(query(cluster, 0, 0))).to_bytes().unwrap();
    s.send_to(&q, addr).ok()?;
    let mut buf = vec![0u8; 2048];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    match ControlFrame::parse(&Bytes::copy_from_slice(&buf[..n])).ok()?.message {
        ControlMessage::Tracker(TrackerMessage::Peers(p)) => Some(p.total),
        _ => None,
    }
}

fn spawn_tracker_bin(dir: &std::path::Path, addr: SocketAddr, tag: &str) -> common::Guard {
    let log = dir.join(format!("tracker-{tag}.log"));
    let child = std::process::Command::new(common::bin())
        .args(["tracker", "--listen", &addr.to_string(), "--log-level", "debug"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn netcluster tracker");
    let guard = common::Guard { child, name: format!("tracker-{tag}"), log };
    common::wait_for("the tracker to answer", || listing_total(addr, "probe"));
    guard
}

fn members_named(agent: &common::Agent) -> Option<BTreeSet<String>> {
    let m = common::members(&agent.admin)?;
    Some(m.iter().filter_map(|x| x["name"].as_str().map(str::to_string)).collect())
}

/// Issue test 2: beacons off, a tracker; three agents find each other
/// through it; the tracker restarts and they still converge.
#[test]
fn agents_find_each_other_through_a_tracker_that_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::unique_cluster("tracker");
    let port = std::net::UdpSocket::bind((lo(), 0)).unwrap().local_addr().unwrap().port();
    let addr = SocketAddr::new(lo(), port);
    let tracker = spawn_tracker_bin(dir.path(), addr, "1");
    let flag = addr.to_string();
    let a = common::spawn_agent(dir.path(), &cluster, "a", &["--tracker", &flag]);
    let b = common::spawn_agent(dir.path(), &cluster, "b", &["--tracker", &flag]);
    let all: BTreeSet<String> = ["a", "b"].map(String::from).into();
    for agent in [&a, &b] {
        common::wait_for(&format!("{} to see a and b", agent.proc.name), || {
            members_named(agent).filter(|m| *m == all)
        });
    }
    common::wait_for("two registrations", || listing_total(addr, &cluster).filter(|t| *t == 2));

    // A new tracker on the same port knows nobody; c can meet a and b
    // only once they have registered again.
    let mut tracker = tracker;
    tracker.term();
    tracker.wait_exit(common::DEADLINE).expect("the tracker exits on SIGTERM");
    let _tracker2 = spawn_tracker_bin(dir.path(), addr, "2");
    let c = common::spawn_agent(dir.path(), &cluster, "c", &["--tracker", &flag]);
    let all: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    for agent in [&a, &b, &c] {
        common::wait_for(&format!("{} to see all three", agent.proc.name), || {
            members_named(agent).filter(|m| *m == all)
        });
    }
    common::wait_for("three registrations with the new tracker", || {
        listing_total(addr, &cluster).filter(|t| *t == 3)
    });

    // An agent that leaves deregisters as it goes: its entry is gone long
    // before it would expire (30 s after its last renewal).
    let mut c = c;
    c.proc.term();
    c.proc.wait_exit(common::DEADLINE).expect("the agent exits on SIGTERM");
    let gone_by = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while listing_total(addr, &cluster) != Some(2) {
        assert!(std::time::Instant::now() < gone_by, "c's registration outlived its agent");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
