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
# Whoever reads the output may be gone at any moment (haul killed, the
# connection lost), and a Ctrl-C meant for haul reaches a local host's
# shell too: nothing here may be stopped by a closed pipe, a hang-up or an
# interrupt, or the lock would stay held. The end of the input (which
# comes when haul goes, however it goes) releases it.
trap '' PIPE HUP INT QUIT TERM
case $1 in /*) ;; *) set -- "$PWD/$1" "$2" "$3" "$4" ;; esac
# The guard's identity is written before the lock is taken: a host that
# cannot write it (a full disk) refuses here, holding nothing, rather than
# holding a lock it could not release.
{ [ -d "$1/.haul" ] || mkdir -p "$1/.haul"; } && cd "$1/.haul" || exit 3
guard_ready
got=$(take_lock "$1" "$2") || exit
printf '%s\n' "$got"
[ "$got" = acquired ] || exit 0
inspect_app "$1"
printf '%s\n' "$3"
if IFS= read -r w && [ "$w" = switch ] && IFS= read -r id && IFS= read -r line; then
  switch_release "$1" "$id" "$line" || exit
  ( cd .haul && guard_take && if held_by "$4"; then unguard lock; fi ) || exit 7
  exit 0
fi
( cd "$1/.haul" && guard_take && if held_by "$4"; then unguard lock; fi ) || exit 8
