//! The handshake: HELLO, WELCOME and REJECT, version negotiation, and
//! the resolution of duplicate links to one peer.
//!
//! The decisions are functions of what they read ([`vet_intro`],
//! [`chosen_versions`], [`duplicates`]), tested here alone; the node
//! carries them out (sends, closes, brings the link up).

use alloc::string::String;
use alloc::vec::Vec;
use core::net::SocketAddr;
use core::time::Duration;

use smallvec::SmallVec;

use super::super::output::{Event, LinkCloseReason, LinkId};
use super::super::Node;
use super::{truncate, Phase};
use crate::config::{Config, LinkMode};
use crate::time::Instant;
use crate::wire::link::{
    Advertise, ChosenVersion, Goodbye, GoodbyeReason, Intro, Reject, RejectReason, Welcome,
};
use crate::wire::{
    Extensions, Frame, HeaderList, LinkMessage, NodeId, Protocol, StrList, VersionRange,
};

impl Node {
    /// Our intro, for HELLO and WELCOME.
    pub(super) fn intro(&self) -> Intro {
        Intro {
            node_id: self.id,
            incarnation: self.cfg.incarnation,
            // Batches only mean something where frames travel as datagrams.
            capabilities: if self.cfg.link_mode == LinkMode::Datagram {
                crate::wire::link::CAP_BATCH
            } else {
                0
            } | if self.cfg.keyring.is_some() {
                crate::wire::link::CAP_AUTH | crate::wire::link::CAP_NOISE
            } else {
                0
            },
            state: self.state,
            link_addr: self.advertised_addr(),
            cluster: self.cfg.cluster.as_str().into(),
            name: truncate(&self.cfg.name).into(),
            ranges: self.cfg.versions.clone(),
            headers: HeaderList::from_pairs(self.headers.iter()).unwrap_or_default(),
            groups: StrList::from_names(self.groups.iter()).unwrap_or_default(),
        }
    }

    fn local_link_range(&self) -> Option<VersionRange> {
        link_range(&self.cfg)
    }

    /// Checks a peer's intro; `Err` carries the REJECT to send.
    fn vet_intro(&self, intro: &Intro) -> Result<(), Reject> {
        vet_intro(&self.cfg, self.id, self.shutting_down, intro)
    }

    pub(super) fn on_hello(&mut self, now: Instant, link: LinkId, intro: Intro) {
        if let Err(rej) = self.vet_intro(&intro) {
            self.refuse(now, link, Some(intro.node_id), rej);
            return;
        }
        let up = self.links.values().filter(|l| l.is_up()).count();
        if up >= self.cfg.max_links && !self.links.values().any(|l| l.peer == Some(intro.node_id)) {
            let rej = reject(&self.cfg, &intro, RejectReason::LIMIT, 0, "link limit");
            self.refuse(now, link, Some(intro.node_id), rej);
            return;
        }
        if let Some(l) = self.links.get_mut(&link) {
            l.peer = Some(intro.node_id);
        }
        if !self.keep_against_duplicates(now, link, &intro) {
            let rej = reject(&self.cfg, &intro, RejectReason::DUPLICATE_LINK, 0, "duplicate link");
            self.refuse(now, link, Some(intro.node_id), rej);
            return;
        }
        let welcome = self.welcome_for(&intro);
        self.send_link(link, LinkMessage::Welcome(welcome));
        if self.cfg.keyring.is_some() {
            // The opener's NOISE_INIT comes next; the link is up once it
            // is answered.
            self.await_noise(link, intro);
        } else {
            self.link_up(now, link, intro);
        }
    }

