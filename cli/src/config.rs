//! The agent's settings: the TOML config file merged under the flags.
//!
//! ```toml
//! cluster = "prod"
//! name = "web-1"
//! groups = ["web"]
//! headers = { role = "frontend" }
//! seeds = ["10.0.0.5:7400"]
//! tracker = "tracker.example.test:7401"
//! dns_srv = "_netcluster._tcp.example.test"
//! dns_server = "10.0.0.53:53"
//! beacon = "multicast"          # or "broadcast", "off"
//! interfaces = ["eth0"]
//! bind = "0.0.0.0:7400"
//! advertise = "203.0.113.7:7400"
//! admin = "/run/netcluster/web-1.sock"
//! keyring = "/etc/netcluster/cluster.key"
//! log_level = "info"
//! http = "127.0.0.1:9464"       # metrics, JSON API and live page
//!
//! [http_limits]
//! max_connections = 256         # HTTP connections at once
//! max_event_clients = 32        # /api/events streams at once
//!
//! [admin_limits]
//! max_clients = 64              # clients connected at once
//! max_pending = 32              # requests in flight per client
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::admin::server::AdminLimits;
use crate::args::{AgentArgs, Beacon};

/// The config file. Unknown keys are an error, so a typo is not silently
/// ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// `--cluster`.
    pub cluster: Option<String>,
    /// `--name`.
    pub name: Option<String>,
    /// `--group`.
    #[serde(default)]
    pub groups: Vec<String>,
    /// `--header`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// `--seed`.
    #[serde(default)]
    pub seeds: Vec<String>,
    /// `--tracker`.
    pub tracker: Option<String>,
    /// `--dns-srv`.
    pub dns_srv: Option<String>,
    /// `--dns-server`.
    pub dns_server: Option<SocketAddr>,
    /// `--beacon`.
    pub beacon: Option<Beacon>,
    /// `--interface`.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// `--bind`.
    pub bind: Option<SocketAddr>,
    /// `--advertise`.
    pub advertise: Option<SocketAddr>,
    /// `--admin`.
    pub admin: Option<PathBuf>,
    /// `--keyring`.
    pub keyring: Option<PathBuf>,
    /// `--log-level`.
    pub log_level: Option<String>,
    /// `--http`.
    pub http: Option<SocketAddr>,
    /// Bounds on HTTP clients.
    #[serde(default)]
    pub http_limits: FileHttpLimits,
    /// Bounds on admin clients.
    #[serde(default)]
    pub admin_limits: FileAdminLimits,
    /// Bounds of the host daemon (applications, clusters, sockets).
    #[serde(default)]
    pub daemon_limits: FileDaemonLimits,
}

/// `[daemon_limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDaemonLimits {
    /// Clusters the daemon is in at once.
    pub max_clusters: Option<usize>,
    /// Sockets one application connection may have open.
    pub max_sockets: Option<usize>,
    /// Messages held for one socket (the default of SOCKET's `queue`).
    pub socket_queue: Option<usize>,
    /// Application connections at once.
    pub max_apps: Option<usize>,
}

/// `[http_limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileHttpLimits {
    /// HTTP connections at once.
    pub max_connections: Option<usize>,
    /// `/api/events` clients at once.
    pub max_event_clients: Option<usize>,
}

/// `[admin_limits]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdminLimits {
    /// Clients connected at once.
    pub max_clients: Option<usize>,
    /// Requests in flight per client.
    pub max_pending: Option<usize>,
}

/// Why the settings are unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the config file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these settings.
    #[error("bad config file {}: {}", path.display(), first_line(.message))]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A required setting is missing from both.
    #[error("missing --{0} (or `{0}` in the config file)")]
    Missing(&'static str),
}

fn first_line(s: &str) -> String {
    // toml's messages draw the offending line over several lines.
    s.lines().filter(|l| !l.trim().is_empty()).collect::<Vec<_>>().join(" ").replace("  ", " ")
}

