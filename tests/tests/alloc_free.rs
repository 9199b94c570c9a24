//! Parsing and forwarding a DATA frame allocate nothing.
//!
//! This file is its own test binary, so it may install a counting global
//! allocator without affecting any other test. The count is per thread, so
//! the test harness running tests in parallel does not disturb it.
//!
//! About the receive buffer: `Bytes::from(Vec<u8>)` starts out as a plain,
//! unshared vector. The first `clone` (or `slice`, which clones) of such a
//! `Bytes` promotes it to a shared, reference-counted buffer, which costs one
//! allocation; every later clone or slice only bumps the count. A driver pays
//! that once per receive buffer, before any parsing (and not at all when the
//! buffer comes from a `BytesMut` already shared or from a static), so the
//! tests below promote the buffer first and count only what parsing and
//! field access cost.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::Bytes;
use netcluster_core::wire::{Frame, LinkMessage, Message, NodeId};
use netcluster_tests::{read_hex_vectors, AnyFrame};

thread_local! {
    /// Allocations made by this thread. Const-initialised, no destructor:
    /// touching it never allocates, which matters inside an allocator.
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may be gone while a thread is exiting.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

/// The system allocator, counting allocations (not frees).
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting has no effect on
// the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: forwarded as is; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        // SAFETY: as above; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns its result with the allocations it made.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    let after = ALLOCATIONS.with(Cell::get);
    (out, after - before)
}

/// A vector's bytes as a receive buffer whose storage is already shared.
fn receive_buffer(name: &str) -> Bytes {
    let (_, bytes) = read_hex_vectors()
        .into_iter()
        .find(|(p, _)| p.ends_with(name))
        .unwrap_or_else(|| panic!("missing vector {name}"));
    let fresh = Bytes::from(bytes);
    // The one-time promotion described in the module comment.
    let (shared, n) = allocations(|| fresh.clone());
    assert!(n <= 1, "promoting a receive buffer took {n} allocations");
    drop(fresh);
    shared
}

fn node(hex: &str) -> NodeId {
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
    }
    NodeId(id)
}

#[test]
fn the_counter_counts() {
    let (v, n) = allocations(|| Vec::<u8>::with_capacity(64));
    assert_eq!(n, 1);
    drop(v);
    let ((), n) = allocations(|| {});
    assert_eq!(n, 0);
}

#[test]
fn parsing_a_data_frame_allocates_nothing() {
    let buf = receive_buffer("link/data.hex");
    let ((checksum, len, dest), n) = allocations(|| {
        let frame = Frame::parse(&buf).expect("the vector parses");
        let Message::Link(LinkMessage::Data(data)) = &frame.message else {
            panic!("not a DATA frame")
        };
        let checksum: u32 = data.route.ids().flat_map(|id| id.0).map(u32::from).sum::<u32>()
            + data.payload[..].iter().map(|&b| u32::from(b)).sum::<u32>();
        let payload: Bytes = data.payload.clone();
        (checksum, payload.len(), data.route.last())
    });
    assert_eq!(n, 0, "parsing and reading a DATA frame allocated");
    assert_eq!(len, 5);
    assert!(checksum > 0);
    assert_eq!(dest, node("2233445566778899aabbccddeeff0011"));
}

#[test]
fn forwarding_a_data_frame_allocates_nothing() {
    // B, on the unicast path A -> B -> C, forwards to C (entry 2).
    let b = node("112233445566778899aabbccddeeff00");
    let buf = receive_buffer("link/data.hex");
    let ((at, next, out_len), n) = allocations(|| {
        let frame = Frame::parse(&buf).expect("the vector parses");
        let Message::Link(LinkMessage::Data(data)) = &frame.message else {
            panic!("not a DATA frame")
        };
        let at = data.route.position(&b).expect("B is on the route");
        let mut next = [usize::MAX; 2];
        for (slot, child) in next.iter_mut().zip(data.route.children(at)) {
            *slot = child;
        }
        // The frame goes out unchanged: forwarding hands on the same buffer.
        let out: Bytes = buf.clone();
        (at, next, out.len())
    });
    assert_eq!(n, 0, "forwarding a DATA frame allocated");
    assert_eq!(at, 1);
    assert_eq!(next, [2, usize::MAX]);
    assert_eq!(out_len, buf.len());
}

