# shellcheck shell=sh
# After put.sh. Moves the stage directory of release $2 of the app at $1 into place, once
# rsync has filled it; when $3 is `complete`, then marks it complete (as
# complete.sh does).
# Never into a directory of that name that appeared meanwhile (another run
# staging the same release: exit 8).
cd "$1" || exit
put "releases/.stage-$2" "releases/$2" || {
  echo "release $2 appeared on this host while it was staged (another run staged it): not moved into place" >&2
  exit 8
}
[ "$3" != complete ] || mv "releases/$2.manifest.tmp" "releases/$2.manifest"
