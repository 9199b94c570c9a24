//! Unit tests of the transport alone: each side is a `Transport` with a
//! hand-made mesh (routes, up links, an output sink), and the test carries
//! frames between the sides itself, dropping or holding them as it likes.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use bytes::Bytes;

use super::super::links::{Link, Phase};
use super::super::output::{Event, FailReason, LinkId, Outputs, Transmit};
use super::super::routing::RouteEntry;
use super::super::timers::Timer;
use super::congestion::{segment, Window};
use super::{Mesh, SendError, SendOptions, Transport};
use crate::config::{Config, LinkMode};
use crate::time::Instant;
use crate::wire::ext::{EXT_CONGESTION, EXT_CONGESTION_ECHO};
use crate::wire::link::{Route, Semantics};
use crate::wire::{Frame, LinkMessage, Message, NodeId};

mod bundle;
mod confirm;
mod overrides;

fn id(n: u8) -> NodeId {
    NodeId([n; 16])
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, n], 7000))
}

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// One node's transport and what the node would lend it.
struct Side {
    t: Transport,
    cfg: Config,
    me: NodeId,
    groups: BTreeSet<String>,
    routes: BTreeMap<NodeId, RouteEntry>,
    links: BTreeMap<LinkId, Link>,
    out: Outputs,
}

impl Side {
    fn new(n: u8, cfg: Config) -> Side {
        let (queue_max, queue_mark) = (cfg.link_queue_bytes, cfg.link_queue_mark);
        Side {
            t: Transport::default(),
            cfg,
            me: id(n),
            groups: BTreeSet::new(),
            routes: BTreeMap::new(),
            links: BTreeMap::new(),
            out: Outputs { queue_max, queue_mark, ..Outputs::default() },
        }
    }

    /// An up link to neighbour `n`, with link id `n`.
    fn link(&mut self, n: u8) {
        let mut l = Link::new(LinkId(u64::from(n)), addr(n), true, Instant::ZERO, LinkMode::Stream);
        l.phase = Phase::Up;
        l.peer = Some(id(n));
        self.links.insert(l.id, l);
    }

    /// A route to `path`'s last node along `path` (this node first).
    fn route(&mut self, path: &[u8]) {
        let path: Vec<NodeId> = path.iter().map(|&n| id(n)).collect();
        let to = path[path.len() - 1];
        let entry = RouteEntry {
            cost: path.len() as u32 - 1,
            hops: path.len() as u32 - 1,
            next_hop: path[1],
            route: Route::path(&path).ok(),
            path,
        };
        self.routes.insert(to, entry);
    }

