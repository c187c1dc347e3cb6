#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need when it is
# missing (Debian packages; needs root or sudo), so it works on a fresh
# machine and in CI alike.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for tool in tar cp xargs mkfifo mknod; do
  command -v "$tool" >/dev/null || need+=(coreutils tar findutils)
done
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi

if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
