//! Whole admin, tracker and local frames: the core's frame format (header,
//! extensions, body) around a message of one of these sub-protocols.

use bytes::Bytes;
use netcluster_core::wire::{
    emit_frame, frame_bytes, frame_len, Error, Extensions, FrameMessage, FrameParts, Limits,
    Protocol, Result,
};

use crate::admin::AdminMessage;
use crate::local::LocalMessage;
use crate::tracker::TrackerMessage;

/// A message of the admin, tracker or local sub-protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    /// An admin request, response or event.
    Admin(AdminMessage),
    /// A tracker message.
    Tracker(TrackerMessage),
    /// A local message (an application and its host daemon).
    Local(LocalMessage),
}

impl ControlMessage {
    /// The sub-protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            ControlMessage::Admin(_) => Protocol::Admin,
            ControlMessage::Tracker(_) => Protocol::Tracker,
            ControlMessage::Local(_) => Protocol::Local,
        }
    }

    /// The message type code within the sub-protocol.
    pub fn msg_type(&self) -> u8 {
        match self {
            ControlMessage::Admin(m) => m.msg_type(),
            ControlMessage::Tracker(m) => m.msg_type(),
            ControlMessage::Local(m) => m.msg_type(),
        }
    }

    /// The message name, as in `docs/PROTOCOL.md`.
    pub fn name(&self) -> &'static str {
        match self {
            ControlMessage::Admin(m) => m.name(),
            ControlMessage::Tracker(m) => m.name(),
            ControlMessage::Local(m) => m.name(),
        }
    }
}

impl FrameMessage for ControlMessage {
    fn protocol(&self) -> Protocol {
        ControlMessage::protocol(self)
    }

    fn msg_type(&self) -> u8 {
        ControlMessage::msg_type(self)
    }

    fn body_len(&self) -> usize {
        match self {
            ControlMessage::Admin(m) => m.body_len(),
            ControlMessage::Tracker(m) => m.body_len(),
            ControlMessage::Local(m) => m.body_len(),
        }
    }

    fn emit_body(&self, out: &mut [u8]) -> Result<()> {
        match self {
            ControlMessage::Admin(m) => m.emit_body(out),
            ControlMessage::Tracker(m) => m.emit_body(out),
            ControlMessage::Local(m) => m.emit_body(out),
        }
    }
}

impl From<AdminMessage> for ControlMessage {
    fn from(m: AdminMessage) -> Self {
        ControlMessage::Admin(m)
    }
}

impl From<LocalMessage> for ControlMessage {
    fn from(m: LocalMessage) -> Self {
        ControlMessage::Local(m)
    }
}

impl From<TrackerMessage> for ControlMessage {
    fn from(m: TrackerMessage) -> Self {
        ControlMessage::Tracker(m)
    }
}

/// A whole admin or tracker frame: the version it is written in, its
/// extensions and its message.
///
/// The counterpart of the core's
/// [`Frame`](netcluster_core::wire::Frame): the frame around the body is
/// checked and written by the same code
/// ([`FrameParts::parse`], [`emit_frame`]), so the header, length, flag,
/// version and extension rules, and the errors, are the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlFrame {
    /// Sub-protocol version the frame is written in.
    pub version: u8,
    /// Extension TLVs (empty when the header flag is clear).
    pub extensions: Extensions,
    /// The message.
    pub message: ControlMessage,
}

impl ControlFrame {
    /// A frame in the newest version of the message's sub-protocol, with no
    /// extensions.
    pub fn new(message: impl Into<ControlMessage>) -> Self {
        let message = message.into();
        ControlFrame {
            version: message.protocol().supported().max,
            extensions: Extensions::empty(),
            message,
        }
    }

    /// Parses one whole frame under the default [`Limits`].
    pub fn parse(buf: &Bytes) -> Result<ControlFrame> {
        Self::parse_with(buf, &Limits::DEFAULT)
    }

