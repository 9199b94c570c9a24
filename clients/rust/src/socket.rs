//! Mesh sockets: real descriptors, read, written and selected on like any
//! socket.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

use netcluster_core::wire::link::Semantics;
use netcluster_core::wire::NodeId;
use rustix::net::RecvFlags;

use crate::fdpass;

/// What a socket is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One peer, by name or node id: writes go to it, reads are what it
    /// sends this node in the socket's semantics.
    Peer(String),
    /// A group (`""`: everyone): writes are shouted to it; nothing is read.
    Group(String),
    /// Streams other nodes open to this one: [`MeshSocket::accept`] them.
    ListenStreams,
    /// What is shouted to a group in the socket's semantics; the daemon's
    /// node is in the group while the socket is open. What is written is
    /// dropped.
    GroupReceive(String),
}

/// Per-socket options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOptions {
    /// Messages the daemon holds for the socket (0: its default, 256).
    pub queue: u16,
    /// Delivery timeout of each message written on the socket, in ms (0:
    /// the node's, 30 s on a LAN): one not acknowledged by then fails with
    /// an [`EventKind::DeliveryFailed`](crate::EventKind::DeliveryFailed)
    /// event. Reliable and sequenced sockets; a stream socket with an
    /// override is refused with `unsupported`.
    pub timeout_ms: u32,
    /// Retransmissions of each message before it fails (0: the node's, no
    /// limit but the timeout). As `timeout_ms`.
    pub retries: u8,
}

impl SocketOptions {
    /// The same, with each message's delivery timeout `timeout` (rounded
    /// up to a millisecond, at most `u32::MAX` ms; zero keeps the node's).
    #[must_use]
    pub fn timeout(self, timeout: std::time::Duration) -> SocketOptions {
        let ms = timeout.as_nanos().div_ceil(1_000_000);
        SocketOptions { timeout_ms: u32::try_from(ms).unwrap_or(u32::MAX), ..self }
    }

    /// The same, with at most `retries` retransmissions of each message
    /// (zero keeps the node's).
    #[must_use]
    pub fn retries(self, retries: u8) -> SocketOptions {
        SocketOptions { retries, ..self }
    }

    /// The same, with the daemon holding at most `queue` messages for the
    /// socket (zero: its default).
    #[must_use]
    pub fn queue(self, queue: u16) -> SocketOptions {
        SocketOptions { queue, ..self }
    }
}

/// A mesh socket: the application's end of a UNIX socket pair whose other
/// end the daemon serves. `SOCK_STREAM` for streams, `SOCK_SEQPACKET` for
/// reliable and sequenced messages and for stream listeners, `SOCK_DGRAM`
/// for datagrams. Blocking by default; select or poll on
/// [`as_raw_fd`](AsRawFd::as_raw_fd) and use
/// [`set_nonblocking`](Self::set_nonblocking) as with any socket.
#[derive(Debug)]
pub struct MeshSocket {
    fd: OwnedFd,
    id: u32,
    semantics: Semantics,
}

impl MeshSocket {
    pub(crate) fn new(fd: OwnedFd, id: u32, semantics: Semantics) -> MeshSocket {
        MeshSocket { fd, id, semantics }
    }

    /// Another handle on the same socket (`dup`), e.g. to write from one
    /// thread and read from another.
    pub fn try_clone(&self) -> io::Result<MeshSocket> {
        Ok(MeshSocket { fd: self.fd.try_clone()?, id: self.id, semantics: self.semantics })
    }

    /// The daemon's id for the socket, as carried by its events.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The socket's semantics.
    pub fn semantics(&self) -> Semantics {
        self.semantics
    }

    /// Sends one message (or, on a stream, some bytes: see
    /// [`Write::write_all`]).
    pub fn send(&self, msg: &[u8]) -> io::Result<usize> {
        fdpass::send(&self.fd, msg)
    }

    /// Receives one message into `buf` (or some bytes of a stream); 0 on a
    /// stream is the end. A message longer than `buf` is an
    /// [`io::ErrorKind::InvalidData`] error (its end is lost).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if self.semantics == Semantics::Stream {
            return Ok(rustix::io::read(&self.fd, buf)?);
        }
        let (n, truncated) = fdpass::recv(&self.fd, buf)?;
        if truncated {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "message longer than the buffer",
            ));
        }
        Ok(n)
    }

    /// The next stream a peer opened (listening sockets): the peer and the
    /// stream.
    pub fn accept(&self) -> io::Result<(NodeId, MeshSocket)> {
        let mut id = [0u8; 16];
        let r = fdpass::recv_with_fds(&self.fd, &mut id, RecvFlags::empty())?;
        let mut fds = r.fds.into_iter();
        match (r.len, fds.next()) {
            (16, Some(fd)) => Ok((NodeId(id), MeshSocket::new(fd, self.id, Semantics::Stream))),
            (0, None) => {
                Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the daemon closed the listener"))
            }
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "bad stream hand-over from the daemon",
            )),
        }
    }

    /// Ends the sending side of a stream (the peer reads its end); the
    /// socket can still be read.
    pub fn shutdown_write(&self) -> io::Result<()> {
        fdpass::shutdown_write(&self.fd)
    }

    /// Sets or clears `O_NONBLOCK`.
    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        fdpass::set_nonblocking(&self.fd, on)
    }

    /// Sets a read timeout (`None`: block for ever).
    pub fn set_read_timeout(&self, t: Option<std::time::Duration>) -> io::Result<()> {
        rustix::net::sockopt::set_socket_timeout(&self.fd, rustix::net::sockopt::Timeout::Recv, t)?;
        Ok(())
    }
}

impl Read for MeshSocket {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf)
    }
}

impl Write for MeshSocket {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for MeshSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for MeshSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl IntoRawFd for MeshSocket {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<MeshSocket> for OwnedFd {
    fn from(s: MeshSocket) -> OwnedFd {
        s.fd
    }
}
