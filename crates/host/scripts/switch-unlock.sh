# shellcheck shell=sh
# After guard.sh and switch.sh. Switches the app at $1 to release $2,
# recording line $3, while token $4 holds its lock, then releases that lock
# under the same guard, so a switch that is the last step on this host
# costs no second round trip. Exits 7 when the switch was made and
# recorded but the lock could not be released (it is then released as
# usual).
switch_release "$1" "$2" "$3" "$4" || exit
unguard .haul/lock || exit 7
