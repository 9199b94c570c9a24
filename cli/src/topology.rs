//! The mesh as one node's link-state database knows it: nodes with their
//! names, state and groups, the links each advertises with their costs,
//! the groups, and this node's routes. The agent serves it as
//! `/api/topology` (JSON); `netcluster topology` prints it as JSON or as a
//! Graphviz digraph.

use std::collections::{BTreeMap, BTreeSet};

use netcluster_tokio::{Node, NodeId};
use serde_json::{json, Value};

/// One node of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct TopoNode {
    /// Its id.
    pub id: NodeId,
    /// Its name, from its LSA (the agent's own: from its config).
    pub name: String,
    /// Its state, lower case (`ready`...).
    pub state: &'static str,
    /// Whether a route to it exists (always true for the agent itself).
    pub reachable: bool,
    /// Hops on the route to it (0 for the agent itself).
    pub hops: Option<u32>,
    /// The cost of the route to it (0 for the agent itself).
    pub cost: Option<u32>,
    /// The groups it is in.
    pub groups: Vec<String>,
    /// Whether it is the agent's own node.
    pub is_self: bool,
}

/// One advertised link, from the node that advertises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopoLink {
    /// The advertising node.
    pub from: NodeId,
    /// Its neighbour.
    pub to: NodeId,
    /// The advertised cost.
    pub cost: u32,
    /// Whether `to` advertises the link back (SPF uses only those).
    pub both_ways: bool,
}

/// The graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Topology {
    /// The cluster.
    pub cluster: String,
    /// The agent's own node id.
    pub self_id: Option<NodeId>,
    /// Every node: the agent first, then by id.
    pub nodes: Vec<TopoNode>,
    /// Every advertised link between two of `nodes`.
    pub links: Vec<TopoLink>,
    /// Every group with its members.
    pub groups: BTreeMap<String, Vec<NodeId>>,
    /// The agent's route to each reachable node: the path, the agent first.
    pub routes: BTreeMap<NodeId, Vec<NodeId>>,
}

impl Topology {
    /// The graph of `node`'s link-state database. Stale entries (origins
    /// that stopped being reachable) are left out: they prove nothing.
    pub fn of(node: &Node, cluster: &str) -> Topology {
        let me = node.id();
        let mut nodes = vec![TopoNode {
            id: me,
            name: node.config().name.clone(),
            state: node.state().as_str(),
            reachable: true,
            hops: Some(0),
            cost: Some(0),
            groups: node.groups().map(str::to_string).collect(),
            is_self: true,
        }];
        let mut edges: BTreeMap<(NodeId, NodeId), u32> = BTreeMap::new();
        for (_, peer) in node.neighbours() {
            edges.insert((me, peer), 1);
        }
        let mut routes = BTreeMap::new();
        for e in node.lsdb().filter(|e| !e.stale) {
            let l = e.lsa;
            if l.origin == me {
                continue;
            }
            let path = node.route_to(&l.origin);
            nodes.push(TopoNode {
                id: l.origin,
                name: l.name.to_string(),
                state: l.state.as_str(),
                reachable: e.reachable,
                hops: path.as_ref().map(|p| u32::try_from(p.len().saturating_sub(1)).unwrap_or(0)),
                cost: node.route_cost(&l.origin),
                groups: l.groups.iter().map(|g| g.to_string()).collect(),
                is_self: false,
            });
            if let Some(p) = path {
                routes.insert(l.origin, p);
            }
            for n in l.neighbours.iter() {
                edges.insert((l.origin, n.id), u32::from(n.cost));
            }
        }
        let known: BTreeSet<NodeId> = nodes.iter().map(|n| n.id).collect();
        let links = edges
            .iter()
            .filter(|((a, b), _)| a != b && known.contains(a) && known.contains(b))
            .map(|(&(from, to), &cost)| TopoLink {
                from,
                to,
                cost,
                both_ways: edges.contains_key(&(to, from)),
            })
            .collect();
        let mut groups: BTreeMap<String, Vec<NodeId>> = BTreeMap::new();
        for n in &nodes {
            for g in &n.groups {
                groups.entry(g.clone()).or_default().push(n.id);
            }
        }
        Topology { cluster: cluster.to_string(), self_id: Some(me), nodes, links, groups, routes }
    }

