//! Two host daemons in network namespaces on a bridge the test makes
//! (10.77.31.0/24), a Rust application (`netcluster-client`) on one and a
//! Python application (`clients/python`) on the other: every semantics, a
//! group message and a 50 MB stream checked by sha256, both ways.
//!
//! The daemons run in the namespaces; the applications reach them through
//! their UNIX sockets in a temporary directory (the file system is shared
//! across network namespaces). Namespaces, daemons and the Python process
//! are removed by guards even when the test fails. Needs root, `ip` and
//! `python3`; elsewhere the test prints why and passes without running.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, unique_cluster, wait_for, Guard, DEADLINE};
use netcluster_client::{
    Cluster, DaemonOptions, MeshSocket, Options, Semantics, SocketOptions, Target,
};
use netcluster_tests::tools::{must, Namespaces};

fn daemon(dir: &Path, ns: &str, name: &str) -> (Guard, PathBuf) {
    let socket = dir.join(format!("{name}.sock"));
    let log = dir.join(format!("{name}.log"));
    let child = Command::new("ip")
        .args(["netns", "exec", ns, bin(), "agent", "--name", name, "--beacon", "off"])
        .args(["--log-level", "info", "--admin"])
        .arg(&socket)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("start a daemon");
    let g = Guard { child, name: name.into(), log };
    wait_for(&format!("{name}'s socket"), || std::os::unix::net::UnixStream::connect(&socket).ok());
    (g, socket)
}

fn recv(s: &MeshSocket) -> Vec<u8> {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = s.recv(&mut buf).expect("an echo within the deadline");
    buf.truncate(n);
    buf
}

