//! A stream between two nodes of this process, on loopback: one sends
//! MIB mebibytes and finishes, the other reads them to the end and answers
//! with a checksum; prints the throughput.
//!
//! ```text
//! cargo run --release -p netcluster-mio --example transfer -- [MIB] [datagram]
//! ```
//!
//! `datagram` runs the links over UDP instead of TCP.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use netcluster_mio::{BeaconMode, Builder, LinkMode};

fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|m| m.parse()).transpose()?.unwrap_or(64);
    let mode = match args.next().as_deref() {
        Some("datagram") => LinkMode::Datagram,
        _ => LinkMode::Stream,
    };
    let node = |name: &str| {
        Builder::new(format!("transfer-{}", std::process::id()), name)
            .bind_ip(Ipv4Addr::LOCALHOST.into())
            .link_port(0)
            .link_mode(mode)
            .beacons(BeaconMode::Off)
    };
    let a = node("sender").start()?;
    let b = node("receiver").seed(a.link_addr()).start()?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !a.peers().iter().any(|p| p.id == b.id()) {
        if Instant::now() > deadline {
            return Err("the nodes did not find each other".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }

    let data: Vec<u8> = (0..mib << 20).map(|i| (i * 31 % 251) as u8).collect();
    let expected = checksum(&data);
    let receiver = {
        let b = b.clone();
        std::thread::spawn(move || -> std::io::Result<usize> {
            let mut s = b.accept_stream().map_err(std::io::Error::other)?;
            let mut got = Vec::new();
            s.read_to_end(&mut got)?;
            s.write_all(&checksum(&got).to_be_bytes())?;
            s.finish()?;
            Ok(got.len())
        })
    };
    let started = Instant::now();
    let mut s = a.open_stream(b.id())?;
    s.write_all(&data)?;
    s.finish()?;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)?;
    let took = started.elapsed();
    let received = receiver.join().map_err(|_| "the receiver panicked")??;
    let ok = answer == expected.to_be_bytes() && received == data.len();
    println!(
        "{mib} MiB over {mode:?} links in {:.2} s: {:.1} MiB/s, checksum {}",
        took.as_secs_f64(),
        mib as f64 / took.as_secs_f64(),
        if ok { "matches" } else { "DIFFERS" }
    );
    a.shutdown();
    b.shutdown();
    if ok {
        Ok(())
    } else {
        Err("the bytes differ".into())
    }
}
