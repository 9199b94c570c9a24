//! The Wireshark dissector (`tools/wireshark/netcluster.lua`) on a capture
//! of real agents: three `netcluster agent`s of a keyed cluster (`keygen`,
//! `--keyring`, so discovery carries the replay counter and the auth tag)
//! and a `netcluster tracker`, each in its own Linux network namespace:
//!
//! ```text
//!   t (tracker, 10.77.1.100)
//!   a (10.77.1.1) --- br1 --- b (10.77.1.254 | 10.77.2.254) --- br2 --- c (10.77.2.1)
//! ```
//!
//! No IP path joins the two bridges: a reaches c only through b, so DATA
//! from a to c carries a three-entry source route. `tcpdump -i any` in b's
//! namespace records everything b sends and receives (both links, the
//! beacons of both segments, b's tracker traffic) into a pcap under
//! `target/`, from before the agents start until after they have left. Then
//! `tshark -X lua_script:tools/wireshark/netcluster.lua -T json` decodes it,
//! and the test checks that every netcluster frame decodes with no malformed
//! mark and no expert warning, that discovery, link and tracker frames were
//! all seen, and that the decoded fields are what the agents report: node
//! ids, incarnations and names (`members --json`), the security fields.
//!
//! The cluster is keyed, so its links are encrypted (PROTOCOL 12): after
//! HELLO, WELCOME, NOISE_INIT and NOISE_RESP every link frame is a SEALED
//! record. The test checks that no other link frame crosses the wire in
//! clear, that the messages a sends (routed through b) appear nowhere in
//! the capture's bytes, and that the large message's 64 KiB fragments
//! were split into full records. The DATA, ACK and LSA fields themselves
//! are checked on the golden vectors (`tests/tests/dissector.rs`).
//!
//! The admin sub-protocol runs over a UNIX socket, which no interface
//! carries, so it is not in this capture; the golden-vector tests of the
//! tests crate (`tests/tests/dissector.rs`) cover its every message.
//!
//! Needs root, `ip`, `tcpdump`, `tshark` (with Lua), and `setpriv` where a
//! root tshark refuses Lua scripts; elsewhere the test prints why and
//! passes without running.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use netcluster_core::auth::verify_frame;
use netcluster_core::wire::Frame;
use netcluster_tests::tools::{must, run_tool, Namespaces};
use netcluster_tests::tshark::{self, Tshark, SEVERITY_WARN};
use serde_json::Value;

/// Prefix of every namespace this test creates.
const PREFIX: &str = "ncws-";
/// Reliable messages a sends to c, `msg-0` ... before one large one.
const SMALL: u64 = 5;
/// The large message: four fragments of 64 KiB or less (`fragment_size`,
/// PROTOCOL 7.7), each a DATA frame longer than one record.
const LARGE: usize = 200_000;

/// The processes and namespaces of the test; the processes are killed
/// first when it ends, however it ends.
struct Lab {
    procs: Vec<Guard>,
    dir: tempfile::TempDir,
    /// Dropped after the processes (fields drop after `drop`).
    ns: Namespaces,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.procs.clear();
    }
}

