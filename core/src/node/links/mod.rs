//! Links to neighbours: connect or accept, HELLO / WELCOME / REJECT with
//! version negotiation, duplicate resolution, keepalive, framing and close.

mod framing;
mod handshake;
mod info;
pub(crate) mod secure;

pub use info::LinkInfo;

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::SocketAddr;

use core::time::Duration;

use bytes::{Bytes, BytesMut};

use self::framing::{cut_frames, Frames};
use super::dgram::DatagramLink;
use super::output::{LinkCloseReason, LinkId, Offer, Outputs, Transmit};
use super::timers::Timer;
use super::Node;
use crate::config::LinkMode;
use crate::time::Instant;
use crate::wire::ext::{EXT_CONGESTION, EXT_CONGESTION_ECHO};
use crate::wire::link::{Goodbye, GoodbyeReason, Hello, Intro, Pong};
use crate::wire::{with_flag_extension, Frame, LinkMessage, Message, NodeId, Protocol};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the driver's connect.
    Connecting,
    /// Connected; HELLO sent (outgoing) or awaited (incoming).
    Handshake,
    /// HELLO and WELCOME passed; with a keyring, the Noise handshake
    /// (NOISE_INIT, NOISE_RESP) runs before the link is up.
    Noise,
    /// WELCOME exchanged: a live neighbour link.
    Up,
}

/// One link and its keepalive state.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) id: LinkId,
    /// The remote address (connect target, or the accepted peer address).
    pub(crate) addr: SocketAddr,
    /// We opened it.
    pub(crate) outgoing: bool,
    pub(crate) phase: Phase,
    /// The peer, once its HELLO or WELCOME said who it is.
    pub(crate) peer: Option<NodeId>,
    /// Who we expect to reach (outgoing links opened to a known node).
    pub(crate) expected: Option<NodeId>,
    /// The peer's intro.
    pub(crate) intro: Option<Intro>,
    pub(crate) opened: Instant,
    pub(crate) last_rx: Instant,
    pub(crate) last_ping: Option<Instant>,
    /// When the link came up.
    pub(crate) up_at: Instant,
    /// Shortest PING round trip seen on the link.
    pub(crate) best_rtt: Option<Duration>,
    /// The peer sent ADVERTISE: it answers pings.
    pub(crate) peer_keepalive: bool,
    pub(crate) carrier: Carrier,
    /// Our side of the Noise handshake (links of a node with a keyring).
    pub(crate) noise: Option<secure::NoiseSide>,
}

/// How a link carries its frames, with what only that kind of link keeps.
/// The node's `link_mode` picks it once, when the link is made; from then
/// on the link's carrier decides.
#[derive(Debug)]
pub(crate) enum Carrier {
    /// A byte stream (TCP): frames are cut from the bytes as they arrive;
    /// `rx` holds a frame's beginning until the rest comes.
    Stream { rx: BytesMut },
    /// UDP datagrams to the peer's address (PROTOCOL 5.3).
    Datagram(DatagramLink),
}

impl Link {
    /// A new link to or from `addr`, carried as `mode` says.
    pub(crate) fn new(
        id: LinkId,
        addr: SocketAddr,
        outgoing: bool,
        now: Instant,
        mode: LinkMode,
    ) -> Link {
        Link {
            id,
            addr,
            outgoing,
            phase: if outgoing { Phase::Connecting } else { Phase::Handshake },
            peer: None,
            expected: None,
            intro: None,
            opened: now,
            last_rx: now,
            last_ping: None,
            peer_keepalive: false,
            up_at: now,
            best_rtt: None,
            noise: None,
            carrier: match mode {
                LinkMode::Stream => Carrier::Stream { rx: BytesMut::new() },
                LinkMode::Datagram => Carrier::Datagram(DatagramLink::new(now, HELLO_RTO)),
            },
        }
    }

    /// The datagram link's own state, if this is one.
    pub(crate) fn dgram(&self) -> Option<&DatagramLink> {
        match &self.carrier {
            Carrier::Datagram(d) => Some(d),
            Carrier::Stream { .. } => None,
        }
    }

    pub(crate) fn dgram_mut(&mut self) -> Option<&mut DatagramLink> {
        match &mut self.carrier {
            Carrier::Datagram(d) => Some(d),
            Carrier::Stream { .. } => None,
        }
    }

    /// The peer takes several link frames per datagram (`CAP_BATCH`).
    pub(crate) fn takes_batches(&self) -> bool {
        self.intro.as_ref().is_some_and(|i| i.capabilities & crate::wire::link::CAP_BATCH != 0)
    }

