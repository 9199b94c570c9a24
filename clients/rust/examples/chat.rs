//! Chat through the host daemon: every line typed is shouted to the group
//! "chat" of the cluster, and every line shouted there is printed.
//!
//! ```sh
//! cargo run -p netcluster-client --example chat -- demo alice
//! ```
//!
//! Arguments: the cluster (default `chat`), a nickname (default `$USER`),
//! then any seeds (`host:port`). The daemon is started if none runs
//! (`netcluster` must be on the `PATH`, or named by `$NETCLUSTER_AGENT`).

use std::io::BufRead;

use netcluster_client::{Cluster, Options, Semantics, SocketOptions, Target};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let cluster = args.next().unwrap_or_else(|| "chat".into());
    let nick = args.next().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "anon".into());
    let options = Options { seeds: args.collect(), ..Options::default() };
    let mut c = Cluster::connect(&cluster, options)?;
    let inbox = c.socket(
        Target::GroupReceive("chat".into()),
        Semantics::Reliable,
        SocketOptions::default(),
    )?;
    let outbox =
        c.socket(Target::Group("chat".into()), Semantics::Reliable, SocketOptions::default())?;
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = inbox.recv(&mut buf) {
            println!("{}", String::from_utf8_lossy(&buf[..n]));
        }
    });
    for line in std::io::stdin().lock().lines() {
        outbox.send(format!("<{nick}> {}", line?).as_bytes())?;
    }
    Ok(())
}
