//! Frames on the admin stream: each frame is delimited by its header's
//! `length`, as on stream links.

use bytes::{Bytes, BytesMut};
use netcluster_control::{AdminMessage, ControlFrame, ControlMessage};
use netcluster_core::wire::{peek_frame_len, Limits};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The socket failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The stream cannot be cut into frames any more (bad magic, a length
    /// out of bounds): the connection must be closed.
    #[error("unreadable stream: {0}")]
    Framing(netcluster_core::wire::Error),
    /// The peer closed the stream in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
}

/// Reads whole frames from a byte stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
    max_frame: usize,
    /// A frame already read, handed out first.
    unread: Option<Bytes>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Frames of at most `max_frame` bytes from `inner`.
    pub fn new(inner: R, max_frame: usize) -> Self {
        FrameReader { inner, buf: BytesMut::with_capacity(4096), max_frame, unread: None }
    }

    /// Puts `frame` back: the next [`next`](Self::next) returns it.
    pub fn unread(&mut self, frame: Bytes) {
        self.unread = Some(frame);
    }

    /// The reader's stream.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The reader's stream, dropping what was buffered.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next whole frame (header included), `None` at a clean end of
    /// stream.
    pub async fn next(&mut self) -> Result<Option<Bytes>, FrameError> {
        if let Some(f) = self.unread.take() {
            return Ok(Some(f));
        }
        loop {
            if let Some(len) =
                peek_frame_len(&self.buf, self.max_frame).map_err(FrameError::Framing)?
            {
                if self.buf.len() >= len {
                    return Ok(Some(self.buf.split_to(len).freeze()));
                }
                self.buf.reserve(len - self.buf.len());
            } else {
                self.buf.reserve(4096);
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() { Ok(None) } else { Err(FrameError::Truncated) };
            }
        }
    }
}

/// Encodes one admin message as a whole frame.
pub fn encode(msg: impl Into<AdminMessage>) -> Result<Bytes, netcluster_core::wire::Error> {
    ControlFrame::new(ControlMessage::Admin(msg.into())).to_bytes()
}

/// Decodes one whole frame as an admin message.
pub fn decode(
    frame: &Bytes,
    limits: &Limits,
) -> Result<AdminMessage, netcluster_core::wire::Error> {
    match ControlFrame::parse_with(frame, limits)?.message {
        ControlMessage::Admin(m) => Ok(m),
        other => Err(netcluster_core::wire::Error::UnknownMessage {
            protocol: other.protocol(),
            msg_type: other.msg_type(),
        }),
    }
}

/// Writes one admin message.
pub async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: impl Into<AdminMessage>,
) -> std::io::Result<()> {
    let bytes =
        encode(msg).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    w.write_all(&bytes).await
}