#[test]
fn rust_and_python_applications_on_two_daemons_in_namespaces() {
    if Command::new("python3").arg("-V").output().is_err() {
        println!("skipped: no python3");
        return;
    }
    let Some(mut ns) = Namespaces::start(format!("ncd-{}", std::process::id())) else { return };
    let br = ns.add("br");
    must("ip", &["-n", &br, "link", "add", "br0", "type", "bridge"]);
    must("ip", &["-n", &br, "link", "set", "br0", "up"]);
    let mut hosts = Vec::new();
    for (short, ip) in [("a", "10.77.31.1/24"), ("b", "10.77.31.2/24")] {
        let host = ns.add(short);
        let port = format!("p-{short}");
        must(
            "ip",
            &[
                "-n", &br, "link", "add", &port, "type", "veth", "peer", "name", "e0", "netns",
                &host,
            ],
        );
        must("ip", &["-n", &br, "link", "set", &port, "master", "br0", "up"]);
        must("ip", &["-n", &host, "addr", "add", ip, "dev", "e0"]);
        must("ip", &["-n", &host, "link", "set", "e0", "up"]);
        hosts.push(host);
    }
    let dir = tempfile::tempdir().unwrap();
    let (_da, sock_a) = daemon(dir.path(), &hosts[0], "a");
    let sock_a2 = sock_a.clone();
    let (_db, sock_b) = daemon(dir.path(), &hosts[1], "b");
    let cluster = unique_cluster("netns");

    // The Python application on b.
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let mut py = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/daemon_netns_peer.py"))
        .arg(&sock_b)
        .arg(&cluster)
        .env("PYTHONPATH", root.join("clients/python"))
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("py.log")).unwrap())
        .spawn()
        .expect("start python3");
    let lines = BufReader::new(py.stdout.take().unwrap());
    let _py = Guard { child: py, name: "python".into(), log: dir.path().join("py.log") };

    // The Rust application on a, seeded with b's daemon.
    let opts = Options {
        broadcast: false,
        seeds: vec!["10.77.31.2:7400".into()],
        name: Some("a".into()),
        daemon: DaemonOptions { socket: sock_a, start: false, ..DaemonOptions::default() },
        ..Options::default()
    };
    let mut c = Cluster::connect(&cluster, opts).expect("a joins");
    c.wait_for_peer("b", DEADLINE * 2).expect("a sees b");
    let ready = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.lines().map_while(Result::ok) {
            if line == "READY" {
                let _ = ready.0.send(());
            }
        }
    });
    ready.1.recv_timeout(DEADLINE * 2).unwrap_or_else(|_| {
        panic!(
            "python never ready:\n{}",
            std::fs::read_to_string(dir.path().join("py.log")).unwrap_or_default()
        )
    });
    let so = SocketOptions::default();
    let mut sock = |t: Target, s: Semantics| c.socket(t, s, so).expect("socket");

    // Reliable: every message once; sequenced: once and in order.
    let rel = sock(Target::Peer("b".into()), Semantics::Reliable);
    let seq = sock(Target::Peer("b".into()), Semantics::Sequenced);
    let sent: Vec<Vec<u8>> = (0..100u32).map(|i| format!("message {i}").into_bytes()).collect();
    for m in &sent {
        rel.send(m).unwrap();
        seq.send(m).unwrap();
    }
    let mut got_rel: Vec<Vec<u8>> = sent.iter().map(|_| recv(&rel)).collect();
    let got_seq: Vec<Vec<u8>> = sent.iter().map(|_| recv(&seq)).collect();
    got_rel.sort();
    let mut want = sent.clone();
    want.sort();
    assert_eq!(got_rel, want, "reliable, both ways");
    assert_eq!(got_seq, sent, "sequenced, both ways, in order");

    // Datagram: send until an echo comes back.
    let dg = sock(Target::Peer("b".into()), Semantics::Datagram);
    dg.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let end = Instant::now() + DEADLINE;
    loop {
        dg.send(b"datagram").unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = dg.recv(&mut buf) {
            assert_eq!(&buf[..n], b"datagram");
            break;
        }
        assert!(Instant::now() < end, "no datagram came back");
    }

    // A group message, echoed on the sequenced socket.
    wait_for("b in group g", || {
        c.peers("g").ok().filter(|p| p.iter().any(|p| p.name == "b")).map(|_| ())
    });
    let g = c.socket(Target::Group("g".into()), Semantics::Reliable, so).unwrap();
    g.send(b"to g").unwrap();
    assert_eq!(recv(&seq), b"group:to g");

    // 50 MB on a stream, answered with its length and sha256.
    let mut s = c.socket(Target::Peer("b".into()), Semantics::Stream, so).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let mut h = Sha256::default();
        let mut chunk = vec![0u8; 1 << 16];
        let mut x: u32 = 12345;
        for _ in 0..(50 * 1024 * 1024 / chunk.len()) {
            for b in chunk.iter_mut() {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                *b = (x >> 16) as u8;
            }
            h.update(&chunk);
            w.write_all(&chunk).unwrap();
        }
        w.shutdown_write().unwrap();
        h.hex()
    });
    let mut answer = String::new();
    s.set_read_timeout(Some(Duration::from_secs(300))).unwrap();
    s.read_to_string(&mut answer).unwrap();
    let digest = writer.join().unwrap();
    assert_eq!(answer, format!("{} {digest}", 50 * 1024 * 1024), "the stream arrived exactly");

    // One daemon, two clusters: a second cluster on both daemons (its
    // nodes on ephemeral link ports, 7400 being the first's), whose
    // applications see only their own cluster's traffic.
    let other = format!("{cluster}-2");
    let on = |socket: &Path, seeds: Vec<String>, name: &str| Options {
        broadcast: false,
        seeds,
        name: Some(name.into()),
        daemon: DaemonOptions {
            socket: socket.to_path_buf(),
            start: false,
            ..DaemonOptions::default()
        },
        ..Options::default()
    };
    let mut b2 =
        Cluster::connect(&other, on(&sock_b, vec![], "b")).expect("b joins a second cluster");
    let b2_addr = b2.local_node().unwrap().addr;
    assert_eq!(b2_addr.ip().to_string(), "10.77.31.2", "b's second node is reachable: {b2_addr}");
    assert_ne!(b2_addr.port(), 7400);
    let mut a2 = Cluster::connect(&other, on(&sock_a2, vec![b2_addr.to_string()], "a")).unwrap();
    a2.wait_for_peer("b", DEADLINE).expect("the second cluster forms");
    assert_ne!(a2.node_id(), c.node_id(), "one node per cluster");
    let rx2 = b2.socket(Target::GroupReceive("".into()), Semantics::Sequenced, so).unwrap();
    let tx2 = a2.socket(Target::Group("".into()), Semantics::Sequenced, so).unwrap();
    let tx1 = c.socket(Target::Group("".into()), Semantics::Sequenced, so).unwrap();
    for i in 0..10 {
        tx1.send(format!("one {i}").as_bytes()).unwrap();
        tx2.send(format!("two {i}").as_bytes()).unwrap();
    }
    for i in 0..10 {
        assert_eq!(recv(&rx2), format!("two {i}").as_bytes(), "only the second cluster's traffic");
    }
    rx2.set_nonblocking(true).unwrap();
    assert!(rx2.recv(&mut [0u8; 64]).is_err(), "nothing of the first cluster");
}

