//! Running `tshark` with the project's Wireshark dissector
//! (`tools/wireshark/netcluster.lua`) and reading what it decoded: shared by
//! the dissector tests of the tests crate (golden vectors) and of the CLI
//! (captures of real agents).
//!
//! Where tshark is missing, or cannot run the Lua dissector, [`Tshark::find`]
//! says why and the tests print it and skip.
//!
//! **tshark as root.** Wireshark's `init.lua` decides whether Lua scripts
//! run when it is started by root: `run_user_scripts_when_superuser` (true
//! in Debian 12's tshark 4.0, false in many older or other builds, where a
//! root tshark ignores `-X lua_script:`). [`Tshark::find`] first asks tshark
//! itself whether the dissector loaded (`-G protocols` lists `netcluster`);
//! if not, and the test runs as root, it runs tshark as `nobody`
//! (`setpriv --reuid 65534 --regid 65534 --clear-groups`), which loads Lua
//! scripts everywhere. The files it reads (the script, the captures) must
//! then be readable by others: the default umask makes them so.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::tools::is_root;

/// The `DLT_USER0` link type: records that are bare netcluster bytes (frames
/// back to back), with no transport; tshark gives them to the dissector
/// through [`Tshark::USER_DLT`].
pub const LINKTYPE_USER0: u32 = 147;

/// Expert info severities, as tshark prints them (`_ws.expert.severity`).
pub const SEVERITY_WARN: u64 = 0x0060_0000;

/// The dissector, `tools/wireshark/netcluster.lua`.
pub fn dissector_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tools/wireshark/netcluster.lua")
}

/// A tshark that loads the dissector.
#[derive(Debug, Clone)]
pub struct Tshark {
    /// The command and its leading arguments (`tshark`, or `setpriv ...
    /// tshark` when root cannot run Lua scripts).
    prefix: Vec<String>,
    /// `HOME` for it (as `nobody`, one it can read).
    home: Option<PathBuf>,
    script: PathBuf,
}

impl Tshark {
    /// The `-o` preference that hands `DLT_USER0` records to the dissector.
    pub const USER_DLT: &'static str =
        r#"uat:user_dlts:"User 0 (DLT=147)","netcluster","0","","0","""#;

    /// A tshark that runs the dissector, or why there is none (tshark
    /// missing, built without Lua, or refusing Lua scripts to root with no
    /// way to run it as another user). Panics when tshark reports an error
    /// in the dissector itself: that is a bug to fix, not a reason to skip.
    pub fn find() -> Result<Tshark, String> {
        static FOUND: OnceLock<Result<Tshark, String>> = OnceLock::new();
        FOUND.get_or_init(Tshark::probe).clone()
    }

