//! The stream-link model, after TCP: ordered and lossless while connected,
//! delayed (by retransmission timeouts) rather than corrupted under loss,
//! stalled by a partition and broken if the stall lasts, with the bytes in
//! flight lost when it breaks.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use netcluster_core::node::LinkId;
use netcluster_core::Instant;

use crate::net::Faults;

/// Smallest stream retransmission timeout, as in Linux.
pub const MIN_RTO: Duration = Duration::from_millis(200);

/// Largest retransmission timeout of a stalled stream.
const MAX_RTO: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ConnId(pub(crate) u64);

/// A direction of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    AtoB,
    BtoA,
}

impl Dir {
    pub(crate) fn flip(self) -> Dir {
        match self {
            Dir::AtoB => Dir::BtoA,
            Dir::BtoA => Dir::AtoB,
        }
    }

    fn ix(self) -> usize {
        match self {
            Dir::AtoB => 0,
            Dir::BtoA => 1,
        }
    }
}

/// One direction's in-order delivery state.
#[derive(Debug)]
pub(crate) struct Pipe {
    /// Delivery time of the last chunk scheduled: later chunks never
    /// overtake it.
    last: Instant,
    /// When the bytes written so far have all left the sender.
    busy_until: Instant,
    next_seq: u64,
    /// Chunks held back by a stall, by sequence (`None` is the FIN).
    stuck: BTreeMap<u64, Option<Bytes>>,
    stuck_since: Option<Instant>,
    pub(crate) rto: Duration,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            last: Instant::ZERO,
            busy_until: Instant::ZERO,
            next_seq: 0,
            stuck: BTreeMap::new(),
            stuck_since: None,
            rto: MIN_RTO,
        }
    }

    pub(crate) fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// When a chunk of `len` bytes written at `now` has left the sender
    /// on a link of `bandwidth` bytes/s (0: at once): after everything
    /// written before it.
    pub(crate) fn serialize(&mut self, now: Instant, len: usize, bandwidth: u64) -> Instant {
        if bandwidth == 0 {
            return now;
        }
        let start = now.max(self.busy_until);
        let micros = (len as u64).saturating_mul(1_000_000) / bandwidth;
        self.busy_until = start + Duration::from_micros(micros);
        self.busy_until
    }

    /// When the bytes written so far have all left the sender.
    pub(crate) fn busy_until(&self) -> Instant {
        self.busy_until
    }

    pub(crate) fn next_delivery(&mut self, at: Instant) -> Instant {
        let t = at.max(self.last);
        self.last = t;
        t
    }

    pub(crate) fn is_stuck(&self) -> bool {
        self.stuck_since.is_some()
    }

    /// Holds a chunk back; returns true if this starts a stall.
    pub(crate) fn stick(&mut self, now: Instant, seq: u64, chunk: Option<Bytes>) -> bool {
        self.stuck.insert(seq, chunk);
        if self.stuck_since.is_none() {
            self.stuck_since = Some(now);
            true
        } else {
            false
        }
    }

    /// Ends a stall: the held chunks in order.
    pub(crate) fn unstick(&mut self) -> Vec<(u64, Option<Bytes>)> {
        self.stuck_since = None;
        self.rto = MIN_RTO;
        std::mem::take(&mut self.stuck).into_iter().collect()
    }

    pub(crate) fn stuck_for(&self, now: Instant) -> Duration {
        self.stuck_since.map_or(Duration::ZERO, |s| now - s)
    }

    pub(crate) fn backoff(&mut self) {
        self.rto = (self.rto * 2).min(MAX_RTO);
    }
}

/// One stream connection between two nodes (`a` connected to `b`).
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) a: usize,
    pub(crate) a_life: u32,
    pub(crate) a_link: LinkId,
    pub(crate) a_addr: SocketAddr,
    pub(crate) b: usize,
    pub(crate) b_life: u32,
    pub(crate) b_link: Option<LinkId>,
    pub(crate) b_addr: SocketAddr,
    pub(crate) faults: Faults,
    pipes: [Pipe; 2],
    /// The end crashed (index by the end's sending direction).
    dead: [bool; 2],
    /// The end restarted since: segments to it draw a reset.
    reset: [bool; 2],
    /// A FIN was delivered in that direction.
    closed: [bool; 2],
}

impl Conn {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        a: usize,
        a_life: u32,
        a_link: LinkId,
        a_addr: SocketAddr,
        b: usize,
        b_life: u32,
        b_addr: SocketAddr,
        faults: Faults,
    ) -> Conn {
        Conn {
            a,
            a_life,
            a_link,
            a_addr,
            b,
            b_life,
            b_link: None,
            b_addr,
            faults,
            pipes: [Pipe::new(), Pipe::new()],
            dead: [false; 2],
            reset: [false; 2],
            closed: [false; 2],
        }
    }

    /// The direction in which node `ix` sends on its link `link`.
    pub(crate) fn dir_from(&self, ix: usize, link: LinkId) -> Dir {
        if ix == self.a && link == self.a_link {
            Dir::AtoB
        } else {
            Dir::BtoA
        }
    }

    /// The end that sends in `dir`: node, life, link.
    pub(crate) fn end(&self, dir: Dir) -> (usize, u32, Option<LinkId>) {
        match dir {
            Dir::AtoB => (self.a, self.a_life, Some(self.a_link)),
            Dir::BtoA => (self.b, self.b_life, self.b_link),
        }
    }

    /// The address of the end that sends in `dir`.
    pub(crate) fn addr_of(&self, dir: Dir) -> SocketAddr {
        match dir {
            Dir::AtoB => self.a_addr,
            Dir::BtoA => self.b_addr,
        }
    }

    pub(crate) fn pipe(&mut self, dir: Dir) -> &mut Pipe {
        &mut self.pipes[dir.ix()]
    }

    pub(crate) fn dead_end(&mut self, ix: usize) {
        if self.a == ix {
            self.dead[0] = true;
        }
        if self.b == ix {
            self.dead[1] = true;
        }
    }

    pub(crate) fn reset_dead_end(&mut self, ix: usize) {
        if self.a == ix && self.dead[0] {
            self.reset[0] = true;
        }
        if self.b == ix && self.dead[1] {
            self.reset[1] = true;
        }
    }

    pub(crate) fn is_dead(&self, end: Dir) -> bool {
        self.dead[end.ix()]
    }

    pub(crate) fn is_reset(&self, end: Dir) -> bool {
        self.reset[end.ix()]
    }

    /// Records a FIN delivered in `dir`; true once both directions closed.
    pub(crate) fn close_dir(&mut self, dir: Dir) -> bool {
        self.closed[dir.ix()] = true;
        self.closed[0] && self.closed[1]
    }
}