    fn run<R>(&mut self, f: impl FnOnce(&mut Transport, &mut Mesh<'_>) -> R) -> R {
        let mut m = Mesh {
            cfg: &self.cfg,
            me: self.me,
            groups: &self.groups,
            routes: &self.routes,
            links: &self.links,
            out: &mut self.out,
            shutting_down: false,
        };
        let r = f(&mut self.t, &mut m);
        // What `Node::input` does at the end of every input.
        self.t.flush_acks(&mut m);
        r
    }

    fn send(
        &mut self,
        now: Instant,
        to: u8,
        s: Semantics,
        payload: &[u8],
    ) -> Result<u64, SendError> {
        let p = Bytes::copy_from_slice(payload);
        self.run(|t, m| t.send(m, now, id(to), s.into(), p)).map(|m| m.0)
    }

    /// Every frame queued, control first, with the link it leaves on.
    fn frames(&mut self) -> Vec<(LinkId, Bytes)> {
        let mut v = Vec::new();
        while let Some(t) =
            self.out.transmits.pop_front().or_else(|| self.out.data_transmits.pop_front())
        {
            if let Transmit::Ready { link } = t {
                while let (Some(data), _) = self.out.pull(link) {
                    v.push((link, data));
                }
            }
        }
        v
    }

    /// Hands one received frame to the transport, as the node's dispatch
    /// does.
    fn receive(&mut self, now: Instant, raw: Bytes) {
        self.receive_all(now, alloc::vec![raw]);
    }

    /// Hands frames to the transport as one input (one read of a link):
    /// the ACKs they make due go out once, at the end.
    fn receive_all(&mut self, now: Instant, frames: Vec<Bytes>) {
        self.run(|t, m| {
            for raw in frames {
                let frame = Frame::parse(&raw).expect("a frame the transport made parses");
                let Message::Link(msg) = frame.message else { panic!("not a link frame") };
                let ext = frame.extensions;
                match msg {
                    LinkMessage::Data(d) => t.on_data(m, now, d, raw, ext.has(EXT_CONGESTION)),
                    LinkMessage::Ack(a) => t.on_ack(m, now, a, raw, ext.has(EXT_CONGESTION_ECHO)),
                    LinkMessage::RouteError(e) => {
                        let _ = t.on_route_error(m, now, e, raw);
                    }
                    other => panic!("unexpected {other:?}"),
                }
            }
        });
    }

    fn events(&mut self) -> Vec<Event> {
        let mut v: Vec<Event> = self.out.events.drain(..).collect();
        while let Some(e) = self.run(|t, m| t.pop_inbox(m)) {
            v.push(e);
        }
        v.extend(self.out.events.drain(..));
        v
    }

    fn messages(&mut self) -> Vec<Bytes> {
        self.events()
            .into_iter()
            .filter_map(|e| match e {
                Event::Message { payload, .. } => Some(payload),
                _ => None,
            })
            .collect()
    }

    fn retransmit_due(&self) -> Instant {
        self.out.timers.get(Timer::Retransmit).expect("a retransmission is scheduled")
    }
}

/// Two neighbours, 1 and 2.
fn pair(cfg: Config) -> (Side, Side) {
    let mut a = Side::new(1, cfg.clone());
    let mut b = Side::new(2, cfg);
    a.link(2);
    a.route(&[1, 2]);
    b.link(1);
    b.route(&[2, 1]);
    (a, b)
}

fn cfg() -> Config {
    Config::lan("t", "n")
}

/// Carries every frame `from` has queued to `to`, as one read.
fn carry(now: Instant, from: &mut Side, to: &mut Side) -> usize {
    let frames: Vec<Bytes> = from.frames().into_iter().map(|(_, f)| f).collect();
    let n = frames.len();
    to.receive_all(now, frames);
    n
}

#[test]
fn reliable_messages_arrive_in_order_and_are_reported_delivered() {
    let (mut a, mut b) = pair(cfg());
    let ids: Vec<u64> =
        (0..3u8).map(|i| a.send(at(0), 2, Semantics::Reliable, &[i]).unwrap()).collect();
    assert_eq!(a.t.in_flight(), 3);
    assert_eq!(carry(at(1), &mut a, &mut b), 3);
    assert_eq!(b.messages(), [&[0u8][..], &[1], &[2]]);
    // One ACK for the whole read.
    assert_eq!(carry(at(2), &mut b, &mut a), 1);
    let delivered: Vec<u64> = a
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Delivered { id: m, to } if to == id(2) => Some(m.0),
            _ => None,
        })
        .collect();
    assert_eq!(delivered, ids);
    assert_eq!(a.t.in_flight(), 0);
}

#[test]
fn a_lost_message_is_retransmitted_after_the_rto_and_delivered_once() {
    let (mut a, mut b) = pair(cfg());
    a.send(at(0), 2, Semantics::Reliable, b"x").unwrap();
    assert_eq!(a.frames().len(), 1, "the first transmission is lost");
    let due = a.retransmit_due();
    assert_eq!(due, at(0) + a.cfg.rto_initial);
    a.run(|t, m| t.on_retransmit_timer(m, due));
    assert_eq!(a.out.stats.retransmissions, 1);
    // The copy arrives twice (a late original would look the same).
    let frames = a.frames();
    assert_eq!(frames.len(), 1);
    b.receive(due, frames[0].1.clone());
    b.receive(due, frames[0].1.clone());
    assert_eq!(b.messages(), [&b"x"[..]]);
    carry(due, &mut b, &mut a);
    assert!(a.events().iter().any(|e| matches!(e, Event::Delivered { .. })));
    assert_eq!(a.t.in_flight(), 0);
}

