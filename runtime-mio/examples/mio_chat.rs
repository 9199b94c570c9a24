//! Group chat on the LAN, as Zyre's chat example: every node joins a group
//! and shouts each line read from stdin to it.
//!
//! ```text
//! cargo run -p netcluster-mio --example mio_chat -- NAME [GROUP]
//! ```
//!
//! Run it in several terminals (or on several hosts of one LAN); nodes find
//! each other by multicast. End with Ctrl-D to leave cleanly (the others
//! print "left"); Ctrl-C kills the node (the others print "timed_out").

use std::io::BufRead;

use netcluster_mio::{Builder, Event, Semantics};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let Some(name) = args.next() else {
        eprintln!("usage: chat NAME [GROUP]");
        std::process::exit(2);
    };
    let group = args.next().unwrap_or_else(|| "CHAT".into());
    let handle = Builder::new("chat", name.clone()).link_port(0).group(group.clone()).start()?;
    println!(
        "{name} is in {group} (link {}): type a line to send it, Ctrl-D to leave",
        handle.link_addr()
    );

    let (h, g) = (handle.clone(), group.clone());
    let printer = handle.on_event(move |event| match event {
        Event::Message { from, group: Some(to), payload, .. } if to == g => {
            let who = h
                .peers()
                .into_iter()
                .find(|p| p.id == from)
                .map_or_else(|| from.as_uuid().to_string(), |p| p.name);
            println!("{who}: {}", String::from_utf8_lossy(&payload));
        }
        Event::PeerUp(p) if p.groups.contains(&g) => println!("* {} joined", p.name),
        Event::GroupJoined { peer, group } if group == g => {
            let who = h.peers().into_iter().find(|p| p.id == peer).map(|p| p.name);
            println!("* {} joined", who.unwrap_or_else(|| peer.as_uuid().to_string()));
        }
        Event::PeerDown { name, reason, .. } => println!("* {name} {}", reason.as_str()),
        _ => {}
    })?;

    for line in std::io::stdin().lock().lines() {
        let line = line?;
        if line.is_empty() {
            continue;
        }
        if let Err(e) = handle.shout(group.as_str(), Semantics::Reliable, line.into_bytes()) {
            eprintln!("not sent: {e}");
        }
    }
    println!("leaving...");
    handle.shutdown();
    let _ = printer.join();
    Ok(())
}
