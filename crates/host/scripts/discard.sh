# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and staging.sh. Removes what the run whose
# lock token is $3 (its stage names end in $4) staged of release $2 of the
# app at $1: its own stage names always, and, only while the token holds
# the lock, the release's tree and what any run left of it, unless the
# release is live or complete. A run that lost its lock leaves the tree to
# the run that holds it.
cd "$1" 2>/dev/null || exit 0
rm -rf "releases/.stage-$2.$4" "releases/.incoming-$2.$4" "releases/.record-$2.$4"
left "$2" || exit 0
# set_aside_unless_kept ID: under the lock, sets aside what was left of
# release ID unless it is live or complete (a manifest without its tree is
# no release, and goes).
set_aside_unless_kept() {
  [ "$(live)" = "releases/$1" ] && return 0
  [ -f "releases/$1.manifest" ] && [ -d "releases/$1" ] && [ ! -L "releases/$1" ] && return 0
  set_aside "$1"
}
# A run that lost its lock leaves the rest; one that loses it between
# this look and the guard is refused there (exit 9).
( cd .haul 2>/dev/null && held_by "$3" ) || exit 0
under_lock "$3" "nothing discarded" set_aside_unless_kept "$2" || exit
delete_aside "$2"
