//! The links' Noise handshake and transport ciphers (PROTOCOL section 12,
//! `docs/SECURITY.md` section 5), through the `snow` crate.
//!
//! Pattern: [`PATTERN`], `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s`. Two
//! messages of 48 bytes each: the opener (Noise initiator) sends `psk, e`
//! with an empty encrypted payload (32-byte ephemeral key + 16-byte tag),
//! the acceptor answers `e, ee` the same way. The pre-shared key is the
//! cluster key's [`link_psk`](super::ClusterKey::link_psk); the prologue
//! ([`prologue`]) binds both node ids and incarnations, so a handshake
//! recorded between two nodes cannot be replayed onto another pair or
//! another incarnation.
//!
//! After the handshake each side holds a [`Transport`]: ChaCha20-Poly1305
//! with explicit 64-bit nonces (snow's stateless transport), which the
//! link layer numbers and checks itself (`node/links/secure.rs`).
//!
//! The ephemeral keys come from 32 bytes the caller draws from the node's
//! [`Csprng`], never from the operating system.

use alloc::boxed::Box;
use core::fmt;

use snow::params::{CipherChoice, DHChoice, HashChoice};
use snow::resolvers::{CryptoResolver, DefaultResolver, FallbackResolver};
use snow::types::{Cipher, Dh, Hash, Random};

use super::Csprng;
use super::{ClusterKey, Keyring, KEY_LEN};
use crate::wire::NodeId;

/// The full Noise protocol name of encrypted links with a cluster key.
pub const PATTERN: &str = "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s";

/// Bytes of each handshake message (an X25519 public key and the 16-byte
/// tag of the empty payload).
pub const HANDSHAKE_LEN: usize = 48;

/// Bytes of a transport message's authentication tag (Poly1305).
pub const TAG_LEN: usize = 16;

/// Largest Noise message (the Noise specification's limit).
pub const MAX_MESSAGE: usize = 65_535;

/// Largest plaintext one transport message carries: 65,535 - 16 = 65,519.
pub const MAX_PLAINTEXT: usize = MAX_MESSAGE - TAG_LEN;

/// The prologue's label: `"netcluster link v1"` (18 ASCII bytes).
pub const PROLOGUE_LABEL: &[u8] = b"netcluster link v1";

/// Bytes of the prologue: label, then two (id, incarnation) pairs.
pub const PROLOGUE_LEN: usize = 18 + 2 * (16 + 8);

/// The prologue both sides mix into the handshake: the label, then the
/// opener's node id and incarnation (u64, big-endian), then the
/// acceptor's. Both sides know all four once HELLO and WELCOME have been
/// exchanged; a handshake made for other values fails.
pub fn prologue(opener: (NodeId, u64), acceptor: (NodeId, u64)) -> [u8; PROLOGUE_LEN] {
    let mut p = [0u8; PROLOGUE_LEN];
    p[..18].copy_from_slice(PROLOGUE_LABEL);
    p[18..34].copy_from_slice(&opener.0 .0);
    p[34..42].copy_from_slice(&opener.1.to_be_bytes());
    p[42..58].copy_from_slice(&acceptor.0 .0);
    p[58..66].copy_from_slice(&acceptor.1.to_be_bytes());
    p
}

/// Why a handshake or a transport message failed. None of them says which
/// key would have worked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NoiseError {
    /// No key of the ring has the handshake's key id.
    NoKey,
    /// A message did not authenticate (wrong key, wrong prologue, forged
    /// or damaged bytes).
    Auth,
    /// A message of the wrong size, or a buffer too small.
    Size,
    /// The Noise library refused for another reason (never expected).
    Internal,
}

impl fmt::Display for NoiseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NoiseError::NoKey | NoiseError::Auth => "authentication failed",
            NoiseError::Size => "noise message of the wrong size",
            NoiseError::Internal => "noise state error",
        })
    }
}

impl core::error::Error for NoiseError {}