    fn probe() -> Result<Tshark, String> {
        let script = dissector_path().canonicalize().unwrap_or_else(|e| {
            panic!("the dissector {} is missing: {e}", dissector_path().display())
        });
        let version = match Command::new("tshark").arg("-v").stdin(Stdio::null()).output() {
            Ok(o) if o.status.success() => text(&o.stdout),
            Ok(o) => return Err(format!("`tshark -v` failed: {}", text(&o.stderr))),
            Err(e) => return Err(format!("tshark is not installed ({e})")),
        };
        if version.contains("without Lua") {
            return Err("this tshark is built without Lua".into());
        }
        let direct = Tshark { prefix: vec!["tshark".into()], home: None, script: script.clone() };
        let why = match direct.loads_dissector() {
            Ok(()) => return Ok(direct),
            Err(why) => why,
        };
        if !is_root() {
            return Err(why);
        }
        let nobody = Tshark {
            prefix: ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "tshark"]
                .map(String::from)
                .to_vec(),
            home: Some(std::env::temp_dir()),
            script,
        };
        nobody.loads_dissector().map(|()| nobody).map_err(|e| {
            format!("tshark as root does not run the Lua dissector ({why}), nor as nobody ({e})")
        })
    }

    /// Whether this tshark registers the `netcluster` protocol: a display
    /// filter naming it is accepted on an empty capture.
    fn loads_dissector(&self) -> Result<(), String> {
        let empty =
            std::env::temp_dir().join(format!("netcluster-empty-{}.pcap", std::process::id()));
        write_pcap(&empty, LINKTYPE_USER0, &[]);
        let out = self.run(&["-r", empty.to_str().expect("a UTF-8 path"), "-Y", "netcluster"]);
        let _ = std::fs::remove_file(&empty);
        let out = out?;
        if out.status.success() {
            return Ok(());
        }
        let err: Vec<String> = text(&out.stderr)
            .lines()
            .filter(|l| !l.contains("could be dangerous") && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let script = self.script.to_string_lossy();
        if let Some(bug) = err.iter().find(|l| l.contains("Lua") && l.contains(script.as_ref())) {
            panic!("tshark reports an error in the dissector: {bug}");
        }
        Err(format!("the dissector did not load: {}", err.join(" / ")))
    }

    /// How tshark is run (for messages).
    pub fn describe(&self) -> String {
        self.prefix.join(" ")
    }

    /// Runs tshark with the dissector and `args`.
    pub fn run(&self, args: &[&str]) -> Result<Output, String> {
        let lua = format!("lua_script:{}", self.script.display());
        let mut cmd = Command::new(&self.prefix[0]);
        cmd.args(&self.prefix[1..]).args(["-X", &lua]).args(args).stdin(Stdio::null());
        if let Some(home) = &self.home {
            cmd.env("HOME", home).env("XDG_CONFIG_HOME", home);
        }
        cmd.output().map_err(|e| format!("cannot run {}: {e}", self.prefix[0]))
    }

    /// The packets of `pcap` as tshark's JSON (`-T json -x
    /// --no-duplicate-keys`: every field with its raw bytes, offset and
    /// length; repeated fields as arrays), with `extra` arguments.
    pub fn json(&self, pcap: &Path, extra: &[&str]) -> Vec<Value> {
        let file = pcap.to_str().expect("a UTF-8 path");
        let mut args = vec!["-r", file, "-T", "json", "-x", "--no-duplicate-keys"];
        args.extend_from_slice(extra);
        let out = self.run(&args).unwrap_or_else(|e| panic!("{e}"));
        assert!(out.status.success(), "tshark failed on {file}: {}", text(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("tshark printed no JSON ({e}): {}", text(&out.stderr)));
        match v {
            Value::Array(packets) => packets,
            other => panic!("tshark's JSON is not an array: {other}"),
        }
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Writes `packets` as a pcap file of link type `linktype`, one second
/// apart.
pub fn write_pcap(path: &Path, linktype: u32, packets: &[Vec<u8>]) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0x0004_0000u32.to_le_bytes());
    out.extend_from_slice(&linktype.to_le_bytes());
    for (i, p) in packets.iter().enumerate() {
        let len = u32::try_from(p.len()).expect("a packet under 4 GiB");
        for word in [i as u32, 0, len, len] {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out.extend_from_slice(p);
    }
    std::fs::write(path, out).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// One field tshark decoded: its name, where its bytes are (offset and
/// length in the packet, or in the reassembled data for TCP), and its value
/// as tshark prints it (`None` for a field with children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    /// The filter name, e.g. `netcluster.seq`.
    pub name: String,
    /// Offset of its first byte.
    pub offset: u64,
    /// Its length in bytes.
    pub len: u64,
    /// Its value, as shown.
    pub value: Option<String>,
}

/// The layers of one packet of tshark's JSON.
pub fn layers(packet: &Value) -> &Value {
    &packet["_source"]["layers"]
}

/// The values of a key of tshark's JSON: one value, or an array of them
/// when the key repeats.
fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        x => vec![x],
    }
}

/// The decoded netcluster frames of a packet: one JSON tree each (a TCP
/// segment or a batch may hold several).
pub fn frames(packet: &Value) -> Vec<&Value> {
    layers(packet).get("netcluster").map(as_list).unwrap_or_default()
}

