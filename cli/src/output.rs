//! How the client commands print: aligned text for people, JSON for
//! scripts. The JSON field names are part of the interface: fields are
//! only ever added.
//!
//! - `members --json`: an array, the agent's own node first (`hops` 0):
//!   `{"id": "<uuid>", "name": "a", "state": "ready", "addr": "10.0.0.1:7400",
//!   "groups": ["web"], "headers": {"role": "db"}, "hops": 1, "incarnation": 1700000000000,
//!   "rx_bytes_per_sec": 2000, "tx_bytes_per_sec": 100000, "rx_msgs_per_sec": 20,
//!   "tx_msgs_per_sec": 100, "srtt_us": 1500}`. The figures are what the
//!   agent's node exchanges with that member, application data only, averaged
//!   over the last 5 s; `srtt_us` is the smoothed end-to-end round trip, null
//!   until acknowledged data has measured it. The agent's own record has 0
//!   and null; all five are null from an agent that predates them.
//!   `state` is one of `init`, `ready`, `busy`, `error`, `exit`. The
//!   agent's own `addr` is where peers reach it: its advertised address if
//!   set (`--advertise`, or a specific `--bind`), else the address its
//!   first peer reached it at, else (before any link) an address of one of
//!   its interfaces with the link port (routable before IPv6 link-local,
//!   the bind address's family first); never `0.0.0.0`.
//! - `groups --json`: `[{"name": "web", "members": ["<uuid>", ...],
//!   "member_names": ["a", ...]}]`, the agent's own node included.
//! - `routes --json`: `[{"destination": "<uuid>", "destination_name": "b",
//!   "next_hop": "<uuid>", "next_hop_name": "c", "cost": 2, "hops": 2,
//!   "path": ["<uuid of c>", "<uuid of b>"]}]`.
//! - `links --json`: `[{"id": 1, "peer": "<uuid>", "peer_name": "b",
//!   "addr": "10.0.0.2:7400", "kind": "stream", "outgoing": true, "up": true,
//!   "queued_bytes": 3120, "queued_data_bytes": 3072, "queued_frames": 3,
//!   "peak_bytes": 262144, "dropped": 2, "marked": 40, "rtt_us": 310}]`, in
//!   link id order; `peer` and `peer_name` are null until the handshake says
//!   who it is, `rtt_us` (the shortest keepalive round trip) until one was
//!   measured. Datagram links have no queue: 0.
//! - `stats --json`: one object, counter name to value
//!   (`{"datagrams_sent": 12, "frames_received": 40, "dropped_malformed": 0,
//!   "retransmissions": 0, ...}`); unknown counters may appear.
//! - `watch --json`: one object per line, with `event` naming its kind:
//!   - `peer_up`, `peer_updated`: the fields of a member, plus `event`;
//!   - `peer_down`: `id`, `name`, `reason` (`left`, `timed_out`,
//!     `restarted`, `rejected`, `unreachable`);
//!   - `joined`, `left`: `id`, `name` (null if unknown), `group`;
//!   - `message`: `from`, `from_name` (null if unknown), `group` (null for a
//!     message to this node alone, `""` for everyone), `mode` (`datagram`,
//!     `reliable`, `sequenced`), and `payload` when the bytes are UTF-8
//!     text, else `payload_base64` (standard alphabet, padded).

use std::collections::HashMap;

use base64::Engine;
use netcluster_control::admin::{
    AdminEvent, Counter, GroupRecord, LinkRecord, MemberRecord, RouteRecord, TrafficFigures,
};
use netcluster_tokio::NodeId;
use serde_json::{json, Map, Value};

/// Node names by id, for showing ids as names.
#[derive(Debug, Default, Clone)]
pub struct Names(HashMap<NodeId, String>);

impl Names {
    /// Names from a MEMBERS listing.
    pub fn from_members(members: &[MemberRecord]) -> Names {
        Names(members.iter().map(|m| (m.node_id, m.name.to_string())).collect())
    }

    /// Learns (or updates) one name.
    pub fn learn(&mut self, id: NodeId, name: &str) {
        self.0.insert(id, name.to_string());
    }

    /// The name of `id`, if known.
    pub fn get(&self, id: &NodeId) -> Option<&str> {
        self.0.get(id).map(String::as_str)
    }

    /// The name of `id`, else its id.
    pub fn show(&self, id: &NodeId) -> String {
        self.get(id).map_or_else(|| id.to_string(), str::to_string)
    }
}

