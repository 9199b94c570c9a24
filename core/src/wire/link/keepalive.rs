//! Keepalive messages, after libvirt's keepalive protocol: ADVERTISE, PING,
//! PONG. Either side may ping, each on its own schedule; a side gives up on
//! the link after `count` unanswered pings.
//!
//! ```text
//! ADVERTISE                         PING / PONG
//! +--------+--------+--------+--------+   +--------+--------+--------+--------+
//! |          interval_ms (u32)        |   |            token (u64) ...        |
//! +--------+--------+--------+--------+   +--------+--------+--------+--------+
//! | count  |                              |         ... token                 |
//! +--------+                              +--------+--------+--------+--------+
//! ```

use bytes::Bytes;

use super::super::codec::wire_view;
use super::super::error::{Error, Result};
use super::super::header::Protocol;
use super::super::types::Limits;
use super::super::Body;

wire_view! {
    /// Zero-copy view of an ADVERTISE body.
    pub struct AdvertiseView;
    pub mod advertise_field;
    fixed_len = 5;
    /// `interval_ms`: how long the sender lets a link idle before pinging.
    interval_ms, set_interval_ms, INTERVAL_MS: u32 = 0;
    /// `count`: unanswered pings after which the sender closes the link.
    count, set_count, COUNT: u8 = 4;
}

wire_view! {
    /// Zero-copy view of a PING or PONG body.
    pub struct TokenView;
    pub mod token_field;
    fixed_len = 8;
    /// `token`: chosen by the pinger, echoed by the PONG.
    token, set_token, TOKEN: u64 = 0;
}

/// ADVERTISE (type 4): the sender supports keepalive and tells its own
/// schedule, so the receiver knows how long silence may last before the
/// sender gives up on the link. Sent once, right after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertise {
    /// Idle time before the sender pings, in milliseconds (0: never pings).
    pub interval_ms: u32,
    /// Unanswered pings before the sender closes the link.
    pub count: u8,
}

impl Body for Advertise {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 4;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        exact(body, advertise_field::FIXED_LEN, "advertise")?;
        let v = AdvertiseView::new_checked(&body[..])?;
        Ok(Advertise { interval_ms: v.interval_ms(), count: v.count() })
    }
    fn body_len(&self) -> usize {
        advertise_field::FIXED_LEN
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let mut v = AdvertiseView::new_checked(out)?;
        v.set_interval_ms(self.interval_ms);
        v.set_count(self.count);
        Ok(())
    }
}

fn exact(body: &Bytes, len: usize, field: &'static str) -> Result<()> {
    match body.len() {
        n if n < len => Err(Error::Truncated { field }),
        n if n > len => Err(Error::Malformed { field }),
        _ => Ok(()),
    }
}

macro_rules! token_message {
    ($(#[$meta:meta])* $name:ident = $code:expr, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name {
            /// Opaque token: the pinger's choice, echoed by the PONG (the
            /// core puts its send time there to measure round trips).
            pub token: u64,
        }

        impl Body for $name {
            const PROTOCOL: Protocol = Protocol::Link;
            const MSG_TYPE: u8 = $code;
            fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
                exact(body, token_field::FIXED_LEN, $field)?;
                Ok($name { token: TokenView::new_checked(&body[..])?.token() })
            }
            fn body_len(&self) -> usize {
                token_field::FIXED_LEN
            }
            fn emit_body(&self, out: &mut [u8]) -> Result<()> {
                TokenView::new_checked(out)?.set_token(self.token);
                Ok(())
            }
        }
    };
}

token_message! {
    /// PING (type 5): sent when the link has been idle for the sender's
    /// interval. The receiver answers PONG at once.
    Ping = 5, "ping"
}
token_message! {
    /// PONG (type 6): the answer to a PING, echoing its token. Never answered.
    Pong = 6, "pong"
}
