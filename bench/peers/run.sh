#!/usr/bin/env bash
# TideMQ in the shared peer harness, without editing it. For each round, target, mode and
# window: start `tidemq dev` (scripts/tidemq-start.sh, fresh data), run ONE harness run
#   node --import lib/resolve-deps.mjs $PEERS/bench.mjs --target <ours> --mode <m> \
#        --no-broker --pids /tmp/peerbench/tidemq/pids --window <w> --runs 1 --out results/raw.jsonl
# then stop it (scripts/tidemq-stop.sh), as the harness does for its own brokers.
# Usage: bench/peers/run.sh [ROUNDS] [TARGET:MODE ...]
#   TARGET = tidemq-client | tidemq-alions, MODE = sync | async
#   default: all four combinations. env: WINDOWS ("1 128"), COUNT (200000), DURATION (60),
#   OUT (results/raw.jsonl), PEERS (/work/shared/bench/peers), TIDEMQ_NODE_OPTS (broker node flags)
# Peers in the same run: PEER_CONFIGS="redis-everysec redis-always" (shared configs; needs
# their servers installed, e.g. apt-get install redis-server).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-/work/shared/bench/peers}
export PEERS
ROUNDS=${1:-1}
shift || true
COMBOS=${*:-tidemq-client:sync tidemq-client:async tidemq-alions:sync tidemq-alions:async}
WINDOWS=${WINDOWS:-1 128}
OUT=${OUT:-$HERE/results/raw.jsonl}
mkdir -p "$(dirname "$OUT")"
[ -d "$HERE/node_modules/hdr-histogram-js" ] || (cd "$HERE" && npm ci --no-audit --no-fund)
# The harness reads a --target path relative to its working directory; running from targets/
# keeps the recorded config id short ("tidemq-client.mjs-sync").
cd "$HERE/targets"
# The machine is shared (2 cores, other sessions build and test on it): before each run wait,
# bounded by QUIET_WAIT seconds (600), until the CPUs are at least QUIET_IDLE percent idle
# (85) over 3 s, and log idle % and load average before/after each run to
# results/load.jsonl, so a figure measured on a busy machine can be told apart.
LOADLOG=${LOADLOG:-$(dirname "$OUT")/load.jsonl}
load1() { cut -d' ' -f1 /proc/loadavg; }
# The code under test: HEAD and the newest compiled file (other sessions may rebuild mid-run).
dist_newest() { find "$HERE/../../packages" -path '*/dist/src/*.js' -printf '%T@\n' 2>/dev/null | sort -n | tail -1 | cut -d. -f1; }
git_head() { # a snapshot (scripts/snapshot.sh) records its commit in COMMIT
  if [ -f "$HERE/../../COMMIT" ]; then cut -c1-7 "$HERE/../../COMMIT"; else git -C "$HERE" rev-parse --short HEAD 2>/dev/null || echo unknown; fi
}
busy_ticks() { local c; c=($(head -1 /proc/stat)); echo $((c[1] + c[2] + c[3] + c[6] + c[7] + c[8])); }
cpu_idle_pct() { # over 3 s, all CPUs
  local a b
  a=($(head -1 /proc/stat)); sleep 3; b=($(head -1 /proc/stat))
  local ta=0 tb=0 i
  for i in 1 2 3 4 5 6 7 8; do ta=$((ta + a[i])); tb=$((tb + b[i])); done
  echo $(( 100 * ((b[4] + b[5]) - (a[4] + a[5])) / (tb - ta + 1) ))
}
wait_quiet() {
  local start=$SECONDS idle
  while :; do
    idle=$(cpu_idle_pct)
    [ "$idle" -ge "${QUIET_IDLE:-85}" ] && { IDLE_BEFORE=$idle; return 0; }
    if ((SECONDS - start > ${QUIET_WAIT:-600})); then
      echo "machine still busy (${idle}% idle) after ${QUIET_WAIT:-600}s; running anyway" >&2
      IDLE_BEFORE=$idle; return 0
    fi
  done
}
logload() { echo "{\"ts\":\"$(date -u +%FT%TZ)\",\"what\":\"$1\",\"window\":$2,\"round\":$3,\"when\":\"$4\",\"load1\":$(load1),\"busyTicks\":$(busy_ticks),\"idlePctBefore\":${IDLE_BEFORE:-null},\"head\":\"$(git_head)\",\"distNewest\":$(dist_newest)}" >> "$LOADLOG"; }
harness() { timeout 600 node --import "$HERE/lib/resolve-deps.mjs" "$PEERS/bench.mjs" "$@" \
  --count "${COUNT:-200000}" --duration "${DURATION:-60}" --out "$OUT"; }
for r in $(seq 1 "$ROUNDS"); do
  for c in $COMBOS; do
    t=${c%%:*} m=${c##*:}
    for w in $WINDOWS; do
      wait_quiet
      if ! bash "$HERE/scripts/tidemq-start.sh" "$m"; then
        echo "tidemq-start.sh $m failed; skipping $t $m w=$w round $r" >&2
        bash "$HERE/scripts/tidemq-stop.sh" || true
        continue
      fi
      logload "$t.mjs-$m" "$w" "$r" before
      harness --target "$t.mjs" --mode "$m" --no-broker --pids /tmp/peerbench/tidemq/pids \
        --window "$w" --runs 1 --tag "round$r" || echo "bench $t $m w=$w round $r exited $?" >&2
      logload "$t.mjs-$m" "$w" "$r" after
      bash "$HERE/scripts/tidemq-stop.sh"
    done
  done
  for p in ${PEER_CONFIGS:-}; do
    for w in $WINDOWS; do
      wait_quiet
      logload "$p" "$w" "$r" before
      harness --config "$p" --window "$w" --runs 1 --tag "round$r" || echo "bench $p w=$w round $r exited $?" >&2
      logload "$p" "$w" "$r" after
    done
  done
done
node "$HERE/compare.mjs" --in "$OUT"
