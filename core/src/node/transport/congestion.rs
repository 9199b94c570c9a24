//! End-to-end congestion control: one window per destination, grown as
//! in TCP NewReno (RFC 5681), cut by congestion marks as in DCTCP
//! (RFC 8257) and halved by losses.
//!
//! - The window is in payload bytes in flight towards the destination,
//!   over all its channels, counted in segments of 8 KiB (see [`segment`]);
//!   it starts at ten segments, grows by what is acknowledged while below
//!   the slow-start threshold (doubling per round trip), then by about one
//!   segment per window acknowledged.
//! - Marks: the source estimates the fraction of its bytes that come back
//!   acknowledged with a congestion echo, `alpha`, a moving average over
//!   round trips (gain 1/16, starting at 1). An echo cuts the window by
//!   `alpha / 2`: a path that marks a little is slowed a little, so a
//!   shallow marking threshold keeps queues short without leaving the
//!   link idle, where halving at every mark would (the sawtooth of
//!   NewReno needs a queue as deep as the path's bandwidth-delay product).
//! - Losses (a fast retransmission, a retransmission timeout) halve it.
//! - Never below two segments, and at most one reduction per round trip,
//!   since the signals of one episode arrive together.
//! - The destination is reported congested at the first reduction, and
//!   recovered after a round trip with acknowledgements and no new signal.
//!
//! Why this and not CUBIC or BBR: links here are hops of an overlay whose
//! queues this node sees and marks itself, so the signal is early and
//! explicit, and DCTCP is the well-studied way to use such marks (in data
//! centres, on paths like these); it converges to a fair share (the incast
//! test checks Jain's index) and is simple enough to reason about at every
//! hop. CUBIC's gain is on long fat paths with loss as the only signal,
//! BBR's needs pacing and bandwidth estimates the core does not have.

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
    /// The estimated fraction of bytes marked, in 1/[`ALPHA_ONE`]ths (fine
    /// enough that the average decays to nearly 0, not to a floor).
    alpha: u32,
    /// Bytes acknowledged, and those acknowledged with an echo, in the
    /// current observation round trip.
    acked: usize,
    marked: usize,
    /// When the current observation round trip ends.
    observe_until: Option<Instant>,
}

/// `alpha` of 1.
const ALPHA_ONE: u32 = 1 << 20;
/// The moving average's gain, 1/16 (RFC 8257's default), as a shift.
const GAIN_SHIFT: u32 = 4;

/// What set off a reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Signal {
    /// An ACK echoed a congestion mark.
    Mark,
    /// A message was lost (fast retransmission or timeout).
    Loss,
}

/// The window's unit (TCP's maximum segment): it starts at ten, grows by
/// about one per round trip and never drops below two. 8 KiB, or the
/// fragment size if smaller (datagram links), whatever the largest
/// fragment: the window's dynamics do not change with it.
pub(super) fn segment(cfg: &Config) -> usize {
    cfg.fragment_size.clamp(1, 8 * 1024)
}

impl Window {
    pub(super) fn new(cfg: &Config) -> Window {
        Window {
            cwnd: (10 * segment(cfg)).min(cfg.send_window_bytes),
            ssthresh: cfg.send_window_bytes,
            hold_until: None,
            congested: false,
            // RFC 8257 starts at 1: the first marks halve, as NewReno would,
            // until the source has seen how much its path marks.
            alpha: ALPHA_ONE,
            acked: 0,
            marked: 0,
            observe_until: None,
        }
    }

    /// Bytes that may be in flight.
    pub(super) fn bytes(&self) -> usize {
        self.cwnd
    }

    /// The estimated fraction of bytes marked (0 to 1).
    #[cfg(test)]
    pub(super) fn alpha(&self) -> f64 {
        f64::from(self.alpha) / f64::from(ALPHA_ONE)
    }

    /// `bytes` of payload were acknowledged, by an ACK that echoed a mark
    /// or not; `rtt` is the destination's smoothed round trip (the length
    /// of an observation).
    pub(super) fn on_acked(
        &mut self,
        cfg: &Config,
        now: Instant,
        bytes: usize,
        echo: bool,
        rtt: Duration,
    ) -> Option<Change> {
        self.observe(now, bytes, echo, rtt);
        let frag = segment(cfg);
        let growth = if self.cwnd < self.ssthresh {
            bytes
        } else {
            (bytes.saturating_mul(frag) / self.cwnd.max(1)).max(1)
        };
        if bytes > 0 {
            self.cwnd = self.cwnd.saturating_add(growth).min(cfg.send_window_bytes);
        }
        if !echo && self.congested && self.hold_until.is_none_or(|t| now >= t) {
            self.congested = false;
            return Some(Change::Recovered);
        }
        None
    }

    /// Counts what an ACK covered; at the end of each round trip, folds the
    /// fraction marked into `alpha`.
    fn observe(&mut self, now: Instant, bytes: usize, echo: bool, rtt: Duration) {
        self.acked = self.acked.saturating_add(bytes);
        if echo {
            self.marked = self.marked.saturating_add(bytes);
        }
        let Some(end) = self.observe_until else {
            self.observe_until = Some(now + rtt);
            return;
        };
        if now < end || self.acked == 0 {
            return;
        }
        let fraction =
            (self.marked.min(self.acked) as u64 * u64::from(ALPHA_ONE) / self.acked as u64) as u32;
        self.alpha = self.alpha - (self.alpha >> GAIN_SHIFT) + (fraction >> GAIN_SHIFT);
        self.acked = 0;
        self.marked = 0;
        self.observe_until = Some(now + rtt);
    }

