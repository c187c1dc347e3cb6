# shellcheck shell=sh
# Functions of the scripts that release, take over or clear a lock (see
# lock.rs), composed before them:
#   me          prints this script's identity: boot, pid namespace, pid, start
#   dead ID     whether the script ID (as `me` printed it) is certainly gone
#   guard       takes `lock.guard` (in the current directory) until the
#               script exits, recovering one whose taker is certainly dead
#   held_by T   whether `lock` (in the current directory) is held by token T;
#               never for an empty token
me() {
  b=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null); n=$(readlink /proc/$$/ns/pid 2>/dev/null)
  s=$(sed 's/.*) //' /proc/$$/stat 2>/dev/null | cut -d' ' -f20)
  printf '%s %s %s %s\n' "${b:-?}" "${n:-?}" $$ "${s:-?}"
}
dead() {
  # Split on purpose: the identity is four words.
  # shellcheck disable=SC2086
  set -- $1
  [ "$1" != '?' ] && [ "$2" != '?' ] && [ "$4" != '?' ] || return 1
  [ "$1" = "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" ] || return 1
  [ "$2" = "$(readlink /proc/$$/ns/pid 2>/dev/null)" ] || return 1
  [ -d "/proc/$3" ] || return 0
  [ "$4" != "$(sed 's/.*) //' "/proc/$3/stat" 2>/dev/null | cut -d' ' -f20)" ]
}
guard() {
  gd=$(pwd)
  me > lock.guard.$$ || exit 5
  trap 'rm -f "$gd/lock.guard.$$"' EXIT
  g=0
  until ln lock.guard.$$ lock.guard 2>/dev/null; do
    if o=$(cat lock.guard 2>/dev/null) && dead "$o"; then
      if mv lock.guard lock.guard.dead.$$ 2>/dev/null; then
        if [ "$(cat lock.guard.dead.$$)" = "$o" ]; then rm -f lock.guard.dead.$$; else ln lock.guard.dead.$$ lock.guard 2>/dev/null; rm -f lock.guard.dead.$$; fi
      fi
      continue
    fi
    g=$((g+1))
    if [ $g -gt 600 ]; then echo "the lock guard $(pwd)/lock.guard has been held for a minute; remove it if no haul runs on this host" >&2; exit 6; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  trap 'rm -f "$gd/lock.guard" "$gd/lock.guard.$$"' EXIT
}
held_by() { [ -n "$1" ] && grep -qF "\"token\":\"$1\"" lock 2>/dev/null; }
