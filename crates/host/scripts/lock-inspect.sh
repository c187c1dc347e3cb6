# shellcheck shell=sh
# After live.sh and lock.sh, before inspect.sh: takes the lock of the app
# at $1 for the holder line $2 and, only when it was acquired, goes on to
# inspect.sh, which prints what is on the host under the lock just taken.
# One script where there were two: a deploy's or rollback's first round
# trip to each host.
got=$(take_lock "$1" "$2") || exit
printf '%s\n' "$got"
[ "$got" = acquired ] || exit 0
