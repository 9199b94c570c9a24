"""The local sub-protocol (id 5) of docs/PROTOCOL.md section 16: frames
between an application and the netcluster host daemon.

Every integer is big-endian. A frame is a 10-byte header (magic "NC",
protocol 5, version 1, msg_type, flags 0, length of the whole frame) and a
body. Decoding never trusts a length: a short or inconsistent body raises
ProtocolError.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

MAGIC = 0x4E43
PROTOCOL_ADMIN = 3
PROTOCOL_LOCAL = 5
VERSION = 1
HEADER = struct.Struct(">HBBBBI")
HEADER_LEN = HEADER.size
MAX_FRAME = 1 << 20

# Message types.
CONNECT = 1
CONNECTED = 2
SOCKET = 3
SOCKET_OPENED = 4
PEERS_REQUEST = 5
PEERS = 6
NODE_REQUEST = 7
NODE = 8
RESULT = 10
EVENT = 12
PEERS_TRAFFIC_REQUEST = 13
PEERS_TRAFFIC = 14
NOT_MEASURED = 0xFFFFFFFF

# Semantics.
DATAGRAM = 0
RELIABLE = 1
SEQUENCED = 2
STREAM = 3

# Target kinds.
PEER = 0
GROUP = 1
LISTEN_STREAMS = 2
GROUP_RECEIVE = 3

STATUS_NAMES = [
    "ok",
    "bad_request",
    "unknown_target",
    "unreachable",
    "limit",
    "unsupported",
    "not_connected",
    "already_connected",
    "failed",
]
EVENT_NAMES = ["delivery_failed", "stream_reset", "socket_closed", "dropped"]


class ProtocolError(Exception):
    """The daemon sent something this client cannot decode."""


def str8(s: str) -> bytes:
    b = s.encode()
    if len(b) > 255:
        raise ValueError(f"{s!r} is longer than 255 bytes")
    return bytes([len(b)]) + b


def str16(s: str) -> bytes:
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def frame(msg_type: int, body: bytes) -> bytes:
    return HEADER.pack(MAGIC, PROTOCOL_LOCAL, VERSION, msg_type, 0, HEADER_LEN + len(body)) + body


def frame_len(buf: bytes) -> Optional[int]:
    """The length of the frame at the start of buf, None if its header is
    not complete yet."""
    if len(buf) < HEADER_LEN:
        if len(buf) >= 2 and struct.unpack(">H", buf[:2])[0] != MAGIC:
            raise ProtocolError("bad magic")
        return None
    magic, _proto, _ver, _t, _flags, length = HEADER.unpack(buf[:HEADER_LEN])
    if magic != MAGIC:
        raise ProtocolError("bad magic")
    if length < HEADER_LEN or length > MAX_FRAME:
        raise ProtocolError(f"bad frame length {length}")
    return int(length)


class Reader:
    """Reads fields from a body, refusing anything short."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated body")
        b = self.data[self.pos : self.pos + n]
        self.pos += n
        return b

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        v: int = struct.unpack(">H", self.take(2))[0]
        return v

    def u32(self) -> int:
        v: int = struct.unpack(">I", self.take(4))[0]
        return v

    def u64(self) -> int:
        v: int = struct.unpack(">Q", self.take(8))[0]
        return v

    def str8(self) -> str:
        return self.take(self.u8()).decode()

    def str16(self) -> str:
        return self.take(self.u16()).decode()

    def end(self) -> None:
        if self.pos != len(self.data):
            raise ProtocolError("trailing bytes")


@dataclass
class Peer:
    """A node of the mesh (Net::Cluster's Node): id, name, groups,
    attributes, hops from the daemon's node, link address."""

    id: str
    name: str
    groups: List[str] = field(default_factory=list)
    attributes: List[Tuple[str, str]] = field(default_factory=list)
    hops: int = 0
    addr: str = ""
    incarnation: int = 0


def node_id_text(b: bytes) -> str:
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def member_record(r: Reader) -> Peer:
    node = r.take(16)
    incarnation = r.u64()
    _state = r.u8()
    hops = r.u8()
    family = r.u8()
    port = r.u16()
    if family == 4:
        ip = str(ipaddress.IPv4Address(r.take(4)))
        addr = f"{ip}:{port}"
    elif family == 6:
        ip = str(ipaddress.IPv6Address(r.take(16)))
        addr = f"[{ip}]:{port}"
    else:
        raise ProtocolError("bad address family")
    name = r.str8()
    groups = [r.str8() for _ in range(r.u16())]
    attrs = [(r.str8(), r.str16()) for _ in range(r.u16())]
    return Peer(node_id_text(node), name, groups, attrs, hops, addr, incarnation)


