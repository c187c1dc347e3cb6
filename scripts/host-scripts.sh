#!/usr/bin/env bash
# Checks every host script (crates/host/scripts/*.sh): `shellcheck -s sh`
# at every severity, and `dash -n`, since servers run dash, BusyBox sh and
# bash and the scripts must be POSIX sh for all three. Then the systemd
# units in contrib/ with `systemd-analyze verify`, where any message (an
# unknown key is only a warning to systemd) fails the check.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
shopt -s nullglob
files=(crates/host/scripts/*.sh)
if ((${#files[@]} == 0)); then
  echo "no host scripts found in crates/host/scripts" >&2
  exit 1
fi
shellcheck -s sh -S style "${files[@]}" || status=$?
for f in "${files[@]}"; do
  dash -n "$f" || { echo "dash -n: $f does not parse" >&2; status=1; }
done

units=(contrib/*.service contrib/*.timer)
if ! command -v systemd-analyze >/dev/null; then
  echo "systemd-analyze is missing: install systemd to check contrib/" >&2
  exit 1
fi
# The units name the installed binary; any executable stands in for it.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for u in "${units[@]}"; do
  sed 's#/usr/local/bin/haul#/bin/true#' "$u" >"$tmp/${u##*/}"
done
report=$(cd "$tmp" && systemd-analyze verify --man=no ./* 2>&1) || status=$?
if [[ -n $report ]]; then
  echo "$report" >&2
  status=1
fi
exit $status
