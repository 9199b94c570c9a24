//! Per-message delivery timeout and retransmission limit
//! (`SendOptions::timeout`, `SendOptions::max_retransmissions`).

use super::*;
use crate::node::FailReason;
use core::time::Duration;

/// Runs the retransmission timer on `a`, losing every transmission, until
/// nothing is in flight or `horizon` times the default delivery timeout
/// passes; returns the time of the last run
/// and the failures reported with their time.
fn lose_everything(a: &mut Side, horizon: u32) -> (Instant, Vec<(Instant, FailReason)>) {
    let end = at(0) + a.cfg.delivery_timeout * horizon;
    let mut now = at(0);
    let mut failed = Vec::new();
    a.frames();
    while a.t.in_flight() > 0 && now <= end {
        now = a.retransmit_due().max(now);
        a.run(|t, m| t.on_retransmit_timer(m, now));
        a.frames();
        for e in a.events() {
            if let Event::SendFailed { reason, .. } = e {
                failed.push((now, reason));
            }
        }
    }
    (now, failed)
}

#[test]
fn a_message_with_a_short_timeout_fails_at_it_not_at_the_default() {
    let (mut a, _b) = pair(cfg());
    let timeout = Duration::from_millis(700);
    assert!(timeout < a.cfg.delivery_timeout);
    let opts = SendOptions::new(Semantics::Reliable).timeout(timeout);
    let p = Bytes::from_static(b"brief");
    a.run(|t, m| t.send(m, at(0), id(2), opts, p)).unwrap();
    let (_, failed) = lose_everything(&mut a, 1);
    assert_eq!(failed, [(at(0) + timeout, FailReason::Timeout)]);
    assert_eq!(a.t.in_flight(), 0);
}

#[test]
fn a_message_with_max_retransmissions_fails_after_exactly_that_many() {
    let (mut a, _b) = pair(cfg());
    let opts = SendOptions::new(Semantics::Sequenced).max_retransmissions(2);
    let p = Bytes::from_static(b"twice");
    a.run(|t, m| t.send(m, at(0), id(2), opts, p)).unwrap();
    let (when, failed) = lose_everything(&mut a, 1);
    assert_eq!(a.out.stats.retransmissions, 2, "two retransmissions, no third");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].1, FailReason::Timeout);
    // It failed when the third would have been due: the first rto, then
    // twice it, then four times it.
    assert_eq!(when, at(0) + a.cfg.rto_initial * 7);
    assert!(when < at(0) + a.cfg.delivery_timeout);
    // The sequence restarts: the next message is sent and kept.
    a.send(when, 2, Semantics::Sequenced, b"next").unwrap();
    assert_eq!(a.t.in_flight(), 1);
}

#[test]
fn zero_retransmissions_fails_at_the_first_timeout() {
    let (mut a, _b) = pair(cfg());
    let opts = SendOptions::new(Semantics::Reliable).max_retransmissions(0);
    a.run(|t, m| t.send(m, at(0), id(2), opts, Bytes::from_static(b"once"))).unwrap();
    let (when, failed) = lose_everything(&mut a, 1);
    assert_eq!(a.out.stats.retransmissions, 0);
    assert_eq!(failed, [(at(0) + a.cfg.rto_initial, FailReason::Timeout)]);
    assert_eq!(when, at(0) + a.cfg.rto_initial);
}

#[test]
fn a_limited_message_that_is_acknowledged_is_delivered() {
    let (mut a, mut b) = pair(cfg());
    let opts = SendOptions::new(Semantics::Reliable)
        .max_retransmissions(1)
        .timeout(Duration::from_secs(2));
    a.run(|t, m| t.send(m, at(0), id(2), opts, Bytes::from_static(b"ok"))).unwrap();
    // The first copy is lost, the one retransmission arrives.
    a.frames();
    let due = a.retransmit_due();
    a.run(|t, m| t.on_retransmit_timer(m, due));
    carry(due, &mut a, &mut b);
    assert_eq!(b.messages(), [&b"ok"[..]]);
    carry(due, &mut b, &mut a);
    assert!(a.events().iter().any(|e| matches!(e, Event::Delivered { .. })));
    assert_eq!(a.t.in_flight(), 0);
}

#[test]
fn the_defaults_are_unchanged_the_config_timeout_and_no_limit() {
    let opts = SendOptions::new(Semantics::Reliable);
    assert_eq!((opts.timeout, opts.max_retransmissions), (None, None));
    assert_eq!(SendOptions::from(Semantics::Reliable), opts);
    let (mut a, _b) = pair(cfg());
    a.send(at(0), 2, Semantics::Reliable, b"default").unwrap();
    let (_, failed) = lose_everything(&mut a, 2);
    assert_eq!(failed, [(at(0) + a.cfg.delivery_timeout, FailReason::Timeout)]);
    assert!(a.out.stats.retransmissions > 2, "retransmitted until the deadline");
}

#[test]
fn a_zero_timeout_is_refused_with_a_typed_error_and_no_state() {
    let (mut a, _b) = pair(cfg());
    let opts = SendOptions::new(Semantics::Reliable).timeout(Duration::ZERO);
    let r = a.run(|t, m| t.send(m, at(0), id(2), opts, Bytes::from_static(b"x")));
    assert_eq!(r, Err(SendError::BadTimeout));
    assert_eq!(alloc::format!("{}", SendError::BadTimeout), "delivery timeout of zero");
    let mut ids = Vec::new();
    let (refused, _) =
        a.run(|t, m| t.send_many(m, at(0), id(2), opts, [Bytes::from_static(b"y")], &mut ids));
    assert_eq!((refused, ids.len()), (Some(SendError::BadTimeout), 0));
    assert_eq!(a.t.in_flight(), 0);
    assert!(a.frames().is_empty());
}

#[test]
fn a_group_message_takes_its_timeout_too() {
    let (mut a, _b) = pair(cfg());
    let timeout = Duration::from_millis(500);
    let opts = SendOptions::new(Semantics::Reliable).timeout(timeout);
    a.run(|t, m| t.shout(m, at(0), "g", &[id(2)], opts, Bytes::from_static(b"all"))).unwrap();
    let (_, failed) = lose_everything(&mut a, 1);
    assert_eq!(failed, [(at(0) + timeout, FailReason::Timeout)]);
}
