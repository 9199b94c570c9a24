//! Link sub-protocol (id 2): everything said between two neighbours over a
//! link (a byte stream such as TCP, or a datagram channel).
//!
//! | type | message | module |
//! | ---: | --- | --- |
//! | 1 | HELLO | [`handshake`] |
//! | 2 | WELCOME | [`handshake`] |
//! | 3 | REJECT | [`handshake`] |
//! | 4 | ADVERTISE | [`keepalive`] |
//! | 5 | PING | [`keepalive`] |
//! | 6 | PONG | [`keepalive`] |
//! | 7 | LSA | [`routing`] |
//! | 8 | DATA | [`data`] |
//! | 9 | ACK | [`data`] |
//! | 10 | GOODBYE | [`handshake`] |
//! | 11 | ROUTE_ERROR | [`routing`] |
//! | 12 | LSA_ACK | [`routing`] |
//! | 13 | NOISE_INIT | [`secure`] |
//! | 14 | NOISE_RESP | [`secure`] |
//! | 15 | SEALED | [`secure`] |
//!
//! HELLO and REJECT keep one layout in every version of the sub-protocol, so
//! peers of any two versions can always negotiate or say why they cannot.

pub mod bundle;
pub mod data;
pub mod handshake;
pub mod keepalive;
pub mod route;
pub mod routing;
pub mod secure;
#[cfg(test)]
mod tests;

pub use bundle::{bundle_payload, BundleIter, BUNDLE_ENTRY_HEADER, BUNDLE_ENTRY_MAX};
pub use data::{
    Ack, AckRange, Data, Semantics, DATA_FLAGS_KNOWN, FLAG_BUNDLE, FLAG_FIN, FLAG_GROUP, FLAG_RST,
    FLAG_SYN,
};
pub use handshake::{
    ChosenVersion, Goodbye, GoodbyeReason, Hello, Intro, Reject, RejectReason, Welcome, CAP_AUTH,
    CAP_BATCH, CAP_NOISE,
};
pub use keepalive::{Advertise, Ping, Pong};
pub use route::Route;
pub use routing::{Lsa, LsaAck, LsaKey, Neighbour, RouteError};
pub use secure::{
    NoiseInit, NoiseResp, Sealed, NOISE_MSG_LEN, SEALED_MAX_CIPHERTEXT, SEALED_OVERHEAD,
    SEALED_TAG_LEN,
};

use super::header::Protocol;
use super::protocol_messages;

protocol_messages! {
    /// Any link message.
    pub enum LinkMessage(Protocol::Link) {
        /// Opens a link: who I am, what I speak.
        Hello(Hello),
        /// Accepts a link, with the versions chosen.
        Welcome(Welcome),
        /// Refuses a link, with the reason.
        Reject(Reject),
        /// Announces the sender's keepalive schedule.
        Advertise(Advertise),
        /// Liveness probe.
        Ping(Ping),
        /// Answer to a probe.
        Pong(Pong),
        /// Link-state advertisement.
        Lsa(Lsa),
        /// Application data, source-routed.
        Data(Data),
        /// End-to-end acknowledgement, source-routed.
        Ack(Ack),
        /// Clean close of the link.
        Goodbye(Goodbye),
        /// A source route met a dead link.
        RouteError(RouteError),
        /// LSAs received on a datagram link.
        LsaAck(LsaAck),
        /// The opener's Noise handshake message.
        NoiseInit(NoiseInit),
        /// The acceptor's Noise handshake answer.
        NoiseResp(NoiseResp),
        /// An encrypted record of link frames.
        Sealed(Sealed),
    }
}
