//! The host daemon end to end: real `netcluster agent` processes on
//! loopback, each with its socket in a temporary directory, and
//! applications using them through `netcluster-client`.

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, text, wait_for, Guard, DEADLINE};
use netcluster_client::{
    AsyncMeshSocket, Cluster, DaemonOptions, Error, EventKind, MeshSocket, Options, Semantics,
    SocketOptions, Status, Target,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A daemon started by the test, killed when dropped.
struct Daemon {
    proc: Guard,
    socket: PathBuf,
}

fn daemon(dir: &Path, name: &str, extra: &[&str]) -> Daemon {
    let socket = dir.join(format!("{name}.sock"));
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(bin())
        .args(["agent", "--name", name, "--bind", "127.0.0.1:0", "--beacon", "off"])
        .args(["--log-level", "debug", "--admin"])
        .arg(&socket)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn the daemon");
    let d = Daemon { proc: Guard { child, name: name.to_string(), log }, socket };
    wait_for(&format!("{name}'s socket"), || {
        std::os::unix::net::UnixStream::connect(&d.socket).ok().map(|_| ())
    });
    d
}

fn options(d: &Daemon, seeds: Vec<String>) -> Options {
    Options {
        broadcast: false,
        seeds,
        daemon: DaemonOptions {
            socket: d.socket.clone(),
            start: false,
            ..DaemonOptions::default()
        },
        ..Options::default()
    }
}

/// Two daemons in one cluster, seeded with each other: the application on
/// `a` and the one on `b`, and b's node name.
fn pair(dir: &Path, cluster: &str) -> (Daemon, Daemon, Cluster, Cluster) {
    let da = daemon(dir, "alpha", &[]);
    let db = daemon(dir, "bravo", &[]);
    let mut cb = Cluster::connect(cluster, options(&db, vec![])).expect("b connects");
    let b_addr = cb.local_node().expect("b's node").addr.to_string();
    let mut ca = Cluster::connect(cluster, options(&da, vec![b_addr])).expect("a connects");
    ca.wait_for_peer("bravo", DEADLINE).expect("a sees b");
    cb.wait_for_peer("alpha", DEADLINE).expect("b sees a");
    (da, db, ca, cb)
}

fn recv_msg(s: &MeshSocket) -> Vec<u8> {
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = s.recv(&mut buf).expect("a message within the deadline");
    buf.truncate(n);
    buf
}

fn sock(c: &mut Cluster, t: Target, s: Semantics) -> MeshSocket {
    c.socket(t, s, SocketOptions::default()).expect("socket")
}

#[test]
fn every_semantics_and_a_group_between_two_daemons() {
    let dir = tempfile::tempdir().unwrap();
    let (_da, _db, mut ca, mut cb) = pair(dir.path(), &common::unique_cluster("sem"));

    // Reliable: exactly once, any order. Sequenced: exactly once, in order.
    for sem in [Semantics::Reliable, Semantics::Sequenced] {
        let rx = sock(&mut cb, Target::Peer("alpha".into()), sem);
        let tx = sock(&mut ca, Target::Peer("bravo".into()), sem);
        let sent: Vec<Vec<u8>> = (0..200u32).map(|i| format!("{sem:?} {i}").into_bytes()).collect();
        for m in &sent {
            tx.send(m).unwrap();
        }
        let mut got: Vec<Vec<u8>> = (0..sent.len()).map(|_| recv_msg(&rx)).collect();
        if sem == Semantics::Reliable {
            got.sort();
            let mut want = sent.clone();
            want.sort();
            assert_eq!(got, want, "reliable: every message once");
        } else {
            assert_eq!(got, sent, "sequenced: every message once, in order");
        }
    }

    // Net::Cluster's get_bandwidth: b's node measured what came from a.
    wait_for("a rate from alpha", || {
        let rates = cb.peers_with_rates("").ok()?;
        let (peer, r) = rates.into_iter().find(|(p, _)| p.name == "alpha")?;
        (r.rx_msgs_per_sec > 0 && r.rx_bytes_per_sec > 0).then_some(peer)
    });

    // Datagram: best effort, but loopback loses nothing in practice: keep
    // sending until one arrives, and check what arrives is what was sent.
    let rx = sock(&mut cb, Target::Peer("alpha".into()), Semantics::Datagram);
    let tx = sock(&mut ca, Target::Peer("bravo".into()), Semantics::Datagram);
    rx.set_nonblocking(true).unwrap();
    let end = Instant::now() + DEADLINE;
    let got = loop {
        tx.send(b"datagram").unwrap();
        let mut buf = [0u8; 64];
        if let Ok(n) = rx.recv(&mut buf) {
            break buf[..n].to_vec();
        }
        assert!(Instant::now() < end, "no datagram arrived");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(got, b"datagram");

    // A group: b receives what a shouts to "chat".
    let rx = sock(&mut cb, Target::GroupReceive("chat".into()), Semantics::Reliable);
    wait_for("b in chat", || {
        ca.peers("chat").ok().filter(|p| p.iter().any(|p| p.name == "bravo")).map(|_| ())
    });
    let tx = sock(&mut ca, Target::Group("chat".into()), Semantics::Reliable);
    tx.send(b"hello chat").unwrap();
    assert_eq!(recv_msg(&rx), b"hello chat");

    // A stream both ways, with half-close: a writes 1 MB and finishes, b
    // reads it to its end and answers.
    let listener = sock(&mut cb, Target::ListenStreams, Semantics::Stream);
    let mut s = sock(&mut ca, Target::Peer("bravo".into()), Semantics::Stream);
    let data: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let writer = {
        let data = data.clone();
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || {
            w.write_all(&data).unwrap();
        })
    };
    let (peer, mut accepted) = listener.accept().expect("a stream");
    assert_eq!(peer, ca.node_id());
    let mut got = Vec::new();
    let reader = std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        loop {
            let n = accepted.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        accepted.write_all(b"thanks").unwrap();
        accepted.shutdown_write().unwrap();
        got
    });
    writer.join().unwrap();
    s.shutdown_write().unwrap();
    let got = reader.join().unwrap();
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the stream's bytes arrive exactly");
    let mut answer = Vec::new();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.read_to_end(&mut answer).unwrap();
    assert_eq!(answer, b"thanks");
}

