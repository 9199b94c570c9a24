//! Cluster keys and authenticated discovery (PROTOCOL section 12,
//! `docs/SECURITY.md`).
//!
//! A [`Keyring`] holds the cluster keys a node knows: the primary one signs
//! what the node sends, every one of them is accepted on receive, so that a
//! key can be rotated in without a flag day. With a keyring in
//! [`Config::keyring`](crate::Config::keyring), every discovery frame the
//! node sends carries a replay counter and an authentication tag, and every
//! one it receives must carry a valid, fresh pair or it is dropped and
//! counted ([`Stats::auth_failed`](crate::node::Stats::auth_failed),
//! [`Stats::replayed`](crate::node::Stats::replayed)).
//!
//! The core draws no randomness for any of this: tags are deterministic
//! MACs and counters count. Keys come from the caller (the drivers read a
//! key file, `netcluster keygen` makes one from the operating system's
//! generator).

mod csprng;
mod mac;
pub mod noise;
mod replay;

use alloc::vec::Vec;
use core::fmt;

pub use csprng::Csprng;
pub use mac::{frame_tag, sign_frame, verify_frame, AuthError, TAG_LEN};
pub(crate) use replay::ReplayTable;

/// Bytes of a cluster key.
pub const KEY_LEN: usize = 32;

/// Most keys a keyring holds. A receiver tries every key whose id matches
/// a frame's `key_id`, so this also bounds the work one forged frame can
/// cost; 16 leaves room for rotation (old, current, next) many times over.
pub const MAX_KEYS: usize = 16;

/// Label of the key id derivation (see [`ClusterKey::id`]).
const KEY_ID_LABEL: &[u8] = b"netcluster key id";
/// Label of the discovery MAC key derivation (see [`ClusterKey`]).
const MAC_KEY_LABEL: &[u8] = b"netcluster discovery mac v1";
/// Label of the link pre-shared key derivation (see [`ClusterKey`]).
const LINK_PSK_LABEL: &[u8] = b"netcluster link psk v1";

/// One 32-byte cluster key, with what is derived from it.
///
/// Derived once, here, so that receiving costs one MAC per frame:
/// - the key id, the first byte of keyed BLAKE2s-256(key, "netcluster key
///   id"): it names the key on the wire without revealing it;
/// - the discovery MAC key, keyed BLAKE2s-256(key, "netcluster discovery
///   mac v1"): the cluster key itself is never used directly, so that the
///   later uses of it (the Noise pre-shared key of encrypted links) cannot
///   be confused with this one;
/// - the link pre-shared key, keyed BLAKE2s-256(key, "netcluster link psk
///   v1"): the `psk` of the links' Noise handshake ([`noise`]).
///
/// `Debug` shows the id only: key material never reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    secret: [u8; KEY_LEN],
    mac_key: [u8; KEY_LEN],
    link_psk: [u8; KEY_LEN],
    id: u8,
}

/// Keyed BLAKE2s-256 of `label` under `key`: the derivations of cluster
/// keys, and the deterministic seeds of simulations.
pub(crate) fn derive_secret(key: &[u8; KEY_LEN], label: &[u8]) -> [u8; KEY_LEN] {
    mac::derive(key, label)
}

impl ClusterKey {
    /// The key made of `secret` (32 bytes, best straight from a CSPRNG).
    pub fn new(secret: [u8; KEY_LEN]) -> ClusterKey {
        let id = mac::derive(&secret, KEY_ID_LABEL)[0];
        let mac_key = mac::derive(&secret, MAC_KEY_LABEL);
        let link_psk = mac::derive(&secret, LINK_PSK_LABEL);
        ClusterKey { secret, mac_key, link_psk, id }
    }

    /// The key id carried in AUTH_TAG: the first byte of keyed
    /// BLAKE2s-256(key, "netcluster key id"). Two keys may share an id (one
    /// chance in 256 per pair); a receiver then tries both.
    pub fn id(&self) -> u8 {
        self.id
    }

    /// The key bytes, for writing a key file.
    pub fn secret(&self) -> &[u8; KEY_LEN] {
        &self.secret
    }

