#!/usr/bin/env bash
# The fuzzing campaign: every parser of untrusted input (payment webhooks,
# courier and clearance pushes, the rule language, money, order snapshots)
# run on FUZZ_CASES generated inputs each, in the `fuzz` profile (optimised,
# with overflow checks and debug assertions).
#
#   tests/bench/fuzz.sh                     # 1,000,000 inputs per target
#   FUZZ_CASES=20000 tests/bench/fuzz.sh    # a shorter run
#   tests/bench/fuzz.sh wechat::fuzz        # only the tests matching a cargo test filter
#
# The targets paying an RSA signature per input (`*/verify_signed`) run
# FUZZ_CASES/500 of them; the same parsers behind the signature are fuzzed
# with FUZZ_CASES inputs directly (`*/read_*`), and unsigned inputs through
# the whole verifier (`*/verify_unsigned`). Ordinary `cargo test` runs 256
# inputs per target.
set -euo pipefail
cd "$(dirname "$0")/../.."

export FUZZ_CASES=${FUZZ_CASES:-1000000}
FILTER=${1:-}
THREADS=${THREADS:-2}
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

cargo test --profile fuzz -p aftersales --features providers --lib --no-run
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "FUZZ_CASES=$FUZZ_CASES"
start=$(date +%s)
status=0
cargo test --profile fuzz -p aftersales --features providers --lib -- \
    --nocapture --test-threads="$THREADS" "${FILTER:-fuzz_}" 2>&1 | tee "$LOG" | grep -E '^fuzz |panicked|FAILED|test result' || status=$?
end=$(date +%s)
echo
echo "target | inputs | seconds | result"
grep -E '^fuzz [^:]+: [0-9]+ inputs' "$LOG" | sed -E 's/^fuzz ([^:]+): ([0-9]+) inputs, ([0-9.]+) s, (.*)$/\1 | \2 | \3 | \4/' | sort
total=$(grep -E '^fuzz [^:]+: [0-9]+ inputs' "$LOG" | sed -E 's/^fuzz [^:]+: ([0-9]+) inputs.*/\1/' | paste -sd+ | bc)
echo "total inputs: ${total:-0}, wall time: $((end - start)) s"
grep -q 'test result: ok' "$LOG" && ! grep -q 'FAILED' "$LOG" || { echo "fuzzing failed" >&2; exit 1; }
exit "$status"
