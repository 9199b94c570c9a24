//! DNS SRV seeds against a real DNS server: a `dnsmasq` started by the
//! test on 127.0.0.1 and a free port, killed when the test ends (even on
//! failure). Tests that need it skip, saying why, when dnsmasq is not
//! installed (`scripts/test.sh` installs it).
//!
//! The last test drives the same through the `netcluster` binary: agents
//! with `--beacon off --dns-srv NAME --dns-server ADDR`, and
//! `members --json`.

mod common;

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use netcluster_cli::dns::{resolve_srv, spawn_srv_seeds, DnsError, SrvLimits};
use netcluster_tokio::{BeaconMode, Builder, Handle, NodeId};

const DEADLINE: Duration = Duration::from_secs(30);
const SRV: &str = "_netcluster._tcp.example.test";

fn dnsmasq_path() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    dirs.into_iter().map(|d| d.join("dnsmasq")).find(|p| p.is_file())
}

/// A dnsmasq serving only what the test gives it; killed on drop.
struct Dnsmasq {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dnsmasq {
    /// Starts dnsmasq with `records` (dnsmasq options such as
    /// `--srv-host=...`), or returns `None` when it is not installed.
    async fn start(records: &[String]) -> Option<Dnsmasq> {
        Dnsmasq::start_on(records, None).await
    }

    /// As [`start`](Self::start), on `port` when given (no retry then).
    async fn start_on(records: &[String], port: Option<u16>) -> Option<Dnsmasq> {
        let Some(bin) = dnsmasq_path() else {
            eprintln!("skipping: dnsmasq is not installed (package dnsmasq-base)");
            return None;
        };
        // A port free now may be taken before dnsmasq binds it: try again
        // with another one if dnsmasq exits at once.
        for _ in 0..5 {
            let port = port.unwrap_or_else(free_port);
            let mut child = Command::new(&bin)
                .args([
                    "--no-daemon",
                    "--conf-file=/dev/null",
                    "--no-resolv",
                    "--no-hosts",
                    "--listen-address=127.0.0.1",
                    "--bind-interfaces",
                    "--local=/example.test/",
                    &format!("--port={port}"),
                ])
                .args(records)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dnsmasq starts");
            tokio::time::sleep(Duration::from_millis(200)).await;
            if let Ok(Some(status)) = child.try_wait() {
                eprintln!("dnsmasq on port {port} exited ({status}); trying another port");
                continue;
            }
            let d = Dnsmasq { child, addr: (Ipv4Addr::LOCALHOST, port).into() };
            d.wait_ready().await;
            return Some(d);
        }
        panic!("dnsmasq did not start on any of 5 ports");
    }

