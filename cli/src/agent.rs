//! `netcluster agent`: a node that stays in the mesh, serving the admin
//! socket, until SIGINT or SIGTERM.

use std::net::{IpAddr, SocketAddr};

use netcluster_net::keyfile::{load_keyring, KeyFileError};
use netcluster_tokio::{BeaconMode, Builder, InterfaceSelector};
use tokio::signal::unix::{signal, SignalKind};

use crate::admin::events::EventHub;
use crate::admin::server::{AdminServer, BindError};
use crate::args::Beacon;
use crate::config::Settings;

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

async fn resolve_seed(seed: &str) -> Result<SocketAddr, AgentError> {
    let err = |reason: String| AgentError::Seed { seed: seed.to_string(), reason };
    let mut addrs = tokio::net::lookup_host(seed).await.map_err(|e| err(e.to_string()))?;
    addrs.next().ok_or_else(|| err("no address".into()))
}

/// The node builder for these settings (seeds already resolved).
pub fn builder(s: &Settings, seeds: &[SocketAddr]) -> Builder {
    let mut b = Builder::new(s.cluster.clone(), s.name.clone())
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

/// Runs the agent until SIGINT or SIGTERM, then leaves the mesh cleanly.
pub async fn run(s: Settings) -> Result<(), AgentError> {
    // Before anything is opened: a bad key file stops the agent at once.
    let keyring = s.keyring.as_deref().map(load_keyring).transpose()?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(AgentError::Signals)?;
    let mut sigint = signal(SignalKind::interrupt()).map_err(AgentError::Signals)?;
    // The admin socket first: a second agent on the same path stops here,
    // before it opens any network socket.
    let server = AdminServer::bind(&s.admin, s.admin_limits.clone()).await?;
    let started = async {
        let mut seeds = Vec::with_capacity(s.seeds.len());
        for seed in &s.seeds {
            seeds.push(resolve_seed(seed).await?);
        }
        let mut b = builder(&s, &seeds);
        if let Some(k) = keyring {
            b = b.keyring(k);
        }
        Ok::<_, AgentError>(b.start().await?)
    };
    let handle = match started.await {
        Ok(h) => h,
        Err(e) => {
            server.discard();
            return Err(e);
        }
    };
    let hub = EventHub::start(&handle, s.admin_limits.out_queue);
    let admin_path = server.path().to_path_buf();
    let serving = server.serve(handle.clone(), hub);
    let mut helpers = Vec::new();
    // The tracker client deregisters by itself once the node stops: it is
    // awaited, not aborted, after the shutdown.
    let tracker = s.tracker.as_ref().map(|t| {
        crate::tracker::spawn_tracker_client(handle.clone(), t.clone(), s.cluster.clone())
    });
    if s.dns_server.is_some() && s.dns_srv.is_none() {
        tracing::warn!("--dns-server is only used with --dns-srv; ignored");
    }
    if let Some(srv) = &s.dns_srv {
        helpers.push(crate::dns::spawn_srv_seeds(handle.clone(), srv.clone(), s.dns_server));
    }
    tracing::info!(
        cluster = %s.cluster,
        name = %s.name,
        id = %handle.id(),
        link = %handle.link_addr(),
        admin = %admin_path.display(),
        "agent running"
    );
    tokio::select! {
        _ = sigterm.recv() => tracing::info!("SIGTERM: leaving"),
        _ = sigint.recv() => tracing::info!("SIGINT: leaving"),
        () = node_stopped(&handle) => tracing::warn!("the node stopped by itself"),
    }
    for h in helpers {
        h.abort();
    }
    serving.close();
    handle.shutdown().await;
    if let Some(t) = tracker {
        // Bounded: a tracker that cannot be reached must not hold the exit.
        if tokio::time::timeout(std::time::Duration::from_secs(2), t).await.is_err() {
            tracing::warn!("tracker client did not finish within 2 s");
        }
    }
    tracing::info!("agent stopped");
    Ok(())
}

/// Resolves when the node's task has ended on its own.
async fn node_stopped(h: &netcluster_tokio::Handle) {
    while h.is_running() {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}
