//! The builder: configuration of a node before its sockets are open.

use std::ops::Range;

use mio::Registry;
use netcluster_net::NodeSettings;

use crate::{Error, Handle, MioNode};

#[cfg(doc)]
use crate::MIN_TOKENS;

/// Builds and starts a node.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) settings: NodeSettings,
}

impl Builder {
    fn from_settings(settings: NodeSettings) -> Builder {
        Builder { settings }
    }

    netcluster_net::builder_methods!(events = "Events");

    /// Opens the sockets and starts the node on a thread of its own, with a
    /// [`mio::Poll`] of its own. Returns once the sockets are open.
    pub fn start(self) -> Result<Handle, Error> {
        crate::handle::start(self)
    }

    /// Opens the sockets and registers them in `registry` (the caller's
    /// [`mio::Poll`]) under the tokens of `tokens`, which the node owns from
    /// then on (see [`MioNode`] for the calling contract). The first
    /// [`MIN_TOKENS`] tokens of the range are the node's sockets; the
    /// others are its TCP links, one each: a range of `MIN_TOKENS + n`
    /// tokens allows `n` links at once.
    ///
    /// ```no_run
    /// use mio::{Events, Poll};
    /// use netcluster_mio::Builder;
    ///
    /// let mut poll = Poll::new()?;
    /// let mut node = Builder::new("demo", "a").build(poll.registry(), 100..200)?;
    /// let mut events = Events::with_capacity(256);
    /// loop {
    ///     poll.poll(&mut events, node.poll_timeout())?;
    ///     for event in events.iter() {
    ///         if node.owns(event.token()) {
    ///             node.handle_event(event);
    ///         }
    ///     }
    ///     node.handle_deadline();
    ///     while let Some(event) = node.poll_event() {
    ///         println!("{event:?}");
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn build(self, registry: &Registry, tokens: Range<usize>) -> Result<MioNode, Error> {
        MioNode::new(self, registry, tokens)
    }
}
