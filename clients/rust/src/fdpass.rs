//! Passing descriptors over UNIX sockets (`SCM_RIGHTS`), and the socket
//! pairs behind mesh sockets. Shared by the daemon and the clients.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};

/// Room for this many descriptors in one received control message; more
/// are closed at once (the kernel has already made them ours).
pub const MAX_FDS: usize = 4;

/// The kind of socket pair behind a mesh socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairKind {
    /// `SOCK_STREAM`: mesh streams.
    Stream,
    /// `SOCK_SEQPACKET`: reliable and sequenced messages, stream listeners.
    SeqPacket,
    /// `SOCK_DGRAM`: datagrams.
    Datagram,
}

/// A connected pair of UNIX sockets of `kind`, close-on-exec; `nonblocking`
/// sets `O_NONBLOCK` on both.
pub fn pair(kind: PairKind, nonblocking: bool) -> io::Result<(OwnedFd, OwnedFd)> {
    let ty = match kind {
        PairKind::Stream => SocketType::STREAM,
        PairKind::SeqPacket => SocketType::SEQPACKET,
        PairKind::Datagram => SocketType::DGRAM,
    };
    let mut flags = SocketFlags::CLOEXEC;
    if nonblocking {
        flags |= SocketFlags::NONBLOCK;
    }
    Ok(rustix::net::socketpair(AddressFamily::UNIX, ty, flags, None)?)
}

/// Sends `bytes` on `socket` with one descriptor attached (`SCM_RIGHTS`);
/// returns the bytes written (the descriptor goes with the first one).
pub fn send_with_fd(socket: BorrowedFd<'_>, bytes: &[u8], fd: BorrowedFd<'_>) -> io::Result<usize> {
    let fds = [fd];
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&fds)) {
        return Err(io::Error::other("no room for the descriptor"));
    }
    Ok(rustix::net::sendmsg(socket, &[IoSlice::new(bytes)], &mut control, SendFlags::NOSIGNAL)?)
}

/// What one `recvmsg` returned.
#[derive(Debug)]
pub struct Received {
    /// Bytes read into the buffer (0: end of file, on stream sockets).
    pub len: usize,
    /// Descriptors that came with them, in order.
    pub fds: Vec<OwnedFd>,
    /// The message was longer than the buffer (packet sockets).
    pub truncated: bool,
}

/// Reads into `buf` from `socket`, taking any descriptors that come with
/// the bytes (close-on-exec).
pub fn recv_with_fds(socket: impl AsFd, buf: &mut [u8], flags: RecvFlags) -> io::Result<Received> {
    let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let mut iov = [IoSliceMut::new(buf)];
    let r = rustix::net::recvmsg(
        socket.as_fd(),
        &mut iov,
        &mut control,
        flags | RecvFlags::CMSG_CLOEXEC,
    )?;
    let mut fds = Vec::new();
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = msg {
            fds.extend(it);
        }
    }
    let truncated = r.flags.contains(rustix::net::ReturnFlags::TRUNC);
    Ok(Received { len: r.bytes, fds, truncated })
}

/// Sends one packet (or bytes, on a stream) without `SIGPIPE`.
pub fn send(socket: impl AsFd, bytes: &[u8]) -> io::Result<usize> {
    Ok(rustix::net::send(socket, bytes, SendFlags::NOSIGNAL)?)
}

/// Receives one packet (or bytes, on a stream) into `buf`; returns its
/// length and whether it was longer than `buf`.
pub fn recv(socket: impl AsFd, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    let cap = buf.len();
    let (n, full) = rustix::net::recv(socket, buf, RecvFlags::TRUNC)?;
    Ok((n.min(cap), full > cap))
}

/// Shuts the write side of a socket.
pub fn shutdown_write(socket: impl AsFd) -> io::Result<()> {
    Ok(rustix::net::shutdown(socket, rustix::net::Shutdown::Write)?)
}

/// Sets or clears `O_NONBLOCK`.
pub fn set_nonblocking(fd: impl AsFd, on: bool) -> io::Result<()> {
    let mut flags = rustix::fs::fcntl_getfl(&fd)?;
    flags.set(rustix::fs::OFlags::NONBLOCK, on);
    rustix::fs::fcntl_setfl(&fd, flags)?;
    Ok(())
}

/// A pair for a mesh socket: the daemon's end non-blocking, the
/// application's end blocking (as any new socket is).
pub fn daemon_pair(kind: PairKind) -> io::Result<(OwnedFd, OwnedFd)> {
    let (mine, theirs) = pair(kind, false)?;
    set_nonblocking(&mine, true)?;
    Ok((mine, theirs))
}