/// The agent's settings after merging.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The cluster held for the daemon's lifetime (`--cluster`), if any;
    /// without it the agent joins clusters as applications ask.
    pub cluster: Option<String>,
    /// The node's name (default: the host name).
    pub name: String,
    /// Groups joined at start.
    pub groups: Vec<String>,
    /// Announced attributes.
    pub headers: Vec<(String, String)>,
    /// Seeds, as given (HOST:PORT).
    pub seeds: Vec<String>,
    /// Tracker, HOST:PORT.
    pub tracker: Option<String>,
    /// DNS SRV name.
    pub dns_srv: Option<String>,
    /// DNS server.
    pub dns_server: Option<SocketAddr>,
    /// Beacon mode.
    pub beacon: Beacon,
    /// Beacon interfaces.
    pub interfaces: Vec<String>,
    /// Link listener.
    pub bind: SocketAddr,
    /// Advertised link address.
    pub advertise: Option<SocketAddr>,
    /// Admin socket.
    pub admin: PathBuf,
    /// Keyring file, if any.
    pub keyring: Option<PathBuf>,
    /// Log filter, if given (else `RUST_LOG`, else `info`).
    pub log_level: Option<String>,
    /// Admin client bounds.
    pub admin_limits: AdminLimits,
    /// Host daemon bounds.
    pub daemon_limits: crate::daemon::DaemonLimits,
    /// The HTTP server's address, if it is on.
    pub http: Option<SocketAddr>,
    /// HTTP client bounds.
    pub http_limits: crate::http::HttpLimits,
}

impl Settings {
    /// Reads `--config` if given and merges the flags over it.
    pub fn load(args: &AgentArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            Some(p) => read_file(p)?,
            None => FileConfig::default(),
        };
        Settings::merge(args.clone(), file)
    }

    /// Flags over file: a flag given wins, a list given replaces the file's.
    pub fn merge(a: AgentArgs, f: FileConfig) -> Result<Settings, ConfigError> {
        let list = |flag: Vec<String>, file: Vec<String>| if flag.is_empty() { file } else { flag };
        let cluster = a.cluster.or(f.cluster);
        // A held cluster needs a name, as before; the daemon alone takes the
        // host's.
        let name = match (a.name.or(f.name), &cluster) {
            (Some(n), _) => n,
            (None, Some(_)) => return Err(ConfigError::Missing("name")),
            (None, None) => host_name(),
        };
        let headers =
            if a.headers.is_empty() { f.headers.into_iter().collect() } else { a.headers };
        let admin = a.admin.or(f.admin).unwrap_or_else(netcluster_client::paths::default_socket);
        let mut admin_limits = AdminLimits::default();
        if let Some(n) = f.admin_limits.max_clients {
            admin_limits.max_clients = n.max(1);
        }
        if let Some(n) = f.admin_limits.max_pending {
            admin_limits.max_pending = n.max(1);
        }
        let mut daemon_limits = crate::daemon::DaemonLimits::default();
        let dl = &f.daemon_limits;
        for (v, slot) in [
            (a.max_clusters.or(dl.max_clusters), &mut daemon_limits.max_clusters),
            (a.max_sockets.or(dl.max_sockets), &mut daemon_limits.max_sockets),
            (a.socket_queue.or(dl.socket_queue), &mut daemon_limits.socket_queue),
            (dl.max_apps, &mut daemon_limits.max_apps),
        ] {
            if let Some(v) = v {
                *slot = v.max(1);
            }
        }
        let mut http_limits = crate::http::HttpLimits::default();
        if let Some(n) = f.http_limits.max_connections {
            http_limits.max_connections = n.max(1);
        }
        if let Some(n) = f.http_limits.max_event_clients {
            http_limits.max_event_clients = n.max(1);
        }
        Ok(Settings {
            http: a.http.or(f.http),
            http_limits,
            daemon_limits,
            groups: list(a.groups, f.groups),
            headers,
            seeds: list(a.seeds, f.seeds),
            tracker: a.tracker.or(f.tracker),
            dns_srv: a.dns_srv.or(f.dns_srv),
            dns_server: a.dns_server.or(f.dns_server),
            beacon: a.beacon.or(f.beacon).unwrap_or(Beacon::Multicast),
            interfaces: list(a.interfaces, f.interfaces),
            bind: a.bind.or(f.bind).unwrap_or_else(|| "0.0.0.0:7400".parse().expect("literal")),
            advertise: a.advertise.or(f.advertise),
            admin,
            keyring: a.keyring.or(f.keyring),
            log_level: a.log_level.or(f.log_level),
            admin_limits,
            cluster,
            name,
        })
    }
}