/// Every field whose name starts with `prefix`, anywhere under `tree`.
pub fn leaves(tree: &Value, prefix: &str) -> Vec<Leaf> {
    let mut out = Vec::new();
    collect_leaves(tree, prefix, &mut out);
    out
}

fn collect_leaves(v: &Value, prefix: &str, out: &mut Vec<Leaf>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k.ends_with("_raw") {
                    continue;
                }
                if k.starts_with(prefix) {
                    let values = as_list(val);
                    let raws: Vec<&Value> = match map.get(&format!("{k}_raw")) {
                        Some(Value::Array(a)) if a.first().is_some_and(Value::is_array) => {
                            a.iter().collect()
                        }
                        Some(r) => vec![r],
                        None => vec![],
                    };
                    for (raw, value) in raws.iter().zip(values) {
                        let (Some(offset), Some(len)) = (raw[1].as_u64(), raw[2].as_u64()) else {
                            continue;
                        };
                        let value = value.as_str().map(str::to_string);
                        out.push(Leaf { name: k.clone(), offset, len, value });
                    }
                }
                collect_leaves(val, prefix, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_leaves(x, prefix, out)),
        _ => {}
    }
}

/// The values of field `name` anywhere under `tree`, in order.
pub fn values(tree: &Value, name: &str) -> Vec<String> {
    leaves(tree, name).into_iter().filter(|l| l.name == name).filter_map(|l| l.value).collect()
}

/// The first value of field `name` under `tree`.
pub fn value(tree: &Value, name: &str) -> Option<String> {
    values(tree, name).into_iter().next()
}

/// One expert info item: its severity, message and the field that raised
/// it (e.g. `netcluster.truncated`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expert {
    /// `_ws.expert.severity`.
    pub severity: u64,
    /// `_ws.expert.message`.
    pub message: String,
    /// The expert field's name, when there is one.
    pub id: Option<String>,
}

/// Every expert info item under `tree`.
pub fn experts(tree: &Value) -> Vec<Expert> {
    let mut out = Vec::new();
    collect_experts(tree, &mut out);
    out
}

fn collect_experts(v: &Value, out: &mut Vec<Expert>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k == "_ws.expert" {
                    for e in as_list(val) {
                        let severity = e["_ws.expert.severity"]
                            .as_str()
                            .and_then(|s| s.parse().ok())
                            .unwrap_or(0);
                        let message = e["_ws.expert.message"].as_str().unwrap_or("").to_string();
                        let id = e
                            .as_object()
                            .and_then(|o| o.keys().find(|k| !k.starts_with("_ws.")).cloned());
                        out.push(Expert { severity, message, id });
                    }
                }
                collect_experts(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_experts(x, out)),
        _ => {}
    }
}

/// Whether tshark marked anything under `tree` as a malformed packet
/// (`_ws.malformed`: an exception in some dissector, or an expert info of
/// the Malformed group) or reports a Lua error.
pub fn malformed_marks(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_marks(tree, &mut out);
    out
}

fn collect_marks(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map {
                if k.starts_with("_ws.malformed") || k.starts_with("_ws.lua.error") {
                    out.push(format!("{k}: {val}"));
                }
                collect_marks(val, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_marks(x, out)),
        Value::String(s) if s.contains("Lua Error") => out.push(s.clone()),
        _ => {}
    }
}

/// The bytes of each netcluster frame of a packet, in the order of
/// [`frames`] (from `netcluster_raw`: tshark's `-x`).
pub fn frame_bytes(packet: &Value) -> Vec<Vec<u8>> {
    let raws: Vec<&Value> = match layers(packet).get("netcluster_raw") {
        Some(Value::Array(a)) if a.first().is_some_and(Value::is_array) => a.iter().collect(),
        Some(r) => vec![r],
        None => vec![],
    };
    raws.iter()
        .filter_map(|r| r[0].as_str())
        .map(|h| {
            (0..h.len() / 2)
                .filter_map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
                .collect()
        })
        .collect()
}
