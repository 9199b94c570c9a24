//! Round-trip time to every peer, once a second. Runs on async-std.
//!
//! ```text
//! cargo run -p netcluster-async-std --example asyncio_ping -- [CLUSTER] [ROUNDS] [SEED_ADDR...] [--bind IP] [--no-beacons]
//! ```
//!
//! Start a node to ping (the `chat` example, or another `ping`) in another
//! terminal or on another host of the LAN, with the same cluster name.
//! Every peer is pinged through the mesh each round; a ping unanswered
//! within a second is reported lost. Ctrl-C stops early and leaves cleanly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_io::Timer;
use netcluster_async_std::{Builder, Event, MessageId, PeerInfo};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (opts, mut args) = Opts::parse();
    let cluster = args.next().unwrap_or_else(|| "chat".into());
    let rounds: u32 = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("ROUNDS must be a number: {e}"))?,
        None => 10,
    };
    let mut builder = Builder::new(cluster, format!("ping-{}", std::process::id())).link_port(0);
    for seed in args {
        builder = builder.seed(seed.parse::<SocketAddr>()?);
    }
    builder = opts.apply(builder)?;

    let interrupted = ctrl_c()?;
    async_std::task::block_on(async {
        let handle = builder.start().await?;
        eprintln!("pinging from {}; waiting for peers...", handle.link_addr());
        let mut events = handle.events();
        // Give discovery a few seconds before the first round.
        for _ in 0..50 {
            if !handle.peers().is_empty() {
                break;
            }
            Timer::after(Duration::from_millis(100)).await;
        }
        let rounds_done = async {
            for round in 1..=rounds {
                let tick = Timer::after(Duration::from_secs(1));
                let mut waiting: HashMap<MessageId, PeerInfo> = HashMap::new();
                let peers = handle.peers();
                if peers.is_empty() {
                    println!("round {round:>3}  no peers yet");
                }
                for peer in peers {
                    match handle.ping(peer.id).await {
                        Ok(id) => {
                            waiting.insert(id, peer);
                        }
                        Err(e) => println!("{:<16} not pinged: {e}", peer.name),
                    }
                }
                // Pongs until the round's second is up.
                let pongs = async {
                    while !waiting.is_empty() {
                        match events.next().await {
                            Some(Event::Pong { id, rtt, .. }) => {
                                if let Some(p) = waiting.remove(&id) {
                                    let ms = rtt.as_secs_f64() * 1e3;
                                    println!(
                                        "round {round:>3}  {:<16} {:>8.3} ms  ({} hops, {})",
                                        p.name, ms, p.hops, p.addr
                                    );
                                }
                            }
                            Some(_) => {}
                            None => break,
                        }
                    }
                    // Answered early: the round still lasts its second.
                    std::future::pending::<()>().await;
                };
                futures_lite::future::or(pongs, async {
                    tick.await;
                })
                .await;
                for p in waiting.values() {
                    println!("round {round:>3}  {:<16} lost", p.name);
                }
            }
        };
        futures_lite::future::or(rounds_done, interrupted).await;
        handle.shutdown().await;
        Ok(())
    })
}

/// `--bind IP` (bind the link port and beacons to one address) and
/// `--no-beacons` (find peers through the seeds only), anywhere on the line.
struct Opts {
    bind: Option<String>,
    no_beacons: bool,
}

impl Opts {
    fn parse() -> (Opts, std::vec::IntoIter<String>) {
        let mut opts = Opts { bind: None, no_beacons: false };
        let mut rest = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(a) = args.next() {
            match a.as_str() {
                "--bind" => opts.bind = args.next(),
                "--no-beacons" => opts.no_beacons = true,
                _ => rest.push(a),
            }
        }
        (opts, rest.into_iter())
    }

    fn apply(&self, mut b: Builder) -> Result<Builder, Box<dyn std::error::Error>> {
        if let Some(ip) = &self.bind {
            let ip: std::net::IpAddr = ip.parse()?;
            b = b.bind_ip(ip).interface(ip);
        }
        if self.no_beacons {
            b = b.beacons(netcluster_async_std::BeaconMode::Off);
        }
        Ok(b)
    }
}

/// Resolves at the first Ctrl-C, so the node can leave cleanly.
fn ctrl_c() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use futures_lite::StreamExt;
    let mut signals = async_signal::Signals::new([async_signal::Signal::Int])?;
    Ok(async move {
        let _ = signals.next().await;
    })
}
