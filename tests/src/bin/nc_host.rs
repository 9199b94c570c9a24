//! `nc_host`: one netcluster node (tokio driver) as a program, for the
//! multi-host tests that run one copy per network namespace.
//!
//! It reports what happens as lines on stdout, one event per line: a kind,
//! then `key=value` fields separated by spaces, the first always
//! `t=<microseconds since the Unix epoch>` when the program saw it (one clock
//! for every namespace of a machine, so a test can time detection across
//! processes):
//!
//! ```text
//! ready t=.. name=a id=<uuid> link=0.0.0.0:7400 keepalive_ms=500 keepalive_count=3 ...
//! up t=.. name=b id=<uuid> addr=10.77.0.2:7400 hops=1
//! updated t=.. name=b id=<uuid> hops=2
//! down t=.. name=b id=<uuid> reason=timed_out
//! msg t=.. from=a from_id=<uuid> sem=sequenced len=64 seq=17
//! sent t=.. to=b count=2000 delivered=2000 failed=0
//! failed t=.. to=b reason=timeout
//! lagged t=.. resync
//! error t=.. what=<text without spaces>
//! exit t=..
//! ```
//!
//! A message can arrive before its sender is reported up (its route is
//! known to the sender first), so `from` is the sender's id where its name
//! is not known yet; `from_id` is always the id.
//!
//! Roles: `listen` only prints; `send --to NAME --count N --mode M...` waits
//! for `NAME` to be reachable, sends `N` messages in each mode (payloads
//! start with the decimal sequence number), honours backpressure, waits for
//! every delivery report, prints `sent`, and then listens. SIGTERM or SIGINT
//! leaves the mesh cleanly (`Handle::shutdown`) and exits with status 0;
//! so does the end of standard input with `--exit-on-eof`, which the tests
//! pass so that hosts never outlive a test process killed mid-run.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use netcluster_tokio::{
    BeaconMode, Builder, Error, Event, EventStream, Handle, LinkMode, NodeId, Semantics, SendError,
};
use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser, Debug)]
#[command(about = "One netcluster node printing its events as lines, for multi-host tests")]
struct Args {
    /// Cluster name.
    #[arg(long, default_value = "nc-test", value_parser = word)]
    cluster: String,
    /// Node name (no whitespace: it is printed in `key=value` fields).
    #[arg(long, value_parser = word)]
    name: String,
    /// Address to bind the link port and unicast socket to.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::UNSPECIFIED))]
    bind: IpAddr,
    /// Link port (0: any free one).
    #[arg(long, default_value_t = 7400)]
    port: u16,
    /// Beacon interfaces, by name or address (default: every interface that
    /// is up and not loopback).
    #[arg(long = "interface")]
    interfaces: Vec<String>,
    /// Static seeds (link addresses).
    #[arg(long = "seed")]
    seeds: Vec<SocketAddr>,
    /// Groups joined at start.
    #[arg(long = "group", value_parser = word)]
    groups: Vec<String>,
    /// Beacon transport.
    #[arg(long, value_enum, default_value_t = Beacons::V4)]
    beacons: Beacons,
    /// Link mode.
    #[arg(long, value_enum, default_value_t = Mode::Stream)]
    link_mode: Mode,
    /// Keepalive interval in milliseconds (default: the LAN preset's).
    #[arg(long)]
    keepalive_ms: Option<u64>,
    /// Silent keepalive intervals before a link is closed.
    #[arg(long)]
    keepalive_count: Option<u8>,
    /// How long a peer must stay unreachable before it is reported down.
    #[arg(long)]
    down_hold_ms: Option<u64>,
    /// Events buffered for the printer before it lags.
    #[arg(long, default_value_t = 1 << 16)]
    events: usize,
    /// Leave (as on SIGTERM) when standard input closes: a test that dies
    /// without cleaning up then takes its hosts with it.
    #[arg(long)]
    exit_on_eof: bool,
    #[command(subcommand)]
    role: Role,
}

