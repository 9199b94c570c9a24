"""The Python side of cli/tests/daemon_netns.rs: an application on daemon
b that echoes back what the Rust application on daemon a sends, in every
semantics, and answers a stream with the sha256 of its bytes.

Usage: daemon_netns_peer.py SOCKET CLUSTER (PYTHONPATH=clients/python).
Prints READY once its sockets are open."""

import hashlib
import select
import sys

from netcluster_client import (
    DATAGRAM, GROUP_RECEIVE, LISTEN_STREAMS, RELIABLE, SEQUENCED, STREAM, Cluster,
)

path, cluster = sys.argv[1], sys.argv[2]
c = Cluster(cluster, broadcast=False, socket_path=path, start_daemon=False)
c.wait_for_peer("a", 60)
rx = {
    "reliable": c.socket("a", RELIABLE),
    "sequenced": c.socket("a", SEQUENCED),
    "datagram": c.socket("a", DATAGRAM),
    "group": c.socket("g", RELIABLE, kind=GROUP_RECEIVE),
}
back = {
    "reliable": rx["reliable"],
    "sequenced": rx["sequenced"],
    "datagram": rx["datagram"],
    "group": rx["sequenced"],
}
listener = c.socket("", STREAM, kind=LISTEN_STREAMS)
print("READY", flush=True)
readers = {s.fileno(): name for name, s in rx.items()}
while True:
    ready, _, _ = select.select(list(rx.values()) + [listener], [], [])
    for s in ready:
        if s is listener:
            peer, stream = listener.accept()
            h = hashlib.sha256()
            n = 0
            while True:
                chunk = stream.recv(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
                n += len(chunk)
            stream.sendall(f"{n} {h.hexdigest()}".encode())
            stream.shutdown_write()
            stream.close()
            continue
        name = readers[s.fileno()]
        msg = s.recv(1 << 16)
        if name == "group":
            msg = b"group:" + msg
        back[name].send(msg)
