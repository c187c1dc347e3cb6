# shellcheck shell=sh
# After guard.sh, live.sh, lock.sh, inspect.sh and switch.sh. A lock held
# for as long as haul keeps this script's input open, so that a run whose
# only change on this host is a switch needs one session here, while every
# host is still locked before any of them changes:
# takes the lock of the app at $1 for the holder line $2 and, only when it
# was acquired, prints what is on the host under it, then the line $3, and
# waits. Then, from its input:
#   `switch`, a release id and a history line, each ending in a newline:
#       switches to that release (exits as switch-unlock.sh does) and
#       releases the lock if token $4 holds it;
#   anything else, a line cut short, or the end of the input (haul is
#       done, was killed, or lost the connection): releases the lock if
#       token $4 holds it and changes nothing else (exit 8 if it cannot).
case $1 in /*) ;; *) set -- "$PWD/$1" "$2" "$3" "$4" ;; esac
got=$(take_lock "$1" "$2") || exit
printf '%s\n' "$got"
[ "$got" = acquired ] || exit 0
inspect_app "$1"
# The guard's identity is written now, while haul reads the answer, so the
# release after a switch costs no process for it.
cd "$1/.haul" || exit 3
guard_ready
printf '%s\n' "$3"
# Whoever reads the output may be gone by now: what follows must not be
# stopped by a closed pipe or a hang-up, or the lock would stay held.
trap '' PIPE HUP
if IFS= read -r w && [ "$w" = switch ] && IFS= read -r id && IFS= read -r line; then
  switch_release "$1" "$id" "$line" || exit
  ( cd .haul && guard_take && if held_by "$4"; then unguard lock; fi ) || exit 7
  exit 0
fi
( cd "$1/.haul" && guard_take && if held_by "$4"; then unguard lock; fi ) || exit 8
