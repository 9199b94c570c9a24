"""Chat through the host daemon: lines typed are shouted to the group
"chat", lines shouted there are printed. Usage: chat.py [cluster] [nick] [seed...]"""

import os
import select
import sys

from netcluster_client import GROUP, GROUP_RECEIVE, RELIABLE, Cluster

cluster = sys.argv[1] if len(sys.argv) > 1 else "chat"
nick = sys.argv[2] if len(sys.argv) > 2 else os.environ.get("USER", "anon")
c = Cluster(cluster, seeds=sys.argv[3:])
inbox = c.socket("chat", RELIABLE, kind=GROUP_RECEIVE)
outbox = c.socket("chat", RELIABLE, kind=GROUP)
while True:
    ready, _, _ = select.select([inbox, sys.stdin], [], [])
    if inbox in ready:
        print(inbox.recv().decode(errors="replace"))
    if sys.stdin in ready:
        line = sys.stdin.readline()
        if not line:
            break
        outbox.send(f"<{nick}> {line.rstrip()}".encode())
