//! Real agents (the `netcluster` binary) on IPv6-only, IPv4-only and
//! dual-stack hosts, each in its own Linux network namespace on bridges
//! the test makes (10.77.x.y, fd77::/64), all removed by a guard even when
//! the test fails. The agents run with the flags a user would give, and
//! are driven through their admin sockets (UNIX sockets in a temporary
//! directory: the file system is shared across network namespaces).
//!
//! Needs root and `ip` (iproute2); elsewhere the tests print why and pass
//! without running.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use netcluster_cli::admin::client::Client;
use netcluster_control::admin::DeliveryMode;
use netcluster_tests::tools::{must, run_tool, Namespaces};
use serde_json::Value;

/// Prefix of every namespace these tests create.
const PREFIX: &str = "ncfam-";

/// Which address families a host's interface gets.
#[derive(Clone, Copy)]
enum Family {
    V4,
    V6,
    Dual,
}

/// The namespaces and agents of one test; removed on drop (agents first).
struct Lab {
    agents: Vec<Agent>,
    dir: tempfile::TempDir,
    cluster: String,
    /// Dropped after the agents (fields drop after `drop`).
    ns: Namespaces,
}

impl Lab {
    /// A lab, or `None` (with the reason printed) where the machine does
    /// not allow network namespaces.
    fn start(test: &str) -> Option<Lab> {
        let ns = Namespaces::start(format!("{PREFIX}{}-{test}", std::process::id()))?;
        Some(Lab {
            agents: Vec::new(),
            dir: tempfile::tempdir().expect("temp dir"),
            cluster: unique_cluster(test),
            ns,
        })
    }

    /// A namespace with loopback up and IPv6 duplicate address detection
    /// off (addresses are usable at once, link-local ones included).
    fn netns(&mut self, short: &str) -> String {
        let ns = self.ns.add(short);
        self.sysctl(&ns, "net.ipv6.conf.all.accept_dad", "0");
        self.sysctl(&ns, "net.ipv6.conf.default.accept_dad", "0");
        ns
    }

    fn sysctl(&self, ns: &str, key: &str, value: &str) {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        must("ip", &["netns", "exec", ns, "sh", "-c", &format!("echo {value} > {path}")]);
    }

