#!/usr/bin/env bash
# Builds haul, deploys the example app in examples/hello to its two local
# hosts (directories under examples/hello/.haul/hosts standing in for
# servers), then shows what is live where. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p haul
# Where cargo put it: CARGO_TARGET_DIR when set (relative to the checkout).
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$PWD/$target_dir ;; esac
haul="$target_dir/debug/haul"
cd examples/hello
"$haul" deploy hello local
echo
"$haul" status