    /// Repeats the WELCOME for a repeated HELLO from the same instance.
    pub(super) fn rewelcome(&mut self, now: Instant, link: LinkId, intro: Intro) {
        let same = self
            .links
            .get(&link)
            .and_then(|l| l.intro.as_ref())
            .is_some_and(|i| i.node_id == intro.node_id && i.incarnation == intro.incarnation);
        if same {
            let welcome = self.welcome_for(&intro);
            self.send_link(link, LinkMessage::Welcome(welcome));
        } else {
            self.out.stats.dropped_unexpected += 1;
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "unexpected hello");
        }
    }

    fn welcome_for(&self, intro: &Intro) -> Welcome {
        let chosen = chosen_versions(&self.cfg, intro);
        Welcome { intro: self.intro(), chosen: crate::wire::FixedList::from_entries(chosen.iter()) }
    }

    pub(super) fn on_welcome(&mut self, now: Instant, link: LinkId, w: Welcome) {
        let intro = w.intro;
        if let Err(rej) = self.vet_intro(&intro) {
            // The acceptor should have refused; tell it why we do.
            self.refuse(now, link, Some(intro.node_id), rej);
            return;
        }
        let chosen_ok = w.chosen.iter().any(|c| {
            c.protocol == Protocol::Link.id()
                && self.local_link_range().is_some_and(|r| r.contains(c.version))
        });
        if !chosen_ok {
            self.out.stats.dropped_unexpected += 1;
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "bad version choice");
            return;
        }
        if let Some(l) = self.links.get_mut(&link) {
            l.peer = Some(intro.node_id);
        }
        self.overlay_seed_peer(link, intro.node_id);
        if !self.keep_against_duplicates(now, link, &intro) {
            self.close_link(now, link, Some(GoodbyeReason::LINK_DROPPED), "duplicate link");
            return;
        }
        if self.cfg.keyring.is_some() {
            self.start_noise(now, link, intro);
        } else {
            self.link_up(now, link, intro);
        }
    }

    /// Carries out [`duplicates`] for `link`: closes the rivals it names and
    /// returns whether `link` survives.
    fn keep_against_duplicates(&mut self, now: Instant, link: LinkId, intro: &Intro) -> bool {
        let peer = intro.node_id;
        let me = self.id;
        let rivals: Vec<Rival> = self
            .links
            .values()
            .filter(|l| {
                l.id != link
                    && (l.peer == Some(peer) || (l.peer.is_none() && l.expected == Some(peer)))
            })
            .map(|l| Rival {
                id: l.id,
                initiator: l.initiator(me),
                incarnation: l.intro.as_ref().map_or(0, |i| i.incarnation),
                up: l.is_up(),
                up_at: l.up_at,
            })
            .collect();
        let Some(mine) = self.links.get(&link) else {
            return false;
        };
        let verdict = duplicates(now, me, link, mine.initiator(me), intro, &rivals);
        for (other, why) in verdict.close {
            self.close_link(now, other, Some(GoodbyeReason::LINK_DROPPED), why);
        }
        verdict.keep
    }

    pub(super) fn refuse(&mut self, now: Instant, link: LinkId, peer: Option<NodeId>, rej: Reject) {
        self.out.stats.links_rejected += 1;
        if rej.reason != RejectReason::DUPLICATE_LINK {
            let addr = self.links.get(&link).map(|l| l.addr);
            if let Some(addr) = addr {
                self.push_event(reject_event(peer, addr, &rej, false));
            }
        }
        // The REJECT body (frozen) names nobody: our id goes in an optional
        // extension, so that an opener that knew only our address (a seed)
        // learns who refused it, and stops trying once it reaches us
        // another way. Older receivers skip the TLV.
        let mut frame = Frame::new(LinkMessage::Reject(rej));
        frame.extensions = Extensions::builder().node_id(self.id).build().unwrap_or_default();
        self.send_frame(link, frame);
        self.push_close(link);
        self.drop_link(now, link, LinkCloseReason::Error);
    }

    /// `sender` is the refusing node's id, when its REJECT carries it.
    pub(super) fn on_reject(
        &mut self,
        now: Instant,
        link: LinkId,
        rej: Reject,
        sender: Option<NodeId>,
    ) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let (addr, peer) = (l.addr, l.peer.or(l.expected).or(sender));
        if rej.reason != RejectReason::DUPLICATE_LINK {
            self.push_event(reject_event(peer, addr, &rej, true));
        }
        self.overlay_rejected(now, link, rej.reason, sender);
        self.push_close(link);
        self.drop_link(now, link, LinkCloseReason::Remote);
    }

    pub(super) fn on_goodbye(&mut self, now: Instant, link: LinkId, g: Goodbye) {
        let Some(l) = self.links.get(&link) else {
            return;
        };
        let peer = l.peer;
        let inc = l.intro.as_ref().map(|i| i.incarnation);
        self.push_close(link);
        self.drop_link(now, link, LinkCloseReason::Remote);
        if g.reason == GoodbyeReason::SHUTDOWN {
            if let (Some(p), Some(inc)) = (peer, inc) {
                self.peer_departed(now, p, inc);
            }
        }
    }

    pub(super) fn link_up(&mut self, now: Instant, link: LinkId, intro: Intro) {
        let peer = intro.node_id;
        let Some(l) = self.links.get_mut(&link) else {
            return;
        };
        l.phase = Phase::Up;
        l.up_at = now;
        l.peer = Some(peer);
        l.last_rx = now;
        l.intro = Some(intro.clone());
        let (interval, count) = (self.cfg.keepalive_interval, self.cfg.keepalive_count);
        self.send_link(
            link,
            LinkMessage::Advertise(Advertise {
                interval_ms: interval.as_millis().min(u32::MAX as u128) as u32,
                count,
            }),
        );
        self.arm_keepalive(now, link);
        self.membership.departed_superseded(&peer, intro.incarnation);
        self.routing_link_up(now, link, &intro);
        self.overlay_link_up(now, link, peer);
    }
}