    /// A namespace holding one bridge, `br0`, without multicast snooping.
    fn bridge(&mut self, short: &str) -> String {
        let ns = self.netns(short);
        must("ip", &["-n", &ns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        must("ip", &["-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    /// Wires `host_ns` to the bridge in `bridge_ns` through `ifname`, with
    /// `v4` (a CIDR, no broadcast address) and / or `v6` (a CIDR, `nodad`)
    /// as `family` says. An IPv4-only interface has IPv6 disabled, so it
    /// has no link-local address either.
    #[allow(clippy::too_many_arguments)]
    fn attach(
        &mut self,
        host_ns: &str,
        ifname: &str,
        family: Family,
        v4: &str,
        v6: &str,
        bridge_ns: &str,
        port: &str,
    ) {
        let veth = ["link", "add", port, "type", "veth", "peer", "name", ifname, "netns", host_ns];
        must("ip", &[&["-n", bridge_ns][..], &veth[..]].concat());
        must("ip", &["-n", bridge_ns, "link", "set", port, "master", "br0", "up"]);
        self.sysctl(host_ns, &format!("net.ipv6.conf.{ifname}.accept_dad"), "0");
        if matches!(family, Family::V4) {
            self.sysctl(host_ns, &format!("net.ipv6.conf.{ifname}.disable_ipv6"), "1");
        }
        if matches!(family, Family::V4 | Family::Dual) {
            must("ip", &["-n", host_ns, "addr", "add", v4, "dev", ifname]);
        }
        if matches!(family, Family::V6 | Family::Dual) {
            must("ip", &["-n", host_ns, "-6", "addr", "add", v6, "dev", ifname, "nodad"]);
        }
        must("ip", &["-n", host_ns, "link", "set", ifname, "up"]);
    }

    /// Starts `netcluster agent` named `name` in `ns`, in the lab's
    /// cluster, with `extra` flags; its log in the lab's directory.
    fn agent(&mut self, name: &str, ns: &str, extra: &[&str]) {
        let admin = self.dir.path().join(format!("{name}.sock"));
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new("ip")
            .args(["netns", "exec", ns, bin(), "agent", "--cluster", &self.cluster])
            .args(["--name", name, "--log-level", "info", "--admin"])
            .arg(&admin)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.agents.push(Agent { proc: Guard { child, name: name.into(), log }, admin });
    }

    fn admin(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits until every agent in `names` lists every other; the logs of
    /// all on failure.
    fn all_list_each_other(&mut self, names: &[&str]) {
        let end = Instant::now() + DEADLINE * 2;
        for me in names {
            loop {
                for a in &mut self.agents {
                    if let Ok(Some(st)) = a.proc.child.try_wait() {
                        panic!("agent {} exited ({st}):\n{}", a.proc.name, a.proc.stderr());
                    }
                }
                let listed: Vec<String> = members(&self.admin(me))
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_string))
                    .collect();
                if names.iter().all(|n| listed.iter().any(|l| l == n)) {
                    break;
                }
                if Instant::now() > end {
                    let logs: Vec<String> =
                        names.iter().map(|n| format!("--- {n}\n{}", self.log(n))).collect();
                    panic!("{me} lists only {listed:?} of {names:?}\n{}", logs.join("\n"));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Agents first (their guards kill them); the namespaces go next,
        // with their veth ends and bridges.
        self.agents.clear();
    }
}

/// Three hosts with only IPv6 addresses, agents with no `--beacon` and no
/// `--interface` (one bound to `[::]:7400` as the issue's user did, the
/// others on the default `0.0.0.0:7400`): the IPv4 family has no
/// interface and is skipped, IPv6 multicast finds everyone, and a
/// Reliable message goes through.
#[test]
fn ipv6_only_hosts_find_each_other_by_multicast_and_deliver() {
    let Some(mut lab) = Lab::start("v6only") else { return };
    let br = lab.bridge("br");
    let names = ["h1", "h2", "h3"];
    for (i, name) in names.iter().enumerate() {
        let ns = lab.netns(name);
        let v6 = format!("fd77::{}/64", i + 1);
        lab.attach(&ns, "e0", Family::V6, "", &v6, &br, &format!("p-{name}"));
        let extra: &[&str] = if i == 0 { &["--bind", "[::]:7400"] } else { &[] };
        lab.agent(name, &ns, extra);
    }
    lab.all_list_each_other(&names);
    assert!(
        lab.log("h1").contains("no beacons of this address family"),
        "the IPv4 family is skipped with a note:\n{}",
        lab.log("h1")
    );

    let watch = spawn_watch(lab.dir.path(), &lab.admin("h3"));
    // The watcher subscribes after it starts: send until one arrives.
    let h1 = lab.admin("h1");
    let h1 = h1.to_str().unwrap();
    wait_for("a reliable message at h3", || {
        let out = run(&["send", "--to", "h3", "--mode", "reliable", "--admin", h1, "hello-v6"]);
        assert!(out.status.success(), "send failed: {}", text(&out.stderr));
        watch.find(Duration::from_secs(1), |v| v["payload"] == "hello-v6")
    });
    let me = &members(&lab.admin("h2")).unwrap()[0];
    let addr: std::net::SocketAddr = me["addr"].as_str().unwrap().parse().unwrap();
    assert!(addr.is_ipv6(), "an IPv6-only host lists an IPv6 address of its own: {me}");
}

/// h1 IPv4-only, h2 dual-stack, h3 IPv6-only and h4 dual-stack on one
/// bridge; h4 also on a second bridge with h5, IPv6-only. Nothing routes
/// IP between the bridges. Every agent lists every other, h1 reaches h5
/// over several hops, and 1,000 Sequenced messages from h1 arrive at h5
/// exact and in order.
#[test]
fn mixed_families_form_one_mesh_through_dual_stack_relays() {
    let Some(mut lab) = Lab::start("mixed") else { return };
    let br_a = lab.bridge("bra");
    let br_b = lab.bridge("brb");
    let hosts = [
        ("h1", Family::V4, "10.77.1.1/24", "fd77::a:1/112"),
        ("h2", Family::Dual, "10.77.1.2/24", "fd77::a:2/112"),
        ("h3", Family::V6, "10.77.1.3/24", "fd77::a:3/112"),
        ("h4", Family::Dual, "10.77.1.4/24", "fd77::a:4/112"),
    ];
    let mut spaces = Vec::new();
    for (name, family, v4, v6) in hosts {
        let ns = lab.netns(name);
        lab.attach(&ns, "e0", family, v4, v6, &br_a, &format!("pa-{name}"));
        spaces.push(ns);
    }
    let h4 = spaces[3].clone();
    lab.attach(&h4, "e1", Family::Dual, "10.77.2.4/24", "fd77::b:4/112", &br_b, "pb-h4");
    let h5 = lab.netns("h5");
    lab.attach(&h5, "e0", Family::V6, "", "fd77::b:5/112", &br_b, "pb-h5");
    spaces.push(h5);
    assert!(
        run_tool("ip", &["-n", &spaces[0], "-6", "route", "get", "fd77::b:5"]).is_err(),
        "h1 must have no IPv6 route at all"
    );
    assert!(
        run_tool("ip", &["-n", &spaces[2], "-6", "route", "get", "fd77::b:5"]).is_err(),
        "h3 must have no route to h5's segment"
    );
    let names = ["h1", "h2", "h3", "h4", "h5"];
    for (name, ns) in names.iter().zip(&spaces) {
        lab.agent(name, ns, &[]);
    }
    lab.all_list_each_other(&names);

    // h1 reaches h5 through h4: more than one hop.
    let h5_id = members(&lab.admin("h5")).unwrap()[0]["id"].as_str().unwrap().to_string();
    let route = wait_for("h1's route to h5", || {
        let out = run(&["routes", "--json", "--admin", lab.admin("h1").to_str().unwrap()]);
        let v: Value = serde_json::from_slice(&out.stdout).ok()?;
        v.as_array()?.iter().find(|r| r["destination"] == h5_id.as_str()).cloned()
    });
    let path = route["path"].as_array().expect("a path");
    println!("h1 -> h5: {} hops, path {}", route["hops"], route["path"]);
    assert!(path.len() >= 2 && route["hops"].as_u64() >= Some(2), "{route}");

    // 1,000 Sequenced messages, each sent once its predecessor is handed
    // over, through the admin protocol (the client library the CLI uses).
    const N: usize = 1000;
    let watch = spawn_watch(lab.dir.path(), &lab.admin("h5"));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let h1 = lab.admin("h1");
    let started = Instant::now();
    rt.block_on(async {
        let mut c = Client::connect(&h1).await.expect("h1's admin socket");
        c.timeout = Duration::from_secs(60);
        // The watcher subscribes after it starts: a marker first, until
        // it is seen.
        loop {
            let m = Bytes::from_static(b"marker");
            c.send("h5", DeliveryMode::Reliable, m).await.expect("marker");
            if watch.find(Duration::from_secs(1), |v| v["payload"] == "marker").is_some() {
                break;
            }
            assert!(started.elapsed() < DEADLINE, "h5's watcher never saw a message");
        }
        for i in 0..N {
            let m = Bytes::from(format!("seq-{i}"));
            c.send("h5", DeliveryMode::Sequenced, m).await.expect("sequenced send");
        }
    });
    let sequenced = |v: &Value| {
        v["event"] == "message"
            && v["mode"] == "sequenced"
            && v["payload"].as_str().is_some_and(|p| p.starts_with("seq-"))
    };
    let mut got = Vec::with_capacity(N);
    while got.len() < N {
        let v = watch
            .find(DEADLINE, sequenced)
            .unwrap_or_else(|| panic!("only {} of {N} messages arrived", got.len()));
        got.push(v["payload"].as_str().unwrap()[4..].parse::<usize>().unwrap());
    }
    println!("{N} sequenced messages h1 -> h5 in {:?}", started.elapsed());
    assert_eq!(got, (0..N).collect::<Vec<_>>(), "every message once, in order");
    let extra = watch.find(Duration::from_millis(500), sequenced);
    assert!(extra.is_none(), "a duplicate arrived: {extra:?}");
}

/// `--beacon broadcast` between hosts whose addresses have no broadcast
/// address set and no default route: they find each other.
#[test]
fn broadcast_beacons_work_without_a_broadcast_address_or_a_route() {
    let Some(mut lab) = Lab::start("bcast") else { return };
    let br = lab.bridge("br");
    let names = ["b1", "b2", "b3"];
    for (i, name) in names.iter().enumerate() {
        let ns = lab.netns(name);
        let v4 = format!("10.77.3.{}/24", i + 1);
        lab.attach(&ns, "e0", Family::V4, &v4, "", &br, &format!("p-{name}"));
        let shown = must("ip", &["-n", &ns, "-4", "addr", "show", "dev", "e0"]);
        assert!(!shown.contains(" brd "), "the address must have no broadcast: {shown}");
        assert!(
            run_tool("ip", &["-n", &ns, "route", "get", "255.255.255.255"]).is_err(),
            "no default route"
        );
        lab.agent(name, &ns, &["--beacon", "broadcast"]);
    }
    lab.all_list_each_other(&names);
}
