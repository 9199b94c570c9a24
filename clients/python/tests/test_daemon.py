"""The Python client against real daemons built from the tree."""

from __future__ import annotations

import hashlib
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, List, Tuple

import pytest

from netcluster_client import (
    DATAGRAM, GROUP, GROUP_RECEIVE, LISTEN_STREAMS, PEER, RELIABLE, SEQUENCED, STREAM,
    Cluster, DaemonGone, MessageTooLong, NoDaemon, NotOwner, Refused,
)
from netcluster_client import _client

from conftest import DEADLINE, Daemon, netcluster_bin, wait_for


def pair(daemons: Callable[[str], Daemon], name: str) -> Tuple[Cluster, Cluster]:
    da, db = daemons("alpha"), daemons("bravo")
    cb = Cluster(name, broadcast=False, socket_path=db.socket, start_daemon=False)
    addr = cb.local_node().addr
    ca = Cluster(name, broadcast=False, seeds=[addr], socket_path=da.socket, start_daemon=False)
    ca.wait_for_peer("bravo", DEADLINE)
    cb.wait_for_peer("alpha", DEADLINE)
    return ca, cb


def test_every_semantics_between_two_daemons(daemons: Callable[[str], Daemon], cluster_name: str) -> None:
    ca, cb = pair(daemons, cluster_name)
    for sem in (RELIABLE, SEQUENCED):
        rx = cb.socket("alpha", sem)
        tx = ca.socket("bravo", sem)
        rx.settimeout(DEADLINE)
        sent = [f"{sem} {i}".encode() for i in range(100)]
        for m in sent:
            tx.send(m)
        got = [rx.recv() for _ in sent]
        assert (sorted(got) if sem == RELIABLE else got) == (sorted(sent) if sem == RELIABLE else sent)

    rx = cb.socket("alpha", DATAGRAM)
    tx = ca.socket("bravo", DATAGRAM)
    assert rx.sock.type == socket.SOCK_DGRAM
    rx.settimeout(0.2)
    for _ in range(int(DEADLINE / 0.2)):
        tx.send(b"dgram")
        try:
            assert rx.recv() == b"dgram"
            break
        except socket.timeout:
            continue
    else:
        pytest.fail("no datagram arrived")

    inbox = cb.socket("chat", RELIABLE, kind=GROUP_RECEIVE)
    wait_for("bravo in chat", lambda: any(p.name == "bravo" for p in ca.peers("chat")))
    ca.socket("chat", RELIABLE, kind=GROUP).send(b"to the group")
    inbox.settimeout(DEADLINE)
    assert inbox.recv() == b"to the group"

    listener = cb.socket("", STREAM, kind=LISTEN_STREAMS)
    s = ca.socket("bravo", STREAM)
    assert s.sock.type == socket.SOCK_STREAM
    data = os.urandom(2_000_000)
    def write() -> None:
        s.sendall(data)
        s.shutdown_write()

    t = threading.Thread(target=write)
    t.start()
    peer, accepted = listener.accept()
    assert peer == ca.node_id
    h = hashlib.sha256()
    accepted.settimeout(DEADLINE)
    while chunk := accepted.recv(65536):
        h.update(chunk)
    t.join()
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


def test_select_over_three_sockets(daemons: Callable[[str], Daemon], cluster_name: str) -> None:
    ca, cb = pair(daemons, cluster_name)
    socks = [cb.socket("alpha", RELIABLE), cb.socket("alpha", SEQUENCED), cb.socket("alpha", DATAGRAM)]
    rel, seq = ca.socket("bravo", RELIABLE), ca.socket("bravo", SEQUENCED)
    rel.send(b"one")
    seq.send(b"two")
    rates = dict((peer.name, r) for peer, r in cb.peers_with_rates())
    assert set(rates) == {"alpha"}
    got: set[bytes] = set()
    while len(got) < 2:
        ready, _, _ = select.select(socks, [], [], DEADLINE)
        assert ready, "select timed out"
        for s in ready:
            got.add(s.recv())
    assert got == {b"one", b"two"}
    seq.send(b"x" * 1000)
    socks[1].settimeout(DEADLINE)
    with pytest.raises(MessageTooLong):
        socks[1].recv(10)


def test_errors(daemons: Callable[[str], Daemon], cluster_name: str, tmp_path: Path) -> None:
    d = daemons("alpha")
    with pytest.raises(Refused) as e:
        Cluster("", broadcast=False, socket_path=d.socket, start_daemon=False)
    assert e.value.status == "bad_request"
    c = Cluster(cluster_name, broadcast=False, socket_path=d.socket, start_daemon=False)
    with pytest.raises(Refused) as e:
        c.socket("nobody", RELIABLE)
    assert e.value.status == "unknown_target"
    with pytest.raises(Refused) as e:
        c.socket("", STREAM, kind=LISTEN_STREAMS, timeout=0.005)
    assert e.value.status == "unsupported", "no timeout override on streams"
    c.socket("g", RELIABLE, kind=GROUP, timeout=0.1, retries=3).close()
    with pytest.raises(ValueError):
        c.socket("g", RELIABLE, kind=GROUP, retries=256)
    g = socket.socket(socket.AF_UNIX)
    g.connect(d.socket)
    g.sendall(b"\x00garbage\xff" * 100)
    g.settimeout(DEADLINE)
    try:
        while g.recv(4096):
            pass
    except OSError:
        pass
    assert c.local_node().name == "alpha", "the daemon survives garbage"
    d.stop()
    with pytest.raises(DaemonGone):
        c.peers()
    with pytest.raises(NoDaemon):
        Cluster(cluster_name, socket_path=str(tmp_path / "none.sock"), start_daemon=False)