    pub(crate) fn is_up(&self) -> bool {
        self.phase == Phase::Up
    }

    /// Who started the link: the tie-break in duplicate resolution keeps the
    /// link started by the smaller id.
    fn initiator(&self, me: NodeId) -> Option<NodeId> {
        if self.outgoing {
            Some(me)
        } else {
            self.peer
        }
    }
}

impl Node {
    /// Opens an outgoing link to `addr`, expecting `expected` there.
    pub(super) fn open_link(
        &mut self,
        now: Instant,
        addr: SocketAddr,
        expected: Option<NodeId>,
    ) -> LinkId {
        let id = self.alloc_link(now, addr, true);
        if let Some(l) = self.links.get_mut(&id) {
            l.expected = expected;
        }
        if self.links.get(&id).is_some_and(|l| l.dgram().is_some()) {
            // No connection to wait for: the HELLO goes out now and is
            // repeated until answered.
            self.dgram_links.insert(addr, id);
            if let Some(l) = self.links.get_mut(&id) {
                l.phase = Phase::Handshake;
            }
            self.send_hello(id);
            self.out.timers.set(Timer::Link(id), now + HELLO_RTO);
        } else {
            self.out.transmits.push_back(Transmit::Connect { link: id, addr });
        }
        id
    }

    pub(super) fn send_hello(&mut self, link: LinkId) {
        let hello = Hello(self.intro());
        let version = self.cfg.versions.range_of(Protocol::Link.id()).map_or(1, |r| r.max);
        self.send_frame(link, Frame { version, ..Frame::new(LinkMessage::Hello(hello)) });
    }

    pub(super) fn alloc_link(&mut self, now: Instant, addr: SocketAddr, outgoing: bool) -> LinkId {
        let id = LinkId(self.next_link);
        self.next_link += 1;
        self.links.insert(id, Link::new(id, addr, outgoing, now, self.cfg.link_mode));
        self.out.stats.links_opened += 1;
        self.out.timers.set(Timer::Link(id), now + self.cfg.handshake_timeout);
        id
    }

    /// A stream connection from `remote` was accepted on the link listener
    /// (`local` is the address it arrived at). Returns the link's handle.
    /// When the node is shutting down the link is closed at once.
    /// IPv4-mapped IPv6 addresses (a dual-stack listener's view of an IPv4
    /// peer) are taken as the IPv4 addresses they are.
    pub fn link_accepted(&mut self, now: Instant, remote: SocketAddr, local: SocketAddr) -> LinkId {
        self.input(now, |node, now| {
            let (remote, local) = (super::canonical(remote), super::canonical(local));
            node.learn_local(now, local);
            let id = node.alloc_link(now, remote, false);
            if node.shutting_down {
                node.drop_link(now, id, LinkCloseReason::Error);
                node.out.transmits.push_back(Transmit::Close { link: id });
            }
            id
        })
    }

    /// The connect requested by [`Transmit::Connect`] succeeded; `local` is
    /// the connection's local address.
    pub fn link_connected(&mut self, now: Instant, link: LinkId, local: SocketAddr) {
        self.input(now, |node, now| {
            node.learn_local(now, local);
            let Some(l) = node.links.get_mut(&link) else {
                return;
            };
            if l.phase != Phase::Connecting {
                node.out.stats.dropped_unexpected += 1;
                return;
            }
            l.phase = Phase::Handshake;
            l.last_rx = now;
            node.send_hello(link);
        })
    }

    /// Learns the IP peers reach us at from a link's local address, for
    /// the LSA's link address when the configured one is unspecified. An
    /// IPv6 link-local address (meaningless past its segment, and without
    /// its scope to others) gives way to the first routable one.
    fn learn_local(&mut self, now: Instant, local: SocketAddr) {
        let ip = super::canonical(local).ip();
        let link_local = |ip: &core::net::IpAddr| match ip {
            core::net::IpAddr::V6(v6) => v6.is_unicast_link_local(),
            core::net::IpAddr::V4(_) => false,
        };
        let better = match &self.learned_ip {
            None => true,
            Some(old) => link_local(old) && !link_local(&ip),
        };
        if better && !ip.is_unspecified() {
            self.learned_ip = Some(ip);
            self.self_changed(now);
        }
    }

