//! Forwarding: a node on a source route passes the unchanged frame to the
//! next hop, and reports a next hop it has no link to.

use bytes::Bytes;

use super::mesh::Mesh;
use crate::wire::link::{Data, Route, RouteError};
use crate::wire::{LinkMessage, NodeId};

/// Passes a frame along its route: returns true if this node is its
/// destination (the last entry).
pub(super) fn forward(m: &mut Mesh<'_>, route: &Route, raw: &Bytes, data: Option<&Data>) -> bool {
    let Some(pos) = route.position(&m.me) else {
        m.out.stats.dropped_unexpected += 1;
        return false;
    };
    if pos + 1 == route.len() {
        return true;
    }
    let Some(next) = route.id(pos + 1) else { return false };
    match m.link_to(&next) {
        Some(link) => {
            m.out.stats.forwarded += 1;
            // ACKs and ROUTE_ERRORs travel as control, DATA as data.
            match data {
                Some(d) => m.forward_data(link, raw.clone(), d.priority),
                None => m.send_control(link, raw.clone()),
            }
        }
        None => {
            m.out.stats.dropped_no_route += 1;
            if let Some(d) = data {
                report_route_error(m, route, pos, next, d);
            }
        }
    }
    false
}

fn report_route_error(m: &mut Mesh<'_>, route: &Route, pos: usize, next: NodeId, d: &Data) {
    let Some(back) = route.path_to(pos).and_then(|p| p.reversed_path()) else { return };
    let Some(first) = back.id(1) else { return };
    let err = RouteError {
        reporter: m.me,
        unreachable: next,
        seq: d.seq,
        channel: d.channel,
        semantics: d.semantics,
        route: back,
    };
    if let Some(link) = m.link_to(&first) {
        m.send_message(link, LinkMessage::RouteError(err));
    }
}
