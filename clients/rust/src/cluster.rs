//! A cluster, through the daemon: peers, the daemon's node, sockets, events.

use std::time::{Duration, Instant};

use netcluster_control::admin::MemberRecord;
use netcluster_control::local::{
    Connect, ConnectFlags, LocalEvent, LocalMessage, LocalResult, NodeRequest, PeersRequest,
    PeersTrafficRequest, SocketRequest, TargetKind,
};
use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::{NodeId, StrList};

use crate::conn::Conn;
use crate::socket::{MeshSocket, SocketOptions, Target};
use crate::spawn::{self, DaemonOptions};
use crate::Error;

/// How to join a cluster (Net::Cluster's `new`).
#[derive(Debug, Clone)]
pub struct Options {
    /// Beacons on the LAN (default: on).
    pub broadcast: bool,
    /// A tracker, `host:port`.
    pub tracker: Option<String>,
    /// Static seeds, `host:port` each.
    pub seeds: Vec<String>,
    /// The node's name (default: the daemon chooses).
    pub name: Option<String>,
    /// Where the daemon is, and whether to start it.
    pub daemon: DaemonOptions,
    /// How long a request may wait for the daemon's answer (default 30 s).
    pub request_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            broadcast: true,
            tracker: None,
            seeds: Vec::new(),
            name: None,
            daemon: DaemonOptions::default(),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// A node of the mesh as the daemon sees it (Net::Cluster's
/// `Net::Cluster::Node`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    /// Its id (`get_uuid`).
    pub id: NodeId,
    /// Its name.
    pub name: String,
    /// Its groups (`get_groups`).
    pub groups: Vec<String>,
    /// Its attributes (`get_attributes`).
    pub attributes: Vec<(String, String)>,
    /// Hops from the daemon's node (0: the node itself).
    pub hops: u8,
    /// Where it accepts links.
    pub addr: std::net::SocketAddr,
}

impl From<MemberRecord> for Peer {
    fn from(m: MemberRecord) -> Peer {
        Peer {
            id: m.node_id,
            name: m.name.to_string(),
            groups: m.groups.iter().map(|g| g.to_string()).collect(),
            attributes: m.headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            hops: m.hops,
            addr: m.link_addr,
        }
    }
}

/// What the daemon's node exchanges with a peer (Net::Cluster's
/// `get_bandwidth`): application data per second each way, averaged over
/// the last 5 s, and the smoothed round trip once measured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rates {
    /// Bytes received from the peer per second.
    pub rx_bytes_per_sec: u64,
    /// Bytes sent to the peer per second.
    pub tx_bytes_per_sec: u64,
    /// Messages received from the peer per second.
    pub rx_msgs_per_sec: u64,
    /// Messages sent to the peer per second.
    pub tx_msgs_per_sec: u64,
    /// Smoothed end-to-end round trip.
    pub srtt: Option<Duration>,
}

/// Something the daemon reported about a socket.
pub type Event = LocalEvent;

/// A connection to the daemon attached to one cluster. Dropping it closes
/// every socket it opened, on the daemon's side.
#[derive(Debug)]
pub struct Cluster {
    conn: Conn,
    name: String,
    node_id: NodeId,
    timeout: Duration,
}

fn refused(r: LocalResult) -> Error {
    Error::Refused { status: r.status, reason: r.detail.to_string() }
}

fn unexpected(m: &LocalMessage) -> Error {
    Error::Protocol(format!("unexpected answer {} from the daemon", m.name()))
}