#[test]
fn two_clusters_in_one_daemon_never_see_each_others_traffic() {
    let dir = tempfile::tempdir().unwrap();
    let da = daemon(dir.path(), "alpha", &[]);
    let db = daemon(dir.path(), "bravo", &[]);
    let (red, blue) = (common::unique_cluster("red"), common::unique_cluster("blue"));
    let mut b_red = Cluster::connect(&red, options(&db, vec![])).unwrap();
    let mut b_blue = Cluster::connect(&blue, options(&db, vec![])).unwrap();
    assert_ne!(b_red.node_id(), b_blue.node_id(), "one node per cluster");
    let red_addr = b_red.local_node().unwrap().addr.to_string();
    let blue_addr = b_blue.local_node().unwrap().addr.to_string();
    let mut a_red = Cluster::connect(&red, options(&da, vec![red_addr])).unwrap();
    let mut a_blue = Cluster::connect(&blue, options(&da, vec![blue_addr])).unwrap();
    a_red.wait_for_peer("bravo", DEADLINE).unwrap();
    a_blue.wait_for_peer("bravo", DEADLINE).unwrap();
    for c in [&mut a_red, &mut a_blue] {
        let peers = c.peers("").unwrap();
        assert_eq!(peers.len(), 1, "each cluster has one peer: {peers:?}");
    }
    let rx_red = sock(&mut b_red, Target::GroupReceive("".into()), Semantics::Reliable);
    let rx_blue = sock(&mut b_blue, Target::GroupReceive("".into()), Semantics::Reliable);
    let tx_red = sock(&mut a_red, Target::Group("".into()), Semantics::Reliable);
    let tx_blue = sock(&mut a_blue, Target::Group("".into()), Semantics::Reliable);
    for i in 0..20 {
        tx_red.send(format!("red {i}").as_bytes()).unwrap();
        tx_blue.send(format!("blue {i}").as_bytes()).unwrap();
    }
    for i in 0..20 {
        assert_eq!(recv_msg(&rx_red), format!("red {i}").as_bytes());
        assert_eq!(recv_msg(&rx_blue), format!("blue {i}").as_bytes());
    }
    // Nothing else is waiting on either.
    for rx in [&rx_red, &rx_blue] {
        rx.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 64];
        assert!(rx.recv(&mut buf).is_err(), "no stray message");
    }
}

