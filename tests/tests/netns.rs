//! Several hosts on real (virtual) networks: each node runs as its own
//! process (`nc_host`, the tokio driver) in its own Linux network namespace,
//! wired to bridges through veth pairs, all created by the test and removed
//! by a guard even when the test fails.
//!
//! Needs root and `ip` (iproute2); run as another user, or where the
//! machine refuses `ip netns add`, the tests print why and pass without
//! running. Loss is made with `tc netem` where the kernel has it, else with
//! an nftables rule dropping the same share at random.
//!
//! Each host prints its events as lines (see `src/bin/nc_host.rs`); every
//! wait polls those lines against a generous deadline.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use netcluster_tests::tools::{must, run_tool as run, Namespaces};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const HOST_BIN: &str = env!("CARGO_BIN_EXE_nc_host");
/// How long any one expected thing may take; far beyond what it needs.
const DEADLINE: Duration = Duration::from_secs(30);
/// Prefix of every namespace these tests create.
const PREFIX: &str = "nctest-";
/// Short keepalive used where failure detection is timed (milliseconds,
/// intervals).
const KEEPALIVE_MS: u64 = 500;
const KEEPALIVE_COUNT: u64 = 3;
/// Scheduling slack allowed on top of the bound the config gives: the
/// machine may be busy with other builds.
const SLACK: Duration = Duration::from_millis(1500);

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

/// Removes namespaces left by earlier runs that were killed before their
/// guards ran (their process is gone). Once per run.
fn sweep_stale() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Ok(list) = run("ip", &["netns", "list"]) else { return };
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(rest) = name.strip_prefix(PREFIX) else { continue };
            let pid = rest.split('-').next().unwrap_or("");
            if pid.parse::<u32>().is_ok_and(|p| p != std::process::id())
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = run("ip", &["netns", "del", name]);
            }
        }
    });
}

/// One line a host printed: `kind t=.. key=value...`.
#[derive(Debug, Clone)]
struct Line {
    host: String,
    kind: String,
    fields: HashMap<String, String>,
}

impl Line {
    fn parse(host: &str, text: &str) -> Line {
        let mut words = text.split_whitespace();
        let kind = words.next().unwrap_or("").to_string();
        let fields = words
            .filter_map(|w| w.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Line { host: host.to_string(), kind, fields }
    }

    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map_or("", String::as_str)
    }

    fn num(&self, key: &str) -> u64 {
        self.get(key)
            .parse()
            .unwrap_or_else(|_| panic!("{}: field {key} is not a number: {self:?}", self.host))
    }

    fn is(&self, host: &str, kind: &str) -> bool {
        self.host == host && self.kind == kind
    }
}

struct Proc {
    name: String,
    child: Child,
}

/// The namespaces, bridges and host processes of one test; removed on drop.
struct Lab {
    procs: Vec<Proc>,
    tx: mpsc::Sender<Line>,
    rx: mpsc::Receiver<Line>,
    log: Vec<Line>,
    /// Dropped after the processes are killed (fields drop after `drop`).
    ns: Namespaces,
}

impl Lab {
    /// A lab for the test `test`, or `None` (with the reason printed) where
    /// the machine does not allow network namespaces.
    fn start(test: &str) -> Option<Lab> {
        sweep_stale();
        let (tx, rx) = mpsc::channel();
        let ns = Namespaces::start(format!("{PREFIX}{}-{test}", std::process::id()))?;
        Some(Lab { procs: Vec::new(), tx, rx, log: vec![], ns })
    }

    /// A new namespace `<tag>-<short>` with loopback up.
    fn netns(&mut self, short: &str) -> String {
        self.ns.add(short)
    }

