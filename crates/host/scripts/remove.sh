# shellcheck shell=sh
# After live.sh. Removes releases of the app at $1, never the live one; then
# pairs of words: a release id and the history line recording its removal.
cd "$1" || exit 3
shift
live=$(live)
while [ $# -gt 0 ]; do
  id=$1 event=$2
  shift 2
  if [ "$live" = "releases/$id" ]; then echo "release $id is live; not removed" >&2; exit 4; fi
  { rm -f "releases/$id.manifest" && rm -rf "releases/$id" && printf '%s\n' "$event" >> .haul/history; } || exit 5
done
