//! TCP links: the outgoing connect, and each link's reader and writer tasks.

use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_io::{Async, Timer};
use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use netcluster_core::node::{LinkCloseReason, LinkId};
use netcluster_net::backlog::Backlog;
use netcluster_net::recv_buf::RecvBuffer;
use netcluster_net::socket2::SockRef;
use netcluster_net::{DriverLimits, NetError};

/// Queued writes are coalesced into one system call up to this size.
const WRITE_BATCH: usize = 64 * 1024;

/// What link tasks report to the node's loop.
pub(crate) enum LinkInput {
    Connected(LinkId, Async<TcpStream>, SocketAddr),
    ConnectFailed(LinkId, NetError),
    Data(LinkId, Bytes),
    Closed(LinkId, LinkCloseReason),
    /// The link's writer has room again (see `Backlog`).
    Drained(LinkId),
}

/// A writer's ties to the node's loop: the backlog it writes down, and
/// where it reports.
pub(crate) struct Writer {
    pub(crate) link: LinkId,
    pub(crate) backlog: Arc<Backlog>,
    pub(crate) limits: DriverLimits,
    pub(crate) tx: async_channel::Sender<LinkInput>,
}

/// What the node's loop asks of a link's writer.
pub(crate) enum WriteOp {
    Data(Bytes),
    /// Flush what is queued, then shut the stream down.
    Close,
}

/// Connects to `addr` within `timeout`; returns the stream and its local
/// address. `TCP_NODELAY` is set by the socket layer before connecting.
pub(crate) async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<(Async<TcpStream>, SocketAddr), NetError> {
    let attempt = async {
        let err = |source| NetError::Connect { addr, source };
        let stream = Async::new(netcluster_net::connect_start(addr)?).map_err(err)?;
        stream.writable().await.map_err(err)?;
        let local = netcluster_net::connect_finish(SockRef::from(stream.get_ref()), addr)?;
        Ok((stream, local))
    };
    let expired = async {
        Timer::after(timeout).await;
        Err(NetError::Connect { addr, source: ErrorKind::TimedOut.into() })
    };
    futures_lite::future::or(attempt, expired).await
}

/// Reads the link until EOF or an error, handing each chunk to the loop.
pub(crate) async fn read_loop(
    link: LinkId,
    stream: Rc<Async<TcpStream>>,
    mut buf: RecvBuffer,
    tx: async_channel::Sender<LinkInput>,
) {
    loop {
        match (&*stream).read(buf.space()).await {
            Ok(0) => {
                let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Remote)).await;
                return;
            }
            Ok(n) => {
                let Some(frames) = buf.take(n) else { continue };
                // A bounded channel: a slow node loop slows the reading,
                // and TCP flow control slows the sender.
                if tx.send(LinkInput::Data(link, frames)).await.is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                tracing::debug!(?link, error = %e, "link read failed");
                let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Error)).await;
                return;
            }
        }
    }
}

