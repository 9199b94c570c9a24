//! Round-trip time to every peer through the mesh, once a second.
//!
//! ```text
//! cargo run -p netcluster-mio --example mio_ping -- [ROUNDS] [SEED_ADDR...]
//! ```
//!
//! Peers are found by multicast on the LAN, and through the seeds given
//! (link addresses, e.g. `192.0.2.7:7400`). Start another node to ping with
//! the `chat` example or a second `ping` (both are in cluster `chat`). Ends
//! after ROUNDS rounds (default 10), and leaves cleanly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use netcluster_mio::{Builder, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let rounds: u32 = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    let mut builder = Builder::new("chat", format!("ping-{}", std::process::id())).link_port(0);
    for seed in args {
        builder = builder.seed(seed.parse::<SocketAddr>()?);
    }
    let handle = builder.start()?;
    println!("node {} on {}", handle.id().as_uuid(), handle.link_addr());
    let mut events = handle.events();

    for round in 1..=rounds {
        let started = Instant::now();
        let mut waiting = HashMap::new();
        for peer in handle.peers() {
            match handle.ping(peer.id) {
                Ok(id) => {
                    waiting.insert(id, peer);
                }
                Err(e) => println!("{:<20} not pinged: {e}", peer.name),
            }
        }
        if waiting.is_empty() {
            println!("round {round}: no peer yet");
        }
        // Answers count for this round until a second has passed.
        let end = started + Duration::from_secs(1);
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match events.recv_timeout(left) {
                Ok(Event::Pong { id, rtt, .. }) => {
                    if let Some(p) = waiting.remove(&id) {
                        let ms = rtt.as_secs_f64() * 1e3;
                        println!("{:<20} {:>9.3} ms  ({} hops, {})", p.name, ms, p.hops, p.addr);
                    }
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        for p in waiting.values() {
            println!("{:<20} no answer within 1 s", p.name);
        }
    }
    handle.shutdown();
    Ok(())
}
