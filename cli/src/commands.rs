//! The client commands: each connects to an agent, asks, prints.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use netcluster_control::admin::{
    AdminEvent, DeliveryMode, EventMask, MemberRecord, TrafficFigures,
};

use crate::admin::client::{Client, ClientError};
use crate::args::{AdminArg, GroupArgs, ListArgs, Mode, PingArgs, SendArgs, ShoutArgs};
use crate::output::{self, Names};

/// A client command's failure: one line for stderr.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Talking to the agent failed, or it refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// No admin socket was named and none could be found.
    #[error("{0}")]
    NoSocket(String),
    /// Reading the message or writing the output failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Whoever read the output went away (`netcluster members | head -1`):
    /// not a failure, the command ends quietly, as Unix tools do.
    #[error("the output was closed")]
    OutputClosed,
}

impl CommandError {
    /// Whether the command should end quietly with success.
    pub fn is_output_closed(&self) -> bool {
        matches!(self, CommandError::OutputClosed)
    }
}

/// A write to stdout or stderr that failed: [`CommandError::OutputClosed`]
/// if the reader went away.
fn output_error(e: std::io::Error) -> CommandError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CommandError::OutputClosed
    } else {
        CommandError::Io(e)
    }
}

fn socket(a: &AdminArg) -> Result<PathBuf, CommandError> {
    match &a.admin {
        Some(p) => Ok(p.clone()),
        // The host daemon's socket first, then the only socket of the
        // default directory (agents of older releases, named after their
        // cluster and node).
        None => {
            let daemon = netcluster_client::paths::default_socket();
            if daemon.exists() {
                Ok(daemon)
            } else {
                crate::admin::find_default_socket().map_err(CommandError::NoSocket)
            }
        }
    }
}

async fn connect(a: &AdminArg) -> Result<Client, CommandError> {
    Ok(Client::connect(&socket(a)?).await?)
}

fn print(s: &str) -> Result<(), CommandError> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{s}").map_err(output_error)?;
    out.flush().map_err(output_error)
}

/// A line on stderr; a closed stderr is no reason to fail (nor to panic,
/// as `eprintln!` would).
pub fn note(s: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{s}");
}

fn json_line(v: &serde_json::Value) -> Result<(), CommandError> {
    print(&v.to_string())
}

fn json_pretty(v: &serde_json::Value) -> Result<(), CommandError> {
    print(&serde_json::to_string_pretty(v).map_err(std::io::Error::other)?)
}

/// `netcluster members`: with the traffic figures, or without them (shown
/// as unknown) from an agent that predates them.
pub async fn members(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let rows: Vec<(MemberRecord, Option<TrafficFigures>)> = match c.members_traffic().await {
        Ok(m) => m.into_iter().map(|r| (r.member, Some(r.traffic))).collect(),
        Err(e) if e.is_unsupported() => c.members().await?.into_iter().map(|m| (m, None)).collect(),
        Err(e) => return Err(e.into()),
    };
    if a.json {
        json_pretty(&serde_json::Value::Array(
            rows.iter().map(|(m, t)| output::member_traffic_json(m, t.as_ref())).collect(),
        ))
    } else {
        print(&output::members_text(&rows))
    }
}

/// `netcluster links`.
pub async fn links(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let names = Names::from_members(&c.members().await?);
    let l = c.links().await?;
    if a.json {
        json_pretty(&serde_json::Value::Array(
            l.iter().map(|l| output::link_json(l, &names)).collect(),
        ))
    } else {
        print(&output::links_text(&l, &names))
    }
}

/// `netcluster groups`.
pub async fn groups(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let names = Names::from_members(&c.members().await?);
    let g = c.groups().await?;
    if a.json {
        json_pretty(&serde_json::Value::Array(
            g.iter().map(|g| output::group_json(g, &names)).collect(),
        ))
    } else {
        print(&output::groups_text(&g, &names))
    }
}

/// `netcluster routes`.
pub async fn routes(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let names = Names::from_members(&c.members().await?);
    let r = c.routes().await?;
    if a.json {
        json_pretty(&serde_json::Value::Array(
            r.iter().map(|r| output::route_json(r, &names)).collect(),
        ))
    } else {
        print(&output::routes_text(&r, &names))
    }
}

