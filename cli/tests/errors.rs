//! Every error case of the command: one clear line on stderr and a
//! non-zero exit; nothing a client sends kills the agent.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use bytes::Bytes;
use common::*;
use netcluster_control::admin::{MembersRequest, SendRequest, Status};
use netcluster_control::{AdminMessage, ControlFrame, ControlMessage};
use netcluster_core::wire::HEADER_LEN;

/// Exit code `code` and exactly one stderr line containing `needle`.
fn assert_fails(args: &[&str], code: i32, needle: &str) {
    let out = run(args);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "`{}`: stderr {err}", args.join(" "));
    assert_eq!(err.lines().count(), 1, "`{}`: not one line: {err}", args.join(" "));
    assert!(err.contains(needle), "`{}`: {err:?} lacks {needle:?}", args.join(" "));
}

#[test]
fn bad_flags() {
    assert_fails(
        &["agent", "--cluster", "c", "--name", "n", "--beacon", "sideways"],
        2,
        "sideways",
    );
    assert_fails(&["members", "--bogus"], 2, "--bogus");
    assert_fails(&["frobnicate"], 2, "frobnicate");
    // Without --cluster the agent is the host daemon; a held cluster needs
    // a node name.
    assert_fails(&["agent", "--cluster", "c"], 2, "missing --name");
    assert_fails(
        &["agent", "--cluster", "c", "--name", "n", "--header", "novalue"],
        2,
        "KEY=VALUE",
    );
    assert_fails(&["ping", "x", "--count", "0"], 2, "0");
    assert_fails(&["send", "hello"], 2, "--to");
}

#[test]
fn bad_config_file() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(&cfg, "cluster = \"c\"\nnmae = \"typo\"\n").unwrap();
    assert_fails(&["agent", "--config", cfg.to_str().unwrap()], 1, "nmae");
    assert_fails(
        &["agent", "--config", "/nonexistent/agent.toml"],
        1,
        "cannot read the config file",
    );
}

#[test]
fn missing_and_stale_admin_socket() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.sock");
    assert_fails(&["members", "--admin", missing.to_str().unwrap()], 1, "no agent at");
    // A socket file nobody listens on, as a crashed agent leaves.
    let stale = dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    assert_fails(&["members", "--admin", stale.to_str().unwrap()], 1, "stale admin socket");
    assert_fails(&["send", "--to", "x", "--admin", stale.to_str().unwrap(), "m"], 1, "stale");
    // An agent started on it replaces it.
    let mut agent = spawn_agent_at(dir.path(), &stale, &unique_cluster("err"), "fresh", &[]);
    own_record(&mut agent);
    assert!(agent.proc.stderr().contains("stale"), "{}", agent.proc.stderr());
}

#[test]
fn second_agent_on_the_same_admin_path() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("dup");
    let mut first = spawn_agent(dir.path(), &cluster, "one", &[]);
    own_record(&mut first);
    let out = run(&[
        "agent",
        "--cluster",
        &cluster,
        "--name",
        "two",
        "--bind",
        "127.0.0.1:0",
        "--beacon",
        "off",
        "--log-level",
        "warn",
        "--admin",
        first.admin.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("another agent is already serving"), "{err}");
    // The first one is untouched.
    own_record(&mut first);
}

