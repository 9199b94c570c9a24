//! The golden vectors of encrypted links (PROTOCOL 7.18 and 12): the
//! Noise handshake between A (opener, incarnation 1) and B (acceptor,
//! incarnation 2) with the cluster key 00 01 02 ... 1f, and a PING sealed
//! after it. Everything is fixed: the key, the prologue, and the seeds of
//! the two ephemeral keys, so the bytes are the same on every run.
//!
//! The Noise messages come from `snow` through the core; they must equal
//! [`INDEPENDENT`], the same handshake and record computed outside this
//! code base, from the Noise specification (revision 34) and PROTOCOL 12,
//! with Python's `cryptography` (X25519, ChaCha20, ChaCha20-Poly1305) and
//! `hashlib` (BLAKE2s, HMAC-BLAKE2s for HKDF), by
//! `tools/vectors/noise_nnpsk0.py`: the psk and prologue
//! derivations, the CSPRNG's ephemeral keys and the whole protocol are
//! thereby checked, not only the framing. The vectors test also runs the
//! handshake from these files and opens the record to `link/ping.hex`.

use bytes::Bytes;
use netcluster_core::auth::noise::{prologue, respond, Initiator, Transport};
use netcluster_core::auth::{ClusterKey, Csprng, Keyring};
use netcluster_core::wire::link::{NoiseInit, NoiseResp, Ping, Sealed};
use netcluster_core::wire::{Frame, LinkMessage, Message};

use super::{hex, vector, Enc, Vector, A, B};

/// The cluster key of every security vector: bytes 0x00 to 0x1f.
pub const KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        k[i] = i as u8;
        i += 1;
    }
    k
};
/// Seed of A's ephemeral key (its CSPRNG draw for this handshake).
pub const OPENER_SEED: [u8; 32] = [0xa1; 32];
/// Seed of B's ephemeral key.
pub const ACCEPTOR_SEED: [u8; 32] = [0xb2; 32];
/// The incarnations of A and B (those of link/hello.hex and welcome.hex).
pub const INCARNATIONS: (u64, u64) = (1, 2);

/// NOISE_INIT's message, NOISE_RESP's message and the SEALED ciphertext
/// with its tag, as computed independently (see the module documentation).
const INDEPENDENT: [&str; 3] = [
    "d20e97c0995d56109555d06d6e8e5b89b3b389f99fe2479af6a888d58eb5cc5b\
     7f9dd290ce2ecba768825fe516d0af69",
    "aafd1c3167acd9038d35efcc0c1b6f3d87eb7897097508a5210494cfb52ec664\
     8755c43a2ada3d8b753c9172efe06ade",
    "f1ac32f39f5ad81544205df04f73ff0755d45471e9241fc4fbaa236e5ba857fd6d69",
];

fn link(m: impl Into<LinkMessage>) -> Frame {
    Frame::new(Message::Link(m.into()))
}

/// The handshake of the vectors: NOISE_INIT's and NOISE_RESP's messages
/// and both sides' transports.
pub fn handshake() -> ([u8; 48], [u8; 48], Transport, Transport) {
    let key = ClusterKey::new(KEY);
    let p = prologue((A, INCARNATIONS.0), (B, INCARNATIONS.1));
    let (init, m1) = Initiator::start(&key, &p, OPENER_SEED).expect("start");
    let ring = Keyring::new(KEY);
    let (resp, m2) = respond(&ring, key.id(), &m1, &p, ACCEPTOR_SEED).expect("respond");
    let opener = init.finish(&m2).expect("finish");
    (m1, m2, opener, resp)
}

/// `link/ping.hex`, the plaintext of `link/sealed.hex`.
pub fn ping() -> Bytes {
    link(Ping { token: 0x0123_4567_89ab_cdef }).to_bytes().expect("ping")
}

pub(super) fn vectors() -> Vec<Vector> {
    let key = ClusterKey::new(KEY);
    let (m1, m2, opener, _) = handshake();
    let eph = |seed| hex(&Csprng::new(seed).next_32());
    let psk = hex(key.link_psk());
    let p = prologue((A, INCARNATIONS.0), (B, INCARNATIONS.1));
    let mut out = Vec::new();

    let mut e = Enc::default();
    e.u8_as(key.id(), format!("key_id = 0x{:02x} (of the key 00 01 .. 1f)", key.id()))
        .raw(&m1[..32], "noise: e, A's ephemeral X25519 public key")
        .raw(&m1[32..], "noise: tag of the empty payload (ChaChaPoly)");
    let about_key = format!("psk = BLAKE2s-256(key, \"netcluster link psk v1\") = {psk}");
    let about_prologue = format!("prologue ({} bytes) = {}", p.len(), hex(&p));
    let about_eph_a = format!(
        "A's ephemeral private key (ChaCha20 keystream of seed a1..a1) = {}",
        eph(OPENER_SEED)
    );
    out.push(vector(
        "link/noise_init.hex",
        &[
            "NOISE_INIT (link type 13), version 1: A, having accepted B's WELCOME,",
            "starts Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s with the cluster key",
            "00 01 02 .. 1f. The prologue is \"netcluster link v1\", then A's id and",
            "incarnation (1), then B's id and incarnation (2), all big-endian.",
            "This message, noise_resp's and sealed's ciphertext were also computed",
            "independently of snow and this code: tools/vectors/noise_nnpsk0.py.",
            &about_key,
            &about_prologue,
            &about_eph_a,
        ],
        link(NoiseInit { key_id: key.id(), message: m1 }),
        None,
        &e,
    ));

    let mut e = Enc::default();
    e.raw(&m2[..32], "noise: e, B's ephemeral X25519 public key")
        .raw(&m2[32..], "noise: tag of the empty payload (ChaChaPoly, after ee)");
    let about_eph_b = format!(
        "B's ephemeral private key (ChaCha20 keystream of seed b2..b2) = {}",
        eph(ACCEPTOR_SEED)
    );
    out.push(vector(
        "link/noise_resp.hex",
        &[
            "NOISE_RESP (link type 14), version 1: B's answer to link/noise_init.hex",
            "(e, ee). After it both sides seal every link frame.",
            &about_eph_b,
        ],
        link(NoiseResp { message: m2 }),
        None,
        &e,
    ));

    let plain = ping();
    let mut ct = vec![0u8; plain.len() + 16];
    let n = opener.seal(0, &plain, &mut ct).expect("seal");
    ct.truncate(n);
    for (ours, name, theirs) in [
        (&m1[..], "NOISE_INIT", INDEPENDENT[0]),
        (&m2[..], "NOISE_RESP", INDEPENDENT[1]),
        (&ct[..], "SEALED", INDEPENDENT[2]),
    ] {
        assert_eq!(hex(ours), theirs, "{name}: the core and the independent computation disagree");
    }
    let mut e = Enc::default();
    e.u64(0, "nonce")
        .raw(&ct[..plain.len()], "ciphertext of link/ping.hex (18 bytes)")
        .raw(&ct[plain.len()..], "tag (Poly1305)");
    out.push(vector(
        "link/sealed.hex",
        &[
            "SEALED (link type 15), version 1: A's first record after the handshake",
            "of link/noise_init.hex and noise_resp.hex (nonce 0): the PING of",
            "link/ping.hex, encrypted with A's sending key. 18 bytes of frame take",
            "52 on the wire: header 10, nonce 8, ciphertext 18, tag 16.",
        ],
        link(Sealed { nonce: 0, ciphertext: Bytes::from(ct) }),
        None,
        &e,
    ));
    out
}
