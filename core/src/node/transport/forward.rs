//! Forwarding: a node on a source route passes the unchanged frame to the
//! next hop, and reports a next hop it has no link to.

use bytes::Bytes;

use super::super::Node;
use crate::time::Instant;
use crate::wire::link::{Data, Route, RouteError};
use crate::wire::{LinkMessage, NodeId};

impl Node {
    /// Passes a frame along its route: returns true if this node is its
    /// destination (the last entry).
    pub(super) fn forward(
        &mut self,
        now: Instant,
        route: &Route,
        raw: &Bytes,
        data: Option<&Data>,
    ) -> bool {
        let Some(pos) = route.position(&self.id) else {
            self.out.stats.dropped_unexpected += 1;
            return false;
        };
        if pos + 1 == route.len() {
            return true;
        }
        let Some(next) = route.id(pos + 1) else { return false };
        match self.link_to(&next) {
            Some(link) => {
                self.out.stats.forwarded += 1;
                // ACKs and ROUTE_ERRORs travel as control, DATA as data.
                if data.is_some() {
                    self.send_data_bytes(link, raw.clone());
                } else {
                    self.send_link_bytes(link, raw.clone());
                }
            }
            None => {
                self.out.stats.dropped_no_route += 1;
                if let Some(d) = data {
                    self.report_route_error(now, route, pos, next, d);
                }
            }
        }
        false
    }

    fn report_route_error(
        &mut self,
        _now: Instant,
        route: &Route,
        pos: usize,
        next: NodeId,
        d: &Data,
    ) {
        let Some(back) = route.path_to(pos).and_then(|p| p.reversed_path()) else { return };
        let Some(first) = back.id(1) else { return };
        let err = RouteError {
            reporter: self.id,
            unreachable: next,
            seq: d.seq,
            channel: d.channel,
            semantics: d.semantics,
            route: back,
        };
        if let Some(link) = self.link_to(&first) {
            self.send_link(link, LinkMessage::RouteError(err));
        }
    }
}