    /// As JSON: `{"cluster", "self", "nodes": [{"id", "name", "state",
    /// "reachable", "hops", "cost", "groups", "self"}], "links": [{"from",
    /// "to", "cost", "both_ways"}], "groups": [{"name", "members"}],
    /// "routes": [{"destination", "path", "cost"}]}`, ids as UUID strings.
    pub fn to_json(&self) -> Value {
        let id = |n: &NodeId| Value::from(n.to_string());
        let cost_of: BTreeMap<NodeId, Option<u32>> =
            self.nodes.iter().map(|n| (n.id, n.cost)).collect();
        json!({
            "cluster": self.cluster,
            "self": self.self_id.as_ref().map(id),
            "nodes": self.nodes.iter().map(|n| json!({
                "id": id(&n.id),
                "name": n.name,
                "state": n.state,
                "reachable": n.reachable,
                "hops": n.hops,
                "cost": n.cost,
                "groups": n.groups,
                "self": n.is_self,
            })).collect::<Vec<_>>(),
            "links": self.links.iter().map(|l| json!({
                "from": id(&l.from),
                "to": id(&l.to),
                "cost": l.cost,
                "both_ways": l.both_ways,
            })).collect::<Vec<_>>(),
            "groups": self.groups.iter().map(|(g, m)| json!({
                "name": g,
                "members": m.iter().map(id).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "routes": self.routes.iter().map(|(to, p)| json!({
                "destination": id(to),
                "path": p.iter().map(id).collect::<Vec<_>>(),
                "cost": cost_of.get(to).copied().flatten(),
            })).collect::<Vec<_>>(),
        })
    }

    /// As a Graphviz digraph: one node statement per node (label: name and
    /// state; the agent's own drawn bold, unreachable ones dashed), one
    /// edge per advertised link labelled with its cost.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph netcluster {\n");
        s.push_str(&format!("  label={};\n  node [shape=box];\n", quote(&self.cluster)));
        for n in &self.nodes {
            let mut attrs = format!("label={}", quote(&format!("{}\n{}", n.name, n.state)));
            if n.is_self {
                attrs.push_str(", style=bold");
            } else if !n.reachable {
                attrs.push_str(", style=dashed");
            }
            s.push_str(&format!("  {} [{attrs}];\n", quote(&n.id.to_string())));
        }
        for l in &self.links {
            let style = if l.both_ways { "" } else { ", style=dashed" };
            s.push_str(&format!(
                "  {} -> {} [label=\"{}\"{style}];\n",
                quote(&l.from.to_string()),
                quote(&l.to.to_string()),
                l.cost
            ));
        }
        s.push_str("}\n");
        s
    }

    /// Reads the JSON of [`Topology::to_json`] back (for `netcluster
    /// topology`, which gets it from an agent's HTTP API).
    pub fn from_json(v: &Value) -> Result<Topology, String> {
        let id = |v: &Value| -> Result<NodeId, String> {
            let s = v.as_str().ok_or("an id is not a string")?;
            uuid::Uuid::parse_str(s).map(NodeId::from).map_err(|_| format!("bad node id `{s}`"))
        };
        let arr = |key: &str| -> Result<Vec<Value>, String> {
            v[key].as_array().cloned().ok_or_else(|| format!("no `{key}` array"))
        };
        let mut t = Topology {
            cluster: v["cluster"].as_str().unwrap_or_default().to_string(),
            self_id: v["self"]
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .map(NodeId::from),
            ..Topology::default()
        };
        for n in arr("nodes")? {
            let num = |k: &str| n[k].as_u64().and_then(|x| u32::try_from(x).ok());
            t.nodes.push(TopoNode {
                id: id(&n["id"])?,
                name: n["name"].as_str().unwrap_or_default().to_string(),
                state: state_name(n["state"].as_str().unwrap_or_default()),
                reachable: n["reachable"].as_bool().unwrap_or(false),
                hops: num("hops"),
                cost: num("cost"),
                groups: n["groups"]
                    .as_array()
                    .map(|g| g.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    .unwrap_or_default(),
                is_self: n["self"].as_bool().unwrap_or(false),
            });
        }
        for l in arr("links")? {
            t.links.push(TopoLink {
                from: id(&l["from"])?,
                to: id(&l["to"])?,
                cost: l["cost"].as_u64().and_then(|c| u32::try_from(c).ok()).unwrap_or(0),
                both_ways: l["both_ways"].as_bool().unwrap_or(false),
            });
        }
        for g in arr("groups")? {
            let members = g["members"].as_array().map(Vec::as_slice).unwrap_or_default();
            let members = members.iter().map(id).collect::<Result<Vec<_>, _>>()?;
            t.groups.insert(g["name"].as_str().unwrap_or_default().to_string(), members);
        }
        for r in arr("routes")? {
            let path = r["path"].as_array().map(Vec::as_slice).unwrap_or_default();
            t.routes.insert(id(&r["destination"])?, path.iter().map(id).collect::<Result<_, _>>()?);
        }
        Ok(t)
    }
}

/// Reads `/api/topology` from the agent serving HTTP at `addr`.
pub async fn fetch(addr: std::net::SocketAddr) -> Result<Topology, String> {
    use http_body_util::BodyExt;
    let limit = std::time::Duration::from_secs(10);
    let get = async {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        let io = hyper_util::rt::TokioIo::new(tcp);
        let (mut send, conn) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| format!("HTTP to {addr}: {e}"))?;
        tokio::spawn(conn);
        let req = hyper::Request::get("/api/topology")
            .header(hyper::header::HOST, addr.to_string())
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .map_err(|e| e.to_string())?;
        let resp = send.send_request(req).await.map_err(|e| format!("HTTP to {addr}: {e}"))?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), 64 << 20)
            .collect()
            .await
            .map_err(|e| format!("reading the answer of {addr}: {e}"))?
            .to_bytes();
        if !status.is_success() {
            return Err(format!(
                "{addr} answered {status}: {}",
                String::from_utf8_lossy(&body).trim()
            ));
        }
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| format!("{addr} answered no JSON: {e}"))?;
        Topology::from_json(&v)
    };
    tokio::time::timeout(limit, get)
        .await
        .unwrap_or_else(|_| Err(format!("no answer from {addr} within {limit:?}")))
}

