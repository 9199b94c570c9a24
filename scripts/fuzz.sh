#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS seconds each.
#
#   scripts/fuzz.sh SECONDS [TARGET...]
#
# - Works on the stable toolchain: cargo-fuzz passes nightly-only flags
#   (-Zsanitizer=address and friends) to rustc, which stable accepts under
#   RUSTC_BOOTSTRAP=1. No nightly toolchain is needed.
# - Installs cargo-fuzz (`cargo install cargo-fuzz --locked`) if it is missing.
# - Seeds fuzz/corpus/<target>/ with the golden vectors tests/vectors/**/*.hex
#   (hex text; `#` starts a comment; whitespace ignored), if there are any,
#   plus a bare frame header, and passes every target fuzz/netcluster.dict.
# - Builds in $CARGO_TARGET_DIR (default: the workspace's target/), so repeated
#   runs, and the rest of the workspace, share one build cache.
# - Exits non-zero if any target finds a crash; the crashing inputs are left
#   in fuzz/artifacts/<target>/ and can be replayed with
#   `RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...`.
#
# Environment:
#   FUZZ_SANITIZER  address (default), leak, memory, thread or none; if the
#                   address-sanitizer build fails, the script falls back to none.
#   FUZZ_ARGS       extra libFuzzer arguments for every target.
set -euo pipefail

usage() {
    echo "usage: $0 SECONDS [TARGET...]" >&2
    exit 2
}

[[ $# -ge 1 && $1 =~ ^[0-9]+$ && $1 -gt 0 ]] || usage
# Not SECONDS: bash gives that name a meaning of its own.
secs=$1
shift

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fuzz_dir=$root/fuzz
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
# cargo-fuzz hands rustc -Z flags; stable takes them under RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

if [[ $# -gt 0 ]]; then
    targets=("$@")
else
    targets=()
    for f in "$fuzz_dir"/fuzz_targets/*.rs; do
        targets+=("$(basename "$f" .rs)")
    done
fi

section() {
    printf '\n==== %s ====\n' "$*"
}

section "fuzz: toolchain"
rustc -V
cargo -V
# libfuzzer-sys compiles libFuzzer itself, which is C++.
if ! command -v c++ >/dev/null 2>&1 && ! command -v g++ >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "no C++ compiler (libFuzzer needs one): installing g++"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends g++
    else
        echo "fuzz: no C++ compiler found; libFuzzer needs one (install g++)" >&2
        exit 1
    fi
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz not found: installing it"
    # Its own temporary target dir: nothing of it belongs in the shared one.
    env -u CARGO_TARGET_DIR cargo install cargo-fuzz --locked
fi
cargo fuzz --version
echo "target dir: $CARGO_TARGET_DIR"

section "fuzz: seed corpus from tests/vectors"
# Decodes one hex vector file to binary on stdout; fails on a malformed file.
hex_to_bin() {
    local hex
    hex=$(sed -e 's/#.*//' "$1" | tr -d ' \t\r\n')
    [[ $hex =~ ^([0-9a-fA-F]{2})*$ ]] || return 1
    # printf's %b writes \xHH escapes as bytes, NUL included.
    printf '%b' "$(sed -e 's/../\\x&/g' <<<"$hex")"
}
seeded=0
if [[ -d $root/tests/vectors ]]; then
    while IFS= read -r -d '' f; do
        rel=${f#"$root"/tests/vectors/}
        name=vector-${rel//\//_}
        name=${name%.hex}
        tmp=$(mktemp)
        if ! hex_to_bin "$f" >"$tmp" || [[ ! -s $tmp ]]; then
            echo "skipped (not hex, or empty): tests/vectors/$rel"
            rm -f "$tmp"
            continue
        fi
        for t in "${targets[@]}"; do
            mkdir -p "$fuzz_dir/corpus/$t"
            case $t in
            stream)
                # First byte: chunking seed. 0x00 one byte at a time, raw stream.
                { printf '\x00'; cat "$tmp"; } >"$fuzz_dir/corpus/$t/$name"
                ;;
            discovery_auth)
                # First byte: mode. Even: the rest is a datagram.
                { printf '\x00'; cat "$tmp"; } >"$fuzz_dir/corpus/$t/$name"
                ;;
            noise_handshake)
                # First byte: side (even: acceptor, odd: opener); then a key
                # id and Noise message, then raw link bytes.
                { printf '\x00'; cat "$tmp"; } >"$fuzz_dir/corpus/$t/$name"
                { printf '\x01'; cat "$tmp"; } >"$fuzz_dir/corpus/$t/$name.opener"
                ;;
            sealed)
                # Operation 0: raw bytes on the encrypted link (n <= 255).
                n=$(wc -c <"$tmp")
                ((n > 255)) && n=255
                { printf '\x00'; printf "\\x$(printf '%02x' "$n")"; head -c "$n" "$tmp"; } \
                    >"$fuzz_dir/corpus/$t/$name"
                ;;
            *)
                cp "$tmp" "$fuzz_dir/corpus/$t/$name"
                ;;
            esac
        done
        # The sub-protocol targets take `msg_type | body` behind a header they
        # write themselves: strip the header of frames without extensions.
        size=$(wc -c <"$tmp")
        if [[ $size -ge 10 ]]; then
            read -r proto msg_type flags < <(od -An -tu1 -j2 -N4 "$tmp" | awk '{print $1, $3, $4}')
            case $proto in
            1) pt=discovery ;; 2) pt=link ;; 3) pt=admin ;; 4) pt=tracker ;; 5) pt=local ;; *) pt= ;;
            esac
            if [[ -n $pt && $flags == 0 && " ${targets[*]} " == *" $pt "* ]]; then
                { printf "\\x$(printf '%02x' "$msg_type")"; tail -c +11 "$tmp"; } \
                    >"$fuzz_dir/corpus/$pt/$name.body"
            fi
        fi
        rm -f "$tmp"
        seeded=$((seeded + 1))
    done < <(find "$root/tests/vectors" -type f -name '*.hex' -print0 | sort -z)
