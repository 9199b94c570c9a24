//! The whole benchmark at a tiny scale: every role as its own process,
//! every path (direct, 1 and 3 relays, both TCP variants), the round trips.
//! It checks that the run passes and writes its three outputs; it asserts
//! nothing about speed.

use std::process::Command;

#[test]
fn the_orchestrator_runs_every_cell_and_writes_table_json_and_svg() {
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bench-smoke");
    let _ = std::fs::remove_dir_all(&out);
    let run = Command::new(env!("CARGO_BIN_EXE_netcluster-bench"))
        .args(["--scale", "0.001", "--repeat", "2", "--out"])
        .arg(&out)
        .output()
        .expect("the benchmark starts");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "exit {:?}\n{stdout}\n{stderr}", run.status);

    for header in [
        "| message | messages | mesh direct | mesh 1 relay | mesh 3 relays | TCP | TCP BufWriter |",
        "| path | round trips | p50 | p99 |",
        "Run-to-run spread, lowest and highest MB/s of the 2 runs:",
    ] {
        assert!(stdout.contains(header), "no {header:?} in\n{stdout}");
    }
    for size in ["| 8 B |", "| 64 B |", "| 1 KiB |", "| 8 KiB |", "| 64 KiB |", "| 1 MiB |"] {
        assert!(stdout.contains(size), "no row {size} in\n{stdout}");
    }
    assert!(!stdout.contains("failed"), "{stdout}");

    let json = std::fs::read_to_string(out.join("results.json")).expect("results.json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["failures"], 0, "{json}");
    let cells = v["cells"].as_array().expect("cells");
    assert_eq!(cells.len(), 6 * 5, "six sizes, five paths");
    for c in cells {
        assert!(c["mb_per_s"].as_f64().is_some_and(|r| r > 0.0), "{c}");
        assert_eq!(c["runs_msgs_per_s"].as_array().map(Vec::len), Some(2), "{c}");
        if c["path"]["kind"] == "mesh" {
            let relays = c["path"]["relays"].as_u64().expect("relays");
            assert_eq!(
                c["route_nodes"].as_u64(),
                Some(relays + 2),
                "the route goes through the relays: {c}"
            );
        }
    }
    assert_eq!(v["latency"].as_array().map(Vec::len), Some(2), "{json}");

    let svg = std::fs::read_to_string(out.join("throughput.svg")).expect("throughput.svg");
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    for series in ["mesh direct", "mesh 1 relay", "mesh 3 relays", "TCP BufWriter"] {
        assert!(svg.contains(series), "no {series} in the plot");
    }
}
