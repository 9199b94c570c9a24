//! The command side of the admin socket: one connection to an agent,
//! request by request.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use netcluster_control::admin::{
    AdminEvent, AdminResult, Counter, DeliveryMode, EventMask, GroupRecord, GroupsRequest,
    JoinRequest, LeaveRequest, LinkRecord, LinksRequest, MemberRecord, MemberTrafficRecord,
    MembersRequest, MembersTrafficRequest, PingReply, PingRequest, RouteRecord, RoutesRequest,
    SendRequest, ShoutRequest, StatsRequest, Status, SubscribeRequest,
};
use netcluster_control::AdminMessage;
use netcluster_core::wire::{ByteString, Limits};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

use super::frame::{self, FrameError, FrameReader};

/// Why talking to the agent failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing at the path.
    #[error("no agent at {}: the admin socket does not exist (is `netcluster agent` running?)", .0.display())]
    NoAgent(PathBuf),
    /// A socket file nobody listens on.
    #[error("stale admin socket {}: no agent is listening on it", .0.display())]
    Stale(PathBuf),
    /// Any other failure to connect.
    #[error("cannot connect to the admin socket {}: {source}", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The connection failed.
    #[error("admin connection failed: {0}")]
    Io(#[from] std::io::Error),
    /// The agent closed the connection before answering.
    #[error("the agent closed the connection")]
    Closed,
    /// The agent said something that makes no sense here.
    #[error("unexpected answer from the agent: {0}")]
    Protocol(String),
    /// No answer in time.
    #[error("no answer from the agent within {0:?}")]
    Timeout(Duration),
    /// The agent refused or failed the request.
    #[error("{}", refused_text(.status, .detail))]
    Refused {
        /// The RESULT's status.
        status: Status,
        /// Its detail.
        detail: String,
    },
}

impl ClientError {
    /// Whether the agent does not implement the request (an older agent).
    pub fn is_unsupported(&self) -> bool {
        matches!(self, ClientError::Refused { status: Status::Unsupported, .. })
    }
}

fn refused_text(status: &Status, detail: &str) -> String {
    if detail.is_empty() {
        status.as_str().replace('_', " ")
    } else {
        format!("{}: {detail}", status.as_str().replace('_', " "))
    }
}

/// A connection to an agent.
#[derive(Debug)]
pub struct Client {
    reader: FrameReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u32,
    limits: Limits,
    /// How long one request may take (PING and reliable SEND take longer).
    pub timeout: Duration,
}

