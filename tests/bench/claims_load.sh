#!/usr/bin/env bash
# Claim-submission load test of the one-machine runner (release build, SQLite).
#
#   tests/bench/claims_load.sh
#   REQUESTS=20000 ORDERS=5000 CONCURRENCIES="32 64" LOADGEN_THREADS=1 tests/bench/claims_load.sh
#   PIPELINE_WAIT=600 tests/bench/claims_load.sh   # also wait for every claim's decision
#                                                  # and refund, and time the pipeline
#   PROFILE=profiling tests/bench/claims_load.sh   # the runner built with symbols (perf)
#   PIPELINE_WAIT=30 REQUESTS=50 ORDERS=50 CONCURRENCIES=1 PAUSE_MS=200 tests/bench/claims_load.sh
#                                                  # quiet: each claim meets an idle runner
#
# For each concurrency: a fresh runner on a free loopback port with a fresh
# data folder, tokens minted with `aftersales-local token`, then
# target/release/loadgen (seeds ORDERS orders, fires REQUESTS claims), then
# the runner is stopped and its folder removed. The runner and the load
# generator share this machine's cores.
set -euo pipefail
cd "$(dirname "$0")/../.."

REQUESTS=${REQUESTS:-20000}
ORDERS=${ORDERS:-5000}
CONCURRENCIES=${CONCURRENCIES:-"32 64"}
LOADGEN_THREADS=${LOADGEN_THREADS:-1}
PIPELINE_WAIT=${PIPELINE_WAIT:-0}
PAUSE_MS=${PAUSE_MS:-0}
CUSTOMER=bench-customer
SHOP=shop-1

PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" -p aftersales-local -p aftersales-tests --bin aftersales-local --bin loadgen
BIN=target/$PROFILE

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u +%Y-%m-%dT%H:%MZ)"

RUNNER_PID=
DATA=
stop_runner() {
    if [ -n "$RUNNER_PID" ] && kill -0 "$RUNNER_PID" 2>/dev/null; then
        kill "$RUNNER_PID"
        wait "$RUNNER_PID" 2>/dev/null || true
    fi
    RUNNER_PID=
    if [ -n "$DATA" ]; then rm -rf "$DATA"; fi
    DATA=
}
trap stop_runner EXIT

status=0
for C in $CONCURRENCIES; do
    DATA=$(mktemp -d)
    # Port 0: the runner takes a free port and prints the address it got.
    "$BIN/aftersales-local" --addr 127.0.0.1:0 --data "$DATA" >"$DATA/runner.out" 2>"$DATA/runner.err" &
    RUNNER_PID=$!
    BASE=
    for _ in $(seq 100); do
        BASE=$(sed -n 's/^aftersales listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$DATA/runner.out")
        [ -n "$BASE" ] && break
        kill -0 "$RUNNER_PID" 2>/dev/null || { cat "$DATA/runner.err" >&2; exit 1; }
        sleep 0.1
    done
    [ -n "$BASE" ] || { echo "the runner did not start" >&2; exit 1; }
    SF=$("$BIN/aftersales-local" token storefront "$SHOP" --data "$DATA")
    CU=$("$BIN/aftersales-local" token customer "$CUSTOMER" --data "$DATA")

    echo
    echo "== concurrency $C: runner pid $RUNNER_PID at $BASE"
    "$BIN/loadgen" --base "$BASE" --storefront-token "$SF" --customer-token "$CU" \
        --customer "$CUSTOMER" --shop "$SHOP" --orders "$ORDERS" --requests "$REQUESTS" \
        --concurrency "$C" --threads "$LOADGEN_THREADS" --pid "$RUNNER_PID" \
        --pipeline-wait "$PIPELINE_WAIT" --pause-ms "$PAUSE_MS" || status=$?
    echo "database: $(du -sh "$DATA" | cut -f1) in $DATA"
    stop_runner
done
exit $status
