//! `netcluster demo`: five nodes in this process on loopback, showing
//! discovery, a group chat, a crash and its detection, and a rejoin.
//!
//! Only 127.0.0.1 is used: links on ports the system picks, no beacons
//! (seeds stand in for them), so it runs the same on any machine.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use netcluster_tokio::{BeaconMode, Builder, DownReason, Event, Handle, NodeId, Semantics};
use tokio::sync::mpsc;

use crate::output::table;

const NAMES: [&str; 5] = ["alpha", "bravo", "charlie", "delta", "echo"];
const CHAT: &str = "chat";
/// Who joins the chat (indexes into `NAMES`).
const CHATTERS: [usize; 3] = [0, 2, 4];
/// Who crashes and comes back.
const VICTIM: usize = 3;
/// Longest wait for any one phase.
const PHASE_LIMIT: Duration = Duration::from_secs(25);

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    /// A node could not start.
    #[error("cannot start a node: {0}")]
    Node(#[from] netcluster_tokio::Error),
    /// The HTTP server (`--http`) could not listen.
    #[error("cannot serve HTTP: {0}")]
    Http(std::io::Error),
    /// A phase did not complete in time.
    #[error("{0} did not happen within {PHASE_LIMIT:?}")]
    Timeout(&'static str),
}

struct Node {
    name: &'static str,
    handle: Handle,
}

/// The live display: a spinner line rewritten in place on a terminal, one
/// line per change otherwise.
struct Screen {
    live: bool,
    /// Serving the page: phases are held longer, for people to watch.
    watched: bool,
    last: String,
    tick: usize,
}

impl Screen {
    /// Writes to stdout; a reader that went away silences the demo, which
    /// still runs to its clean end (unlike `print!`, which would panic).
    fn out(&self, s: &str) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(s.as_bytes()).and_then(|()| out.flush());
    }

    fn say(&mut self, s: &str) {
        self.clear();
        self.out(&format!("{s}\n"));
    }

    fn progress(&mut self, s: String) {
        const SPIN: [char; 4] = ['|', '/', '-', '\\'];
        if self.live {
            self.tick += 1;
            self.out(&format!("\r\x1b[2K  {} {s}", SPIN[self.tick % SPIN.len()]));
            self.last = s;
        } else if s != self.last {
            self.out(&format!("  ... {s}\n"));
            self.last = s;
        }
    }

    /// Lets a person read a phase's outcome before the next one scrolls it
    /// away; only on a terminal, so scripts and tests do not wait.
    async fn pause(&self) {
        if self.watched {
            tokio::time::sleep(Duration::from_secs(3)).await;
        } else if self.live {
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
    }

    fn clear(&mut self) {
        if self.live && !self.last.is_empty() {
            self.out("\r\x1b[2K");
        }
        self.last.clear();
    }
}

struct Report {
    phase: &'static str,
    took: Duration,
    detail: String,
}

/// Runs the demo; `plain` forces line-by-line output; `http` serves
/// alpha's metrics, API and live page there.
pub async fn run(plain: bool, http: Option<SocketAddr>) -> Result<(), DemoError> {
    let mut screen = Screen {
        live: !plain && std::io::stdout().is_terminal(),
        watched: http.is_some(),
        last: String::new(),
        tick: 0,
    };
    let cluster = format!("demo-{}", std::process::id());
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Event)>();
    let mut reports = Vec::new();

    screen.say(&format!("netcluster demo: 5 nodes on 127.0.0.1, cluster {cluster}"));
    screen.say("1. starting the nodes (beacons off; each is seeded with alpha's address)");
    // Discovery is timed from the first start: it begins right away.
    let t = Instant::now();
    let mut nodes: Vec<Node> = Vec::new();
    let mut server = None;
    for (i, name) in NAMES.iter().enumerate() {
        let seed = nodes.first().map(|n| n.handle.link_addr());
        let node = start(&cluster, name, seed, i, &tx).await?;
        screen.say(&format!("   {name:<8} {}  link {}", node.handle.id(), node.handle.link_addr()));
        if let (Some(addr), true) = (http, nodes.is_empty()) {
            let served = crate::http::Served {
                cluster: cluster.clone(),
                handle: node.handle.clone(),
                hub: crate::admin::events::EventHub::start(&node.handle, 1024),
            };
            let limits = crate::http::HttpLimits::default();
            let (task, local) = crate::http::serve(addr, crate::http::Source::Node(served), limits)
                .await
                .map_err(DemoError::Http)?;
            server = Some(task);
            screen.say(&format!("   live page of alpha's view: http://{local}/"));
            screen.pause().await;
        }
        nodes.push(node);
    }

    screen.say("2. discovery: every node learns every other");
    wait(&mut screen, "discovery", || {
        let known: usize = nodes.iter().map(|n| n.handle.peers().len()).sum();
        let want = nodes.len() * (nodes.len() - 1);
        (
            known >= want,
            format!("{known}/{want} peer entries known ({:.1} s)", t.elapsed().as_secs_f64()),
        )
    })
    .await?;
    let took = t.elapsed();
    screen.say(&format!("   full membership after {:.2} s", took.as_secs_f64()));
    reports.push(Report { phase: "discovery", took, detail: "5 nodes, 20 peer entries".into() });

    screen.pause().await;
    screen.say(&format!("3. group chat: alpha, charlie and echo join `{CHAT}` and say hello"));
    let t = Instant::now();
    for &i in &CHATTERS {
        nodes[i].handle.join(CHAT).await?;
    }
    let chat_ids: Vec<NodeId> = CHATTERS.iter().map(|&i| nodes[i].handle.id()).collect();
    wait(&mut screen, "group membership", || {
        let ok = CHATTERS.iter().filter(|&&i| sees_in_chat(&nodes[i].handle, &chat_ids)).count();
        (ok == CHATTERS.len(), format!("{ok}/{} members see the whole group", CHATTERS.len()))
    })
    .await?;
    // Messages from earlier phases are not part of the chat.
    while rx.try_recv().is_ok() {}
    for &i in &CHATTERS {
        let text = format!("hello from {}", nodes[i].name);
        nodes[i].handle.shout(CHAT, Semantics::Reliable, text.into_bytes()).await?;
    }
    let want = CHATTERS.len() * (CHATTERS.len() - 1);
    // (receiver, sender) pairs seen, and copies beyond the first.
    let mut seen: HashSet<(usize, NodeId)> = HashSet::new();
    let mut duplicates = 0;
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    while seen.len() < want {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .map_err(|_| DemoError::Timeout("chat delivery"))?;
        let Some((at, e)) = e else { return Err(DemoError::Timeout("chat delivery")) };
        if let Event::Message { from, group: Some(g), payload, .. } = e {
            if g == CHAT {
                if !seen.insert((at, from)) {
                    duplicates += 1;
                    continue;
                }
                let from = name_of(&nodes, &from);
                screen.say(&format!(
                    "   {:<8} <- {from:<8} \"{}\"",
                    nodes[at].name,
                    String::from_utf8_lossy(&payload)
                ));
            }
        }
    }
    let took = t.elapsed();
    reports.push(Report {
        phase: "group chat",
        took,
        detail: format!("{} messages delivered, {duplicates} duplicates", seen.len()),
    });

    let victim = NAMES[VICTIM];
    screen.pause().await;
    screen.say(&format!("4. crash: {victim} is killed (no goodbye); the others must notice"));
    let victim_id = nodes[VICTIM].handle.id();
    nodes[VICTIM].handle.abort();
    let t = Instant::now();
    let mut detected: Vec<(usize, DownReason, Duration)> = Vec::new();
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while detected.len() < nodes.len() - 1 {
        tokio::select! {
            e = rx.recv() => {
                if let Some((at, Event::PeerDown { id, reason, .. })) = e {
                    if id == victim_id && !detected.iter().any(|d| d.0 == at) {
                        detected.push((at, reason, t.elapsed()));
                        screen.say(&format!(
                            "   {:<8} reports {victim} down ({}) after {:.2} s",
                            nodes[at].name, reason.as_str(), t.elapsed().as_secs_f64()
                        ));
                    }
                }
            }
            _ = tick.tick() => {
                if tokio::time::Instant::now() > deadline {
                    return Err(DemoError::Timeout("crash detection"));
                }
                screen.progress(format!(
                    "{}/{} survivors noticed ({:.1} s)",
                    detected.len(), nodes.len() - 1, t.elapsed().as_secs_f64()
                ));
            }
        }
    }
    let took = t.elapsed();
    reports.push(Report {
        phase: "crash detection",
        took,
        detail: format!("{victim} reported down by all 4 survivors"),
    });

    screen.pause().await;
    screen.say(&format!("5. rejoin: {victim} restarts (new id, new incarnation)"));
    let t = Instant::now();
    let seed = nodes[0].handle.link_addr();
    nodes[VICTIM] = start(&cluster, victim, Some(seed), VICTIM, &tx).await?;
    wait(&mut screen, "rejoin", || {
        let known: usize = nodes.iter().map(|n| n.handle.peers().len()).sum();
        let want = nodes.len() * (nodes.len() - 1);
        (
            known >= want,
            format!("{known}/{want} peer entries known ({:.1} s)", t.elapsed().as_secs_f64()),
        )
    })
    .await?;
    let took = t.elapsed();
    reports.push(Report { phase: "rejoin", took, detail: format!("{victim} back, seen by all") });

    screen.pause().await;
    screen.say("6. summary");
    let mut rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![r.phase.to_string(), format!("{:.2} s", r.took.as_secs_f64()), r.detail.clone()]
        })
        .collect();
    rows.push(vec!["-".into(), "-".into(), "-".into()]);
    for n in &nodes {
        let peers: Vec<String> =
            n.handle.peers().iter().map(|p| format!("{}({}h)", p.name, p.hops)).collect();
        rows.push(vec![n.name.to_string(), format!("{} peers", peers.len()), peers.join(" ")]);
    }
    for line in table(&["PHASE / NODE", "TIME / PEERS", "DETAIL"], &rows).lines() {
        screen.say(&format!("   {line}"));
    }
    if let Some(task) = server {
        screen.say("the page stays up until interrupted (Ctrl-C)");
        wait_for_interrupt().await;
        task.abort();
    }
    for n in &nodes {
        n.handle.shutdown().await;
    }
    screen.say("all nodes left cleanly; demo complete");
    Ok(())
}

