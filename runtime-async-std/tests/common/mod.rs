//! Helpers shared by the test binaries: bounded waits and seeded nodes on
//! loopback.
// Each test binary uses only some of them.
#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_io::Timer;
use netcluster_async_std::{BeaconMode, Builder, Event, EventStream, Handle, LinkMode, NodeId};

pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub fn lo() -> std::net::IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

/// `fut`, or a panic naming `what` once the deadline passes.
pub async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    let expired = async {
        Timer::after(DEADLINE).await;
        None
    };
    futures_lite::future::or(async { Some(fut.await) }, expired)
        .await
        .unwrap_or_else(|| panic!("timed out waiting for {what}"))
}

/// Polls `cond` until it holds or the deadline passes.
pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    within(what, async {
        while !cond() {
            Timer::after(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// Reads `events` until `f` returns `Some`, collecting every event seen.
pub async fn until<T>(
    what: &str,
    events: &mut EventStream,
    seen: &mut Vec<Event>,
    mut f: impl FnMut(&Event) -> Option<T>,
) -> T {
    within(what, async {
        while let Some(e) = events.next().await {
            let hit = f(&e);
            seen.push(e);
            if let Some(t) = hit {
                return t;
            }
        }
        panic!("event stream ended while waiting for {what}");
    })
    .await
}

pub fn seeded(cluster: &str, name: &str, mode: LinkMode, seeds: &[SocketAddr]) -> Builder {
    let mut b = Builder::new(cluster, name)
        .bind_ip(lo())
        .link_port(0)
        .link_mode(mode)
        .beacons(BeaconMode::Off);
    for s in seeds {
        b = b.seed(*s);
    }
    b
}

pub fn sees_all(h: &Handle, others: &[NodeId]) -> bool {
    let peers = h.peers();
    others.iter().all(|id| peers.iter().any(|p| p.id == *id))
}

pub fn in_group(h: &Handle, id: NodeId, group: &str) -> bool {
    h.peers().iter().any(|p| p.id == id && p.groups.iter().any(|g| g == group))
}