    /// Parses one whole frame: `buf` must hold exactly the frame.
    ///
    /// A well-formed discovery or link frame is refused with
    /// [`Error::UnexpectedProtocol`], its body left unread: those are the
    /// core's to decode.
    pub fn parse_with(buf: &Bytes, limits: &Limits) -> Result<ControlFrame> {
        let parts = FrameParts::parse(buf, limits)?;
        let message = match parts.protocol {
            Protocol::Admin => ControlMessage::Admin(AdminMessage::parse_typed(
                parts.msg_type,
                &parts.body,
                limits,
            )?),
            Protocol::Tracker => ControlMessage::Tracker(TrackerMessage::parse_typed(
                parts.msg_type,
                &parts.body,
                limits,
            )?),
            Protocol::Local => ControlMessage::Local(LocalMessage::parse_typed(
                parts.msg_type,
                &parts.body,
                limits,
            )?),
            protocol @ (Protocol::Discovery | Protocol::Link) => {
                return Err(Error::UnexpectedProtocol { protocol })
            }
        };
        Ok(ControlFrame { version: parts.version, extensions: parts.extensions, message })
    }

    /// Exact size of the encoded frame.
    pub fn buffer_len(&self) -> usize {
        frame_len(&self.extensions, &self.message)
    }

    /// Writes the frame into `buf`; returns the bytes written (always
    /// [`buffer_len`](Self::buffer_len)).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_frame(buf, self.version, &self.extensions, &self.message)
    }

    /// Encodes the frame into a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes> {
        frame_bytes(self.version, &self.extensions, &self.message)
    }
}

#[cfg(test)]
mod tests {
    use netcluster_core::wire::link::Ping;
    use netcluster_core::wire::{Body, Frame};

    use super::*;
    use crate::admin::MembersRequest;
    use crate::tracker::Query;
    use netcluster_core::wire::HEADER_LEN;

    #[test]
    fn core_and_control_frames_refuse_each_other_after_the_frame_checks() {
        let admin = MembersRequest { request_id: 7 }.to_bytes().unwrap();
        let tracker =
            Query { cluster_hash: 1, node_id: Default::default(), offset: 0, max: 0 }.to_bytes();
        let tracker = tracker.unwrap();
        let ping = Ping { token: 3 }.to_bytes().unwrap();
        assert_eq!(
            Frame::parse(&admin),
            Err(Error::UnexpectedProtocol { protocol: Protocol::Admin })
        );
        assert_eq!(
            Frame::parse(&tracker),
            Err(Error::UnexpectedProtocol { protocol: Protocol::Tracker })
        );
        assert_eq!(
            ControlFrame::parse(&ping),
            Err(Error::UnexpectedProtocol { protocol: Protocol::Link })
        );
        assert!(ControlFrame::parse(&admin).is_ok());
        assert!(Frame::parse(&ping).is_ok());

        // The frame around the body is checked first, the same way by both:
        // a wrong length or version is reported as such, not as the
        // sub-protocol.
        let mut short = admin.to_vec();
        short.pop();
        let short = Bytes::from(short);
        assert!(matches!(Frame::parse(&short), Err(Error::LengthMismatch { .. })));
        assert!(matches!(ControlFrame::parse(&short), Err(Error::LengthMismatch { .. })));
        let mut future = admin.to_vec();
        future[3] = 9;
        let future = Bytes::from(future);
        assert!(matches!(Frame::parse(&future), Err(Error::UnsupportedVersion { .. })));
        assert!(matches!(ControlFrame::parse(&future), Err(Error::UnsupportedVersion { .. })));

        // The core never reads an admin body: a garbage one is still only
        // "not mine".
        let mut garbage = admin.to_vec();
        garbage.extend_from_slice(&[0xff; 5]);
        let len = garbage.len() as u32;
        garbage[6..HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        let garbage = Bytes::from(garbage);
        assert_eq!(
            Frame::parse(&garbage),
            Err(Error::UnexpectedProtocol { protocol: Protocol::Admin })
        );
        assert_eq!(
            ControlFrame::parse(&garbage),
            Err(Error::Malformed { field: "members_request" })
        );
    }
}
