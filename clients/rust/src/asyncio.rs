//! The async API on tokio (cargo feature `tokio`): [`AsyncMeshSocket`],
//! and [`Cluster::next_event_async`] to wait for the daemon's events.
//!
//! ```no_run
//! # async fn demo() -> Result<(), netcluster_client::Error> {
//! use netcluster_client::{AsyncMeshSocket, Cluster, Options, Semantics, SocketOptions, Target};
//!
//! let mut cluster = Cluster::connect("demo", Options::default())?;
//! let peer = Target::Peer("bravo".into());
//! let sock = cluster.socket(peer, Semantics::Sequenced, SocketOptions::default())?;
//! let sock = AsyncMeshSocket::new(sock)?;
//! sock.send(b"hello").await?;
//! let mut buf = [0u8; 1024];
//! let n = sock.recv(&mut buf).await?;
//! # let _ = n;
//! let event = cluster.next_event_async().await?;
//! # let _ = event;
//! # Ok(()) }
//! ```
//!
//! The blocking calls of [`Cluster`] (requests to the daemon) stay
//! blocking: they are answered at once by a local daemon.

use std::io;
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

use crate::socket::MeshSocket;
use crate::{Cluster, Error, Event, NodeId, Semantics};

/// A [`MeshSocket`] driven by tokio's reactor (`O_NONBLOCK`, registered
/// with [`AsyncFd`]): async [`send`](Self::send) and [`recv`](Self::recv)
/// of one message on datagram, reliable and sequenced sockets,
/// [`AsyncRead`] and [`AsyncWrite`] for stream sockets, and async
/// [`accept`](Self::accept) on stream listeners.
///
/// Made and used inside a tokio runtime with I/O enabled.
#[derive(Debug)]
pub struct AsyncMeshSocket {
    inner: AsyncFd<MeshSocket>,
}

impl AsyncMeshSocket {
    /// Makes `socket` non-blocking and registers it with the current tokio
    /// runtime (an error outside one).
    pub fn new(socket: MeshSocket) -> io::Result<AsyncMeshSocket> {
        socket.set_nonblocking(true)?;
        // Deprecated in tokio 1.54 for types whose descriptor may close
        // while registered; `MeshSocket` owns its descriptor for as long
        // as the `AsyncFd` holds it. (Its replacement, the unsafe
        // `register`, is not in the tokio versions this crate accepts.)
        #[allow(deprecated)]
        let inner = AsyncFd::new(socket)?;
        Ok(AsyncMeshSocket { inner })
    }

    /// The socket, blocking again.
    pub fn into_inner(self) -> io::Result<MeshSocket> {
        let socket = self.inner.into_inner();
        socket.set_nonblocking(false)?;
        Ok(socket)
    }

    /// The socket underneath (non-blocking while wrapped).
    pub fn get_ref(&self) -> &MeshSocket {
        self.inner.get_ref()
    }

    /// The daemon's id for the socket, as carried by its events.
    pub fn id(&self) -> u32 {
        self.get_ref().id()
    }

    /// The socket's semantics.
    pub fn semantics(&self) -> Semantics {
        self.get_ref().semantics()
    }

    /// Sends one message (or, on a stream, some bytes), waiting while the
    /// socket is full (the daemon applies backpressure this way).
    pub async fn send(&self, msg: &[u8]) -> io::Result<usize> {
        self.inner.async_io(Interest::WRITABLE, |s| s.send(msg)).await
    }

    /// Receives one message into `buf` (or some bytes of a stream; 0 on a
    /// stream is the end), waiting for one. A message longer than `buf` is
    /// an [`io::ErrorKind::InvalidData`] error, as with
    /// [`MeshSocket::recv`].
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.async_io(Interest::READABLE, |s| s.recv(buf)).await
    }

    /// The next stream a peer opened (listening sockets): the peer and the
    /// stream, itself async.
    pub async fn accept(&self) -> io::Result<(NodeId, AsyncMeshSocket)> {
        let (peer, stream) = self.inner.async_io(Interest::READABLE, |s| s.accept()).await?;
        Ok((peer, AsyncMeshSocket::new(stream)?))
    }

    /// Ends the sending side of a stream (the peer reads its end).
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.get_ref().shutdown_write()
    }
}

impl AsyncRead for AsyncMeshSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|s| s.get_ref().recv(unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncWrite for AsyncMeshSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|s| s.get_ref().send(buf)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Ends the sending side ([`shutdown_write`](AsyncMeshSocket::shutdown_write)).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown_write())
    }
}

/// The control connection's descriptor, borrowed for a readiness wait.
struct Raw(std::os::fd::RawFd);

