//! Admin sub-protocol. Placeholder, filled in next.
use super::codec::{Reader, Writer};
use super::error::Result;
use super::header::Protocol;
use super::types::Limits;
use super::{protocol_messages, Body};
use bytes::Bytes;

/// Placeholder message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nop;
impl Body for Nop {
    const PROTOCOL: Protocol = Protocol::Admin;
    const MSG_TYPE: u8 = 255;
    fn parse_body(body: &Bytes, _limits: &Limits) -> Result<Self> {
        Reader::new(body, 0, body.len()).finish("nop")?;
        Ok(Nop)
    }
    fn body_len(&self) -> usize {
        0
    }
    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        let _ = Writer::new(out);
        Ok(())
    }
}
protocol_messages! {
    /// Any admin message.
    pub enum AdminMessage(Protocol::Admin) {
        /// Placeholder.
        Nop(Nop),
    }
}