/// A member as JSON: `id`, `name`, `state`, `addr`, `groups`, `headers`,
/// `hops`, `incarnation`.
pub fn member_json(m: &MemberRecord) -> Value {
    let headers: Map<String, Value> =
        m.headers.iter().map(|(k, v)| (k.to_string(), Value::from(v.to_string()))).collect();
    json!({
        "id": m.node_id.to_string(),
        "name": m.name.to_string(),
        "state": m.state.as_str(),
        "addr": m.link_addr.to_string(),
        "groups": m.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>(),
        "headers": headers,
        "hops": m.hops,
        "incarnation": m.incarnation,
    })
}

/// A member and its traffic figures as JSON: [`member_json`]'s fields and
/// `rx_bytes_per_sec`, `tx_bytes_per_sec`, `rx_msgs_per_sec`,
/// `tx_msgs_per_sec`, `srtt_us`, all null when `traffic` is unknown.
pub fn member_traffic_json(m: &MemberRecord, traffic: Option<&TrafficFigures>) -> Value {
    let mut v = member_json(m);
    let t = traffic;
    v["rx_bytes_per_sec"] = json!(t.map(|t| t.rx_bytes_per_sec));
    v["tx_bytes_per_sec"] = json!(t.map(|t| t.tx_bytes_per_sec));
    v["rx_msgs_per_sec"] = json!(t.map(|t| t.rx_msgs_per_sec));
    v["tx_msgs_per_sec"] = json!(t.map(|t| t.tx_msgs_per_sec));
    v["srtt_us"] = json!(t.and_then(|t| t.srtt_us));
    v
}

/// Microseconds as milliseconds for people; `-` for none.
fn ms(us: Option<u32>) -> String {
    us.map_or_else(|| "-".to_string(), |us| format!("{:.3}", f64::from(us) / 1000.0))
}

/// `members` as text; the figures are `-` where unknown, and for the
/// agent's own node.
pub fn members_text(members: &[(MemberRecord, Option<TrafficFigures>)]) -> String {
    let rows: Vec<Vec<String>> = members
        .iter()
        .map(|(m, t)| {
            let headers: Vec<String> = m.headers.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let t = t.as_ref().filter(|_| m.hops > 0);
            let n = |f: fn(&TrafficFigures) -> u64| t.map_or("-".to_string(), |t| f(t).to_string());
            vec![
                m.name.to_string(),
                m.node_id.to_string(),
                m.state.as_str().to_string(),
                m.link_addr.to_string(),
                m.hops.to_string(),
                n(|t| t.rx_bytes_per_sec),
                n(|t| t.tx_bytes_per_sec),
                n(|t| t.rx_msgs_per_sec),
                n(|t| t.tx_msgs_per_sec),
                ms(t.and_then(|t| t.srtt_us)),
                m.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(","),
                headers.join(","),
            ]
        })
        .collect();
    table(
        &[
            "NAME", "ID", "STATE", "ADDR", "HOPS", "RX B/S", "TX B/S", "RX MSG/S", "TX MSG/S",
            "RTT MS", "GROUPS", "HEADERS",
        ],
        &rows,
    )
}

/// A link as JSON: `id`, `peer`, `peer_name`, `addr`, `kind`, `outgoing`,
/// `up`, `encrypted`, `queued_bytes`, `queued_data_bytes`, `queued_frames`,
/// `peak_bytes`, `dropped`, `marked`, `rtt_us`.
pub fn link_json(l: &LinkRecord, names: &Names) -> Value {
    json!({
        "id": l.link_id,
        "peer": l.peer.map(|p| p.to_string()),
        "peer_name": l.peer.as_ref().and_then(|p| names.get(p)),
        "addr": l.addr.to_string(),
        "kind": l.kind.as_str(),
        "outgoing": l.outgoing,
        "up": l.up,
        "encrypted": l.encrypted,
        "queued_bytes": l.queued_bytes,
        "queued_data_bytes": l.queued_data_bytes,
        "queued_frames": l.queued_frames,
        "peak_bytes": l.peak_bytes,
        "dropped": l.dropped,
        "marked": l.marked,
        "rtt_us": l.rtt_us,
    })
}

/// `links` as text.
pub fn links_text(links: &[LinkRecord], names: &Names) -> String {
    let rows: Vec<Vec<String>> = links
        .iter()
        .map(|l| {
            vec![
                l.link_id.to_string(),
                l.peer.as_ref().map_or_else(|| "-".to_string(), |p| names.show(p)),
                l.addr.to_string(),
                l.kind.as_str().to_string(),
                if l.outgoing { "out" } else { "in" }.to_string(),
                if l.up { "up" } else { "handshake" }.to_string(),
                if l.encrypted { "noise" } else { "clear" }.to_string(),
                l.queued_bytes.to_string(),
                l.queued_frames.to_string(),
                l.peak_bytes.to_string(),
                l.dropped.to_string(),
                l.marked.to_string(),
                ms(l.rtt_us),
            ]
        })
        .collect();
    table(
        &[
            "LINK", "PEER", "ADDR", "KIND", "DIR", "STATE", "CRYPTO", "QUEUED", "FRAMES", "PEAK",
            "DROPPED", "MARKED", "RTT MS",
        ],
        &rows,
    )
}