#[test]
fn ten_clients_racing_start_exactly_one_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("run").join("agent.sock");
    let cluster = common::unique_cluster("race");
    let opts = Options {
        broadcast: false,
        daemon: DaemonOptions {
            socket: socket.clone(),
            start: true,
            program: PathBuf::from(bin()),
            args: vec!["--bind".into(), "127.0.0.1:0".into(), "--beacon".into(), "off".into()],
            start_timeout: DEADLINE,
        },
        ..Options::default()
    };
    let threads: Vec<_> = (0..10)
        .map(|_| {
            let (opts, cluster) = (opts.clone(), cluster.clone());
            std::thread::spawn(move || Cluster::connect(&cluster, opts))
        })
        .collect();
    let clients: Vec<Cluster> =
        threads.into_iter().map(|t| t.join().unwrap().expect("every client connects")).collect();
    let pids: std::collections::BTreeSet<u32> =
        clients.iter().map(|c| c.daemon_pid().unwrap()).collect();
    let nodes: std::collections::BTreeSet<_> = clients.iter().map(|c| c.node_id()).collect();
    let pid = *pids.iter().next().unwrap();
    let log = std::fs::read_to_string(dir.path().join("run/agent.log")).unwrap_or_default();
    let _ = Command::new("kill").args(["-TERM", &pid.to_string()]).status();
    assert_eq!(pids.len(), 1, "one daemon serves all ten: {pids:?}");
    assert_eq!(nodes.len(), 1, "one node for the cluster");
    assert_eq!(log.matches("agent running").count(), 1, "one daemon started:\n{log}");
}

#[test]
fn a_closed_client_leaves_no_socket_group_or_cluster_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "alpha", &[]);
    let cluster = common::unique_cluster("gone");
    let mut c = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    let _r = sock(&mut c, Target::GroupReceive("jobs".into()), Semantics::Reliable);
    let admin = d.socket.to_str().unwrap().to_string();
    let groups = || text(&common::run(&["groups", "--json", "--admin", &admin]).stdout);
    assert!(groups().contains("jobs"), "the node joined jobs: {}", groups());
    // The process ending closes every descriptor, as this does.
    drop(_r);
    drop(c);
    wait_for("the cluster left", || {
        let out = common::run(&["members", "--admin", &admin]);
        (!out.status.success() && text(&out.stderr).contains("no cluster")).then_some(())
    });
    assert!(d.proc.stderr().contains("cluster left"), "{}", d.proc.stderr());
}

#[test]
fn a_slow_reader_slows_its_sender_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (_da, _db, mut ca, mut cb) = pair(dir.path(), &common::unique_cluster("slow"));
    let opts = SocketOptions { queue: 4, ..SocketOptions::default() };
    let rx = cb.socket(Target::Peer("alpha".into()), Semantics::Sequenced, opts).unwrap();
    let tx = sock(&mut ca, Target::Peer("bravo".into()), Semantics::Sequenced);
    tx.set_nonblocking(true).unwrap();
    let payload = vec![7u8; 4096];
    let total = 5000usize;
    let mut sent = 0usize;
    let mut blocked = false;
    let end = Instant::now() + DEADLINE;
    // Nobody reads: the sender must be held back well before 5000 x 4 KiB.
    while sent < total && Instant::now() < end {
        let mut m = payload.clone();
        m[..8].copy_from_slice(&(sent as u64).to_be_bytes());
        match tx.send(&m) {
            Ok(_) => sent += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(e) => panic!("send: {e}"),
        }
    }
    assert!(blocked, "the sender was never held back ({sent} messages sent)");
    assert!(sent < total);
    // Now read: everything sent arrives, in order, and the rest can go.
    tx.set_nonblocking(false).unwrap();
    let reader = std::thread::spawn(move || {
        for i in 0..total {
            let m = recv_msg(&rx);
            assert_eq!(u64::from_be_bytes(m[..8].try_into().unwrap()), i as u64, "in order");
        }
    });
    for i in sent..total {
        let mut m = payload.clone();
        m[..8].copy_from_slice(&(i as u64).to_be_bytes());
        tx.send(&m).unwrap();
    }
    reader.join().expect("every message arrives in order");
}

