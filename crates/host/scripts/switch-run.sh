# shellcheck shell=sh
# After switch.sh: switches the app at $1 to release $2, recording line $3.
switch_release "$1" "$2" "$3"
