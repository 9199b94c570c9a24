//! `Stream` semantics, pings and ordered-channel recovery in the simulator:
//! exact bytes over several hops and under loss, half-close, flow control
//! against a reader that stops, reset, failure when the peer dies, and a
//! link saturated with stream data that keeps its keepalives.

use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{SendError, StreamEnd, StreamError, StreamId};
use netcluster_core::wire::link::Semantics;
use netcluster_core::{Config, Event, LinkMode};
use netcluster_sim::{Faults, NodeIx, Sim};
use netcluster_tests::sim_helpers::{converge, drain_stream, line, stream_opened_by, StreamWriter};

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt ^ (i >> 9) as u8)).collect()
}

fn closed(sim: &Sim, n: NodeIx, s: StreamId) -> Option<StreamEnd> {
    sim.events(n).iter().find_map(|(_, e)| match e {
        Event::StreamClosed { stream, reason } if *stream == s => Some(*reason),
        _ => None,
    })
}

/// Opens a stream from `a` to `b`, sends `up` bytes one way and `down`
/// the other, both sides finish; returns what each side read.
fn exchange(sim: &mut Sim, a: NodeIx, b: NodeIx, up: usize, down: usize) -> (Vec<u8>, Vec<u8>) {
    let b_id = sim.node_id(b);
    let a_id = sim.node_id(a);
    let sa = sim.with_node(a, |n, now| n.open_stream(now, b_id)).unwrap().unwrap();
    let mut wa = StreamWriter::new(pattern(up, 1));
    let mut wb = StreamWriter::new(pattern(down, 2));
    let (mut ra, mut rb) = (Vec::new(), Vec::new());
    let (mut eof_a, mut eof_b) = (false, false);
    let mut sb = None;
    let deadline = sim.now() + Duration::from_secs(120);
    while sim.now() < deadline && !(eof_a && eof_b) {
        wa.pump(sim, a, sa);
        if sb.is_none() {
            sb = stream_opened_by(sim, b, a_id);
        }
        if let Some(sb) = sb {
            // The responder answers only after the whole request: the
            // opener has half-closed by then and still reads.
            if eof_b {
                wb.pump(sim, b, sb);
            }
            eof_b = eof_b || drain_stream(sim, b, sb, &mut rb);
        }
        if !eof_a {
            eof_a = drain_stream(sim, a, sa, &mut ra);
        }
        sim.run_for(Duration::from_millis(10));
    }
    assert!(eof_a && eof_b, "both ends read the end of the stream");
    let sb = sb.unwrap();
    // Under heavy loss the last ACKs may take a few retransmissions.
    let ok = sim.run_until(sim.now() + Duration::from_secs(60), |s| {
        closed(s, a, sa).is_some() && closed(s, b, sb).is_some()
    });
    assert!(ok, "both ends report the stream closed");
    assert_eq!(closed(sim, a, sa), Some(StreamEnd::Finished));
    assert_eq!(closed(sim, b, sb), Some(StreamEnd::Finished));
    assert_eq!(sim.node(a).unwrap().stream_count(), 0);
    assert_eq!(sim.node(b).unwrap().stream_count(), 0);
    (rb, ra)
}

#[test]
fn a_stream_carries_exact_bytes_both_ways_over_five_hops_with_half_close() {
    for mode in [LinkMode::Stream, LinkMode::Datagram] {
        let (mut sim, nodes) = line(6, 5, mode, Faults::lan());
        assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
        let (got_b, got_a) = exchange(&mut sim, nodes[0], nodes[5], 1_000_000, 300_000);
        assert!(got_b == pattern(1_000_000, 1), "{mode:?}: request bytes exact");
        assert!(got_a == pattern(300_000, 2), "{mode:?}: reply bytes exact");
    }
}

#[test]
fn a_stream_is_exact_under_loss_duplication_and_reordering() {
    // 20% loss on every datagram link of a line: no second path, yet no
    // link times out for long, so the stream also closes cleanly.
    let faults = Faults::lan().with_loss(0.2, 0.1, 0.2);
    let (mut sim, nodes) = line(4, 11, LinkMode::Datagram, faults);
    assert!(converge(&mut sim, &nodes, Duration::from_secs(30)).is_some());
    let (got_b, got_a) = exchange(&mut sim, nodes[0], nodes[3], 200_000, 50_000);
    assert!(got_b == pattern(200_000, 1));
    assert!(got_a == pattern(50_000, 2));
}

