//! Streams between two nodes on loopback: a large transfer each way with
//! half-close, a reset, typed errors, the accept queue's bound and the
//! stop, and streams on the building block in a caller's own poll. Every
//! blocking read or write runs on a helper thread; the test thread waits
//! for it with a deadline, and dropping the handles (also on a failure)
//! stops the nodes, which ends every stream and so releases the helpers.

use std::io::{ErrorKind, Read, Write};
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netcluster_mio::{
    BeaconMode, Builder, Error, Event, Handle, LinkMode, MioNode, NodeId, PeerStream, StreamEnd,
    StreamError, MIN_TOKENS,
};

/// Generous: debug builds on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(60);
const FIVE_MIB: usize = 5 * 1024 * 1024;

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

fn builder(cluster: &str, name: &str, mode: LinkMode) -> Builder {
    Builder::new(cluster, name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .link_mode(mode)
        .beacons(BeaconMode::Off)
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two nodes that see each other, `b` seeded with `a`.
fn pair(cluster: &str, mode: LinkMode, tune: impl Fn(Builder) -> Builder) -> (Handle, Handle) {
    init_tracing();
    let a = tune(builder(cluster, "a", mode)).start().unwrap();
    let b = tune(builder(cluster, "b", mode).seed(a.link_addr())).start().unwrap();
    let (ida, idb) = (a.id(), b.id());
    wait_for("the nodes to see each other", || {
        a.peers().iter().any(|p| p.id == idb) && b.peers().iter().any(|p| p.id == ida)
    });
    (a, b)
}

/// Runs `f` on a thread of its own, and returns its result within the
/// deadline (or fails the test).
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let _t: JoinHandle<()> = std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("timed out: {what}"),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!("{what}: the helper panicked"),
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 11)) as u8).collect()
}

/// FNV-1a, 64 bits.
fn checksum(data: &[u8]) -> u64 {
    data.iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3))
}

/// Reads to the end in small pieces (smaller than half the bridge's
/// buffer, so refills never come from a single read).
fn read_all_small(s: &PeerStream) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 8 * 1024];
    loop {
        match (&*s).read(&mut buf)? {
            0 => return Ok(got),
            n => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn wait_ended(s: &PeerStream, what: &str) -> StreamEnd {
    let mut end = None;
    wait_for(what, || {
        end = s.ended();
        end.is_some()
    });
    end.unwrap()
}

/// A writes 5 MiB and finishes; B reads it all and the end, answers with
/// the length and checksum, and finishes; A reads the answer and the end.
fn transfer(mode: LinkMode, cluster: &str) {
    let (a, b) = pair(cluster, mode, |b| b);
    let ida = a.id();
    let data = pattern(FIVE_MIB);
    let expected = checksum(&data);

    let sa = a.open_stream(b.id()).unwrap();
    assert_eq!(sa.peer(), b.id());
    let sb = b.accept_stream_timeout(DEADLINE).unwrap().expect("a stream to accept");
    assert_eq!(sb.peer(), ida);
    // Only the streams go to the helpers: on a failure the handles drop
    // here, the nodes stop, and the streams end.
    let responder = std::thread::spawn(move || -> std::io::Result<(PeerStream, usize)> {
        let got = read_all_small(&sb)?;
        let mut answer = (got.len() as u64).to_be_bytes().to_vec();
        answer.extend_from_slice(&checksum(&got).to_be_bytes());
        (&sb).write_all(&answer)?;
        sb.finish()?;
        Ok((sb, got.len()))
    });

    let (stream_a, answer) = within("the transfer and its answer", move || {
        let mut s = sa;
        // Uneven pieces, so writes straddle segments and buffers.
        for piece in data.chunks(100_003) {
            s.write_all(piece).unwrap();
        }
        s.flush().unwrap();
        s.finish().unwrap();
        // Finished for writing: a further write is refused.
        assert!(s.write(b"late").is_err());
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).unwrap();
        (s, answer)
    });
    assert_eq!(answer.len(), 16, "length and checksum");
    assert_eq!(u64::from_be_bytes(answer[..8].try_into().unwrap()), FIVE_MIB as u64);
    assert_eq!(u64::from_be_bytes(answer[8..].try_into().unwrap()), expected);

    let (stream_b, n) = within("the responder", move || responder.join()).unwrap().unwrap();
    assert_eq!(n, FIVE_MIB);
    assert_eq!(wait_ended(&stream_a, "A's end of the stream to end"), StreamEnd::Finished);
    assert_eq!(wait_ended(&stream_b, "B's end of the stream to end"), StreamEnd::Finished);
    wait_for("both nodes to forget the stream", || {
        a.query(|n| n.stream_count()).unwrap() == 0 && b.query(|n| n.stream_count()).unwrap() == 0
    });
    a.shutdown();
    b.shutdown();
}

#[test]
fn five_mib_with_half_close_and_a_checksum_back_stream_links() {
    transfer(LinkMode::Stream, "m-streams-tcp");
}

#[test]
fn five_mib_with_half_close_and_a_checksum_back_datagram_links() {
    transfer(LinkMode::Datagram, "m-streams-udp");
}

#[test]
fn a_reset_is_connection_reset_on_the_other_side() {
    let (a, b) = pair("m-streams-reset", LinkMode::Stream, |b| b);
    let s = a.open_stream(b.id()).unwrap();
    (&s).write_all(b"before the reset").unwrap();
    let accepted = b.accept_stream_timeout(DEADLINE).unwrap().expect("a stream to accept");
    let got = within("the first bytes", move || {
        let mut buf = [0u8; 16];
        (&accepted).read_exact(&mut buf).map(|()| (buf, accepted))
    });
    let (buf, accepted) = got.unwrap();
    assert_eq!(&buf, b"before the reset");

    s.reset();
    // The resetting side itself may no longer write.
    wait_for("the reset to be carried out", || s.ended().is_some());
    assert!((&s).write(b"x").is_err());

    let (err, accepted) = within("the reset to arrive", move || {
        let mut buf = [0u8; 8];
        ((&accepted).read(&mut buf), accepted)
    });
    let err = err.expect_err("a read after a reset fails");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert_eq!(accepted.ended(), Some(StreamEnd::Reset));
    let err = (&accepted).write(b"x").expect_err("a write after a reset fails");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    a.shutdown();
    b.shutdown();
}

#[test]
fn opening_a_stream_to_an_unknown_node_is_a_typed_error() {
    init_tracing();
    let a = builder("m-streams-unknown", "a", LinkMode::Stream).start().unwrap();
    let err = a.open_stream(NodeId([7; 16])).unwrap_err();
    assert!(matches!(err, Error::Stream(StreamError::Unreachable)), "{err:?}");
    let err = a.open_stream(a.id()).unwrap_err();
    assert!(matches!(err, Error::Stream(StreamError::Unreachable)), "{err:?}");
    a.shutdown();
    assert!(matches!(a.open_stream(NodeId([7; 16])), Err(Error::Stopped)));
}

#[test]
fn accepting_times_out_then_stops_with_the_node() {
    init_tracing();
    let a = builder("m-streams-stop", "a", LinkMode::Stream).start().unwrap();
    assert!(a.accept_stream_timeout(Duration::from_millis(50)).unwrap().is_none());
    let h = a.clone();
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(());
        h.accept_stream()
    });
    rx.recv_timeout(DEADLINE).unwrap();
    a.shutdown();
    let r = within("the waiting accept to return", move || waiter.join().unwrap());
    assert!(matches!(r, Err(Error::Stopped)), "{r:?}");
    assert!(matches!(a.accept_stream_timeout(DEADLINE), Err(Error::Stopped)));
}

