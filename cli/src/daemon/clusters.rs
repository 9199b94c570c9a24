//! The clusters the daemon is in: one node each, joined on the first
//! application's CONNECT (or at start, for `--cluster`), left when the last
//! application attached to it goes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use netcluster_control::local::{Connect, LocalStatus};
use netcluster_core::auth::Keyring;
use netcluster_tokio::{Builder, Handle};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

use super::router::{self, Router};
use crate::admin::context::Ctx;
use crate::admin::events::EventHub;
use crate::agent::{builder, AgentError};
use crate::args::Beacon;
use crate::config::Settings;

/// One cluster's node and what serves it.
pub(crate) struct ClusterNode {
    /// The cluster's name.
    pub(crate) name: String,
    /// The node.
    pub(crate) handle: Handle,
    /// Its admin server state, for admin clients of the daemon's socket.
    pub(crate) admin: Arc<Ctx>,
    /// Its traffic to the applications.
    pub(crate) router: Arc<Router>,
    tasks: Vec<JoinHandle<()>>,
    tracker: Mutex<Option<JoinHandle<()>>>,
    /// Groups of group_receive sockets: how many sockets need each, and
    /// whether the daemon joined it for them (else the node was in it).
    groups: Mutex<HashMap<String, (usize, bool)>>,
}

impl ClusterNode {
    /// Joins `group` for one more socket.
    pub(crate) async fn join_group(&self, group: &str) -> Result<(), (LocalStatus, String)> {
        let mut groups = self.groups.lock().await;
        if let Some((n, _)) = groups.get_mut(group) {
            *n += 1;
            return Ok(());
        }
        // A group the node is in already (by configuration, `--group`)
        // stays joined when the sockets go: only a join made here is undone.
        let g = group.to_string();
        let member = self
            .handle
            .query(move |node| node.groups().any(|x| x == g))
            .await
            .map_err(|e| (LocalStatus::Failed, e.to_string()))?;
        if !member {
            self.handle
                .join(group.to_string())
                .await
                .map_err(|e| (LocalStatus::Limit, e.to_string()))?;
        }
        groups.insert(group.to_string(), (1, !member));
        Ok(())
    }

    /// Leaves `group` when the last socket that needed it goes, if the
    /// daemon joined it for them.
    pub(crate) async fn leave_group(&self, group: &str) {
        let mut groups = self.groups.lock().await;
        if let Some((n, ours)) = groups.get_mut(group) {
            *n -= 1;
            if *n == 0 {
                let ours = *ours;
                groups.remove(group);
                if ours {
                    if let Err(e) = self.handle.leave(group.to_string()).await {
                        tracing::debug!(%group, error = %e, "leaving a group");
                    }
                }
            }
        }
    }

    async fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
        self.handle.shutdown().await;
        // The tracker client deregisters by itself once the node stops: it
        // is awaited, not aborted, but a tracker that cannot be reached
        // must not hold the exit.
        let tracker = self.tracker.lock().await.take();
        if let Some(t) = tracker {
            if tokio::time::timeout(std::time::Duration::from_secs(2), t).await.is_err() {
                tracing::warn!(cluster = %self.name, "tracker client did not finish within 2 s");
            }
        }
        tracing::info!(cluster = %self.name, "cluster left");
    }
}

struct Entry {
    node: Arc<ClusterNode>,
    users: usize,
    held: bool,
}

/// Every cluster the daemon is in.
pub(crate) struct Clusters {
    map: Mutex<HashMap<String, Entry>>,
    settings: Settings,
    keyring: Option<Keyring>,
    max: usize,
}

async fn resolve(seed: &str) -> Result<SocketAddr, String> {
    let mut addrs =
        tokio::net::lookup_host(seed).await.map_err(|e| format!("seed `{seed}`: {e}"))?;
    addrs.next().ok_or_else(|| format!("seed `{seed}`: no address"))
}

impl Clusters {
    pub(crate) fn new(settings: Settings, keyring: Option<Keyring>) -> Clusters {
        let max = settings.daemon_limits.max_clusters;
        Clusters { map: Mutex::new(HashMap::new()), settings, keyring, max }
    }

    fn finish(
        &self,
        name: &str,
        handle: Handle,
        tracker: Option<JoinHandle<()>>,
    ) -> Arc<ClusterNode> {
        let hub = EventHub::start(&handle, self.settings.admin_limits.out_queue);
        let admin =
            crate::admin::server::context(handle.clone(), hub, self.settings.admin_limits.clone());
        let router = Arc::new(Router::default());
        let tasks = router::spawn(&handle, router.clone());
        tracing::info!(cluster = %name, id = %handle.id(), link = %handle.link_addr(), "cluster joined");
        Arc::new(ClusterNode {
            name: name.to_string(),
            handle,
            admin,
            router,
            tasks,
            tracker: Mutex::new(tracker),
            groups: Mutex::new(HashMap::new()),
        })
    }

