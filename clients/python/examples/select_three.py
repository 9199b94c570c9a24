"""One select loop over three mesh sockets: reliable and sequenced messages
from a peer, and what is shouted to a group. Usage:
select_three.py CLUSTER PEER [seed...]"""

import select
import sys

from netcluster_client import GROUP_RECEIVE, RELIABLE, SEQUENCED, Cluster

cluster, peer = sys.argv[1], sys.argv[2]
c = Cluster(cluster, seeds=sys.argv[3:])
c.wait_for_peer(peer)
socks = {
    c.socket(peer, RELIABLE): "reliable",
    c.socket(peer, SEQUENCED): "sequenced",
    c.socket("news", RELIABLE, kind=GROUP_RECEIVE): "news",
}
while True:
    ready, _, _ = select.select(list(socks), [], [])
    for s in ready:
        print(f"{socks[s]}: {s.recv()!r}")
