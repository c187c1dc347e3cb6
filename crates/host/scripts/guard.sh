# shellcheck shell=sh
# Functions of the scripts that release, take over or clear a lock (see
# lock.rs), composed before them:
#   me          prints this script's identity: boot, pid namespace, pid, start
#   dead ID     whether the script ID (as `me` printed it) is certainly gone
#   guard       takes `lock.guard` (in the current directory) until the
#               script exits, recovering one whose taker is certainly dead:
#               `guard_ready` (this script's identity written beside it),
#               then `guard_take`; a script that waits anyway readies early.
#               A guard still held by a live taker after a minute exits 10
#               (`guard_take` returns 10: its caller decides)
#   held_by T   whether `lock` (in the current directory) is held by token T;
#               never for an empty token
#   guard_for T WHO WHAT
#               `guard`, then, unless token T holds `lock`, exits 9 saying
#               the lock is no longer this WHO's and WHAT (what was not done)
#   unguard F…  removes the files F… and then the guard; fails if `rm` did
#   guard_drop  ends the guard, keeping this script's identity for the next
# The identity is read with the shell's own `read`: a lock release costs
# one process for it (`readlink`), not a pipeline per field.
# started PID: sets `s` to the start time of process PID (the 20th field of
# /proc/PID/stat after the command's name), or to `?`.
started() {
  s='?'
  { IFS= read -r st < "/proc/$1/stat"; } 2>/dev/null || return 0
  st=${st##*) }
  # Split on purpose: the fields after the command's name.
  # shellcheck disable=SC2086
  set -- $st
  [ $# -ge 20 ] || return 0
  shift 19
  s=$1
}
# boot: sets `b` to this boot's id, or to `?`.
boot() { { IFS= read -r b < /proc/sys/kernel/random/boot_id; } 2>/dev/null || b='?'; }
me() {
  boot; n=$(readlink /proc/$$/ns/pid 2>/dev/null); started $$
  printf '%s %s %s %s\n' "${b:-?}" "${n:-?}" $$ "${s:-?}"
}
dead() {
  # Split on purpose: the identity is four words.
  # shellcheck disable=SC2086
  set -- $1
  [ "$1" != '?' ] && [ "$2" != '?' ] && [ "$4" != '?' ] || return 1
  boot; [ "$1" = "$b" ] || return 1
  [ "$2" = "$(readlink /proc/$$/ns/pid 2>/dev/null)" ] || return 1
  [ -d "/proc/$3" ] || return 0
  started "$3"; [ "$4" != "$s" ]
}
guard() { guard_ready; guard_take || exit; }
guard_ready() {
  gd=$PWD
  me > lock.guard.$$ || exit 5
  trap 'rm -f "$gd/lock.guard.$$"' EXIT
}
guard_take() {
  g=0
  until ln lock.guard.$$ lock.guard 2>/dev/null; do
    if o=$(cat lock.guard 2>/dev/null) && dead "$o"; then
      if mv lock.guard lock.guard.dead.$$ 2>/dev/null; then
        if [ "$(cat lock.guard.dead.$$)" = "$o" ]; then rm -f lock.guard.dead.$$; else ln lock.guard.dead.$$ lock.guard 2>/dev/null; rm -f lock.guard.dead.$$; fi
      fi
      continue
    fi
    g=$((g+1))
    if [ $g -gt 600 ]; then echo "the lock guard $(pwd)/lock.guard has been held for a minute; remove it if no haul runs on this host" >&2; return 10; fi
    sleep 0.1 2>/dev/null || sleep 1
  done
  trap 'rm -f "$gd/lock.guard" "$gd/lock.guard.$$"' EXIT
}
held_by() {
  [ -n "$1" ] && [ -f lock ] || return 1
  { while IFS= read -r hl || [ -n "$hl" ]; do
      case $hl in *"\"token\":\"$1\""*) return 0 ;; esac
    done < lock; } 2>/dev/null
  return 1
}
guard_for() {
  guard
  held_by "$1" && return 0
  echo "the lock of this host is no longer this $2's (cleared by \`haul unlock\` or taken over since it was taken): $3" >&2
  exit 9
}
# unguard FILE...: removes FILE... (in the current directory), then the
# guard, in that order and by one `rm`.
unguard() { rm -f "$@" "$gd/lock.guard" "$gd/lock.guard.$$"; ug=$?; trap - EXIT; return $ug; }
# guard_drop: ends the guard taken by guard_take, keeping this script's
# identity for the next one. The exit trap is narrowed first: a script
# stopped in between leaves a guard whose taker is certainly dead.
guard_drop() { trap 'rm -f "$gd/lock.guard.$$"' EXIT; rm -f "$gd/lock.guard"; }
