//! Starts a node and prints its events until Ctrl-C, then leaves cleanly.
//!
//! ```text
//! cargo run -p netcluster-tokio --example peers -- [CLUSTER] [NAME] [SEED_ADDR...]
//! RUST_LOG=debug cargo run -p netcluster-tokio --example peers
//! ```
//!
//! Run it in two terminals on one host (each binds a free link port) and
//! watch them find each other by multicast.

use std::net::SocketAddr;

use netcluster_tokio::{Builder, Event};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let cluster = args.next().unwrap_or_else(|| "demo".into());
    let name = args.next().unwrap_or_else(|| format!("peer-{}", std::process::id()));
    let mut builder = Builder::new(cluster, name).link_port(0);
    for seed in args {
        builder = builder.seed(seed.parse::<SocketAddr>()?);
    }
    let handle = builder.start().await?;
    println!("node {} listening on {}", handle.id().as_uuid(), handle.link_addr());
    let mut events = handle.events();
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Event::PeerUp(p)) => {
                    println!("up      {} {} at {} ({} hops)", p.name, p.id.as_uuid(), p.addr, p.hops)
                }
                Some(Event::PeerDown { name, id, reason }) => {
                    println!("down    {name} {} ({})", id.as_uuid(), reason.as_str())
                }
                Some(other) => println!("event   {other:?}"),
                None => break,
            },
            _ = tokio::signal::ctrl_c() => {
                println!("leaving...");
                handle.shutdown().await;
                break;
            }
        }
    }
    Ok(())
}
