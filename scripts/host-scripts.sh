#!/usr/bin/env bash
# Checks every host script (crates/host/scripts/*.sh): `shellcheck -s sh`
# at every severity, and `dash -n`, since servers run dash, BusyBox sh and
# bash and the scripts must be POSIX sh for all three.
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
exit $status
