//! The command methods every driver's `Handle` has, defined once so that
//! the drivers keep the same API (names, arguments, documentation).

/// Expands, inside a driver's `impl Handle`, the accessors `id`,
/// `link_addr` and `peers`, the query `links`, and the methods that hand
/// one command to the node and return its answer: `send`, `shout`, `ping`,
/// `send_many`, `join`, `leave`, `set_state`, `set_header` and `add_seed`.
/// `handle_methods!(async)` makes them `async fn`s, `handle_methods!(blocking)`
/// plain functions that block until the node has answered.
///
/// At the expansion site there must be:
///
/// - an `Error` type into which the replies' errors convert, and a
///   `Command` enum with the variants `Send(NodeId, SendOptions, Bytes, R)`,
///   `Shout(String, SendOptions, Bytes, R)`, `Ping(NodeId, R)`,
///   `SendMany(NodeId, SendOptions, Vec<Bytes>, R)`, `Join(String, R)`,
///   `Leave(String, R)`, `SetState(NodeState, R)`,
///   `SetHeader(String, Option<String>, R)` and `AddSeed(SocketAddr, R)`,
///   each `R` a reply slot for the node method's result;
/// - a field `shared` whose target has `id: NodeId`, `link_addr: SocketAddr`
///   and `hub: Arc<EventHub>` (for `id`, `link_addr` and `peers`);
/// - a method `call(&self, make: impl FnOnce(R) -> Command)` returning
///   `Result<T, Error>` (async for `async`) that sends the command made with
///   a fresh reply slot and waits for the answer;
/// - a method `query(&self, f: impl FnOnce(&Node) -> T + Send + 'static)`
///   returning `Result<T, Error>` (async for `async`) that runs `f` on the
///   node between two inputs (for `links`).
#[macro_export]
macro_rules! handle_methods {
    (async) => {
        $crate::handle_methods!(@expand [async] [.await]);
    };
    (blocking) => {
        $crate::handle_methods!(@expand [] []);
    };
    (@expand [$($async:tt)*] [$($await:tt)*]) => {
        /// This node's id.
        pub fn id(&self) -> $crate::__core::NodeId {
            self.shared.id
        }

        /// The local address of the link port (TCP listener or datagram
        /// socket), with the port actually bound: what to give other nodes
        /// as a seed.
        pub fn link_addr(&self) -> std::net::SocketAddr {
            self.shared.link_addr
        }

        /// Every reachable peer, in id order, as of the latest event, with
        /// its traffic figures (rates to and from it, round trip) as of the
        /// node's latest sample, once a second (see `PeerTraffic`).
        pub fn peers(&self) -> Vec<$crate::__core::node::PeerInfo> {
            self.shared.hub.peers().as_ref().clone()
        }

        /// Every link of the node, in id order, with its peer, address and
        /// kind, and its output queue now: bytes and frames queued, the
        /// peak, and the DATA it dropped and marked (see `LinkInfo`).
        pub $($async)* fn links(&self) -> Result<Vec<$crate::__core::node::LinkInfo>, Error> {
            self.query(|node| node.links())$($await)*
        }

        /// Sends `payload` to the node `to` with the given semantics, or
        /// `SendOptions` (semantics, priority 0 most urgent to 7, and
        /// optionally the delivery report, timeout and retransmission
        /// limit).
        /// Reliable and Sequenced messages are reported later as
        /// `Event::Delivered` or `Event::SendFailed` with the returned id; a
        /// full window is refused with `SendError::WouldBlock` until
        /// `Event::Writable`.
        pub $($async)* fn send(
            &self,
            to: $crate::__core::NodeId,
            how: impl Into<$crate::__core::node::SendOptions>,
            payload: impl Into<$crate::__bytes::Bytes>,
        ) -> Result<$crate::__core::node::MessageId, Error> {
            let (how, payload) = (how.into(), payload.into());
            self.call(|tx| Command::Send(to, how, payload, tx))$($await)*
        }

        /// Sends `payload` to every reachable member of `group` (`""`: every
        /// node).
        pub $($async)* fn shout(
            &self,
            group: impl Into<String>,
            how: impl Into<$crate::__core::node::SendOptions>,
            payload: impl Into<$crate::__bytes::Bytes>,
        ) -> Result<$crate::__core::node::MessageId, Error> {
            let (group, how, payload) = (group.into(), how.into(), payload.into());
            self.call(|tx| Command::Shout(group, how, payload, tx))$($await)*
        }

        /// Measures the round trip to `to` through the mesh: an
        /// `Event::Pong` with the returned id reports it (subscribe to the
        /// events before calling, so as not to miss it). Nothing is
        /// reported if the ping or its answer is lost: wait with a timeout
        /// of your own.
        pub $($async)* fn ping(
            &self,
            to: $crate::__core::NodeId,
        ) -> Result<$crate::__core::node::MessageId, Error> {
            self.call(|tx| Command::Ping(to, tx))$($await)*
        }

        /// Sends several messages to `to` in one call to the node, in order,
        /// stopping at the first one it refuses: the ids of those accepted
        /// (the first `ids.len()` payloads), and why the next was refused,
        /// if one was. For many small messages this is much cheaper than one
        /// [`send`](Self::send) each, which waits for the node's answer.
        pub $($async)* fn send_many(
            &self,
            to: $crate::__core::NodeId,
            how: impl Into<$crate::__core::node::SendOptions>,
            payloads: impl IntoIterator<Item = $crate::__bytes::Bytes>,
        ) -> Result<$crate::SendMany, Error> {
            let how = how.into();
            let payloads: Vec<$crate::__bytes::Bytes> = payloads.into_iter().collect();
            self.call(|tx| Command::SendMany(to, how, payloads, tx))$($await)*
        }

        /// Joins `group`.
        pub $($async)* fn join(&self, group: impl Into<String>) -> Result<(), Error> {
            let g = group.into();
            self.call(|tx| Command::Join(g, tx))$($await)*
        }

        /// Leaves `group`.
        pub $($async)* fn leave(&self, group: impl Into<String>) -> Result<(), Error> {
            let g = group.into();
            self.call(|tx| Command::Leave(g, tx))$($await)*
        }

        /// Sets the announced state (use [`shutdown`](Self::shutdown) to
        /// leave).
        pub $($async)* fn set_state(&self, state: $crate::__core::NodeState) -> Result<(), Error> {
            self.call(|tx| Command::SetState(state, tx))$($await)*
        }

        /// Sets (or with `None`, removes) one announced attribute.
        pub $($async)* fn set_header(
            &self,
            key: impl Into<String>,
            value: Option<impl Into<String>>,
        ) -> Result<(), Error> {
            let (k, v) = (key.into(), value.map(Into::into));
            self.call(|tx| Command::SetHeader(k, v, tx))$($await)*
        }

        /// Adds a static seed.
        pub $($async)* fn add_seed(&self, addr: ::std::net::SocketAddr) -> Result<(), Error> {
            self.call(|tx| Command::AddSeed(addr, tx))$($await)*
        }
    };
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future;
    use std::net::SocketAddr;
    use std::pin::pin;
    use std::sync::mpsc::{channel, Sender};
    use std::task::{Context, Poll, Waker};

    use bytes::Bytes;
    use netcluster_core::node::{CommandError, MessageId, SendError, SendOptions};
    use netcluster_core::wire::link::Semantics;
    use netcluster_core::{Config, Instant, Node, NodeId, NodeState};

    use crate::SendMany;

    #[derive(Debug, PartialEq)]
    enum Error {
        Command(CommandError),
        Send(SendError),
    }

    impl From<CommandError> for Error {
        fn from(e: CommandError) -> Error {
            Error::Command(e)
        }
    }

    impl From<SendError> for Error {
        fn from(e: SendError) -> Error {
            Error::Send(e)
        }
    }

    type Reply<T> = Sender<T>;

    enum Command {
        Join(String, Reply<Result<(), CommandError>>),
        Leave(String, Reply<Result<(), CommandError>>),
        SetState(NodeState, Reply<Result<(), CommandError>>),
        SetHeader(String, Option<String>, Reply<Result<(), CommandError>>),
        AddSeed(SocketAddr, Reply<Result<(), CommandError>>),
        Send(NodeId, SendOptions, Bytes, Reply<Result<MessageId, SendError>>),
        Shout(String, SendOptions, Bytes, Reply<Result<MessageId, SendError>>),
        Ping(NodeId, Reply<Result<MessageId, SendError>>),
        SendMany(NodeId, SendOptions, Vec<Bytes>, Reply<Result<SendMany, SendError>>),
    }

    /// Carries out a command at once, as a driver's loop would.
    fn run(node: &mut Node, c: Command) {
        let now = Instant::ZERO;
        // The test keeps every receiver until it has read the reply.
        match c {
            Command::Join(g, r) => drop(r.send(node.join(now, &g))),
            Command::Leave(g, r) => drop(r.send(node.leave(now, &g))),
            Command::SetState(s, r) => drop(r.send(node.set_state(now, s))),
            Command::SetHeader(k, v, r) => drop(r.send(node.set_header(now, &k, v.as_deref()))),
            Command::AddSeed(a, r) => {
                node.add_seed(now, a);
                drop(r.send(Ok(())))
            }
            Command::Send(to, s, p, r) => drop(r.send(node.send(now, to, s, p))),
            Command::Shout(g, s, p, r) => drop(r.send(node.shout(now, &g, s, p))),
            Command::Ping(to, r) => drop(r.send(node.ping(now, to))),
            Command::SendMany(to, s, p, r) => {
                drop(r.send(Ok(crate::send_many(node, now, to, s, p))))
            }
        }
    }

    fn node() -> RefCell<Node> {
        let node = Node::new(Config::lan("c", "n"), NodeId([1; 16]), 1, Instant::ZERO);
        RefCell::new(node.expect("the LAN preset is valid"))
    }

    /// What a driver's handles share, as far as the accessors read it.
    struct Shared {
        id: NodeId,
        link_addr: std::net::SocketAddr,
        hub: std::sync::Arc<crate::events::EventHub>,
    }

    fn shared() -> Shared {
        Shared {
            id: NodeId([1; 16]),
            link_addr: "127.0.0.1:7400".parse().unwrap(),
            hub: std::sync::Arc::new(crate::events::EventHub::new(4, std::sync::Arc::new(|| {}))),
        }
    }

    struct Blocking {
        node: RefCell<Node>,
        shared: Shared,
    }

    impl Blocking {
        fn call<T, E: Into<Error>>(
            &self,
            make: impl FnOnce(Reply<Result<T, E>>) -> Command,
        ) -> Result<T, Error> {
            let (tx, rx) = channel();
            run(&mut self.node.borrow_mut(), make(tx));
            rx.recv().unwrap().map_err(Into::into)
        }

        fn shutdown(&self) {}

        fn query<T>(&self, f: impl FnOnce(&Node) -> T + Send + 'static) -> Result<T, Error> {
            Ok(f(&self.node.borrow()))
        }

        crate::handle_methods!(blocking);
    }

    struct Async {
        node: RefCell<Node>,
        shared: Shared,
    }

    impl Async {
        async fn call<T, E: Into<Error>>(
            &self,
            make: impl FnOnce(Reply<Result<T, E>>) -> Command,
        ) -> Result<T, Error> {
            let (tx, rx) = channel();
            run(&mut self.node.borrow_mut(), make(tx));
            rx.recv().unwrap().map_err(Into::into)
        }

        fn shutdown(&self) {}

        async fn query<T>(&self, f: impl FnOnce(&Node) -> T + Send + 'static) -> Result<T, Error> {
            Ok(f(&self.node.borrow()))
        }

        crate::handle_methods!(async);
    }

    /// The answer of a future that never waits.
    fn now<T>(f: impl Future<Output = T>) -> T {
        match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(t) => t,
            Poll::Pending => panic!("the command waited"),
        }
    }

    #[test]
    fn blocking_methods_carry_out_the_commands() {
        let h = Blocking { node: node(), shared: shared() };
        assert_eq!((h.id(), h.link_addr().port()), (NodeId([1; 16]), 7400));
        assert!(h.peers().is_empty());
        h.shutdown();
        h.join("g").unwrap();
        assert!(h.node.borrow().groups().any(|g| g == "g"));
        h.leave("g").unwrap();
        assert!(!h.node.borrow().groups().any(|g| g == "g"));
        assert_eq!(h.join("x".repeat(300)), Err(Error::Command(CommandError::NameTooLong)));
        h.set_header("k", Some("v")).unwrap();
        h.set_header("k", None::<String>).unwrap();
        h.set_state(NodeState::Ready).unwrap();
        h.add_seed("192.0.2.1:7400".parse().unwrap()).unwrap();
        let stranger = NodeId([9; 16]);
        assert!(matches!(h.send(stranger, Semantics::Reliable, &b"x"[..]), Err(Error::Send(_))));
        assert!(matches!(h.ping(stranger), Err(Error::Send(_))));
        h.shout("", Semantics::Datagram, &b"x"[..]).unwrap();
        let many = h.send_many(stranger, Semantics::Reliable, vec![Bytes::from_static(b"x")]);
        let many = many.unwrap();
        assert!(many.ids.is_empty() && many.refused.is_some());
        assert!(h.links().unwrap().is_empty(), "no link yet");
    }

    #[test]
    fn async_methods_carry_out_the_commands() {
        let h = Async { node: node(), shared: shared() };
        assert_eq!(h.link_addr().port(), 7400);
        assert_eq!(h.id(), NodeId([1; 16]));
        assert!(h.peers().is_empty());
        h.shutdown();
        now(h.join("g")).unwrap();
        assert!(h.node.borrow().groups().any(|g| g == "g"));
        now(h.leave("g")).unwrap();
        now(h.set_header("k", Some("v"))).unwrap();
        now(h.set_state(NodeState::Ready)).unwrap();
        now(h.add_seed("192.0.2.1:7400".parse().unwrap())).unwrap();
        let stranger = NodeId([9; 16]);
        let sent = now(h.send(stranger, Semantics::Reliable, &b"x"[..]));
        assert!(matches!(sent, Err(Error::Send(_))));
        assert!(matches!(now(h.ping(stranger)), Err(Error::Send(_))));
        now(h.shout("", Semantics::Datagram, &b"x"[..])).unwrap();
        let many = now(h.send_many(stranger, Semantics::Reliable, [Bytes::from_static(b"x")]));
        assert!(many.unwrap().refused.is_some());
        assert!(now(h.links()).unwrap().is_empty(), "no link yet");
    }
}