/// A group as JSON: `name`, `members` (ids), `member_names`.
pub fn group_json(g: &GroupRecord, names: &Names) -> Value {
    let ids: Vec<NodeId> = g.members.iter().collect();
    json!({
        "name": g.name.to_string(),
        "members": ids.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "member_names": ids.iter().map(|i| names.get(i)).collect::<Vec<_>>(),
    })
}

/// `groups` as text.
pub fn groups_text(groups: &[GroupRecord], names: &Names) -> String {
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            let members: Vec<String> = g.members.iter().map(|i| names.show(&i)).collect();
            vec![g.name.to_string(), members.len().to_string(), members.join(",")]
        })
        .collect();
    table(&["GROUP", "SIZE", "MEMBERS"], &rows)
}

/// A route as JSON: `destination`, `destination_name`, `next_hop`,
/// `next_hop_name`, `cost`, `hops`, `path` (ids after the agent).
pub fn route_json(r: &RouteRecord, names: &Names) -> Value {
    json!({
        "destination": r.destination.to_string(),
        "destination_name": names.get(&r.destination),
        "next_hop": r.next_hop.to_string(),
        "next_hop_name": names.get(&r.next_hop),
        "cost": r.cost,
        "hops": r.hops(),
        "path": r.path.iter().map(|i| i.to_string()).collect::<Vec<_>>(),
    })
}

/// `routes` as text.
pub fn routes_text(routes: &[RouteRecord], names: &Names) -> String {
    let rows: Vec<Vec<String>> = routes
        .iter()
        .map(|r| {
            let path: Vec<String> = r.path.iter().map(|i| names.show(&i)).collect();
            vec![
                names.show(&r.destination),
                names.show(&r.next_hop),
                r.hops().to_string(),
                r.cost.to_string(),
                path.join(" > "),
            ]
        })
        .collect();
    table(&["DESTINATION", "NEXT HOP", "HOPS", "COST", "PATH"], &rows)
}

/// `stats` as JSON: one object, counter name to value.
pub fn stats_json(counters: &[Counter]) -> Value {
    Value::Object(counters.iter().map(|c| (c.name.to_string(), Value::from(c.value))).collect())
}

/// `stats` as text.
pub fn stats_text(counters: &[Counter]) -> String {
    let rows: Vec<Vec<String>> =
        counters.iter().map(|c| vec![c.name.to_string(), c.value.to_string()]).collect();
    table(&["COUNTER", "VALUE"], &rows)
}

/// An event as JSON, with an `event` field naming its kind. Messages carry
/// `payload` when it is UTF-8 text, else `payload_base64`.
pub fn event_json(e: &AdminEvent, names: &Names) -> Value {
    match e {
        AdminEvent::PeerUp(m) | AdminEvent::PeerUpdated(m) => {
            let mut v = member_json(m);
            v["event"] = Value::from(e.kind().as_str());
            v
        }
        AdminEvent::PeerDown { node_id, reason, name } => json!({
            "event": "peer_down",
            "id": node_id.to_string(),
            "name": name.to_string(),
            "reason": reason.as_str(),
        }),
        AdminEvent::Joined { node_id, group } | AdminEvent::Left { node_id, group } => json!({
            "event": e.kind().as_str(),
            "id": node_id.to_string(),
            "name": names.get(node_id),
            "group": group.to_string(),
        }),
        AdminEvent::Message { from, mode, group, payload } => {
            let mut v = json!({
                "event": "message",
                "from": from.to_string(),
                "from_name": names.get(from),
                "group": group.as_ref().map(|g| g.to_string()),
                "mode": mode.as_str(),
            });
            match std::str::from_utf8(payload) {
                Ok(text) => v["payload"] = Value::from(text),
                Err(_) => {
                    v["payload_base64"] =
                        Value::from(base64::engine::general_purpose::STANDARD.encode(payload))
                }
            }
            v
        }
    }
}

