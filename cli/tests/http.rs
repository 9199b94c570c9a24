//! The agent's HTTP server (`--http`) on three real agents on loopback,
//! a - b - c in a line: `/metrics` parses (and passes `promtool check
//! metrics` where promtool is installed) with the figures `stats --json`
//! gives; `/api/members`, `/api/routes` and `/api/topology` show the three
//! nodes and their links; `netcluster topology` prints the same graph as a
//! digraph and as JSON; `/api/events` streams the crash of c, after which
//! the API no longer lists it; and what a client sends never hurts the
//! agent. Then the live page in a headless Chromium (where installed):
//! every node and link in its DOM, and a crashed node gone from it, with
//! screenshots under `target/tmp/page/`.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use serde_json::Value;

/// Removes ANSI colour sequences (the agent's log colours its fields).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address the agent logged for its HTTP server.
fn http_addr(agent: &mut Agent) -> SocketAddr {
    wait_for(&format!("{}'s HTTP address in its log", agent.proc.name), || {
        if let Ok(Some(st)) = agent.proc.child.try_wait() {
            panic!("agent {} exited ({st}): {}", agent.proc.name, agent.proc.stderr());
        }
        let log = strip_ansi(&agent.proc.stderr());
        let at = log.find(" http=")?;
        log[at + 6..].split_whitespace().next()?.parse().ok()
    })
}

/// One HTTP/1.1 request (`Connection: close`); the status and the body.
fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    raw(
        addr,
        format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

/// Sends `bytes` and reads the answer to the end (or up to `DEADLINE`).
fn raw(addr: SocketAddr, bytes: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect to the agent's HTTP");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(bytes).expect("write the request");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn get_json(addr: SocketAddr, path: &str) -> Value {
    let (status, body) = request(addr, "GET", path);
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is not JSON ({e}): {body}"))
}

/// `/metrics` as series (name with labels, as printed) to value. Every
/// line must be a comment or `name{labels} value`.
fn metrics(addr: SocketAddr) -> (String, BTreeMap<String, f64>) {
    let (status, body) = request(addr, "GET", "/metrics");
    assert_eq!(status, 200, "{body}");
    let mut series = BTreeMap::new();
    for line in body.lines().filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad line `{line}`"));
        let name = key.split('{').next().unwrap();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad metric name in `{line}`"
        );
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("bad value in `{line}`"));
        series.insert(key.to_string(), v);
    }
    (body, series)
}

