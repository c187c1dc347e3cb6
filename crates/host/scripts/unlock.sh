# shellcheck shell=sh
# After guard.sh. Releases the lock of the app at $1 if token $2 holds it.
cd "$1/.haul" 2>/dev/null || exit 0
guard
if held_by "$2"; then unguard lock; fi
