//! Encrypted links (PROTOCOL section 12, `docs/SECURITY.md` section 5):
//! the Noise handshake after WELCOME, and the sealing and opening of every
//! link frame after it.
//!
//! - **Handshake.** With a keyring, a link whose HELLO and WELCOME passed
//!   goes to [`Phase::Noise`]: the opener sends NOISE_INIT (repeated on
//!   datagram links on the HELLO timer), the acceptor answers NOISE_RESP
//!   and both bring the link up. A message that does not authenticate ends
//!   the link with REJECT AUTH "authentication failed", reported on both
//!   sides and counted as `link_auth_failed`.
//! - **Sealing.** A [`LinkCipher`] per encrypted link, kept with the
//!   node's outputs so that it outlives the link until the link's last
//!   frame (its GOODBYE) has been sealed. Stream links seal each frame as
//!   the driver pulls it ([`Node::poll_link`]), in write order, cut into
//!   records of at most 65,519 plaintext bytes; datagram links seal each
//!   datagram (a frame or a batch) as it is handed over, one record each.
//!   HELLO, WELCOME, REJECT, NOISE_INIT and NOISE_RESP always go in clear.
//! - **Opening.** Stream links take exactly the next nonce, and a record
//!   that fails closes the link; datagram links take any nonce within a
//!   1,024-wide window that has not been seen, and drop (and count) the
//!   rest. Clear frames on an encrypted link are dropped
//!   (`dropped_clear`), except, on datagram links, the handshake's own
//!   repeats (HELLO, WELCOME, NOISE_INIT), which the phase rules handle.

use alloc::boxed::Box;

use bytes::{Bytes, BytesMut};

use super::framing::{cut_frames, Frames};
use super::handshake::reject;
use super::{Phase, HELLO_RTO};
use crate::auth::noise::{self, Initiator, Transport, MAX_PLAINTEXT};
use crate::node::output::{LinkId, Outputs};
use crate::node::Node;
use crate::time::Instant;
use crate::wire::link::{
    GoodbyeReason, Intro, NoiseInit, NoiseResp, RejectReason, Sealed, SEALED_OVERHEAD,
};
use crate::wire::{Body, Extensions, Frame, LinkMessage, Message, Protocol};

/// Width of a datagram link's replay window, in nonces.
pub(crate) const REPLAY_WINDOW: u64 = 1024;

/// The link's side of the Noise handshake, while it needs one.
#[derive(Debug)]
pub(crate) enum NoiseSide {
    /// We opened: our NOISE_INIT (repeated on datagram links) and the
    /// state that reads the answer.
    Opener { state: Option<Box<Initiator>>, init: Bytes },
    /// We accepted: the NOISE_INIT we answered and our NOISE_RESP, sent
    /// again if the same NOISE_INIT comes again (a datagram link whose
    /// answer was lost).
    Acceptor { answered: Option<(NoiseInit, Bytes)> },
}

/// Why a record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// A nonce already used, too old for the window, or (stream) not the
    /// next one.
    Replayed,
    /// It did not authenticate.
    Forged,
}

/// The ciphers of one encrypted link and its nonces.
#[derive(Debug)]
pub(crate) struct LinkCipher {
    transport: Transport,
    send_nonce: u64,
    recv: Recv,
}

#[derive(Debug)]
enum Recv {
    /// The next nonce, and the plaintext of a frame cut by a record's end.
    Stream {
        next: u64,
        plain: BytesMut,
    },
    Datagram(ReplayWindow),
}

impl LinkCipher {
    pub(crate) fn new(transport: Transport, datagram: bool) -> LinkCipher {
        let recv = if datagram {
            Recv::Datagram(ReplayWindow::default())
        } else {
            Recv::Stream { next: 0, plain: BytesMut::new() }
        };
        LinkCipher { transport, send_nonce: 0, recv }
    }

