# shellcheck shell=sh
# Writes the files named on stdin (NUL-separated, each `./dir/path` as
# `content-list.sh` names them) under `shared/` of the app at $1 to stdout
# as tar. The names never travel on the command line, so a set of any size
# fits; a long list may become several archives one after another, which
# the gate on the machine running haul reads as one.
cd "$1/shared" || exit 3
exec xargs -0 tar -cf -
