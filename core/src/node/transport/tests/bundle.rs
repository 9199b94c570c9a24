//! Bundles: many small messages in one DATA frame on the first
//! transmission, each one its own message everywhere else.

use super::*;
use crate::wire::link::{BundleIter, Data, FLAG_BUNDLE, FLAG_SYN};

impl Side {
    fn send_many(&mut self, now: Instant, to: u8, s: Semantics, payloads: &[Vec<u8>]) -> Vec<u64> {
        let p: Vec<Bytes> = payloads.iter().map(|p| Bytes::copy_from_slice(p)).collect();
        let mut ids = Vec::new();
        let (refused, _) = self.run(|t, m| t.send_many(m, now, id(to), s.into(), p, &mut ids));
        assert_eq!(refused, None);
        ids.into_iter().map(|m| m.0).collect()
    }
}

fn data_of(raw: &Bytes) -> Data {
    match Frame::parse(raw).expect("parses").message {
        Message::Link(LinkMessage::Data(d)) => d,
        other => panic!("not DATA: {other:?}"),
    }
}

fn small(n: usize) -> Vec<Vec<u8>> {
    (0..n as u32).map(|i| i.to_be_bytes().to_vec()).collect()
}

fn delivered(a: &mut Side) -> Vec<u64> {
    a.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered { id, .. } => Some(id.0),
            _ => None,
        })
        .collect()
}

#[test]
fn small_messages_leave_in_one_frame_and_each_is_delivered_and_reported() {
    let (mut a, mut b) = pair(cfg());
    let n = a.cfg.send_window;
    let sent = small(n);
    let ids = a.send_many(at(0), 2, Semantics::Sequenced, &sent);
    assert_eq!(a.t.in_flight(), n, "each message is in flight on its own");
    let frames = a.frames();
    assert_eq!(frames.len(), 1, "one frame for a window of small messages");
    let d = data_of(&frames[0].1);
    assert_eq!((d.flags & FLAG_BUNDLE, usize::from(d.frag_count), d.seq), (FLAG_BUNDLE, n, 0));
    b.receive(at(1), frames[0].1.clone());
    assert_eq!(b.messages(), sent);
    assert_eq!(carry(at(2), &mut b, &mut a), 1, "one ACK for the bundle");
    assert_eq!(delivered(&mut a), ids);
    assert_eq!(a.t.in_flight(), 0);
}

#[test]
fn a_bundle_is_cut_at_the_fragment_size_and_large_messages_go_alone() {
    // More than a first congestion window, all at once.
    let mut c = cfg();
    c.congestion_control = false;
    let (mut a, mut b) = pair(c);
    let big = alloc::vec![7u8; a.cfg.fragment_size + 10];
    let mut sent = small(3);
    sent.push(big);
    sent.extend(small(2));
    // Enough 1 KiB messages to need two bundles.
    let per = a.cfg.fragment_size / 1026;
    sent.extend((0..per + 5).map(|i| alloc::vec![i as u8; 1024]));
    a.send_many(at(0), 2, Semantics::Reliable, &sent);
    let frames = a.frames();
    let kinds: Vec<(bool, u16)> = frames
        .iter()
        .map(|(_, f)| {
            let d = data_of(f);
            assert!(f.len() <= a.cfg.fragment_size + 1024, "a frame stays within a fragment");
            (d.flags & FLAG_BUNDLE != 0, d.frag_count)
        })
        .collect();
    // 3 small, the large one in 2 fragments, then the 2 small ones with the
    // first bundle of 1 KiB messages, then the rest.
    assert_eq!(kinds[0], (true, 3));
    assert_eq!(&kinds[1..3], &[(false, 2), (false, 2)]);
    assert_eq!(kinds.len(), 5);
    let counts: u16 = kinds[3..].iter().map(|k| k.1).sum();
    assert_eq!(usize::from(counts), 2 + per + 5);
    b.receive_all(at(1), frames.into_iter().map(|(_, f)| f).collect());
    assert_eq!(b.messages(), sent);
}

