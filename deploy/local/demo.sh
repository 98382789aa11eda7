#!/usr/bin/env bash
# make demo: make up (local control plane, runner, reconciler, two example HelmReleases, Ready),
# then keeps running until Ctrl-C, then tears everything down (make down). Also tears down when
# make up fails, or when the runner or the reconciler exits on its own.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

teardown() {
  trap '' INT TERM
  printf '\n' >&2
  log "tearing down"
  "$REPO_ROOT/deploy/local/down.sh"
}
trap 'teardown; exit 0' INT TERM
trap 'rc=$?; if ((rc != 0)); then teardown; fi' EXIT

PLANTON_DEMO=1 "$REPO_ROOT/deploy/local/up.sh"
log "the demo runs until Ctrl-C"
while :; do
  for p in reconciler helm-runner; do
    if ! alive "$STATE_DIR/pids/$p.pid"; then
      tail -n 15 "$STATE_DIR/logs/$p.log" >&2 || true
      log "$p exited on its own; log: $STATE_DIR/logs/$p.log"
      exit 1
    fi
  done
  sleep 2 &
  wait $! || true
done
