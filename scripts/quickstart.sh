#!/usr/bin/env bash
# Builds haul, deploys the example app in examples/hello to its two local
# hosts (directories under examples/hello/.haul/hosts standing in for
# servers), then shows what is live where. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p haul
haul="$PWD/target/debug/haul"
cd examples/hello
"$haul" deploy hello local
echo
"$haul" status
