"""The Python codec against the golden vectors of tests/vectors/local/."""

from __future__ import annotations

from pathlib import Path

from netcluster_client import _protocol as p

VECTORS = Path(__file__).resolve().parents[3] / "tests" / "vectors" / "local"


def load(name: str) -> bytes:
    text = (VECTORS / f"{name}.hex").read_text()
    digits = "".join(line.split("#", 1)[0] for line in text.splitlines())
    return bytes.fromhex("".join(digits.split()))


def test_requests_encode_as_the_vectors() -> None:
    assert p.connect(1, "demo", True, "", "", ["192.0.2.2:7400"]) == load("connect")
    assert p.socket_request(2, p.SEQUENCED, p.PEER, "bravo") == load("socket")
    assert p.socket_request(2, p.RELIABLE, p.GROUP_RECEIVE, "chat") == load("socket_group_receive")
    assert p.socket_request(2, p.STREAM, p.LISTEN_STREAMS, "") == load("socket_listen")
    assert p.peers_request(3, "chat") == load("peers_request")
    assert p.node_request(4) == load("node_request")
    assert p.peers_traffic_request(5, "") == load("peers_traffic_request")


def test_answers_decode_from_the_vectors() -> None:
    m = p.decode(load("connected"))
    assert (m.msg_type, m.request_id, m.node_id) == (p.CONNECTED, 1, "00112233-4455-6677-8899-aabbccddeeff")
    assert p.decode(load("socket_opened")).socket_id == 1
    peers = p.decode(load("peers")).peers
    assert [(x.name, x.groups, x.addr) for x in peers] == [("bravo", ["chat"], "[2001:db8::2]:7400")]
    node = p.decode(load("node")).peers[0]
    assert (node.name, node.hops, node.attributes) == ("alpha", 0, [("role", "worker")])
    r = p.decode(load("result"))
    assert (r.status, r.detail) == ("unknown_target", 'no node named "zulu"')
    e = p.decode(load("event")).event
    assert e is not None and (e.socket_id, e.kind, e.detail) == (1, "delivery_failed", "timeout")
    t = p.decode(load("peers_traffic"))
    assert t.rates[0].rx_bytes_per_sec == 125_000 and t.rates[0].srtt_us == 1_500
    assert t.peers[0].name == "bravo"


def test_garbage_is_refused_not_crashed() -> None:
    import random
    rng = random.Random(7)
    good = load("peers")
    for _ in range(2000):
        b = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            b[rng.randrange(p.HEADER_LEN, len(b))] = rng.randrange(256)
        try:
            p.decode(bytes(b))
        except (p.ProtocolError, UnicodeDecodeError, ValueError):
            pass
    for cut in range(p.HEADER_LEN, len(good)):
        short = bytearray(good[:cut])
        short[6:10] = cut.to_bytes(4, "big")
        try:
            p.decode(bytes(short))
        except (p.ProtocolError, UnicodeDecodeError, ValueError):
            pass
        else:
            raise AssertionError(f"a {cut}-byte cut decoded")
