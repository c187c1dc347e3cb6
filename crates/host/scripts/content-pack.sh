# shellcheck shell=sh
# Writes a tar of the files $2… (each `./dir/path`, as `content-list.sh`
# names them) under `shared/` of the app at $1 to stdout.
cd "$1/shared" || exit 3
shift
exec tar -cf - "$@"
