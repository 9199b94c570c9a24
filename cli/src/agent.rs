//! `netcluster agent`: the host daemon, in the clusters its applications
//! ask for (and the one `--cluster` holds), serving applications and admin
//! clients on its socket until SIGINT or SIGTERM.

use std::net::{IpAddr, SocketAddr};

use netcluster_net::keyfile::{load_keyring, KeyFileError};
use netcluster_tokio::{BeaconMode, Builder, InterfaceSelector};
use tokio::signal::unix::{signal, SignalKind};

use std::sync::Arc;

use crate::admin::server::{remove_if_ours, AdminServer, BindError};
use crate::args::Beacon;
use crate::config::Settings;
use crate::daemon::{Clusters, Daemon};

/// Why the agent could not run.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The admin socket could not be set up.
    #[error(transparent)]
    Admin(#[from] BindError),
    /// A seed could not be resolved.
    #[error("cannot resolve seed `{seed}`: {reason}")]
    Seed {
        /// The seed as given.
        seed: String,
        /// Why.
        reason: String,
    },
    /// The node could not start (port in use, no interface...).
    #[error("cannot start the node: {0}")]
    Node(#[from] netcluster_tokio::Error),
    /// Signal handlers could not be installed.
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    /// The HTTP server (`--http`) could not listen.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Http {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The keyring file was refused (permissions, format) or unreadable.
    #[error(transparent)]
    Keyring(#[from] KeyFileError),
}

/// The beacon mode of `--beacon`.
pub fn beacon_mode(b: Beacon) -> BeaconMode {
    match b {
        Beacon::Multicast => BeaconMode::multicast(),
        Beacon::Broadcast => BeaconMode::broadcast(),
        Beacon::Off => BeaconMode::Off,
    }
}

/// An `--interface` value: an address if it parses as one, else a name.
pub fn interface(s: &str) -> InterfaceSelector {
    match s.parse::<IpAddr>() {
        Ok(ip) => InterfaceSelector::from(ip),
        Err(_) => InterfaceSelector::from(s),
    }
}

/// The node builder for cluster `cluster` with these settings (seeds
/// already resolved).
pub fn builder(s: &Settings, cluster: &str, seeds: &[SocketAddr]) -> Builder {
    let mut b = Builder::new(cluster.to_string(), s.name.clone())
        .bind_ip(s.bind.ip())
        .link_port(s.bind.port())
        .beacons(beacon_mode(s.beacon));
    for g in &s.groups {
        b = b.group(g.clone());
    }
    for (k, v) in &s.headers {
        b = b.header(k.clone(), v.clone());
    }
    for seed in seeds {
        b = b.seed(*seed);
    }
    for i in &s.interfaces {
        b = b.interface(interface(i));
    }
    if let Some(a) = s.advertise {
        b = b.advertise(a);
    }
    b
}

/// Runs the agent until SIGINT or SIGTERM, then leaves every cluster
/// cleanly: the host daemon, serving applications and admin clients on one
/// socket, holding the `--cluster` of the settings if there is one.
pub async fn run(s: Settings) -> Result<(), AgentError> {
    // Before anything is opened: a bad key file stops the agent at once.
    let keyring = s.keyring.as_deref().map(load_keyring).transpose()?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;
    // The socket first: a second agent on the same path stops here, before
    // it opens any network socket.
    let server = AdminServer::bind(&s.admin, s.admin_limits.clone()).await?;
    let clusters = Clusters::new(s.clone(), keyring);
    let held = match &s.cluster {
        Some(c) => match clusters.hold(c).await {
            Ok(node) => Some(node),
            Err(e) => {
                server.discard();
                return Err(e);
            }
        },
        None => None,
    };
    let (listener, path, ino) = server.into_parts();
    let daemon = Arc::new(Daemon::new(clusters, s.daemon_limits.clone(), &path));
    let serving = tokio::spawn(crate::daemon::accept_loop(listener, daemon.clone()));
    let mut helpers = Vec::new();
    if s.dns_server.is_some() && s.dns_srv.is_none() {
        tracing::warn!("--dns-server is only used with --dns-srv; ignored");
    }
    if let (Some(srv), Some(node)) = (&s.dns_srv, &held) {
        helpers.push(crate::dns::spawn_srv_seeds(node.handle.clone(), srv.clone(), s.dns_server));
    }
    if let Some(addr) = s.http {
        let source = crate::http::Source::Daemon(daemon.clone());
        match crate::http::serve(addr, source, s.http_limits.clone()).await {
            Ok((task, local)) => {
                tracing::info!(http = %local, "serving metrics, API and page over HTTP");
                helpers.push(task);
            }
            Err(source) => {
                serving.abort();
                remove_if_ours(&path, ino);
                daemon.clusters.shutdown_all().await;
                return Err(AgentError::Http { addr, source });
            }
        }
    }
    match &held {
        Some(node) => tracing::info!(
            cluster = %node.name,
            name = %s.name,
            id = %node.handle.id(),
            link = %node.handle.link_addr(),
            admin = %path.display(),
            "agent running"
        ),
        None => {
            tracing::info!(name = %s.name, socket = %path.display(), "agent running (host daemon)")
        }
    }
    let held_handle = held.as_ref().map(|n| n.handle.clone());
    drop(held);
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: leaving"),
        _ = sigint.recv() => tracing::info!("SIGINT: leaving"),
        () = node_stopped(held_handle.as_ref()) => tracing::warn!("the node stopped by itself"),
    }
    for h in helpers {
        h.abort();
    }
    serving.abort();
    remove_if_ours(&path, ino);
    daemon.clusters.shutdown_all().await;
    tracing::info!("agent stopped");
    Ok(())
}

/// Resolves when the held node's task has ended on its own (never without
/// one).
async fn node_stopped(h: Option<&netcluster_tokio::Handle>) {
    let Some(h) = h else { return std::future::pending().await };
    while h.is_running() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