    /// Seals `plain` into as many records as it needs (one for anything up
    /// to 65,519 bytes), back to back. `None` only when the nonces are
    /// spent (after 2^64 records) or the cipher refuses.
    pub(crate) fn seal(&mut self, plain: &[u8]) -> Option<Bytes> {
        let records = plain.len().div_ceil(MAX_PLAINTEXT).max(1);
        let mut out = BytesMut::zeroed(plain.len() + records * SEALED_OVERHEAD);
        let mut at = 0;
        let mut chunks = plain.chunks(MAX_PLAINTEXT);
        let first: &[u8] = &[];
        for chunk in chunks.by_ref().chain((plain.is_empty()).then_some(first)) {
            let nonce = self.send_nonce;
            self.send_nonce = nonce.checked_add(1)?;
            let len = SEALED_OVERHEAD + chunk.len();
            let buf = &mut out[at..at + len];
            let version = Protocol::Link.supported().max;
            let body = crate::wire::write_frame(
                buf,
                Protocol::Link,
                version,
                Sealed::MSG_TYPE,
                &Extensions::empty(),
                len,
            )
            .ok()?;
            buf[body..body + 8].copy_from_slice(&nonce.to_be_bytes());
            self.transport.seal(nonce, chunk, &mut buf[body + 8..]).ok()?;
            at += len;
        }
        Some(out.freeze())
    }

    /// Opens one record; checks its nonce first, and marks it used only
    /// once it authenticated.
    pub(crate) fn open(&mut self, s: &Sealed) -> Result<Bytes, OpenError> {
        let fresh = match &self.recv {
            Recv::Stream { next, .. } => s.nonce == *next,
            Recv::Datagram(w) => w.fresh(s.nonce),
        };
        if !fresh {
            let stream_ahead = matches!(&self.recv, Recv::Stream { next, .. } if s.nonce > *next);
            return Err(if stream_ahead { OpenError::Forged } else { OpenError::Replayed });
        }
        let mut plain = alloc::vec![0u8; s.ciphertext.len().saturating_sub(noise::TAG_LEN)];
        let n = self
            .transport
            .open(s.nonce, &s.ciphertext, &mut plain)
            .map_err(|_| OpenError::Forged)?;
        plain.truncate(n);
        match &mut self.recv {
            Recv::Stream { next, .. } => *next += 1,
            Recv::Datagram(w) => w.mark(s.nonce),
        }
        Ok(Bytes::from(plain))
    }

    /// The plaintext of a stream link's frame cut by a record's end.
    fn stream_plain(&mut self) -> Option<&mut BytesMut> {
        match &mut self.recv {
            Recv::Stream { plain, .. } => Some(plain),
            Recv::Datagram(_) => None,
        }
    }
}

/// The nonces seen of the last 1,024 below the highest (RFC 6479's
/// idea, one bit per nonce).
#[derive(Debug, Default)]
pub(crate) struct ReplayWindow {
    /// One above the highest nonce accepted (0: none yet).
    next: u64,
    bits: [u64; (REPLAY_WINDOW / 64) as usize],
}

impl ReplayWindow {
    fn bit(n: u64) -> (usize, u64) {
        let i = n % REPLAY_WINDOW;
        ((i / 64) as usize, 1u64 << (i % 64))
    }

    /// Whether `n` may be accepted: above everything seen, or within the
    /// window and not seen.
    pub(crate) fn fresh(&self, n: u64) -> bool {
        if n >= self.next {
            return true;
        }
        if self.next - n > REPLAY_WINDOW {
            return false;
        }
        let (w, b) = Self::bit(n);
        self.bits[w] & b == 0
    }

    /// Records `n` (which [`fresh`](Self::fresh) accepted) as seen.
    pub(crate) fn mark(&mut self, n: u64) {
        if n >= self.next {
            // The nonces the window slides over were never seen.
            if n - self.next >= REPLAY_WINDOW {
                self.bits = [0; (REPLAY_WINDOW / 64) as usize];
            } else {
                for k in self.next..n {
                    let (w, b) = Self::bit(k);
                    self.bits[w] &= !b;
                }
            }
            self.next = n + 1;
        }
        let (w, b) = Self::bit(n);
        self.bits[w] |= b;
    }
}

/// Whether an encoded link frame is sealed on an encrypted link: every
/// link frame but the handshake's (HELLO 1, WELCOME 2, REJECT 3,
/// NOISE_INIT 13, NOISE_RESP 14).
pub(crate) fn sealable(frame: &[u8]) -> bool {
    frame.len() > 4 && frame[2] == Protocol::Link.id() && !matches!(frame[4], 1 | 2 | 3 | 13 | 14)
}

