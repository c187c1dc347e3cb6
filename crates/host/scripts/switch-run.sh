# shellcheck shell=sh
# After guard.sh and switch.sh: switches the app at $1 to release $2,
# recording line $3, while token $4 holds its lock, and keeps the lock.
switch_release "$1" "$2" "$3" "$4" || exit
unguard
