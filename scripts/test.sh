#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need when it is
# missing (Debian packages; needs root or sudo), so it works on a fresh
# machine and in CI alike.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The hostile-input tests compare link resolution with `realpath -m`.
for tool in tar cp xargs mkfifo mknod realpath timeout; do
  command -v "$tool" >/dev/null || need+=(coreutils tar findutils)
done
# The SSH tests run a fleet of real sshd hosts on loopback (as root: each host
# gets its own mount namespace) and a web server on them.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v unshare >/dev/null && command -v nsenter >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
# Large files that changed a little travel with rsync when both ends have it.
command -v rsync >/dev/null || need+=(rsync)
# The HTTPS tests make a test CA and certificates with the openssl command
# (and serve them with Python's ssl module).
command -v openssl >/dev/null || need+=(openssl)
# The ledger's tests run a real PostgreSQL server on loopback (as the postgres
# user when run as root); Debian keeps initdb in /usr/lib/postgresql/*/bin.
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
# Minimal hosts: the host scripts run with nothing but BusyBox's applets on
# PATH, and under dash.
command -v busybox >/dev/null || need+=(busybox)
command -v dash >/dev/null || need+=(dash)
# The host scripts are linted with shellcheck (scripts/host-scripts.sh).
command -v shellcheck >/dev/null || need+=(shellcheck)
# The dashboard's end-to-end test drives headless Chromium through chromedriver.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
# The API fuzzing (scripts/schemathesis.sh) installs Schemathesis into a
# Python virtualenv and fetches the OpenAPI document with curl.
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v curl >/dev/null || need+=(curl)
# The systemd units in contrib/ are checked with systemd-analyze
# (scripts/host-scripts.sh).
command -v systemd-analyze >/dev/null || need+=(systemd)
# The store's tests run npm's s3rver (see below).
command -v npm >/dev/null || need+=(npm)
if ((${#need[@]})); then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${need[@]}"
fi

# The store's tests run against real S3 servers on loopback: moto's server
# mode (from PyPI, into a virtualenv under target/) honours conditional
# writes; npm's s3rver (into target/) does not, and the store must refuse it.
moto_version="${MOTO_VERSION:-5.2.5}"
moto="$PWD/target/moto-$moto_version"
if [ ! -x "$moto/bin/moto_server" ]; then
  python3 -m venv "$moto"
  "$moto/bin/pip" install --quiet "moto[server]==$moto_version"
fi
s3rver_version="${S3RVER_VERSION:-3.7.1}"
s3rver="$PWD/target/s3rver-$s3rver_version"
if [ ! -x "$s3rver/node_modules/.bin/s3rver" ]; then
  npm install --silent --no-audit --no-fund --prefix "$s3rver" "s3rver@$s3rver_version"
fi
export HAUL_MOTO="$moto/bin/moto_server" HAUL_S3RVER="$s3rver/node_modules/.bin/s3rver"

status=0
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
  cargo test --workspace --no-fail-fast "$@" || status=$?
fi
scripts/schemathesis.sh || status=$?
exit $status