impl Client {
    /// Connects to the agent serving `path`.
    pub async fn connect(path: &Path) -> Result<Client, ClientError> {
        let stream = UnixStream::connect(path).await.map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ClientError::NoAgent(path.to_path_buf()),
            std::io::ErrorKind::ConnectionRefused => ClientError::Stale(path.to_path_buf()),
            _ => ClientError::Connect { path: path.to_path_buf(), source: e },
        })?;
        let (r, writer) = stream.into_split();
        let limits = Limits::DEFAULT;
        Ok(Client {
            reader: FrameReader::new(r, limits.max_frame),
            writer,
            next_id: 1,
            limits,
            timeout: Duration::from_secs(10),
        })
    }

    fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// The next message from the agent.
    pub async fn read(&mut self) -> Result<AdminMessage, ClientError> {
        let frame = match self.reader.next().await {
            Ok(Some(f)) => f,
            Ok(None) | Err(FrameError::Truncated) => return Err(ClientError::Closed),
            Err(FrameError::Io(e)) => return Err(ClientError::Io(e)),
            Err(FrameError::Framing(e)) => return Err(ClientError::Protocol(e.to_string())),
        };
        frame::decode(&frame, &self.limits).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    /// Sends a request and returns the first answer carrying its id (events
    /// of an earlier subscription are skipped).
    async fn call(&mut self, msg: AdminMessage) -> Result<AdminMessage, ClientError> {
        let id = msg.request_id();
        let limit = self.timeout;
        let exchange = async {
            frame::write(&mut self.writer, msg).await?;
            loop {
                let answer = self.read().await?;
                // Request id 0: the agent could not read our request at all
                // and is about to close the connection.
                if let AdminMessage::Result(r) = &answer {
                    if r.request_id == 0 && !r.status.is_ok() {
                        return Ok(answer);
                    }
                }
                if matches!(answer, AdminMessage::Event(_)) || answer.request_id() != id {
                    continue;
                }
                return Ok(answer);
            }
        };
        tokio::time::timeout(limit, exchange).await.map_err(|_| ClientError::Timeout(limit))?
    }

    async fn call_ok(&mut self, msg: AdminMessage) -> Result<String, ClientError> {
        match self.call(msg).await? {
            AdminMessage::Result(r) => ok_or_refused(r),
            other => Err(unexpected(&other)),
        }
    }

    /// Every member, the agent's own node first.
    pub async fn members(&mut self) -> Result<Vec<MemberRecord>, ClientError> {
        let request_id = self.id();
        match self.call(MembersRequest { request_id }.into()).await? {
            AdminMessage::Members(m) => Ok(m.members.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// Every member with its traffic figures, the agent's own node first.
    /// An agent that predates MEMBERS_TRAFFIC refuses it with
    /// [`Status::Unsupported`] (see [`ClientError::is_unsupported`]): ask
    /// [`members`](Self::members) then.
    pub async fn members_traffic(&mut self) -> Result<Vec<MemberTrafficRecord>, ClientError> {
        let request_id = self.id();
        match self.call(MembersTrafficRequest { request_id }.into()).await? {
            AdminMessage::MembersTraffic(m) => Ok(m.members.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent's links and their queues.
    pub async fn links(&mut self) -> Result<Vec<LinkRecord>, ClientError> {
        let request_id = self.id();
        match self.call(LinksRequest { request_id }.into()).await? {
            AdminMessage::Links(l) => Ok(l.links.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// Every group with a member.
    pub async fn groups(&mut self) -> Result<Vec<GroupRecord>, ClientError> {
        let request_id = self.id();
        match self.call(GroupsRequest { request_id }.into()).await? {
            AdminMessage::Groups(g) => Ok(g.groups.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent's routes.
    pub async fn routes(&mut self) -> Result<Vec<RouteRecord>, ClientError> {
        let request_id = self.id();
        match self.call(RoutesRequest { request_id }.into()).await? {
            AdminMessage::Routes(r) => Ok(r.routes.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// The agent's counters.
    pub async fn stats(&mut self) -> Result<Vec<Counter>, ClientError> {
        let request_id = self.id();
        match self.call(StatsRequest { request_id }.into()).await? {
            AdminMessage::Stats(s) => Ok(s.counters.iter().collect()),
            AdminMessage::Result(r) => Err(ok_or_refused(r).err().unwrap_or_else(no_listing)),
            other => Err(unexpected(&other)),
        }
    }

    /// Sends `payload` to `target` (a name or id); returns once it is handed
    /// to the mesh (datagram) or delivered.
    pub async fn send(
        &mut self,
        target: &str,
        mode: DeliveryMode,
        payload: Bytes,
    ) -> Result<String, ClientError> {
        let request_id = self.id();
        let target = name(target, "node name")?;
        self.check_size(payload.len())?;
        self.call_ok(SendRequest { request_id, mode, target, payload }.into()).await
    }

    /// Sends `payload` to every member of `group` (`""`: everyone).
    pub async fn shout(
        &mut self,
        group: &str,
        mode: DeliveryMode,
        payload: Bytes,
    ) -> Result<String, ClientError> {
        let request_id = self.id();
        let group = name(group, "group name")?;
        self.check_size(payload.len())?;
        self.call_ok(ShoutRequest { request_id, mode, group, payload }.into()).await
    }

    /// A message must fit in one admin frame with its header and names.
    fn check_size(&self, payload: usize) -> Result<(), ClientError> {
        let max = self.limits.max_frame.saturating_sub(512);
        if payload > max {
            return Err(ClientError::Refused {
                status: Status::Limit,
                detail: format!("message of {payload} bytes; the admin socket takes at most {max}"),
            });
        }
        Ok(())
    }

    /// Makes the agent's node join `group`.
    pub async fn join(&mut self, group: &str) -> Result<String, ClientError> {
        let request_id = self.id();
        let group = name(group, "group name")?;
        self.call_ok(JoinRequest { request_id, group }.into()).await
    }

    /// Makes the agent's node leave `group`.
    pub async fn leave(&mut self, group: &str) -> Result<String, ClientError> {
        let request_id = self.id();
        let group = name(group, "group name")?;
        self.call_ok(LeaveRequest { request_id, group }.into()).await
    }

    /// Pings `target` `count` times, one a second, calling `on_reply` for
    /// each answer; `Ok` if every ping was answered.
    pub async fn ping(
        &mut self,
        target: &str,
        count: u16,
        mut on_reply: impl FnMut(PingReply),
    ) -> Result<(), ClientError> {
        let request_id = self.id();
        let target = name(target, "node name")?;
        frame::write(&mut self.writer, PingRequest { request_id, count, target }).await?;
        // A second per ping, plus the last one's wait and some slack.
        let limit = Duration::from_secs(u64::from(count) + 15);
        let exchange = async {
            loop {
                match self.read().await? {
                    AdminMessage::PingReply(p) if p.request_id == request_id => on_reply(p),
                    AdminMessage::Result(r) if r.request_id == request_id => {
                        return ok_or_refused(r).map(drop)
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(limit, exchange).await.map_err(|_| ClientError::Timeout(limit))?
    }

    /// Asks for the events in `mask` on this connection; read them with
    /// [`next_event`](Self::next_event).
    pub async fn subscribe(&mut self, mask: EventMask) -> Result<(), ClientError> {
        let request_id = self.id();
        self.call_ok(SubscribeRequest { request_id, events: mask }.into()).await.map(drop)
    }

    /// The next event of the subscription; `Err(Closed)` when the agent
    /// goes away.
    pub async fn next_event(&mut self) -> Result<AdminEvent, ClientError> {
        loop {
            if let AdminMessage::Event(e) = self.read().await? {
                return Ok(e.event);
            }
        }
    }
}

fn name(s: &str, what: &str) -> Result<ByteString, ClientError> {
    if s.len() > 255 {
        return Err(ClientError::Refused {
            status: Status::BadRequest,
            detail: format!("{what} longer than 255 bytes"),
        });
    }
    Ok(ByteString::from(s))
}

fn ok_or_refused(r: AdminResult) -> Result<String, ClientError> {
    if r.status.is_ok() {
        Ok(r.detail.to_string())
    } else {
        Err(ClientError::Refused { status: r.status, detail: r.detail.to_string() })
    }
}

fn no_listing() -> ClientError {
    ClientError::Protocol("RESULT ok where a listing was expected".into())
}

fn unexpected(m: &AdminMessage) -> ClientError {
    ClientError::Protocol(format!("unexpected {}", m.name()))
}