impl AsRawFd for Raw {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

impl Cluster {
    /// The next event from the daemon, waiting for it without blocking the
    /// runtime (tokio; the cargo feature `tokio`). Events that came with
    /// answers to requests are returned first.
    /// [`Error::DaemonGone`] when the daemon closes the connection.
    pub async fn next_event_async(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(e) = self.next_event(std::time::Duration::ZERO)? {
                return Ok(e);
            }
            // Registered after the connection was drained: epoll reports
            // at once what arrived in between. Readable covers the daemon
            // closing the connection too (the next read says so).
            // The connection outlives `fd`, a local of this borrow of
            // `self` (see `AsyncMeshSocket::new` on the deprecation).
            #[allow(deprecated)]
            let fd = AsyncFd::with_interest(Raw(self.as_raw_fd()), Interest::READABLE)?;
            drop(fd.readable().await?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdpass::{self, PairKind};
    use std::os::fd::{AsFd, OwnedFd};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An async mesh socket of `kind` and the daemon's end of it.
    fn pair(kind: PairKind, s: Semantics) -> (AsyncMeshSocket, OwnedFd) {
        let (daemon, app) = fdpass::pair(kind, false).unwrap();
        (AsyncMeshSocket::new(MeshSocket::new(app, 7, s)).unwrap(), daemon)
    }

    #[tokio::test]
    async fn packets_keep_their_boundaries_both_ways() {
        for (kind, s) in [
            (PairKind::SeqPacket, Semantics::Sequenced),
            (PairKind::SeqPacket, Semantics::Reliable),
            (PairKind::Datagram, Semantics::Datagram),
        ] {
            let (sock, daemon) = pair(kind, s);
            assert_eq!((sock.id(), sock.semantics()), (7, s));
            // Nothing to read yet: recv waits, and the daemon's messages
            // wake it.
            let reader = async {
                let mut got = Vec::new();
                let mut buf = [0u8; 64];
                for _ in 0..2 {
                    let n = sock.recv(&mut buf).await.unwrap();
                    got.push(buf[..n].to_vec());
                }
                got
            };
            let writer = async {
                tokio::task::yield_now().await;
                fdpass::send(&daemon, b"one").unwrap();
                fdpass::send(&daemon, b"two!").unwrap();
            };
            let (got, ()) = tokio::join!(reader, writer);
            assert_eq!(got, [b"one".to_vec(), b"two!".to_vec()]);
            assert_eq!(sock.send(b"out").await.unwrap(), 3);
            let mut buf = [0u8; 16];
            assert_eq!(fdpass::recv(&daemon, &mut buf).unwrap(), (3, false));
            assert_eq!(&buf[..3], b"out");
            // Too long for the buffer: a typed error, not a short message.
            fdpass::send(&daemon, &[1u8; 100]).unwrap();
            let e = sock.recv(&mut [0u8; 10]).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData);
            // Back to blocking.
            let blocking = sock.into_inner().unwrap();
            fdpass::send(&daemon, b"sync").unwrap();
            assert_eq!(blocking.recv(&mut buf).unwrap(), 4);
        }
    }

    #[tokio::test]
    async fn a_full_socket_makes_send_wait_until_the_daemon_reads() {
        let (sock, daemon) = pair(PairKind::SeqPacket, Semantics::Reliable);
        let msg = [9u8; 1024];
        // Fill it: the next send would block, so it must wait.
        let mut sent = 0;
        while sock.get_ref().send(&msg).is_ok() {
            sent += 1;
        }
        assert!(sent > 0);
        let drain = async {
            tokio::task::yield_now().await;
            let mut buf = [0u8; 2048];
            for _ in 0..sent {
                assert_eq!(fdpass::recv(&daemon, &mut buf).unwrap(), (1024, false));
            }
        };
        let (r, ()) = tokio::join!(sock.send(&msg), drain);
        assert_eq!(r.unwrap(), 1024);
        let mut buf = [0u8; 2048];
        assert_eq!(fdpass::recv(&daemon, &mut buf).unwrap(), (1024, false));
    }

    #[tokio::test]
    async fn a_stream_is_read_and_written_with_tokio_io() {
        let (mut sock, daemon) = pair(PairKind::Stream, Semantics::Stream);
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let daemon = std::os::unix::net::UnixStream::from(daemon);
        // The daemon's side echoes in a thread, blocking.
        let echo = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut d = daemon;
            let mut all = Vec::new();
            d.read_to_end(&mut all).unwrap();
            d.write_all(&all).unwrap();
            all.len()
        });
        sock.write_all(&big).await.unwrap();
        sock.shutdown().await.unwrap();
        let mut back = Vec::new();
        sock.read_to_end(&mut back).await.unwrap();
        assert_eq!(echo.join().unwrap(), big.len());
        assert!(back == big, "the bytes come back in order");
    }

    #[tokio::test]
    async fn accept_hands_over_an_async_stream() {
        let (listener, daemon) = pair(PairKind::SeqPacket, Semantics::Stream);
        let (mine, theirs) = fdpass::pair(PairKind::Stream, false).unwrap();
        let peer = NodeId([5; 16]);
        let accept = listener.accept();
        let hand = async {
            tokio::task::yield_now().await;
            fdpass::send_with_fd(daemon.as_fd(), &peer.0, theirs.as_fd()).unwrap();
        };
        let (r, ()) = tokio::join!(accept, hand);
        let (from, mut stream) = r.unwrap();
        assert_eq!(from, peer);
        assert_eq!(stream.semantics(), Semantics::Stream);
        fdpass::send(&mine, b"hi").unwrap();
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        // The daemon closing the listener ends accept with a typed error.
        drop(daemon);
        let e = listener.accept().await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
    }
}