impl Cluster {
    /// Joins cluster `name` through the daemon, starting the daemon if none
    /// runs (see [`DaemonOptions`]).
    pub fn connect(name: &str, options: Options) -> Result<Cluster, Error> {
        let stream = spawn::connect(&options.daemon)?;
        let mut conn = Conn::new(stream);
        let id = conn.id();
        let seeds = StrList::from_names(&options.seeds)
            .map_err(|e| Error::Protocol(format!("bad seeds: {e}")))?;
        conn.send(LocalMessage::Connect(Connect {
            request_id: id,
            flags: if options.broadcast { ConnectFlags::BROADCAST } else { ConnectFlags::NONE },
            cluster: name.into(),
            name: options.name.as_deref().unwrap_or("").into(),
            tracker: options.tracker.as_deref().unwrap_or("").into(),
            seeds,
        }))?;
        let deadline = Some(Instant::now() + options.request_timeout);
        match conn.answer(id, deadline)? {
            LocalMessage::Connected(c) => Ok(Cluster {
                conn,
                name: name.to_string(),
                node_id: c.node_id,
                timeout: options.request_timeout,
            }),
            LocalMessage::Result(r) => Err(refused(r)),
            m => Err(unexpected(&m)),
        }
    }

    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The daemon's node in this cluster.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    fn deadline(&self) -> Option<Instant> {
        Some(Instant::now() + self.timeout)
    }

    /// The daemon's process id, from the connection's peer credentials.
    pub fn daemon_pid(&self) -> Result<u32, Error> {
        let cred = rustix::net::sockopt::socket_peercred(self.conn.stream())
            .map_err(|e| Error::Io(e.into()))?;
        Ok(cred.pid.as_raw_nonzero().get() as u32)
    }

    /// The daemon's node: id, name, groups, attributes.
    pub fn local_node(&mut self) -> Result<Peer, Error> {
        let id = self.conn.id();
        self.conn.send(LocalMessage::NodeRequest(NodeRequest { request_id: id }))?;
        match self.conn.answer(id, self.deadline())? {
            LocalMessage::Node(n) => Ok(n.node.into()),
            LocalMessage::Result(r) => Err(refused(r)),
            m => Err(unexpected(&m)),
        }
    }

    /// The reachable peers, only those in `group` unless it is `""`
    /// (Net::Cluster's `list_peers`).
    pub fn peers(&mut self, group: &str) -> Result<Vec<Peer>, Error> {
        let id = self.conn.id();
        self.conn.send(LocalMessage::PeersRequest(PeersRequest {
            request_id: id,
            group: group.into(),
        }))?;
        match self.conn.answer(id, self.deadline())? {
            LocalMessage::Peers(p) => Ok(p.peers.iter().map(Peer::from).collect()),
            LocalMessage::Result(r) => Err(refused(r)),
            m => Err(unexpected(&m)),
        }
    }

    /// The reachable peers with their rates (Net::Cluster's
    /// `get_bandwidth`), only those in `group` unless it is `""`.
    pub fn peers_with_rates(&mut self, group: &str) -> Result<Vec<(Peer, Rates)>, Error> {
        let id = self.conn.id();
        self.conn.send(LocalMessage::PeersTrafficRequest(PeersTrafficRequest {
            request_id: id,
            group: group.into(),
        }))?;
        match self.conn.answer(id, self.deadline())? {
            LocalMessage::PeersTraffic(p) => Ok(p
                .peers
                .iter()
                .map(|r| {
                    let t = r.traffic;
                    let rates = Rates {
                        rx_bytes_per_sec: t.rx_bytes_per_sec,
                        tx_bytes_per_sec: t.tx_bytes_per_sec,
                        rx_msgs_per_sec: t.rx_msgs_per_sec,
                        tx_msgs_per_sec: t.tx_msgs_per_sec,
                        srtt: t.srtt_us.map(|us| Duration::from_micros(us.into())),
                    };
                    (Peer::from(r.member), rates)
                })
                .collect()),
            LocalMessage::Result(r) => Err(refused(r)),
            m => Err(unexpected(&m)),
        }
    }

    /// Waits until a peer named `name` (or with that id's text form) is
    /// reachable, asking the daemon every 50 ms, at most `timeout`.
    pub fn wait_for_peer(&mut self, name: &str, timeout: Duration) -> Result<Peer, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) =
                self.peers("")?.into_iter().find(|p| p.name == name || p.id.to_string() == name)
            {
                return Ok(p);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Opens a mesh socket (Net::Cluster's `socket`).
    pub fn socket(
        &mut self,
        target: Target,
        semantics: Semantics,
        options: SocketOptions,
    ) -> Result<MeshSocket, Error> {
        let (kind, name) = match target {
            Target::Peer(p) => (TargetKind::Peer, p),
            Target::Group(g) => (TargetKind::Group, g),
            Target::ListenStreams => (TargetKind::ListenStreams, String::new()),
            Target::GroupReceive(g) => (TargetKind::GroupReceive, g),
        };
        let id = self.conn.id();
        self.conn.send(LocalMessage::Socket(SocketRequest {
            request_id: id,
            semantics,
            target_kind: kind,
            queue: options.queue,
            timeout_ms: options.timeout_ms,
            retries: options.retries,
            target: name.as_str().into(),
        }))?;
        match self.conn.answer(id, self.deadline())? {
            LocalMessage::SocketOpened(o) => match self.conn.take_fd() {
                Some(fd) => Ok(MeshSocket::new(fd, o.socket_id, semantics)),
                None => Err(Error::Protocol("SOCKET_OPENED came without a descriptor".into())),
            },
            LocalMessage::Result(r) => Err(refused(r)),
            m => Err(unexpected(&m)),
        }
    }

    /// The events the daemon sent so far, without waiting.
    pub fn events(&mut self) -> Result<Vec<Event>, Error> {
        while let Some(m) = self.conn.recv(Some(Instant::now()))? {
            if let LocalMessage::Event(e) = m {
                self.conn.events.push_back(e);
            }
        }
        Ok(self.conn.events.drain(..).collect())
    }

    /// The next event, waiting at most `timeout`; `Ok(None)` if none came.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, Error> {
        if let Some(e) = self.conn.events.pop_front() {
            return Ok(Some(e));
        }
        let deadline = Some(Instant::now() + timeout);
        loop {
            match self.conn.recv(deadline)? {
                None => return Ok(None),
                Some(LocalMessage::Event(e)) => return Ok(Some(e)),
                Some(_) => {}
            }
        }
    }
}

impl std::os::fd::AsRawFd for Cluster {
    /// The control connection: readable when an event (or the daemon's
    /// going away) is waiting.
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.conn.stream().as_raw_fd()
    }
}
