//! The builder: configuration and driver limits before start.

use netcluster_net::NodeSettings;

use crate::{driver, Error, Handle};

/// Default of [`Builder::datagram_buffer`].
const DATAGRAM_BUFFER: usize = 4 << 20;

/// Builds and starts a node.
#[derive(Debug, Clone)]
pub struct Builder {
    pub(crate) settings: NodeSettings,
    /// Receive buffer asked for the unicast sockets in datagram link mode.
    pub(crate) datagram_buffer: usize,
}

impl Builder {
    fn from_settings(settings: NodeSettings) -> Builder {
        Builder { settings, datagram_buffer: DATAGRAM_BUFFER }
    }

    netcluster_net::builder_methods!(events = "EventStream");

    /// Receive buffer asked of the OS for the unicast sockets in datagram
    /// link mode (default 4 MiB; the kernel may grant less, e.g. Linux caps
    /// it at `net.core.rmem_max`). A large message arrives as a burst of
    /// fragments, and what the buffer cannot hold while the node's thread
    /// waits for the CPU is lost and must be sent again. Not available with
    /// `netcluster-tokio`; 0 keeps the OS default.
    pub fn datagram_buffer(mut self, bytes: usize) -> Builder {
        self.datagram_buffer = bytes;
        self
    }

    /// Opens the sockets, registers them with the async-io reactor and
    /// starts the node's thread (see the [crate docs](crate) for the
    /// threading model). Works under any executor, or none.
    pub async fn start(self) -> Result<Handle, Error> {
        driver::start(self)
    }
}