#[test]
fn a_reader_that_stops_holds_the_writer_back_without_failing_the_stream() {
    let (mut sim, nodes) = line(3, 7, LinkMode::Stream, Faults::lan());
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
    let (a, b) = (nodes[0], nodes[2]);
    let (a_id, b_id) = (sim.node_id(a), sim.node_id(b));
    let cfg = Config::lan("x", "y");
    let sa = sim.with_node(a, |n, now| n.open_stream(now, b_id)).unwrap().unwrap();
    let mut w = StreamWriter::new(pattern(4 << 20, 3));
    // Twice the delivery timeout with nobody reading.
    let until = sim.now() + cfg.delivery_timeout * 2;
    while sim.now() < until {
        w.pump(&mut sim, a, sa);
        sim.run_for(Duration::from_millis(50));
    }
    assert!(w.written < w.data.len(), "the writer is held back");
    // The receiver's window, and the one segment that probes it once it
    // is full and nothing is in flight (taken from the send buffer, held
    // in flight until the window opens).
    let bound = cfg.stream_send_buffer + (cfg.stream_window + 1) * cfg.fragment_size;
    assert!(w.written <= bound, "written {} > send buffer + window + probe {bound}", w.written);
    assert_eq!(closed(&sim, a, sa), None, "a slow reader does not fail the stream");
    let sb = stream_opened_by(&sim, b, a_id).expect("opened");
    let mut got = Vec::new();
    let deadline = sim.now() + Duration::from_secs(120);
    let mut eof = false;
    while sim.now() < deadline && !eof {
        w.pump(&mut sim, a, sa);
        eof = drain_stream(&mut sim, b, sb, &mut got);
        sim.run_for(Duration::from_millis(10));
    }
    assert!(eof, "read to the end once the reader reads");
    assert!(got == w.data, "exact bytes after the stall");
    let writable = sim
        .events(a)
        .iter()
        .any(|(_, e)| matches!(e, Event::StreamWritable { stream } if *stream == sa));
    assert!(writable, "the writer was told when there was room again");
}

#[test]
fn reset_reaches_the_peer_and_a_dead_peer_fails_the_stream() {
    let (mut sim, nodes) = line(3, 8, LinkMode::Stream, Faults::lan());
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
    let (a, b) = (nodes[0], nodes[2]);
    let (a_id, b_id) = (sim.node_id(a), sim.node_id(b));
    let s1 = sim.with_node(a, |n, now| n.open_stream(now, b_id)).unwrap().unwrap();
    sim.run_for(Duration::from_millis(100));
    let r1 = stream_opened_by(&sim, b, a_id).expect("opened");
    sim.with_node(a, |n, now| n.stream_reset(now, s1)).unwrap().unwrap();
    sim.run_for(Duration::from_millis(100));
    assert_eq!(closed(&sim, b, r1), Some(StreamEnd::Reset));
    assert_eq!(sim.node(b).unwrap().stream_count(), 0);
    assert_eq!(
        sim.with_node(a, |n, now| n.stream_write(now, s1, Bytes::from_static(b"x"))).unwrap(),
        Err(StreamError::Unknown),
        "a reset stream's id is invalid"
    );

    let s2 = sim.with_node(a, |n, now| n.open_stream(now, b_id)).unwrap().unwrap();
    sim.run_for(Duration::from_millis(100));
    sim.crash(b);
    let mut w = StreamWriter::new(pattern(100_000, 4));
    w.pump(&mut sim, a, s2);
    let timeout = Config::lan("x", "y").delivery_timeout;
    let ok = sim.run_until(sim.now() + timeout * 3, |s| closed(s, a, s2).is_some());
    assert!(ok, "the stream to a dead peer ends");
    assert!(matches!(closed(&sim, a, s2), Some(StreamEnd::Failed(_))), "{:?}", closed(&sim, a, s2));
    assert_eq!(sim.node(a).unwrap().stream_count(), 0);
}

#[test]
fn a_link_saturated_with_stream_data_for_a_minute_keeps_its_keepalives() {
    let faults = Faults::lan().with_bandwidth(10_000_000);
    let (mut sim, nodes) = line(2, 13, LinkMode::Stream, faults);
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
    let (a, b) = (nodes[0], nodes[1]);
    let (a_id, b_id) = (sim.node_id(a), sim.node_id(b));
    let since = sim.now();
    let sa = sim.with_node(a, |n, now| n.open_stream(now, b_id)).unwrap().unwrap();
    let mut sent = 0usize;
    let mut got = 0usize;
    let mut sb = None;
    let chunk = Bytes::from(vec![7u8; 64 * 1024]);
    let until = sim.now() + Duration::from_secs(60);
    while sim.now() < until {
        // Keep the stream's send buffer full at all times.
        while let Ok(k) = sim.with_node(a, |n, now| n.stream_write(now, sa, chunk.clone())).unwrap()
        {
            sent += k;
            if k < chunk.len() {
                break;
            }
        }
        sb = sb.or_else(|| stream_opened_by(&sim, b, a_id));
        if let Some(sb) = sb {
            let mut buf = Vec::new();
            drain_stream(&mut sim, b, sb, &mut buf);
            got += buf.len();
        }
        sim.run_for(Duration::from_millis(5));
    }
    assert!(got > 50 << 20, "the link was busy: {got} bytes in 60 s");
    assert!(sent >= got);
    for (n, other) in [(a, b_id), (b, a_id)] {
        let downs = sim
            .events(n)
            .iter()
            .filter(|(t, e)| *t >= since && matches!(e, Event::PeerDown { id, .. } if *id == other))
            .count();
        assert_eq!(downs, 0, "no false down");
        assert_eq!(sim.node(n).unwrap().stats().keepalive_timeouts, 0, "no keepalive timeout");
    }
}

