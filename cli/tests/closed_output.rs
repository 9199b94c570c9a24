//! Command-line manners: a command whose reader went away ends quietly
//! (exit 0, nothing on stderr), and an agent bound to a wildcard address
//! shows an address peers can reach, not `0.0.0.0`.

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

/// Runs `netcluster ARGS` with stdout a pipe whose reader is already
/// closed, so that its first write fails with EPIPE whatever the timing.
/// Returns the exit status and stderr.
fn run_into_closed_pipe(args: &[&str]) -> (std::process::ExitStatus, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut child = Command::new(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netcluster");
    let mut err = child.stderr.take().expect("stderr");
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    let mut guard = Guard { child, name: args.join(" "), log: Default::default() };
    let status = guard.wait_exit(DEADLINE).unwrap_or_else(|| panic!("{} hung", guard.name));
    (status, t.join().unwrap())
}

#[test]
fn listing_commands_end_quietly_when_the_reader_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("pipe");
    let mut a = spawn_agent(dir.path(), &cluster, "a", &["--group", "g"]);
    own_record(&mut a);
    let admin = a.admin.to_str().unwrap();
    for cmd in ["members", "groups", "routes", "stats"] {
        for json in [false, true] {
            let mut args = vec![cmd, "--admin", admin];
            if json {
                args.push("--json");
            }
            let (status, stderr) = run_into_closed_pipe(&args);
            assert!(status.success(), "`{}` failed ({status}): {stderr}", args.join(" "));
            assert_eq!(stderr, "", "`{}` wrote on stderr", args.join(" "));
        }
    }

    // `watch` writes only when something happens: a join makes it write,
    // and it stops quietly at once.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let child = Command::new(bin())
        .args(["watch", "--json", "--admin", admin])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let mut watch = Guard { child, name: "watch".into(), log: Default::default() };
    // The subscription may not be in place yet: join and leave until the
    // watcher has something to write.
    let status = wait_for("watch to end on a closed output", || {
        for verb in ["join", "leave"] {
            let out = run(&[verb, "other", "--admin", admin]);
            assert!(out.status.success(), "{}", text(&out.stderr));
        }
        watch.wait_exit(Duration::from_millis(200))
    });
    let mut stderr = String::new();
    let _ =
        std::io::Read::read_to_string(&mut watch.child.stderr.take().expect("stderr"), &mut stderr);
    assert!(status.success(), "watch failed ({status}): {stderr}");
    assert_eq!(stderr, "");
}

/// The same through a shell, as a person types it: `head -c1` takes one
/// byte and goes; the command (which may or may not have finished writing
/// by then) exits 0 with nothing on stderr.
#[test]
fn members_piped_into_head_exits_zero_without_a_word() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("head");
    let mut a = spawn_agent(dir.path(), &cluster, "a", &[]);
    own_record(&mut a);
    for json in ["", " --json"] {
        let script = format!(
            "set -o pipefail; '{}' members{json} --admin '{}' | head -c1 >/dev/null",
            bin(),
            a.admin.display()
        );
        let out = Command::new("bash").args(["-c", &script]).output().expect("bash");
        assert!(out.status.success(), "{script}: {}", text(&out.stderr));
        assert_eq!(text(&out.stderr), "", "{script}");
    }
}

/// An agent bound to `0.0.0.0` lists itself at an address of one of its
/// interfaces with its link port.
#[test]
fn a_wildcard_agent_lists_a_reachable_address_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("wild");
    let admin = dir.path().join("w.sock");
    let log = dir.path().join("w.log");
    let child = Command::new(bin())
        .args(["agent", "--cluster", &cluster, "--name", "w", "--bind", "0.0.0.0:0"])
        .args(["--beacon", "off", "--admin"])
        .arg(&admin)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut w = Agent { proc: Guard { child, name: "w".into(), log }, admin };
    let me = own_record(&mut w);
    let addr: SocketAddr = me["addr"].as_str().unwrap().parse().unwrap();
    assert!(!addr.ip().is_unspecified(), "{me}");
    assert_ne!(addr.port(), 0, "{me}");
    let local = netcluster_tokio::net::interfaces().unwrap();
    let ours = local.iter().any(|i| match addr.ip() {
        std::net::IpAddr::V4(ip) => i.v4.iter().any(|a| a.ip == ip),
        std::net::IpAddr::V6(ip) => i.v6.contains(&ip),
    });
    assert!(ours, "{addr} is not an address of this host: {local:?}");
}
