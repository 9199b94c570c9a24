//! A slow application on every driver, with the default settings: nothing
//! acknowledged is lost on the way to it, its senders are held back, and
//! memory stays within the configured bounds.
//!
//! Per driver, two nodes on loopback:
//! - 2 M sequenced 8-byte messages go from one to the other, whose reader
//!   pauses 1 ms every 10,000 events and stops for 10 s once on the way.
//!   Every message arrives exactly once and in order; the sender saw
//!   `WouldBlock` and waited; the receiver's inbox, its event queue and the
//!   sender's window stayed within their bounds; no peer was reported down
//!   and no keepalive timed out (keepalives flow while the reader stops).
//! - Datagram-semantics messages under the same pressure: every one is
//!   either received or counted as dropped at the receiver's inbox.
//!
//! The figures are counts, never times: the test passes on a slow machine,
//! only later. Each driver runs through the same blocking adapter
//! ([`Peer`]), so the scenario is written once.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use netcluster_core::node::{Event, PeerInfo, SendError, Stats};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, NodeId};
use netcluster_net::SendMany;

/// Messages of the sequenced run.
const MESSAGES: u64 = 2_000_000;
/// The reader pauses 1 ms after this many events.
const PAUSE_EVERY: u64 = 10_000;
/// The reader stops once, for this long, after this many messages.
const STALL: Duration = Duration::from_secs(10);
const STALL_AT: u64 = 500_000;
/// Messages handed to `send_many` at once.
const BATCH: usize = 1024;
/// Datagram-semantics messages handed to it at once, 1 ms apart.
const DATAGRAM_BATCH: usize = 64;
/// Generous: a debug build on a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(600);

/// What the scenario needs of a node, whatever its driver: blocking calls.
trait Peer: Send + Sync {
    fn id(&self) -> NodeId;
    fn link_addr(&self) -> SocketAddr;
    fn peers(&self) -> Vec<PeerInfo>;
    fn send_many(&self, to: NodeId, s: Semantics, payloads: Vec<Bytes>) -> SendMany;
    /// (inbox length, messages in flight, counters).
    fn figures(&self) -> (usize, usize, Stats);
    fn events(&self) -> Box<dyn Reader>;
    fn shutdown(&self);
}

trait Reader: Send {
    fn recv_timeout(&mut self, d: Duration) -> Option<Event>;
    fn queued(&self) -> usize;
}

fn figures(n: &netcluster_core::Node) -> (usize, usize, Stats) {
    (n.inbox_len(), n.in_flight(), n.stats().clone())
}

/// The `Peer` methods, the same for every driver but for how a call is
/// waited for: `$p::run` blocks on what the handle returns.
macro_rules! peer_impl {
    ($p:ty) => {
        impl Peer for $p {
            fn id(&self) -> NodeId {
                self.0.id()
            }
            fn link_addr(&self) -> SocketAddr {
                self.0.link_addr()
            }
            fn peers(&self) -> Vec<PeerInfo> {
                self.0.peers()
            }
            fn send_many(&self, to: NodeId, s: Semantics, p: Vec<Bytes>) -> SendMany {
                self.run(self.0.send_many(to, s, p)).expect("node runs")
            }
            fn figures(&self) -> (usize, usize, Stats) {
                self.run(self.0.query(figures)).expect("node runs")
            }
            fn events(&self) -> Box<dyn Reader> {
                Box::new(self.reader())
            }
            fn shutdown(&self) {
                self.run(self.0.shutdown());
            }
        }
    };
}

/// A builder for a node on loopback with beacons off and `seeds`.
macro_rules! loopback {
    ($krate:ident, $cfg:expr, $seeds:expr) => {{
        let mut b = $krate::Builder::with_config($cfg)
            .bind_ip(lo())
            .link_port(0)
            .beacons($krate::BeaconMode::Off);
        for s in $seeds {
            b = b.seed(*s);
        }
        b
    }};
}

