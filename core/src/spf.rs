//! Shortest paths first: Dijkstra with a binary heap over a compact graph.
//!
//! Nodes are interned to dense `u32` indices once, so the search itself
//! touches only vectors. Ties between equal-cost paths are broken by fewer
//! hops, then by the smaller first-hop index, so every node computes the
//! same tree from the same database.
//!
//! ```
//! use netcluster_core::spf::Graph;
//! use netcluster_core::NodeId;
//!
//! let mut g = Graph::new();
//! let (a, b, c) = (g.intern(NodeId([1; 16])), g.intern(NodeId([2; 16])), g.intern(NodeId([3; 16])));
//! g.edge(a, b, 1);
//! g.edge(b, c, 1);
//! g.edge(a, c, 5);
//! let tree = g.shortest_paths(a);
//! assert_eq!(tree.cost(c), Some(2));
//! assert_eq!(tree.hops(c), Some(2));
//! assert_eq!(tree.first_hop(c), Some(b));
//! assert_eq!(tree.path(c), vec![a, b, c]);
//! ```

use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::wire::NodeId;

/// Index of an interned node.
pub type Ix = u32;

const NONE: Ix = Ix::MAX;

/// A directed graph with integer costs.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    ids: Vec<NodeId>,
    index: BTreeMap<NodeId, Ix>,
    adj: Vec<Vec<(Ix, u32)>>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Graph {
        Graph::default()
    }

    /// The index of `id`, adding it if new.
    pub fn intern(&mut self, id: NodeId) -> Ix {
        if let Some(&ix) = self.index.get(&id) {
            return ix;
        }
        let ix = self.ids.len() as Ix;
        self.ids.push(id);
        self.index.insert(id, ix);
        self.adj.push(Vec::new());
        ix
    }

    /// The index of `id`, if present.
    pub fn get(&self, id: &NodeId) -> Option<Ix> {
        self.index.get(id).copied()
    }

    /// The id at index `ix`.
    pub fn id(&self, ix: Ix) -> NodeId {
        self.ids[ix as usize]
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the graph has no nodes.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds a directed edge.
    pub fn edge(&mut self, from: Ix, to: Ix, cost: u32) {
        self.adj[from as usize].push((to, cost));
    }

    /// The edges leaving `ix`.
    pub fn edges(&self, ix: Ix) -> &[(Ix, u32)] {
        &self.adj[ix as usize]
    }

    /// Dijkstra from `source`.
    pub fn shortest_paths(&self, source: Ix) -> PathTree {
        let n = self.ids.len();
        let mut t = PathTree {
            cost: vec![u32::MAX; n],
            hops: vec![u32::MAX; n],
            parent: vec![NONE; n],
            first: vec![NONE; n],
            source,
        };
        if (source as usize) >= n {
            return t;
        }
        let mut done = vec![false; n];
        let mut heap = BinaryHeap::with_capacity(n);
        t.cost[source as usize] = 0;
        t.hops[source as usize] = 0;
        heap.push(Reverse((0u32, 0u32, NONE, source)));
        while let Some(Reverse((cost, hops, first, u))) = heap.pop() {
            let ui = u as usize;
            if done[ui] {
                continue;
            }
            done[ui] = true;
            for &(v, c) in &self.adj[ui] {
                let vi = v as usize;
                if done[vi] {
                    continue;
                }
                let nc = cost.saturating_add(c);
                let nh = hops + 1;
                let nf = if u == source { v } else { first };
                let better = (nc, nh, nf) < (t.cost[vi], t.hops[vi], t.first[vi]);
                if better {
                    t.cost[vi] = nc;
                    t.hops[vi] = nh;
                    t.first[vi] = nf;
                    t.parent[vi] = u;
                    heap.push(Reverse((nc, nh, nf, v)));
                }
            }
        }
        t
    }
}

/// The result of [`Graph::shortest_paths`].
#[derive(Debug, Clone)]
pub struct PathTree {
    cost: Vec<u32>,
    hops: Vec<u32>,
    parent: Vec<Ix>,
    first: Vec<Ix>,
    source: Ix,
}

impl PathTree {
    fn reached(&self, ix: Ix) -> bool {
        self.cost.get(ix as usize).is_some_and(|&c| c != u32::MAX)
    }

    /// Total cost to `ix`, if reachable.
    pub fn cost(&self, ix: Ix) -> Option<u32> {
        self.reached(ix).then(|| self.cost[ix as usize])
    }

    /// Hops to `ix`, if reachable.
    pub fn hops(&self, ix: Ix) -> Option<u32> {
        self.reached(ix).then(|| self.hops[ix as usize])
    }

    /// The neighbour of the source the path to `ix` starts with.
    pub fn first_hop(&self, ix: Ix) -> Option<Ix> {
        let f = *self.first.get(ix as usize)?;
        (f != NONE).then_some(f)
    }

    /// The node before `ix` on its path.
    pub fn parent(&self, ix: Ix) -> Option<Ix> {
        let p = *self.parent.get(ix as usize)?;
        (p != NONE).then_some(p)
    }

    /// The path from the source to `ix`, both included; empty if
    /// unreachable.
    pub fn path(&self, ix: Ix) -> Vec<Ix> {
        if !self.reached(ix) {
            return Vec::new();
        }
        let mut out = vec![ix];
        let mut at = ix;
        while at != self.source {
            match self.parent(at) {
                Some(p) => {
                    out.push(p);
                    at = p;
                }
                None => return Vec::new(),
            }
        }
        out.reverse();
        out
    }

    /// Every reachable node but the source.
    pub fn reachable(&self) -> impl Iterator<Item = Ix> + '_ {
        (0..self.cost.len() as Ix).filter(move |&i| i != self.source && self.reached(i))
    }
}
