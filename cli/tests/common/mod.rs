//! Helpers for the end-to-end tests: the built `netcluster` binary, agents
//! that are killed when dropped, commands with a deadline, polling.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest wait for anything in these tests.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_netcluster")
}

/// A cluster name no other test run shares.
pub fn unique_cluster(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("t-{tag}-{}-{nanos}", std::process::id())
}

/// A child process killed (and reaped) when dropped, so a failing test
/// leaves nothing running.
pub struct Guard {
    pub child: Child,
    pub name: String,
    pub log: PathBuf,
}

impl Guard {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn term(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM {} failed", self.pid());
    }

    /// Waits for the process to exit, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if Instant::now() > end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What the process wrote on stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An agent on loopback with beacons off, its admin socket in `dir`.
pub struct Agent {
    pub proc: Guard,
    pub admin: PathBuf,
}

pub fn spawn_agent(dir: &Path, cluster: &str, name: &str, extra: &[&str]) -> Agent {
    spawn_agent_at(dir, &dir.join(format!("{name}.sock")), cluster, name, extra)
}

/// Like [`spawn_agent`], with the admin socket at `admin`.
pub fn spawn_agent_at(
    dir: &Path,
    admin: &Path,
    cluster: &str,
    name: &str,
    extra: &[&str],
) -> Agent {
    let admin = admin.to_path_buf();
    let log = dir.join(format!("{name}.log"));
    let child = Command::new(bin())
        .args(["agent", "--cluster", cluster, "--name", name, "--bind", "127.0.0.1:0"])
        .args(["--beacon", "off", "--log-level", "info", "--admin"])
        .arg(&admin)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn agent");
    Agent { proc: Guard { child, name: name.to_string(), log }, admin }
}

/// Runs `netcluster ARGS` to completion (killed after `DEADLINE`).
pub fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

pub fn run_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn netcluster");
    if let Some(data) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(data).expect("write stdin");
    }
    // Read both pipes on threads so a chatty child never blocks; wait with
    // a deadline.
    let out = child.stdout.take().expect("stdout");
    let err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || read_all(out));
    let t_err = std::thread::spawn(move || read_all(err));
    let end = Instant::now() + DEADLINE;
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`netcluster {}` did not finish within {DEADLINE:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output { status, stdout: t_out.join().unwrap(), stderr: t_err.join().unwrap() }
}

fn read_all(mut r: impl std::io::Read) -> Vec<u8> {
    let mut v = Vec::new();
    let _ = r.read_to_end(&mut v);
    v
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `members --json` on the agent at `admin`, if it answers.
pub fn members(admin: &Path) -> Option<Vec<Value>> {
    let out = run(&["members", "--json", "--admin", admin.to_str().unwrap()]);
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).expect("members --json is JSON");
    Some(v.as_array().expect("an array").clone())
}

/// Polls `cond` every 100 ms until it returns `Some`, or panics after
/// `DEADLINE` with `what`.
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The agent's own record (hops 0), once its admin socket answers.
pub fn own_record(agent: &mut Agent) -> Value {
    wait_for(&format!("{}'s admin socket", agent.proc.name), || {
        if let Ok(Some(st)) = agent.proc.child.try_wait() {
            panic!("agent {} exited ({st}): {}", agent.proc.name, agent.proc.stderr());
        }
        members(&agent.admin)?.into_iter().find(|m| m["hops"] == 0)
    })
}

/// A running `netcluster watch --json` whose lines arrive on a channel.
pub struct Watch {
    pub proc: Guard,
    pub lines: mpsc::Receiver<Value>,
}

pub fn spawn_watch(dir: &Path, admin: &Path) -> Watch {
    let log = dir.join("watch.log");
    let mut child = Command::new(bin())
        .args(["watch", "--json", "--admin", admin.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .spawn()
        .expect("spawn watch");
    let out = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("watch printed a line that is not JSON ({e}): {line}"));
            if tx.send(v).is_err() {
                return;
            }
        }
    });
    Watch { proc: Guard { child, name: "watch".into(), log }, lines: rx }
}

impl Watch {
    /// The next event matching `pred` within `limit`.
    pub fn find(&self, limit: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let end = Instant::now() + limit;
        loop {
            let left = end.checked_duration_since(Instant::now())?;
            match self.lines.recv_timeout(left) {
                Ok(v) if pred(&v) => return Some(v),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }
}