    /// Bytes arrived on a stream link.
    pub fn handle_link_data(&mut self, now: Instant, link: LinkId, data: Bytes) {
        self.input(now, |node, now| {
            let max_frame = node.cfg.limits.max_frame;
            let max_buf = node.cfg.max_link_buffer;
            let Some(Carrier::Stream { rx }) = node.links.get_mut(&link).map(|l| &mut l.carrier)
            else {
                node.out.stats.dropped_unexpected += 1;
                return;
            };
            // What a read brings whole is handled at once; only the start
            // of a frame waits here, and that is what the bound limits (a
            // driver may hand over many frames in one piece).
            let mut frames = Frames::new();
            let error = cut_frames(rx, data, max_frame, &mut frames).is_err();
            if rx.len() > max_buf {
                node.out.stats.dropped_limit += 1;
                node.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "receive buffer limit");
                return;
            }
            for f in frames {
                if !node.links.contains_key(&link) {
                    break;
                }
                node.on_stream_frame(now, link, f);
            }
            node.flush_acks();
            if error && node.links.contains_key(&link) {
                node.out.stats.dropped_malformed += 1;
                node.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "bad framing");
            }
        })
    }

    pub(super) fn on_link_bytes(&mut self, now: Instant, link: LinkId, bytes: Bytes) {
        self.out.stats.frames_received += 1;
        self.out.stats.frame_bytes_received += bytes.len() as u64;
        let frame = match Frame::parse_with(&bytes, &self.cfg.limits) {
            Ok(f) => f,
            Err(e) => {
                self.count_decode_error(&e);
                return;
            }
        };
        self.on_link_frame(now, link, frame, bytes);
    }

    /// One decoded frame on a link, whatever carried it; `raw` is its
    /// encoding, forwarded unchanged when the frame is only passing through.
    pub(super) fn on_link_frame(&mut self, now: Instant, link: LinkId, frame: Frame, raw: Bytes) {
        let Frame { message, extensions, .. } = frame;
        let Message::Link(msg) = message else {
            self.out.stats.dropped_unexpected += 1;
            return;
        };
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.last_rx = now;
        let phase = l.phase;
        let outgoing = l.outgoing;
        let datagram = l.dgram().is_some();
        match (phase, msg) {
            (Phase::Handshake, LinkMessage::Hello(h)) if !outgoing => self.on_hello(now, link, h.0),
            (Phase::Handshake, LinkMessage::Welcome(w)) if outgoing => {
                self.on_welcome(now, link, w)
            }
            (Phase::Noise, LinkMessage::NoiseInit(m)) if !outgoing => {
                self.on_noise_init(now, link, m)
            }
            (Phase::Up, LinkMessage::NoiseInit(m)) if !outgoing && datagram => {
                self.on_noise_init(now, link, m)
            }
            (Phase::Noise, LinkMessage::NoiseResp(m)) if outgoing => {
                self.on_noise_resp(now, link, m)
            }
            // Datagram links: a repeated NOISE_INIT answered twice.
            (Phase::Up, LinkMessage::NoiseResp(_)) if outgoing && datagram => {}
            // Datagram links: our WELCOME was lost and the HELLO repeated,
            // or a WELCOME repeated for a HELLO repeated.
            (Phase::Noise, LinkMessage::Hello(h)) if !outgoing => self.rewelcome(now, link, h.0),
            (Phase::Noise, LinkMessage::Welcome(_)) if outgoing => {}
            (Phase::Handshake | Phase::Noise | Phase::Up, LinkMessage::Reject(r)) => {
                self.on_reject(now, link, r, extensions.node_id())
            }
            (_, LinkMessage::Goodbye(g)) => self.on_goodbye(now, link, g),
            (Phase::Up, LinkMessage::Advertise(_)) => {
                if let Some(l) = self.links.get_mut(&link) {
                    l.peer_keepalive = true;
                }
                self.arm_keepalive(now, link);
            }
            (Phase::Up, LinkMessage::Ping(p)) => {
                // A peer that pings answers pings, ADVERTISE lost or not.
                if let Some(l) = self.links.get_mut(&link) {
                    l.peer_keepalive = true;
                }
                self.send_link(link, LinkMessage::Pong(Pong { token: p.token }));
                self.arm_keepalive(now, link);
            }
            (Phase::Up, LinkMessage::Pong(p)) => {
                let mut stressed = false;
                if let Some(l) = self.links.get_mut(&link) {
                    l.last_ping = None;
                    // The token is our send time: a round trip far above the
                    // link's best says frames are being lost and resent.
                    let rtt = now - Instant::from_micros(p.token);
                    let best = *l.best_rtt.get_or_insert(rtt);
                    l.best_rtt = Some(best.min(rtt));
                    stressed = rtt > best * 4 + STRESS_RTT;
                }
                if stressed {
                    self.overlay_flapped(now);
                }
                self.arm_keepalive(now, link);
            }
            (Phase::Up, LinkMessage::Lsa(lsa)) => {
                self.arm_keepalive(now, link);
                self.on_lsa(now, link, lsa);
            }
            (Phase::Up, LinkMessage::LsaAck(ack)) => {
                self.arm_keepalive(now, link);
                self.on_lsa_ack(link, ack);
            }
            // Datagram links: our WELCOME was lost and the HELLO repeated.
            (Phase::Up, LinkMessage::Hello(h)) if !outgoing => self.rewelcome(now, link, h.0),
            (Phase::Up, LinkMessage::Welcome(_)) if outgoing => {}
            (Phase::Up, LinkMessage::Data(d)) => {
                self.arm_keepalive(now, link);
                let ce = extensions.has(EXT_CONGESTION);
                self.on_data(now, d, raw, ce);
            }
            (Phase::Up, LinkMessage::Ack(a)) => {
                self.arm_keepalive(now, link);
                let echo = extensions.has(EXT_CONGESTION_ECHO);
                self.on_ack(now, a, raw, echo);
            }
            (Phase::Up, LinkMessage::RouteError(e)) => {
                self.arm_keepalive(now, link);
                self.on_route_error(now, e, raw);
            }
            // Datagram links: the acceptor's first frames after a lost or
            // overtaken WELCOME; the repeated HELLO will bring the WELCOME.
            (Phase::Handshake | Phase::Noise, _) if outgoing && datagram => {
                self.out.stats.dropped_unexpected += 1;
            }
            (Phase::Connecting, _) | (_, _) => {
                self.out.stats.dropped_unexpected += 1;
                if phase != Phase::Up {
                    self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "unexpected message");
                }
            }
        }
    }

    /// Sends a link message in the version this build speaks.
    pub(super) fn send_link(&mut self, link: LinkId, msg: LinkMessage) {
        self.send_frame(link, Frame::new(msg));
    }

    fn send_frame(&mut self, link: LinkId, frame: Frame) {
        match frame.to_bytes() {
            Ok(data) => self.send_link_bytes(link, data),
            Err(_) => self.out.stats.dropped_limit += 1,
        }
    }

    /// Sends one encoded control frame: queued ahead of DATA on a stream
    /// link, a datagram to the peer's address on a datagram link.
    pub(crate) fn send_link_bytes(&mut self, link: LinkId, data: Bytes) {
        link_send(&self.links, &mut self.out, link, data, Class::Control);
    }

    /// Sends encoded frames as one batch (a datagram link whose peer takes
    /// batches; PROTOCOL 5.3): back to back in one datagram.
    pub(super) fn send_link_batch(&mut self, link: LinkId, frames: &[Bytes]) {
        match frames {
            [] => {}
            [one] => self.send_link_bytes(link, one.clone()),
            many => {
                let mut buf = BytesMut::with_capacity(many.iter().map(Bytes::len).sum());
                for f in many {
                    buf.extend_from_slice(f);
                }
                self.out.stats.frames_sent += many.len() as u64 - 1;
                self.out.stats.batches_sent += 1;
                self.send_link_bytes(link, buf.freeze());
            }
        }
    }

    /// Asks the driver to close a stream link; datagram links have nothing
    /// to close.
    fn push_close(&mut self, link: LinkId) {
        if self.links.get(&link).is_some_and(|l| l.dgram().is_none()) {
            self.out.close_link(link);
        }
    }

    /// Closes a link from our side, with a GOODBYE first when it is up.
    pub(super) fn close_link(
        &mut self,
        now: Instant,
        link: LinkId,
        goodbye: Option<GoodbyeReason>,
        why: &str,
    ) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        // GOODBYE and Close end the link: data queued for it goes first.
        let pending = core::mem::take(&mut self.out.data_transmits);
        self.out.transmits.extend(pending);
        let handshaking = matches!(l.phase, Phase::Handshake | Phase::Noise);
        if let (Some(reason), true) = (goodbye, l.is_up() || handshaking) {
            let bye = LinkMessage::Goodbye(Goodbye { reason, detail: truncate(why).into() });
            match Frame::new(bye).to_bytes() {
                Ok(data) => link_send(&self.links, &mut self.out, link, data, Class::Last),
                Err(_) => self.out.stats.dropped_limit += 1,
            }
        }
        self.push_close(link);
        self.drop_link(now, link, LinkCloseReason::Error);
    }

    /// The driver reports that a link ended (connect failure, EOF, error).
    pub fn link_closed(&mut self, now: Instant, link: LinkId, reason: LinkCloseReason) {
        self.input(now, |node, now| {
            node.drop_link(now, link, reason);
        })
    }

    /// Forgets a link and updates everything that depended on it.
    pub(super) fn drop_link(&mut self, now: Instant, link: LinkId, reason: LinkCloseReason) {
        let Some(l) = self.links.remove(&link) else {
            return;
        };
        if self.dgram_links.get(&l.addr) == Some(&link) {
            self.dgram_links.remove(&l.addr);
        }
        self.out.timers.cancel(Timer::Link(link));
        // A stream link's cipher stays until its queue, GOODBYE last, has
        // been pulled and sealed; a datagram link's frames were sealed as
        // they were handed over.
        if !self.out.link_queues.get(&link).is_some_and(|q| q.closing) {
            self.out.ciphers.remove(&link);
        }
        if l.is_up() {
            if let Some(peer) = l.peer {
                self.routing_link_down(now, peer);
            }
        }
        self.overlay_link_down(now, &l, reason);
    }

    /// Shutdown: nothing but GOODBYEs leave any more.
    pub(super) fn up_links(&self) -> Vec<LinkId> {
        self.links.values().filter(|l| l.is_up()).map(|l| l.id).collect()
    }

    /// The intro a neighbour sent, if it is linked.
    pub(super) fn neighbour_intro(&self, peer: &NodeId) -> Option<(&Intro, SocketAddr)> {
        self.links
            .values()
            .find(|l| l.is_up() && l.peer.as_ref() == Some(peer))
            .and_then(|l| Some((l.intro.as_ref()?, l.addr)))
    }

    /// The peers of up links.
    pub(super) fn up_peers(&self) -> Vec<NodeId> {
        self.links.values().filter(|l| l.is_up()).filter_map(|l| l.peer).collect()
    }
}