@dataclass
class Rates:
    """What the daemon's node exchanges with a peer (Net::Cluster's
    get_bandwidth), per second over the last 5 s, and the smoothed round
    trip in microseconds (None until measured)."""

    rx_bytes_per_sec: int
    tx_bytes_per_sec: int
    rx_msgs_per_sec: int
    tx_msgs_per_sec: int
    srtt_us: Optional[int]


def traffic_record(r: Reader) -> Tuple[Peer, Rates]:
    rx_b, tx_b, rx_m, tx_m = r.u64(), r.u64(), r.u64(), r.u64()
    srtt = r.u32()
    rates = Rates(rx_b, tx_b, rx_m, tx_m, None if srtt == NOT_MEASURED else srtt)
    return member_record(r), rates


@dataclass
class Event:
    """Something the daemon reported about a socket: kind is one of
    delivery_failed, stream_reset, socket_closed, dropped."""

    socket_id: int
    kind: str
    peer: str
    detail: str


def connect(request_id: int, cluster: str, broadcast: bool, name: str, tracker: str, seeds: List[str]) -> bytes:
    body = struct.pack(">IB", request_id, 1 if broadcast else 0)
    body += str8(cluster) + str8(name) + str8(tracker)
    body += struct.pack(">H", len(seeds)) + b"".join(str8(s) for s in seeds)
    return frame(CONNECT, body)


def socket_request(request_id: int, semantics: int, kind: int, target: str, queue: int = 0, timeout_ms: int = 0, retries: int = 0) -> bytes:
    body = struct.pack(">IBBHIB", request_id, semantics, kind, queue, timeout_ms, retries)
    return frame(SOCKET, body + str8(target))


def peers_request(request_id: int, group: str) -> bytes:
    return frame(PEERS_REQUEST, struct.pack(">I", request_id) + str8(group))


def peers_traffic_request(request_id: int, group: str) -> bytes:
    return frame(PEERS_TRAFFIC_REQUEST, struct.pack(">I", request_id) + str8(group))


def node_request(request_id: int) -> bytes:
    return frame(NODE_REQUEST, struct.pack(">I", request_id))


@dataclass
class Message:
    """A decoded message from the daemon."""

    msg_type: int
    request_id: int
    node_id: str = ""
    socket_id: int = 0
    status: str = ""
    detail: str = ""
    peers: List[Peer] = field(default_factory=list)
    rates: List[Rates] = field(default_factory=list)
    event: Optional[Event] = None


def decode(buf: bytes) -> Message:
    """Decodes one whole frame from the daemon."""
    magic, proto, version, msg_type, flags, length = HEADER.unpack(buf[:HEADER_LEN])
    if proto != PROTOCOL_LOCAL:
        raise ProtocolError(f"sub-protocol {proto}, not local")
    if version != VERSION:
        raise ProtocolError(f"local version {version}, this client speaks {VERSION}")
    if flags != 0:
        raise ProtocolError("unexpected frame flags")
    r = Reader(buf[HEADER_LEN:length])
    first = r.u32()
    m = Message(msg_type, first)
    if msg_type == CONNECTED:
        m.node_id = node_id_text(r.take(16))
    elif msg_type == SOCKET_OPENED:
        m.socket_id = r.u32()
    elif msg_type == PEERS:
        m.peers = [member_record(r) for _ in range(r.u16())]
    elif msg_type == PEERS_TRAFFIC:
        for _ in range(r.u16()):
            one, rates = traffic_record(r)
            m.peers.append(one)
            m.rates.append(rates)
    elif msg_type == NODE:
        m.peers = [member_record(r)]
    elif msg_type == RESULT:
        code = r.u8()
        if code >= len(STATUS_NAMES):
            raise ProtocolError("bad status")
        m.status = STATUS_NAMES[code]
        m.detail = r.str16()
    elif msg_type == EVENT:
        kind = r.u8()
        if kind >= len(EVENT_NAMES):
            raise ProtocolError("bad event kind")
        peer = node_id_text(r.take(16))
        m.event = Event(first, EVENT_NAMES[kind], peer, r.str16())
    else:
        raise ProtocolError(f"unexpected message type {msg_type}")
    r.end()
    return m