/// Resolves on SIGINT or SIGTERM (at once if they cannot be caught).
async fn wait_for_interrupt() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn start(
    cluster: &str,
    name: &'static str,
    seed: Option<SocketAddr>,
    index: usize,
    tx: &mpsc::UnboundedSender<(usize, Event)>,
) -> Result<Node, DemoError> {
    let mut b = Builder::new(cluster, name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .beacons(BeaconMode::Off)
        .shutdown_linger(Duration::from_millis(500));
    if let Some(s) = seed {
        b = b.seed(s);
    }
    let handle = b.start().await?;
    let mut events = handle.events();
    let tx = tx.clone();
    tokio::spawn(async move {
        while let Some(e) = events.next().await {
            if tx.send((index, e)).is_err() {
                return;
            }
        }
    });
    Ok(Node { name, handle })
}

fn sees_in_chat(h: &Handle, members: &[NodeId]) -> bool {
    let peers = h.peers();
    members
        .iter()
        .filter(|id| **id != h.id())
        .all(|id| peers.iter().any(|p| p.id == *id && p.groups.iter().any(|g| g == CHAT)))
}

fn name_of(nodes: &[Node], id: &NodeId) -> String {
    nodes
        .iter()
        .find(|n| n.handle.id() == *id)
        .map_or_else(|| id.to_string(), |n| n.name.to_string())
}

/// Polls `check` (done?, progress text) until done or the phase limit.
async fn wait(
    screen: &mut Screen,
    what: &'static str,
    mut check: impl FnMut() -> (bool, String),
) -> Result<(), DemoError> {
    let deadline = tokio::time::Instant::now() + PHASE_LIMIT;
    loop {
        let (done, text) = check();
        screen.progress(text);
        if done {
            screen.clear();
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            screen.clear();
            return Err(DemoError::Timeout(what));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