#[test]
fn errors_are_typed_and_never_crash_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "alpha", &[]);
    let cluster = common::unique_cluster("err");

    // A wrong cluster name.
    match Cluster::connect("", options(&d, vec![])) {
        Err(Error::Refused { status: Status::BadRequest, .. }) => {}
        other => panic!("empty cluster name: {other:?}"),
    }
    // A peer that does not exist.
    let mut c = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    match c.socket(Target::Peer("nobody".into()), Semantics::Reliable, SocketOptions::default()) {
        Err(Error::Refused { status: Status::UnknownTarget, .. }) => {}
        other => panic!("unknown peer: {other:?}"),
    }
    // Timeout and retry overrides are for messages, not streams.
    let o = SocketOptions::default().timeout(Duration::from_millis(100));
    match c.socket(Target::ListenStreams, Semantics::Stream, o) {
        Err(Error::Refused { status: Status::Unsupported, .. }) => {}
        other => panic!("timeout override on a stream listener: {other:?}"),
    }
    let o = SocketOptions::default().retries(3);
    match c.socket(Target::ListenStreams, Semantics::Stream, o) {
        Err(Error::Refused { status: Status::Unsupported, .. }) => {}
        other => panic!("retry override on a stream listener: {other:?}"),
    }
    // On messages they are taken.
    let o = SocketOptions::default().timeout(Duration::from_millis(100)).retries(3);
    c.socket(Target::Group("g".into()), Semantics::Reliable, o).expect("overrides on messages");
    // Garbage on the socket: the connection is closed, the daemon lives.
    for garbage in
        [&b"hello daemon"[..], &[0x4e, 0x43, 5, 1, 3, 0, 0, 0, 0, 12, 9, 9][..], &[0xff; 4096][..]]
    {
        let mut s = std::os::unix::net::UnixStream::connect(&d.socket).unwrap();
        let _ = s.write_all(garbage);
        let _ = s.shutdown(std::net::Shutdown::Write);
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
    }
    assert!(c.local_node().is_ok(), "the daemon still answers");
    // A closed daemon: a typed error on the live connection, and none to
    // connect to afterwards.
    let mut d = d;
    d.proc.term();
    d.proc.wait_exit(DEADLINE).expect("the daemon exits on SIGTERM");
    match c.local_node() {
        Err(Error::DaemonGone) => {}
        other => panic!("after the daemon stopped: {other:?}"),
    }
    match Cluster::connect(&cluster, options(&d, vec![])) {
        Err(Error::NoDaemon(_)) => {}
        other => panic!("no daemon: {other:?}"),
    }
    // A new daemon on the same socket: the application connects again.
    let d2 = daemon(dir.path(), "alpha", &[]);
    assert_eq!(d2.socket, d.socket);
    let mut c = Cluster::connect(&cluster, options(&d2, vec![])).expect("connects again");
    assert_eq!(c.local_node().unwrap().name, "alpha");
}

#[test]
fn a_socket_of_another_user_is_refused_both_ways() {
    if netcluster_client::paths::uid() != 0 {
        println!("skipped: needs root to act as another user");
        return;
    }
    if Command::new("setpriv").arg("--help").output().is_err() {
        println!("skipped: no setpriv");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .unwrap();
    let d = daemon(dir.path(), "alpha", &[]);
    std::fs::set_permissions(&d.socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .unwrap();
    // The daemon refuses a user that is neither the owner, in its group,
    // nor root.
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            "65534",
            "--regid",
            "65534",
            "--clear-groups",
            bin(),
            "members",
            "--admin",
        ])
        .arg(&d.socket)
        .output()
        .unwrap();
    assert!(!out.status.success(), "another user was served: {}", text(&out.stdout));
    wait_for("the refusal in the log", || {
        d.proc.stderr().contains("connection refused: not the socket's owner").then_some(())
    });
}

