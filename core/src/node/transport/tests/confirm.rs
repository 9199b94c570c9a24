//! Unconfirmed sends (`SendOptions::confirm(false)`): delivered and
//! acknowledged like any other, reported only when they fail.

use super::*;
use crate::node::FailReason;

fn unconfirmed(s: Semantics) -> SendOptions {
    SendOptions::new(s).confirm(false)
}

fn reports(a: &mut Side) -> (usize, Vec<FailReason>) {
    let events = a.events();
    let delivered = events.iter().filter(|e| matches!(e, Event::Delivered { .. })).count();
    let failed = events
        .iter()
        .filter_map(|e| match e {
            Event::SendFailed { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    (delivered, failed)
}

#[test]
fn an_unconfirmed_message_is_delivered_and_acknowledged_without_a_report() {
    let (mut a, mut b) = pair(cfg());
    let p = Bytes::from_static(b"quiet");
    a.run(|t, m| t.send(m, at(0), id(2), unconfirmed(Semantics::Reliable), p)).unwrap();
    // A confirmed one beside it is still reported.
    a.send(at(0), 2, Semantics::Reliable, b"loud").unwrap();
    carry(at(1), &mut a, &mut b);
    assert_eq!(b.messages(), [&b"quiet"[..], b"loud"]);
    carry(at(2), &mut b, &mut a);
    assert_eq!(a.t.in_flight(), 0, "both acknowledged");
    assert_eq!(reports(&mut a), (1, Vec::new()), "only the confirmed one is reported");
}

#[test]
fn unconfirmed_messages_sent_many_at_once_are_not_reported_delivered() {
    let (mut a, mut b) = pair(cfg());
    let payloads: Vec<Bytes> = (0..50u8).map(|i| Bytes::from(alloc::vec![i])).collect();
    let mut ids = Vec::new();
    let (refused, _) = a.run(|t, m| {
        t.send_many(m, at(0), id(2), unconfirmed(Semantics::Sequenced), payloads, &mut ids)
    });
    assert_eq!((refused, ids.len()), (None, 50));
    carry(at(1), &mut a, &mut b);
    assert_eq!(b.messages().len(), 50);
    carry(at(2), &mut b, &mut a);
    assert_eq!(a.t.in_flight(), 0);
    assert_eq!(reports(&mut a), (0, Vec::new()));
}

#[test]
fn an_unconfirmed_message_that_fails_is_still_reported() {
    let (mut a, _b) = pair(cfg());
    let p = Bytes::from_static(b"lost");
    a.run(|t, m| t.send(m, at(0), id(2), unconfirmed(Semantics::Reliable), p)).unwrap();
    a.frames(); // every transmission is lost
    let end = at(0) + a.cfg.delivery_timeout;
    let mut now = at(0);
    while a.t.in_flight() > 0 && now <= end {
        now = a.retransmit_due().max(now);
        a.run(|t, m| t.on_retransmit_timer(m, now));
        a.frames();
    }
    assert_eq!(a.t.in_flight(), 0);
    assert_eq!(reports(&mut a), (0, alloc::vec![FailReason::Timeout]));
}