#[test]
fn a_timeout_backs_off_what_is_sent_next_until_a_round_trip_is_measured() {
    let (mut a, mut b) = pair(cfg());
    let rto = a.cfg.rto_initial;
    let t1 = at(0) + rto;
    a.send(at(0), 2, Semantics::Reliable, b"lost").unwrap();
    a.frames();
    a.run(|t, m| t.on_retransmit_timer(m, t1));
    // The copy arrives and is acknowledged: Karn's rule, no sample.
    carry(t1, &mut a, &mut b);
    carry(t1, &mut b, &mut a);
    assert_eq!(a.t.in_flight(), 0);
    assert_eq!(a.out.stats.retransmissions, 1);
    a.send(t1, 2, Semantics::Reliable, b"next").unwrap();
    a.frames();
    // Sent after a timeout with no sample since: it waits twice as long.
    a.run(|t, m| t.on_retransmit_timer(m, t1 + rto));
    assert_eq!(a.out.stats.retransmissions, 1, "not at the undoubled timeout");
    a.run(|t, m| t.on_retransmit_timer(m, t1 + rto * 2));
    assert_eq!(a.out.stats.retransmissions, 2);
    carry(t1 + rto * 3, &mut a, &mut b);
    carry(t1 + rto * 3, &mut b, &mut a);
    // A message acknowledged without a retransmission is a sample: the
    // next one waits the estimate again (2 ms, so the 20 ms minimum).
    a.send(t1 + rto * 4, 2, Semantics::Reliable, b"timed").unwrap();
    carry(t1 + rto * 4 + Duration::from_millis(1), &mut a, &mut b);
    carry(t1 + rto * 4 + Duration::from_millis(2), &mut b, &mut a);
    a.send(t1 + rto * 5, 2, Semantics::Reliable, b"lost again").unwrap();
    a.frames();
    let due = t1 + rto * 5 + a.cfg.rto_min;
    a.run(|t, m| t.on_retransmit_timer(m, due));
    assert_eq!(a.out.stats.retransmissions, 3);
}

#[test]
fn sequenced_messages_wait_for_the_gap_and_a_fast_retransmit_fills_it() {
    let (mut a, mut b) = pair(cfg());
    for i in 0..3u8 {
        a.send(at(0), 2, Semantics::Sequenced, &[i]).unwrap();
    }
    let frames = a.frames();
    b.receive(at(1), frames[1].1.clone());
    b.receive(at(1), frames[2].1.clone());
    assert!(b.messages().is_empty(), "1 and 2 wait for 0");
    // The selective ACK says 1 and 2 arrived: 0 is lost, not late.
    carry(at(30), &mut b, &mut a);
    let resent = a.frames();
    assert_eq!(resent.len(), 1, "fast retransmit of the gap only");
    assert_eq!(a.out.stats.retransmissions, 1);
    b.receive(at(31), resent[0].1.clone());
    assert_eq!(b.messages(), [&[0u8][..], &[1], &[2]]);
}

#[test]
fn a_full_window_refuses_then_says_writable() {
    let mut c = cfg();
    c.send_window = 2;
    let (mut a, mut b) = pair(c);
    a.send(at(0), 2, Semantics::Reliable, b"1").unwrap();
    a.send(at(0), 2, Semantics::Reliable, b"2").unwrap();
    assert_eq!(a.send(at(0), 2, Semantics::Reliable, b"3"), Err(SendError::WouldBlock));
    // Datagrams have no window.
    assert!(a.send(at(0), 2, Semantics::Datagram, b"d").is_ok());
    carry(at(1), &mut a, &mut b);
    carry(at(2), &mut b, &mut a);
    let events = a.events();
    assert!(events.iter().any(|e| matches!(e, Event::Writable { to } if *to == id(2))));
    assert!(a.send(at(3), 2, Semantics::Reliable, b"3").is_ok());
}