#[test]
fn forwarding_a_group_data_frame_allocates_nothing() {
    // Tree A -> {B, C}, B -> D: A sends to B and C, B to D, C and D to no one.
    let ids = [
        node("00112233445566778899aabbccddeeff"),
        node("112233445566778899aabbccddeeff00"),
        node("2233445566778899aabbccddeeff0011"),
        node("33445566778899aabbccddeeff001122"),
    ];
    let buf = receive_buffer("link/data_group.hex");
    let (fanout, n) = allocations(|| {
        let frame = Frame::parse(&buf).expect("the vector parses");
        let Message::Link(LinkMessage::Data(data)) = &frame.message else {
            panic!("not a DATA frame")
        };
        assert_eq!(data.group.as_deref(), Some("chat"));
        let mut fanout = [[usize::MAX; 2]; 4];
        for (slot, id) in fanout.iter_mut().zip(&ids) {
            let at = data.route.position(id).expect("on the tree");
            for (k, child) in data.route.children(at).enumerate() {
                slot[k] = child;
            }
        }
        fanout
    });
    assert_eq!(n, 0, "forwarding a group frame allocated");
    let none = usize::MAX;
    assert_eq!(fanout, [[1, 2], [3, none], [none, none], [none, none]]);
}

#[test]
fn parsing_any_vector_allocates_nothing() {
    // Decoding is zero-copy throughout: strings, lists and payloads are
    // slices of the receive buffer, validated in place. Admin and tracker
    // vectors go through the core's refusal first, which allocates nothing
    // either.
    let vectors = read_hex_vectors();
    assert!(!vectors.is_empty());
    for (path, bytes) in vectors {
        let fresh = Bytes::from(bytes);
        let buf = fresh.clone();
        let (ok, n) = allocations(|| AnyFrame::parse(&buf).is_ok());
        assert!(ok, "{} parses", path.display());
        assert_eq!(n, 0, "parsing {} allocated", path.display());
    }
}

/// A line of three nodes in steady state, and a DATA frame node 0 sent to
/// node 2, as node 1 receives it: (net, frame, node 1's link from node 0).
fn forwarding_setup(
    payload: usize,
) -> (netcluster_sim::Direct, Bytes, netcluster_core::node::LinkId) {
    use netcluster_core::node::Transmit;
    use netcluster_core::wire::link::Semantics;
    let mut net = netcluster_sim::Direct::new(3);
    net.connect(0, 1);
    net.connect(1, 2);
    net.advance(std::time::Duration::from_secs(2));
    let dest = net.nodes[2].id();
    let now = net.now();
    net.nodes[0].send(now, dest, Semantics::Datagram, Bytes::from(vec![7u8; payload])).unwrap();
    let Some(Transmit::Ready { link }) = net.nodes[0].poll_transmit() else {
        panic!("node 0 queued no frame")
    };
    let data = net.nodes[0].poll_link(now, link).expect("the frame queued");
    let from_0 = net.link(1, 0).expect("node 1 links node 0");
    (net, data, from_0)
}

#[test]
fn forwarding_a_data_frame_allocates_and_copies_nothing() {
    use netcluster_core::node::Transmit;
    let (mut net, frame, from_0) = forwarding_setup(1024);
    let to_2 = net.link(1, 2).expect("node 1 links node 2");
    let now = net.now();
    // Warm up: queues reach their working capacity once.
    for _ in 0..4 {
        net.nodes[1].handle_link_data(now, from_0, frame.clone());
        while net.nodes[1].poll_transmit().is_some() {}
        while net.nodes[1].poll_link(now, to_2).is_some() {}
    }
    let forwarded_before = net.nodes[1].stats().forwarded;
    assert_eq!(forwarded_before, 4, "the warm-up frames were forwarded");
    for _ in 0..100 {
        let input = frame.clone();
        let ((out, data, rest), n) = allocations(|| {
            net.nodes[1].handle_link_data(now, from_0, input);
            let out = net.nodes[1].poll_transmit();
            let data = net.nodes[1].poll_link(now, to_2);
            (out, data, net.nodes[1].poll_link(now, to_2))
        });
        assert_eq!(n, 0, "forwarding one DATA frame allocated {n} times");
        let Some(Transmit::Ready { link }) = out else { panic!("not forwarded: {out:?}") };
        assert_eq!(link, to_2, "forwarded to the next hop");
        let data = data.expect("the frame queued for the next hop");
        assert_eq!(data.as_ptr(), frame.as_ptr(), "the frame was passed on, not copied");
        assert_eq!(data.len(), frame.len());
        assert!(rest.is_none() && net.nodes[1].poll_transmit().is_none());
    }
    assert_eq!(net.nodes[1].stats().forwarded, forwarded_before + 100);
}
