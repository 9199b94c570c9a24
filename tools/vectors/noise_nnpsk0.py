#!/usr/bin/env python3
"""Computes the encrypted-link golden vectors (tests/vectors/link/noise_init.hex,
noise_resp.hex, sealed.hex) outside the Rust code base, from the Noise
specification (revision 34) and docs/PROTOCOL.md section 12:
Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s, psk = BLAKE2s-256(key, "netcluster link
psk v1"), the 66-byte prologue, ephemeral keys from the ChaCha20 keystream of
the fixed seeds (a1..a1 for A, b2..b2 for B), and link/ping.hex sealed by A
with nonce 0. Prints the three byte strings that tests/tests/vector_gen/secure.rs
holds as INDEPENDENT. Needs python3 and its `cryptography` package.
"""
import hashlib, hmac
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

def H(b): return hashlib.blake2s(b).digest()
def hm(k, d): return hmac.new(k, d, hashlib.blake2s).digest()
def hkdf(ck, ikm, n):
    t = hm(ck, ikm); o1 = hm(t, b'\x01'); o2 = hm(t, o1 + b'\x02')
    if n == 2: return o1, o2
    return o1, o2, hm(t, o2 + b'\x03')
def nonce(n): return b'\0'*4 + n.to_bytes(8, 'little')
def ks(seed): return Cipher(algorithms.ChaCha20(seed, bytes(16)), mode=None).encryptor().update(bytes(32))
def pub(priv): return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
def dh(priv, p): return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(p))

key = bytes(range(32))
psk = hashlib.blake2s(b"netcluster link psk v1", key=key).digest()
A = bytes.fromhex("00112233445566778899aabbccddeeff"); B = bytes.fromhex("112233445566778899aabbccddeeff00")
prologue = b"netcluster link v1" + A + (1).to_bytes(8,'big') + B + (2).to_bytes(8,'big')
name = b"Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s"
h = H(name) if len(name) > 32 else name.ljust(32, b'\0'); ck = h
def mixhash(d):
    global h; h = H(h + d)
# prologue
mixhash(prologue)
# msg1: psk, e
ck, th, tk = hkdf(ck, psk, 3); mixhash(th); k = tk
e_i = ks(bytes([0xa1]*32)); ei_pub = pub(e_i)
mixhash(ei_pub); ck, k = hkdf(ck, ei_pub, 2)
c = ChaCha20Poly1305(k).encrypt(nonce(0), b"", h); mixhash(c)
m1 = ei_pub + c
# msg2: e, ee
e_r = ks(bytes([0xb2]*32)); er_pub = pub(e_r)
mixhash(er_pub); ck, k = hkdf(ck, er_pub, 2)
ck, k = hkdf(ck, dh(e_r, ei_pub), 2)
c = ChaCha20Poly1305(k).encrypt(nonce(0), b"", h); mixhash(c)
m2 = er_pub + c
k1, k2 = hkdf(ck, b"", 2)
ping = bytes.fromhex("4e4302010500000000120123456789abcdef")
sealed = ChaCha20Poly1305(k1).encrypt(nonce(0), ping, b"")
print("psk", psk.hex()); print("m1", m1.hex()); print("m2", m2.hex()); print("sealed", sealed.hex())
