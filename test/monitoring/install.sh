#!/usr/bin/env bash
# Installs what the monitoring tests need from Debian's packages: `prometheus` (the server and
# promtool, for `promtool check/test rules` and test/monitoring/prometheus.test.ts) and
# `gnuplot-nox` (plots the dashboard's key panels to a PNG). Idempotent: exits at once when both
# are installed; runs `apt-get update` only when the package lists do not know them yet (or
# name versions the archive no longer has).
# Never starts the Debian service: a policy-rc.d that refuses every start is in place during the
# install (the tests run their own Prometheus on loopback). Needs root (as here and in CI).
set -euo pipefail

packages=(prometheus gnuplot-nox)

installed() {
  command -v promtool >/dev/null && command -v prometheus >/dev/null && command -v gnuplot >/dev/null
}
if installed; then exit 0; fi

if [[ $(id -u) != 0 ]]; then
  echo "test/monitoring/install.sh: needs root to install ${packages[*]} (or install them yourself)" >&2
  exit 1
fi

known() {
  local p
  for p in "${packages[@]}"; do
    apt-cache policy "$p" 2>/dev/null | grep -q 'Candidate: [0-9]' || return 1
  done
}
export DEBIAN_FRONTEND=noninteractive
if ! known; then apt-get update -qq; fi

# invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before starting a service;
# exit code 101 means "not allowed". An existing policy is left as it is.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=1
fi
remove_policy() { if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi; }
trap remove_policy EXIT

install_packages() { apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; }
# Lists older than the archive name versions it no longer has: refresh them once and retry.
install_packages || { apt-get update -qq && install_packages; }

installed || { echo "test/monitoring/install.sh: promtool, prometheus or gnuplot missing after the install" >&2; exit 1; }
