//! Handles the core chooses: links, messages, streams.

use core::fmt;

/// Handle of one link, chosen by the core. Never reused within a node's
/// lifetime.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LinkId(pub u64);

impl fmt::Debug for LinkId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "link#{}", self.0)
    }
}

/// Handle of a message given to [`Node::send`](crate::node::Node::send) or
/// [`Node::shout`](crate::node::Node::shout), named again in its delivery report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(pub u64);

/// Local handle of a stream opened with
/// [`Node::open_stream`](crate::node::Node::open_stream) or announced by
/// [`Event::StreamOpened`](super::Event::StreamOpened).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);
