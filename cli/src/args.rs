//! The command line: every subcommand and flag (scripts depend on these
//! names, so they only ever grow).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// netcluster: application-layer mesh networking.
#[derive(Debug, Parser)]
#[command(name = "netcluster", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a node until SIGINT or SIGTERM, serving the admin socket.
    Agent(Box<AgentArgs>),
    /// List the members the agent sees, itself included, with the rates
    /// to and from each and the round trip to it.
    Members(ListArgs),
    /// List the groups and their members.
    Groups(ListArgs),
    /// List the agent's routes.
    Routes(ListArgs),
    /// Show the agent's counters.
    Stats(ListArgs),
    /// List the agent's links: peer, address, kind, and each output
    /// queue's bytes and frames now, peak, drops and marks.
    Links(ListArgs),
    /// Send a message to one node (name or id); the message is read from
    /// stdin when not given.
    Send(SendArgs),
    /// Send a message to every member of a group.
    Shout(ShoutArgs),
    /// Make the agent's node join a group.
    Join(GroupArgs),
    /// Make the agent's node leave a group.
    Leave(GroupArgs),
    /// Print events as they happen, until interrupted.
    Watch(ListArgs),
    /// Round-trip times to a node through the mesh.
    Ping(PingArgs),
    /// Run a rendezvous server for networks without multicast.
    Tracker(TrackerArgs),
    /// Print the mesh as the agent's link-state database knows it: nodes,
    /// links with their costs, groups and routes, as a Graphviz digraph or
    /// JSON (read from the agent's HTTP API, see `agent --http`).
    Topology(TopologyArgs),
    /// Five nodes in this process on loopback: discovery, group chat, a
    /// crash and a rejoin.
    Demo(DemoArgs),
    /// Write a fresh cluster key from the operating system's random
    /// generator, as a keyring file for `agent --keyring`.
    Keygen(KeygenArgs),
}

/// `netcluster keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Write the key to this new file, created with mode 0600 (an existing
    /// file is never overwritten); default: print it on stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// How nodes find each other on the local network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Beacon {
    /// IPv4 and IPv6 multicast (default).
    Multicast,
    /// IPv4 broadcast.
    Broadcast,
    /// No beacons: seeds, tracker or DNS only.
    Off,
}

/// `netcluster agent`. Every flag can also come from the config file;
/// flags win (a list given on the command line replaces the file's).
#[derive(Debug, Clone, Default, Args)]
pub struct AgentArgs {
    /// A cluster to join at start and hold while the agent runs. Without
    /// it the agent is the host daemon: it joins clusters as applications
    /// ask for them, and leaves each when its last application goes.
    #[arg(long)]
    pub cluster: Option<String>,
    /// This node's name.
    #[arg(long)]
    pub name: Option<String>,
    /// A group to join at start (repeatable).
    #[arg(long = "group", value_name = "G")]
    pub groups: Vec<String>,
    /// An attribute to announce, KEY=VALUE (repeatable).
    #[arg(long = "header", value_name = "K=V", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// A node to connect to, HOST:PORT (repeatable).
    #[arg(long = "seed", value_name = "HOST:PORT")]
    pub seeds: Vec<String>,
    /// A tracker to register with and learn peers from.
    #[arg(long, value_name = "HOST:PORT")]
    pub tracker: Option<String>,
    /// A DNS SRV name whose targets are seeds.
    #[arg(long, value_name = "SRVNAME")]
    pub dns_srv: Option<String>,
    /// The DNS server for --dns-srv (default: the system resolver's).
    #[arg(long, value_name = "ADDR:PORT")]
    pub dns_server: Option<SocketAddr>,
    /// Beacons: multicast (default), broadcast or off.
    #[arg(long, value_enum)]
    pub beacon: Option<Beacon>,
    /// An interface (name or address) to send beacons on (repeatable;
    /// default: every interface that is up and not loopback).
    #[arg(long = "interface", value_name = "IFACE_OR_ADDR")]
    pub interfaces: Vec<String>,
    /// The address and port of the link listener (default 0.0.0.0:7400;
    /// port 0 picks a free one).
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<SocketAddr>,
    /// The link address peers should connect to (NAT, port forwarding).
    #[arg(long, value_name = "ADDR:PORT")]
    pub advertise: Option<SocketAddr>,
    /// The agent's socket, for admin clients and applications alike
    /// (default: $NETCLUSTER_SOCKET, else $XDG_RUNTIME_DIR/netcluster/agent.sock,
    /// else /tmp/netcluster-UID/agent.sock). Two agents on one host need
    /// two paths.
    #[arg(long, value_name = "PATH")]
    pub admin: Option<PathBuf>,
    /// Clusters the agent may be in at once (default 16).
    #[arg(long, value_name = "N")]
    pub max_clusters: Option<usize>,
    /// Sockets one application may have open (default 256).
    #[arg(long, value_name = "N")]
    pub max_sockets: Option<usize>,
    /// Messages the agent holds for one application socket before it stops
    /// reading the mesh for it (default 256).
    #[arg(long, value_name = "N")]
    pub socket_queue: Option<usize>,
    /// A keyring file (see `netcluster keygen`): one 64-hex-digit key per
    /// line, the first signs. Discovery is then authenticated; the file
    /// must be private to its owner (mode 0600). Links are not
    /// authenticated yet.
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Serve Prometheus metrics (`/metrics`), a JSON API (`/api/...`) and
    /// a live page of the mesh (`/`) over HTTP on this address (default:
    /// off; port 0 picks a free one, logged at start).
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
    /// A TOML file with any of these settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Log filter: error, warn, info (default), debug, trace, or a tracing
    /// directive list (RUST_LOG syntax).
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The admin socket a client command talks to.
#[derive(Debug, Clone, Args)]
pub struct AdminArg {
    /// The agent's admin socket (default: the only one in the default
    /// directory).
    #[arg(long, value_name = "PATH", env = "NETCLUSTER_ADMIN")]
    pub admin: Option<PathBuf>,
}

/// `members`, `groups`, `routes`, `stats`, `watch`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// The agent.
    #[command(flatten)]
    pub admin: AdminArg,
    /// Print JSON (one object per line for `watch`).
    #[arg(long)]
    pub json: bool,
}

