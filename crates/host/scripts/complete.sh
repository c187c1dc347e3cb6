# shellcheck shell=sh
# Marks the staged release $2 of the app at $1 complete: its record moves
# beside it.
cd "$1" && mv "releases/$2.manifest.tmp" "releases/$2.manifest"
