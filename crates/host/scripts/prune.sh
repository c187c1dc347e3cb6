# shellcheck shell=sh
# After guard.sh and live.sh. Prunes releases of the app at $1 while token $2
# holds the lock, keeping the live release, the newest $3 complete ones and
# anything changed since the lock was taken; then pairs of words: a release
# id and the history line recording its removal. Prints `removed ID` or
# `kept ID WHY` for each.
cd "$1" || exit 3
cd .haul || exit 3
guard
cd .. || exit 3
if ! ( cd .haul && held_by "$2" ); then echo "the lock is no longer this run's; nothing pruned" >&2; exit 7; fi
live=$(live)
newest=$(for m in releases/*.manifest; do [ -f "$m" ] && basename "$m" .manifest; done | sort | tail -n "$3")
skip() { echo "kept $1 $2"; }
shift 3
while [ $# -gt 0 ]; do
  id=$1 event=$2
  shift 2
  if [ "$live" = "releases/$id" ]; then skip "$id" "it is live"
  elif printf '%s\n' "$newest" | grep -qxF "$id"; then skip "$id" "it is one of the newest releases"
  elif [ -n "$(find "releases/$id" "releases/$id.manifest" -prune -newer .haul/lock 2>/dev/null)" ]; then skip "$id" "it changed after this run took the lock"
  elif [ -e "releases/$id" ] || [ -e "releases/$id.manifest" ]; then
    { rm -f "releases/$id.manifest" && rm -rf "releases/$id" && printf '%s\n' "$event" >> .haul/history; } || exit 5
    echo "removed $id"
  fi
done