#[test]
fn a_full_inbox_refuses_with_a_zero_window_and_reopens_when_read() {
    let mut c = cfg();
    c.inbox_messages = 2;
    let (mut a, mut b) = pair(c);
    for i in 0..4u8 {
        a.send(at(0), 2, Semantics::Reliable, &[i]).unwrap();
    }
    carry(at(1), &mut a, &mut b);
    assert_eq!(b.t.inbox_len(), 2, "two taken, two refused");
    assert_eq!(b.out.stats.inbox_refused, 2);
    carry(at(2), &mut b, &mut a);
    assert_eq!(a.t.in_flight(), 2, "the refused ones stay in flight");
    // Past every deadline of the first transmission: the receiver answered,
    // so nothing fails while it holds back.
    let late = at(2) + a.cfg.delivery_timeout / 2;
    a.run(|t, m| t.on_retransmit_timer(m, late));
    assert!(!a.events().iter().any(|e| matches!(e, Event::SendFailed { .. })));
    a.frames();
    // Reading the inbox reopens the window; the sender resends at once.
    assert_eq!(b.messages(), [&[0u8][..], &[1]]);
    carry(late, &mut b, &mut a);
    carry(late, &mut a, &mut b);
    assert_eq!(b.messages(), [&[2u8][..], &[3]]);
}

#[test]
fn large_messages_travel_as_fragments_within_the_reassembly_caps() {
    let mut c = cfg();
    c.fragment_size = 1000;
    c.reassembly_per_peer = 2500;
    let (mut a, mut b) = pair(c);
    let big: Vec<u8> = (0..2500u32).map(|i| i as u8).collect();
    a.send(at(0), 2, Semantics::Reliable, &big).unwrap();
    let frames = a.frames();
    assert_eq!(frames.len(), 3);
    for (_, f) in frames.iter().rev() {
        b.receive(at(1), f.clone());
    }
    assert_eq!(b.messages(), [&big[..]]);
    assert_eq!(b.t.reassembly_bytes(), 0);
    // A message larger than the per-peer cap is dropped fragment by
    // fragment, counted, and holds no memory.
    let bigger = alloc::vec![7u8; 4000];
    a.send(at(2), 2, Semantics::Datagram, &bigger).unwrap();
    carry(at(3), &mut a, &mut b);
    assert!(b.messages().is_empty());
    assert!(b.out.stats.dropped_limit > 0);
    assert!(b.t.reassembly_bytes() <= 2500);
}

#[test]
fn an_undeliverable_message_fails_and_the_next_restarts_the_sequence() {
    let (mut a, mut b) = pair(cfg());
    let lost = a.send(at(0), 2, Semantics::Sequenced, b"lost").unwrap();
    a.frames();
    let end = at(0) + a.cfg.delivery_timeout;
    a.run(|t, m| t.on_retransmit_timer(m, end));
    let failed: Vec<_> = a
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::SendFailed { id, reason, .. } => Some((id.0, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [(lost, FailReason::Timeout)]);
    a.frames();
    // The receiver never saw seq 0; SYN tells it not to wait for it.
    a.send(end, 2, Semantics::Sequenced, b"next").unwrap();
    carry(end, &mut a, &mut b);
    assert_eq!(b.messages(), [&b"next"[..]]);
}

#[test]
fn a_relay_forwards_the_frame_unchanged_and_reports_a_missing_next_hop() {
    let mut a = Side::new(1, cfg());
    let mut r = Side::new(2, cfg());
    let mut c = Side::new(3, cfg());
    a.link(2);
    a.route(&[1, 2, 3]);
    r.link(1);
    r.link(3);
    c.link(2);
    c.route(&[3, 2, 1]);
    a.send(at(0), 3, Semantics::Reliable, b"via").unwrap();
    let sent = a.frames();
    r.receive(at(1), sent[0].1.clone());
    assert!(r.messages().is_empty(), "the relay is not the destination");
    let passed = r.frames();
    assert_eq!(passed, [(LinkId(3), sent[0].1.clone())], "the same bytes, to the next hop");
    c.receive(at(2), passed[0].1.clone());
    assert_eq!(c.messages(), [&b"via"[..]]);
    // The ACK goes back through the relay.
    let ack = c.frames();
    r.receive(at(3), ack[0].1.clone());
    carry(at(4), &mut r, &mut a);
    assert!(a.events().iter().any(|e| matches!(e, Event::Delivered { .. })));

    // The relay loses its link to 3: the next DATA is reported back.
    r.links.remove(&LinkId(3));
    a.send(at(5), 3, Semantics::Reliable, b"again").unwrap();
    let sent = a.frames();
    r.receive(at(6), sent[0].1.clone());
    assert_eq!(r.out.stats.dropped_no_route, 1);
    let report = r.frames();
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].0, LinkId(1));
    let due = at(6) + a.cfg.spf_delay * 2;
    let Message::Link(LinkMessage::RouteError(e)) = Frame::parse(&report[0].1).unwrap().message
    else {
        panic!("a ROUTE_ERROR")
    };
    assert_eq!(e.unreachable, id(3));
    assert!(a.run(|t, m| t.on_route_error(m, at(7), e, report[0].1.clone())));
    assert!(a
        .out
        .timers
        .get(Timer::Retransmit)
        .is_some_and(|t| t <= due + Duration::from_millis(1)));
}