/// A HELLO arriving this long after a link to the same peer came up means
/// the peer has abandoned that link, rather than opened at the same time.
const STALE_LINK_AFTER: Duration = Duration::from_secs(1);

fn reject_event(peer: Option<NodeId>, addr: SocketAddr, rej: &Reject, by_remote: bool) -> Event {
    let versions = (rej.reason == RejectReason::VERSION).then(|| {
        let (local, remote) = rej.version_ranges();
        // `local_ranges` are the rejecter's: put ours first either way.
        if by_remote {
            (rej.protocol, remote, local)
        } else {
            (rej.protocol, local, remote)
        }
    });
    Event::LinkRejected {
        peer,
        addr,
        reason: rej.reason,
        by_remote,
        versions,
        detail: String::from(&*rej.detail),
    }
}

/// The link protocol's version range in `cfg`.
fn link_range(cfg: &Config) -> Option<VersionRange> {
    cfg.versions.range_of(Protocol::Link.id())
}

/// A REJECT of `intro`, with both sides' version ranges.
pub(super) fn reject(
    cfg: &Config,
    intro: &Intro,
    reason: RejectReason,
    protocol: u8,
    detail: &str,
) -> Reject {
    Reject {
        reason,
        protocol,
        local_ranges: cfg.versions.clone(),
        remote_ranges: intro.ranges.clone(),
        detail: detail.into(),
    }
}

/// Checks a peer's intro: not ourselves, same cluster, CAP_AUTH if we
/// have a keyring, a common link version, within our group limit, and we are not leaving. `Err` carries
/// the REJECT to send.
fn vet_intro(cfg: &Config, me: NodeId, shutting_down: bool, intro: &Intro) -> Result<(), Reject> {
    if shutting_down {
        return Err(reject(cfg, intro, RejectReason::SHUTTING_DOWN, 0, "shutting down"));
    }
    if intro.node_id == me {
        return Err(reject(cfg, intro, RejectReason::DUPLICATE_ID, 0, "that is my own id"));
    }
    if *intro.cluster != *cfg.cluster {
        return Err(reject(cfg, intro, RejectReason::CLUSTER, 0, "other cluster"));
    }
    // Not authentication (anyone can set the bits; the Noise handshake
    // that follows is): it keeps a node without a key, or one that cannot
    // encrypt links, from joining a keyed cluster by mistake, and both
    // sides say why.
    let keyed = crate::wire::link::CAP_AUTH | crate::wire::link::CAP_NOISE;
    if cfg.keyring.is_some() && intro.capabilities & keyed != keyed {
        return Err(reject(cfg, intro, RejectReason::AUTH, 0, "cluster key required"));
    }
    let link = Protocol::Link.id();
    let common = match (link_range(cfg), intro.ranges.range_of(link)) {
        (Some(a), Some(b)) => a.highest_common(&b),
        _ => None,
    };
    if common.is_none() {
        return Err(reject(cfg, intro, RejectReason::VERSION, link, "no common link version"));
    }
    if intro.groups.len() > cfg.max_groups {
        return Err(reject(cfg, intro, RejectReason::LIMIT, 0, "too many groups"));
    }
    Ok(())
}

/// The version of every protocol both sides speak: the highest common one.
fn chosen_versions(cfg: &Config, intro: &Intro) -> Vec<ChosenVersion> {
    cfg.versions
        .iter()
        .filter_map(|ours| {
            let theirs = intro.ranges.range_of(ours.protocol)?;
            let version = ours.range.highest_common(&theirs)?;
            Some(ChosenVersion { protocol: ours.protocol, version })
        })
        .collect()
}

