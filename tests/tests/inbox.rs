//! A receiver whose application stops reading: its inbox fills to its
//! bound, senders hold back (zero window), nothing times out, and once it
//! reads again every message arrives exactly once and in order.

use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{Event, SendError};
use netcluster_core::wire::link::Semantics;
use netcluster_sim::Direct;

const INBOX: usize = 64;

/// A line 0 - 1 - 2 with a small inbox at node 2.
fn line() -> Direct {
    let mut net = Direct::with_config(3, |i, cfg| {
        if i == 2 {
            cfg.inbox_messages = INBOX;
        }
    });
    net.connect(0, 1);
    net.connect(1, 2);
    net.advance(Duration::from_secs(2));
    let c = net.nodes[2].id();
    assert_eq!(net.nodes[0].peer(&c).map(|p| p.hops), Some(2), "line up");
    net
}

/// Payloads node `i` received, in order, from its recorded events.
fn received(net: &Direct, i: usize) -> Vec<u64> {
    net.events[i]
        .iter()
        .filter_map(|e| match e {
            Event::Message { payload, .. } => {
                Some(u64::from_be_bytes(payload[..8].try_into().unwrap()))
            }
            _ => None,
        })
        .collect()
}

fn failures(net: &Direct, i: usize) -> usize {
    net.events[i].iter().filter(|e| matches!(e, Event::SendFailed { .. })).count()
}

/// Sends numbered messages from 0 to 2 for `d` of virtual time, as fast as
/// the window allows; returns (next number, WouldBlock count).
fn push(net: &mut Direct, semantics: Semantics, mut next: u64, d: Duration) -> (u64, u64) {
    let to = net.nodes[2].id();
    let mut blocked = 0;
    let end = net.now() + d;
    while net.now() < end {
        loop {
            let now = net.now();
            let payload = Bytes::copy_from_slice(&next.to_be_bytes());
            match net.nodes[0].send(now, to, semantics, payload) {
                Ok(_) => next += 1,
                Err(SendError::WouldBlock) => {
                    blocked += 1;
                    break;
                }
                Err(e) => panic!("send: {e}"),
            }
            if semantics == Semantics::Datagram && next.is_multiple_of(32) {
                break;
            }
        }
        net.pump();
        net.advance(Duration::from_millis(10));
    }
    (next, blocked)
}

#[test]
fn stopped_reader_holds_senders_back_and_loses_nothing() {
    for semantics in [Semantics::Sequenced, Semantics::Reliable] {
        let mut net = line();
        net.set_reading(2, false);
        // 40 s: longer than the delivery timeout (30 s), which the zero
        // window must keep from firing.
        let (sent, blocked) = push(&mut net, semantics, 0, Duration::from_secs(40));
        assert!(blocked > 0, "{semantics:?}: the sender saw WouldBlock");
        assert!(net.nodes[2].inbox_len() <= INBOX, "inbox within its bound");
        assert_eq!(net.nodes[2].inbox_len(), INBOX, "the inbox filled");
        assert!(net.nodes[2].stats().inbox_refused > 0, "refusals are counted");
        assert!(received(&net, 2).is_empty());
        // The sender held back: a stopped reader costs a window, not an
        // unbounded queue.
        assert!(net.nodes[0].in_flight() <= net.nodes[0].config().send_window);
        // Keepalives flowed: every node still sees every other.
        for i in 0..3 {
            assert_eq!(net.nodes[i].peers().count(), 2, "{semantics:?}: node {i} lost a peer");
        }
        net.set_reading(2, true);
        let (sent, _) = push(&mut net, semantics, sent, Duration::from_secs(2));
        net.advance(Duration::from_secs(5));
        assert_eq!(failures(&net, 0), 0, "{semantics:?}: no message failed");
        let got = received(&net, 2);
        let want: Vec<u64> = (0..sent).collect();
        if semantics == Semantics::Reliable {
            let mut sorted = got.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, want, "{semantics:?}: every message exactly once");
        } else {
            assert_eq!(got.len(), want.len(), "{semantics:?}: count");
            assert!(got == want, "{semantics:?}: exactly once and in order");
        }
        assert_eq!(net.nodes[0].in_flight(), 0);
    }
}

#[test]
fn datagrams_for_a_stopped_reader_are_dropped_and_counted() {
    let mut net = line();
    net.set_reading(2, false);
    let (sent, _) = push(&mut net, Semantics::Datagram, 0, Duration::from_secs(1));
    assert!(sent > INBOX as u64 * 2);
    let dropped = net.nodes[2].stats().inbox_dropped;
    assert_eq!(net.nodes[2].inbox_len(), INBOX);
    assert_eq!(dropped, sent - INBOX as u64, "every datagram past the bound counted");
    net.set_reading(2, true);
    assert_eq!(received(&net, 2), (0..INBOX as u64).collect::<Vec<_>>());
}