    pub(crate) fn mac_key(&self) -> &[u8; KEY_LEN] {
        &self.mac_key
    }

    /// The pre-shared key of the links' Noise handshake: keyed
    /// BLAKE2s-256(key, "netcluster link psk v1").
    pub fn link_psk(&self) -> &[u8; KEY_LEN] {
        &self.link_psk
    }
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterKey({:#04x})", self.id)
    }
}

/// Why a keyring could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyringError {
    /// More than [`MAX_KEYS`] distinct keys.
    TooManyKeys {
        /// Distinct keys given.
        count: usize,
    },
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyringError::TooManyKeys { count } => {
                write!(f, "{count} keys in the keyring, at most {MAX_KEYS} allowed")
            }
        }
    }
}

impl core::error::Error for KeyringError {}

/// The cluster keys a node knows: the primary signs, all verify.
///
/// The primary is first in [`keys`](Self::keys). A key given twice is kept
/// once. `Debug` shows key ids only.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    keys: Vec<ClusterKey>,
}

impl Keyring {
    /// A keyring of one key, the primary.
    pub fn new(primary: [u8; KEY_LEN]) -> Keyring {
        Keyring { keys: alloc::vec![ClusterKey::new(primary)] }
    }

    /// A keyring whose primary is `primary` and which also accepts
    /// `others` on receive.
    ///
    /// # Errors
    ///
    /// [`KeyringError::TooManyKeys`] past [`MAX_KEYS`] distinct keys.
    pub fn with_keys(
        primary: [u8; KEY_LEN],
        others: impl IntoIterator<Item = [u8; KEY_LEN]>,
    ) -> Result<Keyring, KeyringError> {
        let mut ring = Keyring::new(primary);
        for k in others {
            if ring.keys.iter().any(|have| have.secret == k) {
                continue;
            }
            ring.keys.push(ClusterKey::new(k));
        }
        if ring.keys.len() > MAX_KEYS {
            return Err(KeyringError::TooManyKeys { count: ring.keys.len() });
        }
        Ok(ring)
    }

    /// The key that signs what this node sends.
    pub fn primary(&self) -> &ClusterKey {
        // `new` and `with_keys` always put one first.
        &self.keys[0]
    }

    /// Every key, the primary first.
    pub fn keys(&self) -> &[ClusterKey] {
        &self.keys
    }

    /// The keys named by `key_id` (usually one; more when ids collide).
    pub fn by_id(&self, key_id: u8) -> impl Iterator<Item = &ClusterKey> {
        self.keys.iter().filter(move |k| k.id == key_id)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn the_primary_comes_first_duplicates_go_and_the_size_is_bounded() {
        let ring = Keyring::with_keys([1; 32], [[2; 32], [1; 32], [2; 32]]).unwrap();
        assert_eq!(ring.keys().len(), 2);
        assert_eq!(ring.primary().secret(), &[1; 32]);
        let many = (0..MAX_KEYS as u8).map(|i| [i + 10; 32]);
        assert_eq!(
            Keyring::with_keys([1; 32], many).unwrap_err(),
            KeyringError::TooManyKeys { count: MAX_KEYS + 1 }
        );
    }

    #[test]
    fn debug_never_shows_key_material() {
        let ring = Keyring::new([0xab; 32]);
        let shown = format!("{ring:?}");
        assert!(!shown.contains("ab, ") && !shown.contains("171"), "{shown}");
        assert!(shown.contains("ClusterKey(0x"), "{shown}");
    }

    #[test]
    fn colliding_ids_are_all_found() {
        // Find two keys with the same id: 1 in 256 per pair, so a few
        // hundred tries suffice.
        let first = ClusterKey::new([0; 32]);
        let twin = (1..=255u8)
            .flat_map(|a| (0..=255u8).map(move |b| [a, b]))
            .map(|[a, b]| {
                let mut k = [0u8; 32];
                k[0] = a;
                k[1] = b;
                k
            })
            .find(|k| ClusterKey::new(*k).id() == first.id())
            .expect("a collision among 65,280 keys");
        let ring = Keyring::with_keys([0; 32], [twin]).unwrap();
        assert_eq!(ring.by_id(first.id()).count(), 2);
    }
}
