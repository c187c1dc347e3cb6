#!/usr/bin/env bash
# Fuzzes `haul server`'s API with Schemathesis against its own OpenAPI
# document, once with a token of each scope: no response may be a 5xx, every
# response must match the document, every error must have the documented
# JSON shape. The server runs for real over a ledger seeded by a real deploy
# (two local hosts, a staging → prod pipeline, a verification, an approval).
#
# Schemathesis (pinned) is installed from the Python package index into a
# virtualenv under target/, made once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
examples="${SCHEMATHESIS_EXAMPLES:-10}"
# SCHEMATHESIS_SCOPES="deploy admin" fuzzes with those scopes' tokens only.

venv="$root/target/schemathesis-$version"
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi
cargo build --quiet -p haul
# Where cargo put it: CARGO_TARGET_DIR when set (relative to the checkout).
target_dir=${CARGO_TARGET_DIR:-target}
case $target_dir in /*) ;; *) target_dir=$root/$target_dir ;; esac
haul="$target_dir/debug/haul"

work="$(mktemp -d)"
server=""
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }
scopes=(read deploy verify approve admin)
{
  cat <<EOF
[apps.app]
ship = "src"

[environments.staging]
hosts = ["a", "b"]

[environments.prod]
hosts = ["a"]
code = "staging"

[environments.prod.requires]
verifications = ["smoke"]
approvals = 1

[hosts.a]
transport = "local"
root = ".haul/hosts/a"

[hosts.b]
transport = "local"
root = ".haul/hosts/b"
EOF
  for s in "${scopes[@]}"; do
    printf '\n[[server.tokens]]\nname = "%s"\nsha256 = "%s"\nscopes = ["%s"]\n' "$s-token" "$(sha "$s-secret")" "$s"
  done
} >"$work/haul.toml"
mkdir -p "$work/src"
echo hello >"$work/src/index.html"
cd "$work"
"$haul" deploy app staging >/dev/null
release="$("$haul" history --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["release"])')"
"$haul" verify app staging --name smoke --result pass >/dev/null
"$haul" approve app "$release" --for prod >/dev/null

"$haul" server --listen 127.0.0.1:0 2>"$work/server.log" &
server=$!
for _ in $(seq 100); do
  grep -q 'listening' "$work/server.log" 2>/dev/null && break
  sleep 0.1
done
base="$(sed -n 's/^haul server listening on //p' "$work/server.log" | head -1)"
curl -fsS -H "Authorization: Bearer read-secret" "$base/api/v1/openapi.json" >"$work/openapi.json"

# A body over the documented 64 KiB limit is refused with 413 (in the
# document); Schemathesis counts that status as a rejection only if told.
cat >"$work/schemathesis.toml" <<'TOML'
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

# A report names in its body a pull environment and one of its hosts, which
# only the server's haul.toml knows (here no environment deploys by pull, so
# every report is refused with 422, naming what it lacks); the document
# cannot say that, so 422 is one of the answers a valid body may get.
[[operations]]
include-name = "POST /api/v1/agents/reports"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]

# The same for a deploy request: it names a pull environment of the
# server's haul.toml in its body.
[[operations]]
include-name = "POST /api/v1/deploy-requests"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422", "429"]
TOML

status=0
read -ra fuzz <<<"${SCHEMATHESIS_SCOPES:-${scopes[*]}}"
# One run per scope, all at once: a run spends most of its time waiting on
# the server's answers, not computing. Each writes its own log, shown after.
declare -A runs
for s in "${fuzz[@]}"; do
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" run "$work/openapi.json" --url "$base" \
    --header "Authorization: Bearer $s-secret" \
    --checks all --max-examples "$examples" --no-color >"$work/fuzz-$s.log" 2>&1 &
  runs[$s]=$!
done
for s in "${fuzz[@]}"; do
  failed=0
  wait "${runs[$s]}" || failed=1
  echo "== Schemathesis with a \`$s\` token"
  cat "$work/fuzz-$s.log"
  ((failed == 0)) || status=1
done
if grep -q 'request .*:' "$work/server.log"; then
  echo "== server errors logged:"
  grep 'request .*:' "$work/server.log"
  status=1
fi
exit $status