    /// Joins the `--cluster` of the settings for the daemon's lifetime,
    /// with every setting the agent has always had.
    pub(crate) async fn hold(&self, name: &str) -> Result<Arc<ClusterNode>, AgentError> {
        let s = &self.settings;
        let mut seeds = Vec::with_capacity(s.seeds.len());
        for seed in &s.seeds {
            seeds.push(
                resolve(seed)
                    .await
                    .map_err(|reason| AgentError::Seed { seed: seed.clone(), reason })?,
            );
        }
        let mut b = builder(s, name, &seeds);
        if let Some(k) = self.keyring.clone() {
            b = b.keyring(k);
        }
        let handle = b.start().await?;
        let tracker = s.tracker.as_ref().map(|t| {
            crate::tracker::spawn_tracker_client(handle.clone(), t.clone(), name.to_string())
        });
        let node = self.finish(name, handle, tracker);
        self.map
            .lock()
            .await
            .insert(name.to_string(), Entry { node: node.clone(), users: 0, held: true });
        Ok(node)
    }

    /// Attaches one application to the cluster CONNECT names, joining it
    /// first if need be.
    pub(crate) async fn attach(
        &self,
        c: &Connect,
    ) -> Result<Arc<ClusterNode>, (LocalStatus, String)> {
        let mut map = self.map.lock().await;
        if let Some(e) = map.get_mut(&*c.cluster) {
            e.users += 1;
            return Ok(e.node.clone());
        }
        if map.len() >= self.max {
            return Err((
                LocalStatus::Limit,
                format!("the daemon is in {} clusters already", map.len()),
            ));
        }
        let mut seeds = Vec::new();
        for s in c.seeds.iter() {
            seeds.push(resolve(&s).await.map_err(|e| (LocalStatus::BadRequest, e))?);
        }
        let s = &self.settings;
        let name = if c.name.is_empty() { s.name.clone() } else { c.name.to_string() };
        let beacons = match (c.flags.broadcast(), s.beacon) {
            (false, _) => Beacon::Off,
            (true, Beacon::Off) => Beacon::Multicast,
            (true, b) => b,
        };
        let base = |port: u16| {
            let mut b = Builder::new(c.cluster.to_string(), name.clone())
                .bind_ip(s.bind.ip())
                .link_port(port)
                .beacons(crate::agent::beacon_mode(beacons));
            for i in &s.interfaces {
                b = b.interface(crate::agent::interface(i));
            }
            for seed in &seeds {
                b = b.seed(*seed);
            }
            b
        };
        // The configured link port if free, else any: several clusters, or
        // several daemons, on one host.
        let handle = match base(s.bind.port()).start().await {
            Ok(h) => h,
            Err(e) if s.bind.port() != 0 => {
                tracing::info!(cluster = %c.cluster, error = %e, "link port taken; using an ephemeral one");
                base(0).start().await.map_err(|e| (LocalStatus::Failed, e.to_string()))?
            }
            Err(e) => return Err((LocalStatus::Failed, e.to_string())),
        };
        let tracker = (!c.tracker.is_empty()).then(|| {
            crate::tracker::spawn_tracker_client(
                handle.clone(),
                c.tracker.to_string(),
                c.cluster.to_string(),
            )
        });
        let node = self.finish(&c.cluster, handle, tracker);
        map.insert(c.cluster.to_string(), Entry { node: node.clone(), users: 1, held: false });
        Ok(node)
    }

    /// Detaches one application; the last one out leaves the cluster unless
    /// it is held.
    pub(crate) async fn detach(&self, name: &str) {
        let node = {
            let mut map = self.map.lock().await;
            let Some(e) = map.get_mut(name) else { return };
            e.users = e.users.saturating_sub(1);
            if e.users > 0 || e.held {
                return;
            }
            map.remove(name).map(|e| e.node)
        };
        if let Some(node) = node {
            node.stop().await;
        }
    }

    /// The cluster an admin client of the daemon's socket talks to: the
    /// held one, else the only one.
    pub(crate) async fn admin_target(&self) -> Result<Arc<ClusterNode>, String> {
        let map = self.map.lock().await;
        if let Some(e) = map.values().find(|e| e.held) {
            return Ok(e.node.clone());
        }
        let mut names: Vec<&String> = map.keys().collect();
        names.sort();
        match names.len() {
            0 => Err("the daemon is in no cluster yet".into()),
            1 => Ok(map[names[0]].node.clone()),
            n => Err(format!(
                "the daemon is in {n} clusters ({}); admin requests need an agent with --cluster",
                names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    /// Every cluster's node, by cluster name.
    pub(crate) async fn nodes(&self) -> Vec<Arc<ClusterNode>> {
        let mut v: Vec<_> = self.map.lock().await.values().map(|e| e.node.clone()).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Leaves every cluster.
    pub(crate) async fn shutdown_all(&self) {
        let nodes: Vec<_> = self.map.lock().await.drain().map(|(_, e)| e.node).collect();
        for n in nodes {
            n.stop().await;
        }
    }
}