    /// A congestion signal at `now`; `rtt` is the destination's smoothed
    /// round trip (the hold before the next reduction).
    pub(super) fn on_congestion(
        &mut self,
        cfg: &Config,
        now: Instant,
        rtt: Duration,
        signal: Signal,
    ) -> Option<Change> {
        if self.hold_until.is_some_and(|t| now < t) {
            return None;
        }
        let floor = 2 * segment(cfg);
        let cut = match signal {
            Signal::Loss => self.cwnd / 2,
            // cwnd * alpha / 2.
            Signal::Mark => {
                (self.cwnd as u64 * u64::from(self.alpha) / u64::from(2 * ALPHA_ONE)) as usize
            }
        };
        self.cwnd = self.cwnd.saturating_sub(cut).max(floor);
        self.ssthresh = self.cwnd;
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

    const RTT: Duration = Duration::from_millis(10);

    #[test]
    fn slow_start_doubles_then_growth_is_linear() {
        let c = cfg();
        let mut w = Window::new(&c);
        assert_eq!(w.bytes(), 10_000);
        w.on_acked(&c, at(1), 10_000, false, RTT);
        assert_eq!(w.bytes(), 20_000, "a window acknowledged doubles it");
        w.on_congestion(&c, at(2), RTT, Signal::Loss);
        assert_eq!(w.bytes(), 10_000);
        // Past the threshold: one fragment per window acknowledged.
        w.on_acked(&c, at(20), 10_000, false, RTT);
        assert_eq!(w.bytes(), 11_000);
    }

    #[test]
    fn one_reduction_per_round_trip_and_a_floor() {
        let c = cfg();
        let mut w = Window::new(&c);
        assert_eq!(w.on_congestion(&c, at(0), RTT, Signal::Loss), Some(Change::Congested));
        assert_eq!(w.bytes(), 5_000);
        assert_eq!(w.on_congestion(&c, at(5), RTT, Signal::Loss), None, "the same episode");
        assert_eq!(w.bytes(), 5_000);
        for t in 1..10 {
            w.on_congestion(&c, at(10 * t), RTT, Signal::Loss);
        }
        assert_eq!(w.bytes(), 2_000, "never below two fragments");
    }

    #[test]
    fn recovery_is_reported_after_a_quiet_round_trip() {
        let c = cfg();
        let mut w = Window::new(&c);
        w.on_congestion(&c, at(0), RTT, Signal::Mark);
        assert_eq!(w.on_acked(&c, at(5), 1000, false, RTT), None, "still within the episode");
        assert_eq!(w.on_acked(&c, at(10), 1000, false, RTT), Some(Change::Recovered));
        assert_eq!(w.on_acked(&c, at(11), 1000, false, RTT), None);
        assert_eq!(w.on_congestion(&c, at(30), RTT, Signal::Mark), Some(Change::Congested));
    }

    #[test]
    fn the_window_never_passes_the_send_window() {
        let c = cfg();
        let mut w = Window::new(&c);
        for t in 0..100 {
            w.on_acked(&c, at(t), 1_000_000, false, RTT);
        }
        assert_eq!(w.bytes(), c.send_window_bytes);
    }

    /// Acknowledges `per_rtt` bytes per round trip for `rtts` round trips,
    /// a fraction `marked` of them with an echo (and reacting to it).
    fn run(w: &mut Window, c: &Config, from: u64, rtts: u64, per_rtt: usize, marked: f64) -> u64 {
        let echoed = (per_rtt as f64 * marked) as usize;
        for r in 0..rtts {
            let t = at(from + 10 * r);
            if echoed > 0 {
                w.on_acked(c, t, echoed, true, RTT);
                w.on_congestion(c, t, RTT, Signal::Mark);
            }
            w.on_acked(c, t + Duration::from_millis(5), per_rtt - echoed, false, RTT);
        }
        from + 10 * rtts
    }

    #[test]
    fn alpha_follows_the_fraction_of_bytes_marked() {
        let c = cfg();
        let mut w = Window::new(&c);
        assert_eq!(w.alpha(), 1.0, "starts cautious");
        let t = run(&mut w, &c, 0, 200, 100_000, 0.0);
        assert!(w.alpha() < 0.01, "no marks: alpha decays, {}", w.alpha());
        run(&mut w, &c, t, 200, 100_000, 0.25);
        assert!((w.alpha() - 0.25).abs() < 0.03, "a quarter marked: alpha {}", w.alpha());
    }

    #[test]
    fn a_rarely_marked_path_loses_little_of_its_window_to_a_mark() {
        let c = cfg();
        let mut w = Window::new(&c);
        let t = run(&mut w, &c, 0, 200, 100_000, 0.0);
        let before = w.bytes();
        w.on_congestion(&c, at(t), RTT, Signal::Mark);
        assert!(w.bytes() * 100 >= before * 99, "a mark with alpha ~0: {before} to {}", w.bytes());
        // A loss still halves it.
        w.on_congestion(&c, at(t + 20), RTT, Signal::Loss);
        assert!(w.bytes() * 2 <= before);
    }
}
