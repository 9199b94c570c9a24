//! Turning what a user typed (a node name or id) into a node id.

use netcluster_tokio::{NodeId, PeerInfo};

/// Why a target could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The empty string names nothing.
    #[error("empty node name")]
    Empty,
    /// No reachable peer has that name or id.
    #[error("unknown node `{0}`")]
    Unknown(String),
    /// Several reachable peers share that name.
    #[error("{count} nodes are named `{name}`; give one of their ids: {ids}")]
    Ambiguous {
        /// The name.
        name: String,
        /// How many have it.
        count: usize,
        /// Their ids, comma-separated.
        ids: String,
    },
    /// The target is the agent's own node.
    #[error("`{0}` is this agent's own node")]
    Myself(String),
}

/// Resolves `target` among `peers`: the text form of an id first, then an
/// exact name. `me` is the agent's own id and `my_name` its name.
pub fn resolve(
    target: &str,
    me: NodeId,
    my_name: &str,
    peers: &[PeerInfo],
) -> Result<NodeId, ResolveError> {
    if target.is_empty() {
        return Err(ResolveError::Empty);
    }
    if let Ok(u) = uuid::Uuid::parse_str(target) {
        let id = NodeId::from(u);
        if id == me {
            return Err(ResolveError::Myself(target.to_string()));
        }
        if peers.iter().any(|p| p.id == id) {
            return Ok(id);
        }
        return Err(ResolveError::Unknown(target.to_string()));
    }
    let named: Vec<&PeerInfo> = peers.iter().filter(|p| p.name == target).collect();
    match named.as_slice() {
        [one] => Ok(one.id),
        [] if target == my_name => Err(ResolveError::Myself(target.to_string())),
        [] => Err(ResolveError::Unknown(target.to_string())),
        many => Err(ResolveError::Ambiguous {
            name: target.to_string(),
            count: many.len(),
            ids: many.iter().map(|p| p.id.to_string()).collect::<Vec<_>>().join(", "),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcluster_tokio::NodeState;

    fn peer(n: u8, name: &str) -> PeerInfo {
        PeerInfo {
            id: NodeId([n; 16]),
            incarnation: 1,
            name: name.into(),
            addr: "127.0.0.1:1".parse().unwrap(),
            state: NodeState::Ready,
            headers: vec![],
            groups: vec![],
            hops: 1,
            traffic: Default::default(),
        }
    }

    #[test]
    fn by_name_id_and_errors() {
        let me = NodeId([9; 16]);
        let peers = vec![peer(1, "a"), peer(2, "b"), peer(3, "b")];
        assert_eq!(resolve("a", me, "me", &peers), Ok(NodeId([1; 16])));
        let id2 = NodeId([2; 16]).to_string();
        assert_eq!(resolve(&id2, me, "me", &peers), Ok(NodeId([2; 16])));
        assert!(matches!(
            resolve("b", me, "me", &peers),
            Err(ResolveError::Ambiguous { count: 2, .. })
        ));
        assert_eq!(resolve("zz", me, "me", &peers), Err(ResolveError::Unknown("zz".into())));
        assert_eq!(resolve("me", me, "me", &peers), Err(ResolveError::Myself("me".into())));
        assert_eq!(resolve("", me, "me", &peers), Err(ResolveError::Empty));
        let unknown_id = NodeId([7; 16]).to_string();
        assert!(matches!(resolve(&unknown_id, me, "me", &peers), Err(ResolveError::Unknown(_))));
    }
}
