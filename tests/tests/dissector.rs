//! The Wireshark dissector (`tools/wireshark/netcluster.lua`) against the
//! golden vectors and the codecs, through a real `tshark`:
//!
//! - every vector decodes with no expert info, every byte of it lies in a
//!   decoded field, every field the vector's comments name starts and ends
//!   where the dissector's does, and every value they give is the one it
//!   shows (so the dissector agrees, field by field and in byte order, with
//!   the vectors, which are checked against `docs/PROTOCOL.md` and the
//!   codecs by `vectors.rs`);
//! - on every strict prefix of every vector and on thousands of mutated
//!   copies, the dissector warns exactly when the codec refuses the frame,
//!   and never fails itself (no Lua error, no dissector error);
//! - each rule of a DATA bundle (PROTOCOL 7.7.1) broken on its own in
//!   `link/data_bundle.hex`: the dissector's warning names the field the
//!   codec's `Malformed` names, and valid variants show every message with
//!   its seq;
//! - over real transports: every vector in a UDP datagram, on its default
//!   port and on others (found by the heuristic), the link vectors in
//!   batches (PROTOCOL 5.3), and all of them as one TCP stream cut into
//!   segments of 1 to 13 bytes, reassembled (PROTOCOL 5.2).
//!
//! In the first three, the frames go to tshark as `DLT_USER0` records, each
//! handed whole to the dissector, so offsets are frame offsets. The captures of real agents are
//! in the CLI's tests (`cli/tests/dissector_capture.rs`). Where tshark is
//! missing or cannot run the Lua dissector, the tests print why and pass
//! without running.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use netcluster_core::wire::Error;
use netcluster_tests::tshark::{self, Tshark, LINKTYPE_USER0, SEVERITY_WARN};
use netcluster_tests::{parse_hex, vectors_dir, AnyFrame};

/// A tshark with the dissector, or `None` with the reason printed.
fn tshark_or_skip() -> Option<Tshark> {
    match Tshark::find() {
        Ok(t) => {
            println!("tshark: {}", t.describe());
            Some(t)
        }
        Err(why) => {
            println!("skipped: {why}");
            None
        }
    }
}

/// Where the test's captures go, under `target/`.
fn capture_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dissector");
    std::fs::create_dir_all(&dir).expect("capture dir");
    dir
}

/// One line of a vector file: the bytes it holds (continuation lines
/// without a comment belong to the line before) and its comment.
#[derive(Debug)]
struct VectorLine {
    offset: u64,
    len: u64,
    comment: String,
}

/// A vector: its path under `tests/vectors/`, bytes and commented lines.
struct Vector {
    name: String,
    bytes: Vec<u8>,
    lines: Vec<VectorLine>,
}

fn vectors() -> Vec<Vector> {
    let mut paths = Vec::new();
    for proto in ["discovery", "link", "admin", "tracker"] {
        let dir = vectors_dir().join(proto);
        for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let p = e.expect("dir entry").path();
            if p.extension().is_some_and(|x| x == "hex") {
                paths.push(p);
            }
        }
    }
    paths.sort();
    assert!(paths.len() >= 40, "expected every message's vector, found {}", paths.len());
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("vector file");
            let bytes = parse_hex(&text).expect("vector hex");
            let mut lines: Vec<VectorLine> = Vec::new();
            let mut offset = 0;
            for line in text.lines() {
                let (data, comment) = line.split_once('#').unwrap_or((line, ""));
                let digits = data.chars().filter(|c| !c.is_whitespace()).count() as u64;
                if digits == 0 {
                    continue;
                }
                let len = digits / 2;
                match lines.last_mut() {
                    Some(last) if comment.trim().is_empty() => last.len += len,
                    _ => lines.push(VectorLine { offset, len, comment: comment.trim().into() }),
                }
                offset += len;
            }
            assert_eq!(offset as usize, bytes.len(), "{}", p.display());
            let name = p.strip_prefix(vectors_dir()).unwrap_or(&p).to_string_lossy().into_owned();
            Vector { name, bytes, lines }
        })
        .collect()
}

/// What a vector comment says a field's value is: `name = 42 (text)`,
/// `= 0x2a`, `= "text"`, `= <uuid>` or `= <IP address>`; `None` when it gives
/// no value in one of these forms.
#[derive(Debug, PartialEq)]
enum Expected {
    Number(u64),
    Text(String),
    Exact(String),
}

