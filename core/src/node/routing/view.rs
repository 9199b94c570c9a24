//! A read-only view of the link-state database, for tools that draw or
//! export the mesh (the agent's `/api/topology`, `netcluster topology`).

use crate::wire::link::Lsa;
use crate::wire::NodeId;

use super::super::Node;

/// One origin's entry in the link-state database, as this node holds it.
#[derive(Debug, Clone, Copy)]
pub struct LsdbEntry<'a> {
    /// The origin's latest LSA: name, state, groups, advertised
    /// neighbours and their costs.
    pub lsa: &'a Lsa,
    /// Whether SPF found a route to the origin in its last run.
    pub reachable: bool,
    /// Whether the entry is stale: its origin stopped being reachable, so
    /// the entry proves no link until a newer LSA arrives (SPF skips it).
    pub stale: bool,
}

impl Node {
    /// Every other origin's entry in the link-state database, by node id.
    /// This node's own links are [`Node::neighbours`] (its LSA is not
    /// stored here).
    pub fn lsdb(&self) -> impl Iterator<Item = LsdbEntry<'_>> + '_ {
        let r = &self.routing;
        r.db.iter().map(move |(id, e)| LsdbEntry {
            lsa: &e.lsa,
            reachable: r.routes.contains_key(id),
            stale: r.is_stale(id),
        })
    }

    /// The cost of the current route to `to`, if reachable.
    pub fn route_cost(&self, to: &NodeId) -> Option<u32> {
        self.routing.routes.get(to).map(|r| r.cost)
    }
}