#[test]
fn ping_measures_the_round_trip_through_the_mesh() {
    let (mut sim, nodes) = line(4, 2, LinkMode::Stream, Faults::lan());
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
    let to = sim.node_id(nodes[3]);
    let id = sim.with_node(nodes[0], |n, now| n.ping(now, to)).unwrap().unwrap();
    sim.run_for(Duration::from_millis(100));
    let rtt = sim.events(nodes[0]).iter().find_map(|(_, e)| match e {
        Event::Pong { from, id: i, rtt } if *from == to && *i == id => Some(*rtt),
        _ => None,
    });
    // Three hops of 1 ms each way.
    let rtt = rtt.expect("a pong");
    assert!(rtt >= Duration::from_millis(6) && rtt < Duration::from_millis(20), "{rtt:?}");
    let me = sim.node_id(nodes[0]);
    assert_eq!(
        sim.with_node(nodes[0], |n, now| n.ping(now, me)).unwrap(),
        Err(SendError::Unreachable)
    );
}

#[test]
fn a_failed_sequenced_message_leaves_no_gap_behind() {
    let (mut sim, nodes) = line(3, 6, LinkMode::Stream, Faults::lan());
    assert!(converge(&mut sim, &nodes, Duration::from_secs(10)).is_some());
    let (a, b) = (nodes[0], nodes[2]);
    let b_id = sim.node_id(b);
    let send = |sim: &mut Sim, v: u32| {
        sim.with_node(a, |n, now| {
            n.send(now, b_id, Semantics::Sequenced, Bytes::from(v.to_be_bytes().to_vec()))
        })
        .unwrap()
    };
    send(&mut sim, 0).unwrap();
    sim.run_for(Duration::from_millis(100));
    // Cut b off long enough for the next messages to fail, not long enough
    // to be forgotten as a peer for good.
    let hb = sim.host_of(b);
    let hm = sim.host_of(nodes[1]);
    sim.cut_pair(hm, hb);
    for v in 1..4 {
        let _ = send(&mut sim, v);
    }
    let timeout = Config::lan("x", "y").delivery_timeout;
    sim.run_for(timeout + Duration::from_secs(2));
    let failed =
        sim.events(a).iter().filter(|(_, e)| matches!(e, Event::SendFailed { .. })).count();
    assert!(failed >= 1, "messages sent into the cut failed");
    sim.heal_pair(hm, hb);
    assert!(converge(&mut sim, &nodes, Duration::from_secs(20)).is_some());
    for v in 10..20 {
        send(&mut sim, v).unwrap();
    }
    sim.run_for(Duration::from_secs(2));
    let got: Vec<u32> = sim
        .events(b)
        .iter()
        .filter_map(|(_, e)| match e {
            Event::Message { payload, .. } => {
                Some(u32::from_be_bytes(payload[..4].try_into().unwrap()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(&got[..1], &[0]);
    assert_eq!(&got[got.len() - 10..], &(10..20).collect::<Vec<u32>>()[..], "{got:?}");
}

#[test]
fn control_frames_go_ahead_of_data_already_queued() {
    use netcluster_core::node::Transmit;
    use netcluster_core::wire::{Frame, LinkMessage, Message};
    let mut net = netcluster_sim::Direct::new(2);
    net.connect(0, 1);
    net.advance(Duration::from_secs(2));
    let (a, b) = (net.nodes[0].id(), net.nodes[1].id());
    let now = net.now();
    for _ in 0..50 {
        net.nodes[0].send(now, b, Semantics::Datagram, Bytes::from(vec![1u8; 1024])).unwrap();
    }
    // Node 1's reliable message makes node 0 owe an ACK while its 50 DATA
    // frames are still waiting to be taken.
    net.nodes[1].send(now, a, Semantics::Reliable, Bytes::from_static(b"ack me")).unwrap();
    let Some(Transmit::Ready { link }) = net.nodes[1].poll_transmit() else {
        panic!("node 1 queued nothing")
    };
    let data = net.nodes[1].poll_link(now, link).expect("node 1's frame");
    let from_1 = net.link(1, 0).expect("linked");
    net.deliver(1, from_1, data);
    let Some(Transmit::Ready { link }) = net.nodes[0].poll_transmit() else {
        panic!("node 0 queued nothing")
    };
    let kinds: Vec<&str> = std::iter::from_fn(|| net.nodes[0].poll_link(now, link))
        .map(|data| match Frame::parse(&data).map(|f| f.message) {
            Ok(Message::Link(LinkMessage::Ack(_))) => "ack",
            Ok(Message::Link(LinkMessage::Data(_))) => "data",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"ack"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| **k == "data").count(), 50);
}
