# shellcheck shell=sh
# Moves the stage directory of release $2 of the app at $1 into place, once
# rsync has filled it; when $3 is `complete`, then marks it complete (as
# complete.sh does).
cd "$1" && mv "releases/.stage-$2" "releases/$2" || exit
[ "$3" != complete ] || mv "releases/$2.manifest.tmp" "releases/$2.manifest"