/// `netcluster stats`.
pub async fn stats(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let s = c.stats().await?;
    if a.json {
        json_pretty(&output::stats_json(&s))
    } else {
        print(&output::stats_text(&s))
    }
}

fn mode(m: Mode) -> DeliveryMode {
    match m {
        Mode::Datagram => DeliveryMode::Datagram,
        Mode::Reliable => DeliveryMode::Reliable,
        Mode::Sequenced => DeliveryMode::Sequenced,
    }
}

fn message(m: Option<String>) -> Result<Bytes, CommandError> {
    match m {
        Some(s) => Ok(Bytes::from(s)),
        None => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf)?;
            Ok(Bytes::from(buf))
        }
    }
}

/// Reliable sends wait for the mesh's delivery report, which may take up to
/// its delivery timeout.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

/// `netcluster send`.
pub async fn send(a: SendArgs) -> Result<(), CommandError> {
    let payload = message(a.message)?;
    let mut c = connect(&a.admin).await?;
    c.timeout = DELIVERY_WAIT;
    c.send(&a.to, mode(a.mode), payload).await?;
    Ok(())
}

/// `netcluster shout`.
pub async fn shout(a: ShoutArgs) -> Result<(), CommandError> {
    let payload = message(a.message)?;
    let mut c = connect(&a.admin).await?;
    c.timeout = DELIVERY_WAIT;
    let detail = c.shout(&a.group, mode(a.mode), payload).await?;
    if !detail.is_empty() {
        note(&detail);
    }
    Ok(())
}

/// `netcluster join`.
pub async fn join(a: GroupArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let detail = c.join(&a.group).await?;
    if !detail.is_empty() {
        note(&detail);
    }
    Ok(())
}

/// `netcluster leave`.
pub async fn leave(a: GroupArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    c.leave(&a.group).await?;
    Ok(())
}

/// `netcluster watch`: until interrupted or the agent goes away (an
/// error: the stream ended).
pub async fn watch(a: ListArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let mut names = Names::from_members(&c.members().await?);
    c.subscribe(EventMask::ALL).await?;
    loop {
        let e = tokio::select! {
            e = c.next_event() => e?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        if let AdminEvent::PeerUp(m) | AdminEvent::PeerUpdated(m) = &e {
            names.learn(m.node_id, &m.name);
        }
        if a.json {
            json_line(&output::event_json(&e, &names))?;
        } else {
            print(&output::event_text(&e, &names))?;
        }
    }
}

/// `netcluster ping`.
pub async fn ping(a: PingArgs) -> Result<(), CommandError> {
    let mut c = connect(&a.admin).await?;
    let mut rtts = Vec::new();
    let node = a.node.clone();
    let mut closed = false;
    let r = c
        .ping(&a.node, a.count, |p| {
            let ms = f64::from(p.rtt_us) / 1000.0;
            rtts.push(ms);
            if !closed {
                let line =
                    format!("reply from {node} ({}): seq={} time={ms:.3} ms", p.target, p.sequence);
                closed = print(&line).is_err_and(|e| e.is_output_closed());
            }
        })
        .await;
    if closed {
        return Err(CommandError::OutputClosed);
    }
    if !rtts.is_empty() {
        let min = rtts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = rtts.iter().copied().fold(0.0, f64::max);
        let avg = rtts.iter().sum::<f64>() / rtts.len() as f64;
        print(&format!(
            "{} sent, {} answered; rtt min/avg/max = {min:.3}/{avg:.3}/{max:.3} ms",
            a.count,
            rtts.len()
        ))?;
    }
    Ok(r?)
}

/// `netcluster topology`: the graph from the agent's HTTP API, as a
/// Graphviz digraph or JSON.
pub async fn topology(a: crate::args::TopologyArgs) -> Result<(), CommandError> {
    let t = crate::topology::fetch(a.http).await.map_err(std::io::Error::other)?;
    match a.format {
        crate::args::TopologyFormat::Dot => print(t.to_dot().trim_end()),
        crate::args::TopologyFormat::Json => json_pretty(&t.to_json()),
    }
}
