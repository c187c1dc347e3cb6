# shellcheck shell=sh
# After guard.sh, live.sh, put.sh and staging.sh. Stages release $2 of the app at
# $1 for the run whose lock token is $3 (its stage names end in $4, see
# staging.sh) from the stage stream on stdin (see stage.rs and guard.rs),
# over the complete release $5 when it is not empty. When $6 is `rsync`,
# rsync fills the stage directory afterwards and stage-finish.sh moves it
# into place; else this script does. When $7 is `complete`, whichever moves
# it into place also marks it complete (as complete.sh does), last. What
# another run left of the release is set aside first, and the stage moved
# into place, only while the token holds the lock (exit 9).
#
# Then three lists, each its length and its words:
#   directories of the base copy that must not be links before the drops;
#   shared paths, four words each: `dir` or `file`, the path, the link's
#     target, the path as messages show it;
#   directories that must not be links once the drops are gone and the
#     shared paths cleared.
#
# Nothing is done through a link: each directory staging drops from, lays
# over or links a shared path into is checked before it acts, and refused
# (exit 7) when it is one.
set -e
dir=$1 id=$2 token=$3 run=$4 base=$5 rsync=$6 complete=$7
shift 7
# What is usually there already is tested before a process is started to
# make or clear it: staging is a deploy's cost on every host.
[ -d "$dir" ] || mkdir -p "$dir"
cd "$dir"

refuse() { printf '%s\n' "$1" >&2; exit 7; }
linked() { refuse "staging release $id: \`$1\` in the copy of the base release is a symlink, where that release has a directory; the base was changed on this host after it was staged (remove it with haul remove and deploy again); nothing was followed"; }
shared_linked() { refuse "staging release $id: shared path \`$1\` passes through \`$2\`, a symlink in the release; haul never follows a link in a release when it places a shared path"; }
host_linked() { refuse "staging release $id: \`$1\` in the app directory is a symlink; haul creates shared paths and releases only in real directories"; }

# each_ancestor FN PATH: runs `FN ANCESTOR PATH` for every proper ancestor
# of PATH, outermost first (`a`, then `a/b`, for `a/b/c`).
each_ancestor() {
  ea_rest=$2 ea_pre=
  while :; do
    case $ea_rest in */*) ;; *) return 0 ;; esac
    ea_pre=${ea_pre:+$ea_pre/}${ea_rest%%/*}
    ea_rest=${ea_rest#*/}
    "$1" "$ea_pre" "$2"
  done
}
not_linked_in_stage() { [ ! -L "$S/$1" ] || shared_linked "$2" "$1"; }
not_linked_in_shared() { [ ! -L "shared/$1" ] || host_linked "shared/$1"; }

# clear_in_stage PATH: checks that no component of PATH in the stage
# directory but the last is a link, then removes what is at PATH there.
clear_in_stage() {
  each_ancestor not_linked_in_stage "$1"
  rm -rf "${S:?}/$1"
}

# place KIND PATH TARGET SHOWN: creates shared/PATH when it is missing,
# without following a link anywhere on the way, and links it into the stage
# directory. The last component under shared/ may be a link the host's
# operator placed; it is used, never written through.
place() {
  each_ancestor not_linked_in_shared "$2"
  case $2 in */*) mkdir -p "shared/${2%/*}" ;; esac
  if [ "$1" = dir ]; then
    if [ -L "shared/$2" ]; then
      [ -d "shared/$2" ] || refuse "shared/$4 is a symlink that does not lead to a directory"
    else
      mkdir -p "shared/$2" 2>/dev/null || :
      [ -d "shared/$2" ] || refuse "shared/$4 exists and is not a directory"
    fi
  else
    if [ -L "shared/$2" ]; then
      [ -f "shared/$2" ] || refuse "shared/$4 is a symlink that does not lead to a file"
    elif [ ! -e "shared/$2" ]; then
      : > "shared/$2"
    fi
    [ -f "shared/$2" ] || refuse "shared/$4 exists and is not a file"
  fi
  clear_in_stage "$2"
  case $2 in */*) mkdir -p "$S/${2%/*}" ;; esac
  ln -s "$3" "$S/$2"
}

for d in releases shared; do [ ! -L "$d" ] || host_linked "$d"; done
# Completing renames the record onto this name; onto a link to a
# directory, or a directory (a release an older haul let be named so),
# that would move it into the directory.
[ ! -L "releases/$id.manifest" ] || host_linked "releases/$id.manifest"
[ ! -d "releases/$id.manifest" ] || refuse "staging release $id: releases/$id.manifest on this host is a directory (a release an older haul let be named so, or made by a person), beside which release $id can never be complete; move it away and deploy again"
if [ -n "$base" ]; then [ ! -L "releases/$base" ] || host_linked "releases/$base"; fi
for d in releases shared .haul; do [ -d "$d" ] || mkdir -p "$d"; done
S=releases/.stage-$id.$run
I=releases/.incoming-$id.$run
R=releases/.record-$id.$run
# A complete release is never staged over: another run (one whose lock was
# cleared or taken over, say) may have staged it, switched to it, since
# this run read the host. It is judged again under the guard when
# something is left to set aside; usually nothing is, and no guard is
# taken before the stage is moved into place.
if [ -f "releases/$id.manifest" ] && [ -d "releases/$id" ]; then echo "release $id is complete on this host already (another run staged it since this one read the host): not staged again" >&2; exit 8; fi
if left "$id"; then
  under_lock "$token" "nothing staged" set_aside "$id" || exit
  delete_aside "$id"