impl Lab {
    fn bridge(&mut self, short: &str) -> String {
        let ns = self.ns.add(short);
        must("ip", &["-n", &ns, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        must("ip", &["-n", &ns, "link", "set", "br0", "up"]);
        ns
    }

    fn attach(&mut self, host_ns: &str, ifname: &str, cidr: &str, bridge_ns: &str, port: &str) {
        let veth = ["link", "add", port, "type", "veth", "peer", "name", ifname, "netns", host_ns];
        must("ip", &[&["-n", bridge_ns][..], &veth[..]].concat());
        must("ip", &["-n", bridge_ns, "link", "set", port, "master", "br0", "up"]);
        must("ip", &["-n", host_ns, "addr", "add", cidr, "dev", ifname]);
        must("ip", &["-n", host_ns, "link", "set", ifname, "up"]);
    }

    /// Starts `program args` in namespace `ns`, its stderr (and stdout) in
    /// `<name>.log`.
    fn spawn(&mut self, name: &str, ns: &str, program: &str, args: &[&str]) {
        let log = self.dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.procs.push(Guard { child, name: name.into(), log });
    }

    fn proc(&mut self, name: &str) -> &mut Guard {
        self.procs.iter_mut().find(|p| p.name == name).unwrap_or_else(|| panic!("no {name}"))
    }

    fn admin(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }

    /// SIGTERM, then the exit within the deadline.
    fn stop(&mut self, name: &str) {
        let p = self.proc(name);
        p.term();
        let status = p.wait_exit(DEADLINE).unwrap_or_else(|| panic!("{name} did not exit"));
        assert!(status.success(), "{name} exited with {status}:\n{}", p.stderr());
    }

    /// Every agent's log, for failure messages.
    fn logs(&self) -> String {
        self.procs.iter().map(|p| format!("--- {}\n{}", p.name, p.stderr())).collect()
    }
}

/// `netcluster <args> --admin <agent's socket>`, which must succeed.
fn cli(admin: &Path, args: &[&str], stdin: Option<&[u8]>) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--admin", admin.to_str().expect("UTF-8 path")]);
    let out = run_with_stdin(&all, stdin);
    assert!(out.status.success(), "`netcluster {}` failed: {}", all.join(" "), text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

/// One decoded netcluster frame: its sub-protocol, message type and tree.
struct Decoded<'a> {
    packet: usize,
    protocol: u64,
    msg_type: u64,
    /// The TCP connection it came on (tshark's `tcp.stream`), if any.
    stream: Option<String>,
    tree: &'a Value,
    /// The frame's bytes.
    raw: Vec<u8>,
}

impl Decoded<'_> {
    fn get(&self, field: &str) -> Option<String> {
        tshark::value(self.tree, field)
    }

    fn all(&self, field: &str) -> Vec<String> {
        tshark::values(self.tree, field)
    }

    fn num(&self, field: &str) -> Option<u64> {
        let v = self.get(field)?;
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).ok(),
            None => v.parse().ok(),
        }
    }

    fn is(&self, protocol: u64, msg_type: u64) -> bool {
        self.protocol == protocol && self.msg_type == msg_type
    }
}

const TYPE_FIELDS: [&str; 4] = [
    "netcluster.discovery.type",
    "netcluster.link.type",
    "netcluster.admin.type",
    "netcluster.tracker.type",
];

/// Every netcluster frame of a capture, and what is wrong: malformed
/// marks, expert warnings or errors of the dissector, frames of no known
/// type, netcluster traffic left undecoded.
fn analyse(packets: &[Value]) -> (Vec<Decoded<'_>>, Vec<String>) {
    let mut decoded = Vec::new();
    let mut problems = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        let frames = tshark::frames(p);
        let raws = tshark::frame_bytes(p);
        let stream = tshark::value(tshark::layers(p), "tcp.stream");
        if raws.len() != frames.len() {
            problems.push(format!("packet {}: {} frames, {} raw", i + 1, frames.len(), raws.len()));
        }
        let marks = tshark::malformed_marks(p);
        if !frames.is_empty() && !marks.is_empty() {
            problems.push(format!("packet {}: {marks:?}", i + 1));
        }
        for (f, raw) in frames.iter().zip(raws) {
            let bad: Vec<_> =
                tshark::experts(f).into_iter().filter(|e| e.severity >= SEVERITY_WARN).collect();
            if !bad.is_empty() {
                problems.push(format!("packet {}: {bad:?}", i + 1));
            }
            let protocol = tshark::value(f, "netcluster.protocol").and_then(|v| v.parse().ok());
            let msg_type = (1..=4)
                .find(|&p| Some(p) == protocol)
                .and_then(|p| tshark::value(f, TYPE_FIELDS[p as usize - 1]))
                .and_then(|v| v.parse().ok());
            match (protocol, msg_type) {
                (Some(protocol), Some(msg_type)) => {
                    let stream = stream.clone();
                    decoded.push(Decoded {
                        packet: i + 1,
                        protocol,
                        msg_type,
                        stream,
                        tree: f,
                        raw,
                    })
                }
                _ => problems.push(format!("packet {}: a frame without a known type", i + 1)),
            }
        }
        // Nothing on the netcluster ports goes undecoded: every UDP
        // datagram and every TCP segment with payload either holds frames
        // or is part of a frame reassembled in a later segment.
        let l = tshark::layers(p);
        let ports: Vec<String> = ["udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport"]
            .iter()
            .flat_map(|f| tshark::values(l, f))
            .collect();
        let ours = ports.iter().any(|p| p == "7400" || p == "5670" || p == "7401");
        let tcp_payload = tshark::value(l, "tcp.len").is_some_and(|n| n != "0");
        let reassembled_later = tshark::value(l, "tcp.reassembled_in").is_some();
        let udp = l.get("udp").is_some();
        if ours && (udp || tcp_payload) && !reassembled_later && frames.is_empty() {
            problems.push(format!("packet {}: netcluster traffic not decoded", i + 1));
        }
        // Nor on any other port: no payload that starts with the magic is
        // left to the generic "data" dissector.
        if tshark::value(l, "data.data").is_some_and(|d| d.starts_with("4e:43")) {
            problems.push(format!("packet {}: a frame on another port not decoded", i + 1));
        }
    }
    (decoded, problems)
}