#[test]
fn a_lost_bundle_is_resent_message_by_message_and_arrives_exactly_once() {
    let (mut a, mut b) = pair(cfg());
    let sent = small(20);
    a.send_many(at(0), 2, Semantics::Sequenced, &sent);
    let lost = a.frames();
    assert_eq!(lost.len(), 1, "the bundle is lost");
    let due = a.retransmit_due();
    a.run(|t, m| t.on_retransmit_timer(m, due));
    let again = a.frames();
    assert_eq!(again.len(), 20, "each message again, alone");
    assert!(again.iter().all(|(_, f)| data_of(f).flags & FLAG_BUNDLE == 0));
    // The original turns up late, after half of the copies.
    let (first, rest) = again.split_at(10);
    b.receive_all(due, first.iter().map(|(_, f)| f.clone()).collect());
    b.receive(due, lost[0].1.clone());
    b.receive_all(due, rest.iter().map(|(_, f)| f.clone()).collect());
    assert_eq!(b.messages(), sent, "in order, each once");
    carry(due, &mut b, &mut a);
    assert_eq!(delivered(&mut a).len(), 20);
}

#[test]
fn after_a_failure_the_next_bundle_carries_syn_for_its_first_message() {
    let mut c = cfg();
    c.delivery_timeout = Duration::from_millis(100);
    let (mut a, mut b) = pair(c);
    a.send_many(at(0), 2, Semantics::Sequenced, &small(5));
    a.frames();
    // Never acknowledged: the window fails, the sequence restarts.
    let mut now = at(0);
    while a.t.in_flight() > 0 {
        now = a.retransmit_due();
        a.run(|t, m| t.on_retransmit_timer(m, now));
        a.frames();
    }
    let sent = small(4);
    a.send_many(now, 2, Semantics::Sequenced, &sent);
    let frames = a.frames();
    assert_eq!(frames.len(), 1);
    let d = data_of(&frames[0].1);
    assert_eq!(d.flags, FLAG_BUNDLE | FLAG_SYN);
    assert_eq!(d.seq, 5);
    b.receive(now, frames[0].1.clone());
    assert_eq!(b.messages(), sent, "the receiver skips the gap and takes them all");
}

#[test]
fn bundles_on_a_datagram_link_fit_one_datagram() {
    let mut c = cfg();
    c.link_mode = LinkMode::Datagram;
    let (mut a, mut b) = pair(c);
    let sent = small(1000);
    a.send_many(at(0), 2, Semantics::Datagram, &sent);
    let frames = a.frames();
    assert!(frames.len() > 1 && frames.len() < 20, "{} frames", frames.len());
    for (_, f) in &frames {
        let d = data_of(f);
        assert!(d.payload.len() <= 1100);
        assert_eq!(BundleIter::new(d.payload.clone()).count(), usize::from(d.frag_count));
    }
    b.receive_all(at(1), frames.into_iter().map(|(_, f)| f).collect());
    assert_eq!(b.messages(), sent);
}

#[test]
fn the_window_refuses_the_rest_of_a_batch() {
    let mut c = cfg();
    c.send_window = 10;
    let (mut a, _b) = pair(c);
    let p: Vec<Bytes> = small(15).into_iter().map(Bytes::from).collect();
    let mut ids = Vec::new();
    let (refused, bytes) =
        a.run(|t, m| t.send_many(m, at(0), id(2), Semantics::Reliable.into(), p, &mut ids));
    assert_eq!((ids.len(), refused, bytes), (10, Some(SendError::WouldBlock), 40));
    let frames = a.frames();
    assert_eq!(frames.len(), 1);
    assert_eq!(data_of(&frames[0].1).frag_count, 10, "what was accepted left");
}

/// Offers `n` messages of `size` bytes in one `send_many` call; returns how
/// many were accepted and the refusal.
fn offer(a: &mut Side, n: usize, size: usize) -> (usize, Option<SendError>) {
    let p: Vec<Bytes> = (0..n).map(|_| Bytes::from(alloc::vec![1u8; size])).collect();
    let mut ids = Vec::new();
    let (refused, _) =
        a.run(|t, m| t.send_many(m, at(0), id(2), Semantics::Sequenced.into(), p, &mut ids));
    (ids.len(), refused)
}

