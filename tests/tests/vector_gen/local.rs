//! The golden vectors of the local sub-protocol (id 5, an application and
//! its host daemon), whose codec lives in `netcluster-control`.

use netcluster_control::admin::{MemberTrafficRecord, TrafficFigures};
use netcluster_control::local::{
    Connect, ConnectFlags, Connected, LocalEvent, LocalEventKind, LocalMessage, LocalResult,
    LocalStatus, NodeInfo, NodeRequest, Peers, PeersRequest, PeersTraffic, PeersTrafficRequest,
    SocketOpened, SocketRequest, TargetKind,
};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::lists::VarList;
use netcluster_core::wire::StrList;

use super::control::{member, member_fields, MEMBER_A, MEMBER_B};
use super::{vector, Enc, Vector, A, B};

fn local(m: impl Into<LocalMessage>) -> ControlFrame {
    ControlFrame::new(ControlMessage::Local(m.into()))
}

fn socket_vector(
    path: &str,
    about: &[&str],
    semantics: Semantics,
    kind: TargetKind,
    target: &str,
) -> Vector {
    let req = SocketRequest {
        request_id: 2,
        semantics,
        target_kind: kind,
        queue: 0,
        timeout_ms: 0,
        retries: 0,
        target: target.into(),
    };
    let mut e = Enc::default();
    e.u32(2, "request_id")
        .semantics(semantics)
        .u8_as(kind as u8, format!("target_kind = {} ({})", kind as u8, kind.as_str()))
        .u16(0, "queue (0: the daemon's default)")
        .u32(0, "timeout_ms (0: the node's own)")
        .u8(0, "retries (0: the node's own)")
        .str8(target, "target");
    vector(path, about, local(LocalMessage::Socket(req)), None, &e)
}

