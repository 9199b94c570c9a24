//! Per-link timers: handshake deadline (and HELLO repeats on datagram
//! links), keepalive after libvirt's model, and LSA retransmission on
//! datagram links.
//!
//! Keepalive: a side pings only when nothing has been received for its
//! interval, and closes the link after `count` intervals of silence. On a
//! datagram link an unanswered ping is repeated every quarter interval,
//! since the ping itself may be the frame that was lost.
//!
//! The decisions are the link's own ([`Link::keepalive_tick`],
//! [`Link::keepalive_deadline`]); the node carries them out.

use core::time::Duration;

use super::links::{Carrier, Link, Phase};
use super::output::LinkId;
use super::timers::Timer;
use super::Node;
use crate::config::Config;
use crate::time::Instant;
use crate::wire::link::{GoodbyeReason, Ping};
use crate::wire::{LinkMessage, NodeId};

/// Gap between LSA retransmissions on a datagram link.
pub(super) const LSA_RXMT: Duration = Duration::from_millis(300);
/// Largest gap between HELLO repeats.
const HELLO_RTO_MAX: Duration = Duration::from_secs(2);

/// What an up link's timer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tick {
    /// Silent for `count` intervals: the link is dead.
    Dead,
    /// Silent for an interval and the peer answers pings: ping now.
    Ping,
    /// Nothing to do yet.
    Wait,
}

impl Link {
    /// How long this side lets the link idle before pinging. Both sides may
    /// ping, but the side with the larger id (`me`) waits half an interval
    /// more: as long as the other side's pings arrive it never needs to,
    /// so a link costs one PING and one PONG per interval, not two of
    /// each. Detection is unchanged: either side closes after `count`
    /// silent intervals.
    fn ping_interval(&self, cfg: &Config, me: NodeId) -> Duration {
        let i = cfg.keepalive_interval;
        if self.peer.is_some_and(|p| p < me) {
            i + i / 2
        } else {
            i
        }
    }

    /// Gap before an unanswered ping is repeated: a stream delivers the
    /// ping or dies, a datagram may be lost, so it is repeated sooner.
    fn ping_retry(&self, interval: Duration) -> Duration {
        match self.carrier {
            Carrier::Stream { .. } => interval,
            Carrier::Datagram(_) => interval / 4,
        }
    }

    fn dead_at(&self, cfg: &Config) -> Instant {
        self.last_rx + cfg.keepalive_interval * u32::from(cfg.keepalive_count)
    }

    /// The up link's timer fired at `now`: what is due. A ping is marked
    /// sent here.
    pub(crate) fn keepalive_tick(&mut self, cfg: &Config, now: Instant, me: NodeId) -> Tick {
        if now >= self.dead_at(cfg) {
            return Tick::Dead;
        }
        let interval = self.ping_interval(cfg, me);
        let retry = self.ping_retry(interval);
        let due = now - self.last_rx >= interval && self.last_ping.is_none_or(|p| now - p >= retry);
        if due && self.peer_keepalive {
            self.last_ping = Some(now);
            return Tick::Ping;
        }
        Tick::Wait
    }

    /// When the up link's timer must fire next: its next ping, LSA
    /// retransmission or death, whichever comes first, never before `now`.
    pub(crate) fn keepalive_deadline(&self, cfg: &Config, now: Instant, me: NodeId) -> Instant {
        let interval = self.ping_interval(cfg, me);
        let dead_at = self.dead_at(cfg);
        // Exactly the first instant at which `keepalive_tick` finds a ping
        // due (`silent >= interval` and the last ping `retry` old): an
        // earlier one would find nothing to do and re-arm at `now`, again
        // and again (a PING sent in the same tick as a frame arrived, its
        // PONG lost, made `last_ping + retry` such an instant).
        let next_ping = match self.last_ping {
            // Without the peer's ADVERTISE we may not ping: only death is due.
            _ if !self.peer_keepalive => dead_at,
            Some(p) => (self.last_rx + interval).max(p + self.ping_retry(interval)),
            None => self.last_rx + interval,
        };
        let mut at = dead_at.min(next_ping);
        if let Some(r) = self.dgram().and_then(|d| d.rxmt_at) {
            at = at.min(r);
        }
        at.max(now)
    }
}

impl Node {
    pub(super) fn on_link_timer(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if !l.is_up() {
            return self.on_handshake_timer(now, link);
        }
        let me = self.id;
        let Some(l) = self.links.get_mut(&link) else { return };
        match l.keepalive_tick(&self.cfg, now, me) {
            Tick::Dead => {
                self.out.stats.keepalive_timeouts += 1;
                self.overlay_flapped(now);
                let why = "keepalive timeout";
                self.close_link(now, link, Some(GoodbyeReason::KEEPALIVE_TIMEOUT), why);
                return;
            }
            Tick::Ping => {
                self.send_link(link, LinkMessage::Ping(Ping { token: now.as_micros() }));
            }
            Tick::Wait => {}
        }
        if self.links.get(&link).is_some_and(|l| l.dgram().is_some()) {
            self.retransmit_lsas(now, link);
        }
        self.arm_keepalive(now, link);
    }

