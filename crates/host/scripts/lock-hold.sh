# shellcheck shell=sh
# After guard.sh, live.sh, lock.sh, inspect.sh and switch.sh. A lock held
# through a session kept open by haul, so that the switch (and, in a
# rollback, the release) costs no session of its own, while every host is
# still locked before any of them changes:
# takes the lock of the app at $1 for the holder line $2 and, only when it
# was acquired, prints what is on the host under it, then the line $3, and
# waits. Then, from its input, command after command:
#   `move`, a release id and a history line, each ending in a newline:
#       switches to that release while token $4 holds the lock (as
#       switch-run.sh does), keeping the lock;
#       prints what the switch said, then `@moved`, token $4 and its exit
#       status on one line; then waits for the next command;
#   `switch`, a release id and a history line: switches to that release
#       while token $4 holds the lock and releases it (exits as
#       switch-unlock.sh does);
#   `release`: releases the lock if token $4 holds it (exit 8 if it cannot);
#   anything else, a line cut short, or the end of the input (haul is
#       done, was killed, or lost the connection): with $5 `keep`, exits
#       and leaves the lock as any holder that went away leaves it (a run
#       that works on under the lock keeps it even when this session is
#       lost); else releases it as `release` does. Nothing else changes.
# Whoever reads the output may be gone at any moment (haul killed, the
# connection lost), and a Ctrl-C meant for haul reaches a local host's
# shell too: nothing here may be stopped by a closed pipe, a hang-up or an
# interrupt, or the lock would stay held. The end of the input (which
# comes when haul goes, however it goes) releases it.
trap '' PIPE HUP INT QUIT TERM
case $1 in /*) ;; *) set -- "$PWD/$1" "$2" "$3" "$4" "$5" ;; esac
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
# release: releases the lock if token $4 holds it, under the guard whose
# identity was written above.
release() ( cd "$1/.haul" && guard_take && if held_by "$4"; then unguard lock; fi )
while IFS= read -r w; do
  case $w in
    move|switch) if ! { IFS= read -r id && IFS= read -r line; }; then break; fi ;;
    *) break ;;
  esac
  if [ "$w" = switch ]; then
    switch_release "$1" "$id" "$line" "$4" || exit
    unguard .haul/lock || exit 7
    exit 0
  fi
  if switch_release "$1" "$id" "$line" "$4" 2>&1; then guard_drop; rc=0; else rc=$?; fi
  printf '@moved %s %s\n' "$4" "$rc"
done
[ "$w" = release ] || [ "$5" != keep ] || exit 0
release "$@" || exit 8
