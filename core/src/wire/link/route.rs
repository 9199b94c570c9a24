//! Source routes: a path or a distribution tree, carried by DATA, ACK and
//! ROUTE_ERROR.
//!
//! A route of `n` entries is `n` node ids (16 bytes each) followed by `n`
//! parent indices (one byte each). Entry 0 is the origin and its parent is
//! `0xff`; every other entry's parent is an earlier entry (`parent[i] < i`),
//! so the entries form a tree rooted at the origin, listed parents first, and
//! no id appears twice. A unicast path has `parent[i] = i - 1`; its last
//! entry is the destination.
//!
//! A node forwarding a frame finds its own entry and sends the unchanged
//! frame to each entry whose parent it is: nothing is rewritten, so
//! forwarding neither copies the frame nor allocates.
//!
//! A [`Route`] holds its entries inline (up to [`INLINE_ENTRIES`] without
//! allocating), copied out of the frame when parsed: a few dozen bytes
//! copied cost less than sharing the frame's buffer, whose reference count
//! every holder would touch (and, held by another thread, bounce between
//! cores).

use alloc::vec::Vec;
use core::fmt;

use smallvec::SmallVec;

use super::super::codec::Reader;
use super::super::error::{Error, Result};
use super::super::lists::FixedEntry;
use super::super::types::NodeId;

/// Entries a route holds without allocating: a path of up to three relays.
pub const INLINE_ENTRIES: usize = INLINE_BYTES / ENTRY;

/// Inline storage (a size `smallvec` supports).
const INLINE_BYTES: usize = 96;

/// Parent index of the root entry.
pub const ROOT_PARENT: u8 = 0xff;

/// A validated source route.
#[derive(Clone, PartialEq, Eq)]
pub struct Route {
    /// The encoding: the ids, 16 bytes each, then one parent byte each.
    raw: SmallVec<[u8; INLINE_BYTES]>,
}

/// Encoded bytes per entry.
const ENTRY: usize = NodeId::SIZE + 1;

impl fmt::Debug for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.ids().zip(self.parent_bytes().iter())).finish()
    }
}

impl Route {
    /// Reads `count` entries (ids then parents) and checks the tree rules.
    pub(crate) fn parse(r: &mut Reader<'_>, count: usize, max: usize) -> Result<Self> {
        if count == 0 {
            return Err(Error::Malformed { field: "route_count" });
        }
        if count > max {
            return Err(Error::Oversized { field: "route_ids", len: count, max });
        }
        // Cannot overflow where it could fit in the input anyway.
        let len = count.checked_mul(NodeId::SIZE).ok_or(Error::Truncated { field: "route_ids" })?;
        let ids = r.slice(len, "route_ids")?;
        let parents = r.slice(count, "route_parents")?;
        check_tree(ids, parents)?;
        let mut raw = SmallVec::with_capacity(count * ENTRY);
        raw.extend_from_slice(ids);
        raw.extend_from_slice(parents);
        Ok(Route { raw })
    }

    /// A unicast path: origin first, destination last. Fails on an empty
    /// path, a repeated id or more than 255 entries.
    pub fn path(hops: &[NodeId]) -> Result<Route> {
        let parents: Vec<u8> =
            (0..hops.len()).map(|i| if i == 0 { ROOT_PARENT } else { (i - 1) as u8 }).collect();
        Self::tree(hops, &parents)
    }

    /// A distribution tree from ids and parent indices (see the module doc
    /// for the rules).
    pub fn tree(ids: &[NodeId], parents: &[u8]) -> Result<Route> {
        if ids.is_empty() || ids.len() != parents.len() {
            return Err(Error::Malformed { field: "route_count" });
        }
        if ids.len() > 255 {
            return Err(Error::Oversized { field: "route_count", len: ids.len(), max: 255 });
        }
        let mut raw = SmallVec::with_capacity(ids.len() * ENTRY);
        for id in ids {
            raw.extend_from_slice(id.as_bytes());
        }
        raw.extend_from_slice(parents);
        check_tree(&raw[..ids.len() * NodeId::SIZE], parents)?;
        Ok(Route { raw })
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.raw.len() / ENTRY
    }

