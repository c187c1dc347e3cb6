# shellcheck shell=sh
# Moves the stage directory of release $2 of the app at $1 into place, once
# rsync has filled it; when $3 is `complete`, then marks it complete (as
# complete.sh does).
# Never into a directory of that name that appeared meanwhile (another run
# staging the same release): `-T`, or where `mv` has none, only while the
# name is still free.
cd "$1" || exit
mv -T "releases/.stage-$2" "releases/$2" 2>/dev/null || { [ ! -e "releases/$2" ] && [ ! -L "releases/$2" ] && mv "releases/.stage-$2" "releases/$2"; } || {
  echo "release $2 appeared on this host while it was staged (another run staged it): not moved into place" >&2
  exit 8
}
[ "$3" != complete ] || mv "releases/$2.manifest.tmp" "releases/$2.manifest"