fi
mkdir "$I"
# A full disk is named as such: `tar` itself may only say it wrote less
# than it meant to. The shell reads `df`'s answer, so only a failure costs
# a process for it.
tar -x -o -f - -C "$I" || {
  st=$?
  df -Pk . 2>/dev/null | { read -r _ && read -r _ _ _ free _ && case $free in
    '' | *[!0-9]*) ;;
    *) if [ "$free" -lt 64 ]; then echo "staging release $id: no space left on the file system of $dir ($free KiB free)" >&2; fi ;;
  esac; } || :
  exit "$st"
}

[ -z "$base" ] || cp -al "releases/$base/." "$S"
n=$1; shift
while [ "$n" -gt 0 ]; do [ ! -L "$S/$1" ] || linked "$1"; shift; n=$((n - 1)); done
if [ -n "$base" ]; then
  (cd "$S" && xargs -0 rm -rf -- < "../${I#releases/}/drop")
  # A missing `awk` or checksum tool is said to be missing (exit 127, as
  # `sh` does), so it is never mistaken for a damaged record. `record_ok
  # FILE` checks the patched record with `cksum` (POSIX), else `sha256sum`
  # (BusyBox, GNU), else `shasum` (macOS).
  command -v awk >/dev/null 2>&1 || { echo "sh: awk: not found" >&2; exit 127; }
  # wanted FILE: sets `want` to FILE's one line (with or without its
  # newline), read by the shell rather than by `cat`.
  wanted() { want=; IFS= read -r want < "$1" || [ -n "$want" ]; }
  if command -v cksum >/dev/null 2>&1; then
    record_ok() { wanted "$I/record.cksum" && [ "$(cksum < "$1")" = "$want" ]; }
  elif command -v sha256sum >/dev/null 2>&1; then
    record_ok() { wanted "$I/record.sha256" && set -- "$(sha256sum < "$1")" && [ "${1%% *}" = "$want" ]; }
  elif command -v shasum >/dev/null 2>&1; then
    record_ok() { wanted "$I/record.sha256" && set -- "$(shasum -a 256 < "$1")" && [ "${1%% *}" = "$want" ]; }
  else
    echo "sh: cksum or sha256sum: not found" >&2; exit 127
  fi
fi
# The shared paths move to the end of the arguments. Over a base they are
# links in its copy: they are cleared before the new files are laid over,
# or those would land in shared/.
n=$1; shift
while [ "$n" -gt 0 ]; do
  [ -z "$base" ] || clear_in_stage "$2"
  set -- "$@" "$1" "$2" "$3" "$4"
  shift 4
  n=$((n - 1))
done
n=$1; shift
while [ "$n" -gt 0 ]; do [ ! -L "$S/$1" ] || linked "$1"; shift; n=$((n - 1)); done
if [ -n "$base" ]; then
  # Applies the record patch (see haul-release): the patch on stdin, the
  # base record from the file `base`.
  if ! { awk -v base="releases/$base.manifest" '
NR == 1 && /^h / { print substr($0, 3); if ((getline line < base) <= 0) exit 3; next }
/^k / { n = substr($0, 3) + 0; for (i = 0; i < n; i++) { if ((getline line < base) <= 0) exit 3; print line }; next }
/^s / { n = substr($0, 3) + 0; for (i = 0; i < n; i++) { if ((getline line < base) <= 0) exit 3 }; next }
/^i / { print substr($0, 3); next }
{ exit 4 }
' < "$I/record.patch" > "$R" && record_ok "$R"; }; then
    echo "the record of release $base on this host is damaged; remove that release (haul remove) and deploy again" >&2
    exit 6
  fi
else
  # Nothing to reuse: the unpacked tree becomes the stage directory by one
  # rename instead of a hard link per file.
  if [ -d "$I/tree" ]; then mv "$I/tree" "$S"; else mkdir "$S"; fi
  mv "$I/record" "$R"
fi
if [ -d "$I/tree" ]; then cp -al "$I/tree/." "$S/"; fi
while [ $# -gt 0 ]; do
  place "$1" "$2" "$3" "$4"
  shift 4
done
rm -rf "$I"
if [ "$rsync" != rsync ]; then
  under_lock "$token" "release $id not moved into place" move_in "$id" "$run" "$complete" || exit
fi
