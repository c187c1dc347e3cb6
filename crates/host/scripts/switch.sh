# shellcheck shell=sh
# After guard.sh. Defines `switch_release DIR ID LINE TOKEN`: switches
# `current` of the app at DIR to the complete release ID by renaming a new
# link over it, and records the history line LINE, under the lock guard and
# only while the lock is held by TOKEN: a run whose lock was cleared
# (`haul unlock`) or taken over since it took it never switches. Returns 3,
# 4, 5, 9 (the lock is not TOKEN's) or 10 (the guard stayed held for a
# minute) when it refused before moving `current`; 6 when `current` moved
# but the history could not be written (any other failure may have moved
# it too). Returns in DIR; on success
# still holding the guard, which the caller ends (`unguard .haul/lock`
# releases the lock with it, `guard_drop` or `unguard` keeps the lock). A
# script that readied its guard here earlier (`guard_ready`) keeps its
# identity.
switch_release() {
  cd "$1" || return 3
  if [ ! -d "releases/$2" ] || [ ! -f "releases/$2.manifest" ]; then echo "release $2 is not complete on this host" >&2; return 4; fi
  # Tests before `mkdir` and `rm`: a switch is a handful of processes, and
  # usually neither is needed.
  { [ -d .haul ] || mkdir -p .haul; } && cd ./.haul || return 3
  [ -f "lock.guard.$$" ] || guard_ready
  guard_take || return
  if ! held_by "$4"; then
    guard_drop; cd ..
    echo "the lock of this host is no longer this run's (cleared by \`haul unlock\` or taken over since it was taken): not switched" >&2
    return 9
  fi
  cd ..
  # Judged again under the guard: a removal (remove.sh, prune.sh) sets
  # the tree aside and drops the manifest under it.
  if [ ! -d "releases/$2" ] || [ ! -f "releases/$2.manifest" ]; then guard_drop; echo "release $2 is not complete on this host" >&2; return 4; fi
  tmp=.haul/current.$$
  if [ -e "$tmp" ] || [ -L "$tmp" ]; then rm -f "$tmp"; fi
  if ! { ln -s "releases/$2" "$tmp" && { mv -Tf "$tmp" current 2>/dev/null || mv -hf "$tmp" current; }; }; then rm -f "$tmp"; guard_drop; return 5; fi
  if ! printf '%s\n' "$3" >> .haul/history; then guard_drop; echo "switched to $2, but .haul/history could not be written" >&2; return 6; fi
}
