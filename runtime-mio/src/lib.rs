//! # netcluster-mio
//!
//! The blocking netcluster driver on [mio]: binds the sans-IO [`Node`] of
//! `netcluster-core` to real sockets (opened by `netcluster-net`), with no
//! async runtime.
//!
//! ```no_run
//! use netcluster_mio::{Builder, Event, Semantics};
//!
//! let handle = Builder::new("demo", "node-a").group("workers").start()?;
//! for event in handle.events() {
//!     if let Event::PeerUp(peer) = event {
//!         handle.send(peer.id, Semantics::Reliable, &b"hello"[..])?;
//!         break;
//!     }
//! }
//! handle.shutdown();
//! # Ok::<(), netcluster_mio::Error>(())
//! ```
//!
//! # Two ways to run a node
//!
//! - **On its own thread**: [`Builder::start`] spawns one thread that owns
//!   the node, its sockets and a [`mio::Poll`], and returns a cloneable
//!   [`Handle`]. Every `Handle` method blocks the calling thread until the
//!   node's thread has carried it out: commands travel over a bounded
//!   channel and wake the poll through a [`mio::Waker`]. Events reach any
//!   number of independent [`Events`] subscribers (a blocking iterator,
//!   with [`Events::recv_timeout`] and [`Events::try_recv`]), or a callback
//!   ([`Handle::on_event`]) run on a thread of its own. Dropping every
//!   handle shuts the node down as [`Handle::shutdown`] does.
//! - **In the caller's own poll**: [`Builder::build`] returns a [`MioNode`]
//!   registered in the caller's [`mio::Registry`] under a range of tokens.
//!   The caller hands it the events of those tokens
//!   ([`MioNode::handle_event`]), calls [`MioNode::handle_deadline`] when
//!   [`MioNode::poll_timeout`] has passed, and drains
//!   [`MioNode::poll_event`]. `Builder::start` is this same type on a
//!   thread of its own: there is one implementation.
//!
//! # The loop
//!
//! Both follow the node's calling rule (see `netcluster_core::node`): one
//! input, then every output drained (transmits carried out in order, events
//! queued), then the one deadline re-read from [`Node::poll_timeout`]. A
//! wake-up is never trusted: the deadline is compared with the clock before
//! the node's timers run. Sources are edge-triggered; each is read at most
//! a bounded number of times per wake-up (64 datagrams, accepts or link
//! reads) so that no source starves the others, and a source cut short is
//! resumed at once on the next turn (a zero poll timeout while such work is
//! pending). Otherwise the poll timeout is the time to the deadline rounded
//! **up** to a whole millisecond, at least 1 ms: a deadline less than a
//! millisecond away never turns into a busy loop of zero-timeout polls.
//!
//! Links are non-blocking TCP streams (`TCP_NODELAY`, connected with a
//! timeout); each holds at most [`Builder::write_queue`] frames and
//! [`Builder::write_buffer`] bytes not yet written, the rest waiting in the
//! node's bounded link queue: a slow link slows its senders and is never
//! closed for being slow. A closed link is flushed first (bounded by the
//! [shutdown linger](Builder::shutdown_linger)). In
//! [`LinkMode::Datagram`] link frames travel on the unicast UDP socket.
//!
//! # Streams
//!
//! A [`PeerStream`] is an ordered byte stream to one peer through the mesh
//! (the core's `Stream` semantics), as a blocking [`std::io::Read`] and
//! [`std::io::Write`] (also through `&PeerStream`, so one thread can read
//! while another writes). One side opens it with [`Handle::open_stream`];
//! the peer takes it with [`Handle::accept_stream`] (or
//! [`Handle::accept_stream_timeout`]).
//!
//! ```no_run
//! use std::io::{Read, Write};
//! use netcluster_mio::{Builder, NodeId};
//!
//! # fn demo(peer: NodeId) -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Builder::new("demo", "node-a").start()?;
//! // One side: ask, half-close, read the answer to its end.
//! let mut stream = handle.open_stream(peer)?;
//! stream.write_all(b"ping")?;
//! stream.finish()?;
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer)?;
//!
//! // The other side (another node): read the request to its end, answer;
//! // dropping the stream finishes it.
//! let mut incoming = handle.accept_stream()?;
//! let mut request = Vec::new();
//! incoming.read_to_end(&mut request)?;
//! incoming.write_all(b"pong")?;
//! # Ok(()) }
//! ```
//!
//! - **Half-close**: [`PeerStream::finish`] ends the writing direction
//!   after the bytes written; the peer's reads then return `Ok(0)`, and the
//!   other direction stays open until the peer finishes too.
//! - **Drop = finish**: dropping a stream finishes it after the bytes
//!   already written; whatever the peer still sends is discarded.
//! - **Reset**: [`PeerStream::reset`] aborts both directions; the peer's
//!   reads and writes fail with [`std::io::ErrorKind::ConnectionReset`]. A
//!   stream whose bytes cannot be delivered fails the same way with
//!   `TimedOut` or `ConnectionAborted`, as do the streams of a node that
//!   stops.
//! - **Backpressure**: each direction buffers a bounded amount (the
//!   driver's [`STREAM_BUFFER`](netcluster_net::streams::STREAM_BUFFER),
//!   then the node's `stream_send_buffer` and `stream_window`); a writer
//!   blocks until the reader catches up.
//! - **Timeouts**: reads and writes wait without limit unless given one
//!   ([`PeerStream::set_read_timeout`], [`PeerStream::set_write_timeout`]).
//! - **Accepting**: streams peers opened wait in a queue of
//!   [`Builder::accept_queue`] (64); one that finds it full is reset, with
//!   a warning logged.
//!
//! A [`MioNode`] in the caller's own poll has the same streams
//! ([`MioNode::open_stream`], [`MioNode::accept_stream`]); their reads and
//! writes block until the loop moves the bytes, so they belong on other
//! threads than the loop's, and [`MioNode::set_stream_waker`] lets those
//! threads wake the loop. The node's `StreamReadable` and `StreamWritable`
//! events are consumed by the driver; `StreamOpened` and `StreamClosed`
//! are reported like any other event.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod builder;
mod handle;
mod io;
mod link;
mod mio_node;
mod streams;

pub use mio;
pub use netcluster_net::prelude::*;

pub use builder::Builder;
pub use handle::Handle;
pub use mio_node::{MioNode, MIN_TOKENS};
pub use netcluster_net::events::Events;
pub use streams::PeerStream;

/// Errors of the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A socket could not be opened or configured.
    #[error(transparent)]
    Net(#[from] NetError),
    /// mio refused a socket, the poll or the waker.
    #[error("cannot register with mio: {0}")]
    Poll(#[source] std::io::Error),
    /// The node's thread could not be spawned.
    #[error("cannot spawn the node's thread: {0}")]
    Thread(#[source] std::io::Error),
    /// The token range given to [`Builder::build`] is too small.
    #[error("the token range holds {len} tokens; at least {MIN_TOKENS} are needed")]
    Tokens {
        /// How many tokens the range held.
        len: usize,
    },
    /// The node refused the command.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The node refused a message (unreachable, window full, too large...).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The node refused to open a stream (peer unreachable, too many
    /// streams, shutting down...).
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The node has stopped (after [`Handle::shutdown`]).
    #[error("the node has stopped")]
    Stopped,
}