fn snow_err(e: snow::Error) -> NoiseError {
    match e {
        snow::Error::Decrypt | snow::Error::Dh => NoiseError::Auth,
        snow::Error::Input => NoiseError::Size,
        _ => NoiseError::Internal,
    }
}

/// snow's resolver with our randomness: the default pure-Rust primitives,
/// and a [`Csprng`] keyed with 32 bytes the node drew for this handshake.
struct Seeded([u8; 32]);

impl CryptoResolver for Seeded {
    fn resolve_rng(&self) -> Option<Box<dyn Random>> {
        Some(Box::new(Csprng::new(self.0)))
    }
    fn resolve_dh(&self, _: &DHChoice) -> Option<Box<dyn Dh>> {
        None
    }
    fn resolve_hash(&self, _: &HashChoice) -> Option<Box<dyn Hash>> {
        None
    }
    fn resolve_cipher(&self, _: &CipherChoice) -> Option<Box<dyn Cipher>> {
        None
    }
}

fn builder<'a>(
    psk: &'a [u8; KEY_LEN],
    prologue: &'a [u8],
    ephemeral_seed: [u8; 32],
) -> Result<snow::Builder<'a>, NoiseError> {
    let params = PATTERN.parse().map_err(snow_err)?;
    let resolver =
        FallbackResolver::new(Box::new(Seeded(ephemeral_seed)), Box::new(DefaultResolver));
    snow::Builder::with_resolver(params, Box::new(resolver))
        .psk(0, psk)
        .and_then(|b| b.prologue(prologue))
        .map_err(snow_err)
}

/// The opener's half-done handshake: its first message is sent, the
/// answer awaited.
pub struct Initiator {
    hs: snow::HandshakeState,
}

impl fmt::Debug for Initiator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Initiator(..)")
    }
}

impl Initiator {
    /// Starts a handshake with `key` (the primary key): returns the state
    /// and the first message (NOISE_INIT's 48 bytes).
    ///
    /// # Errors
    ///
    /// [`NoiseError::Internal`] only if the Noise library refuses its own
    /// parameters.
    pub fn start(
        key: &ClusterKey,
        prologue: &[u8],
        ephemeral_seed: [u8; 32],
    ) -> Result<(Initiator, [u8; HANDSHAKE_LEN]), NoiseError> {
        let mut hs = builder(key.link_psk(), prologue, ephemeral_seed)?
            .build_initiator()
            .map_err(snow_err)?;
        let mut msg = [0u8; HANDSHAKE_LEN];
        let n = hs.write_message(&[], &mut msg).map_err(snow_err)?;
        if n != HANDSHAKE_LEN {
            return Err(NoiseError::Internal);
        }
        Ok((Initiator { hs }, msg))
    }

    /// Reads the acceptor's answer (NOISE_RESP's 48 bytes) and completes
    /// the handshake.
    ///
    /// # Errors
    ///
    /// [`NoiseError::Auth`] when the answer does not authenticate.
    pub fn finish(mut self, resp: &[u8; HANDSHAKE_LEN]) -> Result<Transport, NoiseError> {
        let mut payload = [0u8; HANDSHAKE_LEN];
        let n = self.hs.read_message(resp, &mut payload).map_err(snow_err)?;
        if n != 0 || !self.hs.is_handshake_finished() {
            return Err(NoiseError::Auth);
        }
        let state = self.hs.into_stateless_transport_mode().map_err(snow_err)?;
        Ok(Transport { state })
    }
}

