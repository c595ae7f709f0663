#!/usr/bin/env bash
# Fuzzes every ibws fuzz target for N seconds each (default 600) with cargo-fuzz on
# the nightly toolchain, after seeding the corpora from the TWS capture in
# tws/tests/fixtures and the protocol's own examples. Prints one line per target (executions, corpus size,
# crashes). A crashing input is copied to fuzz/regressions/<target>/, which the stable
# test suite replays (tests/tests/fuzz_regressions.rs): commit it with the fix.
# An input that runs longer than IBWS_FUZZ_HANG_SECS (default 2: every target takes
# microseconds per input) is a hang, reported and kept like a crash.
#
#   bash fuzz/run.sh            # 10 minutes per target
#   bash fuzz/run.sh 20         # a 20-second smoke per target
#   bash fuzz/run.sh 600 jwt_verify http_head
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tws_frames client_message bridge_frame jwt_verify http_head ws_frames)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal >&2
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked >&2
cargo build -q -p ibws-tests --bin ibws-fuzz-seeds
target/debug/ibws-fuzz-seeds fuzz/corpus
export IBWS_SKIP_WEB=1 # the fuzz build does not need the dashboard
(cd fuzz && cargo +nightly fuzz build -O >&2)

failed=0
for t in "${targets[@]}"; do
  mkdir -p "fuzz/artifacts/$t" "fuzz/regressions/$t" "fuzz/corpus/$t"
  log="fuzz/artifacts/$t.log"
  echo "fuzzing $t for ${secs}s (log: $log)" >&2
  status=0
  (cd fuzz && cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
      -max_total_time="$secs" -print_final_stats=1 -rss_limit_mb=4096 -max_len=65536 -timeout="${IBWS_FUZZ_HANG_SECS:-2}") \
      >"$log" 2>&1 || status=$?
  # (no stats line when the target failed to start: the line below reports that)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)
  crashes=0
  for c in fuzz/artifacts/"$t"/crash-* fuzz/artifacts/"$t"/oom-* fuzz/artifacts/"$t"/timeout-*; do
    [ -e "$c" ] || continue
    crashes=$((crashes + 1))
    cp "$c" "fuzz/regressions/$t/"
  done
  corpus=$(ls "fuzz/corpus/$t" | wc -l)
  echo "fuzz: target=$t seconds=$secs executions=${execs:-0} corpus=$corpus crashes=$crashes exit=$status"
  [ "$crashes" -eq 0 ] && [ "$status" -eq 0 ] || failed=1
done
exit $failed
