//! The lines children print on their standard output for the
//! orchestrator, one message a line, a keyword first:
//!
//! | line | printed by | meaning |
//! | --- | --- | --- |
//! | `ready <addr> [<id>]` | every role once it serves | its link (or TCP) address; a mesh node that seeds its predecessor says it only once that link is up |
//! | `route <nodes> <id>...` | `pub`, `ping` | the source route to the node at position 0, this node first |
//! | `start <ns>` | `pub`, `tcp-pub` | wall clock just before the first message |
//! | `sent <ns>` | `pub`, `tcp-pub` | the last message was handed over |
//! | `done <ns> <count>` | `sub`, `tcp-sink` | wall clock at the last message, all checked in order |
//! | `delivered <ns>` | `pub` | every message acknowledged |
//! | `route-after <nodes>` | `pub` | the route once every message was acknowledged |
//! | `rtt <p50 ns> <p99 ns> <n>` | `ping`, `tcp-ping` | round trips measured |
//! | `error <text>` | any | the cell failed |
//!
//! Times are nanoseconds of the system's wall clock since the Unix epoch:
//! every process on the host reads the same clock, so a sender's `start`
//! and a receiver's `done` bound one transfer.

use std::time::{SystemTime, UNIX_EPOCH};

use netcluster_tokio::NodeId;

/// Nanoseconds since the Unix epoch, by the system's wall clock.
pub fn unix_ns() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Prints one protocol line (standard output is line-buffered: each line
/// leaves at once).
pub fn say(line: impl AsRef<str>) {
    println!("{}", line.as_ref());
}

/// The id of the node at position `pos` of a cell's line: ids rise along
/// the line, from the receiver (0) to the sender.
pub fn node_id(pos: u8) -> NodeId {
    let mut b = *b"\0netcluster-bnch";
    b[0] = pos + 1;
    NodeId(b)
}

/// Short form of an id for the output: its position on the line, or `?`.
pub fn short(id: &NodeId) -> String {
    if id.0[1..] == node_id(0).0[1..] {
        format!("n{}", id.0[0] - 1)
    } else {
        "?".into()
    }
}

/// A payload of `size` bytes (at least 8) carrying `i` in its first eight.
pub fn payload(size: usize, i: u64) -> Vec<u8> {
    let mut v = vec![0x5a; size.max(8)];
    v[..8].copy_from_slice(&i.to_le_bytes());
    v
}

/// The index a [`payload`] carries.
pub fn index(p: &[u8]) -> Option<u64> {
    let b: [u8; 8] = p.get(..8)?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_carry_their_index() {
        for size in [8, 64, 1 << 20] {
            let p = payload(size, 42);
            assert_eq!(p.len(), size);
            assert_eq!(index(&p), Some(42));
        }
        assert_eq!(index(b"short"), None);
    }

    #[test]
    fn ids_rise_along_the_line() {
        assert!(node_id(0) < node_id(1) && node_id(1) < node_id(4));
        assert_eq!(short(&node_id(3)), "n3");
        assert_eq!(short(&NodeId([7; 16])), "?");
    }
}
