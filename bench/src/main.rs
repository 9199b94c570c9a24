//! # netcluster-bench
//!
//! The data-plane benchmark of issue #12: throughput of `Sequenced`
//! messages between separate processes over the mesh (directly, and
//! through relay nodes that are processes of their own) against plain TCP,
//! and the 64 B round trip over the mesh against a TCP echo.
//!
//! ```text
//! cargo run --release -j 1 -p netcluster-bench [-- --scale 0.1 --only 64,1KiB --relays 0,1]
//! ```
//!
//! The one binary plays every part: run without a subcommand (or with
//! `run`) it is the orchestrator, which re-executes itself
//! ([`std::env::current_exe`]) in one role per process (`sub`, `pub`,
//! `relay`, `echo`, `ping`, `tcp-sink`, `tcp-pub`, `tcp-echo`, `tcp-ping`).
//! Children bind to loopback, tell the orchestrator what it needs as lines
//! on their standard output (`ready <addr> <id>`, `start <ns>`,
//! `done <ns> <count>`, `error <text>`, see [`proto`]) and exit when their
//! standard input closes, so none outlives the orchestrator. The
//! orchestrator prints markdown tables and writes `results.json` and
//! `throughput.svg` (by default in `target/bench/`, next to the binary's
//! own directory).
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod orchestrate;
mod proto;
mod report;
mod roles;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Command line: the orchestrator's options, or one child role.
#[derive(Parser, Debug)]
#[command(name = "netcluster-bench", version, about, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

/// The orchestrator's options.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Multiplies every message count (and the number of round trips);
    /// counts never go below 10.
    #[arg(long, default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,
    /// Runs of each cell; the tables give the median (by msg/s) and the
    /// spread. A cell fails if any run fails.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub repeat: u32,
    /// Only these message sizes, comma-separated (`8`, `64`, `1KiB`,
    /// `8KiB`, `64KiB`, `1MiB`, or a number of bytes among those).
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    pub only: Vec<usize>,
    /// Relay counts of the mesh paths, comma-separated (0: direct).
    #[arg(long, value_delimiter = ',', default_value = "0,1,3")]
    pub relays: Vec<u8>,
    /// Mesh cells only (no TCP baseline, no ratios).
    #[arg(long, conflicts_with = "tcp_only")]
    pub mesh_only: bool,
    /// TCP cells only.
    #[arg(long)]
    pub tcp_only: bool,
    /// Skip the round-trip measurements.
    #[arg(long)]
    pub no_latency: bool,
    /// Ask for a `Delivered` report of every message (`SendOptions::confirm`,
    /// on by default in the library). The publisher sends unconfirmed by
    /// default, as a pub/sub publish is; this measures the cost of the
    /// reports.
    #[arg(long)]
    pub confirm: bool,
    /// Start every mesh node with this driver write queue (frames per
    /// link) instead of the library default.
    #[arg(long)]
    pub write_queue: Option<usize>,
    /// Start every mesh node with this event capacity (events per
    /// subscriber) instead of the library default.
    #[arg(long)]
    pub event_capacity: Option<usize>,
    /// Where to write `results.json` and `throughput.svg` (default
    /// `target/bench`, found from the binary's path).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Run the sender and receiver of direct mesh cells under
    /// `perf record -g`, writing `DIR/{pub,sub}-SIZE.data`.
    #[arg(long, value_name = "DIR")]
    pub perf: Option<PathBuf>,
    /// perf's call-graph mode for `--perf` (`fp`, as `-g`; or `dwarf`,
    /// which unwinds code built without frame pointers).
    #[arg(long, default_value = "fp", requires = "perf")]
    pub perf_call_graph: String,
    /// Also run every mesh cell with the cluster keys of this keyring file
    /// (`netcluster keygen --out FILE`): its links are then encrypted
    /// (Noise, PROTOCOL 12), and each mesh cell is measured both ways in
    /// the same run.
    #[arg(long, value_name = "FILE")]
    pub keyring: Option<PathBuf>,
    /// Seconds allowed for every cell on top of its size-based allowance.
    #[arg(long, default_value_t = 30)]
    pub deadline: u64,
}

