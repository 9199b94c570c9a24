"""Cluster and MeshSocket: the application side of the netcluster host
daemon, on the standard library only (socket, select, struct, fcntl)."""

from __future__ import annotations

import fcntl
import math
import os
import select
import socket
import subprocess
import time
from collections import deque
from typing import Deque, List, Optional, Tuple

from . import _protocol as p
from ._protocol import Event, Peer, ProtocolError

MAX_FDS = 4


class NetclusterError(Exception):
    """Base of every error of this package."""


class NoDaemon(NetclusterError):
    """No daemon answers and none could be started."""


class DaemonGone(NetclusterError):
    """The daemon closed the connection (it stopped or restarted): connect
    again; the sockets of this connection are gone."""


class NotOwner(NetclusterError):
    """The daemon's socket belongs to another user."""

    def __init__(self, path: str, owner: int) -> None:
        super().__init__(f"{path} belongs to uid {owner}, not to this user")
        self.path = path
        self.owner = owner


class Refused(NetclusterError):
    """The daemon refused the request: status is a code such as
    unknown_target, bad_request, unsupported, limit."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(f"refused ({status}): {reason}")
        self.status = status
        self.reason = reason


class MessageTooLong(NetclusterError):
    """A message did not fit the buffer given to recv."""


class Timeout(NetclusterError):
    """The daemon did not answer in time."""


def runtime_dir() -> str:
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "netcluster")
    return f"/tmp/netcluster-{os.getuid()}"


def default_socket() -> str:
    """$NETCLUSTER_SOCKET, else $XDG_RUNTIME_DIR/netcluster/agent.sock,
    else /tmp/netcluster-<uid>/agent.sock."""
    return os.environ.get("NETCLUSTER_SOCKET") or os.path.join(runtime_dir(), "agent.sock")


def _check_owner(path: str) -> None:
    try:
        owner = os.lstat(path).st_uid
    except FileNotFoundError:
        return
    me = os.getuid()
    if owner != me and me != 0:
        raise NotOwner(path, owner)


def _try_connect(path: str) -> Optional[socket.socket]:
    _check_owner(path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return s
    except (FileNotFoundError, ConnectionRefusedError):
        s.close()
        return None
    except OSError as e:
        s.close()
        raise NoDaemon(f"cannot connect to {path}: {e}") from e


def connect_daemon(path: str, start: bool = True, program: Optional[str] = None,
                   args: Optional[List[str]] = None, start_timeout: float = 10.0) -> socket.socket:
    """Connects to the daemon at path, starting one (under an exclusive
    flock on agent.lock beside the socket) if none answers."""
    s = _try_connect(path)
    if s is not None:
        return s
    if not start:
        raise NoDaemon(f"no daemon answers on {path}")
    d = os.path.dirname(path) or "."
    os.makedirs(d, mode=0o700, exist_ok=True)
    prog = program or os.environ.get("NETCLUSTER_AGENT") or "netcluster"
    with open(os.path.join(d, "agent.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        s = _try_connect(path)
        if s is not None:
            return s
        with open(os.path.join(d, "agent.log"), "ab") as log:
            try:
                child = subprocess.Popen(
                    [prog, "agent", "--admin", path] + list(args or []),
                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                )
            except OSError as e:
                raise NoDaemon(f"cannot start {prog}: {e}") from e
        deadline = time.monotonic() + start_timeout
        while True:
            s = _try_connect(path)
            if s is not None:
                return s
            if child.poll() is not None:
                raise NoDaemon(f"the daemon exited at start; see {d}/agent.log")
            if time.monotonic() > deadline:
                raise NoDaemon(f"the daemon did not answer on {path} in {start_timeout} s")
            time.sleep(0.02)


class MeshSocket:
    """A mesh socket: a real socket (SOCK_SEQPACKET for reliable and
    sequenced messages, SOCK_DGRAM for datagrams, SOCK_STREAM for streams)
    whose other end the daemon serves. Select on it, read and write it as
    any socket; sock is the socket.socket itself."""

    def __init__(self, fd: int, socket_id: int, semantics: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.socket_id = socket_id
        self.semantics = semantics

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, data: bytes) -> int:
        """Sends one message (or some bytes of a stream: see sendall)."""
        return self.sock.send(data)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, size: int = 65536) -> bytes:
        """One message (or some bytes of a stream; b"" is its end). A
        message longer than size raises MessageTooLong (its end is lost)."""
        if self.semantics == p.STREAM:
            return self.sock.recv(size)
        data, _anc, flags, _addr = self.sock.recvmsg(size)
        if flags & socket.MSG_TRUNC:
            raise MessageTooLong(f"a message longer than {size} bytes")
        return data

    def accept(self) -> Tuple[str, "MeshSocket"]:
        """The next stream a peer opened (listening sockets): the peer's id
        and the stream."""
        data, fds, _flags, _addr = socket.recv_fds(self.sock, 16, MAX_FDS)
        if len(data) != 16 or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise DaemonGone() if not data else ProtocolError("bad stream hand-over")
        return p.node_id_text(data), MeshSocket(fds[0], self.socket_id, p.STREAM)

    def shutdown_write(self) -> None:
        """Ends the sending side of a stream; it can still be read."""
        self.sock.shutdown(socket.SHUT_WR)

    def settimeout(self, t: Optional[float]) -> None:
        self.sock.settimeout(t)

    def setblocking(self, on: bool) -> None:
        self.sock.setblocking(on)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "MeshSocket":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Cluster:
    """A connection to the daemon attached to one cluster (Net::Cluster's
    new): broadcast turns LAN beacons on or off, tracker and seeds are
    host:port. Closing it closes every socket it opened, in the daemon."""

    def __init__(self, name: str, broadcast: bool = True, tracker: str = "",
                 seeds: Optional[List[str]] = None, node_name: str = "",
                 socket_path: Optional[str] = None, start_daemon: bool = True,
                 daemon_program: Optional[str] = None, daemon_args: Optional[List[str]] = None,
                 timeout: float = 30.0) -> None:
        self.name = name
        self.timeout = timeout
        self._path = socket_path or default_socket()
        self._conn = connect_daemon(self._path, start_daemon, daemon_program, daemon_args)
        self._buf = b""
        self._fds: Deque[int] = deque()
        self._events: Deque[Event] = deque()
        self._next = 1
        rid = self._id()
        self._send(p.connect(rid, name, broadcast, node_name, tracker, list(seeds or [])))
        m = self._answer(rid)
        if m.msg_type != p.CONNECTED:
            raise ProtocolError(f"unexpected answer {m.msg_type}")
        self.node_id = m.node_id

    def _id(self) -> int:
        rid = self._next
        self._next = (self._next % 0xFFFFFFFF) + 1
        return rid

    def _send(self, data: bytes) -> None:
        try:
            self._conn.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise DaemonGone() from e

    def _recv(self, deadline: Optional[float]) -> Optional[p.Message]:
        while True:
            n = p.frame_len(self._buf)
            if n is not None and len(self._buf) >= n:
                raw, self._buf = self._buf[:n], self._buf[n:]
                return p.decode(raw)
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            r, _, _ = select.select([self._conn], [], [], wait)
            if not r:
                return None
            try:
                data, fds, _flags, _addr = socket.recv_fds(self._conn, 65536, MAX_FDS)
            except (ConnectionResetError, BrokenPipeError) as e:
                raise DaemonGone() from e
            if not data and not fds:
                raise DaemonGone()
            self._buf += data
            self._fds.extend(fds)

    def _answer(self, rid: int) -> p.Message:
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._recv(deadline)
            if m is None:
                raise Timeout()
            if m.msg_type == p.EVENT and m.event is not None:
                self._events.append(m.event)
            elif m.request_id == rid:
                if m.msg_type == p.RESULT:
                    raise Refused(m.status, m.detail)
                return m

    def fileno(self) -> int:
        """The control connection: readable when an event waits."""
        return self._conn.fileno()

    def daemon_pid(self) -> int:
        import struct as _s
        cred = self._conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _s.calcsize("3i"))
        pid: int = _s.unpack("3i", cred)[0]
        return pid

    def local_node(self) -> Peer:
        """The daemon's node: id, name, groups, attributes."""
        rid = self._id()
        self._send(p.node_request(rid))
        return self._answer(rid).peers[0]

    def peers(self, group: str = "") -> List[Peer]:
        """The reachable peers, those in group unless it is ""."""
        rid = self._id()
        self._send(p.peers_request(rid, group))
        return self._answer(rid).peers

    def peers_with_rates(self, group: str = "") -> List[Tuple[Peer, p.Rates]]:
        """The reachable peers with their rates (Net::Cluster's
        get_bandwidth)."""
        rid = self._id()
        self._send(p.peers_traffic_request(rid, group))
        m = self._answer(rid)
        return list(zip(m.peers, m.rates))

    def wait_for_peer(self, name: str, timeout: float = 30.0) -> Peer:
        """Waits until a peer with that name (or id) is reachable."""
        deadline = time.monotonic() + timeout
        while True:
            for peer in self.peers(""):
                if name in (peer.name, peer.id):
                    return peer
            if time.monotonic() > deadline:
                raise Timeout()
            time.sleep(0.05)

    def socket(self, target: str, semantics: int, kind: int = p.PEER, queue: int = 0,
               timeout_ms: int = 0, retries: int = 0,
               timeout: Optional[float] = None) -> MeshSocket:
        """Opens a mesh socket: kind PEER (target a peer), GROUP (shout to a
        group), LISTEN_STREAMS (target ""), GROUP_RECEIVE (read a group).

        timeout (seconds, or timeout_ms in milliseconds) and retries
        override, for each message written on a reliable or sequenced
        socket, the node's delivery timeout and retransmissions: a message
        not acknowledged in time, or after that many retransmissions, gives
        a delivery_failed event. 0 or None keeps the node's. A stream socket
        with an override is refused (unsupported)."""
        if timeout is not None:
            if timeout < 0:
                raise ValueError("timeout must not be negative")
            timeout_ms = math.ceil(timeout * 1000)
        if not 0 <= timeout_ms <= 0xFFFFFFFF:
            raise ValueError("timeout_ms out of range (0 to 2**32 - 1)")
        if not 0 <= retries <= 255:
            raise ValueError("retries out of range (0 to 255)")
        rid = self._id()
        self._send(p.socket_request(rid, semantics, kind, target, queue, timeout_ms, retries))
        m = self._answer(rid)
        if m.msg_type != p.SOCKET_OPENED or not self._fds:
            raise ProtocolError("SOCKET_OPENED without a descriptor")
        return MeshSocket(self._fds.popleft(), m.socket_id, semantics)

    def events(self) -> List[Event]:
        """The events sent so far, without waiting."""
        while True:
            m = self._recv(time.monotonic())
            if m is None:
                break
            if m.event is not None:
                self._events.append(m.event)
        out = list(self._events)
        self._events.clear()
        return out

    def next_event(self, timeout: float) -> Optional[Event]:
        """The next event, waiting at most timeout seconds."""
        if self._events:
            return self._events.popleft()
        deadline = time.monotonic() + timeout
        while True:
            m = self._recv(deadline)
            if m is None:
                return None
            if m.event is not None:
                return m.event

    def close(self) -> None:
        self._conn.close()
        while self._fds:
            os.close(self._fds.popleft())

    def __enter__(self) -> "Cluster":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
