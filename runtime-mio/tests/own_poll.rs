//! The building block: two nodes registered in one caller-owned
//! `mio::Poll`, driven by the caller's loop on the test thread. Loopback
//! only; every wait is bounded.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token};
use netcluster_mio::{
    BeaconMode, Builder, DownReason, Error, Event, LinkMode, MioNode, Semantics, MIN_TOKENS,
};

const DEADLINE: Duration = Duration::from_secs(20);

fn builder(name: &str, mode: LinkMode) -> Builder {
    Builder::new("m-own-poll", name)
        .bind_ip(Ipv4Addr::LOCALHOST.into())
        .link_port(0)
        .link_mode(mode)
        .beacons(BeaconMode::Off)
}

/// One turn of the caller's loop: poll (no longer than either node asks),
/// dispatch by token, run deadlines, collect events.
fn turn(
    poll: &mut Poll,
    events: &mut Events,
    nodes: &mut [&mut MioNode],
    seen: &mut Vec<(usize, Event)>,
) {
    let timeout = nodes
        .iter()
        .filter_map(|n| n.poll_timeout())
        .min()
        .unwrap_or(Duration::from_millis(100))
        .min(Duration::from_millis(100));
    poll.poll(events, Some(timeout)).unwrap();
    for event in events.iter() {
        let owners: Vec<usize> =
            (0..nodes.len()).filter(|i| nodes[*i].owns(event.token())).collect();
        assert!(owners.len() <= 1, "token {:?} owned twice", event.token());
        for i in owners {
            nodes[i].handle_event(event);
        }
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        n.handle_deadline();
        while let Some(e) = n.poll_event() {
            seen.push((i, e));
        }
    }
}

fn run_until(
    what: &str,
    poll: &mut Poll,
    nodes: &mut [&mut MioNode],
    seen: &mut Vec<(usize, Event)>,
    mut done: impl FnMut(&[&mut MioNode], &[(usize, Event)]) -> bool,
) {
    let mut events = Events::with_capacity(64);
    let end = Instant::now() + DEADLINE;
    while !done(nodes, seen) {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        turn(poll, &mut events, nodes, seen);
    }
}

fn two_nodes_in_one_poll(mode: LinkMode) {
    let mut poll = Poll::new().unwrap();
    let mut a = builder("a", mode).build(poll.registry(), 10..20).unwrap();
    let mut b =
        builder("b", mode).seed(a.link_addr()).build(poll.registry(), 20..20 + MIN_TOKENS).unwrap();
    assert!(a.owns(Token(10)) && a.owns(Token(19)) && !a.owns(Token(20)));
    assert_eq!(b.tokens(), 20..20 + MIN_TOKENS);
    let (ida, idb) = (a.id(), b.id());
    let mut seen = Vec::new();

    run_until("discovery", &mut poll, &mut [&mut a, &mut b], &mut seen, |n, _| {
        n[0].peers().any(|p| p.id == idb) && n[1].peers().any(|p| p.id == ida)
    });

    seen.clear();
    let msg = a.send(idb, Semantics::Sequenced, &b"through my own poll"[..]).unwrap();
    run_until("the message and its report", &mut poll, &mut [&mut a, &mut b], &mut seen, |_, s| {
        let got = s.iter().any(|(i, e)| {
            *i == 1
                && matches!(e, Event::Message { from, payload, .. }
                    if *from == ida && &payload[..] == b"through my own poll")
        });
        let acked = s.iter().any(|(i, e)| {
            *i == 0 && matches!(e, Event::Delivered { id, to } if *id == msg && *to == idb)
        });
        got && acked
    });

    // b leaves; the caller keeps turning until it has stopped.
    seen.clear();
    b.shutdown();
    run_until(
        "b to stop and a to see it leave",
        &mut poll,
        &mut [&mut a, &mut b],
        &mut seen,
        |n, s| {
            n[1].is_stopped()
            && s.iter().any(|(i, e)| {
                *i == 0
                    && matches!(e, Event::PeerDown { id, reason: DownReason::Left, .. } if *id == idb)
            })
        },
    );
    assert_eq!(a.queued_events(), 0, "every event was polled");
    drop(b);
    a.shutdown();
    run_until("a to stop", &mut poll, &mut [&mut a], &mut seen, |n, _| n[0].is_stopped());
    // A stopped node asks for no more wake-ups.
    assert_eq!(a.poll_timeout(), None);
}

