//! Group chat on the LAN, as Zyre's chat example: every node joins one
//! group, each line typed is shouted to it, and what others say is printed
//! with their name.
//!
//! ```text
//! cargo run -p netcluster-tokio --example tokio_chat -- NAME [GROUP] [SEED_ADDR...] [--bind IP] [--no-beacons]
//! ```
//!
//! Start it in two terminals (or on two hosts of one LAN) with different
//! names; they find each other by multicast (or through the seeds given),
//! and what one types, the other prints. End with Ctrl-D or Ctrl-C to leave
//! cleanly (the others print "left").

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;

use common::Opts;
use netcluster_tokio::{Builder, Event, NodeId, Semantics};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let (opts, mut args) = Opts::parse()?;
    let name = args.next().unwrap_or_else(|| format!("chatter-{}", std::process::id()));
    let group = args.next().unwrap_or_else(|| "CHAT".into());
    let mut builder = Builder::new("chat", name.clone()).group(group.clone()).link_port(0);
    for seed in args {
        let addr: SocketAddr =
            seed.parse().map_err(|e| format!("bad seed address {seed:?}: {e}"))?;
        builder = builder.seed(addr);
    }
    builder = opts.apply(builder)?;

    let handle = builder.start().await?;
    eprintln!("{name} in {group}, link address {} (Ctrl-D or Ctrl-C leaves)", handle.link_addr());
    let mut events = handle.events();
    let mut lines = stdin_lines();
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);

    let mut names: HashMap<NodeId, String> = HashMap::new();
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Event::PeerUp(p)) => {
                    println!("* {} is here", p.name);
                    names.insert(p.id, p.name);
                }
                Some(Event::PeerDown { id, name, reason }) => {
                    println!("* {name} is gone ({})", reason.as_str());
                    names.remove(&id);
                }
                Some(Event::Message { from, group: Some(g), payload, .. }) if g == group => {
                    let who = names.get(&from).map_or("?", String::as_str);
                    println!("{who}: {}", String::from_utf8_lossy(&payload));
                }
                Some(_) => {}
                None => break,
            },
            line = lines.recv() => match line {
                Some(line) if line.is_empty() => {}
                Some(line) => {
                    // Nobody else in the group yet is not an error for a chat.
                    if let Err(e) = handle.shout(group.as_str(), Semantics::Reliable, line).await {
                        eprintln!("not sent: {e}");
                    }
                }
                // End of input (Ctrl-D), or stdin could not be read.
                None => break,
            },
            _ = &mut interrupted => break,
        }
    }
    eprintln!("leaving...");
    handle.shutdown().await;
    Ok(())
}

/// Lines of stdin, read on a thread of their own. `tokio::io::stdin` would
/// read on the runtime's blocking pool, and a read in progress there keeps
/// the runtime (so the program) alive after Ctrl-C until Enter is pressed;
/// a plain thread does not outlive `main`.
fn stdin_lines() -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let line = match line {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("cannot read stdin: {e}");
                    break;
                }
            };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}