/// How a frame travels on its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    /// Ahead of DATA: handshake, keepalive, routing, ACK.
    Control,
    /// DATA of a priority (0 most urgent): bounded, dropped when the
    /// link's queue is full; `forwarded` DATA is also marked under
    /// congestion.
    Data { priority: u8, forwarded: bool },
    /// The link's GOODBYE: after everything queued before it.
    Last,
}

/// Sends one encoded frame on `link`, counted: queued for a stream link
/// (the driver pulls it), a datagram to the peer's address on a datagram
/// link.
pub(super) fn link_send(
    links: &BTreeMap<LinkId, Link>,
    out: &mut Outputs,
    link: LinkId,
    data: Bytes,
    class: Class,
) {
    out.stats.frames_sent += 1;
    out.stats.frame_bytes_sent += data.len() as u64;
    let Some(l) = links.get(&link) else { return };
    match (&l.carrier, class) {
        (Carrier::Datagram(_), _) => {
            let to = crate::node::DatagramTarget::Unicast(l.addr);
            // Sealed as it is handed over: a datagram has no queue to be
            // reordered in, and its nonce travels with it.
            let data = match out.ciphers.get_mut(&link) {
                Some(c) if secure::sealable(&data) => match c.seal(&data) {
                    Some(sealed) => sealed,
                    None => {
                        out.stats.dropped_limit += 1;
                        return;
                    }
                },
                _ => data,
            };
            out.stats.datagrams_sent += 1;
            out.stats.datagram_bytes_sent += data.len() as u64;
            let t = Transmit::Datagram { to, data };
            match class {
                Class::Data { .. } => out.data_transmits.push_back(t),
                Class::Control | Class::Last => out.transmits.push_back(t),
            }
        }
        (Carrier::Stream { .. }, Class::Control) => out.queue_control(link, data),
        (Carrier::Stream { .. }, Class::Last) => out.queue_last(link, data),
        (Carrier::Stream { .. }, Class::Data { priority, forwarded }) => {
            match out.offer_data(link, data.len(), forwarded) {
                Offer::Take => out.queue_data(link, priority, data),
                Offer::Mark => {
                    out.stats.data_marked += 1;
                    let marked = with_flag_extension(&data, EXT_CONGESTION).unwrap_or(data);
                    out.queue_data(link, priority, marked);
                }
                Offer::Dropped => out.stats.dropped_queue_full += 1,
            }
        }
    }
}

/// A PING round trip this much above four times the link's best marks the
/// network as lossy (see `overlay_flapped`).
const STRESS_RTT: Duration = Duration::from_millis(50);

/// First gap before a datagram link's HELLO is repeated (doubling after).
pub(super) const HELLO_RTO: Duration = Duration::from_millis(250);

/// Names go on the wire in str8 fields: longer ones are cut at a character
/// boundary rather than refused.
pub(super) fn truncate(s: &str) -> &str {
    if s.len() <= 255 {
        return s;
    }
    let mut end = 255;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
