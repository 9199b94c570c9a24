//! What a node's randomness is drawn from, handed in by the caller: the
//! core draws no entropy of its own.

use core::fmt;

/// A node's seed: the jitter seed of its timers, and the 32-byte secret of
/// its cryptographic generator ([`Csprng`](crate::auth::Csprng)), which
/// makes the ephemeral keys of encrypted links.
///
/// A node with a keyring needs the secret: [`Node::new`](super::Node::new)
/// refuses one without it. Drivers fill it from the operating system
/// (`getrandom`); the simulator uses [`Seed::deterministic`], so that the
/// same scenario seed gives the same bytes on the wire, encrypted or not.
/// A bare `u64` converts into a seed without a secret, for keyless nodes.
///
/// `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Seed {
    /// Seeds the generator of timer jitter and delays.
    pub jitter: u64,
    /// Seeds the cryptographic generator (ephemeral keys); required with a
    /// keyring.
    pub secret: Option<[u8; 32]>,
}

impl Seed {
    /// A seed with a secret, best straight from the operating system's
    /// generator.
    pub fn with_secret(jitter: u64, secret: [u8; 32]) -> Seed {
        Seed { jitter, secret: Some(secret) }
    }

    /// A deterministic seed for simulations and tests: jitter seed `n`,
    /// and a secret derived from `n` (keyed BLAKE2s-256 of the label
    /// `"netcluster deterministic seed"` under `n` as 8 big-endian bytes,
    /// zero-padded to 32). **Not secret**: anyone who knows `n` knows it.
    pub fn deterministic(n: u64) -> Seed {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&n.to_be_bytes());
        let secret = crate::auth::derive_secret(&key, b"netcluster deterministic seed");
        Seed { jitter: n, secret: Some(secret) }
    }
}

impl From<u64> for Seed {
    fn from(jitter: u64) -> Seed {
        Seed { jitter, secret: None }
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seed")
            .field("jitter", &self.jitter)
            .field("secret", &self.secret.map(|_| ".."))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deterministic_seed_is_the_same_for_the_same_number_and_hides_its_secret() {
        assert_eq!(Seed::deterministic(3), Seed::deterministic(3));
        assert_ne!(Seed::deterministic(3).secret, Seed::deterministic(4).secret);
        assert_eq!(Seed::deterministic(3).jitter, 3);
        assert_eq!(Seed::from(3).secret, None);
        let shown = alloc::format!("{:?}", Seed::with_secret(1, [0xab; 32]));
        assert!(!shown.contains("171") && !shown.contains("ab"), "{shown}");
    }

    #[test]
    fn a_node_with_a_keyring_needs_a_secret() {
        use crate::{Config, Instant, Node, NodeId};
        let mut cfg = Config::lan("c", "n");
        cfg.keyring = Some(crate::auth::Keyring::new([1; 32]));
        let refused = Node::new(cfg.clone(), NodeId([1; 16]), 7u64, Instant::ZERO).err();
        assert_eq!(refused.map(|e| e.field), Some("keyring"));
        assert!(Node::new(cfg, NodeId([1; 16]), Seed::deterministic(7), Instant::ZERO).is_ok());
        // Without a keyring a bare jitter seed is enough.
        assert!(Node::new(Config::lan("c", "n"), NodeId([1; 16]), 7u64, Instant::ZERO).is_ok());
    }
}