/// The static name of a state as JSON spells it (`unknown` if it is none
/// this version knows).
fn state_name(s: &str) -> &'static str {
    use netcluster_tokio::NodeState as S;
    (0..=u8::MAX)
        .map_while(|v| S::from_u8(v).ok())
        .map(|x| x.as_str())
        .find(|x| *x == s)
        .unwrap_or("unknown")
}

/// A Graphviz quoted string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Topology {
        let (a, b) = (NodeId([1; 16]), NodeId([2; 16]));
        let node = |id, name: &str, me: bool| TopoNode {
            id,
            name: name.into(),
            state: "ready",
            reachable: true,
            hops: Some(u32::from(!me)),
            cost: Some(u32::from(!me)),
            groups: vec!["g".into()],
            is_self: me,
        };
        Topology {
            cluster: "c\"x".into(),
            self_id: Some(a),
            nodes: vec![node(a, "a", true), node(b, "b\"q", false)],
            links: vec![
                TopoLink { from: a, to: b, cost: 1, both_ways: true },
                TopoLink { from: b, to: a, cost: 1, both_ways: true },
            ],
            groups: [("g".to_string(), vec![a, b])].into_iter().collect(),
            routes: [(b, vec![a, b])].into_iter().collect(),
        }
    }

    #[test]
    fn json_round_trips() {
        let t = sample();
        assert_eq!(Topology::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn dot_quotes_names_and_lists_every_edge() {
        let dot = sample().to_dot();
        assert!(dot.starts_with("digraph netcluster {\n"), "{dot}");
        assert!(dot.contains("label=\"b\\\"q\\nready\""), "{dot}");
        assert_eq!(dot.matches(" -> ").count(), 2, "{dot}");
        assert!(dot.trim_end().ends_with('}'));
    }
}
