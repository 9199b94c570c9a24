//! Real sockets under load, on each driver: a sender pushes 200 MB of
//! 64 KiB `Sequenced` messages through a relay to a reader slower than the
//! links, with the drivers' default write limits.
//!
//! Nothing may close (no link is reopened, no peer goes down), nothing may
//! be lost or reordered, and the relay's and the sender's link queues stay
//! within their bound. The sender waits for `Writable` after a refusal,
//! as an application must. Loopback only; every wait has a deadline.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use netcluster_core::node::{Event, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, NodeId};

const SIZE: usize = 64 * 1024;
const TOTAL: usize = 200_000_000;
const COUNT: u32 = (TOTAL / SIZE) as u32;
/// Generous: a debug build on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(600);

fn lo() -> IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

fn message(i: u32) -> Vec<u8> {
    let mut v = vec![(i % 251) as u8; SIZE];
    v[..4].copy_from_slice(&i.to_be_bytes());
    v
}

/// Checks one received message: the next in order, its bytes intact.
fn check(expected: &mut u32, payload: &[u8]) {
    let i = u32::from_be_bytes(payload[..4].try_into().unwrap());
    assert_eq!(i, *expected, "lost or reordered");
    assert_eq!(payload.len(), SIZE);
    assert!(payload[4..].iter().all(|&b| b == (i % 251) as u8), "message {i} corrupted");
    *expected += 1;
}

/// The queue bound a node's link queues must keep (one frame of slack:
/// one frame always fits an empty queue).
fn bound() -> usize {
    Config::lan("x", "y").link_queue_bytes + 9 * 1024
}