/// Writes what the loop queues, in order, until told to close or the queue
/// is dropped; then shuts the write side down so the peer sees EOF after
/// the last byte.
pub(crate) async fn write_loop(
    stream: Rc<Async<TcpStream>>,
    rx: async_channel::Receiver<WriteOp>,
    out: Writer,
) {
    let (link, tx) = (out.link, &out.tx);
    let mut batch: Vec<u8> = Vec::new();
    let mut closing = false;
    while !closing {
        let first = match rx.recv().await {
            Ok(WriteOp::Data(d)) => d,
            Ok(WriteOp::Close) | Err(_) => break,
        };
        let mut frames = 1;
        // Whatever else is queued goes out in the same system call: small
        // frames with TCP_NODELAY would otherwise cost a segment each.
        let mut data = first;
        while data.len() + batch.len() < WRITE_BATCH {
            match rx.try_recv() {
                Ok(WriteOp::Data(more)) => {
                    if batch.is_empty() {
                        batch.extend_from_slice(&data);
                    }
                    batch.extend_from_slice(&more);
                    data = Bytes::new();
                    frames += 1;
                }
                Ok(WriteOp::Close) => {
                    closing = true;
                    break;
                }
                Err(_) => break,
            }
        }
        let bytes: &[u8] = if batch.is_empty() { &data } else { &batch };
        if let Err(e) = (&*stream).write_all(bytes).await {
            tracing::debug!(?link, error = %e, "link write failed");
            let _ = tx.send(LinkInput::Closed(link, LinkCloseReason::Error)).await;
            return;
        }
        if out.backlog.written(frames, bytes.len(), &out.limits) {
            let _ = tx.send(LinkInput::Drained(link)).await;
        }
        batch.clear();
    }
    if let Err(e) = stream.get_ref().shutdown(Shutdown::Write) {
        tracing::debug!(?link, error = %e, "link shutdown failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netcluster_net::socket2::{Domain, Socket, Type};
    use std::net::Ipv4Addr;

    /// A listener whose accept queue is full, so that a further connect
    /// hangs (its SYNs are dropped), and the stream that fills it.
    fn black_hole() -> (Socket, TcpStream, SocketAddr) {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        s.bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into()).unwrap();
        s.listen(0).unwrap();
        let addr = s.local_addr().unwrap().as_socket().unwrap();
        let filler = TcpStream::connect(addr).unwrap();
        (s, filler, addr)
    }

    #[test]
    fn a_hanging_connect_is_given_up_at_the_timeout() {
        let (_listener, _filler, addr) = black_hole();
        let timeout = Duration::from_millis(300);
        let start = std::time::Instant::now();
        let r = async_io::block_on(connect(addr, timeout));
        match r {
            Err(NetError::Connect { addr: a, source }) => {
                assert_eq!(a, addr);
                assert_eq!(source.kind(), ErrorKind::TimedOut);
            }
            Err(e) => panic!("expected a timeout, got {e}"),
            Ok(_) => panic!("the connect to a full accept queue succeeded"),
        }
        assert!(start.elapsed() >= timeout, "given up after {:?}", start.elapsed());
    }

    #[test]
    fn a_refused_connect_is_typed() {
        // A port just freed: nothing listens there.
        let addr =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap();
        let r = async_io::block_on(connect(addr, Duration::from_secs(20)));
        match r {
            Err(NetError::Connect { addr: a, source }) => {
                assert_eq!(a, addr);
                assert_eq!(source.kind(), ErrorKind::ConnectionRefused);
            }
            Err(e) => panic!("expected a refusal, got {e}"),
            Ok(_) => panic!("connected to a closed port"),
        }
    }

    #[test]
    fn queued_writes_arrive_in_order_then_eof() {
        async_io::block_on(async {
            let listener = Async::<std::net::TcpListener>::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
            let addr = listener.get_ref().local_addr().unwrap();
            let (stream, _) = connect(addr, Duration::from_secs(20)).await.unwrap();
            let (mut peer, _) = listener.accept().await.unwrap();
            let (op_tx, op_rx) = async_channel::bounded(1024);
            let (in_tx, in_rx) = async_channel::bounded(16);
            // Many small writes queued before the writer runs: coalesced.
            let mut want = Vec::new();
            let backlog = Arc::new(Backlog::default());
            for i in 0..1000u32 {
                let frame = i.to_be_bytes().repeat(i as usize % 40 + 1);
                want.extend_from_slice(&frame);
                backlog.add(frame.len());
                op_tx.try_send(WriteOp::Data(Bytes::from(frame))).unwrap();
            }
            op_tx.try_send(WriteOp::Close).unwrap();
            let limits = DriverLimits::default();
            let out = Writer { link: LinkId(1), backlog: backlog.clone(), limits, tx: in_tx };
            write_loop(Rc::new(stream), op_rx, out).await;
            let mut got = Vec::new();
            peer.read_to_end(&mut got).await.unwrap();
            assert!(got == want, "{} bytes read, {} written", got.len(), want.len());
            assert!(in_rx.try_recv().is_err(), "a clean close reports nothing");
            assert_eq!(backlog.held(), (0, 0), "the writer took off what it wrote");
        });
    }
}
