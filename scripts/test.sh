#!/usr/bin/env bash
# The project's test command: `scripts/test.sh [extra cargo test args...]`.
#
# Two sections:
#   1. setup: whatever the tests need on the machine beyond a stable Rust
#      toolchain (system packages, kernel features, ...). It runs on a fresh
#      Debian machine as root in CI, so each step must be idempotent and must
#      skip itself where it is not needed. Empty for now.
#   2. test: the whole workspace's tests, the Rust client's with its
#      `tokio` feature, then the Python client's (clients/python, pytest
#      against daemons built from the tree).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

section() {
    printf '\n==== %s ====\n' "$*"
}

# ---------------------------------------------------------------------------
# 1. setup
# ---------------------------------------------------------------------------
section "test: setup"
# Installs the Debian packages whose commands are missing. Only as root: a
# developer's machine without them skips the tests that need them, with a
# printed reason.
apt_install() {
    local missing=()
    while [ $# -gt 0 ]; do
        command -v "$1" >/dev/null 2>&1 || missing+=("$2")
        shift 2
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "system packages: all present"
        return
    fi
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "system packages missing (${missing[*]}), not root or no apt-get: tests needing them skip"
        return
    fi
    echo "installing: ${missing[*]}"
    apt-get update -qq
    # tshark's wireshark-common asks whether non-root users may capture:
    # answered here (no), so the install never waits for a question.
    if printf '%s\n' "${missing[@]}" | grep -qx tshark && command -v debconf-set-selections >/dev/null; then
        echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

setup() {
    # command  package
    #   ip, tc: network namespaces, bridges, veth and netem for the
    #           multi-host driver tests;
    #   dnsmasq: a real DNS server serving SRV records for the DNS seed tests
    #           (dnsmasq-base: the binary without a system service);
    #   nft: packet loss in the namespace tests on kernels built without
    #           netem (a random-drop rule instead);
    #   tshark, tcpdump: the Wireshark dissector's tests (tools/wireshark/),
    #           decoding the golden vectors and a capture of real agents.
    apt_install \
        ip iproute2 \
        tc iproute2 \
        dnsmasq dnsmasq-base \
        nft nftables \
        tshark tshark \
        tcpdump tcpdump \
        python3 python3
}
setup

# The tools of the agent's HTTP tests (cli/tests/http.rs), each installed
# on its own so that one Debian cannot provide leaves the others: promtool
# (package prometheus) checks /metrics, a headless Chromium (package
# chromium) loads the live page. Without them the metrics test checks its
# own parse of /metrics only, and the page test skips, each saying so.
apt_install promtool prometheus \
    || echo "prometheus (promtool) could not be installed: the metrics test skips promtool"
apt_install chromium chromium \
    || echo "chromium could not be installed: the live page's test skips"

# pytest for the Python client's tests: from Debian as root, else with pip
# for this user; without either the Python tests skip with a reason.
pytest_install() {
    if python3 -c 'import pytest' >/dev/null 2>&1; then
        echo "pytest: present"
    elif [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
        echo "installing: python3-pytest"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pytest \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-pytest; }
    else
        python3 -m pip install --user --quiet pytest || echo "pytest unavailable: the Python tests skip"
    fi
}
if command -v python3 >/dev/null; then
    pytest_install
fi

# ---------------------------------------------------------------------------
# 2. test
# ---------------------------------------------------------------------------
section "test: cargo test --workspace"
cargo test --workspace "$@"

# The Rust client's optional async API (feature `tokio`). The daemon's
# tests enable it through their dev-dependency, so the workspace run above
# normally has it already; this makes sure, whatever the feature set.
section "test: Rust client with its tokio feature"
cargo test -p netcluster-client --features tokio "$@"

section "test: Python client (clients/python)"
if command -v python3 >/dev/null && python3 -c 'import pytest' >/dev/null 2>&1; then
    cargo build -p netcluster
    (cd clients/python && NETCLUSTER_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/netcluster" \
        python3 -m pytest -q tests)
else
    echo "skipped: no python3 with pytest"
fi