/// The roles a child process plays.
#[derive(Subcommand, Debug)]
enum Cmd {
    /// Orchestrate every cell (the default).
    Run(RunArgs),
    /// Mesh receiver: checks `count` messages of `size` bytes in order.
    Sub(roles::SubArgs),
    /// Mesh sender: sends `count` messages of `size` bytes to the node at
    /// position 0.
    Pub(roles::PubArgs),
    /// Mesh relay: a node that only forwards.
    Relay(roles::NodeArgs),
    /// Mesh echo: sends every message back to its source.
    Echo(roles::NodeArgs),
    /// Mesh round trips against the echo at position 0.
    Ping(roles::PingArgs),
    /// TCP receiver: checks `count` length-prefixed messages in order.
    TcpSink(roles::TcpSinkArgs),
    /// TCP sender.
    TcpPub(roles::TcpPubArgs),
    /// TCP echo.
    TcpEcho,
    /// TCP round trips against an echo.
    TcpPing(roles::TcpPingArgs),
}

fn parse_scale(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v > 0.0 && v <= 100.0 {
        Ok(v)
    } else {
        Err("must be in (0, 100]".into())
    }
}

/// Parses a message size: bytes, or a number with `KiB`/`MiB` (also `k`,
/// `m`, case-insensitive); it must be one of [`orchestrate::SIZES`].
fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let t = t.strip_suffix('i').unwrap_or(t);
    let (num, mult) = match t.strip_suffix('k') {
        Some(n) => (n, 1024),
        None => match t.strip_suffix('m') {
            Some(n) => (n, 1024 * 1024),
            None => (t, 1),
        },
    };
    let n: usize = num.trim().parse().map_err(|_| format!("not a size: {s:?}"))?;
    let size = n * mult;
    if orchestrate::SIZES.iter().any(|c| c.size == size) {
        Ok(size)
    } else {
        let all: Vec<&str> = orchestrate::SIZES.iter().map(|c| c.label).collect();
        Err(format!("{s:?} is not one of {}", all.join(", ")))
    }
}

/// How long children wait for a route or a link before giving up.
pub const CHILD_PATIENCE: Duration = Duration::from_secs(60);

fn main() {
    let cli = Cli::parse();
    let code = match cli.cmd {
        None => orchestrate::main(cli.run),
        Some(Cmd::Run(a)) => orchestrate::main(a),
        Some(role) => roles::main(role_of(role)),
    };
    std::process::exit(code);
}

fn role_of(c: Cmd) -> roles::Role {
    match c {
        Cmd::Run(_) => unreachable!("handled by main"),
        Cmd::Sub(a) => roles::Role::Sub(a),
        Cmd::Pub(a) => roles::Role::Pub(a),
        Cmd::Relay(a) => roles::Role::Relay(a),
        Cmd::Echo(a) => roles::Role::Echo(a),
        Cmd::Ping(a) => roles::Role::Ping(a),
        Cmd::TcpSink(a) => roles::Role::TcpSink(a),
        Cmd::TcpPub(a) => roles::Role::TcpPub(a),
        Cmd::TcpEcho => roles::Role::TcpEcho,
        Cmd::TcpPing(a) => roles::Role::TcpPing(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_in_every_spelling() {
        assert_eq!(parse_size("8"), Ok(8));
        assert_eq!(parse_size("1KiB"), Ok(1024));
        assert_eq!(parse_size("64k"), Ok(65536));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("1 MiB"), Ok(1 << 20));
        assert!(parse_size("100").is_err());
        assert!(parse_size("x").is_err());
    }

    #[test]
    fn the_command_line_parses() {
        Cli::command_for_test();
        let c = Cli::try_parse_from(["b", "--scale", "0.5", "--only", "8,64KiB", "--relays", "1"])
            .unwrap();
        assert!(c.cmd.is_none());
        assert_eq!(c.run.only, [8, 65536]);
        assert_eq!(c.run.relays, [1]);
        let c = Cli::try_parse_from(["b", "tcp-echo"]).unwrap();
        assert!(matches!(c.cmd, Some(Cmd::TcpEcho)));
        assert!(Cli::try_parse_from(["b", "--scale", "0"]).is_err());
    }

    impl Cli {
        fn command_for_test() {
            use clap::CommandFactory;
            Cli::command().debug_assert();
        }
    }
}