/// The acceptor's side: reads the opener's message with every key of
/// `ring` whose id is `key_id` (at most [`MAX_KEYS`](super::MAX_KEYS)) and
/// answers with the first that authenticates. Returns the transport and
/// the answer (NOISE_RESP's 48 bytes).
///
/// # Errors
///
/// [`NoiseError::NoKey`] when no key has that id, [`NoiseError::Auth`]
/// when none of them authenticates the message. Both mean "authentication
/// failed" to the peer, which never learns which.
pub fn respond(
    ring: &Keyring,
    key_id: u8,
    init: &[u8; HANDSHAKE_LEN],
    prologue: &[u8],
    ephemeral_seed: [u8; 32],
) -> Result<(Transport, [u8; HANDSHAKE_LEN]), NoiseError> {
    let mut result = Err(NoiseError::NoKey);
    for key in ring.by_id(key_id) {
        let mut hs = builder(key.link_psk(), prologue, ephemeral_seed)?
            .build_responder()
            .map_err(snow_err)?;
        let mut payload = [0u8; HANDSHAKE_LEN];
        match hs.read_message(init, &mut payload) {
            Ok(0) => {}
            Ok(_) | Err(_) => {
                result = Err(NoiseError::Auth);
                continue;
            }
        }
        let mut msg = [0u8; HANDSHAKE_LEN];
        let n = hs.write_message(&[], &mut msg).map_err(snow_err)?;
        if n != HANDSHAKE_LEN {
            return Err(NoiseError::Internal);
        }
        let state = hs.into_stateless_transport_mode().map_err(snow_err)?;
        return Ok((Transport { state }, msg));
    }
    result
}

/// One link's transport ciphers, one per direction, with explicit nonces.
/// The caller numbers what it seals and checks what it opens.
pub struct Transport {
    state: snow::StatelessTransportState,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Transport(..)")
    }
}

impl Transport {
    /// Encrypts `plaintext` (at most [`MAX_PLAINTEXT`] bytes) under
    /// `nonce` into `out`, which must hold `plaintext.len() + TAG_LEN`
    /// bytes; returns the bytes written.
    ///
    /// # Errors
    ///
    /// [`NoiseError::Size`] when the plaintext is too long or `out` too
    /// short.
    pub fn seal(&self, nonce: u64, plaintext: &[u8], out: &mut [u8]) -> Result<usize, NoiseError> {
        self.state.write_message(nonce, plaintext, out).map_err(snow_err)
    }