#[derive(Subcommand, Debug)]
enum Role {
    /// Print events until SIGTERM.
    Listen,
    /// Send numbered messages to one peer, then listen.
    Send {
        /// The destination's name.
        #[arg(long, value_parser = word)]
        to: String,
        /// Messages per mode.
        #[arg(long)]
        count: u64,
        /// Delivery semantics; repeat to interleave several.
        #[arg(long = "mode", value_enum, required = true)]
        modes: Vec<Sem>,
        /// Payload size in bytes (at least the sequence number's digits).
        #[arg(long, default_value_t = 32)]
        size: usize,
        /// How long to wait for the destination to become reachable.
        #[arg(long, default_value_t = 60)]
        wait_secs: u64,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Beacons {
    V4,
    V6,
    Both,
    Broadcast,
    Off,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Mode {
    Stream,
    Datagram,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Sem {
    Datagram,
    Reliable,
    Sequenced,
}

impl Sem {
    fn semantics(self) -> Semantics {
        match self {
            Sem::Datagram => Semantics::Datagram,
            Sem::Reliable => Semantics::Reliable,
            Sem::Sequenced => Semantics::Sequenced,
        }
    }
}

fn word(s: &str) -> Result<String, String> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        Err("must be non-empty and without whitespace".into())
    } else {
        Ok(s.to_string())
    }
}

fn now_us() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros())
}

/// Prints one report line; `fields` is the rest after `t=`.
fn report(kind: &str, fields: std::fmt::Arguments<'_>) {
    println!("{kind} t={} {fields}", now_us());
}

fn sem_name(s: Semantics) -> &'static str {
    match s {
        Semantics::Datagram => "datagram",
        Semantics::Reliable => "reliable",
        Semantics::Sequenced => "sequenced",
        Semantics::Stream => "stream",
    }
}

fn builder(a: &Args) -> Builder {
    let mut b = Builder::new(a.cluster.clone(), a.name.clone())
        .bind_ip(a.bind)
        .link_port(a.port)
        .link_mode(match a.link_mode {
            Mode::Stream => LinkMode::Stream,
            Mode::Datagram => LinkMode::Datagram,
        })
        .beacons(match a.beacons {
            Beacons::V4 => BeaconMode::multicast_v4(netcluster_tokio::net::DEFAULT_V4_GROUP),
            Beacons::V6 => BeaconMode::Multicast {
                v4: None,
                v6: Some(netcluster_tokio::net::DEFAULT_V6_GROUP),
            },
            Beacons::Both => BeaconMode::multicast(),
            Beacons::Broadcast => BeaconMode::broadcast(),
            Beacons::Off => BeaconMode::Off,
        })
        .event_capacity(a.events);
    for i in &a.interfaces {
        b = b.interface(i.as_str());
    }
    for s in &a.seeds {
        b = b.seed(*s);
    }
    for g in &a.groups {
        b = b.group(g.clone());
    }
    let (ka, kc, dh) = (a.keepalive_ms, a.keepalive_count, a.down_hold_ms);
    b.configure(|c| {
        if let Some(ms) = ka {
            c.keepalive_interval = Duration::from_millis(ms);
        }
        if let Some(n) = kc {
            c.keepalive_count = n;
        }
        if let Some(ms) = dh {
            c.down_hold = Duration::from_millis(ms);
        }
    })
}

fn name_of(h: &Handle, id: NodeId) -> String {
    h.peers().into_iter().find(|p| p.id == id).map_or_else(|| id.as_uuid().to_string(), |p| p.name)
}

fn print_event(h: &Handle, e: Event) {
    match e {
        Event::PeerUp(p) => report(
            "up",
            format_args!("name={} id={} addr={} hops={}", p.name, p.id.as_uuid(), p.addr, p.hops),
        ),
        Event::PeerUpdated(p) => {
            report("updated", format_args!("name={} id={} hops={}", p.name, p.id.as_uuid(), p.hops))
        }
        Event::PeerDown { id, name, reason } => report(
            "down",
            format_args!("name={name} id={} reason={}", id.as_uuid(), reason.as_str()),
        ),
        Event::Message { from, semantics, payload, .. } => {
            let digits = payload.iter().take_while(|b| b.is_ascii_digit()).count();
            let seq = std::str::from_utf8(&payload[..digits]).unwrap_or("");
            let seq = if seq.is_empty() { "-" } else { seq };
            report(
                "msg",
                format_args!(
                    "from={} from_id={} sem={} len={} seq={seq}",
                    name_of(h, from),
                    from.as_uuid(),
                    sem_name(semantics),
                    payload.len()
                ),
            );
        }
        Event::SendFailed { to, reason, .. } => {
            report("failed", format_args!("to={} reason={}", name_of(h, to), reason.as_str()))
        }
        // Delivery reports and window events are summed up by the sender.
        _ => {}
    }
}