/// SHA-256 (FIPS 180-4), enough for a test to check 50 MB without another
/// dependency; checked against a known digest below.
#[derive(Clone)]
struct Sha256 {
    h: [u32; 8],
    buf: Vec<u8>,
    len: u64,
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256 {
            h: [
                0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
                0x5be0cd19,
            ],
            buf: Vec::new(),
            len: 0,
        }
    }
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

impl Sha256 {
    fn block(&mut self, b: &[u8]) {
        let mut w = [0u32; 64];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        }
        for i in 16..64 {
            let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
            let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16].wrapping_add(s0).wrapping_add(w[i - 7]).wrapping_add(s1);
        }
        let mut v = self.h;
        for i in 0..64 {
            let s1 = v[4].rotate_right(6) ^ v[4].rotate_right(11) ^ v[4].rotate_right(25);
            let ch = (v[4] & v[5]) ^ (!v[4] & v[6]);
            let t1 = v[7].wrapping_add(s1).wrapping_add(ch).wrapping_add(K[i]).wrapping_add(w[i]);
            let s0 = v[0].rotate_right(2) ^ v[0].rotate_right(13) ^ v[0].rotate_right(22);
            let maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);
            let t2 = s0.wrapping_add(maj);
            v = [t1.wrapping_add(t2), v[0], v[1], v[2], v[3].wrapping_add(t1), v[4], v[5], v[6]];
        }
        for (h, x) in self.h.iter_mut().zip(v) {
            *h = h.wrapping_add(x);
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.buf.is_empty() {
            let take = (64 - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == 64 {
                let b = std::mem::take(&mut self.buf);
                self.block(&b);
            }
        }
        while data.len() >= 64 {
            self.block(&data[..64]);
            data = &data[64..];
        }
        self.buf.extend_from_slice(data);
    }

    fn hex(mut self) -> String {
        let bits = self.len * 8;
        let mut pad = vec![0x80u8];
        pad.resize((55usize.wrapping_sub(self.len as usize % 64)) % 64 + 1, 0);
        pad.extend_from_slice(&bits.to_be_bytes());
        let len = self.len;
        self.update(&pad);
        self.len = len;
        self.h.iter().map(|x| format!("{x:08x}")).collect()
    }
}

#[test]
fn the_test_sha256_is_sha256() {
    let mut h = Sha256::default();
    h.update(b"abc");
    assert_eq!(h.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    // FIPS 180-2's million "a", fed in odd pieces.
    let mut h = Sha256::default();
    for c in vec![b'a'; 1_000_000].chunks(777) {
        h.update(c);
    }
    assert_eq!(h.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}