mod tokio_peer {
    use super::*;
    use netcluster_tokio::{EventStream, Handle};
    use std::future::Future;

    pub struct P(pub Handle, pub Arc<tokio::runtime::Runtime>);
    pub struct R(pub EventStream, pub Arc<tokio::runtime::Runtime>);

    impl P {
        fn run<F: Future>(&self, f: F) -> F::Output {
            self.1.block_on(f)
        }
        fn reader(&self) -> R {
            R(self.0.events(), Arc::clone(&self.1))
        }
    }
    peer_impl!(P);

    impl Reader for R {
        fn recv_timeout(&mut self, d: Duration) -> Option<Event> {
            self.1.block_on(async { tokio::time::timeout(d, self.0.next()).await.ok().flatten() })
        }
        fn queued(&self) -> usize {
            self.0.queued()
        }
    }

    pub fn start(cfg: Config, seeds: &[SocketAddr]) -> Box<dyn Peer> {
        let rt = Arc::new(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .unwrap(),
        );
        let h = rt.block_on(loopback!(netcluster_tokio, cfg, seeds).start());
        Box::new(P(h.expect("tokio node starts"), rt))
    }
}

mod async_io_peer {
    use super::*;
    use netcluster_async_std::{EventStream, Handle};
    use std::future::Future;

    pub struct P(pub Handle);
    pub struct R(pub EventStream);

    impl P {
        fn run<F: Future>(&self, f: F) -> F::Output {
            async_io::block_on(f)
        }
        fn reader(&self) -> R {
            R(self.0.events())
        }
    }
    peer_impl!(P);

    impl Reader for R {
        fn recv_timeout(&mut self, d: Duration) -> Option<Event> {
            async_io::block_on(futures_lite::future::or(self.0.next(), async {
                async_io::Timer::after(d).await;
                None
            }))
        }
        fn queued(&self) -> usize {
            self.0.queued()
        }
    }

    pub fn start(cfg: Config, seeds: &[SocketAddr]) -> Box<dyn Peer> {
        let h = async_io::block_on(loopback!(netcluster_async_std, cfg, seeds).start());
        Box::new(P(h.expect("async-io node starts")))
    }
}

mod mio_peer {
    use super::*;
    use netcluster_mio::{Events, Handle};

    pub struct P(pub Handle);
    pub struct R(pub Events);

    impl P {
        /// The mio handle's calls block already.
        fn run<T>(&self, t: T) -> T {
            t
        }
        fn reader(&self) -> R {
            R(self.0.events())
        }
    }
    peer_impl!(P);

    impl Reader for R {
        fn recv_timeout(&mut self, d: Duration) -> Option<Event> {
            self.0.recv_timeout(d).ok()
        }
        fn queued(&self) -> usize {
            self.0.queued()
        }
    }

    pub fn start(cfg: Config, seeds: &[SocketAddr]) -> Box<dyn Peer> {
        Box::new(P(loopback!(netcluster_mio, cfg, seeds).start().expect("mio node starts")))
    }
}

fn lo() -> IpAddr {
    Ipv4Addr::LOCALHOST.into()
}

type Start = fn(Config, &[SocketAddr]) -> Box<dyn Peer>;

/// A sender and a receiver, linked, with the library's default settings.
fn pair(start: Start, tag: &str) -> (Box<dyn Peer>, Box<dyn Peer>) {
    let nanos =
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let cluster = format!("bp-{tag}-{}-{nanos}", std::process::id());
    let rx = start(Config::lan(&cluster, "rx"), &[]);
    let tx = start(Config::lan(&cluster, "tx"), &[rx.link_addr()]);
    let end = Instant::now() + Duration::from_secs(60);
    while !(tx.peers().iter().any(|p| p.id == rx.id())
        && rx.peers().iter().any(|p| p.id == tx.id()))
    {
        assert!(Instant::now() < end, "the two nodes never saw each other");
        std::thread::sleep(Duration::from_millis(20));
    }
    (tx, rx)
}

