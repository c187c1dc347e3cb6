# shellcheck shell=sh
# After guard.sh. Clears whatever lock the app at $1 has, printing `@cleared`
# and what it was, and records the history line $2.
cd "$1/.haul" 2>/dev/null || exit 0
guard
if [ -f lock ]; then echo @cleared; cat lock; rm -f lock; printf '%s\n' "$2" >> history; fi
