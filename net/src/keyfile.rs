//! Keyring files: reading them (refusing loose permissions), writing a
//! fresh key. The format is in `docs/SECURITY.md` section 6.1:
//!
//! ```text
//! # netcluster keyring: the first key signs, every key verifies
//! 7f3c...64 hex digits...a1
//! 0b9e...64 hex digits...44
//! ```
//!
//! One key per line, 64 hexadecimal digits (either case), the first the
//! primary; blank lines and lines starting with `#` are ignored; anything
//! else is refused. The core never sees the file, only the
//! [`Keyring`] made from it.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use netcluster_core::auth::{Keyring, KeyringError, KEY_LEN};

/// Why a keyring file was refused or could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// The file could not be read or written.
    #[error("cannot use the keyring file {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Group or others may access the file: a key readable by others is
    /// no secret.
    #[error(
        "the keyring file {} has mode {mode:04o}: it must not be accessible to group or others \
         (chmod 600)",
        path.display()
    )]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A line is not a key.
    #[error("the keyring file {}, line {line}: {reason}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The file holds no key.
    #[error("the keyring file {} holds no key", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
    /// Too many keys.
    #[error("the keyring file {}: {source}", path.display())]
    Keyring {
        /// The file.
        path: PathBuf,
        /// Why the keys make no keyring.
        #[source]
        source: KeyringError,
    },
    /// The operating system's random generator failed.
    #[error("cannot draw a key from the operating system: {0}")]
    Random(String),
}

/// Parses keyring text (see the [module documentation](self)); `path`
/// only names the file in errors.
pub fn parse_keyring(text: &str, path: &Path) -> Result<Keyring, KeyFileError> {
    let mut keys = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad =
            |reason| KeyFileError::Malformed { path: path.to_path_buf(), line: i + 1, reason };
        keys.push(parse_key(line).map_err(bad)?);
    }
    let Some((&primary, others)) = keys.split_first() else {
        return Err(KeyFileError::Empty { path: path.to_path_buf() });
    };
    Keyring::with_keys(primary, others.iter().copied())
        .map_err(|source| KeyFileError::Keyring { path: path.to_path_buf(), source })
}

/// One key: exactly 64 hexadecimal digits.
pub fn parse_key(s: &str) -> Result<[u8; KEY_LEN], &'static str> {
    let b = s.as_bytes();
    if b.len() != 2 * KEY_LEN {
        return Err("a key is 64 hexadecimal digits");
    }
    let mut key = [0u8; KEY_LEN];
    for (k, pair) in key.iter_mut().zip(b.chunks_exact(2)) {
        let hi = hex_digit(pair[0]).ok_or("not a hexadecimal digit")?;
        let lo = hex_digit(pair[1]).ok_or("not a hexadecimal digit")?;
        *k = hi << 4 | lo;
    }
    Ok(key)
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// A key as a keyring file line: 64 lower-case hexadecimal digits.
pub fn format_key(key: &[u8; KEY_LEN]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads the keyring file at `path`. On unix the file must give no access
/// to group or others (mode 0600 or stricter), checked on the open file so
/// that what is checked is what is read.
pub fn load_keyring(path: &Path) -> Result<Keyring, KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(io_err)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = file.metadata().map_err(io_err)?.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(KeyFileError::Permissions { path: path.to_path_buf(), mode });
        }
    }
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text).map_err(io_err)?;
    parse_keyring(&text, path)
}

/// A fresh key from the operating system's random generator.
pub fn generate_key() -> Result<[u8; KEY_LEN], KeyFileError> {
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| KeyFileError::Random(e.to_string()))?;
    Ok(key)
}

/// Writes `key` as a new keyring file at `path`, created with mode 0600
/// (on unix) so that it is never readable by others, not even for a
/// moment. An existing file is not overwritten.
pub fn write_key_file(path: &Path, key: &[u8; KEY_LEN]) -> Result<(), KeyFileError> {
    let io_err = |source| KeyFileError::Io { path: path.to_path_buf(), source };
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io_err)?;
    writeln!(f, "# netcluster keyring: the first key signs, every key verifies")
        .and_then(|()| writeln!(f, "{}", format_key(key)))
        .and_then(|()| f.sync_all())
        .map_err(io_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("nc-keyfile-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keys_parse_with_comments_and_the_first_is_primary() {
        let a = format_key(&[0xab; 32]);
        let b = format_key(&[0x01; 32]).to_uppercase();
        let text = format!("# ring\n\n  {a}  \n{b}\n");
        let ring = parse_keyring(&text, Path::new("k")).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.primary().secret(), &[0xab; 32]);
        assert_eq!(ring.keys()[1].secret(), &[0x01; 32]);
    }

    #[test]
    fn malformed_and_empty_files_are_refused_with_the_line() {
        let p = Path::new("k");
        let short = "ab".repeat(31);
        let e = parse_keyring(&format!("# x\n{short}\n"), p).unwrap_err();
        assert!(matches!(e, KeyFileError::Malformed { line: 2, .. }), "{e}");
        let e = parse_keyring(&format!("{}zz\n", "ab".repeat(31)), p).unwrap_err();
        assert!(matches!(e, KeyFileError::Malformed { line: 1, .. }), "{e}");
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(matches!(parse_keyring("# only a comment\n", p), Err(KeyFileError::Empty { .. })));
        let many: String = (0..17u8).map(|i| format_key(&[i; 32]) + "\n").collect();
        assert!(matches!(parse_keyring(&many, p), Err(KeyFileError::Keyring { .. })));
    }

    #[test]
    fn keygen_writes_a_private_file_that_loads_and_never_overwrites() {
        let path = dir().join("fresh.key");
        let _ = std::fs::remove_file(&path);
        let key = generate_key().unwrap();
        assert_ne!(key, generate_key().unwrap(), "two draws differ");
        write_key_file(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(load_keyring(&path).unwrap().primary().secret(), &key);
        let again = write_key_file(&path, &key).unwrap_err();
        assert!(matches!(again, KeyFileError::Io { .. }), "{again}");
        std::fs::remove_file(&path).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let path = dir().join("loose.key");
        let _ = std::fs::remove_file(&path);
        write_key_file(&path, &[7; 32]).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
            match load_keyring(&path) {
                Err(KeyFileError::Permissions { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("mode {mode:o}: {other:?}"),
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert!(load_keyring(&path).is_ok(), "read-only for the owner is fine");
        std::fs::remove_file(&path).unwrap();
        let missing = load_keyring(&path).unwrap_err();
        assert!(matches!(missing, KeyFileError::Io { .. }), "{missing}");
    }
}