#[test]
fn one_call_admits_exactly_what_one_message_at_a_time_would() {
    // The call keeps its own account of the windows instead of asking the
    // node per message: it must stop where message-by-message sends stop,
    // whichever limit binds first.
    let limits: [(usize, usize, bool); 4] = [
        (37, 1 << 30, false),     // the message window
        (1 << 20, 5_000, false),  // the byte window
        (1 << 20, 1 << 30, true), // the initial congestion window
        (50, 20_000, true),
    ];
    for (window, bytes, cc) in limits {
        for size in [8, 700, 3_000] {
            let mut c = cfg();
            (c.send_window, c.send_window_bytes, c.congestion_control) = (window, bytes, cc);
            c.link_queue_bytes = usize::MAX / 2; // not the limit here
            let (mut whole, _) = pair(c.clone());
            let (mut single, _) = pair(c);
            let (n, refused) = offer(&mut whole, 50_000, size);
            let mut m = 0;
            while offer(&mut single, 1, size).0 == 1 {
                m += 1;
            }
            assert_eq!(
                (n, refused),
                (m, Some(SendError::WouldBlock)),
                "{window} {bytes} {cc} {size}"
            );
            assert_eq!(whole.t.in_flight(), single.t.in_flight());
        }
    }
}

#[test]
fn one_call_stops_when_the_link_queue_is_full_and_is_told_when_it_drains() {
    let mut c = cfg();
    c.congestion_control = false;
    c.link_queue_bytes = 3 * c.fragment_size;
    let (mut a, _b) = pair(c);
    let (n, refused) = offer(&mut a, 100_000, 1000);
    assert_eq!(refused, Some(SendError::WouldBlock));
    assert!(n > 0 && n < 100_000);
    let need = a.cfg.fragment_size;
    let full = a.run(|t, m| {
        !t.has_room(m, id(2), crate::node::transport::channel_of(Semantics::Sequenced), 4)
    });
    assert!(full, "refused only when the node would refuse too");
    // What was queued stays within the bound, plus the fragment admitted
    // last.
    let queued: usize = a.frames().iter().map(|(_, f)| f.len()).sum();
    assert!(queued <= a.cfg.link_queue_bytes + need + 64, "{queued}");
}

/// The ACKs `b` has queued: (cumulative, window) of each.
fn acks(b: &mut Side) -> Vec<(u64, u32)> {
    b.frames()
        .into_iter()
        .filter_map(|(_, f)| match Frame::parse(&f).ok()?.message {
            Message::Link(LinkMessage::Ack(a)) => Some((a.cumulative, a.window)),
            _ => None,
        })
        .collect()
}

#[test]
fn bundles_in_order_out_of_order_and_into_a_filling_inbox_deliver_exactly() {
    let mut c = cfg();
    c.inbox_messages = 100;
    let (mut a, mut b) = pair(c);
    // Four bundles of 30 messages, numbered across all of them.
    let all: Vec<Vec<u8>> = small(120);
    let bundles: Vec<Bytes> = all
        .chunks(30)
        .map(|chunk| {
            a.send_many(at(0), 2, Semantics::Sequenced, chunk);
            let f = a.frames();
            assert_eq!(f.len(), 1);
            f[0].1.clone()
        })
        .collect();
    // In order: the second bundle takes the one-step path (the channel
    // exists), each with one ACK offering what the inbox has left.
    b.receive(at(1), bundles[0].clone());
    b.receive(at(1), bundles[1].clone());
    assert_eq!(acks(&mut b), [(30, 70), (60, 40)]);
    assert_eq!(b.messages(), &all[..60]);
    // The fourth before the third: held, then released in order.
    b.receive(at(2), bundles[3].clone());
    assert_eq!(acks(&mut b), [(60, 100)]);
    b.receive(at(2), bundles[2].clone());
    assert_eq!(acks(&mut b), [(120, 40)]);
    // A bundle the inbox cannot hold whole: it takes what fits and refuses
    // the rest with a zero window (the sender resends it when it reopens).
    a.send_many(at(3), 2, Semantics::Sequenced, &small(90));
    let f = a.frames();
    b.receive(at(3), f[0].1.clone());
    assert_eq!(acks(&mut b).last(), Some(&(160, 0)), "40 taken, the rest refused");
    let got = b.messages();
    assert_eq!(got.len(), 100, "the inbox bound held");
    assert_eq!(&got[..60], &all[60..]);
    assert_eq!(&got[60..], &small(40)[..]);
}
