#!/usr/bin/env bash
# The project's test command: `scripts/test.sh [extra cargo test args...]`.
#
# Two sections:
#   1. setup: whatever the tests need on the machine beyond a stable Rust
#      toolchain (system packages, kernel features, ...). It runs on a fresh
#      Debian machine as root in CI, so each step must be idempotent and must
#      skip itself where it is not needed. Empty for now.
#   2. test: the whole workspace's tests.
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
setup() {
    # Nothing to set up yet. Steps go here, for example:
    #   if ! command -v ip >/dev/null; then
    #       apt-get update && apt-get install -y --no-install-recommends iproute2
    #   fi
    :
}
setup
echo "nothing to set up"

# ---------------------------------------------------------------------------
# 2. test
# ---------------------------------------------------------------------------
section "test: cargo test --workspace"
cargo test --workspace "$@"