/// Whether an encoded frame is a SEALED record.
fn is_sealed(frame: &[u8]) -> bool {
    frame.len() > 4 && frame[2] == Protocol::Link.id() && frame[4] == Sealed::MSG_TYPE
}

impl Outputs {
    /// Seals what a stream link's driver pulls, if the link is encrypted.
    pub(crate) fn seal_pulled(&mut self, link: LinkId, frame: Bytes) -> Option<Bytes> {
        match self.ciphers.get_mut(&link) {
            Some(c) if sealable(&frame) => {
                let sealed = c.seal(&frame);
                if sealed.is_none() {
                    self.stats.dropped_limit += 1;
                }
                sealed
            }
            _ => Some(frame),
        }
    }
}

impl Node {
    /// The opener's WELCOME passed and we have a keyring: the Noise
    /// handshake starts, NOISE_INIT goes out (and is repeated on a
    /// datagram link until answered).
    pub(super) fn start_noise(&mut self, now: Instant, link: LinkId, intro: Intro) {
        let Some(key) = self.cfg.keyring.as_ref().map(|r| r.primary().clone()) else {
            return;
        };
        let prologue =
            noise::prologue((self.id, self.cfg.incarnation), (intro.node_id, intro.incarnation));
        let seed = self.csprng.as_mut().map(|c| c.next_32());
        let started = seed.map(|s| Initiator::start(&key, &prologue, s));
        let Some(Ok((state, message))) = started else {
            // Only without a secret, which Node::new refuses.
            return self.noise_failed(now, link);
        };
        let init = NoiseInit { key_id: key.id(), message };
        let Ok(frame) = Frame::new(LinkMessage::NoiseInit(init)).to_bytes() else {
            return self.noise_failed(now, link);
        };
        let Some(l) = self.links.get_mut(&link) else { return };
        l.phase = Phase::Noise;
        l.peer = Some(intro.node_id);
        l.intro = Some(intro);
        l.noise = Some(NoiseSide::Opener { state: Some(Box::new(state)), init: frame.clone() });
        if let Some(d) = l.dgram_mut() {
            d.hello_at = now;
            d.hello_rto = HELLO_RTO;
            let next = now + HELLO_RTO;
            self.out
                .timers
                .set(super::Timer::Link(link), next.min(l.opened + self.cfg.handshake_timeout));
        }
        self.send_link_bytes(link, frame);
    }

    /// The acceptor's HELLO passed and we have a keyring: WELCOME is sent,
    /// and the link waits for NOISE_INIT.
    pub(super) fn await_noise(&mut self, link: LinkId, intro: Intro) {
        if let Some(l) = self.links.get_mut(&link) {
            l.phase = Phase::Noise;
            l.peer = Some(intro.node_id);
            l.intro = Some(intro);
            l.noise = Some(NoiseSide::Acceptor { answered: None });
        }
    }

    /// The repeat of NOISE_INIT on the HELLO timer (datagram links).
    pub(crate) fn resend_noise_init(&mut self, link: LinkId) {
        let init = match self.links.get(&link).and_then(|l| l.noise.as_ref()) {
            Some(NoiseSide::Opener { init, .. }) => init.clone(),
            _ => return,
        };
        self.send_link_bytes(link, init);
    }

    /// NOISE_INIT on the acceptor.
    pub(super) fn on_noise_init(&mut self, now: Instant, link: LinkId, m: NoiseInit) {
        let Some(l) = self.links.get(&link) else { return };
        if l.phase == Phase::Up {
            // A datagram link whose NOISE_RESP was lost: the same answer
            // again; anything else is not from the peer we answered.
            let again = match &l.noise {
                Some(NoiseSide::Acceptor { answered: Some((init, resp)) }) if *init == m => {
                    Some(resp.clone())
                }
                _ => None,
            };
            match again {
                Some(resp) => self.send_link_bytes(link, resp),
                None => self.out.stats.dropped_unexpected += 1,
            }
            return;
        }
        let (Some(intro), Some(ring)) = (l.intro.clone(), self.cfg.keyring.as_ref()) else {
            return self.noise_failed(now, link);
        };
        let prologue =
            noise::prologue((intro.node_id, intro.incarnation), (self.id, self.cfg.incarnation));
        let Some(seed) = self.csprng.as_mut().map(|c| c.next_32()) else {
            return self.noise_failed(now, link);
        };
        let Ok((transport, message)) = noise::respond(ring, m.key_id, &m.message, &prologue, seed)
        else {
            return self.noise_failed(now, link);
        };
        let Ok(resp) = Frame::new(LinkMessage::NoiseResp(NoiseResp { message })).to_bytes() else {
            return self.noise_failed(now, link);
        };
        self.send_link_bytes(link, resp.clone());
        let Some(l) = self.links.get_mut(&link) else { return };
        l.noise = Some(NoiseSide::Acceptor { answered: Some((m, resp)) });
        let datagram = l.dgram().is_some();
        self.out.ciphers.insert(link, LinkCipher::new(transport, datagram));
        self.link_up(now, link, intro);
    }

