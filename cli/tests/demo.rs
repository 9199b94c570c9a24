//! `netcluster demo` runs to completion on loopback and exits 0.

mod common;

use common::*;

#[test]
fn demo_completes() {
    let out = run(&["demo"]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "demo failed: {stdout}\n{}", text(&out.stderr));
    for phase in ["discovery", "group chat", "crash", "rejoin", "summary", "demo complete"] {
        assert!(stdout.contains(phase), "no `{phase}` in the demo's output:\n{stdout}");
    }
    assert!(stdout.contains("6 messages delivered, 0 duplicates"), "{stdout}");
    assert_eq!(stdout.matches("reports delta down").count(), 4, "{stdout}");
}
