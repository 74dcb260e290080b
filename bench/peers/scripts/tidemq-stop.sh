#!/usr/bin/env bash
# Stops exactly the PID tidemq-start.sh wrote (SIGTERM: the dev command stops the broker and
# the NameServer cleanly; SIGKILL after 30 s).
PEERS=${PEERS:-/work/shared/bench/peers}
source "$PEERS/scripts/common.sh"
stop_pids $PB_ROOT/tidemq/pids 30