/// Delivery semantics for `send` and `shout`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Best effort.
    Datagram,
    /// Exactly once, any order; waits for the delivery report.
    Reliable,
    /// Exactly once, in order; waits for the delivery report.
    Sequenced,
}

/// `netcluster send`.
#[derive(Debug, Clone, Args)]
pub struct SendArgs {
    /// The agent.
    #[command(flatten)]
    pub admin: AdminArg,
    /// The destination: a node name or id.
    #[arg(long, value_name = "NODE")]
    pub to: String,
    /// Delivery semantics.
    #[arg(long, value_enum, default_value = "reliable")]
    pub mode: Mode,
    /// The message (default: stdin).
    pub message: Option<String>,
}

/// `netcluster shout`.
#[derive(Debug, Clone, Args)]
pub struct ShoutArgs {
    /// The agent.
    #[command(flatten)]
    pub admin: AdminArg,
    /// The group ("" for everyone).
    #[arg(long, value_name = "G")]
    pub group: String,
    /// Delivery semantics.
    #[arg(long, value_enum, default_value = "reliable")]
    pub mode: Mode,
    /// The message (default: stdin).
    pub message: Option<String>,
}

/// `netcluster join` / `leave`.
#[derive(Debug, Clone, Args)]
pub struct GroupArgs {
    /// The agent.
    #[command(flatten)]
    pub admin: AdminArg,
    /// The group.
    pub group: String,
}

/// `netcluster ping`.
#[derive(Debug, Clone, Args)]
pub struct PingArgs {
    /// The agent.
    #[command(flatten)]
    pub admin: AdminArg,
    /// The node: a name or id.
    pub node: String,
    /// Pings to send, one a second.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
}

/// `netcluster topology`.
#[derive(Debug, Clone, Args)]
pub struct TopologyArgs {
    /// The agent's HTTP address (its `--http`).
    #[arg(long, value_name = "ADDR:PORT", env = "NETCLUSTER_HTTP")]
    pub http: SocketAddr,
    /// Output format.
    #[arg(long, value_enum, default_value = "dot")]
    pub format: TopologyFormat,
}

/// The formats of `netcluster topology`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopologyFormat {
    /// A Graphviz digraph (`| dot -Tsvg`).
    Dot,
    /// JSON, as `/api/topology` serves it.
    Json,
}

/// `netcluster tracker`.
#[derive(Debug, Clone, Args)]
pub struct TrackerArgs {
    /// Where to listen.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// Log filter, as for `agent`.
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// `netcluster demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Plain line-by-line output even on a terminal.
    #[arg(long)]
    pub plain: bool,
    /// Serve alpha's metrics, API and live page over HTTP on this address
    /// (as `agent --http`): the demo then pauses a few seconds between
    /// phases so the page shows each, and at the end keeps the nodes up
    /// until interrupted.
    #[arg(long, value_name = "ADDR:PORT")]
    pub http: Option<SocketAddr>,
}

fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}` is not KEY=VALUE")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_parse() {
        let cli = Cli::try_parse_from([
            "netcluster",
            "agent",
            "--cluster",
            "c",
            "--name",
            "n",
            "--group",
            "g1",
            "--group",
            "g2",
            "--header",
            "role=web",
            "--beacon",
            "off",
            "--bind",
            "127.0.0.1:0",
        ])
        .unwrap();
        let Command::Agent(a) = cli.command else { panic!("not agent") };
        assert_eq!(a.groups, ["g1", "g2"]);
        assert_eq!(a.headers, [("role".to_string(), "web".to_string())]);
        assert_eq!(a.beacon, Some(Beacon::Off));
    }

    #[test]
    fn bad_header_and_count_rejected() {
        assert!(Cli::try_parse_from(["netcluster", "agent", "--header", "novalue"]).is_err());
        assert!(Cli::try_parse_from(["netcluster", "ping", "x", "--count", "0"]).is_err());
    }
}
