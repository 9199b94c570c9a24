//! Running system tools from tests (`ip`, `tc`, `nft`...), and whether the
//! tests run as root: shared by the network-namespace tests of every crate.

use std::process::{Command, Stdio};

/// Runs `cmd` with `args` to completion; its stdout, or its stderr on
/// failure.
pub fn run_tool(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Like [`run_tool`], for set-up steps that must work once namespaces do:
/// panics with the tool's error.
#[track_caller]
pub fn must(cmd: &str, args: &[&str]) -> String {
    run_tool(cmd, args).unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the process runs with effective user id 0.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}