fn stats(admin: &Path) -> Value {
    let out = run(&["stats", "--json", "--admin", admin.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn on_path(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `/api/events` stream, once subscribed (its first comment read), whose
/// `data:` lines arrive on a channel.
fn events(addr: SocketAddr) -> mpsc::Receiver<Value> {
    let mut s = TcpStream::connect_timeout(&addr, DEADLINE).expect("connect");
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    s.write_all(b"GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    while !head.contains(": connected") {
        let before = head.len();
        reader.read_line(&mut head).expect("the event stream's first lines");
        assert!(head.len() > before, "the event stream closed: {head}");
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data: ") {
                let v: Value = serde_json::from_str(data)
                    .unwrap_or_else(|e| panic!("an event that is not JSON ({e}): {data}"));
                if tx.send(v).is_err() {
                    return;
                }
            }
        }
    });
    rx
}

#[test]
fn three_agents_serve_metrics_api_topology_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = unique_cluster("http");
    let http = ["--http", "127.0.0.1:0"];
    // One event client at a time for a, to see the bound hold.
    let config = dir.path().join("a.toml");
    std::fs::write(&config, "[http_limits]\nmax_event_clients = 1\n").unwrap();
    let a_extra = [&http[..], &["--group", "g", "--config", config.to_str().unwrap()]].concat();
    let mut a = spawn_agent(dir.path(), &cluster, "a", &a_extra);
    let a_addr = own_record(&mut a)["addr"].as_str().unwrap().to_string();
    let mut b = spawn_agent(dir.path(), &cluster, "b", &[&http[..], &["--seed", &a_addr]].concat());
    let b_addr = own_record(&mut b)["addr"].as_str().unwrap().to_string();
    let mut c = spawn_agent(dir.path(), &cluster, "c", &[&http[..], &["--seed", &b_addr]].concat());
    own_record(&mut c);
    let (ha, hb) = (http_addr(&mut a), http_addr(&mut b));
    wait_for("a to list all three", || (members(&a.admin)?.len() == 3).then_some(()));

    // /metrics: parses, passes promtool, and matches `stats --json`.
    let (body, _) = metrics(ha);
    if on_path("promtool") {
        let mut p = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        p.stdin.take().unwrap().write_all(body.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}\n{body}",
            text(&out.stdout),
            text(&out.stderr)
        );
    } else {
        eprintln!("skip: promtool not on PATH (Debian package `prometheus`); metrics parsed only");
    }
    let label = format!("{{cluster=\"{cluster}\"}}");
    // Gauges equal once the mesh is still; counters never run backwards.
    let (before, series) = wait_for("metrics and stats to agree on the gauges", || {
        let s = stats(&a.admin);
        let (_, m) = metrics(ha);
        let same = ["peers_reachable", "links_up"].iter().all(|k| {
            m.get(&format!("netcluster_{k}{label}")).copied() == s[k].as_u64().map(|v| v as f64)
        });
        same.then_some((s, m))
    });
    assert_eq!(before["peers_reachable"], 2, "{before}");
    for (k, v) in before.as_object().unwrap() {
        if ["peers_reachable", "links_up", "messages_in_flight"].contains(&k.as_str()) {
            continue;
        }
        let key = format!("netcluster_{k}_total{label}");
        let got = series.get(&key).unwrap_or_else(|| panic!("no {key} in /metrics"));
        assert!(*got >= v.as_u64().unwrap() as f64, "{key} = {got} < stats {v}");
    }
    let members_total: f64 =
        series.iter().filter(|(k, _)| k.starts_with("netcluster_members{")).map(|(_, v)| v).sum();
    assert_eq!(members_total, 3.0);
    assert_eq!(series[&format!("netcluster_routes{label}")], 2.0);
    assert!(series["process_resident_memory_bytes"] > 0.0);
    let links = series.keys().filter(|k| k.starts_with("netcluster_link_up{")).count();
    assert!(links >= 1, "no per-link series");
    assert!(series.keys().any(|k| k.starts_with("netcluster_peer_hops{")), "no per-peer series");

    // The JSON API.
    let m = get_json(ha, "/api/members");
    assert_eq!(m.as_array().unwrap().len(), 3, "{m}");
    let r = get_json(ha, "/api/routes");
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
    let ids: BTreeMap<String, String> = m
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["name"].as_str().unwrap().to_string(), x["id"].as_str().unwrap().to_string()))
        .collect();
    let t = wait_for("a's topology to hold the three nodes and both links", || {
        let t = get_json(ha, "/api/topology");
        let nodes = t["nodes"].as_array()?.len();
        let both: Vec<&Value> =
            t["links"].as_array()?.iter().filter(|l| l["both_ways"] == true).collect();
        (nodes == 3 && both.len() >= 4).then_some(t)
    });
    let linked = |x: &str, y: &str| {
        t["links"].as_array().unwrap().iter().any(|l| l["from"] == ids[x] && l["to"] == ids[y])
    };
    for (x, y) in [("a", "b"), ("b", "a"), ("b", "c"), ("c", "b")] {
        assert!(linked(x, y), "no link {x} -> {y}: {t}");
    }
    assert_eq!(t["self"], ids["a"].as_str());
    assert_eq!(t["groups"][0]["name"], "g", "{t}");
    let route_c = t["routes"].as_array().unwrap().iter().find(|r| r["destination"] == ids["c"]);
    let path = route_c.expect("a route to c")["path"].as_array().unwrap().clone();
    assert_eq!(path.first().unwrap(), ids["a"].as_str());
    assert_eq!(path.last().unwrap(), ids["c"].as_str());

    // `netcluster topology`: a digraph of the three nodes, and JSON.
    let out = run(&["topology", "--http", &ha.to_string(), "--format", "dot"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dot = text(&out.stdout);
    check_digraph(&dot, &ids);
    let out = run(&["topology", "--http", &ha.to_string(), "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tj: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(tj["nodes"].as_array().unwrap().len(), 3, "{tj}");

    // Clients cannot hurt it: other methods, unknown paths, garbage.
    assert_eq!(request(ha, "POST", "/metrics").0, 405);
    assert_eq!(request(ha, "GET", "/nowhere").0, 404);
    let _ = raw(ha, b"\x00\xff garbage \r\n\r\n");
    let _ = raw(ha, &[b'A'; 100_000]);
    assert_eq!(request(ha, "GET", "/api/members").0, 200);

    // The page.
    let (status, page) = request(ha, "GET", "/");
    assert_eq!(status, 200);
    assert!(page.contains("/api/topology") && page.contains("/api/events"), "{page}");

    // c crashes: a's event stream says so, and the API stops listing it.
    let feed = events(ha);
    let (status, body) = request(ha, "GET", "/api/events");
    assert_eq!(status, 503, "a second event client past the bound of 1: {body}");
    drop(c);
    let down = wait_for("a peer_down event for c", || {
        feed.recv_timeout(Duration::from_millis(200))
            .ok()
            .filter(|e| e["event"] == "peer_down" && e["name"] == "c")
    });
    assert_eq!(down["id"], ids["c"].as_str());
    for h in [ha, hb] {
        wait_for("c to leave the topology", || {
            let t = get_json(h, "/api/topology");
            let ns = t["nodes"].as_array()?;
            (ns.len() == 2 && ns.iter().all(|n| n["name"] != "c")).then_some(())
        });
    }
    let out = run(&["topology", "--http", &ha.to_string()]);
    assert!(!text(&out.stdout).contains(&ids["c"]), "{}", text(&out.stdout));
}

/// `dot` is a digraph naming every node of `ids`, each edge between two of
/// them; Graphviz itself reads it where installed.
fn check_digraph(dot: &str, ids: &BTreeMap<String, String>) {
    let lines: Vec<&str> = dot.lines().map(str::trim).collect();
    assert!(lines.first().is_some_and(|l| l.starts_with("digraph ") && l.ends_with('{')), "{dot}");
    assert_eq!(lines.last(), Some(&"}"), "{dot}");
    let quoted = |s: &str| format!("\"{s}\"");
    for (name, id) in ids {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{} [label=\"{name}\\n", quoted(id)))),
            "node {name} missing: {dot}"
        );
    }
    let mut edges = 0;
    for l in lines.iter().filter(|l| l.contains(" -> ")) {
        let (from, rest) = l.split_once(" -> ").unwrap();
        let to = rest.split_whitespace().next().unwrap();
        for end in [from, to] {
            assert!(ids.values().any(|id| quoted(id) == end), "edge to an unknown node: {l}");
        }
        edges += 1;
    }
    assert!(edges >= 4, "{dot}");
    if on_path("dot") {
        let mut p = Command::new("dot")
            .arg("-Tsvg")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        p.stdin.take().unwrap().write_all(dot.as_bytes()).unwrap();
        let out = p.wait_with_output().unwrap();
        assert!(out.status.success(), "dot: {}", text(&out.stderr));
    } else {
        eprintln!("skip: Graphviz `dot` not on PATH; the digraph was checked by its lines only");
    }
}

