# shellcheck shell=sh
# After live.sh. Removes release $2 of the app at $1 and what staging it
# left, unless it is live or complete.
cd "$1" 2>/dev/null || exit 0
[ "$(live)" = "releases/$2" ] && exit 0
[ -f "releases/$2.manifest" ] && exit 0
rm -rf "releases/$2" "releases/$2.manifest.tmp" "releases/.stage-$2" "releases/.incoming-$2"
