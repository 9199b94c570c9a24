//! A zero-latency bench harness: nodes wired to each other by in-memory
//! stream links, pumped synchronously, with time moved by hand.
//!
//! Unlike [`Sim`](crate::Sim) it models nothing (no latency, loss or
//! scheduling), so that a benchmark or an allocation count can hold one
//! node in steady state and drive it directly, input by input.
//!
//! ```
//! use std::time::Duration;
//! use netcluster_sim::Direct;
//!
//! let mut net = Direct::new(3);
//! net.connect(0, 1);
//! net.connect(1, 2);
//! net.advance(Duration::from_secs(2));
//! let c = net.nodes[2].id();
//! assert_eq!(net.nodes[0].peer(&c).map(|p| p.hops), Some(2));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::{LinkCloseReason, LinkId, Transmit};
use netcluster_core::{Config, Event, Instant, Node, NodeId};

/// Nodes joined by in-memory links: built with [`Direct::new`], wired with
/// [`Direct::connect`], moved on with [`Direct::advance`] and [`Direct::pump`].
pub struct Direct {
    /// The nodes, by index.
    pub nodes: Vec<Node>,
    /// Each node's events not yet taken by the caller.
    pub events: Vec<Vec<Event>>,
    /// Whether each node's application takes messages (see
    /// [`set_reading`](Self::set_reading)).
    reading: Vec<bool>,
    addrs: Vec<SocketAddr>,
    /// (node, its link) to (peer node, the peer's link).
    links: BTreeMap<(usize, LinkId), (usize, LinkId)>,
    /// Pairs allowed to link (either way); other connects fail, so the
    /// topology is the one the caller built.
    allowed: BTreeSet<(usize, usize)>,
    now: Instant,
}

impl Direct {
    /// `n` nodes of one cluster with [`Config::lan`], beacons off, each
    /// at 10.0.0.(i+1):7400.
    pub fn new(n: usize) -> Direct {
        Direct::with_config(n, |_, _| {})
    }

    /// As [`new`](Self::new), with each node's configuration changed by
    /// `tune(index, config)` first.
    pub fn with_config(n: usize, tune: impl Fn(usize, &mut Config)) -> Direct {
        let now = Instant::ZERO;
        let mut nodes = Vec::with_capacity(n);
        let mut addrs = Vec::with_capacity(n);
        for i in 0..n {
            let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, i as u8 + 1)), 7400);
            let mut cfg = Config::lan("direct", format!("d{i}"));
            cfg.beacons = false;
            cfg.search_on_start = false;
            cfg.link_addr = addr;
            tune(i, &mut cfg);
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
            let node =
                Node::new(cfg, NodeId(id), netcluster_core::Seed::deterministic(i as u64), now)
                    .unwrap_or_else(|e| panic!("Direct: invalid configuration for node {i}: {e}"));
            nodes.push(node);
            addrs.push(addr);
        }
        let mut net = Direct {
            events: vec![Vec::new(); n],
            reading: vec![true; n],
            nodes,
            addrs,
            links: BTreeMap::new(),
            allowed: BTreeSet::new(),
            now,
        };
        net.pump();
        net
    }

    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Lets nodes `a` and `b` link (no other pair can), makes `a` link to
    /// `b` (as a seed), and pumps.
    pub fn connect(&mut self, a: usize, b: usize) {
        self.allowed.insert((a.min(b), a.max(b)));
        self.nodes[a].add_seed(self.now, self.addrs[b]);
        self.pump();
    }

    /// Makes node `i`'s application stop (`false`) or resume taking
    /// messages: while stopped, [`pump`](Self::pump) takes only its other
    /// events and messages wait in the node's inbox.
    pub fn set_reading(&mut self, i: usize, on: bool) {
        self.reading[i] = on;
        self.pump();
    }

    /// Node `a`'s up link to node `b`, if there is one.
    pub fn link(&self, a: usize, b: usize) -> Option<LinkId> {
        let peer = self.nodes[b].id();
        self.nodes[a].neighbours().find(|(_, p)| *p == peer).map(|(l, _)| l)
    }

    /// Moves time by `d` in steps of at most 10 ms, firing every timer due
    /// and pumping after each step.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            let step = (end - self.now).min(Duration::from_millis(10));
            self.now += step;
            for n in &mut self.nodes {
                while n.poll_timeout().is_some_and(|t| t <= self.now) {
                    n.handle_timeout(self.now);
                }
            }
            self.pump();
        }
    }

    /// Carries out every node's transmits (and collects their events in
    /// [`events`](Self::events)) until nothing is left to do.
    pub fn pump(&mut self) {
        loop {
            let mut busy = false;
            for i in 0..self.nodes.len() {
                while let Some(t) = self.nodes[i].poll_transmit() {
                    busy = true;
                    self.carry(i, t);
                }
                loop {
                    let e = if self.reading[i] {
                        self.nodes[i].poll_event()
                    } else {
                        self.nodes[i].poll_control_event()
                    };
                    let Some(e) = e else { break };
                    busy |= matches!(e, Event::Message { .. });
                    self.events[i].push(e);
                }
            }
            if !busy {
                return;
            }
        }
    }

    fn carry(&mut self, from: usize, t: Transmit) {
        let now = self.now;
        match t {
            Transmit::Connect { link, addr } => {
                let to = self.addrs.iter().position(|a| *a == addr);
                let Some(to) =
                    to.filter(|&to| self.allowed.contains(&(from.min(to), from.max(to))))
                else {
                    self.nodes[from].link_closed(now, link, LinkCloseReason::ConnectFailed);
                    return;
                };
                let theirs = self.nodes[to].link_accepted(now, self.addrs[from], addr);
                self.links.insert((from, link), (to, theirs));
                self.links.insert((to, theirs), (from, link));
                self.nodes[from].link_connected(now, link, self.addrs[from]);
            }
            Transmit::Ready { link } => {
                while let Some(data) = self.nodes[from].poll_link(now, link) {
                    self.deliver(from, link, data);
                }
            }
            Transmit::Close { link } => {
                if let Some((to, theirs)) = self.links.remove(&(from, link)) {
                    self.links.remove(&(to, theirs));
                    self.nodes[to].link_closed(now, theirs, LinkCloseReason::Remote);
                }
            }
            Transmit::Datagram { .. } => {}
        }
    }

    /// Hands `data`, written by node `from` on `link`, to the other end.
    pub fn deliver(&mut self, from: usize, link: LinkId, data: Bytes) {
        if let Some(&(to, theirs)) = self.links.get(&(from, link)) {
            self.nodes[to].handle_link_data(self.now, theirs, data);
        }
    }
}
