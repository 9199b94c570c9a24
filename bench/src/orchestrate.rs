//! The orchestrator: starts the children of each cell, reads their lines,
//! times the transfers, and writes the report.
//!
//! Every cell has a deadline; past it, or at the first `error` line, at a
//! child's early exit or at a write queue that overflowed (the driver logs
//! it and closes the link), the cell fails and its children are killed.
//! A [`Procs`] guard kills every child it started when dropped, on every
//! path out, a panic included; a child also exits by itself when its
//! standard input closes, as it does if the orchestrator dies.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use netcluster_tokio::net::{DEFAULT_EVENT_CAPACITY, DEFAULT_WRITE_QUEUE};

use crate::report::{self, Attempt, Cell, Latency, PathKind, Results};
use crate::RunArgs;

/// One message size of the benchmark and its count at scale 1.
#[derive(Debug, Clone, Copy)]
pub struct SizeCase {
    /// Payload bytes.
    pub size: usize,
    /// How the tables name it.
    pub label: &'static str,
    /// Messages sent at `--scale 1`.
    pub count: u64,
}

/// The message sizes of issue #12, with counts that keep each mesh cell
/// to one to a few seconds on loopback (2 cores).
pub const SIZES: [SizeCase; 6] = [
    SizeCase { size: 8, label: "8 B", count: 500_000 },
    SizeCase { size: 64, label: "64 B", count: 500_000 },
    SizeCase { size: 1024, label: "1 KiB", count: 300_000 },
    SizeCase { size: 8 * 1024, label: "8 KiB", count: 100_000 },
    SizeCase { size: 64 * 1024, label: "64 KiB", count: 15_000 },
    SizeCase { size: 1 << 20, label: "1 MiB", count: 1_000 },
];

/// Round trips measured at scale 1 (and warm-up round trips before them).
const ROUND_TRIPS: usize = 5_000;
const WARMUP: usize = 200;
/// Time allowed to start a cell's processes and form its path.
const SETUP_LIMIT: Duration = Duration::from_secs(60);

/// Why a cell failed: an `error` line, a child gone, a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fail {
    /// What went wrong, and where.
    Other(String),
}

impl std::fmt::Display for Fail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fail::Other(s) => f.write_str(s),
        }
    }
}

enum Msg {
    Out(usize, String),
    Err(usize, String),
    Eof(usize),
    ErrEof,
}

struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
}

/// The children of one cell; dropping it stops them all (standard input
/// closed, a grace period, then killed).
pub struct Procs {
    exe: PathBuf,
    list: Vec<Proc>,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    /// Lines read but not asked for yet.
    pending: VecDeque<(usize, String)>,
    /// How long children get to exit by themselves (longer under perf,
    /// which writes its data on the way out).
    grace: Duration,
    /// Children whose standard error has ended.
    stderr_ended: usize,
}

impl Procs {
    fn new(exe: &Path) -> Procs {
        let (tx, rx) = channel();
        Procs {
            exe: exe.to_path_buf(),
            list: Vec::new(),
            tx,
            rx,
            pending: VecDeque::new(),
            grace: Duration::from_secs(2),
            stderr_ended: 0,
        }
    }