/// Every local vector.
pub(super) fn locals() -> Vec<Vector> {
    let mut out = Vec::new();

    let connect = Connect {
        request_id: 1,
        flags: ConnectFlags::BROADCAST,
        cluster: "demo".into(),
        name: "".into(),
        tracker: "".into(),
        seeds: StrList::from_names(["192.0.2.2:7400"]).expect("seeds"),
    };
    let mut e = Enc::default();
    e.u32(1, "request_id")
        .u8_as(1, "flags = 0x01 (BROADCAST: beacons on the LAN)")
        .str8("demo", "cluster")
        .str8("", "name (empty: the daemon chooses)")
        .str8("", "tracker (empty: none)")
        .str_list(&["192.0.2.2:7400"], "seeds");
    out.push(vector(
        "local/connect.hex",
        &[
            "CONNECT (local type 1), version 1: attach to cluster \"demo\", beacons on,",
            "one static seed. The first frame an application sends the daemon.",
        ],
        local(LocalMessage::Connect(connect)),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(1, "request_id").id(A, "node_id");
    out.push(vector(
        "local/connected.hex",
        &["CONNECTED (local type 2), version 1: the daemon's node in \"demo\" is A."],
        local(LocalMessage::Connected(Connected { request_id: 1, node_id: A })),
        None,
        &e,
    ));

    out.push(socket_vector(
        "local/socket.hex",
        &[
            "SOCKET (local type 3), version 1: a sequenced socket to peer \"bravo\"",
            "(a SOCK_SEQPACKET descriptor comes back), default queue and timeouts.",
        ],
        Semantics::Sequenced,
        TargetKind::Peer,
        "bravo",
    ));
    out.push(socket_vector(
        "local/socket_group_receive.hex",
        &[
            "SOCKET (local type 3), version 1: receive what is shouted to group",
            "\"chat\", reliably (the daemon's node joins \"chat\" while it is open).",
        ],
        Semantics::Reliable,
        TargetKind::GroupReceive,
        "chat",
    ));
    out.push(socket_vector(
        "local/socket_listen.hex",
        &[
            "SOCKET (local type 3), version 1: listen for the streams other nodes",
            "open to this one; each comes as a descriptor read from this socket.",
        ],
        Semantics::Stream,
        TargetKind::ListenStreams,
        "",
    ));

    let mut e = Enc::default();
    e.u32(2, "request_id").u32(1, "socket_id");
    out.push(vector(
        "local/socket_opened.hex",
        &[
            "SOCKET_OPENED (local type 4), version 1: socket 1 is open. These bytes",
            "go in one sendmsg whose SCM_RIGHTS message carries its descriptor.",
        ],
        local(LocalMessage::SocketOpened(SocketOpened { request_id: 2, socket_id: 1 })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(3, "request_id").str8("chat", "group");
    out.push(vector(
        "local/peers_request.hex",
        &["PEERS_REQUEST (local type 5), version 1: the peers in group \"chat\"."],
        local(LocalMessage::PeersRequest(PeersRequest { request_id: 3, group: "chat".into() })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(3, "request_id").u16(1, "peer_count");
    member_fields(&mut e, &MEMBER_B, "peers[0].");
    out.push(vector(
        "local/peers.hex",
        &["PEERS (local type 6), version 1: one peer, B, as an admin member record."],
        local(LocalMessage::Peers(Peers {
            request_id: 3,
            peers: VarList::from_records([member(&MEMBER_B)]).expect("records"),
        })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(5, "request_id").str8("", "group (empty: every peer)");
    out.push(vector(
        "local/peers_traffic_request.hex",
        &["PEERS_TRAFFIC_REQUEST (local type 13), version 1: every peer, with figures."],
        local(LocalMessage::PeersTrafficRequest(PeersTrafficRequest {
            request_id: 5,
            group: "".into(),
        })),
        None,
        &e,
    ));

    let figures = TrafficFigures {
        rx_bytes_per_sec: 125_000,
        tx_bytes_per_sec: 2_000,
        rx_msgs_per_sec: 100,
        tx_msgs_per_sec: 4,
        srtt_us: Some(1_500),
    };
    let mut e = Enc::default();
    e.u32(5, "request_id")
        .u16(1, "peer_count")
        .u64(125_000, "peers[0].rx_bytes_per_sec")
        .u64(2_000, "peers[0].tx_bytes_per_sec")
        .u64(100, "peers[0].rx_msgs_per_sec")
        .u64(4, "peers[0].tx_msgs_per_sec")
        .u32(1_500, "peers[0].srtt_us");
    member_fields(&mut e, &MEMBER_B, "peers[0].");
    out.push(vector(
        "local/peers_traffic.hex",
        &[
            "PEERS_TRAFFIC (local type 14), version 1: peer B behind its figures",
            "(125 kB/s and 100 msg/s from it, 2 kB/s and 4 msg/s to it, 1.5 ms SRTT).",
        ],
        local(LocalMessage::PeersTraffic(PeersTraffic {
            request_id: 5,
            peers: VarList::from_records([MemberTrafficRecord {
                traffic: figures,
                member: member(&MEMBER_B),
            }])
            .expect("records"),
        })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(4, "request_id");
    out.push(vector(
        "local/node_request.hex",
        &["NODE_REQUEST (local type 7), version 1."],
        local(LocalMessage::NodeRequest(NodeRequest { request_id: 4 })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(4, "request_id");
    member_fields(&mut e, &MEMBER_A, "node.");
    out.push(vector(
        "local/node.hex",
        &["NODE (local type 8), version 1: the daemon's node A (hops 0)."],
        local(LocalMessage::Node(NodeInfo { request_id: 4, node: member(&MEMBER_A) })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(2, "request_id")
        .u8_as(LocalStatus::UnknownTarget as u8, "status = 2 (unknown_target)")
        .str16("no node named \"zulu\"", "detail");
    out.push(vector(
        "local/result.hex",
        &["RESULT (local type 10), version 1: a SOCKET refused, unknown peer."],
        local(LocalMessage::Result(LocalResult {
            request_id: 2,
            status: LocalStatus::UnknownTarget,
            detail: "no node named \"zulu\"".into(),
        })),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.u32(1, "socket_id")
        .u8_as(LocalEventKind::DeliveryFailed as u8, "kind = 0 (delivery_failed)")
        .id(B, "peer")
        .str16("timeout", "detail");
    out.push(vector(
        "local/event.hex",
        &[
            "EVENT (local type 12), version 1: a message written to socket 1 will",
            "not reach B (delivery timeout).",
        ],
        local(LocalMessage::Event(LocalEvent {
            socket_id: 1,
            kind: LocalEventKind::DeliveryFailed,
            peer: B,
            detail: "timeout".into(),
        })),
        None,
        &e,
    ));
    out
}