/// An event as one line of text.
pub fn event_text(e: &AdminEvent, names: &Names) -> String {
    match e {
        AdminEvent::PeerUp(m) => {
            format!("peer_up      {} {} at {} ({} hops)", m.name, m.node_id, m.link_addr, m.hops)
        }
        AdminEvent::PeerUpdated(m) => format!(
            "peer_updated {} state={} hops={} groups=[{}]",
            m.name,
            m.state.as_str(),
            m.hops,
            m.groups.iter().map(|g| g.to_string()).collect::<Vec<_>>().join(",")
        ),
        AdminEvent::PeerDown { node_id, reason, name } => {
            format!("peer_down    {name} {node_id} ({reason})")
        }
        AdminEvent::Joined { node_id, group } => {
            format!("joined       {} -> {group}", names.show(node_id))
        }
        AdminEvent::Left { node_id, group } => {
            format!("left         {} <- {group}", names.show(node_id))
        }
        AdminEvent::Message { from, mode, group, payload } => {
            let to = match group {
                None => "direct".to_string(),
                Some(g) if g.is_empty() => "everyone".to_string(),
                Some(g) => format!("group {g}"),
            };
            let body = match std::str::from_utf8(payload) {
                Ok(t) => t.to_string(),
                Err(_) => format!(
                    "<{} bytes, base64 {}>",
                    payload.len(),
                    base64::engine::general_purpose::STANDARD.encode(payload)
                ),
            };
            format!("message      from {} ({to}, {mode}): {body}", names.show(from))
        }
    }
}

/// Left-aligned columns, two spaces apart.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use netcluster_control::admin::DeliveryMode;

    #[test]
    fn message_payload_text_or_base64() {
        let names = Names::default();
        let text = AdminEvent::Message {
            from: NodeId([1; 16]),
            mode: DeliveryMode::Reliable,
            group: None,
            payload: Bytes::from_static(b"hi"),
        };
        let v = event_json(&text, &names);
        assert_eq!(v["event"], "message");
        assert_eq!(v["payload"], "hi");
        assert!(v["group"].is_null());
        let bin = AdminEvent::Message {
            from: NodeId([1; 16]),
            mode: DeliveryMode::Datagram,
            group: Some("g".into()),
            payload: Bytes::from_static(&[0xff, 0x00]),
        };
        let v = event_json(&bin, &names);
        assert_eq!(v["payload_base64"], "/wA=");
        assert_eq!(v["group"], "g");
        assert!(v.get("payload").is_none());
    }

    #[test]
    fn figures_are_numbers_or_null_and_links_read_as_documented() {
        use netcluster_control::admin::LinkKind;
        let m = MemberRecord {
            node_id: NodeId([2; 16]),
            incarnation: 1,
            state: netcluster_tokio::NodeState::Ready,
            hops: 1,
            link_addr: "10.0.0.2:7400".parse().unwrap(),
            name: "b".into(),
            groups: Default::default(),
            headers: Default::default(),
        };
        let t = TrafficFigures { tx_bytes_per_sec: 100, srtt_us: Some(1500), ..Default::default() };
        let v = member_traffic_json(&m, Some(&t));
        assert_eq!(
            (v["tx_bytes_per_sec"].as_u64(), v["srtt_us"].as_u64()),
            (Some(100), Some(1500))
        );
        assert_eq!(v["rx_msgs_per_sec"], 0);
        assert_eq!(v["name"], "b", "the member's own fields stay");
        let unknown = member_traffic_json(&m, None);
        assert!(unknown["tx_bytes_per_sec"].is_null() && unknown["srtt_us"].is_null());
        let text = members_text(&[(m.clone(), Some(t)), (m, None)]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("TX B/S") && lines[0].contains("RTT MS"), "{text}");
        assert!(lines[1].contains(" 100 ") && lines[1].contains("1.500"), "{text}");

        let l = LinkRecord {
            link_id: 4,
            peer: None,
            kind: LinkKind::Datagram,
            outgoing: false,
            up: false,
            encrypted: false,
            queued_frames: 0,
            queued_bytes: 0,
            queued_data_bytes: 0,
            peak_bytes: 0,
            dropped: 1,
            marked: 2,
            rtt_us: None,
            addr: "10.0.0.3:7400".parse().unwrap(),
        };
        let v = link_json(&l, &Names::default());
        assert!(v["peer"].is_null() && v["peer_name"].is_null() && v["rtt_us"].is_null());
        assert_eq!((v["kind"].as_str(), v["dropped"].as_u64()), (Some("datagram"), Some(1)));
        let text = links_text(&[l], &Names::default());
        assert!(text.lines().nth(1).unwrap().starts_with("4     -  "), "{text}");
    }

    #[test]
    fn table_aligns() {
        let t = table(&["A", "B"], &[vec!["xxx".into(), "1".into()]]);
        assert_eq!(t, "A    B\nxxx  1");
    }
}
