#!/usr/bin/env bash
# Usage: snapshot.sh [COMMIT=HEAD] [DIR=/tmp/tidemq-snap]
# A frozen, built copy of one commit to benchmark while the working tree keeps changing
# (other sessions rebuild packages/*/dist under a running benchmark). Read-only for the repo:
# `git archive` into DIR, node_modules linked from the repo (@tidemq/* pointing into DIR),
# `tsc -b` there, and this bench/peers copied in (with node_modules linked). Then:
#   (cd DIR/bench/peers && bash run.sh 2)
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
COMMIT=${1:-HEAD}
S=${2:-/tmp/tidemq-snap}
rm -rf "$S" && mkdir -p "$S"
git -C "$REPO" archive "$COMMIT" | tar -x -C "$S"
git -C "$REPO" rev-parse "$COMMIT" > "$S/COMMIT"
mkdir -p "$S/node_modules/@tidemq"
for e in "$REPO"/node_modules/* "$REPO"/node_modules/.bin; do
  n=$(basename "$e"); [ "$n" = "@tidemq" ] || ln -s "$e" "$S/node_modules/$n"
done
for p in "$S"/packages/*; do ln -s "$p" "$S/node_modules/@tidemq/$(basename "$p")"; done
(cd "$S" && "$REPO/node_modules/.bin/tsc" -b)
mkdir -p "$S/bench/peers/results"
cp -r "$REPO"/bench/peers/{lib,scripts,targets,run.sh,compare.mjs,package.json,package-lock.json} "$S/bench/peers/"
[ -d "$REPO/bench/peers/node_modules" ] || (cd "$REPO/bench/peers" && npm ci --no-audit --no-fund)
ln -sfn "$REPO/bench/peers/node_modules" "$S/bench/peers/node_modules"
echo "snapshot of $(cat "$S/COMMIT") built in $S; run: (cd $S/bench/peers && bash run.sh 2)"