    /// Always false: a route has at least its origin.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Entry `i`'s id.
    pub fn id(&self, i: usize) -> Option<NodeId> {
        (i < self.len()).then(|| NodeId::decode(&self.raw[i * NodeId::SIZE..]))
    }

    /// Entry `i`'s parent index (`None` for the root or out of range).
    pub fn parent(&self, i: usize) -> Option<usize> {
        match *self.parent_bytes().get(i)? {
            ROOT_PARENT => None,
            p => Some(p as usize),
        }
    }

    /// The origin (entry 0).
    pub fn origin(&self) -> NodeId {
        self.id(0).unwrap_or(NodeId::NIL)
    }

    /// The last entry: the destination of a unicast path.
    pub fn last(&self) -> NodeId {
        self.id(self.len().saturating_sub(1)).unwrap_or(NodeId::NIL)
    }

    /// Whether the route is a simple path (`parent[i] = i - 1`).
    pub fn is_path(&self) -> bool {
        self.parent_bytes().iter().enumerate().skip(1).all(|(i, &p)| p as usize == i - 1)
    }

    /// The index of `id`, if it is on the route.
    pub fn position(&self, id: &NodeId) -> Option<usize> {
        self.id_bytes().chunks_exact(NodeId::SIZE).position(|c| c == id.as_bytes())
    }

    /// Indices of the entries whose parent is entry `i`.
    pub fn children(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.parent_bytes()
            .iter()
            .enumerate()
            .skip(i + 1)
            .filter(move |(_, &p)| p != ROOT_PARENT && p as usize == i)
            .map(|(j, _)| j)
    }

    /// The ids, in entry order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = NodeId> + '_ {
        self.id_bytes().chunks_exact(NodeId::SIZE).map(NodeId::decode)
    }

    /// The same path walked backwards (destination first); `None` unless
    /// the route is a path. Used to send ACKs and route errors home.
    pub fn reversed_path(&self) -> Option<Route> {
        if !self.is_path() {
            return None;
        }
        let mut ids: Vec<NodeId> = self.ids().collect();
        ids.reverse();
        Route::path(&ids).ok()
    }

    /// The path from the origin to entry `i` (origin first).
    pub fn path_to(&self, i: usize) -> Option<Route> {
        let mut chain = Vec::new();
        let mut at = Some(i);
        while let Some(j) = at {
            chain.push(self.id(j)?);
            at = self.parent(j);
            if chain.len() > self.len() {
                return None;
            }
        }
        chain.reverse();
        Route::path(&chain).ok()
    }

    /// Encoded size: 17 bytes per entry.
    pub fn encoded_len(&self) -> usize {
        self.raw.len()
    }

    /// The encoded ids.
    pub(crate) fn id_bytes(&self) -> &[u8] {
        &self.raw[..self.len() * NodeId::SIZE]
    }

    /// The encoded parent indices.
    pub(crate) fn parent_bytes(&self) -> &[u8] {
        &self.raw[self.len() * NodeId::SIZE..]
    }
}

fn check_tree(ids: &[u8], parents: &[u8]) -> Result<()> {
    for (i, &p) in parents.iter().enumerate() {
        let ok = if i == 0 { p == ROOT_PARENT } else { (p as usize) < i };
        if !ok {
            return Err(Error::Malformed { field: "route_parents" });
        }
    }
    // Routes are short (bounded by `max_route`), so the quadratic check is
    // cheaper than any set; a repeated id would let a frame loop.
    let n = parents.len();
    for i in 0..n {
        let a = &ids[i * 16..i * 16 + 16];
        for j in i + 1..n {
            if a == &ids[j * 16..j * 16 + 16] {
                return Err(Error::Malformed { field: "route_ids" });
            }
        }
    }
    Ok(())
}
