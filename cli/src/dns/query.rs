//! One DNS exchange: a query over UDP, again over TCP when the answer is
//! truncated, with the answer checked against the question.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

/// Largest UDP answer asked for (EDNS): the size DNS flag day 2020 settled
/// on, which crosses common paths without fragmentation.
const EDNS_PAYLOAD: u16 = 1232;

/// Why a DNS lookup failed. Every one is logged and retried with backoff
/// by [`spawn_srv_seeds`](super::spawn_srv_seeds).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// The name is not a valid DNS name.
    #[error("invalid DNS name {name:?}: {reason}")]
    BadName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No server given and none found in `/etc/resolv.conf`.
    #[error("no DNS server: {0}")]
    NoServer(String),
    /// The server did not answer in time.
    #[error("DNS server {server} did not answer within {after:?}")]
    Timeout {
        /// The server asked.
        server: SocketAddr,
        /// Time waited.
        after: Duration,
    },
    /// The name does not exist (NXDOMAIN).
    #[error("{name} does not exist (NXDOMAIN)")]
    NxDomain {
        /// The name asked for.
        name: String,
    },
    /// The name exists but has no records of the type asked for.
    #[error("{name} has no {rtype} records")]
    NoRecords {
        /// The name asked for.
        name: String,
        /// The record type asked for.
        rtype: String,
    },
    /// The server answered with an error code (SERVFAIL, REFUSED...).
    #[error("DNS server {server} answered {rcode}")]
    Server {
        /// The server asked.
        server: SocketAddr,
        /// Its response code.
        rcode: String,
    },
    /// The answer could not be decoded or does not answer the question.
    #[error("malformed DNS answer from {server}: {reason}")]
    Malformed {
        /// The server asked.
        server: SocketAddr,
        /// What is wrong.
        reason: String,
    },
    /// A socket failed.
    #[error("DNS server {server}: {source}")]
    Io {
        /// The server asked.
        server: SocketAddr,
        /// The socket error.
        #[source]
        source: std::io::Error,
    },
}

/// Parses `name` as an absolute DNS name (search domains never apply).
pub(crate) fn parse_name(name: &str) -> Result<Name, DnsError> {
    let mut n = Name::from_ascii(name)
        .map_err(|e| DnsError::BadName { name: name.to_string(), reason: e.to_string() })?;
    n.set_fqdn(true);
    Ok(n)
}

/// The first `nameserver` of a resolv.conf text, on port 53.
pub fn nameserver_from_resolv_conf(text: &str) -> Option<SocketAddr> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            return None;
        }
        // A scoped IPv6 address (fe80::1%eth0) keeps only its address: the
        // scope name cannot be given to a SocketAddr without an index.
        let addr = words.next()?.split('%').next()?;
        addr.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 53))
    })
}

/// The system's first name server, from `/etc/resolv.conf`.
pub fn system_nameserver() -> Result<SocketAddr, DnsError> {
    let text = std::fs::read_to_string("/etc/resolv.conf")
        .map_err(|e| DnsError::NoServer(format!("/etc/resolv.conf: {e}")))?;
    nameserver_from_resolv_conf(&text)
        .ok_or_else(|| DnsError::NoServer("no nameserver line in /etc/resolv.conf".into()))
}

/// Asks `server` for the `rtype` records of `name`; returns the checked
/// answer (response code NOERROR or NXDOMAIN, decided by the caller).
pub(crate) async fn exchange(
    server: SocketAddr,
    name: &Name,
    rtype: RecordType,
    timeout: Duration,
) -> Result<Message, DnsError> {
    let mut query = Message::query();
    query.metadata.recursion_desired = true;
    query.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    query.set_edns(edns);
    let bytes = query
        .to_vec()
        .map_err(|e| DnsError::BadName { name: name.to_ascii(), reason: e.to_string() })?;
    let deadline = Instant::now() + timeout;
    let timed_out = || DnsError::Timeout { server, after: timeout };
    let io = |source| DnsError::Io { server, source };

    let answer = timeout_at(deadline, udp_exchange(server, &bytes, &query))
        .await
        .map_err(|_| timed_out())??;
    if !answer.metadata.truncation {
        return Ok(answer);
    }
    tracing::debug!(%server, %name, "truncated answer; asking again over TCP");
    let tcp = async {
        let mut stream = TcpStream::connect(server).await.map_err(io)?;
        let len = u16::try_from(bytes.len()).map_err(|_| DnsError::BadName {
            name: name.to_ascii(),
            reason: "query too long".into(),
        })?;
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await.map_err(io)?;
        let len = stream.read_u16().await.map_err(io)?;
        let mut buf = vec![0u8; usize::from(len)];
        stream.read_exact(&mut buf).await.map_err(io)?;
        check(server, &buf, &query)?.ok_or_else(|| DnsError::Malformed {
            server,
            reason: "the TCP answer does not match the question".into(),
        })
    };
    timeout_at(deadline, tcp).await.map_err(|_| timed_out())?
}

async fn udp_exchange(
    server: SocketAddr,
    bytes: &[u8],
    query: &Message,
) -> Result<Message, DnsError> {
    let io = |source| DnsError::Io { server, source };
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => ([0, 0, 0, 0], 0).into(),
        SocketAddr::V6(_) => ([0u16; 8], 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(io)?;
    // Connected: only the server's datagrams are received.
    socket.connect(server).await.map_err(io)?;
    socket.send(bytes).await.map_err(io)?;
    let mut buf = vec![0u8; 65_535];
    loop {
        let n = socket.recv(&mut buf).await.map_err(io)?;
        match check(server, &buf[..n], query) {
            Ok(Some(m)) => return Ok(m),
            // Not ours (a late answer, a forged one): keep waiting.
            Ok(None) => tracing::debug!(%server, "ignoring a DNS answer to another question"),
            Err(e) => return Err(e),
        }
    }
}

/// Decodes an answer: `Ok(None)` when it answers another question (id or
/// question differ), an error when it cannot be decoded.
fn check(server: SocketAddr, buf: &[u8], query: &Message) -> Result<Option<Message>, DnsError> {
    let answer = Message::from_vec(buf)
        .map_err(|e| DnsError::Malformed { server, reason: e.to_string() })?;
    if answer.metadata.id != query.metadata.id
        || answer.metadata.message_type != MessageType::Response
        || answer.metadata.op_code != OpCode::Query
    {
        return Ok(None);
    }
    // A truncated answer may leave out the question; a complete one must
    // echo it.
    if !(answer.metadata.truncation && answer.queries.is_empty()) && answer.queries != query.queries
    {
        return Ok(None);
    }
    Ok(Some(answer))
}

/// Maps the answer's response code to an error (NOERROR passes).
pub(crate) fn check_rcode(
    server: SocketAddr,
    name: &Name,
    answer: &Message,
) -> Result<(), DnsError> {
    match answer.metadata.response_code {
        ResponseCode::NoError => Ok(()),
        ResponseCode::NXDomain => Err(DnsError::NxDomain { name: name.to_ascii() }),
        rcode => Err(DnsError::Server { server, rcode: rcode.to_string() }),
    }
}