#[test]
fn streams_beyond_the_accept_queue_are_reset_and_streams_end_when_the_node_stops() {
    let (a, b) = pair("m-streams-queue", LinkMode::Stream, |b| b.accept_queue(1));
    let first = a.open_stream(b.id()).unwrap();
    let second = a.open_stream(b.id()).unwrap();
    // The queue holds one: the other stream is refused with a reset.
    let (err, first, second) = within("the second stream's reset", move || {
        let mut buf = [0u8; 1];
        ((&second).read(&mut buf), first, second)
    });
    let err = err.expect_err("the refused stream is reset");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    let queued = b.accept_stream_timeout(DEADLINE).unwrap().expect("the queued stream");
    assert_eq!(queued.peer(), a.id());
    drop(second);

    // B stops: its streams end on its side, and A's end learns of it.
    b.shutdown();
    let mut buf = [0u8; 1];
    let err = (&queued).read(&mut buf).expect_err("the node stopped");
    assert_eq!(err.kind(), ErrorKind::ConnectionAborted, "{err}");
    assert_eq!(queued.ended(), Some(StreamEnd::Failed(netcluster_mio::FailReason::Shutdown)));
    let r = within("A's stream to end", move || {
        let mut buf = [0u8; 1];
        (&first).read(&mut buf)
    });
    assert!(r.is_err(), "{r:?}");
    a.shutdown();
}

