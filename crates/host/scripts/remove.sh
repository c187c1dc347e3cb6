# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and aside.sh. Removes releases of the app at $1, never the
# live one, while token $2 holds its lock; then pairs of words: a release
# id and the history line recording its removal. The live release is
# judged and the releases removed under the lock's guard, as pruning does:
# a run whose lock was cleared (`haul unlock`) or taken over since it took
# it removes nothing and exits 9 (10 when the guard stayed held for a
# minute), and no switch moves `current` between the check and the removal.
# The releases' files are deleted after the guard ends.
cd "$1" || exit 3
cd .haul || exit 3
guard_for "$2" run "nothing removed"
cd .. || exit 3
shift 2
live=$(live)
while [ $# -gt 0 ]; do
  id=$1 event=$2
  shift 2
  if [ "$live" = "releases/$id" ]; then echo "release $id is live; not removed" >&2; exit 4; fi
  { aside "$id" && printf '%s\n' "$event" >> .haul/history; } || exit 5
done
unguard
sweep
