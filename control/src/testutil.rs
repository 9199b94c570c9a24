//! Proptest strategies for the field types the admin and tracker messages
//! share with the core (whose own strategies are private to its tests).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use netcluster_core::wire::{NodeId, NodeState};
use proptest::prelude::*;

pub(crate) fn node_id() -> impl Strategy<Value = NodeId> {
    any::<[u8; 16]>().prop_map(NodeId)
}

pub(crate) fn state() -> impl Strategy<Value = NodeState> {
    (0u8..5).prop_map(|v| NodeState::from_u8(v).unwrap())
}

pub(crate) fn addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(ip)), port)),
        (any::<[u8; 16]>(), any::<u16>())
            .prop_map(|(ip, port)| SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port)),
    ]
}