fn expected(comment: &str) -> Option<Expected> {
    let (_, v) = comment.split_once(" = ")?;
    let v = v.trim();
    if let Some(rest) = v.strip_prefix('"') {
        return Some(Expected::Text(rest[..rest.rfind('"')?].to_string()));
    }
    let tok = v.split_whitespace().next()?;
    if let Some(hex) = tok.strip_prefix("0x") {
        return u64::from_str_radix(hex, 16).ok().map(Expected::Number);
    }
    if let Ok(n) = tok.parse() {
        return Some(Expected::Number(n));
    }
    let is_uuid = tok.len() == 36 && tok.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    (is_uuid || tok.parse::<std::net::IpAddr>().is_ok()).then(|| Expected::Exact(tok.into()))
}

/// Whether tshark's shown value `shown` is `want`. Numbers show in decimal
/// or as `0x..`; bytes as `68:65:..`; strings as they are.
fn same(want: &Expected, shown: &str) -> bool {
    match want {
        Expected::Number(n) => {
            let parsed = match shown.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16).ok(),
                None => shown.parse().ok(),
            };
            parsed == Some(*n)
        }
        Expected::Text(t) => {
            let hex: String = t.bytes().map(|b| format!("{b:02x}")).collect();
            let bare = shown.trim_start_matches("0x").replace(':', "").to_lowercase();
            shown == t || bare == hex
        }
        Expected::Exact(s) => shown == s,
    }
}

#[test]
fn every_golden_vector_decodes_field_by_field() {
    let Some(ts) = tshark_or_skip() else { return };
    let vectors = vectors();
    let pcap = capture_dir().join("vectors.pcap");
    tshark::write_pcap(
        &pcap,
        LINKTYPE_USER0,
        &vectors.iter().map(|v| v.bytes.clone()).collect::<Vec<_>>(),
    );
    let packets = ts.json(&pcap, &["-o", Tshark::USER_DLT]);
    assert_eq!(packets.len(), vectors.len());

    let mut problems = Vec::new();
    let (mut boundaries, mut checked_values) = (0, 0);
    for (v, packet) in vectors.iter().zip(&packets) {
        let frames = tshark::frames(packet);
        assert_eq!(frames.len(), 1, "{}: one frame per vector", v.name);
        let frame = frames[0];
        let experts = tshark::experts(packet);
        let marks = tshark::malformed_marks(packet);
        if !experts.is_empty() || !marks.is_empty() {
            problems.push(format!("{}: expert info {experts:?} {marks:?}", v.name));
        }
        let leaves = tshark::leaves(frame, "netcluster.");
        let mut covered = vec![false; v.bytes.len()];
        for l in &leaves {
            for b in l.offset..l.offset + l.len {
                if let Some(c) = covered.get_mut(b as usize) {
                    *c = true;
                }
            }
        }
        let uncovered: Vec<usize> = (0..covered.len()).filter(|&i| !covered[i]).collect();
        if !uncovered.is_empty() {
            problems.push(format!("{}: bytes in no field: {uncovered:?}", v.name));
        }
        let starts: BTreeSet<u64> = leaves.iter().map(|l| l.offset).collect();
        let ends: BTreeSet<u64> = leaves.iter().map(|l| l.offset + l.len).collect();
        for line in &v.lines {
            boundaries += 1;
            if !starts.contains(&line.offset) || !ends.contains(&(line.offset + line.len)) {
                problems.push(format!(
                    "{}: no field boundary at bytes {}..{} ({})",
                    v.name,
                    line.offset,
                    line.offset + line.len,
                    line.comment
                ));
                continue;
            }
            let Some(want) = expected(&line.comment) else { continue };
            checked_values += 1;
            let here: Vec<&tshark::Leaf> =
                leaves.iter().filter(|l| l.offset == line.offset && l.len == line.len).collect();
            if !here.iter().any(|l| l.value.as_deref().is_some_and(|s| same(&want, s))) {
                let shown: Vec<String> =
                    here.iter().map(|l| format!("{} = {:?}", l.name, l.value)).collect();
                problems.push(format!(
                    "{}: bytes {}..{} ({}): the dissector shows {shown:?}",
                    v.name,
                    line.offset,
                    line.offset + line.len,
                    line.comment
                ));
            }
        }
    }
    println!(
        "{} vectors: {boundaries} commented fields at their boundaries, {checked_values} values",
        vectors.len()
    );
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(checked_values > 500, "the vectors' values were not read: {checked_values}");
}

