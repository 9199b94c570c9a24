//! The overlay alone: wants, dials, backoff, refusals, seeds, pruning.
use super::*;

fn id(n: u8) -> NodeId {
    NodeId([n; 16])
}

fn addr(n: u8) -> SocketAddr {
    SocketAddr::new(core::net::Ipv4Addr::new(10, 77, 0, n).into(), 7400)
}

struct World {
    cfg: Config,
    me: NodeId,
    links: Vec<LinkInfo>,
    candidates: BTreeMap<NodeId, Candidate>,
    routed: BTreeSet<NodeId>,
}

impl World {
    /// `me` hearing nodes `heard` on the segment.
    fn new(me: u8, heard: impl IntoIterator<Item = u8>) -> Self {
        let candidates = heard
            .into_iter()
            .map(|n| {
                let c = Candidate { addr: addr(n), incarnation: 1, last_heard: Instant::ZERO };
                (id(n), c)
            })
            .collect();
        World {
            cfg: Config::lan("o", "me"),
            me: id(me),
            links: Vec::new(),
            candidates,
            routed: BTreeSet::new(),
        }
    }

    /// Runs `f` with what the overlay is told of this world.
    fn with_known<R>(&self, f: impl FnOnce(&Known<'_>) -> R) -> R {
        let routed = |id: &NodeId| self.routed.contains(id);
        let routes = || self.routed.iter().copied().collect();
        let addr_of = |id: &NodeId| self.candidates.get(id).map(|c| c.addr);
        f(&Known {
            me: self.me,
            links: &self.links,
            candidates: &self.candidates,
            routed: &routed,
            routes: &routes,
            addr_of: &addr_of,
        })
    }

    fn plan(&self, o: &mut Overlay, now: Instant) -> Plan {
        self.with_known(|k| o.plan(&self.cfg, now, k))
    }

    fn wanted(&self, o: &Overlay) -> BTreeSet<NodeId> {
        self.with_known(|k| o.desired(&self.cfg, Instant::ZERO, k))
    }
}

fn up(link: u64, peer: u8, outgoing: bool) -> LinkInfo {
    LinkInfo { id: LinkId(link), peer: Some(id(peer)), expected: None, up: true, outgoing }
}

#[test]
fn a_small_segment_is_a_full_mesh() {
    let w = World::new(1, 2..=9);
    let o = Overlay::new(&w.cfg);
    assert_eq!(w.wanted(&o), (2..=9).map(id).collect());
}

#[test]
fn a_large_segment_is_a_ring_with_chords_both_ends_agree_on() {
    let everyone: Vec<u8> = (1..=60).collect();
    let o = Overlay::new(&Config::lan("o", "me"));
    let wants: BTreeMap<u8, BTreeSet<NodeId>> = everyone
        .iter()
        .map(|&me| {
            let w = World::new(me, everyone.iter().copied().filter(|&n| n != me));
            (me, w.wanted(&o))
        })
        .collect();
    for (&me, want) in &wants {
        let (prev, next) = (if me == 1 { 60 } else { me - 1 }, if me == 60 { 1 } else { me + 1 });
        assert!(want.contains(&id(prev)) && want.contains(&id(next)), "{me}: ring");
        assert!(want.len() <= 3, "{me} wants {}", want.len());
        // Whatever I want, it wants me: no half links.
        for peer in want {
            assert!(wants[&peer.0[0]].contains(&id(me)), "{me} -> {} is one-sided", peer.0[0]);
        }
    }
    assert!(wants.values().any(|w| w.len() == 3), "no chords at all");
}

#[test]
fn dials_stay_within_max_links_and_wait_for_backoff() {
    let mut w = World::new(1, 2..=9);
    w.cfg.max_links = 3;
    let mut o = Overlay::new(&w.cfg);
    let t = Instant::ZERO;
    let plan = w.plan(&mut o, t);
    assert_eq!(plan.dial.len(), 3);
    assert!(plan.dial.iter().all(|d| d.seed.is_none() && d.expected.is_some()));
    // A failed attempt to 2 backs it off: the next run waits for it.
    let failed =
        LinkInfo { id: LinkId(1), peer: None, expected: Some(id(2)), up: false, outgoing: true };
    o.link_down(&w.cfg, t, &failed, &mut Random::new(1));
    assert!(o.failing(&id(2)));
    let plan = w.plan(&mut o, t);
    assert!(plan.dial.iter().all(|d| d.expected != Some(id(2))));
    let due = plan.next.expect("the retry is scheduled");
    assert!(due >= t + w.cfg.retry_min && due <= t + w.cfg.retry_min * 5 / 4);
}

#[test]
fn failed_attempts_back_off_doubling_and_an_up_link_returns_at_once() {
    let w = World::new(1, [2]);
    let mut o = Overlay::new(&w.cfg);
    let mut rng = Random::new(3);
    let t = Instant::ZERO;
    let failed =
        LinkInfo { id: LinkId(1), peer: None, expected: Some(id(2)), up: false, outgoing: true };
    let mut backoffs = Vec::new();
    for _ in 0..8 {
        o.link_down(&w.cfg, t, &failed, &mut rng);
        backoffs.push(o.retry[&id(2)].backoff);
    }
    assert_eq!(backoffs[0], w.cfg.retry_min);
    assert!(backoffs.windows(2).all(|b| b[1] == (b[0] * 2).min(w.cfg.retry_max)));
    o.link_down(&w.cfg, t, &up(2, 2, true), &mut rng);
    assert_eq!((o.retry[&id(2)].backoff, o.retry[&id(2)].next_attempt), (Duration::ZERO, t));
}

#[test]
fn refusals_hold_the_refuser_off() {
    let w = World::new(1, [2, 3]);
    let mut o = Overlay::new(&w.cfg);
    let t = Instant::ZERO;
    let to = |n: u8| LinkInfo {
        id: LinkId(u64::from(n)),
        peer: None,
        expected: Some(id(n)),
        up: false,
        outgoing: true,
    };
    o.rejected(&w.cfg, t, &to(2), RejectReason::LIMIT, None);
    assert!(o.retry[&id(2)].backoff >= w.cfg.retry_max, "a full node is asked rarely");
    o.rejected(&w.cfg, t, &to(3), RejectReason::CLUSTER, None);
    // Both are out of the ring now: 2 backs off (and is probed), 3 is
    // held off for a minute.
    assert!(w.wanted(&o).is_empty());
    let back = w.with_known(|k| o.live_set(&w.cfg, t + REJECT_HOLD, k));
    assert!(back.contains(&id(3)), "and back after it");
}

#[test]
fn seeds_are_dialled_until_their_node_is_reached_and_never_if_they_are_us() {
    let mut w = World::new(1, []);
    let mut o = Overlay::new(&w.cfg);
    o.add_seed(addr(5));
    o.add_seed(addr(6));
    let t = Instant::ZERO;
    let plan = w.plan(&mut o, t);
    assert_eq!(plan.dial.iter().map(|d| d.seed).collect::<Vec<_>>(), [Some(0), Some(1)]);
    o.seed_dialled(0, LinkId(10));
    o.seed_dialled(1, LinkId(11));
    // Seed 6 turns out to be ourselves; seed 5 is node 5 and comes up.
    let dialled =
        |l: u64| LinkInfo { id: LinkId(l), peer: None, expected: None, up: false, outgoing: true };
    o.rejected(&w.cfg, t, &dialled(11), RejectReason::DUPLICATE_ID, None);
    o.link_down(&w.cfg, t, &dialled(11), &mut Random::new(1));
    o.link_up(LinkId(10), id(5));
    o.link_down(&w.cfg, t, &up(10, 5, true), &mut Random::new(1));
    // Node 5 is reachable another way: its seed is left alone.
    w.routed.insert(id(5));
    let later = t + w.cfg.retry_max;
    assert!(w.plan(&mut o, later).dial.is_empty());
    w.routed.clear();
    assert_eq!(w.plan(&mut o, later).dial.iter().map(|d| d.seed).collect::<Vec<_>>(), [Some(0)]);
}

#[test]
fn unwanted_links_we_opened_are_pruned_after_the_grace() {
    let everyone: Vec<u8> = (2..=40).collect();
    let mut w = World::new(1, everyone);
    let mut o = Overlay::new(&w.cfg);
    let t = Instant::ZERO;
    let want = w.wanted(&o);
    let far = (2..=40).map(id).find(|n| !want.contains(n)).unwrap();
    w.links = alloc::vec![up(1, far.0[0], true), up(2, far.0[0] + 1, false)];
    w.links.retain(|l| l.peer.is_some_and(|p| !want.contains(&p)));
    let plan = w.plan(&mut o, t);
    assert!(plan.prune.is_empty(), "not before the grace");
    assert!(plan.next.is_some_and(|n| n <= t + PRUNE_GRACE));
    let plan = w.plan(&mut o, t + PRUNE_GRACE);
    assert_eq!(plan.prune, [LinkId(1)], "only the link we opened");
}
