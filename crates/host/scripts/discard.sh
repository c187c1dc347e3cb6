# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and staging.sh. Removes what the run whose
# lock token is $3 (its stage names end in $4) staged of release $2 of the
# app at $1: its own stage names always, and, only while the token holds
# the lock, the release's tree and what any run left of it, unless the
# release is live or complete. A run that lost its lock leaves the tree to
# the run that holds it.
cd "$1" 2>/dev/null || exit 0
# Whether this run moved its stage into place and never marked it
# complete: its record is still here and its stage is not. Then the tree
# at releases/$2 is its own, whose steps did not all pass, and a manifest
# beside it was made by nobody that held the lock (an older haul, a
# person): both go, or the next run would take the tree for complete.
moved_in=
if [ -f "releases/.record-$2.$4" ] && [ ! -e "releases/.stage-$2.$4" ] && [ ! -L "releases/.stage-$2.$4" ]; then moved_in=1; fi
rm -rf "releases/.stage-$2.$4" "releases/.incoming-$2.$4" "releases/.record-$2.$4"
[ -n "$moved_in" ] || left "$2" || exit 0
# set_aside_unless_kept ID: under the lock, sets aside what was left of
# release ID unless it is live or complete (a manifest without its tree is
# no release, and goes); this run's own tree even beside a manifest.
set_aside_unless_kept() {
  [ "$(live)" = "releases/$1" ] && return 0
  if [ -n "$moved_in" ] && real_dir "releases/$1"; then
    # (Read by aside_one, in staging.sh.)
    # shellcheck disable=SC2034
    sa_id=$1 sa_then="nothing discarded"
    aside_moved_in "$1"
  fi
  [ -f "releases/$1.manifest" ] && real_dir "releases/$1" && return 0
  set_aside "$1"
}
# A run that lost its lock leaves the rest; one that loses it between
# this look and the guard is refused there (exit 9).
( cd .haul 2>/dev/null && held_by "$3" ) || exit 0
under_lock "$3" "nothing discarded" set_aside_unless_kept "$2" || exit
delete_aside "$2"