#[test]
fn events_report_a_failed_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let (_da, db, mut ca, _cb) = pair(dir.path(), &common::unique_cluster("fail"));
    let tx = sock(&mut ca, Target::Peer("bravo".into()), Semantics::Reliable);
    // b's daemon dies without a word: what a sends after is not delivered.
    let mut db = db;
    let _ = db.proc.child.kill();
    let _ = db.proc.child.wait();
    let end = Instant::now() + Duration::from_secs(120);
    // Waiting for the event, then taking what else came without waiting.
    let mut waited = false;
    loop {
        let _ = tx.send(b"into the void");
        let e = if waited {
            ca.events().unwrap().into_iter().next()
        } else {
            ca.next_event(Duration::from_millis(500)).unwrap()
        };
        waited = !waited;
        if let Some(e) = e {
            assert_eq!(e.kind, EventKind::DeliveryFailed);
            assert_eq!(e.socket_id, tx.id());
            break;
        }
        assert!(Instant::now() < end, "no delivery_failed event");
    }
    // Later failures are reported too, and taken without waiting.
    wait_for("more delivery_failed events", || {
        let _ = tx.send(b"still nobody");
        ca.events().unwrap().into_iter().find(|e| e.kind == EventKind::DeliveryFailed)
    });
}

#[test]
fn a_socket_timeout_fails_a_message_to_a_stopped_peer_long_before_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let (da, mut db, mut ca, mut cb) = pair(dir.path(), &common::unique_cluster("timeout"));
    let o = SocketOptions::default().timeout(Duration::from_millis(300)).retries(50);
    let tx = ca.socket(Target::Peer("bravo".into()), Semantics::Reliable, o).expect("socket");
    // One message goes through: the override does not fail what is answered.
    let rx = sock(&mut cb, Target::Peer("alpha".into()), Semantics::Reliable);
    tx.send(b"before").unwrap();
    assert_eq!(recv_msg(&rx), b"before");
    // b's daemon is stopped, not killed: its links stay open and say
    // nothing, so only a timeout can fail what a sends (the keepalive
    // would take seconds to declare b gone, the default timeout 30 s).
    let pid = db.proc.child.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    // The signal stops it soon, not at once: until every thread is
    // stopped it could still acknowledge.
    wait_for("bravo stopped", || all_stopped(&pid).then_some(()));
    let sent = Instant::now();
    tx.send(b"into a stopped peer").unwrap();
    let end = sent + Duration::from_secs(20);
    let failed = loop {
        let e = ca.next_event(Duration::from_millis(500)).unwrap();
        if let Some(e) = e.filter(|e| e.kind == EventKind::DeliveryFailed) {
            break e;
        }
        if Instant::now() > end {
            let log = da.proc.stderr();
            panic!("no delivery_failed event; alpha's log ends:\n{}", tail(&log, 4000));
        }
    };
    let took = sent.elapsed();
    assert_eq!(failed.socket_id, tx.id());
    assert_eq!(failed.detail, "timeout", "failed by its timeout, not by the link's loss");
    assert!(took < Duration::from_secs(10), "the 300 ms timeout took {took:?}");
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    let _ = db.proc.child.kill();
}

#[test]
fn the_daemons_limits_refuse_with_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "alpha", &["--max-clusters", "1", "--max-sockets", "2"]);
    let mut c = Cluster::connect(&common::unique_cluster("lim"), options(&d, vec![])).unwrap();
    match Cluster::connect(&common::unique_cluster("lim2"), options(&d, vec![])) {
        Err(Error::Refused { status: Status::Limit, .. }) => {}
        other => panic!("a second cluster past --max-clusters 1: {other:?}"),
    }
    let _a = sock(&mut c, Target::GroupReceive("a".into()), Semantics::Reliable);
    assert!(c.local_node().unwrap().groups.contains(&"a".to_string()));
    let _b = sock(&mut c, Target::Group("b".into()), Semantics::Reliable);
    match c.socket(Target::Group("c".into()), Semantics::Reliable, SocketOptions::default()) {
        Err(Error::Refused { status: Status::Limit, .. }) => {}
        other => panic!("a third socket past --max-sockets 2: {other:?}"),
    }
    // Closing one makes room again.
    drop(_a);
    wait_for("room for a socket", || {
        c.socket(Target::Group("c".into()), Semantics::Reliable, SocketOptions::default()).ok()
    });
    assert!(!c.local_node().unwrap().groups.contains(&"a".to_string()), "its group is left");
}