#[test]
fn two_nodes_in_one_poll_stream_links() {
    two_nodes_in_one_poll(LinkMode::Stream);
}

#[test]
fn two_nodes_in_one_poll_datagram_links() {
    two_nodes_in_one_poll(LinkMode::Datagram);
}

#[test]
fn a_token_range_too_small_is_refused() {
    let poll = Poll::new().unwrap();
    let err = builder("a", LinkMode::Stream).build(poll.registry(), 0..MIN_TOKENS - 1).unwrap_err();
    assert!(matches!(err, Error::Tokens { len } if len == MIN_TOKENS - 1), "{err}");
    #[allow(clippy::reversed_empty_ranges)]
    let err = builder("a", LinkMode::Stream).build(poll.registry(), 9..3).unwrap_err();
    assert!(matches!(err, Error::Tokens { len: 0 }), "{err}");
}

#[test]
fn links_beyond_the_token_range_are_refused_not_fatal() {
    // b and c both connect to a, which has tokens for one link only: one of
    // them is refused, and a keeps working with the other.
    let mut poll = Poll::new().unwrap();
    let mut a = builder("a", LinkMode::Stream).build(poll.registry(), 0..MIN_TOKENS).unwrap();
    let seed = a.link_addr();
    let mut b = builder("b", LinkMode::Stream).seed(seed).build(poll.registry(), 100..200).unwrap();
    let mut c = builder("c", LinkMode::Stream).seed(seed).build(poll.registry(), 200..300).unwrap();
    let mut seen = Vec::new();
    run_until("a to have a peer", &mut poll, &mut [&mut a, &mut b, &mut c], &mut seen, |n, _| {
        n[0].peers().count() >= 1
    });
    // Some more turns: a must neither panic nor exceed its range.
    let end = Instant::now() + Duration::from_millis(500);
    let mut events = Events::with_capacity(64);
    while Instant::now() < end {
        turn(&mut poll, &mut events, &mut [&mut a, &mut b, &mut c], &mut seen);
    }
    assert!(a.node().neighbours().count() <= 1);
}

#[test]
fn a_read_cap_of_one_still_delivers_everything_in_order() {
    // With one read per source per turn, a burst larger than one read leaves
    // work pending: the node must ask for a zero timeout and resume it, not
    // stall. The messages are large so that bundling cannot fit the burst
    // into a single read.
    let mut poll = Poll::new().unwrap();
    let mut a =
        builder("a", LinkMode::Stream).max_reads_per_wake(1).build(poll.registry(), 0..50).unwrap();
    let mut b = builder("b", LinkMode::Stream)
        .max_reads_per_wake(1)
        .seed(a.link_addr())
        .build(poll.registry(), 50..100)
        .unwrap();
    let (ida, idb) = (a.id(), b.id());
    let mut seen = Vec::new();
    run_until("discovery", &mut poll, &mut [&mut a, &mut b], &mut seen, |n, _| {
        n[0].peers().any(|p| p.id == idb) && n[1].peers().any(|p| p.id == ida)
    });
    seen.clear();
    const N: u32 = 300;
    let mut sent = 0u32;
    let mut resumed = false;
    let mut events = Events::with_capacity(64);
    let end = Instant::now() + DEADLINE;
    let received = |s: &[(usize, Event)]| -> Vec<u32> {
        s.iter()
            .filter_map(|(i, e)| match e {
                Event::Message { payload, .. } if *i == 1 => {
                    Some(u32::from_be_bytes(payload[..4].try_into().unwrap()))
                }
                _ => None,
            })
            .collect()
    };
    while received(&seen).len() < N as usize {
        assert!(Instant::now() < end, "only {} of {N} arrived", received(&seen).len());
        while sent < N {
            let mut payload = vec![0u8; 4096];
            payload[..4].copy_from_slice(&sent.to_be_bytes());
            match a.send(idb, Semantics::Sequenced, payload) {
                Ok(_) => sent += 1,
                Err(netcluster_mio::SendError::WouldBlock) => break,
                Err(e) => panic!("send {sent}: {e}"),
            }
        }
        resumed |= b.poll_timeout() == Some(Duration::ZERO);
        turn(&mut poll, &mut events, &mut [&mut a, &mut b], &mut seen);
    }
    assert_eq!(received(&seen), (0..N).collect::<Vec<_>>());
    assert!(resumed, "the cap never left work pending");
}