#[test]
fn the_dissector_decodes_a_capture_of_real_agents() {
    let ts = match Tshark::find() {
        Ok(t) => {
            println!("tshark: {}", t.describe());
            t
        }
        Err(why) => {
            println!("skipped: {why}");
            return;
        }
    };
    if let Err(e) = run_tool("tcpdump", &["--version"]) {
        println!("skipped: tcpdump is not installed: {e}");
        return;
    }
    let Some(ns) = Namespaces::start(format!("{PREFIX}{}", std::process::id())) else { return };
    let mut lab = Lab { procs: Vec::new(), dir: tempfile::tempdir().expect("temp dir"), ns };
    let cluster = unique_cluster("ws");

    let br1 = lab.bridge("br1");
    let br2 = lab.bridge("br2");
    let [a_ns, b_ns, c_ns, t_ns] = ["a", "b", "c", "t"].map(|h| lab.ns.add(h));
    lab.attach(&a_ns, "e0", "10.77.1.1/24", &br1, "p-a");
    lab.attach(&b_ns, "e0", "10.77.1.254/24", &br1, "p-b1");
    lab.attach(&b_ns, "e1", "10.77.2.254/24", &br2, "p-b2");
    lab.attach(&c_ns, "e0", "10.77.2.1/24", &br2, "p-c");
    lab.attach(&t_ns, "e0", "10.77.1.100/24", &br1, "p-t");
    assert!(
        run_tool("ip", &["-n", &a_ns, "route", "get", "10.77.2.1"]).is_err(),
        "a must have no IP route to c's segment"
    );

    // The capture starts before anything speaks.
    let capture_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dissector");
    std::fs::create_dir_all(&capture_dir).expect("capture dir");
    let pcap = capture_dir.join("agents.pcap");
    let _ = std::fs::remove_file(&pcap);
    let pcap_arg = pcap.to_str().expect("UTF-8 path").to_string();
    lab.spawn(
        "tcpdump",
        &b_ns,
        "tcpdump",
        &["-i", "any", "--immediate-mode", "-B", "65536", "-U", "-Z", "root", "-w", &pcap_arg],
    );
    wait_for("tcpdump to listen", || {
        let p = lab.proc("tcpdump");
        if let Ok(Some(st)) = p.child.try_wait() {
            panic!("tcpdump exited ({st}): {}", p.stderr());
        }
        p.stderr().contains("listening on").then_some(())
    });

    let key = lab.dir.path().join("cluster.key");
    let out = run(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "keygen: {}", text(&out.stderr));
    let key = key.to_str().unwrap().to_string();

    lab.spawn("tracker", &t_ns, bin(), &["tracker", "--listen", "10.77.1.100:7401"]);
    for (name, ns, tracker) in [("b", &b_ns, true), ("a", &a_ns, true), ("c", &c_ns, false)] {
        let admin = lab.admin(name).to_str().unwrap().to_string();
        let mut args = vec!["agent", "--cluster", &cluster, "--name", name, "--log-level", "info"];
        args.extend(["--admin", &admin, "--keyring", &key]);
        if tracker {
            args.extend(["--tracker", "10.77.1.100:7401"]);
        }
        lab.spawn(name, ns, bin(), &args);
    }

    // Everyone lists everyone; a's route to c goes through b.
    let names = ["a", "b", "c"];
    let end = Instant::now() + DEADLINE * 2;
    let mut ids: BTreeMap<String, (String, u64)> = BTreeMap::new(); // name -> (id, incarnation)
    for me in names {
        loop {
            let listed = members(&lab.admin(me)).unwrap_or_default();
            for m in &listed {
                if let (Some(n), Some(id), Some(inc)) =
                    (m["name"].as_str(), m["id"].as_str(), m["incarnation"].as_u64())
                {
                    ids.insert(n.to_string(), (id.to_string(), inc));
                }
            }
            let seen: BTreeSet<&str> = listed.iter().filter_map(|m| m["name"].as_str()).collect();
            if names.iter().all(|n| seen.contains(n)) {
                break;
            }
            assert!(Instant::now() < end, "{me} lists only {seen:?}\n{}", lab.logs());
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let id = |n: &str| ids[n].0.clone();
    let route = wait_for("a's route to c", || {
        let v = cli(&lab.admin("a"), &["routes", "--json"], None);
        v.as_array()?.iter().find(|r| r["destination"] == id("c").as_str()).cloned()
    });
    let path: Vec<String> = route["path"]
        .as_array()
        .expect("a path")
        .iter()
        .map(|p| p.as_str().expect("an id").to_string())
        .collect();
    assert_eq!(path, [id("b"), id("c")], "a reaches c through b: {route}");

    // b's links, to a and to c, run over Noise (`links --json`).
    let links = wait_for("b's two encrypted links", || {
        let v = cli(&lab.admin("b"), &["links", "--json"], None);
        let up: Vec<&Value> = v.as_array()?.iter().filter(|l| l["up"] == true).collect();
        (up.len() == 2 && up.iter().all(|l| l["encrypted"] == true)).then_some(v.clone())
    });
    println!("b's links: {links}");

    // Traffic: reliable messages a -> c (sequence numbers 0, 1, ... on
    // channel 1), one large enough to be fragmented, a shout to everyone and
    // two pings through the mesh.
    for i in 0..SMALL {
        cli(
            &lab.admin("a"),
            &["send", "--to", "c", "--mode", "reliable", &format!("msg-{i}")],
            None,
        );
    }
    let large: Vec<u8> = (0..LARGE).map(|i| b'a' + (i % 26) as u8).collect();
    cli(&lab.admin("a"), &["send", "--to", "c", "--mode", "reliable"], Some(&large));
    cli(&lab.admin("a"), &["shout", "--group", "", "--mode", "reliable", "hello-all"], None);
    cli(&lab.admin("a"), &["ping", "c", "--count", "2"], None);

    // Everyone leaves cleanly (GOODBYE, the EXIT beacon, the FLUSH LSA, the
    // last REGISTER), then the capture ends, once it holds b's last frames:
    // its EXIT beacon and its REGISTER with ttl 0. (Immediate mode: without
    // it the kernel hands packets over in blocks, and tcpdump stopped by a
    // signal loses the last ones.)
    for name in ["c", "a", "b", "tracker"] {
        lab.stop(name);
    }
    let b_exit = format!("netcluster.state == 4 && netcluster.node_id == {}", id("b"));
    for (what, filter) in [
        ("b's EXIT beacon", b_exit.as_str()),
        ("b's last REGISTER", "netcluster.tracker.type == 1 && netcluster.tracker.ttl_s == 0"),
    ] {
        wait_for(&format!("{what} in the capture"), || {
            let out = ts.run(&["-r", &pcap_arg, "-Y", filter]).expect("tshark");
            (!out.stdout.is_empty()).then_some(())
        });
    }
    lab.stop("tcpdump");
    let logs = lab.logs();
    // A capture that lost packets would show frames cut in the middle: the
    // capture is at fault then, not the dissector. The 64 MiB buffer (-B)
    // holds far more than this test sends.
    let stats = lab.proc("tcpdump").stderr();
    let dropped = stats
        .lines()
        .find_map(|l| l.strip_suffix(" packets dropped by kernel"))
        .and_then(|n| n.trim().parse::<u64>().ok());
    assert_eq!(dropped, Some(0), "the capture is incomplete:\n{stats}");

    let packets = ts.json(&pcap, &[]);
    let (decoded, problems) = analyse(&packets);
    assert!(problems.is_empty(), "{} problems:\n{}\n{logs}", problems.len(), problems.join("\n"));

    // The same capture with the ports unregistered: the heuristic
    // dissectors (the "NC" magic over UDP and TCP) find every frame.
    let no_ports = [
        "netcluster.tcp_link_port",
        "netcluster.udp_link_port",
        "netcluster.udp_beacon_port",
        "netcluster.udp_tracker_port",
    ]
    .map(|p| format!("{p}:0"));
    let args: Vec<&str> = no_ports.iter().flat_map(|p| ["-o", p.as_str()]).collect();
    let heuristic = ts.json(&pcap, &args);
    let (found, problems) = analyse(&heuristic);
    assert!(problems.is_empty(), "heuristically: {}", problems.join("\n"));
    let frames_of =
        |d: &[Decoded]| d.iter().map(|d| (d.packet, d.protocol, d.msg_type)).collect::<Vec<_>>();
    assert_eq!(frames_of(&found), frames_of(&decoded), "the heuristics find the same frames");

    let mut kinds: BTreeMap<(u64, u64), usize> = BTreeMap::new();
    for d in &decoded {
        *kinds.entry((d.protocol, d.msg_type)).or_default() += 1;
    }
    println!(
        "{} packets, {} netcluster frames decoded; by (sub-protocol, type): {kinds:?}",
        packets.len(),
        decoded.len()
    );
    println!("admin: not captured (a UNIX socket); its messages are checked on the golden vectors");
    // discovery BEACON and SEARCH; link HELLO, WELCOME, NOISE_INIT,
    // NOISE_RESP and SEALED; tracker REGISTER and PEERS.
    for want in [(1, 1), (1, 2), (2, 1), (2, 2), (2, 13), (2, 14), (2, 15), (4, 1), (4, 2)] {
        assert!(kinds.contains_key(&want), "no frame of (sub-protocol, type) {want:?} decoded");
    }
    // Encrypted links: nothing but the handshake's frames in clear. A
    // GOODBYE may close a connection in clear before its handshake is done
    // (two agents that dial each other at once keep one link, decided on
    // HELLO), never once a SEALED record has crossed that connection.
    let mut sealed_streams = std::collections::BTreeSet::new();
    let mut clear: Vec<(usize, u64)> = Vec::new();
    for d in decoded.iter().filter(|d| d.protocol == 2) {
        if d.msg_type == 15 {
            sealed_streams.insert(d.stream.clone());
        }
        let handshake = [1, 2, 3, 13, 14, 15].contains(&d.msg_type);
        let early_goodbye =
            d.msg_type == 10 && d.stream.is_some() && !sealed_streams.contains(&d.stream);
        if !handshake && !early_goodbye {
            clear.push((d.packet, d.msg_type));
        }
    }
    assert!(
        clear.is_empty(),
        "link frames in clear on an encrypted link (packet, type): {clear:?}"
    );

    // Discovery: every announcement is signed: the key id is the cluster
    // key's, and the counter and tag the dissector shows are those the core
    // verifies with the keyring; node id and incarnation are an agent's;
    // replay counters never go back.
    let ring = netcluster_net::keyfile::load_keyring(Path::new(&key)).expect("the keyring");
    let key_id = format!("0x{:02x}", ring.primary().id());
    let agents: BTreeMap<String, u64> = ids.values().cloned().collect();
    let mut key_ids = BTreeSet::new();
    let mut counters: BTreeMap<String, u64> = BTreeMap::new();
    let mut announcers = BTreeSet::new();
    for d in decoded.iter().filter(|d| d.protocol == 1) {
        let node = d.get("netcluster.node_id").expect("node_id");
        let inc = d.num("netcluster.incarnation").expect("incarnation");
        assert_eq!(agents.get(&node), Some(&inc), "packet {}: {node} incarnation {inc}", d.packet);
        announcers.insert(node.clone());
        let ctr = d.num("netcluster.ext.replay_counter");
        let ctr = ctr.unwrap_or_else(|| panic!("packet {}: no replay counter", d.packet));
        key_ids.insert(d.get("netcluster.ext.key_id").expect("key id"));
        let frame = Frame::parse(&Bytes::from(d.raw.clone()))
            .unwrap_or_else(|e| panic!("packet {}: the codec refuses the frame: {e:?}", d.packet));
        let verified = verify_frame(&ring, &d.raw, &frame.extensions);
        assert_eq!(verified, Ok(ctr), "packet {}: the tag verifies, with this counter", d.packet);
        let tag = tshark::leaves(d.tree, "netcluster.ext.auth_tag");
        assert!(tag.len() == 1 && tag[0].len == 16, "packet {}: tag {tag:?}", d.packet);
        let last = counters.entry(node).or_insert(0);
        assert!(ctr >= *last, "packet {}: replay counter {ctr} after {last}", d.packet);
        *last = ctr;
    }
    assert_eq!(announcers.len(), 3, "b hears the announcements of all three agents");
    assert_eq!(key_ids, BTreeSet::from([key_id]), "the cluster key's id");

    // Link intros name the agents with their own ids and names.
    for d in decoded.iter().filter(|d| d.is(2, 1) || d.is(2, 2)) {
        let node = d.get("netcluster.node_id").expect("node_id");
        let name = d.get("netcluster.name").expect("name");
        assert_eq!(ids.get(&name).map(|x| &x.0), Some(&node), "packet {}: {name}", d.packet);
        assert_eq!(d.get("netcluster.cluster").as_deref(), Some(cluster.as_str()));
    }
    // The Noise handshakes name the cluster key.
    for d in decoded.iter().filter(|d| d.is(2, 13)) {
        let id = d.get("netcluster.noise.key_id");
        assert_eq!(id.as_deref(), key_ids.first().map(String::as_str), "packet {}", d.packet);
    }
    // Confidentiality: the messages a sent to c through b, and the shout,
    // cross b's links only sealed: their bytes are nowhere in the capture.
    let raw = std::fs::read(&pcap).expect("the capture");
    let contains = |needle: &[u8]| raw.windows(needle.len()).any(|w| w == needle);
    for i in 0..SMALL {
        assert!(!contains(format!("msg-{i}").as_bytes()), "msg-{i} in clear in the capture");
    }
    assert!(!contains(b"hello-all"), "the shout in clear in the capture");
    assert!(!contains(&large[1000..1064]), "the large message in clear in the capture");
    // Its 64 KiB fragments make DATA frames longer than one record's
    // 65,519 bytes: they went as full records (ciphertext 65,535, frame
    // 65,553) and a rest.
    let full = decoded.iter().filter(|d| d.is(2, 15) && d.num("netcluster.length") == Some(65_553));
    assert!(full.count() >= 2, "full records of the large message's fragments");

    // Leaving: b's last REGISTER with ttl 0 (the GOODBYEs are sealed).
    let registers: Vec<&Decoded> = decoded.iter().filter(|d| d.is(4, 1)).collect();
    for d in &registers {
        let node = d.get("netcluster.node_id").expect("node_id");
        assert_eq!(node, id("b"), "packet {}: only b's REGISTERs cross b's interfaces", d.packet);
    }
    assert!(
        registers.iter().any(|d| d.num("netcluster.tracker.ttl_s") == Some(0)),
        "b deregisters"
    );
    for d in decoded.iter().filter(|d| d.is(4, 2)) {
        for node in d.all("netcluster.node_id") {
            assert_eq!(node, id("a"), "packet {}: b's tracker lists a, not b itself", d.packet);
        }
    }
    println!("capture: {}", pcap.display());
}
