# shellcheck shell=sh
# After guard.sh and switch.sh, which left the shell in the app at $1 with
# `current` switched and recorded. Releases the lock if token $4 holds it,
# so a switch that is the last step on this host costs no second round
# trip. Exits 7 when the switch was made and recorded but the lock could
# not be released (it is then released as usual).
( cd .haul && guard && if held_by "$4"; then unguard lock; fi ) || exit 7
