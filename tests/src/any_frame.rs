//! One frame type over every sub-protocol, for the tests that walk all the
//! golden vectors: discovery and link frames are decoded by the core, admin
//! and tracker frames by the control crate.

use bytes::Bytes;
use netcluster_control::ControlFrame;
use netcluster_core::wire::{Error, Extensions, Frame, Protocol, Result};

/// A whole frame of any sub-protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnyFrame {
    /// A discovery or link frame.
    Core(Frame),
    /// An admin or tracker frame.
    Control(ControlFrame),
}

impl AnyFrame {
    /// Parses one whole frame with whichever crate decodes its
    /// sub-protocol. The core checks the frame around the body first, so an
    /// error is the one a receiver of that sub-protocol would see.
    pub fn parse(buf: &Bytes) -> Result<AnyFrame> {
        match Frame::parse(buf) {
            Err(Error::UnexpectedProtocol { .. }) => {
                ControlFrame::parse(buf).map(AnyFrame::Control)
            }
            other => other.map(AnyFrame::Core),
        }
    }

    /// The sub-protocol.
    pub fn protocol(&self) -> Protocol {
        match self {
            AnyFrame::Core(f) => f.message.protocol(),
            AnyFrame::Control(f) => f.message.protocol(),
        }
    }

    /// The message type code within the sub-protocol.
    pub fn msg_type(&self) -> u8 {
        match self {
            AnyFrame::Core(f) => f.message.msg_type(),
            AnyFrame::Control(f) => f.message.msg_type(),
        }
    }

    /// The message name, as in `docs/PROTOCOL.md`.
    pub fn name(&self) -> &'static str {
        match self {
            AnyFrame::Core(f) => f.message.name(),
            AnyFrame::Control(f) => f.message.name(),
        }
    }

    /// The version the frame is written in.
    pub fn version(&self) -> u8 {
        match self {
            AnyFrame::Core(f) => f.version,
            AnyFrame::Control(f) => f.version,
        }
    }

    /// The extension TLVs.
    pub fn extensions(&self) -> &Extensions {
        match self {
            AnyFrame::Core(f) => &f.extensions,
            AnyFrame::Control(f) => &f.extensions,
        }
    }

    /// Exact size of the encoded frame.
    pub fn buffer_len(&self) -> usize {
        match self {
            AnyFrame::Core(f) => f.buffer_len(),
            AnyFrame::Control(f) => f.buffer_len(),
        }
    }

    /// Encodes the frame into a new buffer.
    pub fn to_bytes(&self) -> Result<Bytes> {
        match self {
            AnyFrame::Core(f) => f.to_bytes(),
            AnyFrame::Control(f) => f.to_bytes(),
        }
    }
}

impl From<Frame> for AnyFrame {
    fn from(f: Frame) -> Self {
        AnyFrame::Core(f)
    }
}

impl From<ControlFrame> for AnyFrame {
    fn from(f: ControlFrame) -> Self {
        AnyFrame::Control(f)
    }
}