    async fn wait_ready(&self) {
        let end = tokio::time::Instant::now() + DEADLINE;
        loop {
            match resolve_srv(SRV, self.addr, limits()).await {
                Ok(_) | Err(DnsError::NxDomain { .. }) => return,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < end, "dnsmasq never answered: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .expect("a free UDP port")
        .port()
}

fn limits() -> SrvLimits {
    SrvLimits { timeout: Duration::from_secs(2), ..SrvLimits::default() }
}

fn srv(target: &str, port: u16, priority: u16, weight: u16) -> String {
    format!("--srv-host={SRV},{target},{port},{priority},{weight}")
}

fn host(name: &str, addrs: &str) -> String {
    format!("--host-record={name},{addrs}")
}

#[tokio::test]
async fn srv_records_resolve_in_priority_order_with_their_addresses() {
    let records = [
        srv("node3.example.test", 7003, 20, 1),
        srv("node1.example.test", 7001, 10, 50),
        srv("node2.example.test", 7002, 10, 50),
        host("node1.example.test", "127.0.0.1"),
        host("node2.example.test", "127.0.0.2"),
        host("node3.example.test", "127.0.0.3,::1"),
    ];
    let Some(dns) = Dnsmasq::start(&records).await else { return };
    let mut firsts = BTreeSet::new();
    // Equal weights within priority 10: over enough lookups both come
    // first at least once (each lookup orders at random).
    for _ in 0..40 {
        let res = resolve_srv(SRV, dns.addr, limits()).await.expect("resolves");
        assert_eq!(res.targets.len(), 3);
        let prios: Vec<u16> = res.targets.iter().map(|t| t.priority).collect();
        assert_eq!(prios, [10, 10, 20]);
        firsts.insert(res.targets[0].target.clone());
        for t in &res.targets {
            let expected: Vec<SocketAddr> = match t.target.as_str() {
                "node1.example.test." => vec![(Ipv4Addr::new(127, 0, 0, 1), 7001).into()],
                "node2.example.test." => vec![(Ipv4Addr::new(127, 0, 0, 2), 7002).into()],
                "node3.example.test." => vec![
                    (IpAddr::from(Ipv4Addr::new(127, 0, 0, 3)), 7003).into(),
                    (IpAddr::from(Ipv6Addr::LOCALHOST), 7003).into(),
                ],
                other => panic!("unexpected target {other}"),
            };
            let got: BTreeSet<_> = t.addrs.iter().copied().collect();
            assert_eq!(got, expected.into_iter().collect(), "addresses of {}", t.target);
        }
        assert_eq!(res.addrs().len(), 4);
        if firsts.len() == 2 {
            break;
        }
    }
    assert_eq!(firsts.len(), 2, "weighted order never put the other record first");
}

#[tokio::test]
async fn errors_are_typed() {
    let records = [srv("node1.example.test", 7001, 10, 5), host("node1.example.test", "127.0.0.1")];
    let Some(dns) = Dnsmasq::start(&records).await else { return };
    match resolve_srv("_missing._tcp.example.test", dns.addr, limits()).await {
        Err(DnsError::NxDomain { name }) => assert_eq!(name, "_missing._tcp.example.test."),
        other => panic!("expected NXDOMAIN, got {other:?}"),
    }
    // The name exists (it has A records) but no SRV records.
    match resolve_srv("node1.example.test", dns.addr, limits()).await {
        Err(DnsError::NoRecords { .. }) => {}
        other => panic!("expected no records, got {other:?}"),
    }
    match resolve_srv("bad..name", dns.addr, limits()).await {
        Err(DnsError::BadName { .. }) => {}
        other => panic!("expected a bad name, got {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_server_times_out() {
    // A socket that never answers.
    let silent = tokio::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let addr = silent.local_addr().unwrap();
    let limits = SrvLimits { timeout: Duration::from_millis(300), ..SrvLimits::default() };
    match resolve_srv(SRV, addr, limits).await {
        Err(DnsError::Timeout { server, .. }) => assert_eq!(server, addr),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

fn all_see_each_other(nodes: &[Handle]) -> bool {
    nodes.iter().all(|h| {
        let peers: BTreeSet<NodeId> = h.peers().iter().map(|p| p.id).collect();
        nodes.iter().filter(|o| o.id() != h.id()).all(|o| peers.contains(&o.id()))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_find_each_other_through_dns_srv() {
    if dnsmasq_path().is_none() {
        eprintln!("skipping: dnsmasq is not installed (package dnsmasq-base)");
        return;
    }
    let mut nodes = Vec::new();
    for name in ["a", "b", "c"] {
        let h = Builder::new("dns-srv", name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .beacons(BeaconMode::Off)
            .start()
            .await
            .expect("node starts");
        nodes.push(h);
    }
    let mut records = Vec::new();
    for (i, h) in nodes.iter().enumerate() {
        let target = format!("node{i}.example.test");
        records.push(srv(&target, h.link_addr().port(), 10, 10));
        records.push(host(&target, "127.0.0.1"));
    }
    let Some(dns) = Dnsmasq::start(&records).await else { return };
    let tasks: Vec<_> =
        nodes.iter().map(|h| spawn_srv_seeds(h.clone(), SRV.to_string(), Some(dns.addr))).collect();
    let end = tokio::time::Instant::now() + DEADLINE;
    while !all_see_each_other(&nodes) {
        if tokio::time::Instant::now() >= end {
            for t in &tasks {
                t.abort();
            }
            panic!("the nodes did not find each other through DNS");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for h in &nodes {
        h.shutdown().await;
    }
    for t in tasks {
        tokio::time::timeout(DEADLINE, t).await.expect("seed task ends with its node").unwrap();
    }
}

/// Issue test 3: beacons off, DNS SRV against dnsmasq: agents find each
/// other. The agents start before the DNS server answers, so they also
/// show that failed lookups are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_find_each_other_through_dns_srv() {
    if dnsmasq_path().is_none() {
        eprintln!("skipping: dnsmasq is not installed (package dnsmasq-base)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::unique_cluster("dns");
    let dns_port = free_port();
    let server = format!("127.0.0.1:{dns_port}");
    let flags = ["--dns-srv", SRV, "--dns-server", &server];
    let mut agents: Vec<common::Agent> = ["a", "b", "c"]
        .iter()
        .map(|n| common::spawn_agent(dir.path(), &cluster, n, &flags))
        .collect();
    let mut records = Vec::new();
    for (i, agent) in agents.iter_mut().enumerate() {
        let addr: SocketAddr = common::own_record(agent)["addr"].as_str().unwrap().parse().unwrap();
        let target = format!("node{i}.example.test");
        records.push(srv(&target, addr.port(), 10, 10));
        records.push(host(&target, "127.0.0.1"));
    }
    let Some(_dns) = Dnsmasq::start_on(&records, Some(dns_port)).await else { return };
    let all: BTreeSet<String> = ["a", "b", "c"].map(String::from).into();
    for agent in &agents {
        common::wait_for(&format!("{} to see all three", agent.proc.name), || {
            let m = common::members(&agent.admin)?;
            let names: BTreeSet<String> =
                m.iter().filter_map(|x| x["name"].as_str().map(str::to_string)).collect();
            (names == all).then_some(())
        });
    }
}
