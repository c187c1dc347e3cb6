# shellcheck shell=sh
# After live.sh, lock.sh and inspect.sh: takes the lock of the app at $1
# for the holder line $2 and, only when it was acquired, prints what is on
# the host under the lock just taken. One script where there were two: a
# deploy's first round trip to each host.
got=$(take_lock "$1" "$2") || exit
printf '%s\n' "$got"
[ "$got" = acquired ] || exit 0
inspect_app "$1"