#[test]
fn a_held_cluster_keeps_its_configured_groups_when_sockets_go() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::unique_cluster("held");
    let d = daemon(dir.path(), "alpha", &["--cluster", &cluster, "--group", "jobs"]);
    let mut c = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    let r = sock(&mut c, Target::GroupReceive("jobs".into()), Semantics::Reliable);
    let t = sock(&mut c, Target::GroupReceive("temp".into()), Semantics::Reliable);
    let groups = c.local_node().unwrap().groups;
    assert!(groups.contains(&"jobs".into()) && groups.contains(&"temp".into()), "{groups:?}");
    drop((r, t));
    drop(c);
    // The held cluster stays, with its own group; the socket's group goes.
    let mut c = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    wait_for("temp left", || {
        let g = c.local_node().ok()?.groups;
        (!g.contains(&"temp".into())).then_some(g)
    });
    assert!(c.local_node().unwrap().groups.contains(&"jobs".into()), "the configured group stays");
    assert!(d.proc.stderr().contains("agent running"), "{}", d.proc.stderr());
}

#[test]
fn admin_commands_find_the_daemons_socket_without_flags() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = common::unique_cluster("adm");
    let d = daemon(dir.path(), "alpha", &["--cluster", &cluster]);
    // An application on the same socket at the same time.
    let mut c = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    let out = Command::new(bin())
        .args(["members", "--json"])
        .env("NETCLUSTER_SOCKET", &d.socket)
        .env_remove("NETCLUSTER_ADMIN")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let members: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(members[0]["name"], "alpha", "{members}");
    assert_eq!(members[0]["id"], c.node_id().to_string());
    assert_eq!(c.local_node().unwrap().name, "alpha");
}

/// Whether every thread of process `pid` is stopped (state `T`).
fn all_stopped(pid: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('T'))
    })
}

/// The last `n` bytes of `s` (from a character boundary).
fn tail(s: &str, n: usize) -> &str {
    let mut at = s.len().saturating_sub(n);
    while !s.is_char_boundary(at) {
        at += 1;
    }
    &s[at..]
}

#[tokio::test]
async fn the_async_client_sends_receives_streams_and_waits_for_events() {
    let dir = tempfile::tempdir().unwrap();
    let (_da, db, mut ca, mut cb) = pair(dir.path(), &common::unique_cluster("async"));
    let o = SocketOptions::default().timeout(Duration::from_millis(300));
    let a = ca.socket(Target::Peer("bravo".into()), Semantics::Sequenced, o).unwrap();
    let a = AsyncMeshSocket::new(a).unwrap();
    let b = AsyncMeshSocket::new(sock(&mut cb, Target::Peer("alpha".into()), Semantics::Sequenced))
        .unwrap();
    let listen =
        AsyncMeshSocket::new(sock(&mut cb, Target::ListenStreams, Semantics::Stream)).unwrap();
    // Messages both ways, in order, boundaries kept.
    let send = async {
        for i in 0..200u32 {
            a.send(&i.to_be_bytes()).await.unwrap();
        }
    };
    let recv = async {
        let mut buf = [0u8; 16];
        for i in 0..200u32 {
            let n = b.recv(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], i.to_be_bytes());
        }
    };
    let both = async { tokio::join!(send, recv) };
    tokio::time::timeout(DEADLINE, both).await.expect("messages within the deadline");
    b.send(b"back").await.unwrap();
    let mut buf = [0u8; 16];
    let n =
        tokio::time::timeout(DEADLINE, a.recv(&mut buf)).await.expect("reply within the deadline");
    assert_eq!(&buf[..n.unwrap()], b"back");
    // A stream: written and finished on a, accepted and read to its end
    // on b.
    let s = ca.socket(Target::Peer("bravo".into()), Semantics::Stream, SocketOptions::default());
    let mut s = AsyncMeshSocket::new(s.unwrap()).unwrap();
    let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let write = async {
        s.write_all(&body).await.unwrap();
        s.shutdown().await.unwrap();
    };
    let read = async {
        let (from, mut t) = listen.accept().await.unwrap();
        assert_eq!(from, ca.node_id());
        let mut got = Vec::new();
        t.read_to_end(&mut got).await.unwrap();
        got
    };
    let (_, got) = tokio::time::timeout(DEADLINE, async { tokio::join!(write, read) })
        .await
        .expect("stream within the deadline");
    assert!(got == body, "the stream's bytes arrive whole and in order");
    // Events: b's daemon stops, a's next message times out, and the event
    // wakes an async wait.
    let pid = db.proc.child.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    wait_for("bravo stopped", || all_stopped(&pid).then_some(()));
    a.send(b"into a stopped peer").await.unwrap();
    let e = tokio::time::timeout(Duration::from_secs(60), ca.next_event_async())
        .await
        .expect("event within the deadline")
        .unwrap();
    assert_eq!((e.kind, e.socket_id), (EventKind::DeliveryFailed, a.id()));
    let _ = Command::new("kill").args(["-CONT", &pid]).status();
    drop(db);
}

