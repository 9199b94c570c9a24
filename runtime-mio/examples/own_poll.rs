//! A node inside a program's own `mio::Poll`: the program also reads stdin
//! (through a reader thread and a `mio::Waker`) and runs a timer of its own
//! (a peer list every 5 s), all in one loop on one thread.
//!
//! ```text
//! cargo run -p netcluster-mio --example own_poll -- [NAME]
//! ```
//!
//! It speaks with the `chat` example's nodes: it joins group `CHAT` of
//! cluster `chat`, shouts each line typed to it, and prints what others
//! say. Ctrl-D leaves cleanly.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use netcluster_mio::{Builder, Event, Semantics};

/// The program's own token; the node gets 1..1024.
const STDIN: Token = Token(0);
const GROUP: &str = "CHAT";
const REPORT_EVERY: Duration = Duration::from_secs(5);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let name = std::env::args().nth(1).unwrap_or_else(|| format!("own-{}", std::process::id()));

    let mut poll = Poll::new()?;
    let mut node = Builder::new("chat", name.clone())
        .link_port(0)
        .group(GROUP)
        .build(poll.registry(), 1..1024)?;
    println!("{name} ({}) on {}", node.id().as_uuid(), node.link_addr());

    // Stdin is read on a thread: a blocking read is the portable way, and
    // the waker brings each line into the loop.
    let waker = Arc::new(Waker::new(poll.registry(), STDIN)?);
    let (lines_tx, lines) = mpsc::channel::<Option<String>>();
    let w = Arc::clone(&waker);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(Some(line)).is_err() {
                return;
            }
            let _ = w.wake();
        }
        let _ = lines_tx.send(None);
        let _ = w.wake();
    });

    let mut events = Events::with_capacity(256);
    let mut next_report = Instant::now() + REPORT_EVERY;
    loop {
        // One timeout for everything the loop waits on: the node's and ours.
        let ours = next_report.saturating_duration_since(Instant::now());
        let timeout = node.poll_timeout().map_or(ours, |t| t.min(ours));
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        }
        for event in events.iter() {
            if node.owns(event.token()) {
                node.handle_event(event);
            } else if event.token() == STDIN {
                while let Ok(line) = lines.try_recv() {
                    match line {
                        Some(text) => {
                            if let Err(e) =
                                node.shout(GROUP, Semantics::Reliable, text.into_bytes())
                            {
                                eprintln!("not sent: {e}");
                            }
                        }
                        None => {
                            println!("leaving...");
                            node.shutdown();
                        }
                    }
                }
            }
        }
        node.handle_deadline();
        while let Some(event) = node.poll_event() {
            match event {
                Event::Message { from, payload, .. } => {
                    let who = node.node().peer(&from).map_or("?", |p| p.name.as_str());
                    println!("{who}: {}", String::from_utf8_lossy(&payload));
                }
                Event::PeerUp(p) => println!("* {} is here", p.name),
                Event::PeerDown { name, reason, .. } => println!("* {name} {}", reason.as_str()),
                _ => {}
            }
        }
        if node.is_stopped() {
            break;
        }
        if Instant::now() >= next_report {
            next_report += REPORT_EVERY;
            let names: Vec<&str> = node.peers().map(|p| p.name.as_str()).collect();
            println!("[{} peers: {}]", names.len(), names.join(", "));
        }
    }
    Ok(())
}
