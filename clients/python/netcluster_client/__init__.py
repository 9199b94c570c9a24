"""netcluster_client: use a netcluster mesh through the host daemon
(`netcluster agent`), on the Python standard library alone.

    from netcluster_client import Cluster, SEQUENCED
    c = Cluster("demo")
    s = c.socket("bravo", SEQUENCED)
    s.send(b"hello")

The local sub-protocol is specified in docs/PROTOCOL.md section 16.
"""

from ._client import (
    Cluster,
    DaemonGone,
    MeshSocket,
    MessageTooLong,
    NetclusterError,
    NoDaemon,
    NotOwner,
    Refused,
    Timeout,
    default_socket,
)
from ._protocol import (
    DATAGRAM,
    GROUP,
    GROUP_RECEIVE,
    LISTEN_STREAMS,
    PEER,
    RELIABLE,
    SEQUENCED,
    STREAM,
    Event,
    Peer,
    ProtocolError,
    Rates,
)

__all__ = [
    "Cluster", "DaemonGone", "MeshSocket", "MessageTooLong", "NetclusterError", "NoDaemon", "NotOwner", "Refused",
    "Timeout", "default_socket", "DATAGRAM", "GROUP", "GROUP_RECEIVE", "LISTEN_STREAMS", "PEER",
    "RELIABLE", "SEQUENCED", "STREAM", "Event", "Peer", "ProtocolError", "Rates",
]