#[test]
fn a_member_on_the_way_to_another_passes_a_group_message_on_and_takes_it() {
    let mut a = Side::new(1, cfg());
    let mut b = Side::new(2, cfg());
    let mut c = Side::new(3, cfg());
    a.link(2);
    a.route(&[1, 2]);
    a.route(&[1, 2, 3]);
    b.link(1);
    b.link(3);
    b.route(&[2, 1]);
    c.link(2);
    c.route(&[3, 2, 1]);
    b.groups.insert("g".into());
    c.groups.insert("g".into());
    let p = Bytes::from_static(b"to all");
    let members = [id(2), id(3)];
    a.run(|t, m| t.shout(m, at(0), "g", &members, Semantics::Reliable.into(), p)).unwrap();
    // The tree a-b-c is a path: one frame, to b.
    let sent = a.frames();
    assert_eq!(sent.len(), 1);
    b.receive(at(1), sent[0].1.clone());
    assert_eq!(b.messages(), [&b"to all"[..]], "b is a member: it takes it");
    let out = b.frames();
    let passed: Vec<_> = out.iter().filter(|(l, _)| *l == LinkId(3)).collect();
    assert_eq!(passed.len(), 1, "and passes it on to c");
    c.receive(at(2), passed[0].1.clone());
    assert_eq!(c.messages(), [&b"to all"[..]]);
    // Both acknowledge: nothing is left in flight once the ACKs are back.
    let acks: Vec<Bytes> =
        out.into_iter().filter(|(l, _)| *l == LinkId(1)).map(|(_, f)| f).collect();
    a.receive_all(at(3), acks);
    for (_, f) in c.frames() {
        b.receive(at(3), f);
    }
    carry(at(4), &mut b, &mut a);
    assert_eq!(a.t.in_flight(), 0, "each member's copy is acknowledged");
    // A non-member relay passes it on without taking it.
    b.groups.clear();
    let p = Bytes::from_static(b"again");
    a.run(|t, m| t.shout(m, at(5), "g", &members, Semantics::Datagram.into(), p)).unwrap();
    let sent = a.frames();
    b.receive(at(6), sent[0].1.clone());
    assert!(b.messages().is_empty());
    assert_eq!(b.frames().len(), 1);
}

#[test]
fn no_route_and_too_large_are_refused_without_state() {
    let (mut a, _) = pair(cfg());
    assert_eq!(a.send(at(0), 9, Semantics::Reliable, b"x"), Err(SendError::Unreachable));
    let max = a.cfg.max_message;
    let big = alloc::vec![0u8; max + 1];
    assert_eq!(a.send(at(0), 2, Semantics::Reliable, &big), Err(SendError::TooLarge));
    assert_eq!(a.send(at(0), 2, Semantics::Stream, b"x"), Err(SendError::Unsupported));
    assert_eq!(a.t.in_flight(), 0);
    assert!(a.frames().is_empty());
}

#[test]
fn a_ping_is_answered_along_the_reverse_path() {
    let (mut a, mut b) = pair(cfg());
    let ping = a.run(|t, m| t.ping(m, at(0), id(2))).unwrap();
    carry(at(3), &mut a, &mut b);
    assert!(b.events().is_empty(), "a ping is answered, not reported");
    carry(at(5), &mut b, &mut a);
    let pongs: Vec<_> = a
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Pong { from, id: p, rtt } => Some((from, p, rtt)),
            _ => None,
        })
        .collect();
    assert_eq!(pongs, [(id(2), ping, Duration::from_millis(5))]);
    assert_eq!(a.run(|t, m| t.ping(m, at(6), id(1))), Err(SendError::Unreachable));
}