/// A small deterministic generator (xorshift64*), so the mutations are the
/// same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Copies of `bytes` with one to three bytes changed: a random value, a bit
/// flipped, or a small step (counts and lengths one off).
fn mutations(bytes: &[u8], rng: &mut Rng, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|_| {
            let mut m = bytes.to_vec();
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(m.len());
                m[i] = match rng.below(3) {
                    0 => rng.next() as u8,
                    1 => m[i] ^ (1 << rng.below(8)),
                    _ => m[i].wrapping_add(if rng.below(2) == 0 { 1 } else { 255 }),
                };
            }
            m
        })
        .collect()
}

#[test]
fn the_dissector_warns_exactly_when_the_codec_refuses() {
    let Some(ts) = tshark_or_skip() else { return };
    let mut rng = Rng(0x6e63_6c75_7374_6572);
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for v in vectors() {
        inputs.extend((1..v.bytes.len()).map(|n| v.bytes[..n].to_vec()));
        inputs.extend(mutations(&v.bytes, &mut rng, 80));
    }
    let pcap = capture_dir().join("mutations.pcap");
    tshark::write_pcap(&pcap, LINKTYPE_USER0, &inputs);
    let packets = ts.json(&pcap, &["-o", Tshark::USER_DLT]);
    assert_eq!(packets.len(), inputs.len());

    let (mut refused, mut mismatches, mut failures) = (0, Vec::new(), Vec::new());
    for (bytes, packet) in inputs.iter().zip(&packets) {
        let codec = AnyFrame::parse(&Bytes::from(bytes.clone()));
        let experts = tshark::experts(packet);
        let own_failure = experts.iter().any(|e| {
            e.id.as_deref() == Some("netcluster.dissector_error") || e.message.contains("Lua Error")
        }) || tshark::malformed_marks(packet).iter().any(|m| m.contains("Lua"));
        if own_failure {
            failures.push(format!("{}: {experts:?}", hex(bytes)));
        }
        let warned = experts.iter().any(|e| e.severity >= SEVERITY_WARN);
        refused += usize::from(codec.is_err());
        if warned != codec.is_err() {
            let shown: Vec<&str> = experts.iter().map(|e| e.message.as_str()).collect();
            mismatches.push(format!(
                "{}\n    codec: {:?}\n    dissector: {shown:?}",
                hex(bytes),
                codec.err()
            ));
        }
    }
    println!(
        "{} inputs, {refused} refused by the codec, {} mismatches",
        inputs.len(),
        mismatches.len()
    );
    assert!(failures.is_empty(), "the dissector itself failed on:\n{}", failures.join("\n"));
    assert!(
        mismatches.is_empty(),
        "{} inputs where the dissector and the codec disagree (first 20):\n{}",
        mismatches.len(),
        mismatches.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    assert!(refused > inputs.len() / 2, "the mutations were too tame: {refused} refused");
}

/// Byte offsets in `link/data_bundle.hex` (10-byte header, then the DATA
/// body): flags, semantics, frag_index, frag_count, msg_len, and the
/// payload's entries ("hi", "", "hello").
mod bundle_at {
    pub const FLAGS: usize = 10;
    pub const SEMANTICS: usize = 11;
    pub const FRAG_INDEX: usize = 26;
    pub const FRAG_COUNT: usize = 28;
    pub const MSG_LEN: usize = 30;
    pub const LEN_2: usize = 91;
}

#[test]
fn bundle_rules_are_flagged_with_the_field_the_codec_names() {
    let Some(ts) = tshark_or_skip() else { return };
    let v = vectors().into_iter().find(|v| v.name.ends_with("data_bundle.hex")).expect("vector");
    let base = v.bytes;
    let set = |at: usize, bytes: &[u8]| {
        let mut b = base.clone();
        b[at..at + bytes.len()].copy_from_slice(bytes);
        b
    };
    // One byte more in the payload (frame length and msg_len follow).
    let mut trailing = base.clone();
    trailing.push(0);
    let len = u32::try_from(trailing.len()).expect("a small frame");
    trailing[6..10].copy_from_slice(&len.to_be_bytes());
    trailing[bundle_at::MSG_LEN..bundle_at::MSG_LEN + 4].copy_from_slice(&14u32.to_be_bytes());
    use bundle_at::*;
    // (what, bytes, the field the codec names; None: accepted).
    let cases: Vec<(&str, Vec<u8>, Option<&str>)> = vec![
        ("the vector", base.clone(), None),
        ("BUNDLE without SYN", set(FLAGS, &[0x10]), None),
        ("datagram semantics", set(SEMANTICS, &[0]), None),
        ("reliable semantics", set(SEMANTICS, &[1]), None),
        ("no BUNDLE: three fragments", set(FLAGS, &[0x02]), None),
        ("GROUP", set(FLAGS, &[0x13]), Some("flags")),
        ("FIN", set(FLAGS, &[0x16]), Some("flags")),
        ("RST", set(FLAGS, &[0x1a]), Some("flags")),
        ("a reserved bit", set(FLAGS, &[0x32]), Some("flags")),
        ("stream semantics", set(SEMANTICS, &[3]), Some("flags")),
        ("frag_index 1", set(FRAG_INDEX, &[0, 1]), Some("flags")),
        ("frag_index 3 (= frag_count)", set(FRAG_INDEX, &[0, 3]), Some("frag_index")),
        ("msg_len above the payload", set(MSG_LEN, &14u32.to_be_bytes()), Some("msg_len")),
        ("msg_len below the payload", set(MSG_LEN, &12u32.to_be_bytes()), Some("msg_len")),
        ("frag_count 2: bytes left over", set(FRAG_COUNT, &[0, 2]), Some("bundle")),
        ("frag_count 4: no room", set(FRAG_COUNT, &[0, 4]), Some("bundle")),
        ("last entry overruns", set(LEN_2, &[0, 6]), Some("bundle")),
        ("last entry short", set(LEN_2, &[0, 4]), Some("bundle")),
        ("a byte after the entries", trailing, Some("bundle")),
    ];
    let pcap = capture_dir().join("bundle_rules.pcap");
    let inputs: Vec<Vec<u8>> = cases.iter().map(|c| c.1.clone()).collect();
    tshark::write_pcap(&pcap, LINKTYPE_USER0, &inputs);
    let packets = ts.json(&pcap, &["-o", Tshark::USER_DLT]);
    assert_eq!(packets.len(), cases.len());
    let mut problems = Vec::new();
    for ((what, bytes, field), packet) in cases.iter().zip(&packets) {
        let codec = match AnyFrame::parse(&Bytes::from(bytes.clone())) {
            Ok(_) => None,
            Err(Error::Malformed { field }) => Some(field),
            Err(e) => panic!("{what}: the codec refuses with {e}"),
        };
        if codec != *field {
            problems.push(format!("{what}: the codec says {codec:?}, the test {field:?}"));
        }
        let experts = tshark::experts(packet);
        let warned: Vec<&str> = experts
            .iter()
            .filter(|e| e.severity >= SEVERITY_WARN)
            .map(|e| e.message.as_str())
            .collect();
        let ok = match field {
            None => warned.is_empty(),
            Some(f) => warned.iter().any(|m| m.starts_with(&format!("{f}: "))),
        };
        if !ok {
            problems.push(format!("{what}: want {field:?}, the dissector shows {warned:?}"));
        }
        if field.is_none() && *what != "no BUNDLE: three fragments" {
            // The entries, each with its seq (frame seq 7 + index).
            let f = tshark::frames(packet)[0];
            let seqs = tshark::values(f, "netcluster.data.bundle.seq");
            let lens = tshark::values(f, "netcluster.data.bundle.len");
            if seqs != ["7", "8", "9"] || lens != ["2", "0", "5"] {
                problems.push(format!("{what}: entries seq {seqs:?} len {lens:?}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// An Ethernet + IPv4 packet (header checksum set) around `l4`, of IP
/// protocol `proto`, from 10.77.0.1 to 10.77.0.2.
fn ipv4_packet(proto: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    let total = u16::try_from(20 + l4.len()).expect("a small packet");
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 77, 0, 1, 10, 77, 0, 2]);
    let sum: u32 = ip.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    let folded = (sum & 0xffff) + (sum >> 16);
    let check = !((folded & 0xffff) + (folded >> 16)) as u16;
    ip[10..12].copy_from_slice(&check.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(l4);
    p
}

/// A UDP datagram (no checksum) carrying `payload`.
fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let len = u16::try_from(8 + payload.len()).expect("a small datagram");
    let mut u = Vec::new();
    for w in [sport, dport, len, 0] {
        u.extend_from_slice(&w.to_be_bytes());
    }
    u.extend_from_slice(payload);
    ipv4_packet(17, &u)
}

/// A TCP segment (no checksum) with sequence number `seq` and `flags`.
fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&sport.to_be_bytes());
    t.extend_from_slice(&dport.to_be_bytes());
    t.extend_from_slice(&seq.to_be_bytes());
    t.extend_from_slice(&ack.to_be_bytes());
    t.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend_from_slice(payload);
    ipv4_packet(6, &t)
}

/// The message type a vector's header names, by sub-protocol.
fn kind(bytes: &[u8]) -> (u8, u8) {
    (bytes[2], bytes[4])
}

/// What tshark decoded in a packet: (sub-protocol, message type) per frame,
/// and the problems it marked.
fn decoded(packet: &serde_json::Value) -> (Vec<(u8, u8)>, Vec<String>) {
    let fields = ["discovery", "link", "admin", "tracker"].map(|p| format!("netcluster.{p}.type"));
    let mut kinds = Vec::new();
    for f in tshark::frames(packet) {
        let proto: u8 =
            tshark::value(f, "netcluster.protocol").and_then(|v| v.parse().ok()).unwrap_or(0);
        let ty = fields
            .get(usize::from(proto.max(1)) - 1)
            .and_then(|name| tshark::value(f, name))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        kinds.push((proto, ty));
    }
    let mut problems = tshark::malformed_marks(packet);
    for f in tshark::frames(packet) {
        problems.extend(tshark::experts(f).into_iter().map(|e| format!("{e:?}")));
    }
    (kinds, problems)
}

#[test]
fn datagrams_batches_and_a_tcp_stream_cut_anywhere_decode() {
    let Some(ts) = tshark_or_skip() else { return };
    let all = vectors();
    let of = |proto: &str| -> Vec<Vec<u8>> {
        all.iter().filter(|v| v.name.starts_with(proto)).map(|v| v.bytes.clone()).collect()
    };
    let (discovery, link, tracker) = (of("discovery"), of("link"), of("tracker"));
    let mut packets = Vec::new();
    let mut want: Vec<Vec<(u8, u8)>> = Vec::new();
    // One frame a datagram, on the default ports and (heuristically) on
    // others.
    for (frames, port) in [(&discovery, 5670), (&link, 7400), (&tracker, 7401)] {
        for f in frames {
            packets.push(udp(40000, port, f));
            want.push(vec![kind(f)]);
            packets.push(udp(40001, 40002, f));
            want.push(vec![kind(f)]);
        }
    }
    // A batch of link frames (PROTOCOL 5.3), the way a datagram link sends
    // LSAs: every link vector back to back, in datagrams of at most 1,200
    // bytes.
    let mut batch: Vec<u8> = Vec::new();
    let mut in_batch = Vec::new();
    for f in &link {
        if batch.len() + f.len() > 1200 {
            packets.push(udp(7400, 7400, &batch));
            want.push(std::mem::take(&mut in_batch));
            batch.clear();
        }
        batch.extend_from_slice(f);
        in_batch.push(kind(f));
    }
    packets.push(udp(7400, 7400, &batch));
    want.push(in_batch);
    assert!(want.iter().any(|k| k.len() > 1), "a batch holds several frames");
    // A stream link: every link vector back to back, cut into segments of
    // 1 to 13 bytes, so frames span segments and segments hold the end of
    // one frame and the start of the next. Each frame is decoded in the
    // segment that completes it.
    let stream: Vec<u8> = link.concat();
    let mut ends = BTreeSet::new();
    let mut end = 0;
    for f in &link {
        end += f.len();
        ends.insert(end);
    }
    let isn = 1000u32;
    packets.push(tcp(40100, 7400, isn, 0, 0x02, &[]));
    want.push(vec![]);
    packets.push(tcp(7400, 40100, 5000, isn + 1, 0x12, &[]));
    want.push(vec![]);
    let (mut at, mut step, mut k, mut segments) = (0usize, 1usize, 0usize, 0);
    while at < stream.len() {
        segments += 1;
        let to = stream.len().min(at + step);
        let seq = isn + 1 + at as u32;
        packets.push(tcp(40100, 7400, seq, 5001, 0x18, &stream[at..to]));
        let completed: Vec<(u8, u8)> = ends
            .range(at + 1..=to)
            .map(|_| {
                k += 1;
                kind(&link[k - 1])
            })
            .collect();
        want.push(completed);
        at = to;
        step = step % 13 + 1;
    }
    let pcap = capture_dir().join("transports.pcap");
    tshark::write_pcap(&pcap, 1, &packets);
    let json = ts.json(&pcap, &[]);
    assert_eq!(json.len(), packets.len());
    let mut problems = Vec::new();
    for (i, (p, want)) in json.iter().zip(&want).enumerate() {
        let (got, marks) = decoded(p);
        if &got != want || !marks.is_empty() {
            problems.push(format!("packet {}: want {want:?}, decoded {got:?} {marks:?}", i + 1));
        }
    }
    println!(
        "{} packets: {} datagrams of one frame, batches, a stream of {} frames in {segments} segments",
        packets.len(),
        2 * (discovery.len() + link.len() + tracker.len()),
        link.len(),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