/// Another link to the peer a handshake names, as duplicate resolution
/// sees it.
#[derive(Debug, Clone, Copy)]
struct Rival {
    id: LinkId,
    /// Who started it, if known.
    initiator: Option<NodeId>,
    /// The peer's incarnation on it (0 before its intro).
    incarnation: u64,
    up: bool,
    up_at: Instant,
}

/// What duplicate resolution decided.
#[derive(Debug, PartialEq, Eq)]
struct Verdict {
    /// The link being handshaken survives.
    keep: bool,
    /// Rivals to close, in order, with why.
    close: SmallVec<[(LinkId, &'static str); 2]>,
}

/// Resolves links to the same peer: links to an older incarnation are
/// closed; of two live ones, the link started by the smaller id wins on
/// both sides, and between two started by the same side the older wins.
/// `mine_init` is who started `link`; `intro` is the peer's on it.
fn duplicates(
    now: Instant,
    me: NodeId,
    link: LinkId,
    mine_init: Option<NodeId>,
    intro: &Intro,
    rivals: &[Rival],
) -> Verdict {
    let winner_initiator = me.min(intro.node_id);
    let mut verdict = Verdict { keep: true, close: SmallVec::new() };
    for r in rivals {
        if r.up && r.incarnation < intro.incarnation {
            verdict.close.push((r.id, "peer restarted"));
            continue;
        }
        // A HELLO long after our link came up is not a simultaneous open:
        // the peer has given that link up (its GOODBYE may still be stuck
        // behind a stalled stream), so the new one replaces it.
        if r.up && now - r.up_at >= STALE_LINK_AFTER {
            verdict.close.push((r.id, "peer reconnected"));
            continue;
        }
        let mine_wins =
            match (mine_init == Some(winner_initiator), r.initiator == Some(winner_initiator)) {
                (true, false) => true,
                (false, true) => false,
                _ => link < r.id,
            };
        if mine_wins {
            // A still-connecting link to the same peer is simply dropped.
            verdict.close.push((r.id, "duplicate link"));
        } else {
            verdict.keep = false;
        }
    }
    verdict
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{ProtoRange, VersionRanges};

    fn id(n: u8) -> NodeId {
        NodeId([n; 16])
    }

    fn at(ms: u64) -> Instant {
        Instant::ZERO + Duration::from_millis(ms)
    }

    fn cfg() -> Config {
        Config::lan("c", "me")
    }

    fn intro(from: u8, incarnation: u64) -> Intro {
        Intro {
            node_id: id(from),
            incarnation,
            capabilities: 0,
            state: crate::wire::NodeState::Ready,
            link_addr: SocketAddr::from(([10, 0, 0, from], 7000)),
            cluster: "c".into(),
            name: "peer".into(),
            ranges: VersionRanges::supported(),
            headers: HeaderList::default(),
            groups: StrList::default(),
        }
    }

    fn rival(link: u64, initiator: u8, incarnation: u64, up_at: Option<u64>) -> Rival {
        Rival {
            id: LinkId(link),
            initiator: Some(id(initiator)),
            incarnation,
            up: up_at.is_some(),
            up_at: at(up_at.unwrap_or(0)),
        }
    }

    #[test]
    fn an_intro_is_vetted_for_identity_cluster_versions_and_limits() {
        let c = cfg();
        let me = id(1);
        assert_eq!(vet_intro(&c, me, false, &intro(2, 1)), Ok(()));
        let reason = |r: Result<(), Reject>| r.unwrap_err().reason;
        assert_eq!(reason(vet_intro(&c, me, true, &intro(2, 1))), RejectReason::SHUTTING_DOWN);
        assert_eq!(reason(vet_intro(&c, me, false, &intro(1, 1))), RejectReason::DUPLICATE_ID);
        let mut other = intro(2, 1);
        other.cluster = "d".into();
        assert_eq!(reason(vet_intro(&c, me, false, &other)), RejectReason::CLUSTER);
        let mut old = intro(2, 1);
        let far = crate::wire::VersionRange::new(200, 201);
        old.ranges = VersionRanges::from_entries(
            [ProtoRange { protocol: Protocol::Link.id(), range: far }].iter(),
        );
        let rej = vet_intro(&c, me, false, &old).unwrap_err();
        assert_eq!((rej.reason, rej.protocol), (RejectReason::VERSION, Protocol::Link.id()));
        assert_eq!(rej.remote_ranges, old.ranges, "the REJECT says what each side speaks");
        let mut many = intro(2, 1);
        let names: Vec<String> = (0..=c.max_groups).map(|i| alloc::format!("g{i}")).collect();
        many.groups = StrList::from_names(names.iter()).unwrap();
        assert_eq!(reason(vet_intro(&c, me, false, &many)), RejectReason::LIMIT);
    }

    #[test]
    fn a_keyed_node_refuses_intros_without_cap_auth() {
        let mut c = cfg();
        c.keyring = Some(crate::auth::Keyring::new([1; 32]));
        let me = id(1);
        let plain = intro(2, 1);
        assert_eq!(vet_intro(&c, me, false, &plain).unwrap_err().reason, RejectReason::AUTH);
        let mut slice1 = intro(2, 1);
        slice1.capabilities |= crate::wire::link::CAP_AUTH;
        assert_eq!(
            vet_intro(&c, me, false, &slice1).unwrap_err().reason,
            RejectReason::AUTH,
            "keys but no encrypted links"
        );
        let mut keyed = intro(2, 1);
        keyed.capabilities |= crate::wire::link::CAP_AUTH | crate::wire::link::CAP_NOISE;
        assert_eq!(vet_intro(&c, me, false, &keyed), Ok(()));
        // A node without a key takes either.
        assert_eq!(vet_intro(&cfg(), me, false, &plain), Ok(()));
        assert_eq!(vet_intro(&cfg(), me, false, &keyed), Ok(()));
    }

    #[test]
    fn the_highest_common_version_of_each_shared_protocol_is_chosen() {
        let mut c = cfg();
        let link = Protocol::Link.id();
        let range = |min, max| crate::wire::VersionRange::new(min, max);
        c.versions = VersionRanges::from_entries(
            [
                ProtoRange { protocol: link, range: range(1, 3) },
                ProtoRange { protocol: 9, range: range(1, 1) },
            ]
            .iter(),
        );
        let mut peer = intro(2, 1);
        peer.ranges =
            VersionRanges::from_entries([ProtoRange { protocol: link, range: range(2, 5) }].iter());
        let chosen = chosen_versions(&c, &peer);
        assert_eq!(chosen.len(), 1, "protocol 9 is not shared");
        assert_eq!((chosen[0].protocol, chosen[0].version), (link, 3));
    }

    #[test]
    fn of_two_simultaneous_links_the_one_started_by_the_smaller_id_wins_on_both_sides() {
        // 1 and 2 dial each other at once: link 5 started by 1, link 6 by 2.
        let now = at(10);
        let on_1 =
            duplicates(now, id(1), LinkId(6), Some(id(2)), &intro(2, 1), &[rival(5, 1, 0, None)]);
        assert_eq!(on_1, Verdict { keep: false, close: SmallVec::new() });
        let on_2 =
            duplicates(now, id(2), LinkId(5), Some(id(1)), &intro(1, 1), &[rival(6, 2, 0, None)]);
        assert!(on_2.keep);
        assert_eq!(&on_2.close[..], [(LinkId(6), "duplicate link")]);
        // Two links started by the same side: the older (smaller id) wins.
        let same =
            duplicates(now, id(1), LinkId(7), Some(id(1)), &intro(2, 1), &[rival(5, 1, 0, None)]);
        assert!(!same.keep);
    }

    #[test]
    fn a_restarted_or_reconnecting_peer_replaces_its_old_link() {
        let restarted = duplicates(
            at(10),
            id(2),
            LinkId(9),
            Some(id(1)),
            &intro(1, 2),
            &[rival(3, 2, 1, Some(5))],
        );
        assert!(restarted.keep);
        assert_eq!(&restarted.close[..], [(LinkId(3), "peer restarted")]);
        let later = at(5) + STALE_LINK_AFTER;
        // Same incarnation, long after the old link came up: the peer gave
        // it up, even though the old one would win the tie-break.
        let reconnected = duplicates(
            later,
            id(1),
            LinkId(9),
            Some(id(2)),
            &intro(2, 1),
            &[rival(3, 1, 1, Some(5))],
        );
        assert!(reconnected.keep);
        assert_eq!(&reconnected.close[..], [(LinkId(3), "peer reconnected")]);
        // The same HELLO just after: a simultaneous open, the tie-break.
        let soon = duplicates(
            at(6),
            id(1),
            LinkId(9),
            Some(id(2)),
            &intro(2, 1),
            &[rival(3, 1, 1, Some(5))],
        );
        assert!(!soon.keep);
    }
}
