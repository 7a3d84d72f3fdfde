#!/usr/bin/env bash
# Fuzz every target (or those named) for SECONDS each, one after the other, and
# append one line per run to fuzz/runs.tsv: date, commit, target, seconds,
# executions, crashes. New inputs go to a scratch corpus (FUZZ_CORPUS, default
# target/fuzz-corpus/<target>) seeded by the committed fuzz/corpus/<target>, so
# the work carries over between sittings without touching the repository.
#
#   bash scripts/fuzz.sh 3660                  # all targets, 61 minutes each
#   bash scripts/fuzz.sh 600 ws_frame sio_packet
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`); it runs on stable Rust with
# RUSTC_BOOTSTRAP=1 (cargo-fuzz asks for nightly-only sanitizer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:?usage: scripts/fuzz.sh SECONDS [TARGET...]}"
shift
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
  mapfile -t TARGETS < <(cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz list)
fi
SCRATCH="${FUZZ_CORPUS:-$(pwd)/target/fuzz-corpus}"
LOG="$(pwd)/target/fuzz-logs"
mkdir -p "$SCRATCH" "$LOG"
[ -f fuzz/runs.tsv ] || printf 'date\tcommit\ttarget\tseconds\texecutions\tcrashes\n' > fuzz/runs.tsv
commit="$(git rev-parse --short HEAD)"
status=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$SCRATCH/$t"
  echo "==> $t for ${SECONDS_EACH}s"
  start=$(date +%s)
  set +e
  (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run "$t" "$SCRATCH/$t" "corpus/$t" -- \
      -max_total_time="$SECONDS_EACH" -print_final_stats=1 -rss_limit_mb=2048) > "$LOG/$t.log" 2>&1
  rc=$?
  set -e
  took=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOG/$t.log" | grep -o '[0-9]*$' | tail -1)
  crashes=0
  if [ $rc -ne 0 ]; then crashes=1; status=1; echo "    FAILED (exit $rc): see $LOG/$t.log and fuzz/artifacts/$t/"; fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$commit" "$t" "$took" "${execs:-?}" "$crashes" >> fuzz/runs.tsv
  tail -1 fuzz/runs.tsv
done
exit $status
