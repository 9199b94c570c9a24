//! Encrypted-link messages (PROTOCOL 7.18 and section 12): the Noise
//! handshake (NOISE_INIT, NOISE_RESP) and the records that carry every
//! link frame after it (SEALED).
//!
//! ```text
//! NOISE_INIT (13)                       NOISE_RESP (14)
//! +--------+--------+-- ... --+         +--------+-- ... --+
//! | key_id |  noise message   |         |  noise message   |
//! +--------+--------+-- ... --+         +--------+-- ... --+
//!   1 byte     48 bytes                      48 bytes
//!
//! SEALED (15)
//! +--------+-- ... --+--------+--------+-- ... --+
//! |    nonce (u64)    |      ciphertext + tag     |
//! +--------+-- ... --+--------+--------+-- ... --+
//!      8 bytes          16 ..= 65,535 bytes
//! ```

use bytes::Bytes;

use super::super::codec::wire_view;
use super::super::error::{Error, Result};
use super::super::header::Protocol;
use super::super::types::Limits;
use super::super::Body;

/// Bytes of a Noise handshake message (`e` and the tag of an empty
/// payload).
pub const NOISE_MSG_LEN: usize = 48;

/// Bytes of a SEALED record's tag (Poly1305).
pub const SEALED_TAG_LEN: usize = 16;

/// Longest SEALED ciphertext, tag included: a Noise message (65,535).
pub const SEALED_MAX_CIPHERTEXT: usize = 65_535;

/// Bytes a SEALED record adds to what it carries: header 10, nonce 8,
/// tag 16.
pub const SEALED_OVERHEAD: usize = 10 + 8 + SEALED_TAG_LEN;

wire_view! {
    /// Zero-copy view of a NOISE_INIT body.
    pub struct NoiseInitView;
    pub mod noise_init_field;
    fixed_len = 49;
    /// `key_id`: the id of the cluster key the opener used (PROTOCOL 12);
    /// the 48-byte Noise message follows (`fixed_len` = 1 + 48).
    key_id, set_key_id, KEY_ID: u8 = 0;
}

wire_view! {
    /// Zero-copy view of a SEALED body's fixed part.
    pub struct SealedView;
    pub mod sealed_field;
    fixed_len = 8;
    /// `nonce`: the Noise transport nonce of this record.
    nonce, set_nonce, NONCE: u64 = 0;
}

fn exact(body: &Bytes, len: usize, field: &'static str) -> Result<()> {
    match body.len() {
        n if n < len => Err(Error::Truncated { field }),
        n if n > len => Err(Error::Malformed { field }),
        _ => Ok(()),
    }
}

/// NOISE_INIT (type 13): the opener's first Noise message
/// (`Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s`: `psk, e`), with the id of
/// the key it was made with. Sent in clear after WELCOME, repeated on
/// datagram links until answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseInit {
    /// Id of the opener's primary cluster key.
    pub key_id: u8,
    /// The Noise message: ephemeral public key (32) and tag (16).
    pub message: [u8; NOISE_MSG_LEN],
}

impl Body for NoiseInit {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 13;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        exact(body, noise_init_field::FIXED_LEN, "noise_init")?;
        let v = NoiseInitView::new_checked(&body[..])?;
        let mut message = [0u8; NOISE_MSG_LEN];
        message.copy_from_slice(&body[1..]);
        Ok(NoiseInit { key_id: v.key_id(), message })
    }
    fn body_len(&self) -> usize {
        noise_init_field::FIXED_LEN
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        NoiseInitView::new_checked(&mut out[..])?.set_key_id(self.key_id);
        out[1..noise_init_field::FIXED_LEN].copy_from_slice(&self.message);
        Ok(())
    }
}

/// NOISE_RESP (type 14): the acceptor's Noise answer (`e, ee`). After it
/// both sides seal every link frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoiseResp {
    /// The Noise message: ephemeral public key (32) and tag (16).
    pub message: [u8; NOISE_MSG_LEN],
}

impl Body for NoiseResp {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 14;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        exact(body, NOISE_MSG_LEN, "noise_resp")?;
        let mut message = [0u8; NOISE_MSG_LEN];
        message.copy_from_slice(body);
        Ok(NoiseResp { message })
    }
    fn body_len(&self) -> usize {
        NOISE_MSG_LEN
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let available = out.len();
        out.get_mut(..NOISE_MSG_LEN)
            .ok_or(Error::BufferTooSmall { needed: NOISE_MSG_LEN, available })?
            .copy_from_slice(&self.message);
        Ok(())
    }
}

/// SEALED (type 15): one encrypted record. The ciphertext decrypts to
/// link frames: on a stream link, the next bytes of the frame stream
/// (records need not align with frames); on a datagram link, one whole
/// datagram's frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The record's Noise nonce (explicit on every link).
    pub nonce: u64,
    /// ChaCha20-Poly1305 ciphertext with its 16-byte tag.
    pub ciphertext: Bytes,
}

impl Body for Sealed {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 15;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let v = SealedView::new_checked(&body[..])?;
        let ciphertext = body.slice(sealed_field::FIXED_LEN..);
        if ciphertext.len() < SEALED_TAG_LEN {
            return Err(Error::Truncated { field: "sealed" });
        }
        if ciphertext.len() > SEALED_MAX_CIPHERTEXT {
            return Err(Error::Oversized {
                field: "sealed",
                len: ciphertext.len(),
                max: SEALED_MAX_CIPHERTEXT,
            });
        }
        Ok(Sealed { nonce: v.nonce(), ciphertext })
    }
    fn body_len(&self) -> usize {
        sealed_field::FIXED_LEN + self.ciphertext.len()
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        if self.ciphertext.len() < SEALED_TAG_LEN {
            return Err(Error::Malformed { field: "sealed" });
        }
        if self.ciphertext.len() > SEALED_MAX_CIPHERTEXT {
            return Err(Error::Oversized {
                field: "sealed",
                len: self.ciphertext.len(),
                max: SEALED_MAX_CIPHERTEXT,
            });
        }
        SealedView::new_checked(&mut out[..])?.set_nonce(self.nonce);
        let end = sealed_field::FIXED_LEN + self.ciphertext.len();
        let available = out.len();
        out.get_mut(sealed_field::FIXED_LEN..end)
            .ok_or(Error::BufferTooSmall { needed: end, available })?
            .copy_from_slice(&self.ciphertext);
        Ok(())
    }
}
