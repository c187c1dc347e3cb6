# shellcheck shell=sh
# After lock.sh. Takes the lock of the app at $1 for the holder line $2.
take_lock "$1" "$2"