/// The daemon's resident memory (`VmRSS`), in bytes.
fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the daemon lives");
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .expect("a VmRSS line");
    kb * 1024
}

/// One application's life as a killed process leaves it: a connection
/// with sockets of every kind, a group joined, messages sent and some
/// queued unread, and sometimes a cluster of its own; then every
/// descriptor closes at once, with no goodbye.
fn short_lived_client(d: &Daemon, cluster: &str, i: usize) -> Vec<Cluster> {
    let mut c = Cluster::connect(cluster, options(d, vec![])).expect("a client connects");
    let shout = sock(&mut c, Target::Group(format!("g{i}")), Semantics::Reliable);
    let _inbox = sock(&mut c, Target::GroupReceive(format!("r{i}")), Semantics::Sequenced);
    let _all = sock(&mut c, Target::GroupReceive(String::new()), Semantics::Datagram);
    let _listen = sock(&mut c, Target::ListenStreams, Semantics::Stream);
    let _dgram = sock(&mut c, Target::Group(format!("g{i}")), Semantics::Datagram);
    for _ in 0..20 {
        shout.send(&[7u8; 4096]).expect("a shout");
    }
    let mut held = vec![c];
    if i.is_multiple_of(5) {
        let own = format!("{cluster}-own{i}");
        let mut o = Cluster::connect(&own, options(d, vec![])).expect("a cluster of its own");
        let _r = sock(&mut o, Target::GroupReceive("x".into()), Semantics::Reliable);
        held.push(o);
    }
    // The sockets close here, the connections when the caller drops them.
    held
}

#[test]
fn fifty_killed_clients_leave_the_daemons_memory_where_it_was() {
    /// Growth allowed past the value after the first clients.
    const BOUND: u64 = 8 << 20;
    let dir = tempfile::tempdir().unwrap();
    let d = daemon(dir.path(), "alpha", &[]);
    let pid = d.proc.pid();
    let cluster = common::unique_cluster("rss");
    let mut holder = Cluster::connect(&cluster, options(&d, vec![])).unwrap();
    let admin = d.socket.to_str().unwrap().to_string();
    let clean = |holder: &mut Cluster| {
        let groups = holder.local_node().expect("the daemon answers").groups;
        // Admin requests answer while the daemon is in one cluster only:
        // the clients' own ones are gone.
        let one_cluster = common::run(&["members", "--admin", &admin]).status.success();
        (groups.is_empty() && one_cluster).then_some(())
    };
    // Five at a time, all dropped together, as five processes killed.
    let batch = |from: usize| {
        let alive: Vec<Vec<Cluster>> =
            (from..from + 5).map(|i| short_lived_client(&d, &cluster, i)).collect();
        drop(alive);
    };
    for b in 0..2 {
        batch(b * 5);
    }
    wait_for("the first clients cleaned up", || clean(&mut holder));
    let after_first = rss(pid);
    for b in 2..12 {
        batch(b * 5);
    }
    wait_for("fifty clients cleaned up", || clean(&mut holder));
    // Memory freed is not always returned at once: poll for it.
    let end = Instant::now() + Duration::from_secs(60);
    let last = loop {
        let now = rss(pid);
        if now <= after_first + BOUND || Instant::now() > end {
            break now;
        }
        std::thread::sleep(Duration::from_millis(250));
    };
    eprintln!(
        "daemon VmRSS: {} KiB after 10 clients, {} KiB after 60 (bound +{} KiB)",
        after_first >> 10,
        last >> 10,
        BOUND >> 10
    );
    assert!(
        last <= after_first + BOUND,
        "the daemon's RSS grew from {} KiB after 10 clients to {} KiB after 60",
        after_first >> 10,
        last >> 10
    );
    assert_eq!(holder.local_node().unwrap().name, "alpha", "the daemon still serves");
}
