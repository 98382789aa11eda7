#!/usr/bin/env bash
# Exits 0 when every component of the local control plane is running; prints each one's state.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rc=0
for c in "${COMPONENTS[@]}"; do
  if running "$c"; then state=running; else state=stopped; rc=1; fi
  printf '%-24s %s\n' "$c" "$state"
done
exit $rc