#[test]
fn a_stream_carries_bytes_in_order_and_closes_after_both_ends_finish() {
    let (mut a, mut b) = pair(cfg());
    let s = a.run(|t, m| t.open_stream(m, at(0), id(2))).unwrap();
    let written = a.run(|t, m| t.stream_write(m, at(0), s, Bytes::from_static(b"hello ")));
    assert_eq!(written, Ok(6));
    a.run(|t, m| t.stream_write(m, at(0), s, Bytes::from_static(b"world"))).unwrap();
    a.run(|t, m| t.stream_finish(m, at(0), s)).unwrap();
    carry(at(1), &mut a, &mut b);
    let opened = b.events().into_iter().find_map(|e| match e {
        Event::StreamOpened { stream, peer } if peer == id(1) => Some(stream),
        _ => None,
    });
    let bs = opened.expect("the peer learns of the stream");
    let mut got = Vec::new();
    while let Ok(Some(chunk)) = b.run(|t, m| t.stream_read(m, at(2), bs, 4)) {
        got.extend_from_slice(&chunk);
    }
    assert_eq!(got, b"hello world");
    b.run(|t, m| t.stream_finish(m, at(2), bs)).unwrap();
    carry(at(3), &mut b, &mut a);
    assert_eq!(a.run(|t, m| t.stream_read(m, at(4), s, 100)), Ok(None));
    carry(at(5), &mut a, &mut b);
    let closed = |e: &Event| matches!(e, Event::StreamClosed { reason, .. } if *reason == super::super::output::StreamEnd::Finished);
    assert!(a.events().iter().any(closed));
    assert!(b.events().iter().any(closed));
    assert_eq!((a.t.stream_count(), b.t.stream_count()), (0, 0));
}

/// A relay (2) between 1 and 3, its link queues bounded at `queue` bytes
/// and marking past `mark`.
fn line(queue: usize, mark: usize) -> (Side, Side, Side) {
    let mut c = cfg();
    c.link_queue_bytes = queue;
    c.link_queue_mark = mark;
    let mut a = Side::new(1, cfg());
    let mut r = Side::new(2, c);
    let mut z = Side::new(3, cfg());
    a.link(2);
    a.route(&[1, 2, 3]);
    r.link(1);
    r.link(3);
    r.route(&[2, 3]);
    r.route(&[2, 1]);
    z.link(2);
    z.route(&[3, 2, 1]);
    (a, r, z)
}

/// Hands `frames` to `to` without pulling its queues.
fn hand(now: Instant, frames: Vec<(LinkId, Bytes)>, to: &mut Side) {
    to.receive_all(now, frames.into_iter().map(|(_, f)| f).collect());
}

/// Takes what `from` queued on `link` (all of it), as its driver would.
fn pull_all(from: &mut Side, link: LinkId) -> Vec<(LinkId, Bytes)> {
    let mut v = Vec::new();
    while let (Some(f), _) = from.out.pull(link) {
        v.push((link, f));
    }
    from.out.transmits.retain(|t| !matches!(t, Transmit::Ready { link: l } if *l == link));
    v
}

#[test]
fn a_relay_marks_past_the_threshold_and_drops_past_the_bound_counting_both() {
    let (mut a, mut r, _) = line(3000, 1500);
    for i in 0..5u8 {
        a.send(at(0), 3, Semantics::Reliable, &[i; 900]).unwrap();
    }
    let sent = a.frames();
    assert_eq!(sent.len(), 5);
    hand(at(1), sent, &mut r);
    // The relay's driver pulls nothing: its queue towards 3 fills.
    assert_eq!(r.out.stats.forwarded, 5);
    assert_eq!(r.out.stats.data_marked, 2, "the second and third frames pass the mark");
    assert_eq!(r.out.stats.dropped_queue_full, 2, "the last two pass the bound");
    let q = &r.out.link_queues[&LinkId(3)];
    assert!(q.data_bytes() <= 3000);
    assert_eq!((q.stats.marked, q.stats.dropped), (2, 2));
    let out = pull_all(&mut r, LinkId(3));
    let marked =
        out.iter().filter(|(_, f)| Frame::parse(f).unwrap().extensions.has(EXT_CONGESTION));
    assert_eq!(marked.count(), 2);
}