/// Waits until `name` is reachable; its id.
async fn await_peer(h: &Handle, name: &str, within: Duration) -> Option<NodeId> {
    let end = tokio::time::Instant::now() + within;
    loop {
        if let Some(p) = h.peers().into_iter().find(|p| p.name == name) {
            return Some(p.id);
        }
        if tokio::time::Instant::now() >= end {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Tracks delivery reports of the messages sent.
#[derive(Default)]
struct Outcome {
    pending: HashSet<netcluster_tokio::MessageId>,
    delivered: u64,
    failed: u64,
}

impl Outcome {
    fn note(&mut self, e: &Event) {
        match e {
            Event::Delivered { id, .. } if self.pending.remove(id) => self.delivered += 1,
            Event::SendFailed { id, .. } if self.pending.remove(id) => self.failed += 1,
            _ => {}
        }
    }
}

/// Sends `count` messages in each of `modes`, interleaved, to `to`; waits
/// for every report. Returns an error text on a refusal other than a full
/// window.
async fn send_all(
    h: Handle,
    mut ev: EventStream,
    to_name: String,
    count: u64,
    modes: Vec<Sem>,
    size: usize,
    wait: Duration,
) -> Result<(), String> {
    let to = await_peer(&h, &to_name, wait)
        .await
        .ok_or_else(|| format!("{to_name}_not_reachable_within_{}s", wait.as_secs()))?;
    let mut out = Outcome::default();
    let mut sent = 0u64;
    for i in 0..count {
        for &mode in &modes {
            let mut payload = i.to_string().into_bytes();
            if payload.len() < size {
                payload.resize(size, b'.');
            }
            let payload = netcluster_tokio::Bytes::from(payload);
            loop {
                match h.send(to, mode.semantics(), payload.clone()).await {
                    Ok(id) => {
                        if mode != Sem::Datagram {
                            out.pending.insert(id);
                        }
                        sent += 1;
                        break;
                    }
                    Err(Error::Send(SendError::WouldBlock)) => {
                        // A missed Writable (lag) must not stall the sender:
                        // the wait is bounded and the send retried anyway.
                        let room = async {
                            while let Some(e) = ev.next().await {
                                out.note(&e);
                                if matches!(e, Event::Writable { to: w } if w == to) {
                                    return;
                                }
                            }
                        };
                        let _ = tokio::time::timeout(Duration::from_millis(200), room).await;
                    }
                    // A route being repaired: the destination comes back.
                    Err(Error::Send(SendError::Unreachable)) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        if await_peer(&h, &to_name, wait).await.is_none() {
                            return Err(format!("{to_name}_unreachable"));
                        }
                    }
                    Err(e) => return Err(e.to_string().replace(char::is_whitespace, "_")),
                }
            }
        }
    }
    while !out.pending.is_empty() {
        match ev.next().await {
            Some(e) => out.note(&e),
            None => return Err("node_stopped".into()),
        }
    }
    report(
        "sent",
        format_args!("to={to_name} count={sent} delivered={} failed={}", out.delivered, out.failed),
    );
    Ok(())
}

/// Completes when standard input reaches its end (never if `watch` is off).
async fn stdin_closed(watch: bool) {
    if !watch {
        return std::future::pending().await;
    }
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 256];
    loop {
        match stdin.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let b = builder(&args);
    let cfg = b.config().clone();
    let handle = b.start().await.map_err(|e| e.to_string())?;
    let mut events = handle.events();
    report(
        "ready",
        format_args!(
            "name={} id={} link={} keepalive_ms={} keepalive_count={} down_hold_ms={} \
             lsa_min_ms={} spf_delay_ms={}",
            cfg.name,
            handle.id().as_uuid(),
            handle.link_addr(),
            cfg.keepalive_interval.as_millis(),
            cfg.keepalive_count,
            cfg.down_hold.as_millis(),
            cfg.lsa_min_interval.as_millis(),
            cfg.spf_delay.as_millis(),
        ),
    );
    if let Role::Send { to, count, modes, size, wait_secs } = args.role {
        let (h, ev) = (handle.clone(), handle.events());
        let wait = Duration::from_secs(wait_secs);
        tokio::spawn(async move {
            if let Err(what) = send_all(h, ev, to, count, modes, size, wait).await {
                report("error", format_args!("what={what}"));
            }
        });
    }
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let eof = stdin_closed(args.exit_on_eof);
    tokio::pin!(eof);
    loop {
        tokio::select! {
            () = &mut eof => break,
            e = events.next() => match e {
                Some(e @ Event::Resync { .. }) => {
                    report("lagged", format_args!("resync"));
                    print_event(&handle, e);
                }
                Some(e) => print_event(&handle, e),
                None => break,
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    handle.shutdown().await;
    report("exit", format_args!("name={}", args.name));
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("nc_host: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(args));
    // The stdin reader may sit in a blocking read forever: do not wait for it.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nc_host: {e}");
            ExitCode::FAILURE
        }
    }
}
