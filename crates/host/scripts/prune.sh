# shellcheck shell=sh
# After guard.sh, live.sh, put.sh, aside.sh and leftovers.sh. Prunes releases of the app at $1 while token $2
# holds the lock, keeping the live release, the newest $3 complete ones and
# anything changed since the lock was taken; then pairs of words: a release
# id and the history line recording its removal. Prints `removed ID` or
# `kept ID WHY` for each. Decided under the lock's guard; the releases'
# files, and what runs staging here left, are deleted after it ends.
cd "$1" || exit 3
cd .haul || exit 3
guard
cd .. || exit 3
if ! ( cd .haul && held_by "$2" ); then echo "the lock is no longer this run's; nothing pruned" >&2; exit 7; fi
live=$(live)
# The newest $3 complete releases, as one space-separated list: release ids
# sort by time, and a glob expands sorted, so the last ones are the newest.
# The shell's own loops, not a process per release.
total=0
# (A manifest without its tree, which a removal stopped between its two
# steps leaves, is no release.)
for m in releases/*.manifest; do [ -f "$m" ] && [ -d "${m%.manifest}" ] && total=$((total + 1)); done
older=$((total - $3)) newest=' '
for m in releases/*.manifest; do
  if [ ! -f "$m" ] || [ ! -d "${m%.manifest}" ]; then continue; fi
  if [ "$older" -gt 0 ]; then older=$((older - 1)); continue; fi
  m=${m#releases/}; newest="$newest${m%.manifest} "
done
skip() { echo "kept $1 $2"; }
shift 3
while [ $# -gt 0 ]; do
  id=$1 event=$2
  shift 2
  if [ "$live" = "releases/$id" ]; then skip "$id" "it is live"
  elif case $newest in *" $id "*) true ;; *) false ;; esac; then skip "$id" "it is one of the newest releases"
  elif [ -n "$(find "releases/$id" "releases/$id.manifest" -prune -newer .haul/lock 2>/dev/null)" ]; then skip "$id" "it changed after this run took the lock"
  elif [ -e "releases/$id" ] || [ -e "releases/$id.manifest" ]; then
    { aside "$id" && printf '%s\n' "$event" >> .haul/history; } || exit 5
    echo "removed $id"
  fi
done
# What runs staging here left under their own names (stopped, or stale
# once their lock was taken) goes too, also when no release does (the
# run's inspect showed it, `HostState::leftovers`): only the lock's holder
# prunes, and it stages nothing while it prunes.
staged_aside() {
  case $1 in releases/.gone-*) return 0 ;; esac
  put_free "$1" "releases/.gone-staged.$$" || echo "$1, left by a run staging here, could not be set aside to be deleted" >&2
}
each_leftover staged_aside
unguard
sweep
