//! Per-link timers: handshake deadline (and HELLO repeats on datagram
//! links), keepalive after libvirt's model, and LSA retransmission on
//! datagram links.
//!
//! Keepalive: a side pings only when nothing has been received for its
//! interval, and closes the link after `count` intervals of silence. On a
//! datagram link an unanswered ping is repeated every quarter interval,
//! since the ping itself may be the frame that was lost.

use core::time::Duration;

use super::links::{Carrier, Link, Phase};
use super::output::LinkId;
use super::timers::Timer;
use super::Node;
use crate::time::Instant;
use crate::wire::link::{GoodbyeReason, Ping};
use crate::wire::LinkMessage;

/// Gap between LSA retransmissions on a datagram link.
pub(super) const LSA_RXMT: Duration = Duration::from_millis(300);
/// Largest gap between HELLO repeats.
const HELLO_RTO_MAX: Duration = Duration::from_secs(2);

impl Node {
    pub(super) fn on_link_timer(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let dgram = l.dgram().is_some();
        if !l.is_up() {
            if now - l.opened >= self.cfg.handshake_timeout {
                self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "handshake timeout");
                return;
            }
            let mut next = l.opened + self.cfg.handshake_timeout;
            let hello = l.dgram().filter(|_| l.outgoing && l.phase == Phase::Handshake);
            if let Some(d) = hello {
                if now - d.hello_at >= d.hello_rto {
                    self.send_hello(link);
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
            return;
        }
        let interval = self.ping_interval(l);
        let retry = ping_retry(l, interval);
        let dead_after = self.cfg.keepalive_interval * u32::from(self.cfg.keepalive_count);
        let silent = now - l.last_rx;
        if silent >= dead_after {
            self.out.stats.keepalive_timeouts += 1;
            self.overlay_flapped(now);
            self.close_link(now, link, Some(GoodbyeReason::KEEPALIVE_TIMEOUT), "keepalive timeout");
            return;
        }
        let due = silent >= interval && l.last_ping.is_none_or(|p| now - p >= retry);
        if due && l.peer_keepalive {
            if let Some(l) = self.links.get_mut(&link) {
                l.last_ping = Some(now);
            }
            self.send_link(link, LinkMessage::Ping(Ping { token: now.as_micros() }));
        }
        if dgram {
            self.retransmit_lsas(now, link);
        }
        self.arm_keepalive(now, link);
    }

    /// How long this side lets a link idle before pinging. Both sides may
    /// ping, but the side with the larger id waits half an interval more: as
    /// long as the other side's pings arrive it never needs to, so a link
    /// costs one PING and one PONG per interval, not two of each. Detection
    /// is unchanged: either side closes after `count` silent intervals.
    fn ping_interval(&self, l: &Link) -> Duration {
        let i = self.cfg.keepalive_interval;
        if l.peer.is_some_and(|p| p < self.id) {
            i + i / 2
        } else {
            i
        }
    }

    /// Sets the link's timer to its next ping, LSA retransmission or death,
    /// whichever comes first.
    pub(super) fn arm_keepalive(&mut self, now: Instant, link: LinkId) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let interval = self.ping_interval(l);
        let dead_at = l.last_rx + self.cfg.keepalive_interval * u32::from(self.cfg.keepalive_count);
        // Exactly the first instant at which `on_link_timer` finds a ping
        // due (`silent >= interval` and the last ping `retry` old): an
        // earlier one would find nothing to do and re-arm at `now`, again
        // and again (a PING sent in the same tick as a frame arrived, its
        // PONG lost, made `last_ping + retry` such an instant).
        let next_ping = match l.last_ping {
            // Without the peer's ADVERTISE we may not ping: only death is due.
            _ if !l.peer_keepalive => dead_at,
            Some(p) => (l.last_rx + interval).max(p + ping_retry(l, interval)),
            None => l.last_rx + interval,
        };
        let mut at = dead_at.min(next_ping);
        if let Some(r) = l.dgram().and_then(|d| d.rxmt_at) {
            at = at.min(r);
        }
        self.out.timers.set(Timer::Link(link), at.max(now));
    }
}

/// Gap before an unanswered ping is repeated: a stream delivers the ping or
/// dies, a datagram may be lost, so it is repeated sooner.
fn ping_retry(l: &Link, interval: Duration) -> Duration {
    match l.carrier {
        Carrier::Stream { .. } => interval,
        Carrier::Datagram(_) => interval / 4,
    }
}