fi
echo "$seeded vector(s) seeded into fuzz/corpus/<target>/"
# With no vectors, libFuzzer can stay stuck before the magic for a whole short
# run: give every target a bare header (a discovery frame of length 10) too.
for t in "${targets[@]}"; do
    mkdir -p "$fuzz_dir/corpus/$t"
    case $t in
    stream | discovery_auth | noise_handshake) printf '\x00NC\x01\x01\x01\x00\x00\x00\x00\x0a' ;;
    # A record with nonce 0, then a replay of a real one, then time.
    sealed) printf '\x01\x00\x00\x00\x00\x00\x00\x00\x00\x10AAAAAAAAAAAAAAAA\x02\x03\x05' ;;
    discovery | link | admin | tracker | local) printf '\x01' ;;
    *) printf 'NC\x01\x01\x01\x00\x00\x00\x00\x0a' ;;
    esac >"$fuzz_dir/corpus/$t/seed-header"
done
dict=$fuzz_dir/netcluster.dict

section "fuzz: build (sanitizer: $sanitizer)"
build_start=$(date +%s)
# Every target in one cargo invocation; without the address sanitizer if its
# build fails (its runtime may be missing from a toolchain).
if ! cargo fuzz build --fuzz-dir "$fuzz_dir" -s "$sanitizer"; then
    if [[ $sanitizer == address ]]; then
        echo "WARNING: the address-sanitizer build failed; retrying with -s none" >&2
        sanitizer=none
        cargo fuzz build --fuzz-dir "$fuzz_dir" -s "$sanitizer"
    else
        exit 1
    fi
fi
echo "built in $(($(date +%s) - build_start)) s"

log_dir=$CARGO_TARGET_DIR/fuzz-logs
mkdir -p "$log_dir"
failed=()
summary=()
for t in "${targets[@]}"; do
    section "fuzz: $t (${secs} s)"
    mkdir -p "$fuzz_dir/corpus/$t"
    log=$log_dir/$t.log
    start=$(date +%s)
    status=0
    cargo fuzz run --fuzz-dir "$fuzz_dir" -s "$sanitizer" "$t" -- \
        -max_total_time="$secs" -dict="$dict" -print_final_stats=1 "${extra_args[@]}" \
        >"$log" 2>&1 || status=$?
    elapsed=$(($(date +%s) - start))
    runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
    cov=$(sed -n 's/^#[0-9]*[[:space:]]*DONE .*cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    corpus=$(find "$fuzz_dir/corpus/$t" -type f | wc -l)
    if [[ $status -eq 0 ]]; then
        line="$t: ok, ${runs:-?} runs in ${elapsed} s, coverage ${cov:-?}, corpus $corpus"
    else
        line="$t: FAILED (exit $status) after ${elapsed} s; see $log and fuzz/artifacts/$t/"
        failed+=("$t")
        tail -n 60 "$log"
    fi
    echo "$line"
    summary+=("$line")
done

section "fuzz: summary"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
    echo "fuzz: ${#failed[@]} target(s) found a crash: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${secs} s each without a crash"
