//! Many messages to one peer in one call to the node: the drivers'
//! `Handle::send_many`.

use bytes::Bytes;
pub use netcluster_core::node::SendMany;
use netcluster_core::node::SendOptions;
use netcluster_core::{Instant, Node, NodeId};

/// Hands `payloads` to `node` as messages to `to`, in order, stopping at the
/// first one it refuses ([`Node::send_many`]: small ones leave bundled).
/// The caller drains the node's outputs afterwards, as after any command.
pub fn send_many(
    node: &mut Node,
    now: Instant,
    to: NodeId,
    how: impl Into<SendOptions>,
    payloads: impl IntoIterator<Item = Bytes>,
) -> SendMany {
    node.send_many(now, to, how, payloads)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use netcluster_sim::Direct;

    use super::*;
    use netcluster_core::node::SendError;
    use netcluster_core::wire::link::Semantics;

    #[test]
    fn stops_at_the_first_refusal_and_keeps_order() {
        let mut net = Direct::new(2);
        net.connect(0, 1);
        net.advance(Duration::from_secs(2));
        let to = net.nodes[1].id();
        let window = net.nodes[0].config().send_window;
        let now = net.now();
        let payloads = (0..window as u32 + 5).map(|i| Bytes::from(i.to_be_bytes().to_vec()));
        let r = send_many(&mut net.nodes[0], now, to, Semantics::Sequenced, payloads);
        assert_eq!(r.ids.len(), window, "a full window is accepted, no more");
        assert_eq!(r.refused, Some(SendError::WouldBlock));
        let mut sorted = r.ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), r.ids.len(), "every id is distinct");
    }

    #[test]
    fn an_unknown_peer_refuses_the_first() {
        let mut net = Direct::new(1);
        let now = net.now();
        let payloads = vec![Bytes::from_static(b"x"); 3];
        let r = send_many(&mut net.nodes[0], now, NodeId([9; 16]), Semantics::Reliable, payloads);
        assert!(r.ids.is_empty());
        assert!(r.refused.is_some(), "an unreachable peer is refused");
    }
}
