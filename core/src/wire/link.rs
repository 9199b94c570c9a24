//! Link sub-protocol (id 2). Placeholder, filled in next.
use super::codec::{Reader, Writer};
use super::error::Result;
use super::header::Protocol;
use super::types::Limits;
use super::{protocol_messages, Body};
use bytes::Bytes;

/// PING.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    /// Token echoed by PONG.
    pub token: u64,
}
impl Body for Ping {
    const PROTOCOL: Protocol = Protocol::Link;
    const MSG_TYPE: u8 = 5;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        let mut r = Reader::new(body, 0, body.len());
        let token = r.u64("token")?;
        r.finish("ping")?;
        Ok(Ping { token })
    }
    fn body_len(&self) -> usize {
        8
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        Writer::new(out).u64(self.token);
        Ok(())
    }
}
/// HELLO
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello;
impl Hello {
    /// type
    pub const MSG_TYPE: u8 = 1;
}
/// REJECT
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject;
impl Reject {
    /// type
    pub const MSG_TYPE: u8 = 3;
}

protocol_messages! {
    /// Any link message.
    pub enum LinkMessage(Protocol::Link) {
        /// Ping.
        Ping(Ping),
    }
}
