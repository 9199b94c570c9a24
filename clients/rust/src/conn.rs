//! The control connection to the daemon: frames out, frames and passed
//! descriptors in, request ids.

use std::collections::VecDeque;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use netcluster_control::local::{LocalEvent, LocalMessage};
use netcluster_control::{ControlFrame, ControlMessage};
use netcluster_core::wire::{peek_frame_len, Limits};
use rustix::net::RecvFlags;

use crate::{fdpass, Error};

/// One connection to the daemon speaking the local sub-protocol.
#[derive(Debug)]
pub(crate) struct Conn {
    stream: UnixStream,
    buf: BytesMut,
    fds: VecDeque<OwnedFd>,
    /// Events read while waiting for an answer.
    pub(crate) events: VecDeque<LocalEvent>,
    next_id: u32,
    limits: Limits,
}

impl Conn {
    pub(crate) fn new(stream: UnixStream) -> Conn {
        Conn {
            stream,
            buf: BytesMut::with_capacity(4096),
            fds: VecDeque::new(),
            events: VecDeque::new(),
            next_id: 1,
            limits: Limits::DEFAULT,
        }
    }

    pub(crate) fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// A fresh request id.
    pub(crate) fn id(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// Writes one message.
    pub(crate) fn send(&mut self, msg: LocalMessage) -> Result<(), Error> {
        let bytes = ControlFrame::new(ControlMessage::Local(msg))
            .to_bytes()
            .map_err(|e| Error::Protocol(format!("cannot encode a request: {e}")))?;
        self.stream.write_all(&bytes).map_err(gone)
    }

    /// The next message from the daemon, waiting at most until `deadline`
    /// (`None`: for ever). `Ok(None)` when the deadline passed.
    pub(crate) fn recv(
        &mut self,
        deadline: Option<Instant>,
    ) -> Result<Option<LocalMessage>, Error> {
        loop {
            if let Some(len) = peek_frame_len(&self.buf, self.limits.max_frame)
                .map_err(|e| Error::Protocol(format!("unreadable stream from the daemon: {e}")))?
            {
                if self.buf.len() >= len {
                    let frame: Bytes = self.buf.split_to(len).freeze();
                    let parsed = ControlFrame::parse_with(&frame, &self.limits)
                        .map_err(|e| Error::Protocol(format!("bad frame from the daemon: {e}")))?;
                    return match parsed.message {
                        ControlMessage::Local(m) => Ok(Some(m)),
                        other => Err(Error::Protocol(format!(
                            "the daemon answered in the {} sub-protocol",
                            other.protocol()
                        ))),
                    };
                }
            }
            // Past the deadline, one read that does not wait: what has
            // arrived is still taken.
            let (timeout, flags) = match deadline {
                None => (None, RecvFlags::empty()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        (None, RecvFlags::DONTWAIT)
                    } else {
                        (Some(left.max(Duration::from_millis(1))), RecvFlags::empty())
                    }
                }
            };
            let polling = flags.contains(RecvFlags::DONTWAIT);
            self.stream.set_read_timeout(timeout).map_err(Error::Io)?;
            let mut chunk = [0u8; 16 * 1024];
            match fdpass::recv_with_fds(&self.stream, &mut chunk, flags) {
                Ok(r) if r.len == 0 && r.fds.is_empty() => return Err(Error::DaemonGone),
                Ok(r) => {
                    self.buf.extend_from_slice(&chunk[..r.len]);
                    self.fds.extend(r.fds);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    if polling {
                        return Ok(None);
                    }
                    continue;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(gone(e)),
            }
        }
    }

    /// The answer to request `id`, keeping the events read meanwhile.
    pub(crate) fn answer(
        &mut self,
        id: u32,
        deadline: Option<Instant>,
    ) -> Result<LocalMessage, Error> {
        loop {
            match self.recv(deadline)? {
                None => return Err(Error::Timeout),
                Some(LocalMessage::Event(e)) => self.events.push_back(e),
                Some(m) if m.request_id() == id => return Ok(m),
                Some(_) => {}
            }
        }
    }

    /// The next descriptor passed by the daemon.
    pub(crate) fn take_fd(&mut self) -> Option<OwnedFd> {
        self.fds.pop_front()
    }
}

/// A read or write failure on the control connection: the daemon went away.
fn gone(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::UnexpectedEof => Error::DaemonGone,
        _ => Error::Io(e),
    }
}