/// The host name, for a daemon not given `--name`.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    toml::from_str(&text)
        .map_err(|e| ConfigError::Parse { path: path.to_path_buf(), message: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_and_lists_replace() {
        let file: FileConfig = toml::from_str(
            r#"
            cluster = "c-file"
            name = "n-file"
            groups = ["a", "b"]
            seeds = ["127.0.0.1:1"]
            beacon = "off"
            headers = { role = "db" }
            [admin_limits]
            max_clients = 3
            "#,
        )
        .unwrap();
        let args = AgentArgs {
            name: Some("n-flag".into()),
            groups: vec!["x".into()],
            ..AgentArgs::default()
        };
        let s = Settings::merge(args, file).unwrap();
        assert_eq!(s.cluster.as_deref(), Some("c-file"));
        assert_eq!(s.name, "n-flag");
        assert_eq!(s.groups, ["x"]);
        assert_eq!(s.seeds, ["127.0.0.1:1"]);
        assert_eq!(s.beacon, Beacon::Off);
        assert_eq!(s.headers, [("role".to_string(), "db".to_string())]);
        assert_eq!(s.admin_limits.max_clients, 3);
        // One well-known socket, whatever the cluster: the host daemon's.
        assert_eq!(s.admin, netcluster_client::paths::default_socket());
    }

    #[test]
    fn the_keyring_comes_from_the_file_unless_flagged() {
        let file: FileConfig =
            toml::from_str("cluster = \"c\"\nname = \"n\"\nkeyring = \"/etc/nc/file.key\"\n")
                .unwrap();
        let s = Settings::merge(AgentArgs::default(), file).unwrap();
        assert_eq!(s.keyring, Some(PathBuf::from("/etc/nc/file.key")));
        let file: FileConfig = toml::from_str("keyring = \"/etc/nc/file.key\"").unwrap();
        let args = AgentArgs {
            cluster: Some("c".into()),
            name: Some("n".into()),
            keyring: Some("/tmp/flag.key".into()),
            ..AgentArgs::default()
        };
        let s = Settings::merge(args, file).unwrap();
        assert_eq!(s.keyring, Some(PathBuf::from("/tmp/flag.key")));
    }

    #[test]
    fn http_comes_from_the_file_unless_flagged() {
        let file: FileConfig = toml::from_str(
            "http = \"127.0.0.1:9464\"\n[http_limits]\nmax_event_clients = 2\nmax_connections = 0\n",
        )
        .unwrap();
        let s = Settings::merge(AgentArgs::default(), file).unwrap();
        assert_eq!(s.http, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(s.http_limits.max_event_clients, 2);
        assert_eq!(s.http_limits.max_connections, 1);
        let args = AgentArgs { http: Some("127.0.0.1:1".parse().unwrap()), ..AgentArgs::default() };
        let s = Settings::merge(args, FileConfig::default()).unwrap();
        assert_eq!(s.http, Some("127.0.0.1:1".parse().unwrap()));
        assert!(Settings::merge(AgentArgs::default(), FileConfig::default())
            .unwrap()
            .http
            .is_none());
    }

    #[test]
    fn unknown_key_and_missing_name_are_errors() {
        assert!(toml::from_str::<FileConfig>("clustr = \"x\"").is_err());
        let args = AgentArgs { cluster: Some("c".into()), ..AgentArgs::default() };
        assert!(matches!(
            Settings::merge(args, FileConfig::default()),
            Err(ConfigError::Missing("name"))
        ));
    }
}
