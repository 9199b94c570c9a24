//! `netcluster keygen`: a fresh cluster key from the operating system's
//! random generator, as a keyring file (`docs/SECURITY.md` 6.1).

use std::io::Write;

use netcluster_core::auth::ClusterKey;
use netcluster_net::keyfile::{format_key, generate_key, write_key_file, KeyFileError};

use crate::args::KeygenArgs;

/// Draws a key and writes it to `--out` (a new file, mode 0600), or prints
/// it on stdout. Says on stderr which key id it has, so that operators
/// can tell keys apart without showing them.
pub fn run(args: &KeygenArgs) -> Result<(), KeyFileError> {
    let key = generate_key()?;
    let id = ClusterKey::new(key).id();
    match &args.out {
        Some(path) => {
            write_key_file(path, &key)?;
            crate::commands::note(&format!("wrote key {id:#04x} to {}", path.display()));
        }
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", format_key(&key))
                .map_err(|source| KeyFileError::Io { path: "<stdout>".into(), source })?;
            crate::commands::note(&format!(
                "key {id:#04x}: keep it in a file of mode 0600 (netcluster keygen --out FILE \
                 makes one)"
            ));
        }
    }
    Ok(())
}
