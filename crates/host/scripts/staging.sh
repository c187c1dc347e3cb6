# shellcheck shell=sh
# After guard.sh, live.sh and put.sh. Functions of the scripts that stage a release
# (stage.sh, stage-finish.sh, complete.sh, discard.sh), run in the app's
# directory. Each run stages under names of its own, `releases/.stage-ID.RUN`,
# `.incoming-ID.RUN` and `.record-ID.RUN` (RUN is named after its lock
# token), so that two runs staging the same release never write into, move
# in or mark complete each other's half-made tree. What every run sees,
# `releases/ID` and `releases/ID.manifest`, changes only under the lock's
# guard and only while the run's token holds the lock: a run whose lock was
# cleared or taken over still writes into its own names, which nobody moves
# into place.
#   under_lock TOKEN WHAT FN ARG…
#               runs `FN ARG…` (in the app's directory, in this shell, so
#               that the guard names the process that holds it) under the
#               guard while TOKEN holds the lock, ignoring hang-ups and
#               interrupts, which would skip the exit that ends the guard;
#               else exits 9 saying WHAT was not done (10: the guard stayed
#               held for a minute). Returns FN's status, the guard ended
#   left ID     whether anything a run staging ID may have left is there
#   set_aside ID
#               (under the lock) renames all of it to hidden names this
#               script deletes, `releases/.gone-ID.PID.N` (a prune's sweep
#               deletes any a stopped script left): a release tree that
#               never completed, a manifest without its tree, every run's
#               stage names, and the names older versions of haul staged
#               under
#   delete_aside ID
#               (after the guard) deletes what set_aside renamed
#   move_in ID RUN COMPLETE
#               (under the lock) renames the run's stage directory to
#               `releases/ID`, never into a directory of that name, nor
#               beside a manifest, that appeared meanwhile (exit 8, this
#               run's stage set aside), and when COMPLETE is `complete`
#               marks it complete (`mark_complete`)
#   mark_complete ID RUN
#               (under the lock) moves the run's record beside its tree,
#               never onto a manifest that is there (exit 4: the tree, the
#               manifest and the record set aside, so that no tree with a
#               manifest nobody made is listed as complete)
under_lock() {
  ul_token=$1 ul_what=$2
  shift 2
  trap '' PIPE HUP INT QUIT TERM
  cd .haul || exit 3
  guard_for "$ul_token" run "$ul_what"
  cd .. || exit 3
  "$@"
  ul=$?
  unguard || [ "$ul" -ne 0 ] || ul=5
  trap - PIPE HUP INT QUIT TERM
  return "$ul"
}
# each_left ID FN: runs `FN NAME` for each name that a run staging ID may
# have left and that is there, while FN succeeds (returns what it
# returned): the release's tree unless it is complete, its manifest when
# its tree is not there (a removal stopped between the two), every run's
# stage names and the names older versions staged under; never a real
# directory at `ID.manifest` or `ID.manifest.tmp`, which is no record but
# may be a release an older haul let be named so. The globs are
# expanded once, before the first FN: a pattern that matches nothing stays
# itself and is skipped for not existing, and a match of another release's
# names (whose id begins with this one's and a dot) is skipped, since a
# run's name never holds a dot.
each_left() {
  el_id=$1 el_fn=$2
  set -- "releases/$1" "releases/.stage-$1" "releases/.incoming-$1" \
    "releases/.stage-$1".by-* "releases/.incoming-$1".by-* "releases/.record-$1".by-*
  if ! real_dir "releases/$el_id.manifest.tmp"; then set -- "$@" "releases/$el_id.manifest.tmp"; fi
  if ! real_dir "releases/$el_id" && ! real_dir "releases/$el_id.manifest"; then set -- "$@" "releases/$el_id.manifest"; fi
  for lo in "$@"; do
    el_rest=${lo#"releases/.stage-$el_id."}
    el_rest=${el_rest#"releases/.incoming-$el_id."}
    el_rest=${el_rest#"releases/.record-$el_id."}
    case $el_rest in by-*.*) continue ;; esac
    if [ -e "$lo" ] || [ -L "$lo" ]; then "$el_fn" "$lo" || return; fi
  done
}
real_dir() { [ -d "$1" ] && [ ! -L "$1" ]; }
there() { return 1; }
left() { ! each_left "$1" there; }
set_aside() {
  if [ -f "releases/$1.manifest" ] && [ -d "releases/$1" ] && [ ! -L "releases/$1" ]; then
    echo "release $1 is complete on this host already (another run staged it since this one read the host): not staged again" >&2
    exit 8
  fi
  sa_id=$1 sa_then="nothing staged"
  each_left "$1" aside_one
}
# aside_one NAME: renames NAME to the first free `releases/.gone-ID.PID.N`
# (ID is $sa_id), never the live release; else exits 7 saying $sa_then.
# Only the release's own tree is looked at for being live: what else of it
# is set aside is never a real directory a link could name as a release.
aside_one() {
  if [ "$1" = "releases/$sa_id" ] && [ "$1" = "$(live)" ]; then
    echo "$1 is the live release of this host, which staging never sets aside; $sa_then" >&2
    exit 7
  fi
  put_free "$1" "releases/.gone-$sa_id.$$" || {
    echo "$1 could not be set aside (into releases/.gone-$sa_id.$$.N); $sa_then" >&2
    exit 7
  }
}
# aside_own ID RUN: sets aside what this run staged of release ID, under
# its own names, for the next prune to delete (deleting a tree here would
# keep the guard for as long).
aside_own() {
  sa_id=$1 sa_then="release $1 not moved into place"
  for ao in "releases/.stage-$1.$2" "releases/.record-$1.$2"; do
    if [ -e "$ao" ] || [ -L "$ao" ]; then aside_one "$ao"; fi
  done
}
# aside_moved_in ID: sets aside the tree this run moved in as release ID,
# and, first, a manifest beside it that no run holding the lock made (a
# tree without it is no complete release); never a real directory there,
# which may be a release an older haul let be named so. $sa_id and
# $sa_then are the caller's.
aside_moved_in() {
  if ! real_dir "releases/$1.manifest" && { [ -e "releases/$1.manifest" ] || [ -L "releases/$1.manifest" ]; }; then
    aside_one "releases/$1.manifest"
  fi
  aside_one "releases/$1"
}
delete_aside() {
  for lo in "releases/.gone-$1.$$".*; do
    if [ -e "$lo" ] || [ -L "$lo" ]; then rm -rf "$lo" || echo "what staging release $1 left could not all be deleted ($lo)" >&2; fi
  done
}
move_in() {
  [ -d "releases/.stage-$1.$2" ] || { echo "the stage directory of release $1 is gone: not moved into place" >&2; exit 4; }
  if real_dir "releases/$1.manifest"; then
    aside_own "$1" "$2"
    echo "releases/$1.manifest on this host is a directory (a release an older haul let be named so, or made by a person), beside which release $1 can never be complete: not moved into place" >&2
    exit 8
  elif [ -e "releases/$1.manifest" ] || [ -L "releases/$1.manifest" ]; then
    aside_own "$1" "$2"
    echo "release $1 got a manifest on this host while it was staged, made by no run that held the lock (an older haul, a person): not moved into place" >&2
    exit 8
  fi
  put "releases/.stage-$1.$2" "releases/$1" || {
    aside_own "$1" "$2"
    echo "release $1 appeared on this host while it was staged, made by no run that held the lock (an older haul, a person, or a step of a run that lost its lock): not moved into place" >&2
    exit 8
  }
  [ "$3" != complete ] || mark_complete "$1" "$2"
}
mark_complete() {
  if [ ! -d "releases/$1" ] || [ -L "releases/$1" ] || [ ! -f "releases/.record-$1.$2" ]; then
    echo "release $1 is not staged by this run on this host (its tree or its record is gone): not marked complete" >&2
    exit 4
  fi
  if [ -e "releases/$1.manifest" ] || [ -L "releases/$1.manifest" ]; then
    # The tree is this run's (moved in under the lock), the manifest
    # nobody's: neither may make the release look complete, so both go
    # aside with the record, and the release is not on this host.
    sa_id=$1 sa_then="release $1 not marked complete"
    aside_moved_in "$1"
    aside_one "releases/.record-$1.$2"
    echo "release $1 got a manifest on this host while its steps ran, made by no run that held the lock (an older haul, a person): this run's tree is set aside, not marked complete" >&2
    exit 4
  fi
  mv "releases/.record-$1.$2" "releases/$1.manifest"
}
