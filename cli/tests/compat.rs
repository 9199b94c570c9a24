//! The client against an agent that predates the traffic figures: such an
//! agent answers MEMBERS_TRAFFIC_REQUEST with RESULT `unsupported` (as it
//! answers any type it does not know), and `members` falls back to MEMBERS
//! and shows the figures as unknown.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use bytes::Bytes;
use common::*;
use netcluster_control::admin::{AdminResult, MemberList, MemberRecord, Members, Status};
use netcluster_control::{AdminMessage, ControlFrame, ControlMessage};
use netcluster_core::wire::{NodeId, NodeState, HEADER_LEN};

fn frame(m: impl Into<AdminMessage>) -> Bytes {
    ControlFrame::new(ControlMessage::Admin(m.into())).to_bytes().unwrap()
}

#[test]
fn members_falls_back_to_the_old_listing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sock");
    let listener = UnixListener::bind(&path).unwrap();
    // An old agent, by its wire behaviour alone: MEMBERS_REQUEST (type 1)
    // is answered, anything else is `unsupported` with the request's id.
    let old = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = [0u8; HEADER_LEN];
        while s.read_exact(&mut head).is_ok() {
            let len = u32::from_be_bytes([head[6], head[7], head[8], head[9]]) as usize;
            let mut body = vec![0u8; len - HEADER_LEN];
            s.read_exact(&mut body).unwrap();
            let request_id = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            let answer = if head[4] == 1 {
                let me = MemberRecord {
                    node_id: NodeId([1; 16]),
                    incarnation: 1,
                    state: NodeState::Ready,
                    hops: 0,
                    link_addr: "127.0.0.1:7400".parse().unwrap(),
                    name: "old".into(),
                    groups: Default::default(),
                    headers: Default::default(),
                };
                let members = MemberList::from_records([me]).unwrap();
                frame(Members { request_id, members })
            } else {
                let detail = "malformed request: unknown message".into();
                frame(AdminResult { request_id, status: Status::Unsupported, detail })
            };
            s.write_all(&answer).unwrap();
        }
    });
    let out = run(&["members", "--json", "--admin", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let me = &list[0];
    assert_eq!(me["name"], "old", "{list}");
    for field in ["rx_bytes_per_sec", "tx_bytes_per_sec", "rx_msgs_per_sec", "srtt_us"] {
        assert!(me[field].is_null(), "`{field}` is unknown from an old agent: {me}");
    }
    old.join().unwrap();
}
