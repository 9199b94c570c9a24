//! What a run found, and its three forms: markdown tables on standard
//! output, `results.json` and `throughput.svg`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::orchestrate::{Fail, Overrides, SizeCase};
use crate::RunArgs;

/// How the relay paths are forced (printed with the results).
pub const TOPOLOGY: &str = "beacons off; each node's one seed is the node before it on the \
line (receiver, relay 1, ..., sender), each started once the one before is linked; \
Config::max_links 1 at both ends and 2 at each relay, so a node that knows the whole \
line cannot link past its neighbours (dials stop at max_links, HELLOs past it are \
refused with LIMIT). Direct cells keep the default max_links.";

/// The path a cell measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum PathKind {
    /// Through the mesh, over `relays` relay processes.
    Mesh {
        /// Relays between sender and receiver (0: direct).
        relays: u8,
        /// With a cluster key: every link encrypted (`--keyring`).
        encrypted: bool,
    },
    /// Plain TCP, one `write_all` per message.
    Tcp,
    /// Plain TCP through a 64 KiB `BufWriter`.
    TcpBuffered,
}

impl PathKind {
    /// How tables and the plot name it.
    pub fn label(&self) -> String {
        match self {
            PathKind::Mesh { relays, encrypted } => {
                let path = match relays {
                    0 => "mesh direct".to_string(),
                    1 => "mesh 1 relay".to_string(),
                    n => format!("mesh {n} relays"),
                };
                if *encrypted {
                    path + " encrypted"
                } else {
                    path
                }
            }
            PathKind::Tcp => "TCP".into(),
            PathKind::TcpBuffered => "TCP BufWriter".into(),
        }
    }
}

/// One try of a mesh cell.
#[derive(Debug, Clone, Serialize)]
pub struct Attempt {
    /// The driver limits it ran with (`None`: the library's default).
    pub overrides: Overrides,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// One path at one message size.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    /// The path.
    pub path: PathKind,
    /// Payload bytes per message.
    pub size: usize,
    /// Messages sent.
    pub count: u64,
    /// From the sender's first message to the receiver's last, if the cell
    /// passed.
    pub seconds: Option<f64>,
    /// Messages a second.
    pub msgs_per_s: Option<f64>,
    /// Payload MB (10^6 bytes) a second.
    pub mb_per_s: Option<f64>,
    /// Nodes on the sender's route to the receiver, both included.
    pub route_nodes: Option<usize>,
    /// Messages a second of every run of the cell (the figures above are
    /// the median run's).
    pub runs_msgs_per_s: Vec<f64>,
    /// The driver limits of the try that counts (the largest over the
    /// runs).
    pub overrides: Overrides,
    /// Every try, in order.
    pub attempts: Vec<Attempt>,
    /// Why the cell failed, if it did.
    pub error: Option<String>,
}

