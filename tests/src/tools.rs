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

/// The network namespaces of one test, named `<tag>-<short>`: deleted, last
/// made first, when dropped (with their veth ends and bridges), even when
/// the test fails.
#[derive(Debug)]
pub struct Namespaces {
    tag: String,
    names: Vec<String>,
}

impl Namespaces {
    /// Namespaces tagged `tag`, or `None` with the reason printed where the
    /// test cannot make any: not root, no `ip`, or namespaces refused. The
    /// first one, `<tag>-0`, is made at once as the probe.
    pub fn start(tag: String) -> Option<Namespaces> {
        if !is_root() {
            println!("skipped: network namespaces need root, and this test runs as another user");
            return None;
        }
        if let Err(e) = run_tool("ip", &["-V"]) {
            println!("skipped: `ip` (iproute2) is missing: {e}");
            return None;
        }
        let probe = format!("{tag}-0");
        if let Err(e) = run_tool("ip", &["netns", "add", &probe]) {
            println!("skipped: the machine refuses network namespaces: {e}");
            return None;
        }
        Some(Namespaces { tag, names: vec![probe] })
    }

    /// The tag every name starts with.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// A new namespace `<tag>-<short>` with loopback up.
    pub fn add(&mut self, short: &str) -> String {
        let ns = format!("{}-{short}", self.tag);
        must("ip", &["netns", "add", &ns]);
        self.names.push(ns.clone());
        must("ip", &["-n", &ns, "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in self.names.iter().rev() {
            if let Err(e) = run_tool("ip", &["netns", "del", ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}
