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

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use async_io::Timer;
use common::{ctrl_c, Opts};
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
