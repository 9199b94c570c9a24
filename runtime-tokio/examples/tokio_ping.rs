//! Round-trip time to every peer through the mesh, once a second.
//!
//! ```text
//! cargo run -p netcluster-tokio --example tokio_ping -- [CLUSTER] [ROUNDS] [SEED_ADDR...] [--bind IP] [--no-beacons]
//! ```
//!
//! Start a node to ping (the `chat` example, or another `ping`) in another
//! terminal or on another host of the LAN, with the same cluster name
//! (default `chat`, the chat example's). Every peer is pinged through the
//! mesh each round; a ping unanswered within a second is reported lost.
//! Ends after ROUNDS rounds (default 10); Ctrl-C stops early. Either way
//! the node leaves cleanly.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use common::Opts;
use netcluster_tokio::{Builder, Event, EventStream, Handle, MessageId, PeerInfo};
use tokio::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (opts, mut args) = Opts::parse()?;
    let cluster = args.next().unwrap_or_else(|| "chat".into());
    let rounds: u32 = match args.next() {
        Some(n) => n.parse().map_err(|e| format!("ROUNDS must be a number, not {n:?}: {e}"))?,
        None => 10,
    };
    let mut builder = Builder::new(cluster, format!("ping-{}", std::process::id())).link_port(0);
    for seed in args {
        let addr: SocketAddr =
            seed.parse().map_err(|e| format!("bad seed address {seed:?}: {e}"))?;
        builder = builder.seed(addr);
    }
    builder = opts.apply(builder)?;

    let handle = builder.start().await?;
    eprintln!("pinging from {}; waiting for peers...", handle.link_addr());
    // Subscribed before the first ping, so no pong is missed.
    let mut events = handle.events();
    tokio::select! {
        _ = run(&handle, &mut events, rounds) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("interrupted"),
    }
    handle.shutdown().await;
    Ok(())
}

async fn run(handle: &Handle, events: &mut EventStream, rounds: u32) {
    // Give discovery a few seconds before the first round.
    let found = tokio::time::timeout(Duration::from_secs(5), async {
        while handle.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let _ = found.await;

    for round in 1..=rounds {
        let round_end = Instant::now() + Duration::from_secs(1);
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
                Err(e) => println!("round {round:>3}  {:<16} not pinged: {e}", peer.name),
            }
        }
        // Pongs count for this round until its second is up.
        while !waiting.is_empty() {
            match tokio::time::timeout_at(round_end, events.next()).await {
                Ok(Some(Event::Pong { id, rtt, .. })) => {
                    if let Some(p) = waiting.remove(&id) {
                        let ms = rtt.as_secs_f64() * 1e3;
                        println!(
                            "round {round:>3}  {:<16} {:>8.3} ms  ({} hops, {})",
                            p.name, ms, p.hops, p.addr
                        );
                    }
                }
                Ok(Some(_)) => {}
                // The node stopped, or the second is up.
                Ok(None) | Err(_) => break,
            }
        }
        for p in waiting.values() {
            println!("round {round:>3}  {:<16} lost", p.name);
        }
        // Answered early: the round still lasts its second.
        tokio::time::sleep_until(round_end).await;
    }
}