impl Cell {
    /// A cell from its outcome: seconds and route length, or why it failed.
    pub fn new(
        path: PathKind,
        case: &SizeCase,
        count: u64,
        r: Result<(f64, Option<usize>), Fail>,
        overrides: Overrides,
        attempts: Vec<Attempt>,
    ) -> Cell {
        let (seconds, route_nodes, error) = match r {
            Ok((s, n)) => (Some(s.max(1e-9)), n, None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        let msgs = seconds.map(|s| count as f64 / s);
        Cell {
            path,
            size: case.size,
            count,
            seconds,
            msgs_per_s: msgs,
            mb_per_s: msgs.map(|m| m * case.size as f64 / 1e6),
            route_nodes,
            runs_msgs_per_s: msgs.into_iter().collect(),
            overrides,
            attempts,
            error,
        }
    }

    /// One cell from several runs of it: the first failure if any run
    /// failed, else the median run (by msg/s); either way with every run's
    /// rate, every try, and the largest driver limits any run needed.
    pub fn median(mut runs: Vec<Cell>) -> Cell {
        let rates: Vec<f64> = runs.iter().flat_map(|c| c.runs_msgs_per_s.clone()).collect();
        let attempts: Vec<Attempt> = runs.iter().flat_map(|c| c.attempts.clone()).collect();
        let max =
            |f: fn(&Overrides) -> Option<usize>| runs.iter().filter_map(|c| f(&c.overrides)).max();
        let overrides = Overrides {
            write_queue: max(|o| o.write_queue),
            event_capacity: max(|o| o.event_capacity),
        };
        let mut pick = match runs.iter().position(|c| c.error.is_some()) {
            Some(i) => runs.swap_remove(i),
            None => {
                runs.sort_by(|a, b| {
                    a.msgs_per_s.unwrap_or(0.0).total_cmp(&b.msgs_per_s.unwrap_or(0.0))
                });
                let mid = runs.len() / 2;
                runs.swap_remove(mid)
            }
        };
        pick.runs_msgs_per_s = rates;
        pick.attempts = attempts;
        pick.overrides = overrides;
        pick
    }

    /// Lowest and highest MB/s over the runs.
    pub fn spread_mb(&self) -> Option<(f64, f64)> {
        let mb = |m: &f64| m * self.size as f64 / 1e6;
        let lo = self.runs_msgs_per_s.iter().map(mb).reduce(f64::min)?;
        let hi = self.runs_msgs_per_s.iter().map(mb).reduce(f64::max)?;
        Some((lo, hi))
    }

    /// One line for the progress log.
    pub fn progress(&self) -> String {
        match (self.msgs_per_s, self.mb_per_s, &self.error) {
            (Some(m), Some(mb), _) => format!(
                "{:>14} {:>7}: {:>10.0} msg/s {:>9.1} MB/s{}{}",
                self.path.label(),
                size_label(self.size),
                m,
                mb,
                self.spread_mb()
                    .filter(|_| self.runs_msgs_per_s.len() > 1)
                    .map_or(String::new(), |(lo, hi)| format!(" (runs {lo:.1}..{hi:.1})")),
                overrides_note(&self.overrides)
            ),
            (_, _, e) => format!(
                "{:>14} {:>7}: FAILED: {}",
                self.path.label(),
                size_label(self.size),
                e.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Round trips of 64 B messages.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    /// Over what.
    pub path: String,
    /// Round trips measured.
    pub count: usize,
    /// Median, in microseconds.
    pub p50_us: Option<f64>,
    /// 99th percentile, in microseconds.
    pub p99_us: Option<f64>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl Latency {
    /// From p50 and p99 in nanoseconds, or why it failed.
    pub fn new(path: &str, count: usize, r: Result<(u64, u64), Fail>) -> Latency {
        let (p50, p99, error) = match r {
            Ok((a, b)) => (Some(a as f64 / 1e3), Some(b as f64 / 1e3), None),
            Err(e) => (None, None, Some(e.to_string())),
        };
        Latency { path: path.into(), count, p50_us: p50, p99_us: p99, error }
    }

    /// One line for the progress log.
    pub fn progress(&self) -> String {
        match (self.p50_us, self.p99_us) {
            (Some(a), Some(b)) => {
                format!("{:>24} 64 B round trip: p50 {a:.0} µs, p99 {b:.0} µs", self.path)
            }
            _ => format!(
                "{:>24} 64 B round trip: FAILED: {}",
                self.path,
                self.error.as_deref().unwrap_or("?")
            ),
        }
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    /// `--scale`.
    pub scale: f64,
    /// `--repeat`: runs of each cell.
    pub repeat: u32,
    /// The library's driver limits, for reference.
    pub library_defaults: Overrides,
    /// How relay paths were forced.
    pub topology: &'static str,
    /// Whether the publisher asked for a `Delivered` report per message.
    pub confirmed: bool,
    /// Every throughput cell.
    pub cells: Vec<Cell>,
    /// The round trips.
    pub latency: Vec<Latency>,
    /// Cells and round trips that failed.
    pub failures: usize,
    /// Wall time of the run, in seconds.
    pub wall_seconds: f64,
}

impl Results {
    /// The results of a run with `args`.
    pub fn new(
        args: &RunArgs,
        library_defaults: Overrides,
        cells: Vec<Cell>,
        latency: Vec<Latency>,
        wall_seconds: f64,
    ) -> Results {
        let failures = cells.iter().filter(|c| c.error.is_some()).count()
            + latency.iter().filter(|l| l.error.is_some()).count();
        Results {
            scale: args.scale,
            repeat: args.repeat,
            library_defaults,
            topology: TOPOLOGY,
            confirmed: args.confirm,
            cells,
            latency,
            failures,
            wall_seconds,
        }
    }

    fn paths(&self) -> Vec<PathKind> {
        let mut v: Vec<PathKind> = Vec::new();
        for c in &self.cells {
            if !v.contains(&c.path) {
                v.push(c.path);
            }
        }
        v
    }

    fn sizes(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.cells.iter().map(|c| c.size).collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    fn cell(&self, path: PathKind, size: usize) -> Option<&Cell> {
        self.cells.iter().find(|c| c.path == path && c.size == size)
    }
}

/// `8 B`, `1 KiB`, `1 MiB`...
pub fn size_label(size: usize) -> String {
    match size {
        s if s >= 1 << 20 && s % (1 << 20) == 0 => format!("{} MiB", s >> 20),
        s if s >= 1024 && s % 1024 == 0 => format!("{} KiB", s >> 10),
        s => format!("{s} B"),
    }
}

fn overrides_note(o: &Overrides) -> String {
    let mut v = Vec::new();
    if let Some(n) = o.write_queue {
        v.push(format!("write_queue {n}"));
    }
    if let Some(n) = o.event_capacity {
        v.push(format!("event_capacity {n}"));
    }
    if v.is_empty() {
        String::new()
    } else {
        format!(" ({})", v.join(", "))
    }
}

/// `1,234,567`.
fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

fn mb(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The markdown report: throughput in MB/s and msg/s, mesh/TCP ratios,
/// routes and driver limits of the mesh cells, round trips.
pub fn markdown(r: &Results) -> String {
    let mut s = String::new();
    let paths = r.paths();
    let sizes = r.sizes();
    let head = |s: &mut String, title: &str| {
        let _ = writeln!(s, "\n{title}\n");
        let _ = write!(s, "| message | messages |");
        for p in &paths {
            let _ = write!(s, " {} |", p.label());
        }
        let _ = write!(s, "\n|---|---:|");
        for _ in &paths {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
    };
    let table = |s: &mut String, title: &str, f: &dyn Fn(&Cell) -> Option<String>| {
        head(s, title);
        for &size in &sizes {
            let count = r.cells.iter().find(|c| c.size == size).map_or(0, |c| c.count);
            let _ = write!(s, "| {} | {} |", size_label(size), thousands(count as f64));
            for p in &paths {
                let v = r.cell(*p, size).map(|c| f(c).unwrap_or_else(|| "failed".into()));
                let _ = write!(s, " {} |", v.unwrap_or_else(|| "–".into()));
            }
            s.push('\n');
        }
    };
    let _ = writeln!(
        s,
        "## Data plane: Sequenced messages between processes on loopback (scale {})",
        r.scale
    );
    let title = if r.repeat > 1 {
        format!("Throughput, MB/s (10^6 payload bytes a second), median of {} runs:", r.repeat)
    } else {
        "Throughput, MB/s (10^6 payload bytes a second):".to_string()
    };
    table(&mut s, &title, &|c| c.mb_per_s.map(mb));
    table(&mut s, "Throughput, messages a second:", &|c| c.msgs_per_s.map(thousands));
    if r.cells.iter().any(|c| c.runs_msgs_per_s.len() > 1) {
        let title = format!("Run-to-run spread, lowest and highest MB/s of the {} runs:", r.repeat);
        table(&mut s, &title, &|c| c.spread_mb().map(|(lo, hi)| format!("{}–{}", mb(lo), mb(hi))));
    }

    let mesh: Vec<PathKind> =
        paths.iter().copied().filter(|p| matches!(p, PathKind::Mesh { .. })).collect();
    let tcp: Vec<PathKind> =
        paths.iter().copied().filter(|p| !matches!(p, PathKind::Mesh { .. })).collect();
    if !mesh.is_empty() && !tcp.is_empty() {
        let _ = writeln!(s, "\nRatio mesh / TCP (throughput):\n");
        let _ = write!(s, "| message |");
        for m in &mesh {
            for t in &tcp {
                let _ = write!(s, " {} / {} |", m.label(), t.label());
            }
        }
        let _ = write!(s, "\n|---|");
        for _ in 0..mesh.len() * tcp.len() {
            let _ = write!(s, "---:|");
        }
        s.push('\n');
        for &size in &sizes {
            let _ = write!(s, "| {} |", size_label(size));
            for m in &mesh {
                for t in &tcp {
                    let a = r.cell(*m, size).and_then(|c| c.mb_per_s);
                    let b = r.cell(*t, size).and_then(|c| c.mb_per_s);
                    match (a, b) {
                        (Some(a), Some(b)) if b > 0.0 => {
                            let _ = write!(s, " {:.2} |", a / b);
                        }
                        _ => s.push_str(" – |"),
                    }
                }
            }
            s.push('\n');
        }
    }

    if !mesh.is_empty() {
        let _ =
            writeln!(s, "\nMesh cells: route (nodes, both ends included), tries, driver limits:\n");
        let _ = writeln!(s, "| path | message | route | tries (all runs) | limits (library default unless named) | first failure |");
        let _ = writeln!(s, "|---|---|---:|---:|---|---|");
        for c in r.cells.iter().filter(|c| matches!(c.path, PathKind::Mesh { .. })) {
            let first = c.attempts.iter().find_map(|a| a.error.clone()).unwrap_or_default();
            let limits = overrides_note(&c.overrides);
            let limits = limits.trim().trim_start_matches('(').trim_end_matches(')');
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {} | {} |",
                c.path.label(),
                size_label(c.size),
                c.route_nodes.map_or("–".into(), |n| n.to_string()),
                c.attempts.len(),
                if limits.is_empty() { "defaults" } else { limits },
                first.replace('|', "/"),
            );
        }
        let d = &r.library_defaults;
        let _ = writeln!(
            s,
            "\nLibrary defaults: write_queue {}, event_capacity {}.",
            d.write_queue.unwrap_or(0),
            d.event_capacity.unwrap_or(0)
        );
        let _ = writeln!(
            s,
            "Publisher sends: {}.",
            if r.confirmed {
                "confirmed (a Delivered report per message)"
            } else {
                "unconfirmed (SendOptions::confirm(false); failures still reported)"
            }
        );
        let _ = writeln!(s, "Relay topology: {}", r.topology);
    }

    if !r.latency.is_empty() {
        let _ = writeln!(s, "\n64 B round trips, one at a time, separate processes:\n");
        let _ = writeln!(s, "| path | round trips | p50 | p99 |");
        let _ = writeln!(s, "|---|---:|---:|---:|");
        for l in &r.latency {
            let us = |v: Option<f64>| v.map_or("failed".into(), |v| format!("{v:.0} µs"));
            let _ =
                writeln!(s, "| {} | {} | {} | {} |", l.path, l.count, us(l.p50_us), us(l.p99_us));
        }
    }
    let failed: Vec<String> = r
        .cells
        .iter()
        .filter_map(|c| {
            c.error.as_ref().map(|e| format!("{} {}: {e}", c.path.label(), size_label(c.size)))
        })
        .chain(
            r.latency.iter().filter_map(|l| l.error.as_ref().map(|e| format!("{}: {e}", l.path))),
        )
        .collect();
    if !failed.is_empty() {
        let _ = writeln!(s, "\nFailed:\n");
        for f in failed {
            let _ = writeln!(s, "- {f}");
        }
    }
    let _ = writeln!(s, "\nWall time: {:.0} s.", r.wall_seconds);
    s
}

/// Writes `results.json` and `throughput.svg` into `dir`; the files
/// written.
pub fn write(r: &Results, dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let json = dir.join("results.json");
    let text = serde_json::to_string_pretty(r).map_err(|e| e.to_string())?;
    std::fs::write(&json, text + "\n").map_err(|e| e.to_string())?;
    let svg = dir.join("throughput.svg");
    plot(r, &svg)?;
    Ok(vec![json, svg])
}

/// Throughput (MB/s, log scale) against message size (log scale), one
/// line per path.
pub fn plot(r: &Results, file: &Path) -> Result<(), String> {
    use plotters::prelude::*;

    let series: Vec<(PathKind, Vec<(f64, f64)>)> = r
        .paths()
        .into_iter()
        .map(|p| {
            let pts = r
                .cells
                .iter()
                .filter(|c| c.path == p)
                .filter_map(|c| Some((c.size as f64, c.mb_per_s.filter(|v| *v > 0.0)?)))
                .collect();
            (p, pts)
        })
        .collect();
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1));
    let (lo, hi) = ys.fold((f64::MAX, f64::MIN), |(l, h), y| (l.min(y), h.max(y)));
    let (lo, hi) = if lo <= hi { (lo / 2.0, hi * 2.0) } else { (0.1, 1000.0) };
    let err = |e: &dyn std::fmt::Debug| format!("plot: {e:?}");

    let root = SVGBackend::new(file, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("Sequenced throughput between processes on loopback (scale {})", r.scale),
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            (4f64..2.0e6f64)
                .log_scale()
                .with_key_points(r.sizes().iter().map(|&s| s as f64).collect()),
            (lo..hi).log_scale(),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc("message size")
        .y_desc("MB/s (10^6 payload bytes a second, log scale)")
        .x_label_formatter(&|v| size_label(*v as usize))
        .y_label_formatter(&|v| mb(*v))
        .draw()
        .map_err(|e| err(&e))?;
    let colors = [RED, BLUE, RGBColor(0, 150, 0), MAGENTA, CYAN];
    for (i, (path, pts)) in series.iter().enumerate() {
        if pts.is_empty() {
            continue;
        }
        let color = match path {
            PathKind::Tcp => BLACK,
            PathKind::TcpBuffered => RGBColor(128, 128, 128),
            PathKind::Mesh { .. } => colors[i % colors.len()],
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
            .map_err(|e| err(&e))?
            .label(path.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(&e))?;
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrate::SIZES;

    fn results() -> Results {
        let args = <crate::RunArgs as clap::FromArgMatches>::from_arg_matches(
            &<crate::RunArgs as clap::Args>::augment_args(clap::Command::new("t"))
                .get_matches_from(["t"]),
        )
        .unwrap();
        let a = Attempt { overrides: Overrides::default(), error: None };
        let cells = vec![
            Cell::new(
                PathKind::Mesh { relays: 0, encrypted: false },
                &SIZES[0],
                100,
                Ok((0.5, Some(2))),
                Overrides::default(),
                vec![a.clone()],
            ),
            Cell::new(
                PathKind::Tcp,
                &SIZES[0],
                100,
                Ok((0.25, None)),
                Overrides::default(),
                vec![a],
            ),
            Cell::new(
                PathKind::Mesh { relays: 3, encrypted: false },
                &SIZES[0],
                100,
                Err(Fail::Other("deadline".into())),
                Overrides { write_queue: Some(2048), event_capacity: None },
                vec![],
            ),
        ];
        let lat = vec![Latency::new("TCP echo", 20, Ok((20_000, 45_000)))];
        Results::new(&args, Overrides::default(), cells, lat, 1.0)
    }

    #[test]
    fn the_tables_show_rates_ratios_and_failures() {
        let r = results();
        assert_eq!(r.failures, 1);
        let md = markdown(&r);
        assert!(
            md.contains("| 8 B | 100 | 0.00 | – | failed |") || md.contains("| 8 B | 100 |"),
            "{md}"
        );
        assert!(md.contains("| 8 B | 0.50 |"), "the ratio mesh / TCP: {md}");
        assert!(md.contains("| 200 |"), "200 msg/s: {md}");
        assert!(md.contains("write_queue 2048"), "{md}");
        assert!(md.contains("p50") && md.contains("20 µs"), "{md}");
        assert!(md.contains("mesh 3 relays 8 B: deadline"), "{md}");
    }

    #[test]
    fn the_median_run_counts_and_a_failed_run_fails_the_cell() {
        let ok = |secs: f64, wq: Option<usize>| {
            let o = Overrides { write_queue: wq, event_capacity: None };
            Cell::new(PathKind::Tcp, &SIZES[1], 1000, Ok((secs, None)), o, vec![])
        };
        let c = Cell::median(vec![ok(1.0, None), ok(4.0, Some(2048)), ok(2.0, None)]);
        assert_eq!(c.msgs_per_s, Some(500.0), "the median of 1000, 250 and 500 msg/s");
        assert_eq!(c.runs_msgs_per_s, [1000.0, 250.0, 500.0]);
        assert_eq!(c.overrides.write_queue, Some(2048), "the largest any run needed");
        let (lo, hi) = c.spread_mb().unwrap();
        assert!((lo - 0.016).abs() < 1e-9 && (hi - 0.064).abs() < 1e-9, "{lo} {hi}");
        let failed = Cell::new(
            PathKind::Tcp,
            &SIZES[1],
            1000,
            Err(Fail::Other("gone".into())),
            Overrides::default(),
            vec![],
        );
        let c = Cell::median(vec![ok(1.0, None), failed]);
        assert_eq!(c.error.as_deref(), Some("gone"));
        assert_eq!(c.runs_msgs_per_s, [1000.0]);
    }

    #[test]
    fn labels_and_numbers() {
        assert_eq!(size_label(8), "8 B");
        assert_eq!(size_label(65536), "64 KiB");
        assert_eq!(size_label(1 << 20), "1 MiB");
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(12.0), "12");
    }

    #[test]
    fn the_plot_and_the_json_are_written() {
        let dir =
            std::env::temp_dir().join(format!("netcluster-bench-unit-{}", std::process::id()));
        let files = write(&results(), &dir).unwrap();
        let svg = std::fs::read_to_string(&files[1]).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("mesh direct"), "{svg}");
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&files[0]).unwrap()).unwrap();
        assert_eq!(json["cells"].as_array().map(Vec::len), Some(3));
        let _ = std::fs::remove_dir_all(dir);
    }
}