/// A headless Chromium, if one is installed.
fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"].into_iter().find(|c| on_path(c))
}

/// Runs the browser headless on `url` with `args` (killed after
/// `DEADLINE`); its stdout.
fn headless(browser: &str, profile: &Path, args: &[&str], url: &str) -> String {
    let mut child = Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
        .args(["--no-first-run", "--window-size=1200,800", "--virtual-time-budget=3000"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the browser");
    let mut out = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let mut guard = Guard { child, name: "browser".into(), log: profile.join("none") };
    assert!(guard.wait_exit(DEADLINE).is_some(), "the browser did not finish within {DEADLINE:?}");
    reader.join().unwrap()
}

/// The values of attribute `attr` in `dom`, each once.
fn attrs(dom: &str, attr: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{attr}=\"");
    dom.match_indices(&key)
        .filter_map(|(i, _)| dom[i + key.len()..].split('"').next().map(str::to_string))
        .collect()
}

#[test]
fn the_page_draws_every_node_and_link_and_sees_a_crash() {
    let Some(browser) = chromium() else {
        eprintln!("skip: no headless Chromium on PATH (Debian package `chromium`)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("page");
    std::fs::create_dir_all(&shots).unwrap();
    let cluster = unique_cluster("page");
    let mut a = spawn_agent(dir.path(), &cluster, "a", &["--http", "127.0.0.1:0", "--group", "g"]);
    let a_addr = own_record(&mut a)["addr"].as_str().unwrap().to_string();
    let mut b = spawn_agent(dir.path(), &cluster, "b", &["--seed", &a_addr]);
    let b_addr = own_record(&mut b)["addr"].as_str().unwrap().to_string();
    let mut c = spawn_agent(dir.path(), &cluster, "c", &["--seed", &b_addr, "--group", "g"]);
    own_record(&mut c);
    let ha = http_addr(&mut a);
    let topo = wait_for("a's topology to hold the three nodes", || {
        let t = get_json(ha, "/api/topology");
        (t["nodes"].as_array()?.len() == 3 && t["groups"][0]["members"].as_array()?.len() == 2)
            .then_some(t)
    });
    let ids: BTreeMap<String, String> = topo["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["name"].as_str().unwrap().to_string(), n["id"].as_str().unwrap().to_string()))
        .collect();
    let key = |x: &str, y: &str| if x < y { format!("{x}|{y}") } else { format!("{y}|{x}") };

    // Every node and link of the topology is in the page's DOM, and the
    // route to c is shown from a to c.
    let url = format!("http://{ha}/?events=0&select={}", ids["c"]);
    let dom = wait_for("the page to draw the three nodes and every link", || {
        let t = get_json(ha, "/api/topology");
        let links: std::collections::BTreeSet<String> = t["links"]
            .as_array()?
            .iter()
            .map(|l| key(l["from"].as_str().unwrap(), l["to"].as_str().unwrap()))
            .collect();
        let dom = headless(browser, &profile, &["--dump-dom"], &url);
        let drawn = attrs(&dom, "data-node-id");
        let ok = drawn == ids.values().cloned().collect() && attrs(&dom, "data-link") == links;
        (ok && !links.is_empty()).then_some(dom)
    });
    let names = attrs(&dom, "data-node-name");
    assert_eq!(names, ["a", "b", "c"].iter().map(|s| s.to_string()).collect());
    assert!(attrs(&dom, "data-group").contains("g"), "no group g in the page");
    let route: Vec<String> = attrs(&dom, "data-route")
        .into_iter()
        .next()
        .expect("a data-route")
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(route.first(), Some(&ids["a"]), "{route:?}");
    assert_eq!(route.last(), Some(&ids["c"]), "{route:?}");
    let shot = shots.join("three-agents.png");
    headless(browser, &profile, &[&format!("--screenshot={}", shot.display())], &url);
    assert!(std::fs::metadata(&shot).is_ok_and(|m| m.len() > 0), "no screenshot at {shot:?}");

    // c crashes: the page stops drawing it.
    drop(c);
    let plain = format!("http://{ha}/?events=0");
    wait_for("the page to drop c", || {
        let dom = headless(browser, &profile, &["--dump-dom"], &plain);
        let drawn = attrs(&dom, "data-node-id");
        (drawn.len() == 2 && !drawn.contains(&ids["c"])).then_some(())
    });
    let shot = shots.join("after-crash.png");
    headless(browser, &profile, &[&format!("--screenshot={}", shot.display())], &plain);
    eprintln!("screenshots in {}", shots.display());
}

#[test]
fn the_demo_with_http_shows_the_crash_and_the_rejoin() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .args(["demo", "--plain", "--http", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("demo.log")).unwrap())
        .spawn()
        .expect("start the demo");
    let out = child.stdout.take().unwrap();
    let mut demo = Guard { child, name: "demo".into(), log: dir.path().join("demo.log") };
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut next_line = |what: &str, pred: &dyn Fn(&str) -> bool| -> String {
        loop {
            let line = lines
                .recv_timeout(DEADLINE)
                .unwrap_or_else(|_| panic!("no {what} from the demo; it printed:\n{seen:#?}"));
            seen.push(line.clone());
            if pred(&line) {
                return line;
            }
        }
    };
    let line = next_line("page address", &|l| l.contains("live page of alpha's view: http://"));
    let addr: SocketAddr =
        line.rsplit("http://").next().unwrap().trim_end_matches('/').parse().unwrap();
    // The demo holds each phase 3 s while it serves the page: the stream is
    // open long before the crash.
    let feed = events(addr);
    next_line("the end", &|l| l.contains("the page stays up until interrupted"));
    let evs: Vec<Value> = feed.try_iter().collect();
    let down = evs.iter().position(|e| e["event"] == "peer_down" && e["name"] == "delta");
    let down = down.unwrap_or_else(|| panic!("no peer_down of delta in {evs:#?}"));
    let up = evs[down..].iter().find(|e| e["event"] == "peer_up" && e["name"] == "delta");
    let up = up.unwrap_or_else(|| panic!("no peer_up of delta after its crash in {evs:#?}"));
    assert_ne!(up["id"], evs[down]["id"], "delta restarts with a new id");
    let t = get_json(addr, "/api/topology");
    let nodes = t["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 5, "{t}");
    assert!(nodes.iter().any(|n| n["name"] == "delta" && n["id"] == up["id"]), "{t}");
    demo.term();
    let status = demo.wait_exit(DEADLINE).expect("the demo to end on SIGTERM");
    assert!(status.success(), "{status}: {}", demo.stderr());
    next_line("its last line", &|l| l.contains("demo complete"));
}
