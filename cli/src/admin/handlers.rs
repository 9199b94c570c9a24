//! What the agent does for each admin request.

use std::collections::BTreeSet;
use std::net::{SocketAddr, SocketAddrV6};
use std::time::Duration;

use netcluster_control::admin::{
    AdminEvent, Counter, CounterList, DeliveryMode, GroupList, GroupRecord, LinkKind, LinkList,
    LinkRecord, Links, MemberList, MemberRecord, MemberTrafficList, MemberTrafficRecord, Members,
    MembersTraffic, PingReply, RouteList, RouteRecord, Status, TrafficFigures,
};
use netcluster_control::AdminMessage;
use netcluster_core::wire::{ByteString, FixedList};
use netcluster_tokio::{CommandError, Error, Event, MessageId, Node, NodeId, SendError};

use super::context::{result, Ctx, Out};
use super::events::{header_list, member_record, semantics, str_list};
use super::resolve::{resolve, ResolveError};

/// Serves one request (not SUBSCRIBE, which the connection handles).
pub(crate) async fn handle(ctx: &Ctx, msg: AdminMessage, out: &Out) {
    let id = msg.request_id();
    match msg {
        AdminMessage::MembersRequest(_) => {
            let answer = ctx.handle.query(members).await.map(|mut records| {
                if let Some(own) = records.first_mut() {
                    own.link_addr = reachable_addr(own.link_addr);
                }
                MemberList::from_records(&records)
                    .map(|members| Members { request_id: id, members })
            });
            match answer {
                Ok(Ok(m)) => out.send(m).await,
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::MembersTrafficRequest(_) => {
            let answer = ctx.handle.query(members_traffic).await.map(|mut records| {
                if let Some(own) = records.first_mut() {
                    own.member.link_addr = reachable_addr(own.member.link_addr);
                }
                MemberTrafficList::from_records(&records)
                    .map(|members| MembersTraffic { request_id: id, members })
            });
            match answer {
                Ok(Ok(m)) => out.send(m).await,
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::LinksRequest(_) => {
            let answer = ctx.handle.links().await.map(|l| {
                let records: Vec<LinkRecord> = l.iter().map(link_record).collect();
                LinkList::from_records(&records)
            });
            match answer {
                Ok(Ok(links)) => out.send(Links { request_id: id, links }).await,
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::GroupsRequest(_) => {
            let answer = ctx.handle.query(groups).await.map(|g| GroupList::from_records(&g));
            match answer {
                Ok(Ok(groups)) => {
                    out.send(netcluster_control::admin::Groups { request_id: id, groups }).await
                }
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::RoutesRequest(_) => {
            let answer = ctx.handle.query(routes).await.map(|r| RouteList::from_records(&r));
            match answer {
                Ok(Ok(routes)) => {
                    out.send(netcluster_control::admin::Routes { request_id: id, routes }).await
                }
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::StatsRequest(_) => {
            let answer = ctx.handle.query(counters).await.map(|c| CounterList::from_records(&c));
            match answer {
                Ok(Ok(counters)) => {
                    out.send(netcluster_control::admin::Stats { request_id: id, counters }).await
                }
                Ok(Err(e)) => out.send(result(id, Status::Limit, e.to_string())).await,
                Err(e) => out.send(stopped(id, &e)).await,
            };
        }
        AdminMessage::Send(s) => {
            let r = send(ctx, &s.target, s.mode, s.payload).await;
            out.send(finish(id, r)).await;
        }
        AdminMessage::Shout(s) => {
            let r = shout(ctx, &s.group, s.mode, s.payload).await;
            out.send(finish(id, r)).await;
        }
        AdminMessage::Join(j) => {
            let r = join_or_leave(ctx, &j.group, true).await;
            out.send(finish(id, r)).await;
        }
        AdminMessage::Leave(l) => {
            let r = join_or_leave(ctx, &l.group, false).await;
            out.send(finish(id, r)).await;
        }
        AdminMessage::Ping(p) => {
            let r = ping(ctx, id, &p.target, p.count, out).await;
            out.send(finish(id, r)).await;
        }
        other => {
            out.send(result(id, Status::Unsupported, format!("{} is not a request", other.name())))
                .await;
        }
    }
}

/// A failed request: its status and a message for people.
type Outcome = Result<String, (Status, String)>;

fn finish(id: u32, r: Outcome) -> netcluster_control::admin::AdminResult {
    match r {
        Ok(detail) => result(id, Status::Ok, detail),
        Err((status, detail)) => result(id, status, detail),
    }
}

fn stopped(id: u32, e: &Error) -> netcluster_control::admin::AdminResult {
    result(id, Status::DeliveryFailed, format!("the agent's node is not running: {e}"))
}

fn driver_error(e: Error) -> (Status, String) {
    let status = match &e {
        Error::Send(SendError::Unreachable) => Status::Unreachable,
        Error::Send(SendError::WouldBlock | SendError::TooLarge) => Status::Limit,
        Error::Send(SendError::Unsupported) => Status::BadRequest,
        Error::Command(CommandError::NameTooLong) => Status::BadRequest,
        Error::Command(CommandError::TooManyGroups) => Status::Limit,
        _ => Status::DeliveryFailed,
    };
    (status, e.to_string())
}

fn resolve_error(e: ResolveError) -> (Status, String) {
    let status = match e {
        ResolveError::Unknown(_) => Status::UnknownTarget,
        _ => Status::BadRequest,
    };
    (status, e.to_string())
}

/// The agent's own member record, then every reachable peer's.
pub(crate) fn members(node: &Node) -> Vec<MemberRecord> {
    let mut out = vec![own_record(node)];
    out.extend(node.peers().map(member_record));
    out
}

/// The agent's own member record (`hops` 0).
pub(crate) fn own_record(node: &Node) -> MemberRecord {
    let cfg = node.config();
    let groups: Vec<String> = node.groups().map(str::to_string).collect();
    MemberRecord {
        node_id: node.id(),
        incarnation: cfg.incarnation,
        state: node.state(),
        hops: 0,
        link_addr: node.advertised_addr(),
        name: ByteString::from(cfg.name.as_str()),
        groups: str_list(&groups),
        headers: header_list(&cfg.headers),
    }
}

/// [`members`], each behind its traffic figures (the agent's own: none).
pub(crate) fn members_traffic(node: &Node) -> Vec<MemberTrafficRecord> {
    let own = MemberTrafficRecord { traffic: TrafficFigures::default(), member: own_record(node) };
    std::iter::once(own)
        .chain(node.peers().map(|p| MemberTrafficRecord {
            traffic: traffic_figures(&p.traffic),
            member: member_record(p),
        }))
        .collect()
}

/// A microsecond figure of the admin records: saturated below "not
/// measured".
fn micros(d: Option<Duration>) -> Option<u32> {
    d.map(|d| u32::try_from(d.as_micros()).unwrap_or(u32::MAX).min(u32::MAX - 1))
}

pub(crate) fn traffic_figures(t: &netcluster_tokio::PeerTraffic) -> TrafficFigures {
    TrafficFigures {
        rx_bytes_per_sec: t.rx_bytes_per_sec,
        tx_bytes_per_sec: t.tx_bytes_per_sec,
        rx_msgs_per_sec: t.rx_msgs_per_sec,
        tx_msgs_per_sec: t.tx_msgs_per_sec,
        srtt_us: micros(t.srtt),
    }
}

pub(crate) fn link_record(l: &netcluster_tokio::LinkInfo) -> LinkRecord {
    let big = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
    LinkRecord {
        link_id: l.id.0,
        peer: l.peer,
        kind: match l.kind {
            netcluster_tokio::LinkMode::Stream => LinkKind::Stream,
            netcluster_tokio::LinkMode::Datagram => LinkKind::Datagram,
        },
        outgoing: l.outgoing,
        up: l.up,
        encrypted: l.encrypted,
        queued_frames: u32::try_from(l.queued_frames).unwrap_or(u32::MAX),
        queued_bytes: big(l.queued_bytes),
        queued_data_bytes: big(l.queued_data_bytes),
        peak_bytes: big(l.queue.peak_bytes),
        dropped: l.queue.dropped,
        marked: l.queue.marked,
        rtt_us: micros(l.min_rtt),
        addr: l.addr,
    }
}

/// The agent's own address as peers can reach it: `advertised` (the
/// configured address, or the one peers were seen to reach the node at)
/// when it is specific; else, before any link is up, an address of this
/// host's interfaces with the link port: IPv4 first if the node is bound
/// to an IPv4 address (IPv6 first if to IPv6), routable before IPv6
/// link-local (given with its scope), loopback last.
pub(crate) fn reachable_addr(advertised: SocketAddr) -> SocketAddr {
    if !advertised.ip().is_unspecified() {
        return advertised;
    }
    let Ok(all) = netcluster_tokio::net::interfaces() else {
        return advertised;
    };
    let mut best: Option<(u8, SocketAddr)> = None;
    let port = advertised.port();
    let v4_first = advertised.is_ipv4();
    for i in all.iter().filter(|i| i.up) {
        let v4 = i.v4.iter().map(|a| (true, SocketAddr::new(a.ip.into(), port)));
        let v6 = i.v6.iter().map(|ip| {
            let scope = if ip.is_unicast_link_local() { i.index } else { 0 };
            (false, SocketAddr::V6(SocketAddrV6::new(*ip, port, 0, scope)))
        });
        for (is_v4, a) in v4.chain(v6) {
            let link_local = matches!(a, SocketAddr::V6(v6) if v6.ip().is_unicast_link_local());
            // Lower is better: loopback last, then link-local, then the
            // other family.
            let rank = u8::from(i.loopback || a.ip().is_loopback()) * 4
                + u8::from(link_local) * 2
                + u8::from(is_v4 != v4_first);
            if best.is_none_or(|(r, _)| rank < r) {
                best = Some((rank, a));
            }
        }
    }
    best.map_or(advertised, |(_, a)| a)
}

/// Every named group with a reachable member, the agent's own included.
pub(crate) fn groups(node: &Node) -> Vec<GroupRecord> {
    let mut by_group: std::collections::BTreeMap<&str, Vec<NodeId>> = Default::default();
    for g in node.groups() {
        by_group.entry(g).or_default().push(node.id());
    }
    for p in node.peers() {
        for g in &p.groups {
            by_group.entry(g.as_str()).or_default().push(p.id);
        }
    }
    by_group
        .into_iter()
        .filter(|(name, _)| name.len() <= 255)
        .map(|(name, ids)| GroupRecord {
            name: ByteString::from(name),
            members: FixedList::from_entries(&ids),
        })
        .collect()
}

/// One route per reachable peer. Every link costs 1 in this implementation
/// (the LSAs carry cost 1), so a route's cost is its hop count.
pub(crate) fn routes(node: &Node) -> Vec<RouteRecord> {
    node.peers()
        .filter_map(|p| {
            let path = node.route_to(&p.id)?;
            let rest: Vec<NodeId> = path.into_iter().skip(1).collect();
            let next_hop = *rest.first()?;
            Some(RouteRecord {
                destination: p.id,
                next_hop,
                cost: u32::try_from(rest.len()).unwrap_or(u32::MAX),
                path: FixedList::from_entries(&rest),
            })
        })
        .collect()
}

/// The node's counters, plus two gauges of the agent's view.
pub(crate) fn counters(node: &Node) -> Vec<Counter> {
    let mut out: Vec<Counter> = node
        .stats()
        .iter()
        .map(|(name, value)| Counter { name: ByteString::from(name), value })
        .collect();
    out.push(Counter { name: "links_up".into(), value: node.neighbours().count() as u64 });
    out.push(Counter { name: "peers_reachable".into(), value: node.peers().count() as u64 });
    out.push(Counter { name: "messages_in_flight".into(), value: node.in_flight() as u64 });
    out
}

async fn target_of(ctx: &Ctx, target: &str) -> Result<NodeId, (Status, String)> {
    let target = target.to_string();
    ctx.handle
        .query(move |node| {
            let peers: Vec<_> = node.peers().cloned().collect();
            resolve(&target, node.id(), &node.config().name, &peers)
        })
        .await
        .map_err(driver_error)?
        .map_err(resolve_error)
}

fn check_mode(mode: DeliveryMode) -> Result<(), (Status, String)> {
    if mode == DeliveryMode::Stream {
        return Err((
            Status::BadRequest,
            "stream mode is not available through the admin socket".into(),
        ));
    }
    Ok(())
}

async fn send(ctx: &Ctx, target: &str, mode: DeliveryMode, payload: bytes::Bytes) -> Outcome {
    check_mode(mode)?;
    let to = target_of(ctx, target).await?;
    // Subscribed before sending, so the report cannot slip past.
    let mut events = ctx.handle.events();
    let msg = ctx.handle.send(to, semantics(mode), payload).await.map_err(driver_error)?;
    if mode == DeliveryMode::Datagram {
        return Ok(String::new());
    }
    let wait = async {
        while let Some(e) = events.next().await {
            match e {
                Event::Delivered { id, .. } if id == msg => return Ok(String::new()),
                Event::SendFailed { id, reason, .. } if id == msg => {
                    return Err((
                        Status::DeliveryFailed,
                        format!("not delivered: {}", reason.as_str()),
                    ))
                }
                _ => {}
            }
        }
        Err((Status::DeliveryFailed, "the agent's node stopped".to_string()))
    };
    timed(ctx.limits.delivery_wait, wait).await
}

async fn timed(limit: Duration, f: impl std::future::Future<Output = Outcome>) -> Outcome {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| Err((Status::Timeout, format!("no delivery report within {limit:?}"))))
}

async fn shout(ctx: &Ctx, group: &str, mode: DeliveryMode, payload: bytes::Bytes) -> Outcome {
    check_mode(mode)?;
    let g = group.to_string();
    let members: BTreeSet<NodeId> = ctx
        .handle
        .query(move |node| node.group_members(&g).map(|p| p.id).collect::<BTreeSet<_>>())
        .await
        .map_err(driver_error)?;
    let mut events = ctx.handle.events();
    let msg: MessageId =
        ctx.handle.shout(group, semantics(mode), payload).await.map_err(driver_error)?;
    if mode == DeliveryMode::Datagram || members.is_empty() {
        return Ok(format!("sent to {} member(s)", members.len()));
    }
    let total = members.len();
    let wait = async move {
        let mut waiting = members;
        let mut failed = Vec::new();
        while !waiting.is_empty() {
            match events.next().await {
                Some(Event::Delivered { id, to }) if id == msg => {
                    waiting.remove(&to);
                }
                Some(Event::SendFailed { id, to, reason }) if id == msg => {
                    if waiting.remove(&to) {
                        failed.push(format!("{to} ({})", reason.as_str()));
                    }
                }
                Some(_) => {}
                None => return Err((Status::DeliveryFailed, "the agent's node stopped".into())),
            }
        }
        if failed.is_empty() {
            Ok(format!("delivered to {total} member(s)"))
        } else {
            Err((Status::DeliveryFailed, format!("not delivered to {}", failed.join(", "))))
        }
    };
    timed(ctx.limits.delivery_wait, wait).await
}

async fn join_or_leave(ctx: &Ctx, group: &str, join: bool) -> Outcome {
    if group.is_empty() {
        return Err((Status::BadRequest, "empty group name".into()));
    }
    let g = group.to_string();
    let (me, member) = ctx
        .handle
        .query(move |node| (node.id(), node.groups().any(|x| x == g)))
        .await
        .map_err(driver_error)?;
    let group_name = ByteString::from(group);
    if join {
        if member {
            return Ok(format!("already in {group}"));
        }
        ctx.handle.join(group).await.map_err(driver_error)?;
        // The node reports its peers' group changes, not its own.
        ctx.hub.publish(AdminEvent::Joined { node_id: me, group: group_name }).await;
        Ok(String::new())
    } else {
        if !member {
            return Err((Status::NotMember, format!("not in group {group}")));
        }
        ctx.handle.leave(group).await.map_err(driver_error)?;
        ctx.hub.publish(AdminEvent::Left { node_id: me, group: group_name }).await;
        Ok(String::new())
    }
}

async fn ping(ctx: &Ctx, request_id: u32, target: &str, count: u16, out: &Out) -> Outcome {
    if count == 0 {
        return Err((Status::BadRequest, "ping count 0".into()));
    }
    let to = target_of(ctx, target).await?;
    let mut answered = 0u16;
    for sequence in 0..count {
        if sequence > 0 {
            // One ping a second, as ping(8) does.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut events = ctx.handle.events();
        let id = ctx.handle.ping(to).await.map_err(driver_error)?;
        let wait = async {
            while let Some(e) = events.next().await {
                if let Event::Pong { id: got, rtt, .. } = e {
                    if got == id {
                        return Some(rtt);
                    }
                }
            }
            None
        };
        if let Ok(Some(rtt)) = tokio::time::timeout(ctx.limits.ping_wait, wait).await {
            answered += 1;
            let rtt_us = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX);
            if !out.send(PingReply { request_id, target: to, sequence, rtt_us }).await {
                return Err((Status::Timeout, "client gone".into()));
            }
        }
    }
    if answered == count {
        Ok(String::new())
    } else {
        Err((Status::Timeout, format!("{} of {count} pings unanswered", count - answered)))
    }
}
