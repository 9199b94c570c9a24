//! Group chat on the LAN, as Zyre's chat example: every node joins one
//! group, each line typed is shouted to it, and what others say is printed
//! with their name. Runs on smol.
//!
//! ```text
//! cargo run -p netcluster-async-std --example asyncio_chat -- NAME [GROUP] [SEED_ADDR...] [--bind IP] [--no-beacons]
//! ```
//!
//! Start it in two terminals (or on two hosts of one LAN) with different
//! names; they find each other by multicast (or through the seeds given),
//! and what one types, the other prints. End with Ctrl-D or Ctrl-C to leave
//! cleanly.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::{ctrl_c, Opts};
use netcluster_async_std::{Builder, Event, NodeId, Semantics};
use smol::io::{AsyncBufReadExt, BufReader};
use smol::stream::StreamExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (opts, mut args) = Opts::parse();
    let name = args.next().unwrap_or_else(|| format!("chatter-{}", std::process::id()));
    let group = args.next().unwrap_or_else(|| "CHAT".into());
    let mut builder = Builder::new("chat", name.clone()).group(group.clone()).link_port(0);
    for seed in args {
        builder = builder.seed(seed.parse::<SocketAddr>()?);
    }
    builder = opts.apply(builder)?;

    let interrupted = ctrl_c()?;
    smol::block_on(async {
        let handle = builder.start().await?;
        eprintln!(
            "{name} in {group}, link address {} (Ctrl-D or Ctrl-C leaves)",
            handle.link_addr()
        );
        let mut events = handle.events();

        let printer = async {
            let mut names: HashMap<NodeId, String> = HashMap::new();
            while let Some(event) = events.next().await {
                match event {
                    Event::PeerUp(p) => {
                        println!("* {} is here", p.name);
                        names.insert(p.id, p.name);
                    }
                    Event::PeerDown { id, name, reason } => {
                        println!("* {name} is gone ({})", reason.as_str());
                        names.remove(&id);
                    }
                    Event::Message { from, group: Some(g), payload, .. } if g == group => {
                        let who = names.get(&from).map_or("?", String::as_str);
                        println!("{who}: {}", String::from_utf8_lossy(&payload));
                    }
                    _ => {}
                }
            }
        };

        let typist = async {
            let mut lines = BufReader::new(smol::Unblock::new(std::io::stdin())).lines();
            while let Some(line) = lines.next().await {
                let line = match line {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("cannot read stdin: {e}");
                        break;
                    }
                };
                if line.is_empty() {
                    continue;
                }
                // Nobody else in the group yet is not an error for a chat.
                if let Err(e) = handle.shout(group.as_str(), Semantics::Reliable, line).await {
                    eprintln!("not sent: {e}");
                }
            }
        };

        smol::future::or(smol::future::or(printer, typist), interrupted).await;
        eprintln!("leaving...");
        handle.shutdown().await;
        Ok(())
    })
}