/// The largest figures seen while the run went on.
#[derive(Debug, Default, Clone, Copy)]
struct Peaks {
    inbox: usize,
    queued: usize,
    in_flight: usize,
}

/// Sends `count` numbered messages from `tx` to `rx`, as fast as the
/// window lets it, waiting for `Writable` after each refusal; returns how
/// many refusals it saw.
fn send_all(tx: &dyn Peer, to: NodeId, s: Semantics, count: u64, stop: &AtomicBool) -> u64 {
    let mut ev = tx.events();
    let mut next = 0u64;
    let mut blocked = 0;
    let end = Instant::now() + DEADLINE;
    while next < count && !stop.load(Ordering::Relaxed) {
        assert!(Instant::now() < end, "sending took past the deadline at {next}");
        let batch = if s == Semantics::Datagram { DATAGRAM_BATCH } else { BATCH };
        let n = (count - next).min(batch as u64);
        let batch: Vec<Bytes> =
            (next..next + n).map(|i| Bytes::copy_from_slice(&i.to_be_bytes())).collect();
        let r = tx.send_many(to, s, batch);
        next += r.ids.len() as u64;
        match r.refused {
            None => {}
            Some(SendError::WouldBlock) => {
                blocked += 1;
                // Room comes with `Writable`; a short wait covers one that
                // raced the refusal.
                loop {
                    match ev.recv_timeout(Duration::from_millis(50)) {
                        Some(Event::Writable { to: w }) if w == to => break,
                        Some(Event::PeerDown { .. }) => panic!("the sender saw its peer down"),
                        Some(_) => continue,
                        None => break,
                    }
                }
            }
            Some(e) => panic!("send refused at {next}: {e}"),
        }
        // The sender's own events (delivery reports) are read as it goes.
        while let Some(e) = ev.recv_timeout(Duration::ZERO) {
            assert!(!matches!(e, Event::PeerDown { .. }), "the sender saw its peer down");
        }
        if s == Semantics::Datagram {
            // Nothing holds datagrams back on the way to the link, whose
            // write queue closes the link when it overflows until per-link
            // backpressure comes (the data-plane work): pace them.
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    blocked
}

fn sequenced_under_a_slow_reader(start: Start, tag: &str) {
    netcluster_tests::init_tracing();
    let (tx, rx) = pair(start, tag);
    let defaults = Config::lan("x", "x");
    let capacity = netcluster_net::DEFAULT_EVENT_CAPACITY;
    let (to, from) = (rx.id(), tx.id());
    let mut reader = rx.events();
    let stop = Arc::new(AtomicBool::new(false));
    let received = Arc::new(AtomicUsize::new(0));
    let peaks = std::thread::scope(|s| {
        let sender = s.spawn(|| send_all(&*tx, to, Semantics::Sequenced, MESSAGES, &stop));
        let monitor = s.spawn(|| {
            let mut p = Peaks::default();
            while !stop.load(Ordering::Relaxed) {
                let (inbox, _, _) = rx.figures();
                let (_, in_flight, _) = tx.figures();
                p.inbox = p.inbox.max(inbox);
                p.in_flight = p.in_flight.max(in_flight);
                std::thread::sleep(Duration::from_millis(20));
            }
            p
        });
        let end = Instant::now() + DEADLINE;
        let mut next = 0u64;
        let mut events = 0u64;
        let mut max_queued = 0;
        while next < MESSAGES {
            assert!(Instant::now() < end, "received {next} of {MESSAGES} by the deadline");
            max_queued = max_queued.max(reader.queued());
            let Some(e) = reader.recv_timeout(Duration::from_millis(100)) else { continue };
            events += 1;
            match e {
                Event::Message { from: f, payload, .. } => {
                    assert_eq!(f, from);
                    let n = u64::from_be_bytes(payload[..].try_into().expect("8 bytes"));
                    assert_eq!(n, next, "exactly once and in order");
                    next += 1;
                    received.store(next as usize, Ordering::Relaxed);
                    if next == STALL_AT {
                        std::thread::sleep(STALL);
                    }
                }
                Event::PeerDown { .. } | Event::Resync { .. } => {
                    panic!("the receiver's view of its peer changed: {e:?}")
                }
                _ => {}
            }
            if events.is_multiple_of(PAUSE_EVERY) {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        let blocked = sender.join().expect("sender");
        stop.store(true, Ordering::Relaxed);
        let mut p = monitor.join().expect("monitor");
        p.queued = max_queued;
        assert!(blocked > 0, "the sender never saw WouldBlock");
        p
    });
    let (_, _, rx_stats) = rx.figures();
    let (_, _, tx_stats) = tx.figures();
    eprintln!(
        "{tag}: peaks {peaks:?}; receiver refused {} (inbox full); sender retransmitted {}",
        rx_stats.inbox_refused, tx_stats.retransmissions
    );
    assert!(peaks.inbox <= defaults.inbox_messages, "inbox {} past its bound", peaks.inbox);
    // Control events may pass the queue's bound by the reports of messages
    // in flight; messages never do.
    assert!(peaks.queued <= capacity + defaults.send_window, "event queue {}", peaks.queued);
    assert!(peaks.in_flight <= defaults.send_window, "in flight {}", peaks.in_flight);
    assert!(rx_stats.inbox_refused > 0, "the stall filled the inbox");
    assert_eq!(rx_stats.keepalive_timeouts + tx_stats.keepalive_timeouts, 0);
    assert!(rx.peers().iter().any(|p| p.id == from), "the receiver still sees the sender");
    tx.shutdown();
    rx.shutdown();
}

fn datagrams_under_a_slow_reader(start: Start, tag: &str) {
    netcluster_tests::init_tracing();
    let (tx, rx) = pair(start, tag);
    let (to, from) = (rx.id(), tx.id());
    const COUNT: u64 = 20_000;
    let mut reader = rx.events();
    let stop = AtomicBool::new(false);
    // The reader stops until every datagram is sent: the inbox fills and
    // the rest are dropped there, counted.
    send_all(&*tx, to, Semantics::Datagram, COUNT, &stop);
    let end = Instant::now() + DEADLINE;
    let mut got = 0u64;
    let mut last = None;
    loop {
        assert!(Instant::now() < end, "datagrams never all accounted for");
        let (_, _, st) = rx.figures();
        if got + st.inbox_dropped == COUNT {
            assert!(st.inbox_dropped > 0, "a stopped reader made the inbox drop");
            break;
        }
        if let Some(Event::Message { from: f, payload, .. }) =
            reader.recv_timeout(Duration::from_millis(50))
        {
            assert_eq!(f, from);
            let n = u64::from_be_bytes(payload[..].try_into().expect("8 bytes"));
            assert!(last.is_none_or(|l| n > l), "datagrams arrive once, in send order here");
            last = Some(n);
            got += 1;
        }
    }
    tx.shutdown();
    rx.shutdown();
}

#[test]
fn tokio_sequenced_under_a_slow_reader() {
    sequenced_under_a_slow_reader(tokio_peer::start, "tokio");
}

#[test]
fn async_io_sequenced_under_a_slow_reader() {
    sequenced_under_a_slow_reader(async_io_peer::start, "async-io");
}

#[test]
fn mio_sequenced_under_a_slow_reader() {
    sequenced_under_a_slow_reader(mio_peer::start, "mio");
}

#[test]
fn tokio_datagrams_under_a_slow_reader() {
    datagrams_under_a_slow_reader(tokio_peer::start, "tokio");
}

#[test]
fn async_io_datagrams_under_a_slow_reader() {
    datagrams_under_a_slow_reader(async_io_peer::start, "async-io");
}

#[test]
fn mio_datagrams_under_a_slow_reader() {
    datagrams_under_a_slow_reader(mio_peer::start, "mio");
}