/// Builds the line sender - relay - reader on one driver (`$start` turns a
/// builder into a started handle; `$would_block` matches its refusal for
/// lack of room), runs the load
/// and checks it. `$aw` is
/// `.await` for the async drivers and nothing for mio; `$next` takes the
/// next event from a subscription within a timeout; `$sleep` pauses.
macro_rules! relay_load {
    ($builder:path, $would_block:pat, $cluster:expr, $start:ident, [$($aw:tt)*], $next:ident, $sleep:ident) => {{
        let cluster = $cluster;
        let node = |name: &str, max_links: usize| {
            <$builder>::new(cluster.as_str(), name)
                .bind_ip(lo())
                .link_port(0)
                .beacons(netcluster_net::BeaconMode::Off)
                .configure(move |c| c.max_links = max_links)
        };
        let relay = $start(node("relay", 2))$($aw)*;
        let sender = $start(node("sender", 1).seed(relay.link_addr()))$($aw)*;
        let reader = $start(node("reader", 1).seed(relay.link_addr()))$($aw)*;
        let (to, via) = (reader.id(), relay.id());
        let end = Instant::now() + DEADLINE;
        loop {
            let route = sender.query(move |n| n.route_to(&to))$($aw)*.unwrap();
            if route.is_some_and(|r| r.len() == 3 && r[1] == via) {
                break;
            }
            assert!(Instant::now() < end, "no route through the relay");
            $sleep(Duration::from_millis(20))$($aw)*;
        }
        let links_before = [
            sender.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
            relay.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
            reader.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
        ];
        let mut reader_events = reader.events();
        let mut sender_events = sender.events();
        let mut relay_events = relay.events();
        // The reader is slower than the links: it pauses after every 64
        // messages, so the data backs up into the relay and the sender.
        let mut expected = 0u32;
        let mut sent = 0u32;
        let mut downs = 0;
        while expected < COUNT {
            assert!(Instant::now() < end, "{expected} of {COUNT} after the deadline");
            while sent < COUNT {
                match sender.send(to, Semantics::Sequenced, message(sent))$($aw)* {
                    Ok(_) => sent += 1,
                    Err($would_block) => break,
                    Err(e) => panic!("send {sent}: {e}"),
                }
            }
            // Take what the reader has, up to 64 messages, then pause.
            for _ in 0..64 {
                match $next(&mut reader_events, Duration::from_millis(5))$($aw)* {
                    Some(Event::Message { payload, .. }) => check(&mut expected, &payload),
                    Some(Event::PeerDown { .. }) => downs += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            while let Some(e) = $next(&mut sender_events, Duration::ZERO)$($aw)* {
                downs += usize::from(matches!(e, Event::PeerDown { .. }));
            }
            while let Some(e) = $next(&mut relay_events, Duration::ZERO)$($aw)* {
                downs += usize::from(matches!(e, Event::PeerDown { .. }));
            }
            $sleep(Duration::from_millis(2))$($aw)*;
        }
        assert_eq!(downs, 0, "a peer went down under load");
        let links_after = [
            sender.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
            relay.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
            reader.query(|n| n.stats().links_opened)$($aw)*.unwrap(),
        ];
        assert_eq!(links_before, links_after, "a link was closed and reopened");
        for (name, h) in [("sender", &sender), ("relay", &relay)] {
            let peaks = h
                .query(|n| {
                    let links: Vec<_> = n.neighbours().map(|(l, _)| l).collect();
                    links.into_iter().filter_map(|l| n.link_queue(l)).map(|q| q.2.peak_bytes).max()
                })
                $($aw)*
                .unwrap()
                .unwrap_or(0);
            assert!(peaks <= bound(), "{name}: a link queue held {peaks} bytes");
        }
        let _: NodeId = to;
        sender.shutdown()$($aw)*;
        relay.shutdown()$($aw)*;
        reader.shutdown()$($aw)*;
    }};
}

fn cluster(tag: &str) -> String {
    format!("relay-load-{tag}-{}", std::process::id())
}

async fn tokio_start(b: netcluster_tokio::Builder) -> netcluster_tokio::Handle {
    b.start().await.expect("a node starts")
}

async fn tokio_next(events: &mut netcluster_tokio::EventStream, wait: Duration) -> Option<Event> {
    tokio::time::timeout(wait.max(Duration::from_micros(1)), events.next()).await.ok().flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_relay_carries_200_mb_to_a_slow_reader_without_closing_or_losing() {
    relay_load!(
        netcluster_tokio::Builder,
        netcluster_tokio::Error::Send(SendError::WouldBlock),
        cluster("tokio"),
        tokio_start,
        [.await],
        tokio_next,
        tokio_sleep
    );
}

async fn tokio_sleep(d: Duration) {
    tokio::time::sleep(d).await;
}

async fn asyncio_start(b: netcluster_async_std::Builder) -> netcluster_async_std::Handle {
    b.start().await.expect("a node starts")
}

async fn asyncio_next(
    events: &mut netcluster_async_std::EventStream,
    wait: Duration,
) -> Option<Event> {
    let next = async { events.next().await };
    let late = async {
        async_io::Timer::after(wait).await;
        None
    };
    futures_lite::future::or(next, late).await
}

async fn asyncio_sleep(d: Duration) {
    async_io::Timer::after(d).await;
}

#[test]
fn asyncio_relay_carries_200_mb_to_a_slow_reader_without_closing_or_losing() {
    async_io::block_on(async {
        relay_load!(
            netcluster_async_std::Builder,
            netcluster_async_std::Error::Send(SendError::WouldBlock),
            cluster("asyncio"),
            asyncio_start,
            [.await],
            asyncio_next,
            asyncio_sleep
        );
    });
}

fn mio_start(b: netcluster_mio::Builder) -> netcluster_mio::Handle {
    b.start().expect("a node starts")
}

fn mio_next(events: &mut netcluster_mio::Events, wait: Duration) -> Option<Event> {
    events.recv_timeout(wait).ok()
}

fn mio_sleep(d: Duration) {
    std::thread::sleep(d);
}

#[test]
fn mio_relay_carries_200_mb_to_a_slow_reader_without_closing_or_losing() {
    relay_load!(
        netcluster_mio::Builder,
        netcluster_mio::Error::Send(SendError::WouldBlock),
        cluster("mio"),
        mio_start,
        [],
        mio_next,
        mio_sleep
    );
}