    /// NOISE_RESP on the opener.
    pub(super) fn on_noise_resp(&mut self, now: Instant, link: LinkId, m: NoiseResp) {
        let Some(l) = self.links.get_mut(&link) else { return };
        let state = match &mut l.noise {
            Some(NoiseSide::Opener { state, .. }) => state.take(),
            _ => None,
        };
        let (Some(state), Some(intro)) = (state, l.intro.clone()) else {
            self.out.stats.dropped_unexpected += 1;
            return;
        };
        match state.finish(&m.message) {
            Ok(transport) => {
                l.noise = None;
                let datagram = l.dgram().is_some();
                self.out.ciphers.insert(link, LinkCipher::new(transport, datagram));
                self.link_up(now, link, intro);
            }
            Err(_) => self.noise_failed(now, link),
        }
    }

    /// The handshake failed: REJECT AUTH, the same words whatever failed,
    /// so that nobody learns which key would have worked.
    fn noise_failed(&mut self, now: Instant, link: LinkId) {
        self.out.stats.link_auth_failed += 1;
        let Some(l) = self.links.get(&link) else { return };
        let (peer, intro) = (l.peer, l.intro.clone());
        let Some(intro) = intro else {
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "authentication failed");
            return;
        };
        let rej = reject(&self.cfg, &intro, RejectReason::AUTH, 0, "authentication failed");
        self.refuse(now, link, peer, rej);
    }

    /// One frame cut from a stream link: opened if it is a record of an
    /// encrypted link, dropped if it is clear on one, handled as it is
    /// otherwise.
    pub(super) fn on_stream_frame(&mut self, now: Instant, link: LinkId, f: Bytes) {
        if !self.out.ciphers.contains_key(&link) {
            return self.on_link_bytes(now, link, f);
        }
        if !is_sealed(&f) {
            self.out.stats.dropped_clear += 1;
            return;
        }
        let opened = match Frame::parse_with(&f, &self.cfg.limits) {
            Ok(Frame { message: Message::Link(LinkMessage::Sealed(s)), .. }) => {
                match self.out.ciphers.get_mut(&link) {
                    Some(c) => c.open(&s),
                    None => return,
                }
            }
            _ => Err(OpenError::Forged),
        };
        let plain = match opened {
            Ok(p) => p,
            Err(e) => {
                self.count_open_error(e);
                self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "bad record");
                return;
            }
        };
        let (max_frame, max_buf) = (self.cfg.limits.max_frame, self.cfg.max_link_buffer);
        let Some(buf) = self.out.ciphers.get_mut(&link).and_then(|c| c.stream_plain()) else {
            return;
        };
        let mut frames = Frames::new();
        let error = cut_frames(buf, plain, max_frame, &mut frames).is_err();
        if buf.len() > max_buf {
            self.out.stats.dropped_limit += 1;
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "receive buffer limit");
            return;
        }
        for inner in frames {
            if !self.links.contains_key(&link) {
                return;
            }
            self.on_link_bytes(now, link, inner);
        }
        if error && self.links.contains_key(&link) {
            self.out.stats.dropped_malformed += 1;
            self.close_link(now, link, Some(GoodbyeReason::PROTOCOL), "bad framing");
        }
    }

    /// A link frame from a datagram link's address: `true` when the caller
    /// goes on with it (a clear frame the link may take), `false` when it
    /// was handled or dropped here (a record, or clear on an encrypted
    /// link).
    pub(crate) fn screen_link_datagram(
        &mut self,
        now: Instant,
        link: LinkId,
        frame: &Frame,
    ) -> bool {
        let Message::Link(msg) = &frame.message else { return true };
        let encrypted = self.out.ciphers.contains_key(&link);
        match msg {
            LinkMessage::Sealed(s) if encrypted => {
                let opened = match self.out.ciphers.get_mut(&link) {
                    Some(c) => c.open(s),
                    None => return false,
                };
                match opened {
                    Ok(plain) => self.on_opened_datagram(now, link, plain),
                    Err(e) => self.count_open_error(e),
                }
                false
            }
            LinkMessage::Sealed(_) => {
                // Not encrypted (yet): a record overtook NOISE_RESP, or
                // came from someone else.
                self.out.stats.dropped_unexpected += 1;
                false
            }
            LinkMessage::Hello(_) | LinkMessage::Welcome(_) | LinkMessage::NoiseInit(_) => true,
            _ if encrypted => {
                self.out.stats.dropped_clear += 1;
                false
            }
            _ => true,
        }
    }

    /// The plaintext of a datagram link's record: a frame or a batch,
    /// handled as if it had arrived in clear. Another record or a
    /// discovery frame inside is dropped.
    fn on_opened_datagram(&mut self, now: Instant, link: LinkId, plain: Bytes) {
        let mut rest = plain;
        while !rest.is_empty() {
            let one = match Frame::split_batch(&rest) {
                Some((first, tail)) => {
                    rest = tail;
                    first
                }
                None => core::mem::take(&mut rest),
            };
            let frame = match Frame::parse_with(&one, &self.cfg.limits) {
                Ok(f) => f,
                Err(e) => {
                    self.count_decode_error(&e);
                    return;
                }
            };
            if !self.links.contains_key(&link) {
                return;
            }
            match &frame.message {
                Message::Link(LinkMessage::Sealed(_)) | Message::Discovery(_) => {
                    self.out.stats.dropped_unexpected += 1;
                }
                _ => {
                    self.out.stats.frames_received += 1;
                    self.on_link_frame(now, link, frame, one);
                }
            }
        }
    }

    fn count_open_error(&mut self, e: OpenError) {
        match e {
            OpenError::Replayed => self.out.stats.sealed_replayed += 1,
            OpenError::Forged => self.out.stats.sealed_forged += 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::noise::{prologue, respond};
    use crate::auth::{ClusterKey, Keyring};
    use crate::wire::NodeId;

    fn ciphers(datagram: bool, opener_key: [u8; 32]) -> Option<(LinkCipher, LinkCipher)> {
        let ring = Keyring::new([9; 32]);
        let key = ClusterKey::new(opener_key);
        let p = prologue((NodeId([1; 16]), 1), (NodeId([2; 16]), 1));
        let (i, m1) = Initiator::start(&key, &p, [1; 32]).ok()?;
        let (r, m2) = respond(&ring, key.id(), &m1, &p, [2; 32]).ok()?;
        let i = i.finish(&m2).ok()?;
        Some((LinkCipher::new(i, datagram), LinkCipher::new(r, datagram)))
    }

    fn record(bytes: &Bytes) -> Sealed {
        match Frame::parse(bytes).map(|f| f.message) {
            Ok(Message::Link(LinkMessage::Sealed(s))) => s,
            other => panic!("not a record: {other:?}"),
        }
    }

    fn records(mut bytes: Bytes) -> alloc::vec::Vec<Sealed> {
        let mut out = alloc::vec::Vec::new();
        while !bytes.is_empty() {
            let n = crate::wire::peek_frame_len(&bytes, usize::MAX).unwrap().unwrap();
            out.push(record(&bytes.split_to(n)));
        }
        out
    }

    #[test]
    fn a_record_adds_34_bytes_and_opens_to_what_was_sealed() {
        let (mut a, mut b) = ciphers(false, [9; 32]).unwrap();
        let sealed = a.seal(b"frame bytes").unwrap();
        assert_eq!(sealed.len(), 11 + 34, "header 10 + nonce 8 + tag 16");
        assert_eq!(b.open(&record(&sealed)).unwrap(), &b"frame bytes"[..]);
    }

    #[test]
    fn a_frame_over_65519_bytes_is_split_into_records_with_consecutive_nonces() {
        let (mut a, mut b) = ciphers(false, [9; 32]).unwrap();
        let big: alloc::vec::Vec<u8> = (0..150_000u32).map(|i| i as u8).collect();
        let rs = records(a.seal(&big).unwrap());
        assert_eq!(rs.len(), 3);
        assert_eq!(rs.iter().map(|r| r.nonce).collect::<alloc::vec::Vec<_>>(), [0, 1, 2]);
        assert_eq!(rs[0].ciphertext.len(), 65_535, "a full record is a full Noise message");
        let mut back = alloc::vec::Vec::new();
        for r in &rs {
            back.extend_from_slice(&b.open(r).unwrap());
        }
        assert_eq!(back, big);
    }

    #[test]
    fn a_stream_takes_exactly_the_next_nonce() {
        let (mut a, mut b) = ciphers(false, [9; 32]).unwrap();
        let r0 = record(&a.seal(b"zero").unwrap());
        let r1 = record(&a.seal(b"one").unwrap());
        assert_eq!(b.open(&r1), Err(OpenError::Forged), "a record skipped");
        assert!(b.open(&r0).is_ok());
        assert_eq!(b.open(&r0), Err(OpenError::Replayed), "the same record again");
        assert!(b.open(&r1).is_ok());
    }

    #[test]
    fn a_forged_record_is_refused_and_does_not_spend_its_nonce() {
        let (mut a, mut b) = ciphers(true, [9; 32]).unwrap();
        let good = record(&a.seal(b"payload").unwrap());
        let mut bad = good.ciphertext.to_vec();
        bad[0] ^= 1;
        let forged = Sealed { nonce: good.nonce, ciphertext: Bytes::from(bad) };
        assert_eq!(b.open(&forged), Err(OpenError::Forged));
        assert!(b.open(&good).is_ok(), "the real record still opens");
    }

    #[test]
    fn a_datagram_link_takes_reordered_records_within_the_window_once() {
        let (mut a, mut b) = ciphers(true, [9; 32]).unwrap();
        let rs: alloc::vec::Vec<Sealed> =
            (0..1100u32).map(|i| record(&a.seal(&i.to_be_bytes()).unwrap())).collect();
        // Reordered within the window: all accepted, each once.
        for i in [5usize, 3, 4, 0, 2, 1] {
            assert!(b.open(&rs[i]).is_ok(), "record {i}");
        }
        assert_eq!(b.open(&rs[3]), Err(OpenError::Replayed));
        // Far ahead: the window slides; what falls out of it is too old.
        assert!(b.open(&rs[1050]).is_ok());
        assert_eq!(b.open(&rs[10]), Err(OpenError::Replayed), "older than 1,024 below the top");
        assert!(b.open(&rs[100]).is_ok(), "within the window, never seen");
        assert_eq!(b.open(&rs[1050]), Err(OpenError::Replayed));
    }

    #[test]
    fn records_from_a_session_with_another_key_never_open() {
        let (mut a, _) = ciphers(true, [9; 32]).unwrap();
        // The same ring key but other ephemeral seeds would still agree;
        // a session made under another cluster key cannot be set up at
        // all (the handshake fails), so a record of one opened by a
        // cipher of another is the case left.
        let (_, mut other) = {
            let ring = Keyring::new([7; 32]);
            let key = ClusterKey::new([7; 32]);
            let p = prologue((NodeId([1; 16]), 1), (NodeId([2; 16]), 1));
            let (i, m1) = Initiator::start(&key, &p, [5; 32]).unwrap();
            let (r, m2) = respond(&ring, key.id(), &m1, &p, [6; 32]).unwrap();
            (LinkCipher::new(i.finish(&m2).unwrap(), true), LinkCipher::new(r, true))
        };
        let r = record(&a.seal(b"secret").unwrap());
        assert_eq!(other.open(&r), Err(OpenError::Forged));
        assert!(ciphers(true, [8; 32]).is_none(), "a wrong key fails the handshake");
    }

    #[test]
    fn only_handshake_frames_stay_clear() {
        for (t, clear) in [(1u8, true), (2, true), (3, true), (4, false), (7, false), (8, false)]
            .into_iter()
            .chain([(10, false), (13, true), (14, true), (15, false)])
        {
            let f = [0x4e, 0x43, 2, 1, t, 0];
            assert_eq!(sealable(&f), !clear, "type {t}");
        }
        assert!(!sealable(&[0x4e, 0x43, 1, 1, 1, 0]), "discovery frames are never sealed");
    }
}
