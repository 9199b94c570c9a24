//! The `netcluster` command. Exit status: 0 success, 1 failure (one line
//! on stderr says why), 2 bad command line.

use std::process::ExitCode;

use clap::Parser;
use netcluster_cli::args::{Cli, Command};
use netcluster_cli::{agent, commands, config, demo, keygen, tracker};

fn init_logs(filter: &str) -> Result<(), String> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .map_err(|e| format!("bad --log-level `{filter}`: {e}"))?;
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    Ok(())
}

/// The log filter: the flag, else `RUST_LOG`, else `default`.
fn log_filter(flag: Option<&str>, default: &str) -> String {
    flag.map(str::to_string)
        .or_else(|| std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| default.to_string())
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    commands::note(&format!("netcluster: error: {msg}"));
    ExitCode::from(1)
}

/// A client command's outcome: a closed output (the reader went away) is
/// a quiet success.
fn client(r: Result<(), commands::CommandError>) -> Result<(), String> {
    match r {
        Err(e) if e.is_output_closed() => Ok(()),
        r => r.map_err(|e| e.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion)
                || matches!(e.kind(), ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand)
            {
                e.exit();
            }
            // clap's message starts with one "error: ..." line; the usage
            // and tips after it would bury it.
            let text = e.render().to_string();
            // The message runs to the first blank line (a list of missing
            // arguments is indented below it).
            let msg: Vec<&str> =
                text.lines().take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
            let msg = msg.join(" ");
            let msg = msg.strip_prefix("error: ").unwrap_or(&msg);
            commands::note(&format!("netcluster: error: {msg} (see --help)"));
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the runtime: {e}")),
    };
    rt.block_on(run(cli.command))
}

async fn run(cmd: Command) -> ExitCode {
    let r: Result<(), String> = match cmd {
        Command::Agent(a) => {
            let settings = match config::Settings::load(&a) {
                Ok(s) => s,
                Err(e @ config::ConfigError::Missing(_)) => {
                    commands::note(&format!("netcluster: error: {e} (see --help)"));
                    return ExitCode::from(2);
                }
                Err(e) => return fail(e),
            };
            if let Err(e) = init_logs(&log_filter(settings.log_level.as_deref(), "info")) {
                return fail(e);
            }
            agent::run(settings).await.map_err(|e| e.to_string())
        }
        Command::Tracker(t) => {
            if let Err(e) = init_logs(&log_filter(t.log_level.as_deref(), "info")) {
                return fail(e);
            }
            run_tracker(t.listen).await
        }
        Command::Demo(d) => {
            // Only warnings: the demo's own display tells the story.
            if let Err(e) = init_logs(&log_filter(None, "warn")) {
                return fail(e);
            }
            demo::run(d.plain, d.http).await.map_err(|e| e.to_string())
        }
        Command::Members(a) => client(commands::members(a).await),
        Command::Groups(a) => client(commands::groups(a).await),
        Command::Routes(a) => client(commands::routes(a).await),
        Command::Stats(a) => client(commands::stats(a).await),
        Command::Links(a) => client(commands::links(a).await),
        Command::Send(a) => client(commands::send(a).await),
        Command::Shout(a) => client(commands::shout(a).await),
        Command::Join(a) => client(commands::join(a).await),
        Command::Leave(a) => client(commands::leave(a).await),
        Command::Watch(a) => client(commands::watch(a).await),
        Command::Ping(a) => client(commands::ping(a).await),
        Command::Topology(a) => client(commands::topology(a).await),
        Command::Keygen(k) => keygen::run(&k).map_err(|e| e.to_string()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

async fn run_tracker(listen: std::net::SocketAddr) -> Result<(), String> {
    let server = tracker::TrackerServer::bind(listen, tracker::TrackerConfig::default())
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| format!("signals: {e}"))?;
    tracing::info!(addr = %server.local_addr(), "tracker listening");
    tokio::select! {
        r = server.run() => r.map_err(|e| format!("tracker failed: {e}")),
        _ = tokio::signal::ctrl_c() => Ok(()),
        _ = term.recv() => Ok(()),
    }
}
