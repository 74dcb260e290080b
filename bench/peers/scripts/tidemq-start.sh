#!/usr/bin/env bash
# Usage: tidemq-start.sh sync|async
# Starts `tidemq dev` (a NameServer and a broker in one Node.js process) from this
# repository, data (wiped first) in /tmp/peerbench/tidemq/data; sync = --sync-flush
# (SYNC_FLUSH: SEND_OK after fdatasync), async = ASYNC_FLUSH. Follows the shared harness's
# conventions (its scripts/common.sh is sourced by path): PID of the server process to
# /tmp/peerbench/tidemq/pids, returns once both ports answer and the broker is registered.
# env: TIDEMQ_NAMESRV_PORT (24876), TIDEMQ_BROKER_PORT (24911), TIDEMQ_NODE_OPTS (extra node
#      flags; default --initial-old-space-size=64 as in bin/tidemq.js; e.g. "--cpu-prof --cpu-prof-dir=/tmp/peerbench/tidemq/prof"), PEERS (shared harness dir)
PEERS=${PEERS:-/work/shared/bench/peers}
source "$PEERS/scripts/common.sh"
REPO=$(cd "$(dirname "$0")/../../.." && pwd)
FLUSH=${1:-async}
case $FLUSH in sync) FLAG=--sync-flush ;; async) FLAG= ;; *) echo "usage: $0 sync|async" >&2; exit 2 ;; esac
NS_PORT=${TIDEMQ_NAMESRV_PORT:-24876}
BROKER_PORT=${TIDEMQ_BROKER_PORT:-24911}
D=$PB_ROOT/tidemq
[ -f $D/pids ] && { echo "tidemq already running? ($D/pids exists)" >&2; exit 1; }
rm -rf $D/data && mkdir -p $D/data
[ -f "$REPO/packages/cli/dist/src/main.js" ] || { echo "build first: (cd $REPO && npx tsc -b)" >&2; exit 1; }
# Note: `tidemq dev` has no listen-address option yet; it listens on all interfaces (::),
# and registers/advertises 127.0.0.1. Every client here connects to 127.0.0.1.
# shellcheck disable=SC2086
TIDEMQ_LOG_LEVEL=${TIDEMQ_LOG_LEVEL:-warn} setsid node ${TIDEMQ_NODE_OPTS:---initial-old-space-size=64} "$REPO/packages/cli/bin/tidemq.js" dev --replicas 1 \
  --data $D/data $FLAG --namesrv-port "$NS_PORT" --broker-port "$BROKER_PORT" \
  </dev/null >$D/tidemq.log 2>&1 &
echo $! > $D/pids
wait_port 127.0.0.1 "$NS_PORT" 30
wait_port 127.0.0.1 "$BROKER_PORT" 30
for ((i = 0; i < 300; i++)); do
  grep -q "dev cluster ready" $D/tidemq.log && break
  kill -0 "$(cat $D/pids)" 2>/dev/null || { echo "tidemq exited:" >&2; cat $D/tidemq.log >&2; rm -f $D/pids; exit 1; }
  sleep 0.1
done
grep -q "dev cluster ready" $D/tidemq.log || { echo "tidemq not ready after 30 s" >&2; cat $D/tidemq.log >&2; exit 1; }
echo "tidemq dev pid $(cat $D/pids) namesrv 127.0.0.1:$NS_PORT broker 127.0.0.1:$BROKER_PORT flush=$FLUSH"
