//! Two agents on loopback, driven through the `netcluster` binary:
//! membership both ways, the listings (traffic figures and links
//! included), a message seen by `watch --json`, ping, and a SIGTERM seen
//! by the other side as a clean leave.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn two_agents_members_send_watch_and_leave() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("two");
    let mut a = spawn_agent(dir.path(), &cluster, "a", &["--group", "g1", "--header", "role=x"]);
    let a_self = own_record(&mut a);
    let a_addr = a_self["addr"].as_str().unwrap().to_string();
    let a_id = a_self["id"].as_str().unwrap().to_string();
    assert_eq!(a_self["name"], "a");
    assert_eq!(a_self["groups"], serde_json::json!(["g1"]));
    assert_eq!(a_self["headers"]["role"], "x");
    assert!(a_addr.starts_with("127.0.0.1:"), "{a_addr}");

    let mut b = spawn_agent(dir.path(), &cluster, "b", &["--seed", &a_addr]);
    let b_id = own_record(&mut b)["id"].as_str().unwrap().to_string();

    // Each lists both, itself with hops 0 and the other with hops 1.
    for (agent, me, other) in [(&a, "a", "b"), (&b, "b", "a")] {
        let list = wait_for(&format!("{me} to list {other}"), || {
            let m = members(&agent.admin)?;
            (m.len() == 2 && m.iter().any(|x| x["name"] == other)).then_some(m)
        });
        for m in &list {
            for field in ["id", "name", "state", "addr", "groups", "headers", "hops"] {
                assert!(m.get(field).is_some(), "member without `{field}`: {m}");
            }
            let hops = if m["name"] == me { 0 } else { 1 };
            assert_eq!(m["hops"], hops, "{m}");
            assert_eq!(m["state"], "ready");
        }
    }

    // Groups, routes, stats.
    let out = run(&["groups", "--json", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let groups: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        groups.as_array().unwrap().iter().any(|g| g["name"] == "g1" && g["members"][0] == a_id),
        "{groups}"
    );
    let out = run(&["routes", "--json", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let routes: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let r = &routes[0];
    assert_eq!(r["destination"], a_id.as_str(), "{routes}");
    assert_eq!(r["next_hop"], a_id.as_str());
    assert_eq!(r["hops"], 1);
    let out = run(&["stats", "--json", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(stats["frames_received"].as_u64().unwrap() > 0, "{stats}");
    assert_eq!(stats["peers_reachable"], 1);
    for key in ["datagrams_sent", "frame_bytes_sent", "dropped_malformed", "retransmissions"] {
        assert!(stats.get(key).is_some(), "stats without `{key}`");
    }
    let out = run(&["members", "--admin", b.admin.to_str().unwrap()]);
    assert!(text(&out.stdout).starts_with("NAME"), "{}", text(&out.stdout));

    // A message from a, seen by b's watch. The watch subscribes a moment
    // after it starts, so the send is repeated until one is seen.
    let watch = spawn_watch(dir.path(), &b.admin);
    let seen = wait_for("b's watch to show a's message", || {
        let out = run(&["send", "--to", "b", "--admin", a.admin.to_str().unwrap(), "hello b"]);
        assert!(out.status.success(), "send failed: {}", text(&out.stderr));
        watch.find(Duration::from_secs(2), |e| e["event"] == "message")
    });
    assert_eq!(seen["from"], a_id.as_str(), "{seen}");
    assert_eq!(seen["from_name"], "a");
    assert_eq!(seen["payload"], "hello b");
    assert!(seen["group"].is_null());
    assert_eq!(seen["mode"], "reliable");

    // From stdin, binary, by id: shown as base64.
    let out = run_with_stdin(
        &["send", "--to", &b_id, "--admin", a.admin.to_str().unwrap()],
        Some(&[0xff, 0xfe, 0x00]),
    );
    assert!(out.status.success(), "send failed: {}", text(&out.stderr));
    let bin = watch
        .find(common::DEADLINE, |e| e["event"] == "message" && e.get("payload_base64").is_some());
    assert_eq!(bin.expect("binary message")["payload_base64"], "//4A");

    // Join shows up as a `joined` event with b's own id.
    let out = run(&["join", "g2", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let joined = watch.find(common::DEADLINE, |e| e["event"] == "joined" && e["group"] == "g2");
    assert_eq!(joined.expect("joined event")["id"], b_id.as_str());
    // A shout from a to g2 reaches b once a knows b is in it.
    wait_for("a to see b in g2", || {
        let m = members(&a.admin)?;
        m.iter().any(|x| x["name"] == "b" && x["groups"] == serde_json::json!(["g2"])).then_some(())
    });
    let out = run(&["shout", "--group", "g2", "--admin", a.admin.to_str().unwrap(), "to g2"]);
    assert!(out.status.success(), "shout failed: {}", text(&out.stderr));
    let shout = watch.find(common::DEADLINE, |e| e["event"] == "message" && e["group"] == "g2");
    let shout = shout.expect("b's watch never showed the shout");
    assert_eq!(shout["payload"], "to g2");
    assert_eq!(shout["from"], a_id.as_str());

    let out = run(&["leave", "g2", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["leave", "g2", "--admin", b.admin.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "leaving twice must fail");
    assert!(text(&out.stderr).contains("not member"), "{}", text(&out.stderr));

    // Traffic figures: a sent b reliable messages, so once a's node has
    // sampled (once a second) a lists b with the round trip it measured,
    // and every member with the five figure fields.
    let b_seen = wait_for("a to list b with a measured round trip", || {
        members(&a.admin)?.into_iter().find(|m| m["name"] == "b" && m["srtt_us"].is_u64())
    });
    let rate_fields =
        ["rx_bytes_per_sec", "tx_bytes_per_sec", "rx_msgs_per_sec", "tx_msgs_per_sec"];
    for field in rate_fields {
        assert!(b_seen[field].is_u64(), "b without a number `{field}`: {b_seen}");
    }
    let a_self = members(&a.admin).unwrap().into_iter().find(|m| m["hops"] == 0).unwrap();
    for field in rate_fields {
        assert_eq!(a_self[field], 0, "the agent's own `{field}`: {a_self}");
    }
    assert!(a_self["srtt_us"].is_null(), "{a_self}");
    let out = run(&["members", "--admin", a.admin.to_str().unwrap()]);
    assert!(text(&out.stdout).contains("RX B/S"), "{}", text(&out.stdout));

    // Links: b's one link, to a, up, with its queue's figures.
    let out = run(&["links", "--json", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let links: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let link = links
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["peer"] == a_id.as_str())
        .unwrap_or_else(|| panic!("no link to a: {links}"));
    assert_eq!(link["peer_name"], "a", "{link}");
    assert_eq!(link["kind"], "stream");
    assert_eq!(link["up"], true);
    assert_eq!(link["outgoing"], true, "b dialled its seed");
    assert_eq!(link["encrypted"], false, "no keyring, no Noise");
    for field in ["id", "queued_bytes", "queued_data_bytes", "queued_frames", "peak_bytes"] {
        assert!(link[field].is_u64(), "link without a number `{field}`: {link}");
    }
    for field in ["dropped", "marked"] {
        assert_eq!(link[field], 0, "{link}");
    }
    assert!(link.get("rtt_us").is_some() && link.get("addr").is_some(), "{link}");
    let out = run(&["links", "--admin", b.admin.to_str().unwrap()]);
    assert!(text(&out.stdout).starts_with("LINK"), "{}", text(&out.stdout));

    // Ping through the mesh.
    let out = run(&["ping", "a", "--count", "2", "--admin", b.admin.to_str().unwrap()]);
    assert!(out.status.success(), "ping failed: {}", text(&out.stderr));
    let replies = text(&out.stdout).lines().filter(|l| l.starts_with("reply from a")).count();
    assert_eq!(replies, 2, "{}", text(&out.stdout));

    // SIGTERM to a: it exits 0 and removes its socket; b reports it left.
    a.proc.term();
    let status = a.proc.wait_exit(common::DEADLINE).expect("a did not exit after SIGTERM");
    assert!(status.success(), "a exited with {status}: {}", a.proc.stderr());
    assert!(!a.admin.exists(), "a left its admin socket behind");
    let down =
        watch.find(common::DEADLINE, |e| e["event"] == "peer_down" && e["id"] == a_id.as_str());
    let down = down.expect("b's watch never reported a down");
    assert_eq!(down["reason"], "left", "{down}");
    assert_eq!(down["name"], "a");
    wait_for("b to forget a", || (members(&b.admin)?.len() == 1).then_some(()));
}