    /// Decrypts and authenticates `ciphertext` under `nonce` into `out`
    /// (at least `ciphertext.len() - TAG_LEN` bytes); returns the
    /// plaintext's length.
    ///
    /// # Errors
    ///
    /// [`NoiseError::Auth`] when it does not authenticate,
    /// [`NoiseError::Size`] when it is shorter than a tag or longer than a
    /// Noise message.
    pub fn open(&self, nonce: u64, ciphertext: &[u8], out: &mut [u8]) -> Result<usize, NoiseError> {
        if ciphertext.len() < TAG_LEN || ciphertext.len() > MAX_MESSAGE {
            return Err(NoiseError::Size);
        }
        self.state.read_message(nonce, ciphertext, out).map_err(snow_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> [u8; PROLOGUE_LEN] {
        prologue((NodeId([1; 16]), 5), (NodeId([2; 16]), 9))
    }

    fn pair(
        opener_key: [u8; 32],
        ring: &Keyring,
        p_open: &[u8],
        p_accept: &[u8],
    ) -> Result<(Transport, Transport), NoiseError> {
        let key = ClusterKey::new(opener_key);
        let (init, m1) = Initiator::start(&key, p_open, [3; 32])?;
        let (resp, m2) = respond(ring, key.id(), &m1, p_accept, [4; 32])?;
        Ok((init.finish(&m2)?, resp))
    }

    #[test]
    fn a_handshake_with_the_same_key_gives_ciphers_that_agree_both_ways() {
        let ring = Keyring::new([9; 32]);
        let (a, b) = pair([9; 32], &ring, &ids(), &ids()).unwrap();
        let mut ct = [0u8; 5 + TAG_LEN];
        let n = a.seal(0, b"hello", &mut ct).unwrap();
        assert_eq!(n, 5 + TAG_LEN);
        let mut pt = [0u8; 5 + TAG_LEN];
        assert_eq!(b.open(0, &ct, &mut pt), Ok(5));
        assert_eq!(&pt[..5], b"hello");
        let n = b.seal(7, b"back", &mut ct).unwrap();
        assert_eq!(a.open(7, &ct[..n], &mut pt), Ok(4));
        assert_eq!(&pt[..4], b"back");
        // Each direction has its own key: a message cannot be reflected.
        assert_eq!(b.open(7, &ct[..n], &mut pt), Err(NoiseError::Auth));
    }

    #[test]
    fn handshake_messages_are_48_bytes_and_deterministic_for_a_seed() {
        let key = ClusterKey::new([9; 32]);
        let (_, m1) = Initiator::start(&key, &ids(), [3; 32]).unwrap();
        let (_, again) = Initiator::start(&key, &ids(), [3; 32]).unwrap();
        assert_eq!(m1, again, "same seed, same bytes");
        let (_, other) = Initiator::start(&key, &ids(), [4; 32]).unwrap();
        assert_ne!(m1[..32], other[..32], "another seed, another ephemeral key");
    }

    #[test]
    fn a_wrong_key_a_missing_key_id_or_another_prologue_fails_with_auth() {
        let ring = Keyring::new([9; 32]);
        let key = ClusterKey::new([8; 32]);
        let (_, m1) = Initiator::start(&key, &ids(), [3; 32]).unwrap();
        // The id of the wrong key is not in the ring.
        let wrong_id = respond(&ring, key.id(), &m1, &ids(), [4; 32]);
        assert!(matches!(wrong_id, Err(NoiseError::NoKey | NoiseError::Auth)));
        // Claiming the ring's key id does not help.
        let claimed = respond(&ring, ring.primary().id(), &m1, &ids(), [4; 32]);
        assert_eq!(claimed.err(), Some(NoiseError::Auth));
        // Right key, but a handshake made for another pair of nodes.
        let other = prologue((NodeId([1; 16]), 6), (NodeId([2; 16]), 9));
        assert_eq!(pair([9; 32], &ring, &ids(), &other).err(), Some(NoiseError::Auth));
    }

    #[test]
    fn every_key_of_the_ring_is_accepted_from_an_opener() {
        let ring = Keyring::with_keys([1; 32], [[2; 32], [9; 32]]).unwrap();
        assert!(pair([9; 32], &ring, &ids(), &ids()).is_ok());
        assert!(pair([1; 32], &ring, &ids(), &ids()).is_ok());
    }

    #[test]
    fn a_forged_answer_or_damaged_record_fails() {
        let ring = Keyring::new([9; 32]);
        let key = ClusterKey::new([9; 32]);
        let (init, m1) = Initiator::start(&key, &ids(), [3; 32]).unwrap();
        let (resp, mut m2) = respond(&ring, key.id(), &m1, &ids(), [4; 32]).unwrap();
        m2[40] ^= 1;
        assert_eq!(init.finish(&m2).err(), Some(NoiseError::Auth));
        let mut ct = [0u8; 3 + TAG_LEN];
        resp.seal(1, b"abc", &mut ct).unwrap();
        let (init, m1) = Initiator::start(&key, &ids(), [3; 32]).unwrap();
        let (_, m2) = respond(&ring, key.id(), &m1, &ids(), [4; 32]).unwrap();
        let a = init.finish(&m2).unwrap();
        let mut pt = [0u8; 3 + TAG_LEN];
        assert_eq!(a.open(1, &ct, &mut pt), Ok(3), "same seeds, same session keys");
        assert_eq!(a.open(2, &ct, &mut pt), Err(NoiseError::Auth), "wrong nonce");
        ct[0] ^= 0x80;
        assert_eq!(a.open(1, &ct, &mut pt), Err(NoiseError::Auth), "flipped bit");
        assert_eq!(a.open(1, &ct[..10], &mut pt), Err(NoiseError::Size), "shorter than a tag");
    }
}
