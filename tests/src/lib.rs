//! Helpers shared by the integration tests.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod any_frame;
pub mod sim_helpers;
pub mod tools;
pub mod tshark;

pub use any_frame::AnyFrame;

use std::fs;
use std::path::{Path, PathBuf};

/// Logs to the test's output, filtered by `RUST_LOG` (default: warnings).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// The directory of the golden wire vectors, `tests/vectors/`.
pub fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

/// Decodes the text of a hex vector file.
///
/// The format: hex digits, two per byte, in either case; whitespace
/// anywhere (line breaks, spaces between groups) is ignored, and `#` starts a
/// comment that runs to the end of the line. An empty file (or one with only
/// comments) decodes to no bytes.
///
/// ```
/// let bytes = netcluster_tests::parse_hex("# PING\n4e43 0201 # header start\n").unwrap();
/// assert_eq!(bytes, [0x4e, 0x43, 0x02, 0x01]);
/// ```
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut digits = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.split_once('#').map_or(line, |(data, _comment)| data);
        for (col, c) in line.char_indices() {
            if c.is_whitespace() {
                continue;
            }
            let d = c.to_digit(16).ok_or_else(|| {
                format!("line {}, column {}: {c:?} is not a hex digit", line_no + 1, col + 1)
            })?;
            digits.push(d as u8);
        }
    }
    if digits.len() % 2 != 0 {
        return Err(format!("odd number of hex digits ({})", digits.len()));
    }
    Ok(digits.chunks(2).map(|p| (p[0] << 4) | p[1]).collect())
}

/// Reads every hex vector under `tests/vectors/` (recursively, files ending
/// in `.hex`), sorted by path, each with its decoded bytes; see
/// [`parse_hex`] for the format.
///
/// A missing or empty directory gives an empty list. An unreadable or
/// malformed vector file panics with its path: a broken golden vector is a
/// bug to fix, not a case to skip.
pub fn read_hex_vectors() -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    collect_hex_files(&vectors_dir(), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let bytes =
                parse_hex(&text).unwrap_or_else(|e| panic!("malformed {}: {e}", path.display()));
            (path, bytes)
        })
        .collect()
}

fn collect_hex_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        let path = entry.path();
        if path.is_dir() {
            collect_hex_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "hex") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_hex;

    #[test]
    fn parse_hex_formats() {
        assert_eq!(parse_hex("").unwrap(), Vec::<u8>::new());
        assert_eq!(parse_hex("# only a comment\n\n").unwrap(), Vec::<u8>::new());
        assert_eq!(
            parse_hex("  4E43\t02 01\r\n# x\n0aFf # tail comment 12\n").unwrap(),
            [0x4e, 0x43, 0x02, 0x01, 0x0a, 0xff]
        );
        assert!(parse_hex("4e4").is_err());
        assert!(parse_hex("4g").is_err());
    }
}

/// The README's Rust examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
