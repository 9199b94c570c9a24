//! Link-state routing: this node's LSA, the database of everyone's (see
//! [`lsdb`]), flooding over the links, and SPF, whose result is the
//! membership (a peer is up while a route to it exists).

mod lsdb;
mod view;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::links::truncate;
use super::output::{LinkId, PeerInfo};
use super::timers::Timer;
use super::Node;
use crate::time::Instant;
use crate::wire::link::routing::LSA_FLUSH;
use crate::wire::link::{Intro, Lsa, LsaKey, Neighbour};
use crate::wire::{FixedList, HeaderList, NodeId, StrList};
use lsdb::{encode, peer_info, Encoded};
pub(crate) use lsdb::{Received, RouteEntry, Routing};
pub use view::LsdbEntry;

impl Node {
    fn own_lsa(&self, sequence: u64, flags: u8) -> Lsa {
        let mut peers = self.up_peers();
        peers.sort();
        peers.dedup();
        let neighbours: Vec<Neighbour> =
            peers.into_iter().map(|id| Neighbour { id, cost: 1 }).collect();
        Lsa {
            origin: self.id,
            incarnation: self.cfg.incarnation,
            sequence,
            age_s: 0,
            state: self.state,
            flags,
            link_addr: self.advertised_addr(),
            name: truncate(&self.cfg.name).into(),
            neighbours: FixedList::from_entries(neighbours.iter()),
            groups: StrList::from_names(self.groups.iter()).unwrap_or_default(),
            headers: HeaderList::from_pairs(self.headers.iter()).unwrap_or_default(),
        }
    }

    /// Originates our LSA at the earliest moment damping allows.
    pub(super) fn schedule_originate(&mut self, now: Instant) {
        self.routing.schedule_originate(&self.cfg, now, &mut self.out);
    }

    pub(super) fn schedule_spf(&mut self, now: Instant) {
        self.routing.schedule_spf(&self.cfg, now, &mut self.out);
    }

    pub(super) fn on_originate_timer(&mut self, now: Instant) {
        if self.shutting_down {
            return;
        }
        if let Some(sequence) = self.routing.originate(&self.cfg, now, &mut self.out) {
            let lsa = self.own_lsa(sequence, 0);
            self.flood_lsa(&lsa, None);
        }
    }

    /// Withdraws our LSA from the mesh (clean shutdown).
    pub(super) fn flood_flush(&mut self) {
        let sequence = self.routing.flush_sequence();
        let lsa = self.own_lsa(sequence, LSA_FLUSH);
        self.flood_lsa(&lsa, None);
    }

    fn flood_lsa(&mut self, lsa: &Lsa, except: Option<LinkId>) {
        if let Some(e) = encode(lsa, &mut self.out) {
            self.flood(e, except);
        }
    }

    /// Sends an encoded LSA on every up link but `except`.
    fn flood(&mut self, (key, data): Encoded, except: Option<LinkId>) {
        for link in self.up_links() {
            if Some(link) != except {
                self.send_lsa(link, key, data.clone());
            }
        }
    }

    /// A link came up: our LSA changes, and the new neighbour gets our whole
    /// database so it converges at once.
    pub(super) fn routing_link_up(&mut self, now: Instant, link: LinkId, intro: &Intro) {
        let sync = self.routing.neighbour_up(now, intro.node_id, intro.incarnation, &mut self.out);
        // Our own LSA follows from the origination this change schedules.
        self.self_changed(now);
        for (key, data) in sync {
            self.send_lsa(link, key, data);
        }
        self.schedule_spf(now);
    }

    pub(super) fn routing_link_down(&mut self, now: Instant, _peer: NodeId) {
        self.self_changed(now);
        self.schedule_spf(now);
    }

    pub(super) fn on_lsa(&mut self, now: Instant, link: LinkId, lsa: Lsa) {
        let origin = lsa.origin;
        // Datagram links: whatever becomes of it, it arrived.
        let key = LsaKey { origin, incarnation: lsa.incarnation, sequence: lsa.sequence };
        self.ack_lsa(now, link, key);
        let departed = self.membership.is_departed(&origin, lsa.incarnation);
        let origin_addr = self.links.get(&link).filter(|l| l.peer == Some(origin)).map(|l| l.addr);
        let me = (self.id, self.cfg.incarnation);
        let got =
            self.routing.receive(&self.cfg, now, me, lsa, departed, origin_addr, &mut self.out);
        match got {
            Received::Ignored => {}
            Received::OwnCopy => self.self_changed(now),
            Received::SendBack((key, data)) => self.send_lsa(link, key, data),
            Received::Flood(encoded) => {
                if let Some(e) = encoded {
                    self.flood(e, Some(link));
                }
                self.schedule_spf(now);
            }
            Received::FloodDeparted(encoded, id, incarnation) => {
                if let Some(e) = encoded {
                    self.flood(e, Some(link));
                }
                self.peer_departed(now, id, incarnation);
            }
        }
    }

    /// `id` (incarnation `inc`) left the mesh: forget its routing entry and
    /// let SPF report it down as left.
    pub(super) fn peer_departed(&mut self, now: Instant, id: NodeId, inc: u64) {
        if self.membership.is_departed(&id, inc) {
            return;
        }
        self.membership.mark_departed(id, inc, now, self.cfg.max_peers);
        self.routing.forget(&id, inc);
        self.schedule_spf(now);
        self.overlay_changed(now);
    }

    pub(super) fn on_spf_timer(&mut self, now: Instant) {
        self.routing.spf_started(&self.cfg, now, &mut self.out);
        let routes = self.routing.spf(self.id, &self.up_peers());
        let mut view: BTreeMap<NodeId, PeerInfo> = BTreeMap::new();
        for (id, r) in &routes {
            if let Some(info) = self.peer_info(id, r.hops) {
                view.insert(*id, info);
            }
        }
        self.routing.install(now, routes);
        let routes = &self.routing.routes;
        let routed = |id: &NodeId| routes.contains_key(id);
        self.membership.update(&self.cfg, now, view, routed, &mut self.out);
        self.overlay_changed(now);
    }

    /// What we know of a reachable node: its LSA, or for a neighbour whose
    /// LSA has not arrived yet, its HELLO.
    fn peer_info(&self, id: &NodeId, hops: u32) -> Option<PeerInfo> {
        if let Some(info) = self.routing.peer_info(id, hops) {
            return Some(info);
        }
        let (i, link_addr) = self.neighbour_intro(id)?;
        let addr = super::resolve_addr(i.link_addr, link_addr);
        Some(peer_info(*id, i.incarnation, &i.name, addr, i.state, &i.headers, &i.groups, hops))
    }

    /// Once a second: age the database, refresh our LSA, expire candidates.
    pub(super) fn on_housekeeping(&mut self, now: Instant) {
        if self.routing.expire(&self.cfg, now) {
            self.schedule_spf(now);
        }
        if self.routing.refresh_due(&self.cfg, now) {
            self.self_changed(now);
        }
        self.expire_candidates(now);
        self.expire_transport(now);
        self.membership.expire_departed(now, self.cfg.lsa_max_age);
        self.sample_traffic(now);
        self.out.timers.set(Timer::Housekeeping, now + super::HOUSEKEEPING);
    }
}