#[test]
fn a_marked_message_is_echoed_and_the_source_slows_down_then_recovers() {
    let (mut a, mut r, mut z) = line(1 << 20, 1000);
    a.send(at(0), 3, Semantics::Reliable, &[1; 600]).unwrap();
    a.send(at(0), 3, Semantics::Reliable, &[2; 600]).unwrap();
    hand(at(1), a.frames(), &mut r);
    let relayed = pull_all(&mut r, LinkId(3));
    hand(at(2), relayed, &mut z);
    assert_eq!(z.messages().len(), 2);
    let acks = z.frames();
    assert_eq!(acks.len(), 1, "one ACK for the read");
    assert!(Frame::parse(&acks[0].1).unwrap().extensions.has(EXT_CONGESTION_ECHO));
    hand(at(3), acks, &mut r);
    hand(at(4), pull_all(&mut r, LinkId(1)), &mut a);
    let before = Window::new(&a.cfg).bytes();
    // Halved, then grown by what was acknowledged (linearly, past the new
    // threshold).
    let half = before / 2;
    assert_eq!(a.t.windows[&id(3)].bytes(), half + 1200 * segment(&a.cfg) / half);
    let events = a.events();
    assert!(events.iter().any(|e| matches!(e, Event::Congested { to } if *to == id(3))));
    // A round trip later, unmarked traffic clears it.
    a.send(at(100), 3, Semantics::Reliable, &[3; 10]).unwrap();
    hand(at(101), a.frames(), &mut r);
    hand(at(102), pull_all(&mut r, LinkId(3)), &mut z);
    z.messages();
    hand(at(103), z.frames(), &mut r);
    hand(at(104), pull_all(&mut r, LinkId(1)), &mut a);
    assert!(a
        .events()
        .iter()
        .any(|e| matches!(e, Event::CongestionCleared { to } if *to == id(3))));
}

#[test]
fn the_initial_window_holds_before_the_first_ack() {
    let (mut a, _) = pair(cfg());
    let size = segment(&a.cfg);
    let window = Window::new(&a.cfg).bytes();
    let mut accepted = 0;
    while a.send(at(0), 2, Semantics::Reliable, &alloc::vec![0; size]).is_ok() {
        accepted += 1;
        assert!(accepted <= 64, "nothing holds the sender back");
    }
    // A destination that has not answered yet gets ten segments, not the
    // whole send window at once.
    assert_eq!(accepted, window / size);
}

#[test]
fn a_full_first_hop_refuses_local_sends_until_the_driver_pulls() {
    let mut c = cfg();
    c.link_queue_bytes = 2000;
    c.link_queue_mark = 2000;
    let (mut a, _) = pair(c);
    let mut accepted = 0;
    while a.send(at(0), 2, Semantics::Reliable, &[0; 800]).is_ok() {
        accepted += 1;
        assert!(accepted < 10, "the queue bound holds the sender back");
    }
    assert_eq!(a.send(at(0), 2, Semantics::Reliable, b"x"), Err(SendError::WouldBlock));
    assert!(a.out.link_queues[&LinkId(2)].data_bytes() <= 2000 + 900);
    // The driver pulls: once the queue is at half, the sender hears.
    let mut reopened = false;
    while let (Some(_), again) = a.out.pull(LinkId(2)) {
        if again {
            a.run(|t, m| t.wake_blocked(m, at(1), None));
            reopened = true;
        }
    }
    assert!(reopened);
    assert!(a.events().iter().any(|e| matches!(e, Event::Writable { to } if *to == id(2))));
    assert!(a.send(at(2), 2, Semantics::Reliable, b"x").is_ok());
}

