"""Daemons built from the tree for the tests: `netcluster` from
$NETCLUSTER_BIN, else target/debug/netcluster of the workspace."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, List

import pytest

ROOT = Path(__file__).resolve().parents[3]
# The package from this tree, installed or not.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
DEADLINE = 30.0


def netcluster_bin() -> str:
    b = os.environ.get("NETCLUSTER_BIN") or str(ROOT / "target" / "debug" / "netcluster")
    if not os.access(b, os.X_OK):
        pytest.skip(f"no netcluster binary at {b}: run `cargo build -p netcluster` first")
    return b


class Daemon:
    def __init__(self, directory: Path, name: str) -> None:
        self.socket = str(directory / f"{name}.sock")
        self.log = directory / f"{name}.log"
        self.proc = subprocess.Popen(
            [netcluster_bin(), "agent", "--name", name, "--bind", "127.0.0.1:0", "--beacon", "off",
             "--log-level", "debug", "--admin", self.socket],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(self.log, "wb"),
        )
        wait_for(f"{name}'s socket", self._answers)

    def _answers(self) -> bool:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_for(what: str, cond: Callable[[], object]) -> None:
    end = time.monotonic() + DEADLINE
    while not cond():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[str], Daemon]]:
    made: List[Daemon] = []

    def make(name: str) -> Daemon:
        d = Daemon(tmp_path, name)
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


@pytest.fixture
def cluster_name() -> str:
    return f"py-{os.getpid()}-{time.monotonic_ns()}"