    /// A namespace holding one bridge, `br0`. Multicast snooping is off so
    /// beacons reach every port whatever IGMP state the bridge has learned.
    fn bridge(&mut self, short: &str) -> String {
        let ns = self.netns(short);
        must("ip", &["-n", &ns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        must("ip", &["-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    /// Wires `host_ns` to the bridge in `bridge_ns`: a veth pair with
    /// `ifname` (holding `cidr`) on the host and `port` on the bridge.
    fn attach(&mut self, host_ns: &str, ifname: &str, cidr: &str, bridge_ns: &str, port: &str) {
        let veth = ["link", "add", port, "type", "veth", "peer", "name", ifname, "netns", host_ns];
        must("ip", &[&["-n", bridge_ns][..], &veth[..]].concat());
        must("ip", &["-n", bridge_ns, "link", "set", port, "master", "br0", "up"]);
        must("ip", &["-n", host_ns, "addr", "add", cidr, "dev", ifname]);
        must("ip", &["-n", host_ns, "link", "set", ifname, "up"]);
    }

    /// Starts `nc_host --name <name> <args...>` in `ns`; its stdout lines
    /// feed the log, its stderr goes to the test's output.
    fn spawn(&mut self, name: &str, ns: &str, args: &[&str]) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, HOST_BIN, "--name", name, "--exit-on-eof"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        let (tx, host) = (self.tx.clone(), name.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(Line::parse(&host, &line)).is_err() {
                    return;
                }
            }
            let _ = tx.send(Line::parse(&host, "eof"));
        });
        let host = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("[{host}] {line}");
            }
        });
        self.procs.push(Proc { name: name.to_string(), child });
    }

    fn proc(&mut self, name: &str) -> &mut Proc {
        self.procs.iter_mut().find(|p| p.name == name).unwrap_or_else(|| panic!("no host {name}"))
    }

    /// SIGKILL: the process dies at once, nothing is sent on its behalf but
    /// what the kernel does when its sockets close.
    fn kill(&mut self, name: &str) {
        let p = self.proc(name);
        p.child.kill().expect("SIGKILL");
        let _ = p.child.wait();
    }

    /// SIGTERM: the host leaves cleanly.
    fn terminate(&mut self, name: &str) {
        let pid = self.proc(name).child.id().to_string();
        must("kill", &["-TERM", &pid]);
    }

    /// Waits for the host's process to end; its exit status.
    fn wait_exit(&mut self, name: &str) -> std::process::ExitStatus {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.proc(name).child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < end, "{name} did not exit in time");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls the log until `found` returns something, or panics with the
    /// log's tail after the deadline.
    #[track_caller]
    fn wait_for<T>(&mut self, what: &str, mut found: impl FnMut(&[Line]) -> Option<T>) -> T {
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(t) = found(&self.log) {
                return t;
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let tail: Vec<String> = self
                    .log
                    .iter()
                    .rev()
                    .take(40)
                    .rev()
                    .map(|l| format!("  {} {} {:?}", l.host, l.kind, l.fields))
                    .collect();
                panic!("timed out waiting for {what}; last lines:\n{}", tail.join("\n"));
            }
            match self.rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => {
                    self.log.push(line);
                    self.log.extend(self.rx.try_iter());
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => unreachable!("the lab holds a sender"),
            }
        }
    }

    /// The first line of `host` of this kind matching `pred`.
    #[track_caller]
    fn expect(&mut self, host: &str, kind: &str, pred: impl Fn(&Line) -> bool) -> Line {
        let what = format!("`{kind}` from {host}");
        self.wait_for(&what, |log| log.iter().find(|l| l.is(host, kind) && pred(l)).cloned())
    }

    /// Waits until every host in `names` has seen every other one come up.
    fn all_see_each_other(&mut self, names: &[&str]) {
        for me in names {
            for other in names.iter().filter(|o| *o != me) {
                self.expect(me, "up", |l| l.get("name") == *other);
            }
        }
    }

    /// Lines of `host` of this kind so far.
    fn lines(&self, host: &str, kind: &str) -> Vec<&Line> {
        self.log.iter().filter(|l| l.is(host, kind)).collect()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

/// The longest time from a crash to the report, from the config a host
/// printed in its `ready` line: every link to the crashed node idles out
/// (`keepalive_interval * keepalive_count` after the last frame heard), the
/// withdrawing LSAs go out (`lsa_min_interval`), routes are recomputed
/// (`spf_delay`), and the node stays unreachable for `down_hold`.
fn crash_bound(ready: &Line) -> Duration {
    let ms = ready.num("keepalive_ms") * ready.num("keepalive_count")
        + ready.num("down_hold_ms")
        + ready.num("lsa_min_ms")
        + ready.num("spf_delay_ms");
    Duration::from_millis(ms)
}

fn keepalive_args() -> Vec<String> {
    vec![
        "--keepalive-ms".into(),
        KEEPALIVE_MS.to_string(),
        "--keepalive-count".into(),
        KEEPALIVE_COUNT.to_string(),
    ]
}

/// Hosts `names` on one bridge at 10.77.0.1, .2, ..., listening with the
/// short keepalive.
fn one_bridge(lab: &mut Lab, names: &[&str], link_mode: &str) {
    let br = lab.bridge("br");
    let ka = keepalive_args();
    for (i, name) in names.iter().enumerate() {
        let ns = lab.netns(name);
        lab.attach(&ns, "eth0", &format!("10.77.0.{}/24", i + 1), &br, &format!("p-{name}"));
        let mut args: Vec<&str> = ka.iter().map(String::as_str).collect();
        args.extend(["--link-mode", link_mode, "listen"]);
        lab.spawn(name, &ns, &args);
    }
}

/// Time from `since_us` to the `down` report of `gone` at `at`, with its
/// reason.
fn down_after(lab: &mut Lab, at: &str, gone: &str, since_us: u64) -> (Duration, String) {
    let l = lab.expect(at, "down", |l| l.get("name") == gone);
    let t = l.num("t");
    assert!(t >= since_us, "{at} reported {gone} down before it went: {l:?}");
    (Duration::from_micros(t - since_us), l.get("reason").to_string())
}

/// Four hosts on one bridge find each other by multicast; d is killed and
/// reported timed out within the bound; c leaves and is reported left at
/// once.
fn four_hosts(test: &str, link_mode: &str) {
    let Some(mut lab) = Lab::start(test) else { return };
    let names = ["a", "b", "c", "d"];
    one_bridge(&mut lab, &names, link_mode);
    lab.all_see_each_other(&names);
    let ready = lab.expect("a", "ready", |_| true);
    assert_eq!(ready.num("keepalive_ms"), KEEPALIVE_MS, "the host took the keepalive flags");
    let bound = crash_bound(&ready);

    // d crashes: the process dies, the kernel closes its sockets.
    let t_kill = now_us();
    lab.kill("d");
    for at in ["a", "b", "c"] {
        let (took, reason) = down_after(&mut lab, at, "d", t_kill);
        assert_eq!(reason, "timed_out", "{at} on d");
        println!("{at}: d down ({reason}) {took:?} after SIGKILL; bound {bound:?}");
        assert!(took <= bound + SLACK, "{at} reported d after {took:?}, bound {bound:?} + slack");
    }

    // c leaves cleanly: the others know at once, long before any timeout.
    let t_term = now_us();
    lab.terminate("c");
    for at in ["a", "b"] {
        let (took, reason) = down_after(&mut lab, at, "c", t_term);
        assert_eq!(reason, "left", "{at} on c");
        println!("{at}: c down ({reason}) {took:?} after SIGTERM");
        let quick = Duration::from_millis(KEEPALIVE_MS * KEEPALIVE_COUNT) / 2;
        assert!(took < quick, "{at} learnt c left after {took:?}, expected under {quick:?}");
    }
    lab.expect("c", "exit", |_| true);
    assert!(lab.wait_exit("c").success(), "c exits cleanly on SIGTERM");

    // a and b never lost each other.
    for (at, other) in [("a", "b"), ("b", "a")] {
        assert!(
            lab.lines(at, "down").iter().all(|l| l.get("name") != other),
            "{at} reported {other} down"
        );
    }
}

#[test]
fn four_hosts_find_each_other_by_multicast_and_report_crash_and_leave() {
    four_hosts("four-stream", "stream");
}

#[test]
fn four_hosts_on_datagram_links_report_crash_and_leave() {
    four_hosts("four-dgram", "datagram");
}

#[test]
fn silent_host_loss_is_detected_by_keepalive_within_the_bound() {
    let Some(mut lab) = Lab::start("silent") else { return };
    let names = ["a", "b", "c"];
    one_bridge(&mut lab, &names, "stream");
    lab.all_see_each_other(&names);
    let ready = lab.expect("a", "ready", |_| true);
    let bound = crash_bound(&ready);

    // c's machine vanishes: its port goes dark before the process dies, so
    // not even the kernel's FIN gets out; only the keepalive can tell.
    let br = format!("{}-br", lab.ns.tag());
    let t_cut = now_us();
    must("ip", &["-n", &br, "link", "set", "p-c", "down"]);
    lab.kill("c");
    let interval = Duration::from_millis(ready.num("keepalive_ms"));
    let dead_after = interval * ready.num("keepalive_count") as u32;
    for at in ["a", "b"] {
        let (took, reason) = down_after(&mut lab, at, "c", t_cut);
        assert_eq!(reason, "timed_out", "{at} on c");
        println!("{at}: c down ({reason}) {took:?} after the cut; bound {bound:?}");
        assert!(took <= bound + SLACK, "{at} reported c after {took:?}, bound {bound:?} + slack");
        // The last frame from c came at most about one interval before the
        // cut (pings flow every interval), so the silence lasted at least
        // the rest of `dead_after`: earlier would mean the cut leaked.
        let least = dead_after - interval * 3 / 2;
        assert!(took >= least, "{at} reported c after only {took:?} (expected >= {least:?})");
    }
}

/// Every `seq` of the messages `host` got from the node with id `from` in
/// `sem`, in arrival order. By id: a message may arrive before its sender is
/// reported up, when the receiver does not know its name yet.
fn received(lab: &Lab, host: &str, from: &str, sem: &str) -> Vec<u64> {
    lab.lines(host, "msg")
        .into_iter()
        .filter(|l| l.get("from_id") == from && l.get("sem") == sem)
        .map(|l| l.num("seq"))
        .collect()
}

/// Waits until `host` has received `n` messages from the node with id
/// `from`.
fn await_messages(lab: &mut Lab, host: &str, from: &str, n: usize) {
    lab.wait_for(&format!("{n} messages at {host}"), |log| {
        let got = log.iter().filter(|l| l.is(host, "msg") && l.get("from_id") == from).count();
        (got >= n).then_some(())
    });
}

/// x on one bridge sends 1,000 Sequenced messages to y on another; only m,
/// on both, joins them.
fn two_bridges(test: &str, link_mode: &str) {
    let Some(mut lab) = Lab::start(test) else { return };
    let br1 = lab.bridge("br1");
    let br2 = lab.bridge("br2");
    let x = lab.netns("x");
    let m = lab.netns("m");
    let y = lab.netns("y");
    lab.attach(&x, "eth0", "10.77.1.1/24", &br1, "p-x");
    lab.attach(&m, "eth0", "10.77.1.254/24", &br1, "p-m");
    lab.attach(&m, "eth1", "10.77.2.254/24", &br2, "p-m");
    lab.attach(&y, "eth0", "10.77.2.1/24", &br2, "p-y");
    // No IP path between the segments: m does not forward, and x and y
    // have no route to each other's subnet.
    assert!(
        run("ip", &["-n", &x, "route", "get", "10.77.2.1"]).is_err(),
        "x must have no route to y's segment"
    );

    const N: u64 = 1000;
    let mode = ["--link-mode", link_mode];
    lab.spawn("y", &y, &[&mode[..], &["listen"]].concat());
    lab.spawn("m", &m, &[&mode[..], &["listen"]].concat());
    let count = N.to_string();
    let send = ["send", "--to", "y", "--count", &count, "--mode", "sequenced"];
    lab.spawn("x", &x, &[&mode[..], &send[..]].concat());
    let up = lab.expect("y", "up", |l| l.get("name") == "x");
    assert_eq!(up.get("hops"), "2", "y reaches x through m: {up:?}");

    let sent = lab.expect("x", "sent", |_| true);
    assert_eq!((sent.num("count"), sent.num("delivered"), sent.num("failed")), (N, N, 0));
    let x_id = lab.expect("x", "ready", |_| true).get("id").to_string();
    await_messages(&mut lab, "y", &x_id, N as usize);
    let seqs = received(&lab, "y", &x_id, "sequenced");
    assert_eq!(seqs, (0..N).collect::<Vec<_>>(), "every message once, in order");
    assert!(lab.lines("x", "error").is_empty() && lab.lines("y", "lagged").is_empty());
}

#[test]
fn two_bridges_joined_by_one_host_carry_sequenced_messages_in_order() {
    two_bridges("bridges-stream", "stream");
}

#[test]
fn two_bridges_joined_by_one_host_carry_sequenced_messages_on_datagram_links() {
    two_bridges("bridges-dgram", "datagram");
}

/// Drops about 10% of the packets `ns` sends and receives on `ifname`
/// (bridge side: `port` in `bridge_ns`). `tc netem` where the kernel has
/// it, else nftables. Returns how to read the drop count.
fn make_lossy(ns: &str, ifname: &str, bridge_ns: &str, port: &str) -> Box<dyn Fn() -> u64> {
    let netem = |n: &str, dev: &str| {
        run("tc", &["-n", n, "qdisc", "add", "dev", dev, "root", "netem", "loss", "10%"])
    };
    match netem(ns, ifname) {
        Ok(_) => {
            netem(bridge_ns, port).unwrap_or_else(|e| panic!("{e}"));
            let (ns, ifname, bridge_ns, port) =
                (ns.to_string(), ifname.to_string(), bridge_ns.to_string(), port.to_string());
            Box::new(move || netem_drops(&ns, &ifname) + netem_drops(&bridge_ns, &port))
        }
        Err(netem_err) => {
            let rules = "table inet ncloss {\n\
                 chain in { type filter hook input priority 0; numgen random mod 100 < 10 counter drop; }\n\
                 chain out { type filter hook output priority 0; numgen random mod 100 < 10 counter drop; }\n\
                 }\n";
            let file = std::env::temp_dir().join(format!("{ns}.nft"));
            std::fs::write(&file, rules).expect("write nft rules");
            let loaded = run("ip", &["netns", "exec", ns, "nft", "-f", &file.to_string_lossy()]);
            let _ = std::fs::remove_file(&file);
            if let Err(nft_err) = loaded {
                panic!("no way to make loss here: {netem_err}; and {nft_err}");
            }
            let ns = ns.to_string();
            Box::new(move || {
                let listing =
                    must("ip", &["netns", "exec", &ns, "nft", "list", "table", "inet", "ncloss"]);
                counter_packets(&listing)
            })
        }
    }
}

fn netem_drops(ns: &str, dev: &str) -> u64 {
    let s = must("tc", &["-s", "-n", ns, "qdisc", "show", "dev", dev]);
    // "Sent 1234 bytes 56 pkt (dropped 7, overlimits 0 requeues 0)"
    s.split("dropped ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Sum of `counter packets N bytes M` in an nft listing.
fn counter_packets(listing: &str) -> u64 {
    listing
        .split("counter packets ")
        .skip(1)
        .filter_map(|r| r.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A sender behind 10% loss each way sends `N` Reliable and `N` Sequenced
/// messages, interleaved; all arrive exactly once, Sequenced in order.
fn lossy_delivery(test: &str, link_mode: &str) {
    let Some(mut lab) = Lab::start(test) else { return };
    let br = lab.bridge("br");
    let s = lab.netns("s");
    let r = lab.netns("r");
    lab.attach(&s, "eth0", "10.77.0.1/24", &br, "p-s");
    lab.attach(&r, "eth0", "10.77.0.2/24", &br, "p-r");
    let drops = make_lossy(&s, "eth0", &br, "p-s");

    const N: u64 = 500;
    let count = N.to_string();
    let mode = ["--link-mode", link_mode];
    lab.spawn("r", &r, &[&mode[..], &["listen"]].concat());
    let send =
        ["send", "--to", "r", "--count", &count, "--mode", "reliable", "--mode", "sequenced"];
    lab.spawn("s", &s, &[&mode[..], &send[..]].concat());

    let sent = lab.expect("s", "sent", |_| true);
    assert_eq!((sent.num("count"), sent.num("delivered"), sent.num("failed")), (2 * N, 2 * N, 0));
    let s_id = lab.expect("s", "ready", |_| true).get("id").to_string();
    await_messages(&mut lab, "r", &s_id, 2 * N as usize);
    let all: Vec<u64> = (0..N).collect();
    let seq = received(&lab, "r", &s_id, "sequenced");
    assert_eq!(seq, all, "sequenced: every message once, in order");
    let mut rel = received(&lab, "r", &s_id, "reliable");
    rel.sort_unstable();
    assert_eq!(rel, all, "reliable: every message exactly once");
    assert!(lab.lines("r", "lagged").is_empty());
    let dropped = drops();
    println!("{link_mode} links: {dropped} packets dropped on the way");
    assert!(dropped > 0, "the loss rule dropped nothing: the test proved nothing");
}

#[test]
fn ten_percent_loss_keeps_reliable_delivery_exact_on_stream_links() {
    lossy_delivery("loss-stream", "stream");
}

#[test]
fn ten_percent_loss_keeps_reliable_delivery_exact_on_datagram_links() {
    lossy_delivery("loss-dgram", "datagram");
}