#[test]
fn the_priority_travels_with_the_message_and_urgent_data_goes_first() {
    let (mut a, mut r, _) = line(1 << 20, 1 << 20);
    for _ in 0..3 {
        a.send(at(0), 3, Semantics::Datagram, &[7; 100]).unwrap();
    }
    let urgent = SendOptions::new(Semantics::Datagram).priority(0);
    let p = Bytes::from_static(&[0; 100]);
    a.run(|t, m| t.send(m, at(0), id(3), urgent, p)).unwrap();
    // The source's own queue already puts the urgent one first.
    let sent = a.frames();
    let first = |v: &[(LinkId, Bytes)]| match Frame::parse(&v[0].1).unwrap().message {
        Message::Link(LinkMessage::Data(d)) => d.priority,
        _ => panic!("not DATA"),
    };
    assert_eq!(first(&sent), 0);
    // Across the relay too, whatever order the frames came in.
    let mut reversed = sent;
    reversed.reverse();
    hand(at(1), reversed, &mut r);
    let relayed = pull_all(&mut r, LinkId(3));
    assert_eq!(first(&relayed), 0);
    assert_eq!(relayed.len(), 4);
    let bad = SendOptions::new(Semantics::Reliable).priority(8);
    let p = Bytes::from_static(b"x");
    assert_eq!(a.run(|t, m| t.send(m, at(2), id(3), bad, p)), Err(SendError::BadPriority));
}

#[test]
fn the_retransmission_timer_visits_only_channels_that_may_be_due() {
    let (mut a, _b) = pair(cfg());
    // Two channels: one message each, the reliable one a while later.
    a.send(at(0), 2, Semantics::Sequenced, b"s").unwrap();
    a.send(at(50), 2, Semantics::Reliable, b"r").unwrap();
    a.frames();
    let first = a.retransmit_due();
    assert_eq!(first, at(0) + a.cfg.rto_initial);
    a.run(|t, m| t.on_retransmit_timer(m, first));
    // Only the sequenced message was due and resent; the timer now waits
    // for the reliable one, which was not touched.
    assert_eq!(a.out.stats.retransmissions, 1);
    let second = at(50) + a.cfg.rto_initial;
    assert_eq!(a.retransmit_due(), second.min(first + a.cfg.rto_initial * 2));
    let resent: Vec<_> = a.frames();
    assert_eq!(resent.len(), 1);
    let Message::Link(LinkMessage::Data(d)) = Frame::parse(&resent[0].1).unwrap().message else {
        panic!("a DATA frame")
    };
    assert_eq!(d.semantics, Semantics::Sequenced);
}

#[test]
fn a_reroute_is_kept_when_the_timer_runs_for_something_else_first() {
    let mut a = Side::new(1, cfg());
    a.link(2);
    a.route(&[1, 2, 3]);
    a.send(at(0), 3, Semantics::Reliable, b"early").unwrap();
    a.send(at(10), 3, Semantics::Sequenced, b"named").unwrap();
    let sent = a.frames();
    let Message::Link(LinkMessage::Data(named)) = Frame::parse(&sent[1].1).unwrap().message else {
        panic!("a DATA frame")
    };
    // The relay reports the second message's next hop gone, just before
    // the first message's RTO.
    let rto = a.cfg.rto_initial;
    let reported = at(0) + (rto - Duration::from_millis(1));
    let reroute = reported + a.cfg.spf_delay * 2;
    assert!(reroute > at(0) + rto, "the reroute comes after the first RTO");
    let e = crate::wire::link::RouteError {
        reporter: id(2),
        unreachable: id(3),
        seq: named.seq,
        channel: named.channel,
        semantics: named.semantics,
        route: Route::path(&[id(2), id(1)]).unwrap(),
    };
    let raw = Frame::new(LinkMessage::RouteError(e.clone())).to_bytes().unwrap();
    assert!(a.run(|t, m| t.on_route_error(m, reported, e, raw)));
    // The first message's RTO fires first; the reroute must stay scheduled.
    a.run(|t, m| t.on_retransmit_timer(m, at(0) + rto));
    assert!(a.retransmit_due() <= reroute, "the reroute at {reroute:?} was forgotten");
    a.frames();
    a.run(|t, m| t.on_retransmit_timer(m, reroute));
    let resent = a.frames();
    assert!(resent.iter().any(|(_, f)| matches!(
        Frame::parse(f).unwrap().message,
        Message::Link(LinkMessage::Data(ref d)) if d.seq == named.seq && d.channel == named.channel
    )));
}