#[test]
fn reads_and_writes_time_out_when_asked_and_go_on_after() {
    let (a, b) = pair("m-streams-timeout", LinkMode::Stream, |b| b);
    let s = a.open_stream(b.id()).unwrap();
    let peer_end = b.accept_stream_timeout(DEADLINE).unwrap().expect("a stream to accept");
    assert_eq!(
        s.set_read_timeout(Some(Duration::ZERO)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(s.read_timeout(), None);

    let wait = Duration::from_millis(100);
    s.set_read_timeout(Some(wait)).unwrap();
    let started = Instant::now();
    let err = (&s).read(&mut [0u8; 8]).expect_err("nothing to read yet");
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(started.elapsed() >= wait);

    // The peer does not read: the writer fills every buffer on the way,
    // then times out instead of blocking.
    s.set_write_timeout(Some(Duration::from_millis(300))).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0usize;
    let err = loop {
        match (&s).write(&chunk) {
            Ok(n) => written += n,
            Err(e) => break e,
        }
        assert!(written < 256 << 20, "the writer never met backpressure");
    };
    assert_eq!(err.kind(), ErrorKind::TimedOut, "{err}");
    assert!(written >= chunk.len(), "buffers took something first");

    // Once the peer reads, writing goes on.
    let reader = std::thread::spawn(move || read_all_small(&peer_end).map(|v| v.len()));
    s.set_write_timeout(None).unwrap();
    let total = within("the rest to be written", move || {
        (&s).write_all(&chunk).unwrap();
        s.finish().unwrap();
        written + chunk.len()
    });
    let got = within("the reader", move || reader.join().unwrap()).unwrap();
    assert_eq!(got, total);
    a.shutdown();
    b.shutdown();
}

/// The caller's loop: turns the nodes in one poll until `done` or the
/// deadline, keeping their events.
struct OwnLoop {
    poll: mio::Poll,
    seen: Vec<(usize, Event)>,
}

impl OwnLoop {
    fn until(
        &mut self,
        nodes: &mut [&mut MioNode],
        what: &str,
        mut done: impl FnMut(&mut [&mut MioNode]) -> bool,
    ) {
        let mut events = mio::Events::with_capacity(64);
        let end = Instant::now() + DEADLINE;
        while !done(nodes) {
            assert!(Instant::now() < end, "timed out waiting for {what}");
            let timeout = nodes
                .iter()
                .filter_map(|n| n.poll_timeout())
                .min()
                .unwrap_or(Duration::from_millis(100))
                .min(Duration::from_millis(100));
            self.poll.poll(&mut events, Some(timeout)).unwrap();
            for e in events.iter() {
                for n in nodes.iter_mut() {
                    n.handle_event(e);
                }
            }
            for (i, n) in nodes.iter_mut().enumerate() {
                n.handle_deadline();
                while let Some(e) = n.poll_event() {
                    self.seen.push((i, e));
                }
            }
        }
    }
}

#[test]
fn streams_on_the_building_block_in_a_callers_poll() {
    init_tracing();
    let poll = mio::Poll::new().unwrap();
    let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
    let b1 = builder("m-streams-own", "a", LinkMode::Stream);
    let mut a = b1.build(poll.registry(), 1..1 + MIN_TOKENS + 4).unwrap();
    let b2 = builder("m-streams-own", "b", LinkMode::Stream).seed(a.link_addr());
    let mut b = b2.build(poll.registry(), 100..100 + MIN_TOKENS + 4).unwrap();
    let mut lp = OwnLoop { poll, seen: Vec::new() };
    // One waker serves both nodes: a wake-up turns the whole loop.
    a.set_stream_waker(waker.clone());
    b.set_stream_waker(waker);
    let (ida, idb) = (a.id(), b.id());
    lp.until(&mut [&mut a, &mut b], "discovery", |n| {
        n[0].peers().any(|p| p.id == idb) && n[1].peers().any(|p| p.id == ida)
    });

    let sa = a.open_stream(idb).unwrap();
    let id_a = sa.id();
    let data = pattern(1024 * 1024);
    let sent = data.clone();
    // The I/O blocks until the loop moves the bytes: helper threads.
    let writer = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        (&sa).write_all(&sent)?;
        sa.finish()?;
        read_all_small(&sa)
    });
    let mut sb = None;
    lp.until(&mut [&mut a, &mut b], "the stream to arrive", |n| {
        sb = n[1].accept_stream();
        sb.is_some()
    });
    let sb = sb.unwrap();
    assert_eq!(sb.peer(), ida);
    let id_b = sb.id();
    let reader = std::thread::spawn(move || -> std::io::Result<usize> {
        let got = read_all_small(&sb)?;
        (&sb).write_all(&checksum(&got).to_be_bytes())?;
        // Dropping finishes after the answer.
        Ok(got.len())
    });
    lp.until(&mut [&mut a, &mut b], "the exchange", |_| {
        writer.is_finished() && reader.is_finished()
    });
    assert_eq!(reader.join().unwrap().unwrap(), data.len());
    let answer = writer.join().unwrap().unwrap();
    assert_eq!(answer, checksum(&data).to_be_bytes());
    lp.until(&mut [&mut a, &mut b], "both nodes to forget the stream", |n| {
        n[0].node().stream_count() == 0 && n[1].node().stream_count() == 0
    });
    // The caller hears of the stream's opening and end, not of its
    // readiness (the bridge's business), and lost no event.
    let seen = &lp.seen;
    assert!(seen.iter().any(|(i, e)| *i == 1
        && matches!(e, Event::StreamOpened { stream, peer } if *stream == id_b && *peer == ida)));
    for (node, id) in [(0, id_a), (1, id_b)] {
        assert!(seen.iter().any(|(i, e)| *i == node
            && matches!(e, Event::StreamClosed { stream, reason: StreamEnd::Finished }
                if *stream == id)));
    }
    assert!(!seen
        .iter()
        .any(|(_, e)| matches!(e, Event::StreamReadable { .. } | Event::StreamWritable { .. })));
    assert_eq!(a.queued_events() + b.queued_events(), 0, "every event was polled");
}
