# shellcheck shell=sh
# After guard.sh and switch.sh. Switches the app at $1 to release $2,
# recording line $3, then releases the lock if token $4 holds it, so a
# switch that is the last step on this host costs no second round trip.
# Exits 7 when the switch was made and recorded but the lock could not be
# released (it is then released as usual).
switch_release "$1" "$2" "$3" || exit
( cd .haul && guard && if held_by "$4"; then unguard lock; fi ) || exit 7