    /// Starts `exe role args...` (under `perf record --call-graph MODE
    /// -o FILE` if `perf` is given) and returns its index.
    fn spawn(
        &mut self,
        name: &str,
        args: &[String],
        perf: Option<(&Path, &str)>,
    ) -> Result<usize, Fail> {
        let mut cmd = match perf {
            Some((out, mode)) => {
                let mut c = Command::new("perf");
                c.args(["record", "--call-graph", mode, "-q", "-o"]);
                c.arg(out).arg("--").arg(&self.exe);
                self.grace = Duration::from_secs(60);
                c
            }
            None => Command::new(&self.exe),
        };
        cmd.args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child =
            cmd.spawn().map_err(|e| Fail::Other(format!("cannot start {name}: {e}")))?;
        let i = self.list.len();
        let (out, err) = (child.stdout.take(), child.stderr.take());
        if let Some(out) = out {
            let tx = self.tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    let _ = tx.send(Msg::Out(i, line));
                }
                let _ = tx.send(Msg::Eof(i));
            });
        }
        if let Some(err) = err {
            let tx = self.tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    let _ = tx.send(Msg::Err(i, line));
                }
                let _ = tx.send(Msg::ErrEof);
            });
        }
        let stdin = child.stdin.take();
        self.list.push(Proc { name: name.to_string(), child, stdin });
        Ok(i)
    }

    /// The words after `keyword` on the first line of child `who` that
    /// starts with it, waiting until `deadline`. Fails at an `error` line
    /// or an early exit of any child, or an overflowing write queue.
    fn expect(
        &mut self,
        who: usize,
        keyword: &str,
        deadline: Instant,
    ) -> Result<Vec<String>, Fail> {
        let matches = |line: &str| {
            let mut w = line.split_whitespace();
            (w.next() == Some(keyword)).then(|| w.map(str::to_string).collect::<Vec<_>>())
        };
        if let Some(at) = self.pending.iter().position(|(i, l)| *i == who && matches(l).is_some()) {
            let (_, line) = self.pending.remove(at).unwrap_or_default();
            return Ok(matches(&line).unwrap_or_default());
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.rx.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    let name = &self.list[who].name;
                    return Err(Fail::Other(format!(
                        "deadline passed waiting for {name}'s {keyword}"
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => unreachable!("the guard holds a sender"),
            };
            match msg {
                Msg::Out(i, line) => {
                    if let Some(rest) = line.strip_prefix("error") {
                        let name = &self.list[i].name;
                        return Err(Fail::Other(format!("{name}:{rest}")));
                    }
                    if i == who {
                        if let Some(words) = matches(&line) {
                            return Ok(words);
                        }
                    }
                    self.pending.push_back((i, line));
                }
                Msg::Err(i, line) => {
                    let name = &self.list[i].name;
                    if std::env::var_os("NETCLUSTER_BENCH_VERBOSE").is_some() {
                        eprintln!("  [{name}] {line}");
                    }
                }
                Msg::Eof(i) => {
                    let name = &self.list[i].name;
                    return Err(Fail::Other(format!("{name} exited early")));
                }
                Msg::ErrEof => self.stderr_ended += 1,
            }
        }
    }

    /// Lets the children go (standard input closed) and kills those still
    /// there after the grace period.
    fn finish(&mut self) -> Result<(), Fail> {
        for p in &mut self.list {
            p.stdin.take();
        }
        let end = Instant::now() + self.grace;
        for p in &mut self.list {
            while matches!(p.child.try_wait(), Ok(None)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        // The readers of standard error end with their child: read what is
        // left (waiting a little for them, never for long).
        let end = Instant::now() + Duration::from_secs(1);
        while self.stderr_ended < self.list.len() {
            let left = end.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(Msg::ErrEof) => self.stderr_ended += 1,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        self.list.clear();
        self.stderr_ended = 0;
        Ok(())
    }
}

impl Drop for Procs {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// The transfer's allowance: the base deadline, plus the time it takes at
/// a pessimistic 20,000 messages and 5 MB a second.
fn transfer_limit(base: u64, size: usize, count: u64) -> Duration {
    let secs = base as f64 + count as f64 / 20_000.0 + (size as f64 * count as f64) / 5e6;
    Duration::from_secs_f64(secs)
}

/// Parses a `start`/`done` time.
fn ns(words: &[String], what: &str) -> Result<u128, Fail> {
    words
        .first()
        .and_then(|w| w.parse().ok())
        .ok_or_else(|| Fail::Other(format!("bad {what} line: {words:?}")))
}

/// The driver limits a mesh cell runs with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Overrides {
    /// Write queue, frames per link (`None`: the library's default).
    pub write_queue: Option<usize>,
    /// Event capacity per subscriber (`None`: the library's default).
    pub event_capacity: Option<usize>,
}

impl Overrides {
    fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if let Some(n) = self.write_queue {
            v.extend(["--write-queue".into(), n.to_string()]);
        }
        if let Some(n) = self.event_capacity {
            v.extend(["--event-capacity".into(), n.to_string()]);
        }
        v
    }
}

/// What a finished transfer measured.
struct Measured {
    seconds: f64,
    route_nodes: Option<usize>,
}

/// Everything a cell needs from the run.
struct Ctx<'a> {
    exe: &'a Path,
    args: &'a RunArgs,
    cells_run: usize,
}

impl Ctx<'_> {
    fn cluster(&mut self) -> String {
        self.cells_run += 1;
        format!("bench-{}-{}", std::process::id(), self.cells_run)
    }

    fn count(&self, base: u64) -> u64 {
        ((base as f64 * self.args.scale) as u64).max(10)
    }

    fn perf_file(&self, role: &str, size: usize, relays: u8) -> Option<PathBuf> {
        let dir = self.args.perf.as_ref().filter(|_| relays == 0)?;
        Some(dir.join(format!("{role}-{size}.data")))
    }

    /// One mesh transfer: `sub` at position 0, `relays` relays, `pub` at
    /// the end, started in that order, each linking to the one before.
    fn mesh_once(
        &mut self,
        relays: u8,
        size: usize,
        count: u64,
        o: Overrides,
        keyring: Option<&Path>,
    ) -> Result<Measured, Fail> {
        let cluster = self.cluster();
        let mut procs = Procs::new(self.exe);
        let setup = Instant::now() + SETUP_LIMIT;
        let last = relays + 1;
        let node = |pos: u8, seed: Option<&str>| {
            let mut v =
                vec!["--cluster".to_string(), cluster.clone(), "--pos".into(), pos.to_string()];
            if let Some(s) = seed {
                v.extend(["--seed".into(), s.to_string()]);
            }
            // A line: the ends take one link, the relays two, so no node
            // can link past its neighbours (see `report::TOPOLOGY`).
            if relays > 0 {
                let max = if pos == 0 || pos == last { 1 } else { 2 };
                v.extend(["--max-links".into(), max.to_string()]);
            }
            v.extend(o.args());
            if let Some(k) = keyring {
                v.extend(["--keyring".into(), k.display().to_string()]);
            }
            v
        };
        let mut a = vec!["sub".to_string()];
        a.extend(node(0, None));
        a.extend(["--size".into(), size.to_string(), "--count".into(), count.to_string()]);
        a.extend(["--from".into(), last.to_string()]);
        let perf = self.perf_file("sub", size, relays);
        let mode = self.args.perf_call_graph.as_str();
        let sub = procs.spawn("sub", &a, perf.as_deref().map(|p| (p, mode)))?;
        let mut addr = procs.expect(sub, "ready", setup)?.first().cloned().unwrap_or_default();
        for r in 1..=relays {
            let mut a = vec!["relay".to_string()];
            a.extend(node(r, Some(&addr)));
            let p = procs.spawn(&format!("relay {r}"), &a, None)?;
            addr = procs.expect(p, "ready", setup)?.first().cloned().unwrap_or_default();
        }
        let mut a = vec!["pub".to_string()];
        a.extend(node(last, Some(&addr)));
        a.extend(["--size".into(), size.to_string(), "--count".into(), count.to_string()]);
        if self.args.confirm {
            a.push("--confirm".into());
        }
        let perf = self.perf_file("pub", size, relays);
        let publ = procs.spawn("pub", &a, perf.as_deref().map(|p| (p, mode)))?;
        let route = procs.expect(publ, "route", setup)?;
        let nodes: usize = route.first().and_then(|n| n.parse().ok()).unwrap_or(0);
        if nodes != usize::from(relays) + 2 {
            return Err(Fail::Other(format!(
                "route of {nodes} nodes ({}), expected {}",
                route[1..].join(" "),
                relays + 2
            )));
        }
        let limit = Instant::now() + transfer_limit(self.args.deadline, size, count);
        let start = ns(&procs.expect(publ, "start", limit)?, "start")?;
        let done = ns(&procs.expect(sub, "done", limit)?, "done")?;
        procs.expect(publ, "delivered", limit)?;
        let after = procs.expect(publ, "route-after", limit)?;
        let after: usize = after.first().and_then(|n| n.parse().ok()).unwrap_or(0);
        if after != nodes {
            return Err(Fail::Other(format!(
                "the route changed during the run: {nodes} nodes, then {after}"
            )));
        }
        procs.finish()?;
        Ok(Measured { seconds: done.saturating_sub(start) as f64 / 1e9, route_nodes: Some(nodes) })
    }

    /// A mesh cell, with the library's driver limits or those given on
    /// the command line. No retries: a slow link slows its sender, it is
    /// never closed, so a failure is a failure.
    /// `encrypted`: with the `--keyring` keys (links over Noise).
    fn mesh(&mut self, relays: u8, encrypted: bool, case: &SizeCase) -> Cell {
        let count = self.count(case.count);
        let o = Overrides {
            write_queue: self.args.write_queue,
            event_capacity: self.args.event_capacity,
        };
        let keyring = self.args.keyring.as_deref().filter(|_| encrypted);
        let r = self.mesh_once(relays, case.size, count, o, keyring);
        let error = r.as_ref().err().map(ToString::to_string);
        let attempts = vec![Attempt { overrides: o, error }];
        let path = PathKind::Mesh { relays, encrypted };
        Cell::new(path, case, count, r.map(|m| (m.seconds, m.route_nodes)), o, attempts)
    }

    /// A TCP cell: `tcp-sink`, then `tcp-pub` connecting to it.
    fn tcp(&mut self, buffered: bool, case: &SizeCase) -> Cell {
        let count = self.count(case.count);
        let r = (|| {
            let mut procs = Procs::new(self.exe);
            let setup = Instant::now() + SETUP_LIMIT;
            let size = case.size.to_string();
            let n = count.to_string();
            let a = ["tcp-sink", "--size", &size, "--count", &n].map(String::from);
            let sink = procs.spawn("tcp-sink", &a, None)?;
            let addr = procs.expect(sink, "ready", setup)?.first().cloned().unwrap_or_default();
            let mut a = ["tcp-pub", "--to", &addr, "--size", &size, "--count", &n]
                .map(String::from)
                .to_vec();
            if buffered {
                a.push("--buffered".into());
            }
            let publ = procs.spawn("tcp-pub", &a, None)?;
            let limit = Instant::now() + transfer_limit(self.args.deadline, case.size, count);
            let start = ns(&procs.expect(publ, "start", limit)?, "start")?;
            let done = ns(&procs.expect(sink, "done", limit)?, "done")?;
            procs.finish()?;
            Ok((done.saturating_sub(start) as f64 / 1e9, None))
        })();
        let path = if buffered { PathKind::TcpBuffered } else { PathKind::Tcp };
        let error = r.as_ref().err().map(ToString::to_string);
        let attempts = vec![Attempt { overrides: Overrides::default(), error }];
        Cell::new(path, case, count, r, Overrides::default(), attempts)
    }

    /// Round trips: over the mesh (`echo` at position 0, `ping` linked to
    /// it) or over TCP (`tcp-echo`, `tcp-ping`).
    fn latency(&mut self, mesh: bool) -> Latency {
        let count = ((ROUND_TRIPS as f64 * self.args.scale) as usize).max(20);
        let warmup = ((WARMUP as f64 * self.args.scale) as usize).max(5);
        let cluster = self.cluster();
        let o = Overrides {
            write_queue: self.args.write_queue,
            event_capacity: self.args.event_capacity,
        };
        let r = (|| {
            let mut procs = Procs::new(self.exe);
            let setup = Instant::now() + SETUP_LIMIT;
            let (c, w) = (count.to_string(), warmup.to_string());
            let client = if mesh {
                let mut a =
                    ["echo", "--cluster", &cluster, "--pos", "0"].map(String::from).to_vec();
                a.extend(o.args());
                let echo = procs.spawn("echo", &a, None)?;
                let addr = procs.expect(echo, "ready", setup)?.first().cloned().unwrap_or_default();
                let mut a = ["ping", "--cluster", &cluster, "--pos", "1", "--seed", &addr]
                    .map(String::from)
                    .to_vec();
                a.extend(["--count", &c, "--warmup", &w].map(String::from));
                a.extend(o.args());
                procs.spawn("ping", &a, None)?
            } else {
                let echo = procs.spawn("tcp-echo", &["tcp-echo".to_string()], None)?;
                let addr = procs.expect(echo, "ready", setup)?.first().cloned().unwrap_or_default();
                let a =
                    ["tcp-ping", "--to", &addr, "--count", &c, "--warmup", &w].map(String::from);
                procs.spawn("tcp-ping", &a, None)?
            };
            let limit = Instant::now()
                + Duration::from_secs(self.args.deadline)
                + Duration::from_millis(20 * (count + warmup) as u64);
            let words = procs.expect(client, "rtt", limit)?;
            let num = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
            let (p50, p99) = num(0)
                .zip(num(1))
                .ok_or_else(|| Fail::Other(format!("bad rtt line: {words:?}")))?;
            procs.finish()?;
            Ok((p50, p99))
        })();
        Latency::new(if mesh { "mesh (Sequenced, direct)" } else { "TCP echo" }, count, r)
    }
}

/// Where results go by default: `bench/` in the target directory that
/// holds this binary (`target/release/netcluster-bench` →
/// `target/bench`), else `target/bench` under the current directory.
fn default_out(exe: &Path) -> PathBuf {
    exe.parent()
        .and_then(Path::parent)
        .filter(|t| t.file_name().is_some_and(|n| n == "target") || t.join("CACHEDIR.TAG").exists())
        .map_or_else(|| PathBuf::from("target/bench"), |t| t.join("bench"))
}

/// Runs every cell the options select, prints the tables, writes the
/// JSON and the SVG; the exit code (1 if any cell failed).
pub fn main(args: RunArgs) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cannot find this executable: {e}");
            return 2;
        }
    };
    let out = args.out.clone().unwrap_or_else(|| default_out(&exe));
    if let Some(dir) = &args.perf {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("cannot create {}: {e}", dir.display());
            return 2;
        }
    }
    let sizes: Vec<SizeCase> = SIZES
        .iter()
        .copied()
        .filter(|c| args.only.is_empty() || args.only.contains(&c.size))
        .collect();
    let mut relays = args.relays.clone();
    relays.sort_unstable();
    relays.dedup();
    let mut ctx = Ctx { exe: &exe, args: &args, cells_run: 0 };
    let mut cells = Vec::new();
    let began = Instant::now();
    for case in &sizes {
        // Repetitions go round the paths, so that a passing disturbance
        // (another process on the machine) falls on several paths, not on
        // every repetition of one.
        let mut reps: Vec<Vec<Cell>> = Vec::new();
        for _ in 0..args.repeat {
            let mut row = Vec::new();
            if !args.tcp_only {
                for &r in &relays {
                    row.push(ctx.mesh(r, false, case));
                    if args.keyring.is_some() {
                        row.push(ctx.mesh(r, true, case));
                    }
                }
            }
            if !args.mesh_only {
                row.push(ctx.tcp(false, case));
                row.push(ctx.tcp(true, case));
            }
            for (i, c) in row.into_iter().enumerate() {
                if reps.len() <= i {
                    reps.push(Vec::new());
                }
                reps[i].push(c);
            }
        }
        for runs in reps {
            let c = Cell::median(runs);
            eprintln!("{}", c.progress());
            cells.push(c);
        }
    }
    let mut latency = Vec::new();
    if !args.no_latency {
        if !args.tcp_only {
            latency.push(ctx.latency(true));
        }
        if !args.mesh_only {
            latency.push(ctx.latency(false));
        }
        for l in &latency {
            eprintln!("{}", l.progress());
        }
    }
    let results = Results::new(
        &args,
        Overrides {
            write_queue: Some(DEFAULT_WRITE_QUEUE),
            event_capacity: Some(DEFAULT_EVENT_CAPACITY),
        },
        cells,
        latency,
        began.elapsed().as_secs_f64(),
    );
    print!("{}", report::markdown(&results));
    let written = report::write(&results, &out);
    match written {
        Ok(files) => {
            for f in files {
                println!("wrote {}", f.display());
            }
        }
        Err(e) => {
            eprintln!("cannot write the results to {}: {e}", out.display());
            return 2;
        }
    }
    i32::from(results.failures > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_grow_with_the_work() {
        assert_eq!(transfer_limit(30, 8, 0), Duration::from_secs(30));
        assert!(transfer_limit(30, 1 << 20, 256) > Duration::from_secs(80));
    }

    #[test]
    fn results_go_next_to_the_binary() {
        let exe = Path::new("/x/target/release/netcluster-bench");
        assert_eq!(default_out(exe), Path::new("/x/target/bench"));
    }

    #[test]
    fn a_child_that_never_answers_fails_at_its_deadline_and_is_killed() {
        let mut procs = Procs::new(Path::new("sleep"));
        let p = procs.spawn("sleeper", &["30".into()], None).unwrap();
        let t = Instant::now();
        let r = procs.expect(p, "ready", Instant::now() + Duration::from_millis(200));
        assert!(matches!(r, Err(Fail::Other(ref s)) if s.contains("deadline")), "{r:?}");
        drop(procs);
        assert!(t.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn an_error_line_fails_the_cell_at_once() {
        let mut procs = Procs::new(Path::new("sh"));
        let args = ["-c".to_string(), "echo ready 1; echo error boom; sleep 30".to_string()];
        let p = procs.spawn("child", &args, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        assert_eq!(procs.expect(p, "ready", deadline), Ok(vec!["1".to_string()]));
        let r = procs.expect(p, "done", deadline);
        assert_eq!(r, Err(Fail::Other("child: boom".into())));
    }
}