def test_a_socket_of_another_user_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "agent.sock"
    path.touch()
    monkeypatch.setattr(os, "getuid", lambda: 4242)
    with pytest.raises(NotOwner):
        _client._check_owner(str(path))


def test_ten_clients_start_one_daemon(tmp_path: Path, cluster_name: str) -> None:
    path = str(tmp_path / "run" / "agent.sock")
    results: List[object] = []

    def client() -> None:
        try:
            results.append(Cluster(cluster_name, broadcast=False, socket_path=path,
                                   daemon_program=netcluster_bin(),
                                   daemon_args=["--bind", "127.0.0.1:0", "--beacon", "off"],
                                   ).daemon_pid())
        except Exception as e:  # reported below
            results.append(e)

    threads = [threading.Thread(target=client) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pids = set(results)
    for pid in pids:
        if isinstance(pid, int):
            os.kill(pid, 15)
    assert len(results) == 10 and len(pids) == 1 and all(isinstance(p, int) for p in pids), results


def test_a_killed_client_leaves_nothing_behind(daemons: Callable[[str], Daemon], cluster_name: str) -> None:
    d = daemons("alpha")
    holder = Cluster(cluster_name, broadcast=False, socket_path=d.socket, start_daemon=False)
    script = (
        "import sys, time\n"
        "from netcluster_client import Cluster, RELIABLE, GROUP_RECEIVE\n"
        "c = Cluster(sys.argv[1], broadcast=False, socket_path=sys.argv[2], start_daemon=False)\n"
        "s = c.socket('jobs', RELIABLE, kind=GROUP_RECEIVE)\n"
        "print('READY', flush=True)\n"
        "time.sleep(600)\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    child = subprocess.Popen([sys.executable, "-c", script, cluster_name, d.socket],
                             stdout=subprocess.PIPE, env=env)
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"READY"
        assert "jobs" in holder.local_node().groups, "the socket joined the group"
    finally:
        child.kill()
        child.wait()
    wait_for("the group left", lambda: "jobs" not in holder.local_node().groups)
    assert holder.local_node().name == "alpha", "the daemon is fine"


def test_a_restarted_daemon_gives_a_clear_error_then_a_new_connection(
        daemons: Callable[[str], Daemon], cluster_name: str) -> None:
    d = daemons("alpha")
    c = Cluster(cluster_name, broadcast=False, socket_path=d.socket, start_daemon=False)
    d.stop()
    with pytest.raises(DaemonGone):
        c.local_node()
    d2 = daemons("alpha")
    assert d2.socket == d.socket
    c = Cluster(cluster_name, broadcast=False, socket_path=d2.socket, start_daemon=False)
    assert c.local_node().name == "alpha"


def all_stopped(pid: int) -> bool:
    """Whether every thread of process pid is stopped (state T)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        states = []
        for t in tasks:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
    except OSError:
        return False
    return all(s == "t" or s == "T" for s in states)


def test_a_socket_timeout_fails_a_message_to_a_stopped_peer_quickly(
        daemons: Callable[[str], Daemon], cluster_name: str) -> None:
    ca, cb = pair(daemons, cluster_name)
    tx = ca.socket("bravo", RELIABLE, timeout=0.3, retries=50)
    rx = cb.socket("alpha", RELIABLE)
    tx.send(b"before")
    rx.settimeout(DEADLINE)
    assert rx.recv() == b"before"
    bravo = cb.daemon_pid()
    # Stopped, its links stay open and silent: only the timeout fails
    # what is sent now (the default is 30 s, the keepalive takes seconds).
    os.kill(bravo, signal.SIGSTOP)
    try:
        # Stopped soon, not at once: until every thread is, it could still
        # acknowledge.
        wait_for("bravo stopped", lambda: all_stopped(bravo))
        sent = time.monotonic()
        tx.send(b"into a stopped peer")
        event = None
        while event is None and time.monotonic() < sent + 60:
            e = ca.next_event(0.5)
            if e is not None and e.kind == "delivery_failed":
                event = e
        took = time.monotonic() - sent
    finally:
        os.kill(bravo, signal.SIGCONT)
    assert event is not None, "no delivery_failed event"
    assert event.socket_id == tx.socket_id
    assert event.detail == "timeout"
    assert took < 10, f"the 0.3 s timeout took {took:.1f} s"