#[test]
fn unknown_node_and_malformed_requests() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("bad");
    let mut agent = spawn_agent(dir.path(), &cluster, "solo", &[]);
    own_record(&mut agent);
    let admin = agent.admin.to_str().unwrap().to_string();
    assert_fails(&["send", "--to", "nobody", "--admin", &admin, "hi"], 1, "unknown node `nobody`");
    assert_fails(&["ping", "nobody", "--admin", &admin], 1, "unknown node");
    assert_fails(&["send", "--to", "solo", "--admin", &admin, "hi"], 1, "own node");
    assert_fails(&["leave", "nothere", "--admin", &admin], 1, "not member");

    let mut s = UnixStream::connect(&agent.admin).unwrap();
    s.set_read_timeout(Some(DEADLINE)).unwrap();

    // A SEND cut short after its mode: answered bad_request, same id.
    let send = frame(SendRequest {
        request_id: 77,
        mode: netcluster_control::admin::DeliveryMode::Datagram,
        target: "x".into(),
        payload: Bytes::new(),
    });
    s.write_all(&reframe(&send[..HEADER_LEN + 5])).unwrap();
    let r = read_result(&mut s);
    assert_eq!((r.request_id, r.status), (77, Status::BadRequest), "{r:?}");

    // An admin type nobody defined: unsupported.
    let mut odd = frame(MembersRequest { request_id: 78 }).to_vec();
    odd[4] = 31;
    s.write_all(&odd).unwrap();
    let r = read_result(&mut s);
    assert_eq!((r.request_id, r.status), (78, Status::Unsupported), "{r:?}");

    // The connection still works after both.
    s.write_all(&frame(MembersRequest { request_id: 79 })).unwrap();
    match read_message(&mut s) {
        AdminMessage::Members(m) => assert_eq!(m.request_id, 79),
        other => panic!("expected MEMBERS, got {other:?}"),
    }

    // Garbage that cannot be framed: an error, then the connection closes.
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    let r = read_result(&mut s);
    assert_eq!(r.status, Status::BadRequest);
    let mut rest = Vec::new();
    let n = s.read_to_end(&mut rest).expect("the agent closes the connection");
    assert_eq!(n, 0);

    // A client that vanishes mid-frame.
    let mut s = UnixStream::connect(&agent.admin).unwrap();
    s.write_all(&frame(MembersRequest { request_id: 1 })[..7]).unwrap();
    drop(s);

    // The agent is alive and answering.
    assert!(agent.proc.child.try_wait().unwrap().is_none(), "the agent died");
    assert_eq!(members(&agent.admin).expect("agent answers").len(), 1);
    std::thread::sleep(Duration::from_millis(100));
    assert!(agent.proc.child.try_wait().unwrap().is_none(), "the agent died");
}

fn frame(m: impl Into<AdminMessage>) -> Bytes {
    ControlFrame::new(ControlMessage::Admin(m.into())).to_bytes().unwrap()
}

/// `bytes` with the header's length field fixed to its actual size.
fn reframe(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    let len = u32::try_from(v.len()).unwrap().to_be_bytes();
    v[6..10].copy_from_slice(&len);
    v
}

fn read_message(s: &mut UnixStream) -> AdminMessage {
    let mut head = [0u8; HEADER_LEN];
    s.read_exact(&mut head).expect("a frame header");
    let len = u32::from_be_bytes([head[6], head[7], head[8], head[9]]) as usize;
    let mut buf = head.to_vec();
    buf.resize(len, 0);
    s.read_exact(&mut buf[HEADER_LEN..]).expect("a frame body");
    match ControlFrame::parse(&Bytes::from(buf)).expect("a valid frame").message {
        ControlMessage::Admin(m) => m,
        other => panic!("not an admin message: {other:?}"),
    }
}

fn read_result(s: &mut UnixStream) -> netcluster_control::admin::AdminResult {
    match read_message(s) {
        AdminMessage::Result(r) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

#[test]
fn agent_that_cannot_start_leaves_no_socket() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().to_string();
    let admin = dir.path().join("busy.sock");
    let out = run(&[
        "agent",
        "--cluster",
        &unique_cluster("busy"),
        "--name",
        "busy",
        "--bind",
        &port,
        "--beacon",
        "off",
        "--log-level",
        "warn",
        "--admin",
        admin.to_str().unwrap(),
    ]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("cannot start the node"), "{err}");
    assert!(!admin.exists(), "the admin socket was left behind");
}

#[test]
fn oversized_message_is_refused_by_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = spawn_agent(dir.path(), &unique_cluster("big"), "big", &[]);
    own_record(&mut agent);
    let big = vec![b'x'; 2 << 20];
    let out = run_with_stdin(
        &["send", "--to", "someone", "--admin", agent.admin.to_str().unwrap()],
        Some(&big),
    );
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("the admin socket takes at most"), "{err}");
}