    /// A link still in its handshake: it ends at `handshake_timeout`; an
    /// outgoing datagram link repeats its HELLO meanwhile.
    fn on_handshake_timer(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        if now - l.opened >= self.cfg.handshake_timeout {
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "handshake timeout");
            return;
        }
        let mut next = l.opened + self.cfg.handshake_timeout;
        let phase = l.phase;
        let hello =
            l.dgram().filter(|_| l.outgoing && matches!(phase, Phase::Handshake | Phase::Noise));
        if let Some(d) = hello {
            if now - d.hello_at >= d.hello_rto {
                // HELLO until WELCOME, then NOISE_INIT until NOISE_RESP.
                if phase == Phase::Noise {
                    self.resend_noise_init(link);
                } else {
                    self.send_hello(link);
                }
                if let Some(d) = self.links.get_mut(&link).and_then(|l| l.dgram_mut()) {
                    d.hello_at = now;
                    d.hello_rto = (d.hello_rto * 2).min(HELLO_RTO_MAX);
                }
            }
            if let Some(d) = self.links.get(&link).and_then(|l| l.dgram()) {
                next = next.min(d.hello_at + d.hello_rto);
            }
        }
        self.out.timers.set(Timer::Link(link), next.max(now));
    }

    /// Sets the link's timer to its next ping, LSA retransmission or death.
    pub(super) fn arm_keepalive(&mut self, now: Instant, link: LinkId) {
        if let Some(l) = self.links.get(&link) {
            let at = l.keepalive_deadline(&self.cfg, now, self.id);
            self.out.timers.set(Timer::Link(link), at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LinkMode;

    const ME: NodeId = NodeId([5; 16]);

    fn up_link(mode: LinkMode, peer: u8) -> Link {
        let addr = "10.77.0.2:7400".parse().unwrap();
        let mut l = Link::new(LinkId(1), addr, true, Instant::ZERO, mode);
        l.phase = Phase::Up;
        l.peer = Some(NodeId([peer; 16]));
        l.peer_keepalive = true;
        l
    }

    /// Drives the link's timer with nothing ever received, as a driver
    /// would (wake at the deadline, tick, re-arm), and returns the pings
    /// and the moment it died.
    fn run_silent(cfg: &Config, l: &mut Link) -> (usize, Instant) {
        let mut now = Instant::ZERO;
        let mut pings = 0;
        for _ in 0..1000 {
            match l.keepalive_tick(cfg, now, ME) {
                Tick::Dead => return (pings, now),
                Tick::Ping => pings += 1,
                Tick::Wait => {}
            }
            let next = l.keepalive_deadline(cfg, now, ME);
            assert!(next > now, "a stalled wake-up at {now:?}: the deadline did not move");
            now = next;
        }
        panic!("never died");
    }

    #[test]
    fn a_silent_link_dies_after_count_intervals_and_every_wakeup_moves_on() {
        let cfg = Config::lan("k", "me");
        let dead = Instant::ZERO + cfg.keepalive_interval * u32::from(cfg.keepalive_count);
        // Peer 9 > ME: we ping after one interval, once per interval.
        let (pings, at) = run_silent(&cfg, &mut up_link(LinkMode::Stream, 9));
        assert_eq!(at, dead);
        assert_eq!(pings, usize::from(cfg.keepalive_count) - 1);
        // On a datagram link the ping is repeated every quarter interval.
        let (pings, at) = run_silent(&cfg, &mut up_link(LinkMode::Datagram, 9));
        assert_eq!(at, dead);
        assert!(pings >= 4, "only {pings} pings");
    }

    #[test]
    fn the_larger_id_waits_half_an_interval_more_before_pinging() {
        let cfg = Config::lan("k", "me");
        let i = cfg.keepalive_interval;
        let mut small_peer = up_link(LinkMode::Stream, 1);
        assert_eq!(
            small_peer.keepalive_deadline(&cfg, Instant::ZERO, ME),
            Instant::ZERO + i + i / 2
        );
        assert_eq!(small_peer.keepalive_tick(&cfg, Instant::ZERO + i, ME), Tick::Wait);
        let big_peer = up_link(LinkMode::Stream, 9);
        assert_eq!(big_peer.keepalive_deadline(&cfg, Instant::ZERO, ME), Instant::ZERO + i);
    }

    #[test]
    fn without_the_peers_advertise_only_death_is_due() {
        let cfg = Config::lan("k", "me");
        let mut l = up_link(LinkMode::Datagram, 9);
        l.peer_keepalive = false;
        let (pings, _) = run_silent(&cfg, &mut l);
        assert_eq!(pings, 0);
    }

    #[test]
    fn a_ping_sent_as_a_frame_arrived_does_not_stall_the_timer() {
        // The defect: a frame arrives in the tick a PING goes out, the PONG
        // is lost; the deadline must still move past `now` at every
        // wake-up until the next ping is really due.
        let cfg = Config::lan("k", "me");
        let mut l = up_link(LinkMode::Datagram, 9);
        let t = Instant::ZERO + cfg.keepalive_interval;
        assert_eq!(l.keepalive_tick(&cfg, t, ME), Tick::Ping);
        l.last_rx = t;
        let mut now = t;
        for _ in 0..100 {
            let next = l.keepalive_deadline(&cfg, now, ME);
            assert!(next > now, "stalled at {now:?}");
            if l.keepalive_tick(&cfg, next, ME) != Tick::Wait {
                return;
            }
            now = next;
        }
        panic!("no ping or death after 100 wake-ups");
    }
}
