//! End-to-end congestion control: one window per destination, AIMD after
//! TCP NewReno (RFC 5681) with ECN's reaction to marks (RFC 3168).
//!
//! - The window is in payload bytes in flight towards the destination,
//!   over all its channels; it starts at ten fragments, grows by what is
//!   acknowledged while below the slow-start threshold (doubling per round
//!   trip), then by about one fragment per window acknowledged.
//! - A congestion signal halves it (never below two fragments): an ACK
//!   echoing a congestion mark, a fast retransmission, or a retransmission
//!   timeout. At most one reduction per round trip, since the signals of
//!   one episode arrive together.
//! - The destination is reported congested at the first reduction, and
//!   recovered after a round trip with acknowledgements and no new signal.
//!
//! Why AIMD rather than CUBIC or BBR: links here are hops of an overlay
//! whose queues this node sees and marks itself, so the signal is early
//! and explicit; AIMD with marks converges to a fair share (the incast
//! test checks Jain's index) and is simple enough to reason about at every
//! hop. CUBIC's gain is on long fat paths, BBR's needs pacing and
//! bandwidth estimates the core does not have.

use core::time::Duration;

use crate::config::Config;
use crate::time::Instant;

/// A change the application hears of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Change {
    /// The window was reduced: the destination's path is congested.
    Congested,
    /// A round trip passed with no new signal.
    Recovered,
}

/// The congestion window towards one destination.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    cwnd: usize,
    ssthresh: usize,
    /// No further reduction before this: the signals of one episode.
    hold_until: Option<Instant>,
    congested: bool,
}

fn fragment(cfg: &Config) -> usize {
    cfg.fragment_size.max(1)
}

impl Window {
    pub(super) fn new(cfg: &Config) -> Window {
        Window {
            cwnd: (10 * fragment(cfg)).min(cfg.send_window_bytes),
            ssthresh: cfg.send_window_bytes,
            hold_until: None,
            congested: false,
        }
    }

    /// Bytes that may be in flight.
    pub(super) fn bytes(&self) -> usize {
        self.cwnd
    }

    /// `bytes` of payload were acknowledged.
    pub(super) fn on_acked(&mut self, cfg: &Config, now: Instant, bytes: usize) -> Option<Change> {
        let frag = fragment(cfg);
        let growth = if self.cwnd < self.ssthresh {
            bytes
        } else {
            (bytes.saturating_mul(frag) / self.cwnd.max(1)).max(1)
        };
        self.cwnd = self.cwnd.saturating_add(growth).min(cfg.send_window_bytes);
        if self.congested && self.hold_until.is_none_or(|t| now >= t) {
            self.congested = false;
            return Some(Change::Recovered);
        }
        None
    }

    /// A congestion signal at `now`; `rtt` is the destination's smoothed
    /// round trip (the hold before the next reduction).
    pub(super) fn on_congestion(
        &mut self,
        cfg: &Config,
        now: Instant,
        rtt: Duration,
    ) -> Option<Change> {
        if self.hold_until.is_some_and(|t| now < t) {
            return None;
        }
        let floor = 2 * fragment(cfg);
        self.ssthresh = (self.cwnd / 2).max(floor);
        self.cwnd = self.ssthresh;
        self.hold_until = Some(now + rtt);
        if self.congested {
            return None;
        }
        self.congested = true;
        Some(Change::Congested)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let mut c = Config::lan("t", "n");
        c.fragment_size = 1000;
        c.send_window_bytes = 1_000_000;
        c
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    #[test]
    fn slow_start_doubles_then_growth_is_linear() {
        let c = cfg();
        let mut w = Window::new(&c);
        assert_eq!(w.bytes(), 10_000);
        w.on_acked(&c, at(1), 10_000);
        assert_eq!(w.bytes(), 20_000, "a window acknowledged doubles it");
        w.on_congestion(&c, at(2), Duration::from_millis(10));
        assert_eq!(w.bytes(), 10_000);
        // Past the threshold: one fragment per window acknowledged.
        w.on_acked(&c, at(20), 10_000);
        assert_eq!(w.bytes(), 11_000);
    }

    #[test]
    fn one_reduction_per_round_trip_and_a_floor() {
        let c = cfg();
        let mut w = Window::new(&c);
        let rtt = Duration::from_millis(10);
        assert_eq!(w.on_congestion(&c, at(0), rtt), Some(Change::Congested));
        assert_eq!(w.bytes(), 5_000);
        assert_eq!(w.on_congestion(&c, at(5), rtt), None, "the same episode");
        assert_eq!(w.bytes(), 5_000);
        for t in 1..10 {
            w.on_congestion(&c, at(10 * t), rtt);
        }
        assert_eq!(w.bytes(), 2_000, "never below two fragments");
    }

    #[test]
    fn recovery_is_reported_after_a_quiet_round_trip() {
        let c = cfg();
        let mut w = Window::new(&c);
        let rtt = Duration::from_millis(10);
        w.on_congestion(&c, at(0), rtt);
        assert_eq!(w.on_acked(&c, at(5), 1000), None, "still within the episode");
        assert_eq!(w.on_acked(&c, at(10), 1000), Some(Change::Recovered));
        assert_eq!(w.on_acked(&c, at(11), 1000), None);
        assert_eq!(w.on_congestion(&c, at(30), rtt), Some(Change::Congested));
    }

    #[test]
    fn the_window_never_passes_the_send_window() {
        let c = cfg();
        let mut w = Window::new(&c);
        for t in 0..100 {
            w.on_acked(&c, at(t), 1_000_000);
        }
        assert_eq!(w.bytes(), c.send_window_bytes);
    }
}
